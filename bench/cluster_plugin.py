"""The plugin bench/cluster.py runs in every configuration: ``/echo`` opens a session of the
sender that repeats each message until ``q``. The same file is loaded by a single process
(``waiter-sdk run``) and by the cluster's workers (``waiter-sdk worker``), unchanged."""

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
