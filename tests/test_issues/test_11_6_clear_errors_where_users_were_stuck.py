"""Issue 11.6: clear errors where users were stuck.

- A custom filter whose `filter()` returns None for the opening message failed with "a session
  needs a non-empty key", and nothing said that `open_key` is the way out.
- `waiter-sdk run --plugins PATH` with a mistyped PATH started a bot with no plugin but /help,
  and exited 0.
- docs/plugins/examples.md said a recorded history entry cannot be redacted; `redact_last` can.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from waiter_sdk import MessageEvent, SessionFilter
from waiter_sdk.testing import Simulator

ROOT = Path(__file__).resolve().parents[2]


class MovesOnly(SessionFilter):
    def filter(self, event: MessageEvent) -> str | None:
        return None if event.message_str.startswith("/") else f"moves|{event.sender_id}"


async def test_a_filter_without_a_key_for_the_opening_message_names_open_key() -> None:
    async with Simulator() as sim:
        event = sim.message(sim.user("a"), "/play")
        with pytest.raises(ValueError, match=r"MovesOnly\.filter\(\) returned None") as error:
            MovesOnly().open_key(event)
    assert "override MovesOnly.open_key(event)" in str(error.value)


@pytest.mark.parametrize("spec", ["plugins_that_are_not_there", "no_such_package.plugins"])
def test_run_with_plugins_that_load_nothing_exits_non_zero_naming_them(
    spec: str, tmp_path: Path
) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    for given in (spec, str(empty)):
        result = subprocess.run(
            [sys.executable, "-m", "waiter_sdk", "run", "--adapter", "console", "--plugins", given],
            input="",
            capture_output=True,
            text=True,
            timeout=60,
            cwd=ROOT,
        )
        assert result.returncode != 0
        assert f"--plugins {given} loaded no plugin" in result.stderr
        assert "Traceback" not in result.stderr


def test_the_examples_page_knows_redact_last() -> None:
    page = (ROOT / "docs" / "plugins" / "examples.md").read_text(encoding="utf-8")
    assert "no way to redact" not in page
    assert "controller.redact_last()" in page
