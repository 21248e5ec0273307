"""The web sandbox in a real browser: a team game, a quoted-reply quiz, escaping, the token.

The scenarios run the real plugins of ``example_plugins/`` (the idiom chain with a short idle
timeout); each saves a screenshot under test-output/e2e/.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from example_plugins.echo import Echo
from example_plugins.idiom_chain import IdiomChain
from example_plugins.quiz import Quiz
from waiter_sdk import At, MessageEvent, Plain, Plugin, Reply, command

from .conftest import OpenPage, Serve, screenshot

if TYPE_CHECKING:
    from playwright.async_api import Locator, Page

pytestmark = pytest.mark.e2e

IDLE = 4.0  # the idiom game ends this long after the last accepted idiom


class QuickIdiomChain(IdiomChain):
    """The example game with an idle timeout short enough to wait for in a test."""

    idle_timeout = IDLE


class Poke(Plugin):
    """/poke answers with a quote and a mention (no example plugin sends a mention)."""

    name = "poke"

    @command("poke")
    async def poke(self, event: MessageEvent):
        yield event.chain_result(
            [Reply(event.message_id), At(event.sender_id), Plain(" you poked me")]
        )


# --- driving the page ---------------------------------------------------------------------


async def say(page: Page, user: str, text: str) -> None:
    """Type ``text`` as ``user`` in the open conversation and send it."""
    await page.get_by_test_id("user-select").select_option(label=user)
    box = page.get_by_test_id("composer-input")
    await box.fill(text)
    await box.press("Enter")


def messages(page: Page, sender: str, text: str | None = None) -> Locator:
    found = page.locator(f'[data-testid="message"][data-sender="{sender}"]')
    return found.filter(has_text=text) if text is not None else found


def open_sessions(page: Page) -> Locator:
    return page.locator('[data-testid="session-card"][data-state="open"]')


async def seconds_left(card: Locator) -> float:
    text = await card.get_by_test_id("session-countdown").inner_text()
    return float(text.removesuffix(" s"))


# --- scenarios ------------------------------------------------------------------------------


async def test_three_people_play_the_idiom_chain_until_it_times_out(
    serve: Serve, open_page: OpenPage
) -> None:
    from playwright.async_api import expect

    served = await serve(plugins=[QuickIdiomChain])
    page = await open_page(served.url)

    # Alice starts the game in the group from a known idiom (without one it picks at random).
    await say(page, "Alice", "/idiom-chain 一心一意")
    opening = messages(page, "bot", "First idiom: 一心一意")
    await expect(opening).to_be_visible()
    await expect(opening).to_contain_text(f"{IDLE:g} s without a new idiom ends the game")
    cards = open_sessions(page)
    await expect(cards).to_have_count(1)
    card = cards.first
    await expect(card.get_by_test_id("session-plugin")).to_have_text("idiom_chain")
    await expect(card.get_by_test_id("session-filter")).to_have_text("IdiomGameFilter")
    await expect(card).to_contain_text("Group 1")

    # Bob and Carol answer; both move the same game on.
    await say(page, "Bob", "意气风发")
    await expect(messages(page, "bot", "✓ Bob +1 (1 in all). Next starts with 发.")).to_be_visible()
    await say(page, "Carol", "发愤图强")
    await expect(
        messages(page, "bot", "✓ Carol +1 (1 in all). Next starts with 强.")
    ).to_be_visible()

    # One session for the whole group, whoever answers; its countdown runs in the page.
    await expect(cards).to_have_count(1)
    before = await seconds_left(card)
    await page.wait_for_timeout(500)
    after = await seconds_left(card)
    assert 0 < after < before <= IDLE

    # Wrong idioms are refused with the reason, and score nothing.
    await say(page, "Bob", "马到成功")
    await expect(messages(page, "bot", "✗ 马到成功 does not start with 强.")).to_be_visible()
    await say(page, "Carol", "意气风发")
    await expect(messages(page, "bot", "✗ 意气风发 was already used.")).to_be_visible()
    await say(page, "Bob", "强词夺理")
    await expect(messages(page, "bot", "✓ Bob +1 (2 in all). Next starts with 理.")).to_be_visible()
    await expect(messages(page, "bot", "✓")).to_have_count(3)
    await expect(cards).to_have_count(1)
    await expect(card.get_by_test_id("session-stats")).to_contain_text("queued 0")
    await screenshot(page, "idiom_chain_playing")

    # IDLE seconds after the last accepted idiom the game ends and names the winner.
    over = messages(page, "bot", "⏰ Time's up")
    await expect(over).to_be_visible(timeout=(IDLE + 4) * 1000)
    await expect(over.get_by_test_id("message-text")).to_have_text(
        f"⏰ Time's up: no new idiom for {IDLE:g} s. "
        "Winner: Bob (2 points). Scores: Bob 2, Carol 1."
    )
    await expect(cards).to_have_count(0)
    await expect(page.get_by_test_id("session-reason")).to_have_text("ended: timeout")
    await expect(page.get_by_test_id("session-count")).to_have_text("0")
    await screenshot(page, "idiom_chain_over")
    assert len(served.app.sessions) == 0
    # The ended card shows its reason briefly, then the inspector is empty again.
    await expect(page.get_by_test_id("session-card")).to_have_count(0, timeout=9000)


async def test_two_quoted_reply_quizzes_run_side_by_side(serve: Serve, open_page: OpenPage) -> None:
    from playwright.async_api import expect

    served = await serve(plugins=[Quiz])
    page = await open_page(served.url)

    # A topic's questions come round robin, so the first of each is known.
    await say(page, "Alice", "/quiz math")
    first = messages(page, "bot", "❓ [math] What is 6 × 7?")
    await expect(first).to_be_visible()
    await say(page, "Bob", "/quiz science")
    second = messages(page, "bot", "❓ [science] What is the chemical symbol of gold?")
    await expect(second).to_be_visible()
    cards = open_sessions(page)
    await expect(cards).to_have_count(2)
    await expect(cards.get_by_test_id("session-plugin")).to_have_text(["quiz", "quiz"])
    await expect(cards.get_by_test_id("session-filter")).to_have_text(
        ["ReplySessionFilter", "ReplySessionFilter"]
    )

    # Carol quotes Bob's question: only that quiz hears her.
    await page.get_by_test_id("user-select").select_option(label="Carol")
    await second.get_by_test_id("message-text").click()
    await expect(page.get_by_test_id("reply-bar")).to_contain_text("chemical symbol of gold")
    box = page.get_by_test_id("composer-input")
    await box.fill("Au")
    await box.press("Enter")
    answer = messages(page, "carol").last
    await expect(answer.get_by_test_id("message-text")).to_have_text("Au")
    await expect(answer.get_by_test_id("quote")).to_contain_text("chemical symbol of gold")
    right = messages(page, "bot", "✓ Right, Carol: Au!")
    await expect(right).to_be_visible()
    await expect(right.get_by_test_id("quote")).to_contain_text("Au")
    await expect(cards).to_have_count(1)
    await screenshot(page, "quiz_side_by_side")

    # Alice answers her own question wrong, then quotes the bot's refusal with the right one.
    await page.get_by_test_id("user-select").select_option(label="Alice")
    await first.get_by_test_id("message-text").click()
    await expect(page.get_by_test_id("reply-bar")).to_contain_text("What is 6 × 7?")
    await box.fill("4")
    await box.press("Enter")
    refusal = messages(page, "bot", "✗ Not “4”. Quote to try again.")
    await expect(refusal).to_be_visible()
    await expect(cards).to_have_count(1)
    # Click the refusal's own text: clicking its quote would scroll to the quoted message.
    await refusal.get_by_test_id("message-text").click()
    await expect(page.get_by_test_id("reply-bar")).to_contain_text("Not “4”")
    await box.fill("42")
    await box.press("Enter")
    await expect(messages(page, "bot", "✓ Right, Alice: 42!")).to_be_visible()
    await expect(cards).to_have_count(0)
    assert len(served.app.sessions) == 0


async def test_markup_in_messages_and_names_is_shown_as_text(
    serve: Serve, open_page: OpenPage
) -> None:
    from playwright.async_api import expect

    served = await serve(plugins=[Echo])
    page = await open_page(served.url)
    payload = "<img src=x onerror=alert(1)>"

    await say(page, "Alice", payload)
    await expect(messages(page, "alice").last.get_by_test_id("message-text")).to_have_text(payload)
    await say(page, "Alice", f"/echo {payload} <script>alert(2)</script>")
    echoed = messages(page, "bot").last.get_by_test_id("message-text")
    await expect(echoed).to_have_text(f"{payload} <script>alert(2)</script>")

    bob = page.locator('[data-testid="user"][data-user="bob"]')
    await bob.get_by_test_id("rename-user").click()
    await page.get_by_test_id("rename-input").fill("<b onmouseover=alert(3)>Bob</b>")
    await page.get_by_test_id("rename-input").press("Enter")
    await expect(bob).to_contain_text("<b onmouseover=alert(3)>Bob</b>")

    await expect(page.locator("#messages img, #messages script, #users b")).to_have_count(0)
    await page.wait_for_timeout(300)  # give a stray onerror handler time to fire
    assert await page.evaluate("typeof window.alert") == "function"
    await screenshot(page, "markup_as_text")
    # The open_page fixture fails the test if any dialog opened or the page raised.


async def test_mentions_quotes_images_and_new_users(serve: Serve, open_page: OpenPage) -> None:
    from playwright.async_api import expect

    served = await serve(plugins=[Echo, Poke])
    page = await open_page(served.url)

    await page.get_by_test_id("add-user").click()
    await page.get_by_test_id("add-user-name").fill("Dave")
    await page.get_by_test_id("add-user-name").press("Enter")
    await expect(page.get_by_test_id("user")).to_have_count(4)

    await page.get_by_test_id("user-select").select_option(label="Dave")
    box = page.get_by_test_id("composer-input")
    await box.fill("hi ")
    await page.get_by_test_id("mention-button").click()
    await page.get_by_test_id("mention-option").filter(has_text="@Carol").click()
    await box.type("look")
    await page.get_by_test_id("image-button").click()
    await page.get_by_test_id("image-url").fill(served.base + "static/favicon.svg")
    await page.get_by_test_id("image-add").click()
    await page.get_by_test_id("send-button").click()
    sent = messages(page, "dave").last
    await expect(sent.get_by_test_id("mention")).to_have_text("@Carol")
    await expect(sent.get_by_test_id("message-text")).to_have_text("hi @Carol look")
    await expect(sent.get_by_test_id("message-image")).to_have_count(1)

    await say(page, "Dave", "/poke @Bot")
    reply = messages(page, "bot", "you poked me")
    await expect(reply.get_by_test_id("quote")).to_contain_text("Dave")
    await expect(reply.get_by_test_id("quote")).to_contain_text("/poke @Bot")
    await expect(reply.get_by_test_id("mention")).to_have_text("@Dave")

    await page.get_by_test_id("add-group").click()
    await page.get_by_test_id("add-group-name").fill("Chess club")
    await page.get_by_test_id("add-group-name").press("Enter")
    await page.locator('[data-conv="group:g2"]').click()
    await expect(page.get_by_test_id("chat-title")).to_have_text("Chess club")
    await say(page, "Carol", "/echo in the club")
    await expect(messages(page, "bot", "in the club")).to_be_visible()

    # Dave's private chat with the bot is separate from the groups.
    await page.locator('[data-conv="private:dave"]').click()
    await expect(page.get_by_test_id("chat-title")).to_have_text("Dave ↔ Bot")
    await say(page, "Dave", "/echo just us")
    await expect(messages(page, "bot", "just us")).to_be_visible()
    await page.locator('[data-conv="group:g1"]').click()
    await expect(messages(page, "bot", "just us")).to_have_count(0)
    await expect(
        page.get_by_test_id("log-entry").filter(has_text="Dave (private)")
    ).not_to_have_count(0)
    await page.get_by_test_id("log-toggle").click()
    await expect(page.get_by_test_id("log")).to_be_hidden()
    await screenshot(page, "mentions_quotes_images")


async def test_a_token_is_required_when_configured(serve: Serve, open_page: OpenPage) -> None:
    from playwright.async_api import expect

    served = await serve(plugins=[Echo], token="e2e-secret")
    page = await open_page(served.base, wait=False)
    assert "needs its token" in await page.inner_text("body")
    response = await page.goto(served.base + "?token=wrong")
    assert response is not None
    assert response.status == 403
    response = await page.goto(served.url)
    assert response is not None
    assert response.status == 200
    await expect(page.get_by_test_id("status")).to_have_text("connected")
    await say(page, "Carol", "/echo let me in")
    await expect(messages(page, "bot", "let me in")).to_be_visible()
    await screenshot(page, "token_required")


async def test_the_page_reconnects_after_a_server_restart(
    serve: Serve, open_page: OpenPage
) -> None:
    from playwright.async_api import expect

    first = await serve(plugins=[Echo])
    page = await open_page(first.url)
    await page.get_by_test_id("add-user").click()
    await page.get_by_test_id("add-user-name").fill("Erin")
    await page.get_by_test_id("add-user-name").press("Enter")
    await say(page, "Erin", "/echo before")
    await expect(messages(page, "bot", "before")).to_be_visible()

    await first.app.stop()
    await expect(page.get_by_test_id("status")).to_have_text("offline")
    await expect(page.get_by_test_id("banner")).to_be_visible()
    await serve(plugins=[Echo], port=first.port)

    await expect(page.get_by_test_id("status")).to_have_text("connected", timeout=15000)
    await expect(page.get_by_test_id("system-note")).to_contain_text("server restarted")
    await expect(page.locator('[data-testid="user"][data-user="erin"]')).to_be_visible()
    await say(page, "Erin", "/echo after")
    await expect(messages(page, "bot", "after")).to_be_visible()
    await screenshot(page, "reconnected")


async def test_the_page_is_usable_at_phone_width(serve: Serve, open_page: OpenPage) -> None:
    from playwright.async_api import expect

    served = await serve(plugins=[IdiomChain])
    page = await open_page(served.url, width=390, height=844)
    await say(page, "Alice", "/idiom-chain")  # a random first idiom
    await expect(messages(page, "bot", "First idiom: ")).to_be_visible()
    await expect(open_sessions(page)).to_have_count(1)
    overflow = await page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, "the page scrolls sideways at phone width"
    box = await page.get_by_test_id("composer-input").bounding_box()
    assert box is not None
    assert box["width"] > 150
    await screenshot(page, "phone_width", full_page=True)

    # The inspector's Close button ends the game now (app.sessions.close).
    await open_sessions(page).get_by_test_id("session-close").click()
    await expect(page.get_by_test_id("session-reason")).to_have_text("ended: cancelled")
    await expect(open_sessions(page)).to_have_count(0)
    await expect(
        messages(page, "bot", "Game over: the session was closed. Nobody scored.")
    ).to_be_visible()
    assert len(served.app.sessions) == 0
