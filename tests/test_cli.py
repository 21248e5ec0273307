"""The command line and the console adapter, as a person uses them."""

from __future__ import annotations

import contextlib
import io
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from waiter_sdk import App
from waiter_sdk.adapters.console import ConsoleAdapter
from waiter_sdk.config import Settings
from waiter_sdk.testing import VirtualClock

ROOT = Path(__file__).resolve().parent.parent


def run_cli(
    *args: str, stdin: str = "", env: dict[str, str | None] | None = None, cwd: Path = ROOT
) -> subprocess.CompletedProcess[str]:
    """``python -m waiter_sdk *args`` in ``cwd``; ``env`` adds variables (``None`` removes one)."""
    environ = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "waiter_sdk", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=cwd,
        env={name: value for name, value in environ.items() if value is not None},
    )


def test_console_chat_through_the_real_command(tmp_path: Path) -> None:
    script = "/echo hi there\n/echo\nagain\n/as bob\n/group g1\n/echo\nfrom the group\n"
    # The example plugins keep data: in this test's directory, not in the repository's data/.
    result = run_cli(
        "run",
        "--adapter",
        "console",
        "--plugins",
        "example_plugins",
        stdin=script,
        env={"WAITER_DATA_DIR": str(tmp_path)},
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert "bot -> private you: hi there" in lines
    assert "bot -> private you: What should I repeat?" in lines
    assert "bot -> private you: again" in lines
    assert "[now typing as bob, private]" in lines
    assert "bot -> group g1: What should I repeat?" in lines
    assert "bot -> group g1: from the group" in lines


def test_bad_setting_exits_2_naming_the_setting() -> None:
    result = run_cli("run", "--adapter", "console", env={"WAITER_SESSION__MAX_QUEUE": "lots"})
    assert result.returncode == 2
    assert "WAITER_SESSION__MAX_QUEUE" in result.stderr
    assert "Traceback" not in result.stderr


def test_check_lists_plugins_and_fails_on_a_broken_one(tmp_path: Path) -> None:
    data = {"WAITER_DATA_DIR": str(tmp_path / "data")}  # not the repository's data/
    ok = run_cli("check", "--plugins", "example_plugins", env=data)
    assert ok.returncode == 0, ok.stderr
    assert "ok  echo" in ok.stdout
    broken = tmp_path / "plugins" / "bad"
    broken.mkdir(parents=True)
    (broken / "bad.py").write_text("raise ImportError('missing dependency')\n", encoding="utf-8")
    bad = run_cli("check", "--plugins", "example_plugins", str(tmp_path / "plugins"), env=data)
    assert bad.returncode == 1
    assert "ERR plugin" in bad.stdout and "missing dependency" in bad.stdout
    missing = run_cli("check", "--plugins", str(tmp_path / "nowhere"))
    assert missing.returncode == 1 and "does not exist" in missing.stdout


def test_plugin_data_goes_to_data_waiter_db_of_the_working_directory_by_default(
    tmp_path: Path,
) -> None:
    # What scripts/run gets: no storage settings, so SQLite in ./data/waiter.db of where it runs
    # (scripts/run runs from the repository root), which is what survives a restart.
    unset: dict[str, str | None] = {"WAITER_STORAGE": None, "WAITER_DATA_DIR": None}
    result = run_cli("check", "--plugins", str(ROOT / "example_plugins"), env=unset, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    with contextlib.closing(sqlite3.connect(tmp_path / "data" / "waiter.db")) as db:
        declared = set(db.execute("SELECT plugin, scope, field FROM fields"))
    assert {
        ("idiom_chain", "channel", "totals"),
        ("guess_number", "user", "best"),
        ("quiz", "user", "best_streak"),
    } <= declared


async def test_console_commands_switch_user_and_conversation() -> None:
    out = io.StringIO()
    console = ConsoleAdapter(stdin=io.StringIO(""), stdout=out)
    clock = VirtualClock.install()
    try:
        app = App(settings=Settings.load(), plugins=["example_plugins.echo"], adapters=[console])
        await app.start()
        await clock.settle()
        console.feed("/as carol")
        console.feed("/group 42")
        console.feed("/echo loud")
        await clock.settle()
        console.feed("/private")
        console.feed("/echo quiet")
        await clock.settle()
        await app.stop()
    finally:
        clock.uninstall()
    lines = out.getvalue().splitlines()
    assert "[now typing as carol, private]" in lines
    assert "[carol is now in group 42]" in lines
    assert "bot -> group 42: loud" in lines
    assert "bot -> private carol: quiet" in lines


# --- the cluster's commands ----------------------------------------------------------------


def test_cluster_commands_parse() -> None:
    from waiter_sdk.cli import build_parser

    parser = build_parser()
    run = parser.parse_args(["run", "--workers", "3", "--adapter", "onebot11", "--plugins", "a"])
    assert (run.workers, run.adapter, run.plugins) == (3, ["onebot11"], ["a"])
    assert parser.parse_args(["run"]).workers == 0
    ingress = parser.parse_args(["ingress", "--adapter", "onebot11", "--adapter", "console"])
    assert ingress.adapter == ["onebot11", "console"]
    assert parser.parse_args(["worker", "--plugins", "a", "b"]).plugins == ["a", "b"]


def test_bad_worker_counts_are_refused_by_name() -> None:
    result = run_cli("run", "--workers", "-1")
    assert result.returncode == 2 and "--workers must be 0 or more, not -1" in result.stderr
    result = run_cli("run", "--workers", "many")
    assert result.returncode == 2 and "--workers takes a whole number" in result.stderr


def test_cluster_commands_without_redis_py_say_how_to_install_it() -> None:
    for args in (["ingress"], ["worker"], ["run", "--workers", "2"]):
        code = (
            "import sys; sys.modules['redis'] = None\n"  # as if redis-py were not installed
            "from waiter_sdk.cli import main\n"
            f"raise SystemExit(main({args!r}))\n"
        )
        result = subprocess.run(
            [sys.executable, "-c", code],
            capture_output=True,
            text=True,
            timeout=60,
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
        assert result.returncode == 2, result.stderr
        assert "pip install 'waiter-sdk[redis]'" in result.stderr
        assert "Traceback" not in result.stderr


def test_plain_run_imports_no_redis() -> None:
    code = (
        "import sys\n"
        "import waiter_sdk.cli as cli\n"
        "cli.build_parser().parse_args(['run'])\n"
        "print(sorted(m for m in sys.modules if m.startswith(('redis', 'waiter_sdk.cluster'))))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    ).stdout.strip()
    assert out == "[]"


def test_a_worker_gets_the_clusters_redis_for_storage_unless_told_otherwise(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from waiter_sdk.cli import cluster_storage

    monkeypatch.delenv("WAITER_STORAGE", raising=False)
    settings = Settings.load(cluster={"redis": "redis://db:6379/3"})
    assert cluster_storage(settings).storage == "redis://db:6379/3"
    monkeypatch.setenv("WAITER_STORAGE", "memory")
    assert cluster_storage(Settings.load()).storage == "memory"


def test_reload_without_watchfiles_names_the_extra_and_refuses_workers() -> None:
    code = (
        "import sys; sys.modules['watchfiles'] = None\n"  # as if watchfiles were not installed
        "from waiter_sdk.cli import main\n"
        "raise SystemExit(main(['run', '--reload']))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert result.returncode == 2, result.stderr
    assert "pip install 'waiter-sdk[reload]'" in result.stderr
    assert "Traceback" not in result.stderr
    result = run_cli("run", "--reload", "--workers", "2")
    assert result.returncode == 2
    assert "--reload works in one process; it cannot be combined with --workers 2" in (
        result.stderr
    )


def test_reload_watches_the_folders_and_packages_of_the_plugins(tmp_path: Path) -> None:
    from waiter_sdk.cli import watched_paths

    assert watched_paths([str(tmp_path)]) == [tmp_path.resolve()]
    assert watched_paths(["example_plugins"]) == [(ROOT / "example_plugins").resolve()]
