"""Every Python example in the README and docs/ runs, page by page, as a reader would run it.

Blocks of one page share a namespace, in order, like a notebook; top-level ``await`` works.
A block whose first line is ``# not run: <reason>`` is skipped (for snippets that need a real
platform); the reason must be given.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
BLOCK = re.compile(r"^```python\n(.*?)^```", re.S | re.M)


def blocks(page: Path) -> list[str]:
    return [b for b in BLOCK.findall(page.read_text(encoding="utf-8"))]


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
async def test_examples_run(page: Path) -> None:
    namespace: dict[str, Any] = {"__name__": f"docs_{page.stem}"}
    ran = 0
    for index, source in enumerate(blocks(page)):
        first = source.lstrip().splitlines()[0] if source.strip() else ""
        if first.startswith("# not run:"):
            assert first[len("# not run:") :].strip(), f"{page.name} block {index}: say why"
            continue
        code = compile(
            source,
            f"{page.name}[{index}]",
            "exec",
            flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT,
            dont_inherit=True,  # as a reader runs it: no __future__ import of this test module
        )
        result = eval(code, namespace)
        if result is not None:
            await result
        ran += 1
    if page.name == "README.md":
        assert ran >= 2
