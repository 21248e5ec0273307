"""Concurrent handlers on every backend: 1,000 increments from 100 users in 10 groups add up
exactly, on user and channel counters and in key-value data.

Why the totals are exact: a ``Counter`` field is written back as the change the handler made to
it (``+1``), which the backend adds to what is stored in one atomic step (``Backend.write``'s
``increments``: SQLite adds in its UPDATE, memory in one step on the loop, Redis on the server),
never as the value the handler computed from what it loaded. So handlers that all loaded the same old value still add up. A
plain ``int`` field is written as a value, and the last write wins: the ``plain`` field below
shows that the loads really did overlap (if they had run one after another, it would count too).
"""

from __future__ import annotations

import asyncio

from waiter_sdk import MessageEvent, Plugin, command
from waiter_sdk.storage import Counter, Fields
from waiter_sdk.testing import Simulator

USERS = 100
GROUPS = 10
MESSAGES = 1_000


class Hits(Fields):
    hits: Counter = 0
    plain: int = 0  # incremented the same way, but written back as a value


class ChannelHits(Hits):
    """The same fields per channel (a model belongs to one plugin and one scope)."""


class Counting(Plugin):
    name = "counting"
    user_fields = Hits
    channel_fields = ChannelHits

    def __init__(self) -> None:
        self.returned: list[int] = []

    @command("hit")
    async def hit(self, event: MessageEvent) -> None:
        mine = await event.observe_user()
        here = await event.observe_channel()
        # Every handler has loaded its records before any handler writes back: the clock is
        # virtual, and the test lets this second pass only once all 1,000 are waiting here.
        await asyncio.sleep(1)
        mine.hits += 1
        here.hits += 1
        mine.plain += 1
        here.plain += 1
        await self.kv.increment("total")
        self.returned.append(await self.kv.increment(f"group:{event.group_id}"))


def sender_and_group(k: int) -> tuple[str, str]:
    # Message k comes from user k % 100 in group (k // 100) % 10: each user posts once in each
    # group and each group hears 100 messages, so no sender gate holds any of them back.
    return f"u{k % USERS}", f"g{(k // USERS) % GROUPS}"


async def test_a_thousand_concurrent_increments_add_up_exactly(storage_url: str) -> None:
    async with Simulator(plugins=[Counting], storage=storage_url) as sim:
        for k in range(MESSAGES):
            user, group = sender_and_group(k)
            sim.app.dispatch(sim.message(sim.user(user), "/hit", group=group))
        await sim.settle()
        await sim.advance(1)

        storage = sim.app.storage
        for u in range(USERS):
            async with storage.user("sim", f"u{u}", Hits) as record:
                assert (record.hits, record.plain) == (MESSAGES // USERS, 1), f"u{u}"
        for g in range(GROUPS):
            async with storage.channel("sim", f"g{g}", ChannelHits) as record:
                assert (record.hits, record.plain) == (MESSAGES // GROUPS, 1), f"g{g}"
        kv = sim.app.plugins["counting"].kv
        assert await kv.get("total") == MESSAGES
        for g in range(GROUPS):
            assert await kv.get(f"group:g{g}") == MESSAGES // GROUPS
        # Each kv increment returned a value no other returned: 1..100 once per group.
        assert sorted(sim.app.plugins["counting"].returned) == sorted(
            list(range(1, MESSAGES // GROUPS + 1)) * GROUPS
        )
        assert len(await storage.owners("user", "counting")) == USERS
        assert len(await storage.owners("channel", "counting")) == GROUPS


async def test_concurrent_increment_calls_each_get_a_distinct_new_value(storage_url: str) -> None:
    # increment() writes at once and returns the database's new value: 200 at once each get
    # their own, and the model of each ends at its own value plus nothing pending.
    async with Simulator(plugins=[Counting], storage=storage_url) as sim:
        storage = sim.app.storage

        async def one() -> int:
            async with storage.user("sim", "alice", Hits) as record:
                return await record.increment("hits")

        values = await asyncio.gather(*(one() for _ in range(200)))
        assert sorted(values) == list(range(1, 201))
        async with storage.user("sim", "alice", Hits) as record:
            assert record.hits == 200
