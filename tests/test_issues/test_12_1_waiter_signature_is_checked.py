"""Issue 12.1: a waiter without the controller parameter fails where it is written.

`async def w(event)` passed `mypy --strict` and the decorator, and failed only when the first
reply arrived ("takes 1 positional argument but 2 were given"). The decorator now checks the
shape when decorating, naming the function, and is typed so that a type checker sees the
waiter's signature and what `await waiter(event)` returns.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from mypy import api as mypy_api

from waiter_sdk import MessageEvent, Plugin, SessionController, session_waiter

ROOT = Path(__file__).resolve().parents[2]


def test_a_waiter_without_the_controller_is_refused_when_decorated() -> None:
    with pytest.raises(TypeError, match=r"forgot\(event\) must take \(controller, event\)"):

        @session_waiter(timeout=10)
        async def forgot(event: MessageEvent) -> None: ...


def test_a_waiter_that_is_not_async_is_refused() -> None:
    with pytest.raises(TypeError, match="'async def'"):
        session_waiter()(lambda controller, event: None)  # type: ignore[call-overload]


def test_a_method_waiter_takes_self_first_and_binds() -> None:
    class Quiz(Plugin):
        name = "quiz"

        @session_waiter(timeout=10)
        async def answer(self, controller: SessionController, event: MessageEvent) -> None: ...

    assert Quiz().answer.__qualname__.endswith("Quiz.answer")  # bound: a SessionWaiter


def test_type_checkers_see_the_waiter_signature(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text(
        textwrap.dedent(
            """
            from waiter_sdk import MessageEvent, Plugin, SessionController, session_waiter


            @session_waiter(timeout=10)
            async def good(controller: SessionController, event: MessageEvent) -> None: ...


            @session_waiter(timeout=10)
            async def bad(event: MessageEvent) -> None: ...


            class Quiz(Plugin):
                @session_waiter(timeout=10)
                async def ask(self, controller: SessionController, event: MessageEvent) -> None:
                    ...


            async def use(event: MessageEvent) -> None:
                reveal_type(await good(event))
                reveal_type(await Quiz().ask(event))
                await good("not an event")
            """
        ),
        encoding="utf-8",
    )
    out, _, status = mypy_api.run(
        ["--strict", "--no-incremental", "--cache-dir", str(tmp_path / "cache"), str(sample)]
    )
    errors = [line for line in out.splitlines() if ": error: " in line]
    assert status == 1
    assert len(errors) == 2, out
    # the waiter without a controller, at its decorator...
    assert "sample.py:9: error:" in errors[0]
    assert '"Callable[[MessageEvent], Coroutine[Any, Any, None]]"' in errors[0]
    # ...and an opener that passes something that is not an event
    assert 'incompatible type "str"; expected "MessageEvent"' in errors[1]
    # what `await waiter(event)` gives, for a function and for a bound method
    assert out.count('note: Revealed type is "None"') == 2
