"""Headless Chromium (Debian's) driven by Playwright, against the real app, and the ways a
person uses the page: search a name and press Enter, click what is drawn, read the Details tab.

The page's app object (``window.__app``, put there by the tests, never by the page) is read only
to measure what a person sees (sizes, what is drawn) or to find where on the screen to click.
"""

from __future__ import annotations

import re
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
    return page.evaluate("() => window.__app.graph.cy.nodes().map((n) => n.id())")


def visible_ids(page) -> list[str]:
    return page.evaluate("() => window.__app.graph.visibleNodes().map((n) => n.id())")


@pytest.fixture
def demo_server():
    """The real app running the embedded demo broker."""
    server, _ = run_live(Settings(demo=True))
    yield server
    stop_live(server)


GRAPH_DRAWN = "() => window.__app && window.__app.graph.cy.nodes().length > 0"
# The tests' own handle on the page's app, for measuring what a person sees (sizes, positions):
# the page exports it from its main module and puts nothing on window itself.
EXPOSE_APP = "async () => { window.__app = await (await import('/static/js/main.js')).ready; }"


def expose_app(page) -> None:
    page.wait_for_load_state("domcontentloaded")
    page.evaluate(EXPOSE_APP)


def open_page(page, url: str, ready: str = GRAPH_DRAWN) -> None:
    """Load the page and wait until `ready` (a JS predicate) holds."""
    page.goto(url)
    expose_app(page)
    page.wait_for_function(ready, timeout=15000)


# ---- reading names as the page shows them ------------------------------------------------------

MARKER = re.compile(r"‹U\+([0-9A-F]{4,6})›")


def unmarked(shown: str) -> str:
    """The name a shown text stands for: each ‹U+XXXX› marker (the page's way of showing a
    character that would not show) back to its character; a marker cut short by a shortened
    label is dropped."""
    whole = MARKER.sub(lambda m: chr(int(m.group(1), 16)), shown)
    return re.sub(r"‹[^›]*$", "", whole)


# ---- acting as a person does ---------------------------------------------------------------------


def details_shown(page) -> dict[str, str]:
    """What the Details tab shows: its kind line, its heading (as text and as rendered), and all of it."""
    return page.evaluate("""() => {
      const panel = document.querySelector('#panel-details');
      const title = panel.querySelector('h2');
      return {kind: panel.querySelector('.kind')?.textContent ?? '', title: title?.textContent ?? '',
              rendered: title?.innerText ?? '', text: panel.textContent};
    }""")


def search(page, text: str) -> int:
    """Type in the search box, with the Details tab open; returns how many the page says it found."""
    page.click("#tab-details")
    page.fill("#search", text)
    counted = re.match(r"(\d+) found", page.inner_text("#search-count"))
    return int(counted.group(1)) if counted else 0


def every_match(page, text: str) -> list[dict[str, str]]:
    """Search, then Enter once per match: what Details shows for each, in turn."""
    shown = []
    for _ in range(search(page, text)):
        page.press("#search", "Enter")
        shown.append(details_shown(page))
    page.press("#search", "Escape")
    return shown


def select_by_search(page, name: str, kind: str | None = None) -> dict[str, str]:
    """Select a node as a person does who knows its name: the Details tab opened, the name typed
    in the search box, Enter pressed (again for the next match) until Details shows that name (and
    that kind: the end of its kind line, e.g. "queue", "exchange", "worker"); the search box is then
    cleared with Escape. Returns what Details shows."""
    found = search(page, name)
    seen = []
    for _ in range(found):
        page.press("#search", "Enter")
        shown = details_shown(page)
        if unmarked(shown["title"]) == name and (kind is None or shown["kind"].endswith(kind)):
            page.press("#search", "Escape")
            return shown
        seen.append((shown["kind"], shown["title"]))
    raise AssertionError(f"searching {name!r} found {found}, and none shown as the {kind or 'node'} itself: {seen}")


# Where an element is drawn, in page coordinates (a node's centre, an edge's middle): measured,
# to point the mouse at it.
# Where to aim at a node or an edge: its centre, or for an edge the first point along it (its
# midpoint, then towards either end) where the element under the pointer is that edge and not
# a node, a label or another edge drawn over it, as a person aims at a part they can see.
SCREEN_POINT = """(id) => {
  const cy = window.__app.graph.cy; const e = cy.getElementById(id); const renderer = cy.renderer();
  const box = cy.container().getBoundingClientRect();
  const points = [];
  if (e.isEdge()) {
    const m = e.renderedMidpoint(), s = e.renderedSourceEndpoint(), t = e.renderedTargetEndpoint();
    for (const f of [0, 0.2, -0.2, 0.4, -0.4, 0.6, -0.6]) {
      const end = f >= 0 ? t : s, k = Math.abs(f);
      points.push({x: m.x + (end.x - m.x) * k, y: m.y + (end.y - m.y) * k});
    }
  } else points.push(e.renderedPosition());
  const inside = (p) => p.x > 0 && p.y > 0 && p.x < cy.width() && p.y < cy.height();
  const onScreen = (p, hit) => ({x: box.left + p.x, y: box.top + p.y, inside: inside(p), hit});
  for (const p of points.filter(inside)) {
    const [mx, my] = renderer.projectIntoViewport(box.left + p.x, box.top + p.y);
    const hit = renderer.findNearestElement(mx, my, true, false);
    if (hit && hit.id() === id) return onScreen(p, id);
  }
  return onScreen(points[0], null);
}"""


# The view has stopped moving: the same zoom and pan, and no animation running, for five frames
# in a row (a search's moves to its matches are queued, each started on a frame of its own).
VIEW_STEADY = """() => {
  const cy = window.__app.graph.cy; const now = JSON.stringify([cy.zoom(), cy.pan()]);
  const seen = window.__view ?? (window.__view = { last: null, frames: 0 });
  seen.frames = now === seen.last && !cy.animated() ? seen.frames + 1 : 0;
  seen.last = now;
  return seen.frames >= 5;
}"""


def wait_until_the_view_settles(page) -> None:
    """As a person waits for the view to stop moving before they aim at something on it."""
    page.evaluate("() => { window.__view = null; }")
    page.wait_for_function(VIEW_STEADY, timeout=60000)


def click_on_graph(page, element_id: str) -> None:
    """Bring the whole graph into view (the Fit button) and click the node or edge where it is drawn."""
    wait_until_the_view_settles(page)  # a search's move to its match, still to come, would undo the fit
    page.click("#btn-fit")
    wait_until_the_view_settles(page)
    point = page.evaluate(SCREEN_POINT, element_id)
    assert point["inside"], f"{element_id} is not on screen after Fit: {point}"
    assert point["hit"] == element_id, f"{element_id} is covered by something else wherever it is drawn: {point}"
    page.mouse.click(point["x"], point["y"])
