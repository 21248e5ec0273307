# Shared by scripts/run and scripts/test: make .venv if missing, install the project into it.
# Usage: . scripts/_venv.sh EXTRA   (EXTRA: "" for the runtime, "test" for the test tools)

find_python() {
    for candidate in python3.13 python3.12 python3.11 python3; do
        if command -v "$candidate" >/dev/null 2>&1 &&
            "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
            echo "$candidate"
            return 0
        fi
    done
    echo "waiter-sdk needs Python 3.11 or newer; none found on PATH" >&2
    return 1
}

ensure_venv() {
    local extra="$1" spec=".[${1}]" stamp
    [ -n "$extra" ] || spec="."
    if [ ! -x .venv/bin/python ]; then
        echo "creating .venv" >&2
        "$(find_python)" -m venv .venv
        .venv/bin/python -m pip install --quiet --upgrade pip >&2
    fi
    # Reinstall only when pyproject.toml changed since the last install of this extra.
    stamp=".venv/.installed-${extra:-runtime}"
    if [ ! -f "$stamp" ] || ! cmp -s pyproject.toml "$stamp"; then
        echo "installing waiter-sdk${extra:+ with [$extra]} into .venv" >&2
        .venv/bin/python -m pip install --quiet --disable-pip-version-check -e "$spec" >&2
        cp pyproject.toml "$stamp"
    fi
}
