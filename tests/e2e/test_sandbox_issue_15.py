"""Issue 15 in a real browser: a truthful inspector, one identity per tab, no lost input.

Each scenario failed before its fix: a botoy card counted down the session's whole life (or a
year) and said "ended: stopped" after a timeout; it named the group a login was opened in, not
the private chat it listens in; picking Bob in one tab made every tab type as Bob after a
reload; a long paste was cut to 4,000 characters without a word, and a refused message left the
box empty.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, ClassVar

import pytest

from example_plugins.echo import Echo
from example_plugins.login import Login
from waiter_sdk import MessageEvent, Plugin, command, start_session

from .conftest import OpenPage, Serve, screenshot
from .test_sandbox_browser import messages, open_sessions, say, seconds_left

if TYPE_CHECKING:
    from playwright.async_api import Browser, Page

pytestmark = pytest.mark.e2e


class StepLogin(Login):
    """The example login with 20 s per question, as a real plugin would have."""

    step_timeout = 20.0


class QuickLogin(Login):
    step_timeout = 1.5


class Survey(Plugin):
    """/survey asks one question, then works on the answer until the test lets it go."""

    name = "survey"
    release: ClassVar[asyncio.Event | None] = None

    @command("survey")
    async def survey(self, event: MessageEvent) -> None:
        ss = start_session(event)
        ss.set_default_timeout(20)
        answer, _ = await ss.must_text("Your favourite colour?")
        await ss.send(f"Thinking about {answer}…")
        assert Survey.release is not None
        await Survey.release.wait()  # the handler works: the session has no deadline now
        ss.finish(f"{answer} it is.")


async def test_a_botoy_card_counts_down_the_question_and_names_the_private_chat(
    serve: Serve, open_page: OpenPage
) -> None:
    from playwright.async_api import expect

    served = await serve(plugins=[StepLogin])
    page = await open_page(served.url)
    await say(page, "Carol", "/login")  # in Group 1
    await expect(messages(page, "bot", "I've sent you a private message")).to_be_visible()
    card = open_sessions(page).first
    await expect(card.get_by_test_id("session-plugin")).to_have_text("login")
    # It listens only in Carol's private chat, and says where it was opened.
    await expect(card.get_by_test_id("session-chats")).to_have_text("listens in Carol (private)")
    await expect(card.get_by_test_id("session-opened")).to_have_text("opened by Carol in Group 1")
    # The question's 20 s, counting down, with a bar that is (nearly) full.
    left = await seconds_left(card)
    assert 15 < left <= 20
    await expect(card.get_by_test_id("session-bar")).to_be_visible()
    width = await card.locator('[data-testid="session-bar"] span').evaluate(
        "node => parseFloat(node.style.width)"
    )
    assert width > 75
    await screenshot(page, "inspector_botoy_countdown")

    # The chat named on the card opens that chat.
    await card.get_by_test_id("session-chat").click()
    await expect(page.get_by_test_id("chat-title")).to_have_text("Carol ↔ Bot")
    await expect(messages(page, "bot", "Login: your username?")).to_be_visible()


async def test_a_handler_at_work_shows_no_deadline_and_a_timeout_says_timeout(
    serve: Serve, open_page: OpenPage
) -> None:
    from playwright.async_api import expect

    Survey.release = asyncio.Event()
    served = await serve(plugins=[Survey, QuickLogin])
    page = await open_page(served.url)
    await page.locator('[data-conv="private:alice"]').click()
    await say(page, "Alice", "/survey")
    await expect(messages(page, "bot", "Your favourite colour?")).to_be_visible()
    card = open_sessions(page).first
    await expect(card.get_by_test_id("session-deadline")).to_contain_text("deadline in")
    await say(page, "Alice", "blue")
    await expect(messages(page, "bot", "Thinking about blue…")).to_be_visible()
    # Between two questions no timeout can fire: the card says so, and shows no bar.
    await expect(card.get_by_test_id("session-deadline")).to_have_text(
        "no deadline: waiting for the handler"
    )
    await expect(card.get_by_test_id("session-bar")).to_be_hidden()
    Survey.release.set()
    await expect(messages(page, "bot", "blue it is.")).to_be_visible()
    await expect(open_sessions(page)).to_have_count(0)

    # A login whose question timed out ends as "timeout", not "stopped".
    await page.locator('[data-conv="private:bob"]').click()
    await say(page, "Bob", "/login")
    await expect(messages(page, "bot", "Login timed out")).to_be_visible(timeout=6000)
    ended = page.locator('[data-testid="session-card"][data-state="ended"]').filter(
        has_text="login"
    )
    await expect(ended.get_by_test_id("session-reason")).to_have_text("ended: timeout")


async def test_each_tab_types_as_its_own_user(
    serve: Serve, browser: Browser, open_page: OpenPage
) -> None:
    from playwright.async_api import expect

    served = await serve(plugins=[Echo])
    context = await browser.new_context(viewport={"width": 1280, "height": 800})
    errors: list[str] = []
    try:
        tabs: list[Page] = []
        for url in (served.url, served.url, served.base + "?as=carol"):
            tab = await context.new_page()
            tab.on("pageerror", lambda exc: errors.append(str(exc)))
            await tab.goto(url)
            await tab.get_by_test_id("status").filter(has_text="connected").wait_for()
            tabs.append(tab)
        a, b, c = tabs
        await b.get_by_test_id("user-select").select_option(label="Bob")
        await b.locator('[data-conv="private:bob"]').click()
        await expect(b.get_by_test_id("chat-title")).to_have_text("Bob ↔ Bot")
        await expect(c.get_by_test_id("user-select")).to_have_value("carol")

        # Reloads keep each tab's own choice: tab A is still Alice in Group 1.
        for tab in (a, b, c):
            await tab.reload()
            await tab.get_by_test_id("status").filter(has_text="connected").wait_for()
        await expect(a.get_by_test_id("user-select")).to_have_value("alice")
        await expect(a.get_by_test_id("chat-title")).to_have_text("Group 1")
        await expect(b.get_by_test_id("user-select")).to_have_value("bob")
        await expect(b.get_by_test_id("chat-title")).to_have_text("Bob ↔ Bot")
        await expect(c.get_by_test_id("user-select")).to_have_value("carol")

        box = a.get_by_test_id("composer-input")
        await box.fill("/echo from tab A")
        await box.press("Enter")
        await expect(messages(a, "alice", "/echo from tab A")).to_be_visible()
    finally:
        await context.close()
    assert errors == []


async def test_a_long_paste_is_counted_refused_in_a_sentence_and_kept(
    serve: Serve, open_page: OpenPage
) -> None:
    from playwright.async_api import expect

    served = await serve(plugins=[Echo])
    page = await open_page(served.url)
    box = page.get_by_test_id("composer-input")
    counter = page.get_by_test_id("composer-counter")

    await box.fill("a" * 100)
    await expect(counter).to_be_hidden()  # far from the limit: no counter
    pasted = "长" * 100_000
    await box.fill(pasted)
    assert await box.evaluate("node => node.value.length") == 100_000  # not cut to 4,000
    await expect(counter).to_have_text("100,000 / 4,000")
    await box.press("Enter")
    refusal = page.get_by_test_id("composer-error")
    await expect(refusal).to_have_text(
        "This message has 100,000 characters; the limit is 4,000. "
        "Shorten it and send it again (your text is still in the box)."
    )
    assert await box.evaluate("node => node.value.length") == 100_000
    await expect(page.get_by_test_id("status")).to_have_text("connected")
    await expect(messages(page, "alice")).to_have_count(0)
    await screenshot(page, "composer_too_long")

    await box.fill("长" * 3900)
    await expect(counter).to_have_text("3,900 / 4,000")
    await box.press("Enter")
    await expect(messages(page, "alice")).to_have_count(1)
    await expect(box).to_have_value("")
    await expect(counter).to_be_hidden()


async def test_a_message_the_server_refuses_goes_back_in_the_box(
    serve: Serve, open_page: OpenPage
) -> None:
    from playwright.async_api import expect

    served = await serve(plugins=[])
    served.adapter.state.history_limit = 2  # the server forgets the first message soon
    page = await open_page(served.url)
    for text in ("first", "second", "third"):
        await say(page, "Alice", text)
        await expect(messages(page, "alice", text)).to_be_visible()
    # The page still shows "first"; quoting it reaches a server that no longer has it.
    await messages(page, "alice", "first").get_by_test_id("message-text").click()
    box = page.get_by_test_id("composer-input")
    await box.fill("my answer")
    await box.press("Enter")
    await expect(page.get_by_test_id("composer-error")).to_contain_text(
        "is not in this conversation any more"
    )
    await expect(box).to_have_value("my answer")
    await expect(page.get_by_test_id("status")).to_have_text("connected")
