"""Faults inside the core: failing sends, raising and hanging waiters, SIGTERM under load."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

from waiter_sdk import (
    AdapterConnectionError,
    MessageEvent,
    Plugin,
    SessionController,
    command,
    session_waiter,
)
from waiter_sdk.testing import Simulator

ROOT = Path(__file__).resolve().parents[2]


class Echo(Plugin):
    name = "echo_session"

    def __init__(self) -> None:
        self.outcomes: dict[str, str] = {}

    @command("start")
    async def start(self, event: MessageEvent) -> None:
        @session_waiter(timeout=30)
        async def echo(controller: SessionController, reply: MessageEvent) -> None:
            if reply.message_str == "raise":
                raise RuntimeError("waiter bug")
            if reply.message_str == "hang":
                await asyncio.Event().wait()
            await reply.send(f"echo {reply.message_str}")

        try:
            await echo(event)
            self.outcomes[event.sender_id] = "returned"
        except Exception as exc:
            self.outcomes[event.sender_id] = f"{type(exc).__name__}: {exc}"


async def test_a_failing_send_reaches_the_waiter_and_only_its_session_ends() -> None:
    plugin = Echo()
    async with Simulator(plugins=[plugin]) as sim:
        alice, bob = sim.user("alice"), sim.user("bob")
        await sim.send(alice, "/start")
        await sim.send(bob, "/start")
        sim.adapter.fail_next.append(AdapterConnectionError("platform connection lost"))
        assert await sim.send(alice, "hello") == []
        assert plugin.outcomes == {"alice": "AdapterConnectionError: platform connection lost"}
        assert [o.text for o in await sim.send(bob, "still there?")] == ["echo still there?"]


async def test_a_raising_waiter_ends_only_its_own_session() -> None:
    plugin = Echo()
    async with Simulator(plugins=[plugin]) as sim:
        users = [sim.user(name) for name in ("a", "b", "c")]
        for user in users:
            await sim.send(user, "/start", group="g")
        await sim.send(users[1], "raise", group="g")
        assert plugin.outcomes == {"b": "RuntimeError: waiter bug"}
        assert len(sim.app.sessions) == 2
        for user in (users[0], users[2]):
            assert [o.text for o in await sim.send(user, "ok", group="g")] == ["echo ok"]


async def test_a_hanging_waiter_still_times_out_and_releases_its_opener() -> None:
    plugin = Echo()
    async with Simulator(plugins=[plugin]) as sim:
        alice = sim.user("alice")
        await sim.send(alice, "/start")
        await sim.send(alice, "hang")
        await sim.send(alice, "queued behind the hang")
        await sim.advance(30)
        assert plugin.outcomes == {
            "alice": "SessionTimeoutError: session sender|sim|bot|palice|alice timed out"
        }
        assert len(sim.app.session_registry.tasks) == 0


SIGTERM_BOT = textwrap.dedent(
    """
    import asyncio, sys
    from waiter_sdk import App, MessageChain, MessageEvent, Plugin, SessionClosedError
    from waiter_sdk import SessionController, command, session_waiter
    from waiter_sdk.config import Settings
    from waiter_sdk.testing import SimulatorAdapter

    released = 0

    class Hold(Plugin):
        name = "hold"

        @command("hold")
        async def hold(self, event):
            global released
            @session_waiter(timeout=3600)
            async def wait(controller, reply): ...
            try:
                await wait(event)
            except SessionClosedError:
                released += 1

        async def on_load(self):
            self.app.tasks.spawn(self.flood())

        async def flood(self):
            adapter = self.app.adapters[0]
            for i in range(1000):
                self.app.dispatch(MessageEvent(
                    platform="sim", self_id="bot", message=MessageChain(["/hold"]),
                    message_id=str(i), sender_id=f"u{i}", adapter=adapter))
            while len(self.app.sessions) < 1000:
                await asyncio.sleep(0.01)
            print("READY", len(self.app.sessions), flush=True)

    async def main():
        app = App(settings=Settings.load(), plugins=[Hold], adapters=[SimulatorAdapter()])
        await app.serve()
        me = asyncio.current_task()
        left = [t for t in asyncio.all_tasks() if t is not me]
        print("RELEASED", released, "LEFT", len(left), "OPEN", len(app.sessions), flush=True)

    asyncio.run(main())
    """
)


def test_sigterm_with_a_thousand_open_sessions_exits_cleanly(tmp_path: Path) -> None:
    script = tmp_path / "bot.py"
    script.write_text(SIGTERM_BOT, encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        [sys.executable, str(script)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=tmp_path,
    )
    try:
        assert proc.stdout is not None
        ready = proc.stdout.readline()
        assert ready.strip() == "READY 1000", proc.stderr.read() if proc.stderr else ""
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=5)  # the bound: exit within 5 s
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    assert out.strip() == "RELEASED 1000 LEFT 0 OPEN 0"
