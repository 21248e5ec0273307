"""Take docs/img/sandbox.png: the sandbox in Chromium with a team game in progress.

Usage::

    .venv/bin/python scripts/sandbox_screenshot.py [--out docs/img/sandbox.png]
        [--plugin example_plugins.idiom_chain:IdiomChain] [--command "/idiom-chain 一心一意"]
        [--idle 60]

It serves the sandbox on a free loopback port, lets Alice start the game and Bob and Carol
answer in the group (one wrong answer included), and shoots the page while the group session is
open, so the inspector shows its countdown. ``--idle`` sets the plugin's ``idle_timeout`` when
it has one (through a subclass), so the countdown reads the same on every run. Needs Playwright and /usr/bin/chromium, and a CJK
font (Debian: fonts-wqy-zenhei or fonts-noto-cjk) for the idioms to render.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ANSWERS = [("Bob", "意气风发"), ("Carol", "发愤图强"), ("Bob", "马到成功"), ("Alice", "强词夺理")]


async def shoot(plugin_spec: str, command: str, out: Path, idle: float) -> None:
    from playwright.async_api import async_playwright, expect

    from waiter_sdk import App
    from waiter_sdk.adapters.sandbox import SandboxAdapter
    from waiter_sdk.config import SandboxSettings, Settings

    sys.path.insert(0, str(ROOT))
    module_name, _, class_name = plugin_spec.partition(":")
    module = importlib.import_module(module_name)
    plugin = getattr(module, class_name) if class_name else module
    if isinstance(plugin, type) and hasattr(plugin, "idle_timeout"):
        # A long countdown reads better in a picture than the tests' few seconds.
        plugin = type(plugin.__name__, (plugin,), {"idle_timeout": idle})

    adapter = SandboxAdapter(SandboxSettings(port=0))
    async with (
        App(settings=Settings.load(), plugins=[plugin], adapters=[adapter]),
        async_playwright() as playwright,
    ):
        browser = await playwright.chromium.launch(
            executable_path="/usr/bin/chromium",
            headless=True,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
            ],
        )
        page = await browser.new_page(viewport={"width": 1280, "height": 800})
        await page.goto(adapter.url)
        await page.get_by_test_id("status").filter(has_text="connected").wait_for()
        bot = page.locator('[data-testid="message"][data-sender="bot"]')
        for user, text in [("Alice", command), *ANSWERS]:
            before = await bot.count()
            await page.get_by_test_id("user-select").select_option(label=user)
            await page.get_by_test_id("composer-input").fill(text)
            await page.get_by_test_id("composer-input").press("Enter")
            await expect(bot).not_to_have_count(before)
        await expect(page.get_by_test_id("session-card")).to_have_count(1)
        await page.get_by_test_id("user-select").select_option(label="Carol")
        await page.wait_for_timeout(1200)  # let the countdown visibly run
        out.parent.mkdir(parents=True, exist_ok=True)
        await page.screenshot(path=str(out))
        await browser.close()
    print(f"wrote {out}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "img" / "sandbox.png")
    parser.add_argument("--plugin", default="example_plugins.idiom_chain:IdiomChain")
    # The answers below continue from 一心一意; without it the game picks a random first idiom.
    parser.add_argument("--command", default="/idiom-chain 一心一意")
    parser.add_argument("--idle", type=float, default=60.0)
    args = parser.parse_args()
    asyncio.run(shoot(args.plugin, args.command, args.out, args.idle))


if __name__ == "__main__":
    main()
