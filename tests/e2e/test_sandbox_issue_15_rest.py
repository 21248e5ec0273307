"""Issue 15 items 5 to 10 in a real browser.

Each failed before its change: a closed session left its chat silent; there was no "Expire now";
"/" offered nothing and every user was a "member"; at 390x844 the session cards were a scroll
away below a 70vh chat and toasts sat on the message box; the event log cut long lines at 300
characters and showed no mentions.
"""

from __future__ import annotations

import pytest

from example_plugins.guess_number import GuessNumber
from example_plugins.quiz import Quiz
from waiter_sdk import MessageEvent, Plugin, command

from .conftest import OpenPage, Serve, screenshot
from .test_sandbox_browser import messages, open_sessions, say

pytestmark = pytest.mark.e2e


class Fixed(GuessNumber):
    def secret(self) -> int:
        return 42


class Guarded(Plugin):
    """A command only admins and owners may use, as a permission check reads sender_role."""

    name = "guarded"

    @command("kick", description="Remove someone from the group: /kick <name>")
    async def kick(self, event: MessageEvent) -> None:
        if event.sender_role not in ("admin", "owner"):
            await event.send("Only admins may kick.")
            return
        await event.send(f"{' '.join(event.args)} was kicked.")


async def test_close_and_expire_now_say_so_in_the_chat(serve: Serve, open_page: OpenPage) -> None:
    from playwright.async_api import expect

    served = await serve(plugins=[Fixed])
    page = await open_page(served.url)
    await say(page, "Alice", "/guess")
    card = open_sessions(page).first
    await card.get_by_test_id("session-expire").click()
    await expect(messages(page, "bot", "⏰ Time's up! The number was 42.")).to_be_visible()
    line = page.get_by_test_id("system-line")
    await expect(line).to_have_text(
        "Session guess_number expired: “Expire now” fired its deadline."
    )

    await say(page, "Bob", "/guess")
    await open_sessions(page).first.get_by_test_id("session-close").click()
    await expect(line.nth(1)).to_have_text(
        "Session guess_number was closed from the session inspector."
    )
    await expect(messages(page, "bot", "Your game was closed. The number was 42.")).to_be_visible()
    await expect(open_sessions(page)).to_have_count(0)


async def test_slash_offers_the_commands_and_a_role_reaches_the_plugin(
    serve: Serve, open_page: OpenPage
) -> None:
    from playwright.async_api import expect

    served = await serve(plugins=[Fixed, Quiz, Guarded])
    page = await open_page(served.url)
    box = page.get_by_test_id("composer-input")
    await box.fill("/")
    menu = page.get_by_test_id("command-menu")
    await expect(menu).to_be_visible()
    await expect(menu.locator('[data-command="help"]')).to_contain_text("builtin")
    await expect(menu.locator('[data-command="kick"]')).to_contain_text("<name>")
    await box.fill("/gu")
    option = menu.locator('[data-command="guess-number"]')
    await expect(option).to_contain_text("guess_number")
    await expect(option).to_contain_text("guess")
    await screenshot(page, "completion_menu")
    await box.press("Tab")
    await expect(box).to_have_value("/guess-number ")
    await expect(menu).to_be_hidden()
    await box.fill("")

    await say(page, "Bob", "/kick Carol")
    await expect(messages(page, "bot", "Only admins may kick.")).to_be_visible()
    await (
        page.locator('[data-testid="user"][data-user="bob"]')
        .get_by_test_id("role-select")
        .select_option("admin")
    )
    await expect(
        page.locator('[data-testid="user"][data-user="bob"]').get_by_test_id("role-select")
    ).to_have_value("admin")
    await say(page, "Bob", "/kick Carol")
    await expect(messages(page, "bot", "Carol was kicked.")).to_be_visible()


async def test_the_phone_layout_keeps_cards_chats_and_the_box_in_sight(
    serve: Serve, open_page: OpenPage
) -> None:
    from playwright.async_api import expect

    served = await serve(plugins=[Fixed])
    page = await open_page(served.url, width=390, height=844)
    await say(page, "Alice", "/guess")
    await say(page, "Alice", "50")
    await expect(messages(page, "bot", "50 is too high")).to_be_visible()
    box = page.get_by_test_id("composer-input")
    await box.fill("25")  # typing: the card is on screen with the box
    card = open_sessions(page).first
    viewport = {"width": 390, "height": 844}

    async def inside(locator: object) -> dict[str, float]:
        found = await locator.bounding_box()  # type: ignore[attr-defined]
        assert found is not None
        assert found["y"] >= 0 and found["y"] + found["height"] <= viewport["height"] + 0.5
        return found  # type: ignore[no-any-return]

    await inside(card)
    input_box = await inside(box)
    await inside(messages(page, "bot", "50 is too high"))
    await inside(page.get_by_test_id("conv").first)  # the chat list is reachable
    # A toast (here: a refused frame) never covers the box or the last message.
    await page.evaluate(
        "() => { const t = document.createElement('div'); t.className = 'toast';"
        " t.dataset.testid = 'toast'; t.textContent = 'A toast'; "
        "document.getElementById('toasts').append(t); }"
    )
    toast = await inside(page.get_by_test_id("toast"))
    last = await inside(messages(page, "bot").last)
    for other in (input_box, last):
        assert (
            toast["y"] + toast["height"] <= other["y"] or other["y"] + other["height"] <= toast["y"]
        )
    await screenshot(page, "phone_layout")
    # The strip folds with one tap, and comes back.
    await page.get_by_test_id("sessions-toggle").click()
    await expect(card).to_be_hidden()
    await page.get_by_test_id("sessions-toggle").click()
    await expect(card).to_be_visible()


async def test_a_message_with_a_quote_is_quoted_and_the_log_folds_long_lines(
    serve: Serve, open_page: OpenPage
) -> None:
    from playwright.async_api import expect

    served = await serve()
    page = await open_page(served.url)
    await say(page, "Alice", "first")
    first = messages(page, "alice", "first")
    await first.click()
    await say(page, "Bob", "second, quoting")
    second = messages(page, "bob", "second, quoting")
    await expect(second.get_by_test_id("quote")).to_contain_text("first")
    # The body of the quoting message: reply to it, not to the message it quotes.
    await second.get_by_test_id("message-text").click()
    await expect(page.get_by_test_id("reply-bar")).to_contain_text("Replying to Bob: second")
    await page.get_by_test_id("reply-cancel").click()
    # The quote preview alone jumps to the original and quotes nothing.
    await second.get_by_test_id("quote").click()
    await expect(page.get_by_test_id("reply-bar")).to_be_hidden()
    await expect(first).to_have_class("msg flash")

    await say(page, "Carol", "@Bob " + "long " * 80)
    entry = page.get_by_test_id("log-entry").filter(has_text="Carol: @Bob")
    await expect(entry).to_have_count(1)
    text = await entry.get_by_test_id("log-text").inner_text()
    assert text.endswith("…") and len(text) < 200
    await entry.get_by_test_id("log-more").click()
    await expect(entry.get_by_test_id("log-text")).to_have_text(
        "Group 1 · Carol: @Bob " + "long " * 80
    )
