"""example_plugins.quiz: quoted-reply quizzes side by side, and prompt / suggest for the topic.

Questions come round robin: ``/quiz`` asks math first (6 × 7), then science (gold), then
geography, then history; ``/quiz history`` starts with the Berlin Wall.
"""

from __future__ import annotations

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
