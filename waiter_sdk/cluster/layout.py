"""Every Redis name the cluster uses, in one place: the ingress and the workers must agree.

Layout (for operators reading the database)::

    waiter:own:<session key>      string  owning worker id, PX ownership_ttl (Ownership)
    waiter:at:<route>             hash    worker id -> how many of its open sessions use the
                                          route; PEXPIRE ownership_ttl, refreshed by heartbeats
    waiter:routes:<worker>        set     the routes that worker holds a field in (its cleanup)
    waiter:notify:<worker>        hash    session key -> JSON target: whom to tell if it dies
    waiter:workers                hash    worker id -> JSON {pid, host, started}
    waiter:alive:<worker>         string  "1", PX dead_after; set every heartbeat
    waiter:handover:<worker>      string  lock of whoever cleans up after a dead worker
    waiter:gone:<worker>          string  left by a handover for a day; a worker that was only
                                          late reads (and deletes) it at its next heartbeat
    waiter:in:<worker>            stream  events routed to that worker
    waiter:re:<worker>            stream  the results of that worker's sends (read apart from
                                          its events, so a busy worker still hears them)
    waiter:in:any:<shard>         stream  events nobody owns, by shard_for(chat key, shards)
    waiter:out                    stream  sends the workers ask the ingress to make
    waiter:seen:<ledger key>      string  "begun", then "done" (the Ledger)

A **route** is what the ingress can compute from an event alone, without the plugins' filters:

- ``id|<platform>|<bot>|<id>``: sessions whose filter names a ``route_id`` (a sender or a
  group id; the same pre-check the in-process registry does). An event looks up its sender id
  and its group id.
- ``reply|<platform>|<bot>|<message id>``: reply sessions, one per message they answer to. An
  event that quotes a message looks up the quoted id.

Routes are hints that bring an event to the right worker; the worker's own registry decides,
with the filters, whether a session takes it.
"""

from __future__ import annotations

from ..events import MessageEvent
from ..session.keys import encode_key

__all__ = [
    "GROUP",
    "INGRESS_GROUP",
    "OUT_STREAM",
    "PREFIX",
    "WORKERS",
    "alive_key",
    "chat_key",
    "event_routes",
    "gone_key",
    "handover_key",
    "id_route",
    "notify_key",
    "reply_route",
    "results_stream",
    "route_key",
    "routes_of_key",
]

PREFIX = "waiter:"
WORKERS = PREFIX + "workers"
OUT_STREAM = PREFIX + "out"
GROUP = "workers"  # the consumer group of every waiter:in:* stream (delivery.GROUP)
INGRESS_GROUP = "ingress"  # the consumer group of waiter:out


def route_key(route: str) -> str:
    return f"{PREFIX}at:{route}"


def routes_of_key(worker_id: str) -> str:
    return f"{PREFIX}routes:{worker_id}"


def notify_key(worker_id: str) -> str:
    return f"{PREFIX}notify:{worker_id}"


def alive_key(worker_id: str) -> str:
    return f"{PREFIX}alive:{worker_id}"


def results_stream(worker_id: str) -> str:
    return f"{PREFIX}re:{worker_id}"


def handover_key(worker_id: str) -> str:
    return f"{PREFIX}handover:{worker_id}"


def gone_key(worker_id: str) -> str:
    # Left by a handover: a worker that was only late reads it at its next heartbeat.
    return f"{PREFIX}gone:{worker_id}"


def id_route(platform: str, bot: str, id_: str) -> str:
    # The key encoding escapes "|" in ids, so an id cannot forge another route.
    return encode_key("id", platform, bot, id_)


def reply_route(platform: str, bot: str, message_id: str) -> str:
    return encode_key("reply", platform, bot, message_id)


def event_routes(event: MessageEvent) -> list[str]:
    """The routes an event looks up, in the order its candidates are tried: the quoted
    message's first (the most specific), then the sender's, then the group's."""
    platform, bot = event.platform, event.self_id
    routes: list[str] = []
    if event.reply_to is not None:
        routes.append(reply_route(platform, bot, event.reply_to))
    routes.append(id_route(platform, bot, event.sender_id))
    if event.group_id is not None and event.group_id != event.sender_id:
        routes.append(id_route(platform, bot, event.group_id))
    return routes


def chat_key(platform: str, bot: str, group_id: str | None, user_id: str | None) -> str:
    """The conversation an event belongs to, for ``shard_for``: one chat, one shard."""
    chat = f"g{group_id}" if group_id is not None else f"p{user_id}"
    return encode_key("chat", platform, bot, chat)
