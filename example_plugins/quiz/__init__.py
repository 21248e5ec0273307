"""quiz: questions answered by quoting them, so several quizzes run at once; Koishi-style topics.

Usage::

    /quiz               a question on the next topic; answer by quote-replying to it
    /quiz math          a question on that topic (a misspelled topic gets "Did you mean ...?")
    /quiz-topic         the bot asks which topic, then asks a question on it
    (quote) 42          → "✓ Right, Alice: 42!" (anyone in the chat may answer)
    /quiz-stats         (or /stats) your answers, right ones and best streak, kept across restarts

Two session styles on one plugin:

* **Quoted-reply sessions.** ``/quiz`` sends the question and opens a session with
  ``ReplySessionFilter``: only messages that quote the question (or one of the bot's replies
  in that quiz) belong to it. So one person can have two quizzes open in one chat, two people
  can each have one, and a message that quotes nothing is ordinary chat for the other plugins.
  The first right answer ends the quiz; after ``answer_timeout`` seconds the bot gives the
  answer, quoting the question.
* **Koishi-style helpers.** ``/quiz-topic`` asks with ``await event.prompt(timeout)`` (the
  sender's next message in this chat, ``None`` on timeout). A topic that is not known goes
  through ``await event.suggest(topics, answer)``: the closest topic is offered, ``.`` or ``。``
  confirms it; anything else declines, and that message goes on to the plugins as if nobody had
  asked (``suggest`` never swallows a declined answer).

Every answer counts in the answerer's statistics (``user_fields = QuizStats``): answers given,
right ones, and the longest run of right answers. The waiter observes them, so they are written
back when each answer's waiter call returns.

Questions are asked round robin per topic, so a test knows which comes next. ``answer_timeout``,
``topic_timeout`` and ``questions`` are class attributes.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import ClassVar

from loguru import logger

from waiter_sdk import (
    MessageEvent,
    MessageEventResult,
    Plain,
    Plugin,
    Reply,
    ReplySessionFilter,
    SessionClosedError,
    SessionController,
    command,
    session_waiter,
)
from waiter_sdk.exceptions import StorageError
from waiter_sdk.storage import Counter, Fields

# Why a session was closed from outside, in words for the player.
CLOSED_BECAUSE = {"shutdown": "the bot is stopping", "reloaded": "the plugin was reloaded"}


__all__ = ["QUESTIONS", "Question", "Quiz", "QuizStats"]


def _canonical(text: str) -> str:
    # "  The Yangtze. " and "the yangtze" are the same answer.
    return " ".join(re.sub(r"[^\w\s]", " ", text.casefold()).split())


@dataclass(frozen=True, slots=True)
class Question:
    """A question and the answers it accepts (the first is the one shown).

    Usage: ``Question("6 × 7 = ?", ("42", "forty-two")).accepts(" 42. ")`` is True.
    """

    text: str
    answers: tuple[str, ...]

    def accepts(self, given: str) -> bool:
        canonical = _canonical(given)
        return any(canonical == _canonical(answer) for answer in self.answers)


QUESTIONS: Mapping[str, tuple[Question, ...]] = {
    "math": (
        Question("What is 6 × 7?", ("42", "forty-two", "forty two")),
        Question("What is the square root of 81?", ("9", "nine")),
        Question("How many sides does a hexagon have?", ("6", "six")),
    ),
    "science": (
        Question("What is the chemical symbol of gold?", ("Au",)),
        Question("Which planet is called the red planet?", ("Mars", "火星")),
        Question("At how many °C does water boil at sea level?", ("100",)),
    ),
    "geography": (
        Question("What is the capital of Japan?", ("Tokyo", "东京")),
        Question("What is the longest river in China?", ("Yangtze", "the Yangtze", "长江")),
        Question("On which continent is Kenya?", ("Africa", "非洲")),
    ),
    "history": (
        Question("In which year did the Berlin Wall fall?", ("1989",)),
        Question("Who was the first emperor of China?", ("Qin Shi Huang", "秦始皇")),
        Question("Which ship sank on its first voyage in 1912?", ("Titanic", "the Titanic")),
    ),
}


class QuizStats(Fields):
    """What the quiz keeps per user, across restarts.

    The counters are written as increments, so answers given at the same moment to two quizzes
    all count. ``streak`` and ``best_streak`` are plain values (the last write wins): two answers
    by one person in the same instant could miscount a run, which a quiz can live with.
    """

    answered: Counter = 0
    correct: Counter = 0
    streak: int = 0
    """Right answers in a row, up to the latest answer."""
    best_streak: int = 0


class Quiz(Plugin):
    """Quiz questions in quoted-reply sessions, and a topic chooser with prompt and suggest."""

    name = "quiz"
    description = (
        "Quiz questions, answered by quoting them; /quiz-topic to choose a topic, "
        "/quiz-stats for your record"
    )
    user_fields = QuizStats

    answer_timeout: ClassVar[float] = 60.0
    """Seconds a question stays open before the bot gives the answer."""
    topic_timeout: ClassVar[float] = 30.0
    """Seconds to name a topic (prompt) or confirm a suggestion."""
    questions: ClassVar[Mapping[str, tuple[Question, ...]]] = QUESTIONS

    def __init__(self) -> None:
        self._asked: dict[str, int] = {}  # questions asked so far, per topic
        self._topics_asked = 0  # for /quiz without a topic: the topics take turns

    @command("quiz")
    async def quiz(self, event: MessageEvent) -> None:
        """Ask a question, answered by quoting it: /quiz [topic]."""
        if event.args:
            topic = await self._topic(event, " ".join(event.args))
            if topic is None:
                return
        else:
            topics = list(self.questions)
            topic = topics[self._topics_asked % len(topics)]
            self._topics_asked += 1
        await self.ask(event, topic)

    @command("quiz-topic")
    async def quiz_topic(self, event: MessageEvent) -> None:
        """Choose a topic, then answer a question on it."""
        await event.send(f"Which topic? {', '.join(self.questions)}")
        answer = await event.prompt(self.topic_timeout)
        if answer is None:
            await event.send("No topic chosen, no quiz.")
            return
        topic = await self._topic(event, answer)
        if topic is not None:
            await self.ask(event, topic)

    @command("quiz-stats", aliases=["stats"])
    async def stats(self, event: MessageEvent) -> AsyncIterator[MessageEventResult]:
        """Your quiz record: answers, right ones, best streak."""
        who = event.sender_name or event.sender_id
        try:
            stats = await event.observe_user(QuizStats)
        except StorageError as exc:
            logger.warning("quiz: no statistics, storage unavailable: {}", exc)
            yield event.plain_result("Statistics are unavailable right now; try again later.")
            return
        if not stats.answered:
            yield event.plain_result(
                f"{who}, you have not answered a question yet: /quiz asks one."
            )
            return
        answers = f"{stats.answered} answer{'' if stats.answered == 1 else 's'}"
        yield event.plain_result(
            f"📊 {who}: {answers}, {stats.correct} right ({stats.correct / stats.answered:.0%}); "
            f"best streak {stats.best_streak}, current {stats.streak}."
        )

    async def _count(self, answer: MessageEvent, right: bool) -> None:
        """Count ``answer`` in its sender's statistics, written back when the waiter call
        returns. Without storage the quiz goes on uncounted."""
        try:
            stats = await answer.observe_user(QuizStats)
        except StorageError as exc:
            logger.warning("quiz: an answer was not counted: {}", exc)
            return
        stats.answered += 1
        if right:
            stats.correct += 1
            stats.streak += 1
            stats.best_streak = max(stats.best_streak, stats.streak)
        else:
            stats.streak = 0

    async def _topic(self, event: MessageEvent, given: str) -> str | None:
        """``given`` as a known topic, or the one the sender confirms; ``None`` otherwise."""
        wanted = given.strip().casefold()
        if wanted in self.questions:
            return wanted
        # suggest() sends the prefix alone when no topic is close, and returns None.
        return await event.suggest(
            list(self.questions),
            wanted,
            prefix=f"I have no topic “{given.strip()}” (topics: {', '.join(self.questions)}). ",
            timeout=self.topic_timeout,
        )

    async def ask(self, event: MessageEvent, topic: str) -> None:
        """Send a question on ``topic`` and run its quoted-reply session until it ends."""
        pool = self.questions[topic]
        number = self._asked.get(topic, 0)
        self._asked[topic] = number + 1
        question = pool[number % len(pool)]
        shown = question.answers[0]
        asked = await event.send(
            f"❓ [{topic}] {question.text}\nQuote this message to answer; anyone may."
        )

        solved: list[str] = []  # who answered right; empty if the question was closed

        @session_waiter(timeout=self.answer_timeout)
        async def check(controller: SessionController, answer: MessageEvent) -> None:
            given = answer.message_str.strip()
            who = answer.sender_name or answer.sender_id
            right = question.accepts(given)
            await self._count(answer, right)
            if right:
                await answer.send([Reply(answer.message_id), Plain(f"✓ Right, {who}: {shown}!")])
                solved.append(who)
                controller.stop()
            else:
                # This reply is the session's too: quoting it is another way to try again.
                await answer.send(
                    [Reply(answer.message_id), Plain(f"✗ Not “{given}”. Quote to try again.")]
                )

        try:
            await check(event, session_filter=ReplySessionFilter([asked]))
        except TimeoutError:
            await event.send([Reply(asked), Plain(f"⏰ Time's up! The answer was {shown}.")])
        except SessionClosedError as closed:
            why = CLOSED_BECAUSE.get(closed.reason or "", "the question was closed")
            await event.send([Reply(asked), Plain(f"Question closed: {why}. It was {shown}.")])
        else:
            if not solved:  # ended from outside: an exit word, the sandbox's Close
                await event.send([Reply(asked), Plain(f"Question closed. The answer was {shown}.")])
