"""The session every end-to-end bench runs: ``/echo`` answers ``ready``, then repeats each
message of its sender until ``q``. One file, so that every adapter's figure and the cluster's
measure the same plugin; ``bench/cluster.py`` loads it by path into ``waiter-sdk run`` and
``waiter-sdk worker`` processes, the adapter benches import it."""

from __future__ import annotations

from waiter_sdk import MessageEvent, Plugin, SessionController, command, session_waiter


class Echo(Plugin):
    name = "bench_echo"

    @command("echo")
    async def echo(self, event: MessageEvent) -> None:
        @session_waiter(timeout=600)
        async def repeat(controller: SessionController, reply: MessageEvent) -> None:
            if reply.message_str == "q":
                controller.stop()
                return
            await reply.send(reply.message_str)
            controller.keep(timeout=600)

        await event.send("ready")
        await repeat(event)
