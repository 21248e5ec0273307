"""Did-you-mean, Koishi style: ``event.suggest`` offers the closest candidate and waits for "."

Usage, inside a handler::

    city = await event.suggest(["London", "Paris"], event.message_str, prefix="No such city. ")

The wait is a one-message session under the sender's own filter, opened before the question is
sent so that a fast "." cannot slip past. Where this differs from Koishi, on purpose: it offers
the single most similar candidate and waits only then; the similarity is
``1 - levenshtein / max(len)``, compared case-insensitively (Koishi divides by the candidate's
length and, with several candidates, lists them without waiting).
"""

from __future__ import annotations

from collections.abc import Sequence

from ..events import MessageEvent, context_of
from ..exceptions import SessionTimeoutError
from .controller import SessionController
from .filters import SenderSessionFilter
from .waiter import open_session

__all__ = ["SUGGEST_HINT", "similarity", "suggest"]

SUGGEST_HINT = "Did you mean “{candidate}”? Send . or 。 to confirm."
_CONFIRM = frozenset({".", "。"})
_SENDER = SenderSessionFilter()


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
    seconds = context_of(event).settings.session.prompt_timeout if timeout is None else timeout
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
