"""Hostile input at the core: forged keys, odd ids, command arguments. Fuzzed with hypothesis."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from waiter_sdk import (
    GroupSessionFilter,
    MessageChain,
    MessageEvent,
    Plugin,
    ReplySessionFilter,
    SenderSessionFilter,
    SessionController,
    UserSessionFilter,
    command,
    session_waiter,
)
from waiter_sdk._bus import EventBus
from waiter_sdk.testing import Simulator

ids = st.text(alphabet=st.sampled_from("ab|\\-!gp1"), min_size=0, max_size=6)
maybe_ids = st.none() | ids


def event(
    platform: str, self_id: str, group: str | None, sender: str, reply: str | None
) -> MessageEvent:
    return MessageEvent(
        platform=platform,
        self_id=self_id,
        message=MessageChain(["x"]),
        message_id="1",
        sender_id=sender,
        group_id=group,
        reply_to=reply,
    )


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.tuples(ids, ids, maybe_ids, ids, maybe_ids),
    st.tuples(ids, ids, maybe_ids, ids, maybe_ids),
)
def test_keys_of_different_origins_never_collide(a: tuple, b: tuple) -> None:  # type: ignore[type-arg]
    ea, eb = event(*a), event(*b)
    where_a = (a[0], a[1], a[2], a[3])
    where_b = (b[0], b[1], b[2], b[3])
    sender = SenderSessionFilter()
    if where_a != where_b:
        assert sender.filter(ea) != sender.filter(eb)
    group = GroupSessionFilter()
    chat_a = (a[0], a[1], "g", a[2]) if a[2] is not None else (a[0], a[1], "p", a[3])
    chat_b = (b[0], b[1], "g", b[2]) if b[2] is not None else (b[0], b[1], "p", b[3])
    assert (group.filter(ea) == group.filter(eb)) == (chat_a == chat_b)
    user = UserSessionFilter()
    assert (user.filter(ea) == user.filter(eb)) == ((a[0], a[1], a[3]) == (b[0], b[1], b[3]))
    reply = ReplySessionFilter()
    if a[4] is not None and b[4] is not None:
        same = (a[0], a[1], a[4]) == (b[0], b[1], b[4])
        assert (reply.filter(ea) == reply.filter(eb)) == same


@settings(max_examples=300)
@given(st.text(max_size=200))
def test_command_parsing_never_raises(text: str) -> None:
    bus = EventBus(["/", "!", ""])
    from waiter_sdk._bus import Handler
    from waiter_sdk.plugins.base import HandlerInfo

    async def fn(event: MessageEvent) -> None: ...

    bus.add(Handler("p", "h", HandlerInfo(kind="message", command="go", aliases=("走",)), fn))
    found = bus.match_command(text)
    if found is not None:
        handler, args = found
        assert handler.name == "h"
        assert all(isinstance(arg, str) for arg in args)


class Vault(Plugin):
    name = "vault"

    def __init__(self) -> None:
        self.deliveries: list[tuple[str, str | None, str]] = []

    @command("vault")
    async def vault(self, event: MessageEvent) -> None:
        @session_waiter(timeout=60)
        async def secret(controller: SessionController, reply: MessageEvent) -> None:
            self.deliveries.append((reply.sender_id, reply.group_id, reply.message_str))

        await secret(event)


async def test_nobody_can_type_or_name_their_way_into_another_users_session() -> None:
    plugin = Vault()
    async with Simulator(plugins=[plugin]) as sim:
        alice = sim.user("alice", nickname="Alice")
        await sim.send(alice, "/vault", group="g1")
        (session,) = sim.app.sessions
        impostors = [
            sim.user("bob", nickname="alice"),  # a nickname is not an identity
            sim.user("alice|gg1"),
            sim.user("g1|alice"),
            sim.user("\\alice"),
            sim.user("-"),
        ]
        for impostor in impostors:
            for group in ("g1", "g1|alice", None):
                await sim.send(impostor, session.key, group=group)
                await sim.send(impostor, "/vault alice", group=group)
        await sim.send(alice, "my secret", group="g2")  # alice elsewhere: other conversation
        await sim.send(alice, "my secret")  # alice in private
        assert plugin.deliveries == []
        await sim.send(alice, "real", group="g1")
        assert plugin.deliveries == [("alice", "g1", "real")]
