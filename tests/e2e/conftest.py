"""Headless Chromium (Debian's) driven by Playwright, against the real app."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.conftest import run_live, stop_live
from visualiser.config import Settings

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
]  # fmt: skip


@pytest.fixture(scope="session")
def browser() -> Iterator:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser) -> Iterator:
    """A fresh page that fails the test on any uncaught script error or dialog."""
    context = browser.new_context(viewport={"width": 1440, "height": 900})
    page = context.new_page()
    page.errors = []  # type: ignore[attr-defined]
    page.on("pageerror", lambda exc: page.errors.append(str(exc)))  # type: ignore[attr-defined]
    page.on("dialog", lambda dialog: (page.errors.append(f"dialog: {dialog.message}"), dialog.dismiss()))  # type: ignore[attr-defined]
    yield page
    context.close()


def graph_ids(page) -> list[str]:
    """Ids of the nodes the page's graph holds (read through the page's own app object)."""
    return page.evaluate("() => window.visualiser.graph.cy.nodes().map((n) => n.id())")


def visible_ids(page) -> list[str]:
    return page.evaluate("() => window.visualiser.graph.visibleNodes().map((n) => n.id())")


@pytest.fixture
def demo_server():
    """The real app running the embedded demo broker."""
    server, _ = run_live(Settings(demo=True))
    yield server
    stop_live(server)


GRAPH_DRAWN = "() => window.visualiser && window.visualiser.graph.cy.nodes().length > 0"


def open_page(page, url: str, ready: str = GRAPH_DRAWN) -> None:
    """Load the page and wait until `ready` (a JS predicate) holds."""
    page.goto(url)
    page.wait_for_function(ready, timeout=15000)
