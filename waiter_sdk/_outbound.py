"""``Outbound``: one queue per conversation for ``event.send_queued``, with a minimum gap.

Usage, inside a handler::

    for line in story:
        await event.send_queued(line, delay=1.5)      # at least 1.5 s between lines
    dropped = await event.cancel_queued()               # from another handler: stop the story

Each app owns one ``Outbound`` (``app.outbound``). Where this differs from Koishi, on purpose:

* The queue belongs to the conversation (``event.target``), not to one incoming event, so two
  handlers answering in one chat share the gaps.
* ``cancel`` settles what it drops: each waiting ``send_queued`` raises ``QueueCancelledError``
  (Koishi leaves those promises pending forever).
"""

from __future__ import annotations

import asyncio
from collections import deque
from dataclasses import dataclass, field

from .events import MessageChain, MessageEvent, Target
from .exceptions import QueueCancelledError

__all__ = ["Outbound"]


@dataclass(eq=False, slots=True)
class _Lane:
    """One conversation's queue: present while a send or the gap after it runs."""

    waiting: deque[asyncio.Future[bool]] = field(default_factory=deque)
    timer: asyncio.TimerHandle | None = None


class Outbound:
    """The outbound queues of one app, one per conversation that has one in use."""

    __slots__ = ("_lanes", "default_delay")

    def __init__(self, default_delay: float) -> None:
        self.default_delay = default_delay
        self._lanes: dict[Target, _Lane] = {}

    def __len__(self) -> int:
        """Conversations whose queue is in use (a send, or the gap after one, is running)."""
        return len(self._lanes)

    def pending(self, target: Target) -> int:
        """Messages to ``target`` waiting for their turn."""
        lane = self._lanes.get(target)
        return len(lane.waiting) if lane is not None else 0

    async def send(
        self, event: MessageEvent, chain: MessageChain, delay: float | None = None
    ) -> str | None:
        """Send ``chain`` to ``event``'s conversation through its queue; the message id.

        Messages leave in call order, each at least ``delay`` seconds (default
        ``session.queue_delay``) after the previous one was sent: the gap belongs to the message
        it follows, as in Koishi. An empty chain sends nothing and returns ``None``. Raises
        ``QueueCancelledError`` if ``cancel`` dropped the message before it was sent.

        No task is made: each caller sends from its own task when its turn comes (so the send
        keeps its handler's context), and one loop timer per conversation spaces the turns.
        """
        if not chain:
            return None
        gap = self.default_delay if delay is None else delay
        if gap < 0:
            raise ValueError(f"delay must be 0 or more seconds, not {gap!r}")
        loop = asyncio.get_running_loop()
        target = event.target
        lane = self._lanes.get(target)
        if lane is None:
            lane = self._lanes[target] = _Lane()  # an idle conversation: our turn is now
        else:
            turn: asyncio.Future[bool] = loop.create_future()
            lane.waiting.append(turn)
            try:
                granted = await turn
            except asyncio.CancelledError:
                if turn in lane.waiting:
                    lane.waiting.remove(turn)
                elif turn.done() and not turn.cancelled() and turn.result():
                    self._pass_turn(target, lane)  # given the turn but cancelled: hand it on
                raise
            if not granted:
                raise QueueCancelledError(
                    f"a queued message to {target} was dropped by cancel_queued() before it "
                    "was sent"
                )
        try:
            return await event.send(chain)
        finally:
            lane.timer = loop.call_at(loop.time() + gap, self._pass_turn, target, lane)

    def cancel(self, target: Target) -> int:
        """Drop the messages to ``target`` that are not sent yet; how many.

        Their ``send`` calls raise ``QueueCancelledError``; a message being sent right now
        still goes out, and the gap after it still applies to the next one.
        """
        lane = self._lanes.get(target)
        if lane is None:
            return 0
        dropped = 0
        while lane.waiting:
            turn = lane.waiting.popleft()
            if not turn.done():
                turn.set_result(False)
                dropped += 1
        return dropped

    def close(self) -> None:
        """Drop every queue (the app stops): waiting sends raise, no timer is left."""
        for target, lane in list(self._lanes.items()):
            self.cancel(target)
            if lane.timer is not None:
                lane.timer.cancel()
        self._lanes.clear()

    def _pass_turn(self, target: Target, lane: _Lane) -> None:
        lane.timer = None
        while lane.waiting:
            turn = lane.waiting.popleft()
            if not turn.done():
                turn.set_result(True)
                return
        # Nothing waits and the gap has passed: the queue is gone until the next send.
        if self._lanes.get(target) is lane:
            del self._lanes[target]
