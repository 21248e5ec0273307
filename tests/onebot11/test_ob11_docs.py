"""The Python examples of docs/adapters/onebot11.md run as written."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import pytest

from waiter_sdk import App

DOC = Path(__file__).resolve().parents[2] / "docs" / "adapters" / "onebot11.md"
BLOCKS = re.findall(r"```python\n(.*?)```", DOC.read_text(encoding="utf-8"), re.S)


def test_the_page_has_examples() -> None:
    assert len(BLOCKS) >= 3


@pytest.mark.parametrize("index", range(len(BLOCKS)))
def test_example_runs(index: int, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    started: list[str] = []

    def run(self: App) -> None:
        # Instead of serving until Ctrl-C: start, check, stop; on a free port, not 8081.
        self.settings.onebot11.port = 0

        async def once() -> None:
            await self.start()
            try:
                started.append(self.adapters[0].describe())
                assert not self.plugin_errors
            finally:
                await self.stop()

        asyncio.run(once())

    monkeypatch.setattr(App, "run", run)
    monkeypatch.chdir(tmp_path)
    code = compile(BLOCKS[index], f"{DOC.name}[python block {index}]", "exec")
    exec(code, {"__name__": "__main__"})  # as a script: the guarded App(...).run() runs too
    if ".run()" in BLOCKS[index]:
        assert started and started[0].startswith("reverse WS ws://127.0.0.1:")
