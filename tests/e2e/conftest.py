"""Real-browser fixtures: Debian's Chromium through Playwright, and a sandbox on a free port.

Usage, in a test of this folder::

    async def test_x(serve: Serve, open_page: OpenPage) -> None:
        adapter = await serve(plugins=[MyPlugin])
        page = await open_page(adapter.url)

The browser tests skip with the reason when Playwright or Chromium is missing, except under
``CI=true``, where a missing browser is a failure: CI must run them. The server runs in the
test's own event loop, next to Playwright's async API, so there is no thread to leak and
``App.stop()`` at teardown ends everything.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from waiter_sdk import App
from waiter_sdk.adapters.sandbox import SandboxAdapter
from waiter_sdk.config import SandboxSettings, Settings

if TYPE_CHECKING:
    from playwright.async_api import Browser, Page

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SHOTS = Path(__file__).resolve().parents[2] / "test-output" / "e2e"

Serve = Callable[..., Awaitable["Served"]]
OpenPage = Callable[..., Awaitable["Page"]]


def _missing() -> str | None:
    try:
        import playwright.async_api  # noqa: F401
    except ImportError:
        return "Playwright for Python is not installed (pip install playwright)"
    if not (os.path.exists(CHROMIUM) and os.access(CHROMIUM, os.X_OK)):
        how = "apt-get install -y chromium" if shutil.which("apt-get") else "install Chromium"
        return f"{CHROMIUM} is missing ({how}); browser tests need Debian's Chromium"
    return None


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    problem = _missing()
    if problem is not None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"CI=true requires the browser tests to run: {problem}")
        pytest.skip(problem)
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield launched
        finally:
            await launched.close()


class Served:
    """A running sandbox: its app, its adapter, the URL to open and the port it got."""

    def __init__(self, app: App, adapter: SandboxAdapter) -> None:
        self.app = app
        self.adapter = adapter
        self.url = adapter.url
        self.base = self.url.split("?")[0]
        self.port = int(self.base.rstrip("/").rsplit(":", 1)[1])


@pytest.fixture
async def serve() -> AsyncIterator[Serve]:
    """``await serve(plugins=[...], token=None, port=0)`` -> a started sandbox (``Served``)."""
    apps: list[App] = []

    async def start(plugins: Any = (), token: str | None = None, port: int = 0) -> Served:
        adapter = SandboxAdapter(SandboxSettings(port=port, token=token))
        # The example plugins keep data; in memory here, not in data/ of the working directory.
        settings = Settings.load(storage="memory")
        app = App(settings=settings, plugins=plugins, adapters=[adapter])
        await app.start()
        apps.append(app)
        return Served(app, adapter)

    try:
        yield start
    finally:
        for app in reversed(apps):
            await app.stop()


class PageErrors(list[str]):
    """Uncaught page exceptions and dialogs (alert, confirm, prompt) seen during a test."""


@pytest.fixture
async def open_page(browser: Browser) -> AsyncIterator[OpenPage]:
    """``await open_page(url, width=1280, height=800)`` -> a page that is connected.

    At teardown the test fails if the page raised an uncaught exception or opened a dialog.
    """
    errors = PageErrors()
    contexts = []

    async def open_(url: str, width: int = 1280, height: int = 800, wait: bool = True) -> Page:
        context = await browser.new_context(viewport={"width": width, "height": height})
        contexts.append(context)
        page = await context.new_page()
        page.on("pageerror", lambda exc: errors.append(f"page error: {exc}"))

        async def on_dialog(dialog: Any) -> None:
            errors.append(f"dialog {dialog.type}: {dialog.message}")
            await dialog.dismiss()

        page.on("dialog", on_dialog)
        await page.goto(url)
        if wait:
            await page.get_by_test_id("status").filter(has_text="connected").wait_for()
        return page

    open_.errors = errors  # type: ignore[attr-defined]
    yield open_
    for context in contexts:
        await context.close()
    assert list(errors) == [], "the page raised or opened a dialog"


async def screenshot(page: Page, name: str, *, full_page: bool = False) -> Path:
    """Save ``test-output/e2e/<name>.png`` (the folder is git-ignored)."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    path = SHOTS / f"{name}.png"
    await page.screenshot(path=str(path), full_page=full_page)
    return path
