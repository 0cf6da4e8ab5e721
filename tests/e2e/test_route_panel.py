"""The routing panel, used as a person does: pick an exchange, type a key and headers, press
Route, click edges on the graph, press Clear; read what the panel and the graph show.

The answer on screen always belongs to the question on screen: a slow answer to an older
question, an answer still on its way when the form is edited or when a header is invalid, and
a re-ask scheduled before Clear never show up later. The page's requests are held back with
Playwright's request interception, so that each race is played out in the losing order every
time, without timing assumptions."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from tests.conftest import StaticSource, run_live, snapshot_of, stop_live, wait_for
from tests.e2e.conftest import open_page
from visualiser.config import Settings
from visualiser.model.entities import Binding, Exchange, Queue, VhostSnapshot
from visualiser.model.topology import alternate_edge_id, binding_id
from visualiser.routing import route
from visualiser.sources.demo import demo_topology

pytestmark = pytest.mark.e2e

HIGHLIGHTED = "() => window.__app.graph.cy.elements('.highlight').map((e) => e.id()).sort()"
# Every text the answer area showed, in order (a MutationObserver: what a person could have seen).
RECORD_SHOWN = """
window.__shown = [];
new MutationObserver(() => {
  const summary = document.getElementById('route-summary');
  const queues = document.getElementById('route-queues');
  if (!summary || !queues) return;
  const text = `${summary.innerText} | ${queues.innerText}`;
  if (window.__shown[window.__shown.length - 1] !== text) window.__shown.push(text);
}).observe(document, { subtree: true, childList: true, characterData: true });
"""
# Where an edge is drawn, in page coordinates: measured so that the mouse can click it.
EDGE_POINT = """(id) => {
  const cy = window.__app.graph.cy;
  const edge = cy.getElementById(id);
  const box = cy.container().getBoundingClientRect();
  const p = edge.renderedMidpoint();
  return [box.left + p.x, box.top + p.y];
}"""


def open_route_panel(page, url: str, ready: str = "() => window.__app && window.__app.route") -> None:
    page.add_init_script(RECORD_SHOWN)
    open_page(page, url, ready)
    page.click("#tab-route")


def queues_listed(page) -> list[str]:
    return page.eval_on_selector_all("#route-queues li", "(items) => items.map((li) => li.dataset.queue)")


def wait_for_queues(page, count: int) -> None:
    page.wait_for_function(
        "(n) => document.querySelectorAll('#route-queues li').length === n", arg=count, timeout=30000
    )


def click_edge(page, edge_id: str) -> None:
    """Bring the whole graph into view (the Fit button) and click the edge where it is drawn."""
    page.click("#btn-fit")
    page.wait_for_function("() => !window.__app.graph.cy.animated()", timeout=5000)
    x, y = page.evaluate(EDGE_POINT, edge_id)
    page.mouse.click(x, y)


def shown(page) -> list[str]:
    return page.evaluate("() => window.__shown")


class Requests:
    """The page's POST /api/route bodies, in order; the first one can be held back."""

    def __init__(self, page, hold_first: bool = False):
        self.bodies: list[dict] = []
        self.held: list = []
        self.hold_first = hold_first
        page.route("**/api/route", self._handle)

    def _handle(self, route) -> None:
        self.bodies.append(json.loads(route.request.post_data or "null"))
        if self.hold_first and not self.held:
            self.held.append(route)  # answered only when the test says so
        else:
            route.continue_()

    def release(self, page) -> None:
        with page.expect_event("requestfinished"):
            self.held.pop().continue_()
        # The page reads the late answer in its own tasks: a round trip through the page after it.
        page.evaluate("() => fetch('/api/vhosts').then((r) => r.json())")


# ---- the demo -------------------------------------------------------------------------------------


def test_demo_opens_with_a_routed_example_on_the_graph(page, demo_server):
    open_route_panel(page, demo_server.url)
    wait_for_queues(page, 4)
    assert page.input_value("#route-exchange") == "events"
    assert page.input_value("#route-key") == "alert.cpu.high"
    assert queues_listed(page) == ["analytics", "notify.email", "notify.push", "notify.sms"]
    lit = page.evaluate(HIGHLIGHTED)
    e2e = binding_id(Binding("events", "broadcast", "exchange", "alert.#"))
    fanout = binding_id(Binding("broadcast", "notify.sms", "queue", ""))
    for expected in ["exchange:events", "exchange:broadcast", "queue:notify.sms", "queue:analytics", e2e, fanout]:
        assert expected in lit, expected
    not_taken = binding_id(Binding("events", "orders.work", "queue", "order.created"))
    assert not_taken not in lit and "queue:orders.work" not in lit
    assert "events → analytics: binding key '#' matches 'alert.cpu.high'" in page.inner_text("#route-queues")
    assert page.errors == []


def test_typed_headers_and_clicked_bindings_explained_by_the_server(page, demo_server):
    open_route_panel(page, demo_server.url)
    wait_for_queues(page, 4)
    page.select_option("#route-exchange", "reports")
    page.fill("#route-key", "")
    page.click("#route-add-header")
    row = page.locator(".route-header").last
    row.locator(".route-header-name").fill("priority")
    row.locator(".route-header-type").select_option("integer")
    row.locator(".route-header-value").fill("1")
    page.click("#route-submit")
    page.wait_for_function(
        "() => document.querySelector('#route-queues').innerText.includes('reports.pdf')", timeout=30000
    )
    assert queues_listed(page) == ["reports.pdf"]
    assert "x-match=any: priority=1 matched" in page.inner_text("#route-queues")

    missed = binding_id(
        Binding("reports", "reports.eu", "queue", "", {"x-match": "all", "region": "eu", "format": "pdf"})
    )
    click_edge(page, missed)
    page.wait_for_selector("#route-explain-text", timeout=5000)
    explanation = page.inner_text("#route-explain-text")
    assert explanation.startswith("Did not match: x-match=all") and "region is missing" in explanation
    assert page.locator("#panel-route").is_visible()  # the open Route tab keeps the click

    unreached = next(b for b in demo_topology().bindings if b.source == "events")  # 'reports' never leads there
    click_edge(page, binding_id(unreached))
    page.wait_for_function(
        "() => document.querySelector('#route-explain-text').innerText.includes('never reached')", timeout=5000
    )
    assert page.inner_text("#route-explain-text") == "Not evaluated: the message never reached exchange 'events'"

    row.locator(".route-header-type").select_option("boolean")
    row.locator(".route-header-value").fill("true")
    page.click("#route-submit")
    # true is not 1 to the broker: nothing matches, and the alternate exchange catches it.
    page.wait_for_function(
        "() => document.querySelector('#route-queues').innerText.includes('unrouted.catch')", timeout=30000
    )
    assert queues_listed(page) == ["unrouted.catch"]
    click_edge(page, alternate_edge_id("reports"))
    page.wait_for_function(
        "() => document.querySelector('#route-explain-text').innerText.startsWith('Taken:')", timeout=5000
    )
    assert "nothing in 'reports' matched" in page.inner_text("#route-explain-text")
    assert page.errors == []


# ---- the answer belongs to the question on screen ---------------------------------------------------
# Over a topology that changes only when the test says (the demo's changes would ask again).

SHOP = VhostSnapshot(
    "/",
    (
        Exchange(""),
        Exchange("events", "direct", arguments={"alternate-exchange": "<b>ae</b>"}),
        Exchange("<b>ae</b>", "fanout"),
    ),
    (Queue("caught<script>"), Queue("orders", messages_ready=3)),
    (Binding("<b>ae</b>", "caught<script>", "queue", ""),),
)


@pytest.fixture
def shop():
    """The real app over a topology the test changes."""
    server, _ = run_live(Settings(), sources=[])
    source = StaticSource(server.service.hub, snapshot_of(SHOP))
    server.service.sources.append(source)
    source.start()
    yield server, source
    stop_live(server)


def ask(page, exchange: str, key: str) -> None:
    page.wait_for_function(
        "(name) => [...document.querySelectorAll('#route-exchange option')].some((o) => o.value === name)",
        arg=exchange,
        timeout=30000,
    )
    page.select_option("#route-exchange", exchange)
    page.fill("#route-key", key)
    page.click("#route-submit")


def wait_held(page, requests: Requests) -> None:
    """Until the page's question is held back (Playwright hands over requests during its own calls)."""
    wait_for(lambda: page.evaluate("() => true") and requests.held, timeout=30, message="the question held back")


def test_a_slow_answer_never_lands_under_a_newer_question(page, shop):
    server, _ = shop
    requests = Requests(page, hold_first=True)
    open_route_panel(page, server.url)
    ask(page, "events", "order.new")  # held: its answer would be caught<script>, through the alternate
    wait_held(page, requests)
    ask(page, "", "orders")
    wait_for_queues(page, 1)
    assert queues_listed(page) == ["orders"]
    requests.release(page)  # the older answer arrives last

    assert queues_listed(page) == ["orders"]
    assert not any("caught" in text for text in shown(page))  # not even for a moment
    assert "alternate:events" not in page.evaluate(HIGHLIGHTED)
    assert page.errors == []


def test_an_answer_on_its_way_when_the_form_changes_is_dropped(page, shop):
    server, _ = shop
    requests = Requests(page, hold_first=True)
    open_route_panel(page, server.url)
    ask(page, "events", "order.new")
    wait_held(page, requests)
    page.fill("#route-key", "order.old")  # edited, not asked yet
    requests.release(page)

    assert queues_listed(page) == []
    assert page.inner_text("#route-summary") == "Press Route to ask this question."
    assert not any("caught" in text for text in shown(page))
    assert page.evaluate(HIGHLIGHTED) == []
    assert page.errors == []


def test_an_invalid_header_shows_its_error_and_no_older_answer(page, shop):
    server, _ = shop
    requests = Requests(page, hold_first=True)
    open_route_panel(page, server.url)
    ask(page, "events", "order.new")
    wait_held(page, requests)
    page.click("#route-add-header")
    row = page.locator(".route-header").last
    row.locator(".route-header-name").fill("priority")
    row.locator(".route-header-type").select_option("integer")
    row.locator(".route-header-value").fill("high")
    page.click("#route-submit")
    page.wait_for_function(
        "() => document.querySelector('#route-summary').innerText.includes('header priority')", timeout=30000
    )
    requests.release(page)  # the earlier question's answer arrives after the error

    error = page.inner_text("#route-summary")
    assert "header priority: 'high' is not a number" in error
    assert queues_listed(page) == [] and page.evaluate(HIGHLIGHTED) == []
    assert not any("caught" in text for text in shown(page))
    assert len(requests.bodies) == 1  # the invalid question was never sent
    assert page.errors == []


def test_editing_the_form_clears_the_answer(page, demo_server):
    open_route_panel(page, demo_server.url)
    wait_for_queues(page, 4)
    assert page.evaluate(HIGHLIGHTED) != []
    page.locator("#route-key").fill("")
    page.locator("#route-key").type("order.created")
    assert queues_listed(page) == [] and page.evaluate(HIGHLIGHTED) == []
    assert page.inner_text("#route-summary") == "Press Route to ask this question."
    page.keyboard.press("Enter")
    expected = route(demo_topology(), "events", "order.created").queues
    wait_for_queues(page, len(expected))
    assert queues_listed(page) == expected
    assert page.errors == []


# ---- asking again when the topology changes -----------------------------------------------------------


def test_unroutable_caught_by_alternate_and_follows_topology_changes(page, shop):
    server, source = shop
    open_route_panel(page, server.url)
    ask(page, "events", "order.new")
    wait_for_queues(page, 1)
    assert queues_listed(page) == ["caught<script>"]
    assert "alternate exchange '<b>ae</b>' (by argument)" in page.inner_text("#route-exchanges")
    assert "alternate:events" in page.evaluate(HIGHLIGHTED)
    assert page.locator("#panel-route b, #panel-route script").count() == 0  # names stayed text

    source.post(
        snapshot_of(replace(SHOP, bindings=SHOP.bindings + (Binding("events", "orders", "queue", "order.new"),)))
    )
    page.wait_for_function("() => document.querySelector('#route-queues').innerText.includes('orders')", timeout=30000)
    assert queues_listed(page) == ["orders"]
    assert page.errors == []


def wait_until(page, predicate: str, arg=None) -> None:
    """Polled from here, as fast as the test can look: the page's own polling runs on its timers."""
    wait_for(lambda: page.evaluate(predicate, arg), timeout=30, interval=0.02, message=predicate)


class Reasks(Requests):
    """Holds every question asked after `hold()`: the page's re-asks, so that Clear can come first."""

    def __init__(self, page):
        super().__init__(page)
        self.holding = False

    def hold(self) -> None:
        self.holding = True

    def _handle(self, route) -> None:
        self.bodies.append(json.loads(route.request.post_data or "null"))
        if self.holding:
            self.held.append(route)
        else:
            route.continue_()


STRETCH_TIMERS = """
const realSetTimeout = window.setTimeout.bind(window);
window.setTimeout = (fn, ms = 0, ...args) => realSetTimeout(fn, ms * 20, ...args);
"""
GROWN = replace(
    SHOP,
    exchanges=SHOP.exchanges + (Exchange("audit", "fanout"),),
    bindings=SHOP.bindings + (Binding("audit", "orders", "queue", ""),),
)


def test_clear_clears_and_stays_clear(page, shop):
    """Clear while the topology changes: neither a re-ask on its way nor one still to come brings
    the answer back (the page's re-ask used to be a timer that Clear did not stop)."""
    server, source = shop
    # The page's timers run 20 times slower, so that Clear surely comes before anything it would
    # have put off (a re-ask delayed by a timer, as it once was); its network is untouched.
    page.add_init_script(STRETCH_TIMERS)
    requests = Reasks(page)
    open_route_panel(page, server.url)
    ask(page, "events", "order.new")
    wait_for_queues(page, 1)
    asked = len(requests.bodies)

    requests.hold()
    source.post(snapshot_of(GROWN))  # a routing change: the page asks its question again
    wait_until(page, "() => [...document.querySelectorAll('#route-exchange option')].some((o) => o.value === 'audit')")
    page.click("#route-clear")
    wait_for(lambda: page.evaluate("() => true") and requests.held, timeout=30, message="the page asking again")
    with page.expect_event("requestfinished"):
        requests.held.pop().continue_()
    requests.holding = False
    page.evaluate("() => fetch('/api/vhosts').then((r) => r.json())")  # the late answer has been read

    assert page.inner_text("#route-summary") == "" and queues_listed(page) == []
    assert page.evaluate(HIGHLIGHTED) == []
    assert [body["routing_key"] for body in requests.bodies[asked:]] == ["order.new"]  # asked once, then dropped
    ask(page, "audit", "sentinel")  # a question of the person's own, to see what was sent before it
    wait_for_queues(page, 1)
    assert [body["routing_key"] for body in requests.bodies[asked:]] == ["order.new", "sentinel"]
    assert page.errors == []


def test_a_depth_change_does_not_ask_again_but_a_new_binding_does(page, shop):
    server, source = shop
    requests = Requests(page)
    open_route_panel(page, server.url)
    ask(page, "events", "order.new")
    wait_for_queues(page, 1)
    asked = len(requests.bodies)

    version = page.inner_text("#status-version")
    deeper = replace(SHOP, queues=(Queue("caught<script>", messages_ready=9), Queue("orders", messages_ready=500)))
    source.post(snapshot_of(deeper))
    wait_until(page, "(v) => document.getElementById('status-version').innerText !== v", version)  # applied
    page.wait_for_timeout(1000)  # room for a page that would ask again after a delay (it once waited 300 ms)
    bound = replace(deeper, bindings=SHOP.bindings + (Binding("events", "orders", "queue", "order.new"),))
    source.post(snapshot_of(bound))
    page.wait_for_function("() => document.querySelector('#route-queues').innerText.includes('orders')", timeout=30000)
    assert [body["routing_key"] for body in requests.bodies[asked:]] == ["order.new"]  # asked once: for the binding
    assert page.errors == []
