"""example_plugins.quiz: quoted-reply quizzes side by side, and prompt / suggest for the topic.

Questions come round robin: ``/quiz`` asks math first (6 × 7), then science (gold), then
geography, then history; ``/quiz history`` starts with the Berlin Wall.
"""

from __future__ import annotations

from pathlib import Path

from example_plugins.quiz import Question, Quiz
from tests.kit import Fallback, texts
from waiter_sdk.testing import Simulator

MATH = "❓ [math] What is 6 × 7?\nQuote this message to answer; anyone may."
SCIENCE = (
    "❓ [science] What is the chemical symbol of gold?\nQuote this message to answer; anyone may."
)
HISTORY = "❓ [history] In which year did the Berlin Wall fall?\nQuote this message to answer; anyone may."
TOPICS = "math, science, geography, history"


async def ask(sim: Simulator, user: str, command: str = "/quiz", group: str = "g1") -> str:
    """Send ``command`` and return the id of the question the bot asked."""
    out = await sim.send(sim.user(user), command, group=group)
    assert len(out) == 1 and out[0].text.startswith("❓"), texts(out)
    return out[0].message_id


# --- quoted-reply sessions --------------------------------------------------------------------


async def test_an_answer_must_quote_the_question() -> None:
    async with Simulator(plugins=[Quiz, Fallback]) as sim:
        alice, bob = sim.user("alice", "Alice"), sim.user("bob", "Bob")
        out = await sim.send(alice, "/quiz", group="g1")
        assert texts(out) == [MATH]
        question = out[0].message_id
        # Not quoting: ordinary chat, the quiz does not see it.
        assert texts(await sim.send(bob, "42", group="g1")) == ["plugin saw 42"]
        # Anyone may answer by quoting; the bot's reply quotes the answer.
        [right] = await sim.send(bob, "42", group="g1", reply_to=question)
        assert right.text == "✓ Right, Bob: 42!"
        assert right.reply_to is not None
        assert len(sim.app.sessions) == 0
        # The quiz is over: quoting the question again is ordinary chat.
        assert texts(await sim.send(alice, "42", group="g1", reply_to=question)) == [
            "plugin saw 42"
        ]


async def test_a_wrong_answer_is_refused_and_the_refusal_can_be_quoted_too() -> None:
    async with Simulator(plugins=[Quiz]) as sim:
        alice = sim.user("alice", "Alice")
        question = await ask(sim, "alice")
        [wrong] = await sim.send(alice, "41", group="g1", reply_to=question)
        assert wrong.text == "✗ Not “41”. Quote to try again."
        [right] = await sim.send(alice, "forty-two", group="g1", reply_to=wrong.message_id)
        assert right.text == "✓ Right, Alice: 42!"


async def test_one_user_runs_two_quizzes_told_apart_by_what_they_quote() -> None:
    async with Simulator(plugins=[Quiz]) as sim:
        alice = sim.user("alice", "Alice")
        math = await ask(sim, "alice")
        science = await ask(sim, "alice")
        assert len(sim.app.sessions) == 2
        # "Au" is right for the science question, wrong for the math one.
        assert texts(await sim.send(alice, "Au", group="g1", reply_to=math)) == [
            "✗ Not “Au”. Quote to try again."
        ]
        assert texts(await sim.send(alice, "au", group="g1", reply_to=science)) == [
            "✓ Right, Alice: Au!"
        ]
        assert len(sim.app.sessions) == 1
        assert texts(await sim.send(alice, "42", group="g1", reply_to=math)) == [
            "✓ Right, Alice: 42!"
        ]


async def test_two_users_run_quizzes_side_by_side() -> None:
    async with Simulator(plugins=[Quiz]) as sim:
        alice, bob = sim.user("alice", "Alice"), sim.user("bob", "Bob")
        math = await ask(sim, "alice")
        science = await ask(sim, "bob", group="g1")
        assert texts(await sim.send(bob, "42", group="g1", reply_to=math)) == ["✓ Right, Bob: 42!"]
        assert texts(await sim.send(alice, "AU.", group="g1", reply_to=science)) == [
            "✓ Right, Alice: Au!"
        ]


async def test_the_answer_is_given_when_time_is_up() -> None:
    async with Simulator(plugins=[Quiz]) as sim:
        question = await ask(sim, "alice")
        await sim.advance(30)
        second = await ask(sim, "alice")
        assert await sim.advance(29.9) == []
        [first_up] = await sim.advance(0.1)
        assert first_up.text == "⏰ Time's up! The answer was 42."
        assert first_up.reply_to == question
        [second_up] = await sim.advance(30)
        assert second_up.text == "⏰ Time's up! The answer was Au."
        assert second_up.reply_to == second
        assert len(sim.app.sessions) == 0


# --- prompt and suggest -------------------------------------------------------------------------


async def test_quiz_topic_prompts_for_a_topic() -> None:
    async with Simulator(plugins=[Quiz, Fallback]) as sim:
        alice, bob = sim.user("alice"), sim.user("bob")
        assert texts(await sim.send(alice, "/quiz-topic", group="g1")) == [f"Which topic? {TOPICS}"]
        # prompt() waits for the same sender only.
        assert texts(await sim.send(bob, "math", group="g1")) == ["plugin saw math"]
        out = await sim.send(alice, "History", group="g1")
        assert texts(out) == [HISTORY]
        assert texts(await sim.send(alice, "1989", group="g1", reply_to=out[0].message_id)) == [
            "✓ Right, alice: 1989!"
        ]


async def test_quiz_topic_gives_up_when_nobody_names_a_topic() -> None:
    async with Simulator(plugins=[Quiz]) as sim:
        await sim.send(sim.user("alice"), "/quiz-topic")
        assert await sim.advance(29.9) == []
        assert texts(await sim.advance(0.1)) == ["No topic chosen, no quiz."]
        assert len(sim.app.sessions) == 0


async def test_a_misspelled_topic_is_suggested_and_confirmed_with_a_dot() -> None:
    hint = (
        f"I have no topic “histroy” (topics: {TOPICS}). "
        "Did you mean “history”? Send . or 。 to confirm."
    )
    async with Simulator(plugins=[Quiz]) as sim:
        alice = sim.user("alice")
        await sim.send(alice, "/quiz-topic", group="g1")
        assert texts(await sim.send(alice, "histroy", group="g1")) == [hint]
        assert texts(await sim.send(alice, "。", group="g1")) == [HISTORY]
        # The same from the command's argument, confirmed with ".".
        assert texts(await sim.send(alice, "/quiz histroy", group="g1")) == [hint]
        out = await sim.send(alice, ".", group="g1")
        assert texts(out) == [
            "❓ [history] Who was the first emperor of China?\n"
            "Quote this message to answer; anyone may."
        ]


async def test_a_declined_suggestion_asks_nothing_and_passes_the_message_on() -> None:
    async with Simulator(plugins=[Quiz, Fallback]) as sim:
        alice = sim.user("alice")
        await sim.send(alice, "/quiz mth", group="g1")
        assert texts(await sim.send(alice, "no thanks", group="g1")) == ["plugin saw no thanks"]
        assert len(sim.app.sessions) == 0


async def test_a_topic_unlike_any_gets_the_list_and_no_question() -> None:
    async with Simulator(plugins=[Quiz]) as sim:
        out = await sim.send(sim.user("alice"), "/quiz cooking", group="g1")
        assert [t.strip() for t in texts(out)] == [f"I have no topic “cooking” (topics: {TOPICS})."]
        assert len(sim.app.sessions) == 0


async def test_quiz_with_a_topic_asks_that_topic() -> None:
    async with Simulator(plugins=[Quiz]) as sim:
        out = await sim.send(sim.user("alice"), "/quiz SCIENCE")
        assert texts(out) == [SCIENCE]
        assert out[0].user_id == "alice"


def test_answers_are_compared_without_case_spaces_or_punctuation() -> None:
    question = Question("Longest river?", ("Yangtze", "长江"))
    assert question.accepts("  YANGTZE. ")
    assert question.accepts("长江！")
    assert not question.accepts("Yellow River")


# --- per-user statistics (/quiz-stats, /stats) --------------------------------------------------


async def answer(sim: Simulator, user: str, question: str, text: str) -> str:
    """``user`` quotes ``question`` with ``text``; the bot's one reply."""
    [reply] = texts(await sim.send(sim.user(user), text, group="g1", reply_to=question))
    return reply


async def test_stats_before_any_answer_say_how_to_start() -> None:
    async with Simulator(plugins=[Quiz]) as sim:
        for command in ("/quiz-stats", "/stats"):
            assert texts(await sim.send(sim.user("alice", "Alice"), command)) == [
                "Alice, you have not answered a question yet: /quiz asks one."
            ]


async def test_every_answer_counts_for_whoever_gave_it() -> None:
    async with Simulator(plugins=[Quiz]) as sim:
        sim.user("alice", "Alice")
        sim.user("bob", "Bob")
        math = await ask(sim, "alice")
        assert await answer(sim, "bob", math, "41") == "✗ Not “41”. Quote to try again."
        assert await answer(sim, "bob", math, "42") == "✓ Right, Bob: 42!"
        assert texts(await sim.send(sim.user("bob"), "/quiz-stats")) == [
            "📊 Bob: 2 answers, 1 right (50%); best streak 1, current 1."
        ]
        # Alice asked but did not answer: asking counts nothing.
        assert texts(await sim.send(sim.user("alice"), "/stats", group="g1")) == [
            "Alice, you have not answered a question yet: /quiz asks one."
        ]


async def test_a_wrong_answer_ends_the_streak_and_the_best_one_is_kept() -> None:
    async with Simulator(plugins=[Quiz]) as sim:
        sim.user("alice", "Alice")
        # Round robin: math (42), science (Au), geography (Tokyo), history (1989), math (9).
        for right in ("42", "Au", "Tokyo"):
            assert (await answer(sim, "alice", await ask(sim, "alice"), right)).startswith("✓")
        history = await ask(sim, "alice")
        assert (await answer(sim, "alice", history, "1990")).startswith("✗")
        assert (await answer(sim, "alice", history, "1989")).startswith("✓")
        assert texts(await sim.send(sim.user("alice"), "/stats")) == [
            "📊 Alice: 5 answers, 4 right (80%); best streak 3, current 1."
        ]


async def test_an_unanswered_question_counts_nothing() -> None:
    async with Simulator(plugins=[Quiz]) as sim:
        await ask(sim, "alice")
        assert texts(await sim.advance(60)) == ["⏰ Time's up! The answer was 42."]
        assert texts(await sim.send(sim.user("alice"), "/stats")) == [
            "alice, you have not answered a question yet: /quiz asks one."
        ]


async def test_help_lists_quiz_stats() -> None:
    async with Simulator(plugins=[Quiz]) as sim:
        [text] = texts(await sim.send(sim.user("alice"), "/help quiz"))
        assert "  /quiz-stats (stats) - Your quiz record: answers, right ones, best streak." in text


async def test_statistics_survive_a_restart(tmp_path: Path) -> None:
    database = f"sqlite:///{tmp_path}/w.db"
    async with Simulator(plugins=[Quiz], storage=database) as sim:
        sim.user("alice", "Alice")
        math = await ask(sim, "alice")
        await answer(sim, "alice", math, "42")
        science = await ask(sim, "alice")
        await answer(sim, "alice", science, "Au")
        geography = await ask(sim, "alice")
        await answer(sim, "alice", geography, "Kyoto")
    async with Simulator(plugins=[Quiz], storage=database) as sim:
        assert texts(await sim.send(sim.user("alice", "Alice"), "/stats")) == [
            "📊 Alice: 3 answers, 2 right (67%); best streak 2, current 0."
        ]


async def test_without_storage_the_quiz_goes_on_and_stats_say_they_are_unavailable(
    tmp_path: Path,
) -> None:
    (tmp_path / "blocker").write_text("a file where the database's folder should be")
    async with Simulator(plugins=[Quiz], storage=f"sqlite:///{tmp_path}/blocker/w.db") as sim:
        sim.user("alice", "Alice")
        assert await answer(sim, "alice", await ask(sim, "alice"), "42") == "✓ Right, Alice: 42!"
        assert texts(await sim.send(sim.user("alice"), "/stats")) == [
            "Statistics are unavailable right now; try again later."
        ]
