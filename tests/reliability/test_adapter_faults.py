"""The platform connection fails under an open session: mid-action, then a full restart.

End to end over the fake: a session opened before the implementation restarts receives a message
sent after it, and answers through the new connection. The core faults (a send that fails, a
raising or hanging waiter, SIGTERM with 1,000 sessions) are in ``test_core_faults.py``.
"""

from __future__ import annotations

import asyncio

import pytest

from tests.onebot11.conftest import SELF_ID, TOKEN, rig
from tests.onebot11.fake import FakeOneBot
from waiter_sdk import AdapterConnectionError

from .plugins import Echo

ALICE, BOB = 701, 702
GROUP = 9001
NEVER = 3600.0  # an action timeout nobody waits for: "at once" means long before it


@pytest.mark.parametrize("transport", ["reverse_ws", "forward_ws"])
async def test_an_open_session_survives_a_mid_action_drop_and_a_restart(transport: str) -> None:
    echo = Echo()
    async with rig(transport, [echo], action_timeout=NEVER) as r:
        loop = asyncio.get_running_loop()
        await r.fake.group(ALICE, "/echo", group_id=GROUP)
        key = await r.session_opened()
        await r.fake.group(ALICE, "before", group_id=GROUP)
        assert (await r.fake.next_sent()).text == "echo before"

        # The implementation stops answering, then goes away with the reply in flight.
        r.fake.held.add("send_group_msg")
        await r.fake.group(ALICE, "in flight", group_id=GROUP)
        await r.fake.wait_call("send_group_msg")
        down = loop.time()
        async with asyncio.timeout(10):  # a hang guard only: the action timeout is an hour
            if transport == "forward_ws":
                port = r.fake.forward_port
                await r.fake.stop_forward()
            else:
                await r.fake.drop()
            error = await echo.next_error()
        failed_after = loop.time() - down
        assert echo.send_errors == [error]
        assert isinstance(error, AdapterConnectionError) and isinstance(error, ConnectionError)
        assert "send_group_msg" in str(error)
        with pytest.raises(AdapterConnectionError):  # down: new calls fail at once too
            await r.adapter.call_action("get_status")
        assert key in r.app.sessions  # the session did not end with the connection

        # A fresh process of the implementation: new state, its own message ids.
        async with FakeOneBot(SELF_ID, token=TOKEN, message_id_start=50_000) as restarted:
            back = loop.time()
            if transport == "forward_ws":
                await restarted.serve_forward(port)
            else:
                assert r.adapter.server is not None
                await restarted.connect_reverse(r.adapter.server.url("ws", r.adapter.settings.path))
            await r.adapter.wait_bot(SELF_ID, timeout=10)
            await restarted.group(ALICE, "after the restart", group_id=GROUP)
            assert (await restarted.next_sent(within=10)).text == "echo after the restart"
            recovered_after = loop.time() - back
            await restarted.group(BOB, "/echo", group_id=GROUP)  # new sessions work too
            await r.session_opened()
            await restarted.group(BOB, "hi", group_id=GROUP)
            assert (await restarted.next_sent()).text == "echo hi"
            assert len(r.app.sessions) == 2 and key in r.app.sessions
            await restarted.group(ALICE, "q", group_id=GROUP)
            async with asyncio.timeout(3):
                assert await echo.next_outcome() == "returned"  # ended normally, by "q"
    print(
        f"\n[figures] {transport}: pending call failed {failed_after * 1000:.1f} ms after the "
        f"drop; restart to session reply {recovered_after * 1000:.1f} ms"
    )
