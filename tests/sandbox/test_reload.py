"""Issue 15 item 8: ``waiter-sdk run --reload`` reloads a changed plugin under a live page.

A real file in a temporary plugin folder is rewritten; the watcher (watchfiles) sees it, the
plugin's session ends as "reloaded" with a system line in its chat, the page stays connected
and the new code answers. The test polls for the effect in a bounded loop: it never sleeps to
synchronise.
"""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

import pytest

from waiter_sdk.reload import Reloader

from .conftest import SandboxFactory

PLUGIN = """
from waiter_sdk import MessageEvent, Plugin, SessionController, command, session_waiter


class Greeter(Plugin):
    name = "reload_greeter"

    @command("greet")
    async def greet(self, event: MessageEvent) -> None:
        await event.send("{word}")

        @session_waiter(timeout=60)
        async def wait(controller: SessionController, message: MessageEvent) -> None:
            controller.stop()

        await wait(event)
"""


async def test_a_changed_plugin_file_is_reloaded_without_dropping_the_page(
    sandbox: SandboxFactory, tmp_path: Path
) -> None:
    pytest.importorskip("watchfiles", reason="run --reload needs the reload extra")
    home = tmp_path / "plugins" / "reload_greeter"
    home.mkdir(parents=True)
    source = home / "__init__.py"
    source.write_text(PLUGIN.format(word="hello"))
    sb = await sandbox(plugins=[str(tmp_path / "plugins")])
    page = await sb.page()
    await page.say("alice", "/greet")
    assert (await page.message_from("bot"))["parts"][0]["text"] == "hello"
    await page.expect("sessions", lambda f: len(f["sessions"]) == 1)

    reloader = Reloader(sb.app, [tmp_path / "plugins"])
    watcher = asyncio.create_task(reloader.watch())
    try:
        loop = asyncio.get_running_loop()
        give_up = loop.time() + 20
        written = 0.0
        while reloader.reloads == 0:
            assert loop.time() < give_up, "the plugin was not reloaded within 20 s"
            if loop.time() - written > 1.0:  # until the watcher has started, rewrite
                source.write_text(PLUGIN.format(word="bonjour"))
                written = loop.time()
            await asyncio.sleep(0.05)
    finally:
        watcher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watcher

    ended = await page.expect("session_ended")
    assert ended["session"]["reason"] == "reloaded"
    line = await page.expect("message", lambda f: bool(f["message"].get("system")))
    assert line["message"]["parts"][0]["text"] == (
        "Session reload_greeter ended: its plugin was reloaded."
    )
    commands = await page.expect("commands")
    assert "greet" in [row["name"] for row in commands["commands"]]
    # The same socket, the new code.
    await page.say("alice", "/greet")
    assert (await page.message_from("bot"))["parts"][0]["text"] == "bonjour"
    assert sb.app.sessions.ended_counts == {"reloaded": 1}


async def test_a_plugin_that_no_longer_imports_keeps_the_old_one(
    sandbox: SandboxFactory, tmp_path: Path
) -> None:
    home = tmp_path / "plugins" / "reload_broken"
    home.mkdir(parents=True)
    source = home / "__init__.py"
    source.write_text(PLUGIN.format(word="still here").replace("reload_greeter", "reload_broken"))
    sb = await sandbox(plugins=[str(tmp_path / "plugins")])
    source.write_text("this is not python(")
    reloader = Reloader(sb.app, [tmp_path / "plugins"])
    assert await reloader.reload_paths({source.resolve()}) == []
    page = await sb.page()
    await page.say("alice", "/greet")
    assert (await page.message_from("bot"))["parts"][0]["text"] == "still here"
