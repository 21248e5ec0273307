"""Koishi-style helpers behind ``event.suggest``, ``event.send_queued`` and ``event.cancel_queued``.

Usage, inside a handler::

    city = await event.suggest(["London", "Paris"], event.message_str, prefix="No such city. ")
    for line in story:
        await event.send_queued(line, delay=1.5)      # at least 1.5 s between lines
    dropped = await event.cancel_queued()               # from another handler: stop the story

``event.prompt`` and ``event.execute`` live in the app (``prompt_for`` / ``execute_for``).

Where this differs from Koishi, on purpose:

* ``suggest`` offers the single most similar candidate and waits only then; the similarity is
  ``1 - levenshtein / max(len)``, compared case-insensitively (Koishi divides by the candidate's
  length and, with several candidates, lists them without waiting).
* The outbound queue belongs to the conversation (``event.target``), not to one incoming event,
  so two handlers answering in one chat share the gaps.
* ``cancel_queued`` settles what it drops: each waiting ``send_queued`` raises
  ``QueueCancelledError`` (Koishi leaves those promises pending forever).
"""

from __future__ import annotations

import asyncio
import weakref
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ..config import SessionSettings
from ..events import MessageChain, MessageEvent, Target
from ..exceptions import QueueCancelledError, SessionTimeoutError
from .controller import SessionController
from .filters import SenderSessionFilter
from .waiter import open_session

__all__ = [
    "SUGGEST_HINT",
    "cancel_queued",
    "send_queued",
    "similarity",
    "suggest",
]

SUGGEST_HINT = "Did you mean “{candidate}”? Send . or 。 to confirm."
_CONFIRM = frozenset({".", "。"})
_SENDER = SenderSessionFilter()


def _context(event: MessageEvent) -> Any:
    context = event._context
    if context is None:
        raise RuntimeError("this event was not dispatched through an App")
    return context


def _session_settings(event: MessageEvent) -> SessionSettings:
    settings = getattr(_context(event), "settings", None)
    section = getattr(settings, "session", None)
    return section if isinstance(section, SessionSettings) else SessionSettings()


# --- suggest -------------------------------------------------------------------------------


def _levenshtein(a: str, b: str) -> int:
    if len(a) < len(b):
        a, b = b, a
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i]
        for j, cb in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        previous = current
    return previous[-1]


def similarity(a: str, b: str) -> float:
    """How alike two strings are, from 0.0 to 1.0: ``1 - levenshtein / max(len)``, ignoring case.

    Usage: ``similarity("weather", "waether") == 1 - 2 / 7``.
    """
    a, b = a.casefold(), b.casefold()
    longest = max(len(a), len(b))
    if longest == 0:
        return 1.0
    return 1.0 - _levenshtein(a, b) / longest


def _closest(expect: Sequence[str], actual: str, min_similarity: float) -> str | None:
    best: str | None = None
    best_score = min_similarity
    for candidate in expect:
        score = similarity(candidate, actual)
        # Strictly better only: on a tie the earlier candidate (the caller's order) wins.
        if score > best_score or (best is None and score >= best_score):
            best, best_score = candidate, score
    return best


async def suggest(
    event: MessageEvent,
    expect: Sequence[str],
    actual: str,
    *,
    prefix: str = "",
    suffix: str = "",
    timeout: float | None = None,
    min_similarity: float = 0.4,
    hint: str = SUGGEST_HINT,
) -> str | None:
    """Did-you-mean: offer the candidate closest to ``actual``; return it if the sender confirms.

    Usage: ``choice = await suggest(event, ["weather", "help"], "wether", prefix="Unknown. ")``.

    * No candidate reaches ``min_similarity``: sends ``prefix`` alone (if not empty) and returns
      ``None`` at once, without waiting.
    * Otherwise sends ``prefix + hint + suffix`` (``hint`` names the candidate as ``{candidate}``)
      and waits up to ``timeout`` seconds (default ``session.prompt_timeout``) for the same
      sender's next message in the same conversation.
    * That message is ``.`` or ``。`` (surrounding spaces ignored): it is consumed and the
      candidate is returned.
    * Anything else: ``None`` is returned and the message is **not** swallowed. It goes on to the
      plugins as if nothing had waited, so a user who ignores the question and types another
      command gets that command, as in Koishi.
    * Timeout: ``None``.

    Raises ``SessionBusyError`` if the sender already has a session of the default filter open
    (calling this from inside such a session's waiter).
    """
    candidate = _closest(expect, actual, min_similarity)
    if candidate is None:
        if prefix.strip():
            await event.send(prefix.strip())
        return None
    seconds = _session_settings(event).prompt_timeout if timeout is None else timeout
    confirmed: list[bool] = []

    async def take(controller: SessionController, reply: MessageEvent) -> None:
        if reply.message_str.strip() in _CONFIRM:
            confirmed.append(True)
        else:
            # Handed back before the session ends, so it reaches the plugins ahead of anything
            # the sender typed after it (those are released when the session ends).
            controller.pass_on(reply)
        controller.stop()

    # Listen before asking, so that a fast "." cannot slip past.
    session = open_session(event, take, timeout=seconds, session_filter=_SENDER)
    try:
        await event.send(prefix + hint.format(candidate=candidate) + suffix)
        await session.wait()
    except SessionTimeoutError:
        return None
    finally:
        session.stop()  # no-op once ended; ends it if sending the question failed
    return candidate if confirmed else None


# --- send_queued / cancel_queued -------------------------------------------------------------


@dataclass(eq=False, slots=True)
class _Lane:
    """One conversation's outbound queue: present while a send or the gap after it runs."""

    waiting: deque[asyncio.Future[bool]] = field(default_factory=deque)
    timer: asyncio.TimerHandle | None = None


Lanes = dict[Target, _Lane]
# Per app (the event's dispatch context), dropped with the app.
_lanes: weakref.WeakKeyDictionary[Any, Lanes] = weakref.WeakKeyDictionary()


def _pass_turn(lanes: Lanes, target: Target, lane: _Lane) -> None:
    lane.timer = None
    while lane.waiting:
        turn = lane.waiting.popleft()
        if not turn.done():
            turn.set_result(True)
            return
    # Nothing waits and the gap has passed: the queue is gone until the next send_queued.
    if lanes.get(target) is lane:
        del lanes[target]


async def send_queued(
    event: MessageEvent, chain: MessageChain, delay: float | None = None
) -> str | None:
    """Send ``chain`` to ``event``'s conversation through its queue; returns the message id.

    Usage: ``await send_queued(event, MessageChain(["line 1"]), delay=1.0)``.

    Messages leave in call order, each at least ``delay`` seconds (default
    ``session.queue_delay``) after the previous one was sent: the gap belongs to the message it
    follows, as in Koishi. An empty chain sends nothing and returns ``None``. Raises
    ``QueueCancelledError`` if ``cancel_queued`` dropped the message before it was sent.

    No task is made: each caller sends from its own task when its turn comes (so the send keeps
    its handler's context), and one loop timer per conversation spaces the turns.
    """
    if not chain:
        return None
    gap = _session_settings(event).queue_delay if delay is None else delay
    if gap < 0:
        raise ValueError(f"delay must be 0 or more seconds, not {gap!r}")
    loop = asyncio.get_running_loop()
    lanes = _lanes.setdefault(_context(event), {})
    target = event.target
    lane = lanes.get(target)
    if lane is None:
        lane = lanes[target] = _Lane()  # an idle conversation: our turn is now
    else:
        turn: asyncio.Future[bool] = loop.create_future()
        lane.waiting.append(turn)
        try:
            granted = await turn
        except asyncio.CancelledError:
            if turn in lane.waiting:
                lane.waiting.remove(turn)
            elif turn.done() and not turn.cancelled() and turn.result():
                _pass_turn(lanes, target, lane)  # given the turn but cancelled: hand it on
            raise
        if not granted:
            raise QueueCancelledError(
                f"a queued message to {target} was dropped by cancel_queued() before it was sent"
            )
    try:
        return await event.send(chain)
    finally:
        lane.timer = loop.call_at(loop.time() + gap, _pass_turn, lanes, target, lane)


def cancel_queued(event: MessageEvent) -> int:
    """Drop the messages of ``event``'s conversation queue that are not sent yet; how many.

    Usage: ``dropped = cancel_queued(event)``. Their ``send_queued`` calls raise
    ``QueueCancelledError``; a message being sent right now still goes out, and the gap after it
    still applies to the next ``send_queued``.
    """
    context = event._context
    lanes = _lanes.get(context) if context is not None else None
    lane = lanes.get(event.target) if lanes else None
    if lane is None:
        return 0
    dropped = 0
    while lane.waiting:
        turn = lane.waiting.popleft()
        if not turn.done():
            turn.set_result(False)
            dropped += 1
    return dropped
