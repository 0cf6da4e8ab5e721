"""Names that hide or reverse text, in headless Chromium against the real app.

As reported: a right-to-left override (U+202E) in an exchange's name reversed the Route
tab's own sentence after it, and queues ``q`` and ``q `` looked the same in Findings. Here
the words of the page's sentences are located on screen (their bounding boxes), and must
read left to right in order; the two queues must read differently in Findings and in the
details panel, and what is shown must give back the exact name.
"""

from __future__ import annotations

import pytest

from tests.conftest import snapshot_of, static_live
from tests.e2e.conftest import click_on_graph, details_shown, open_page, unmarked
from visualiser.model.entities import Binding, Exchange, Queue, VhostSnapshot

pytestmark = pytest.mark.e2e

RLO = "\u202e"
UNROUTED = f"orders{RLO}"  # routes nowhere itself: its alternate exchange takes the message
FANOUT = f"fan{RLO}out"
TWINS = ("q", "q ")  # the same but for a trailing space

# Where each word is drawn: (line, left) of the first occurrence in the element's text nodes.
WORD_POSITIONS = """([selector, words]) => {
  const root = document.querySelector(selector);
  const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
  const found = {};
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    for (const word of words) {
      const at = node.data.indexOf(word);
      if (at < 0 || word in found) continue;
      const range = document.createRange();
      range.setStart(node, at);
      range.setEnd(node, at + word.length);
      const box = range.getClientRects()[0]; // where the words start, even when they wrap onto a next line
      found[word] = [Math.round(box.top), box.left];
    }
  }
  return words.map((word) => found[word] ?? null);
}"""


def reads_left_to_right(page, selector: str, words: list[str]) -> None:
    positions = page.evaluate(WORD_POSITIONS, [selector, words])
    assert None not in positions, (words, positions)
    assert positions == sorted(positions) and len(set(map(tuple, positions))) == len(words), (words, positions)


@pytest.fixture
def server():
    snapshot = VhostSnapshot(
        "/",
        (
            Exchange(""),
            Exchange(UNROUTED, "direct", arguments={"alternate-exchange": "alt"}),
            Exchange("alt", "fanout"),
            Exchange(FANOUT, "fanout"),
        ),
        (Queue("caught"), Queue("dest"), *(Queue(name) for name in TWINS)),
        (
            Binding("alt", "caught", "queue", ""),
            Binding(FANOUT, "dest", "queue", ""),
        ),
    )
    with static_live(snapshot_of(snapshot)) as (live, _):
        yield live


def ask(page, exchange: str) -> None:
    """As a person asks: the exchange picked from the list, a key typed, Route pressed."""
    page.wait_for_function(
        "(name) => [...document.querySelectorAll('#route-exchange option')].some((o) => o.value === name)",
        arg=exchange,
        timeout=30000,
    )
    page.select_option("#route-exchange", exchange)
    page.fill("#route-key", "k")
    page.click("#route-submit")


def test_a_right_to_left_override_in_a_name_does_not_reverse_the_pages_text(page, server) -> None:
    open_page(page, server.url, "() => window.__app && window.__app.route")
    page.click("#tab-route")

    # The page's own sentence, with the name set in it.
    ask(page, UNROUTED)
    page.wait_for_function("() => document.querySelectorAll('#route-queues li').length === 1", timeout=10000)
    click_on_graph(page, f"alternate:{UNROUTED}")
    page.wait_for_selector("#route-explain-text", timeout=10000)
    explanation = page.inner_text("#route-explain-text")
    assert "‹U+202E›" in explanation and RLO not in explanation
    reads_left_to_right(page, "#route-explain-text", ["Taken:", "nothing", "matched,", "alternate", "message"])
    reads_left_to_right(page, "#route-exchanges", ["no binding matched", "alternate exchange", "(by argument)"])

    # The server's sentence (a queue's reason), with the name set in it.
    ask(page, FANOUT)
    page.wait_for_function("() => document.querySelector('#route-queues').innerText.includes('dest')", timeout=10000)
    reads_left_to_right(page, "#route-queues", ["fanout:", "every", "binding", "gets", "copy"])
    assert page.errors == []


def test_names_that_differ_only_by_a_trailing_space_read_differently(page, server) -> None:
    open_page(page, server.url)
    page.click("#tab-findings")
    for name in TWINS:
        page.wait_for_selector(f'li.finding[data-node="queue:{name}"] button.finding-node', timeout=15000)
    in_findings = [page.inner_text(f'li.finding[data-node="queue:{name}"] button.finding-node') for name in TWINS]
    # Searched for as a person would: "q" finds both queues (and whatever else has a q in its
    # name); Enter goes through the matches in turn, and Details reads each.
    page.click("#tab-details")
    page.fill("#search", "q")
    found = int(page.inner_text("#search-count").split()[0])
    in_details = []
    for _ in range(found):
        page.press("#search", "Enter")
        shown = details_shown(page)
        if shown["kind"] == "queue":
            in_details.append(shown["rendered"])
    in_details.sort(key=unmarked)
    for shown in (in_findings, in_details):
        assert shown[0] != shown[1], shown  # rendered text, as a reader sees it
        assert [unmarked(text) for text in shown] == list(TWINS)  # and each stands for its exact name
    assert in_findings[1] == in_details[1] == "q‹U+0020›"  # the same marker wherever a name is shown
    labels = [
        page.evaluate("(id) => window.__app.graph.element(id).pstyle('label').strValue", f"queue:{name}")
        for name in TWINS
    ]  # the text drawn on the canvas
    assert labels[0].split("\n")[0] != labels[1].split("\n")[0]  # on the canvas too
    assert page.errors == []
