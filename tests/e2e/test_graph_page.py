"""The page draws the live graph and keeps it live: demo, a real broker, and failures."""

from __future__ import annotations

import re
import time

import pytest

from tests.conftest import MANAGEMENT_URL, run_live, snapshot_of, static_live, stop_live
from tests.e2e.conftest import click_on_graph, expose_app, graph_ids, open_page, select_by_search, visible_ids
from visualiser.config import Settings
from visualiser.model.entities import Binding, Exchange, Queue, VhostSnapshot
from visualiser.sources.demo import demo_topology

pytestmark = pytest.mark.e2e

HOSTILE = "<img src=x onerror=alert(1)>"


def test_demo_draws_a_labelled_demo_graph(page, demo_server):
    open_page(page, demo_server.url)
    assert page.locator("#mode-badge").inner_text() == "DEMO"
    assert page.locator("#demo-ribbon").is_visible()
    ids = visible_ids(page)
    for expected in [
        "exchange:celery",
        "exchange:events",
        "exchange:broadcast",
        "exchange:reports",
        "queue:payments",
        "queue:invoices.retry",
        "queue:orders.dead",
        "exchange:",
    ]:
        assert expected in ids, expected
    # Celery plumbing is hidden until asked for, but present in the model.
    assert "queue:celeryev.6d2a41f0" in graph_ids(page)
    assert "queue:celeryev.6d2a41f0" not in ids
    page.click("#view-menu summary")  # the view toggles live in the toolbar's View menu
    page.check("#toggle-plumbing")
    assert "queue:celeryev.6d2a41f0" in visible_ids(page)
    label = page.evaluate("() => window.__app.graph.element('exchange:').pstyle('label').strValue")  # drawn
    assert label.startswith("(AMQP default)")
    assert page.errors == []


def test_demo_depths_update_in_place_and_positions_hold(page, demo_server):
    open_page(page, demo_server.url)
    read = "() => { const n = window.__app.graph.element('queue:invoices.retry'); return [n.data('messages_ready'), n.position()]; }"
    (depth, position) = page.evaluate(read)
    page.wait_for_function(
        "(d) => window.__app.graph.element('queue:invoices.retry').data('messages_ready') !== d",
        arg=depth,
        timeout=10000,
    )
    (_, later_position) = page.evaluate(read)
    assert later_position == position


def test_clicking_a_node_shows_every_field(page, demo_server):
    open_page(page, demo_server.url)
    click_on_graph(page, "queue:orders.work")
    details = page.locator("#panel-details")
    details.locator("h2", has_text="orders.work").wait_for(timeout=5000)
    assert details.locator("h2").inner_text() == "orders.work"
    text = details.inner_text()
    labels = demo_server.get("/api/vocabulary").json()["fields"]
    # Human labels, the raw argument key still there for whoever searches for it.
    assert "x-dead-letter-exchange" in text and labels["messages_ready"]["label"] in text
    assert "messages_ready" not in text


def test_default_exchange_bindings_fold_and_unfold(page, demo_server):
    open_page(page, demo_server.url)
    count = "() => window.__app.graph.cy.edges('.implicit').length"
    # At first only the queues Celery publishes to through the default exchange show theirs.
    routed = "() => window.__app.graph.cy.nodes('[?default_routed]').length"
    page.wait_for_function(f"() => ({routed})() > 0", timeout=15000)
    assert page.evaluate(count) == page.evaluate(routed)
    page.click("#view-menu summary")
    page.check("#toggle-default")
    queues = re.search(r"(\d+) queues", page.inner_text("#status-counts"))  # as the status bar counts them
    assert queues and page.evaluate(count) == int(queues.group(1))


def test_search_goes_through_every_node_whose_name_holds_the_text(page, demo_server):
    open_page(page, demo_server.url)
    demo = demo_topology()
    expected = sorted(node.name for node in (*demo.exchanges, *demo.queues) if "notify" in node.name)
    assert len(expected) > 1  # the demo has several, to go through
    page.click("#tab-details")
    page.fill("#search", "notify")
    assert page.locator("#search-count").inner_text() == f"{len(expected)} found"
    shown = []
    for _ in expected:
        page.press("#search", "Enter")  # the next match, selected and shown
        shown.append(page.locator("#panel-details h2").inner_text())
    assert sorted(shown) == expected


# ---- a real broker --------------------------------------------------------------------------


@pytest.fixture
def live_server(rabbit):
    server, _ = run_live(Settings(management_url=MANAGEMENT_URL, poll_interval=0.5))
    yield server
    stop_live(server)


@pytest.mark.integration
def test_live_broker_queue_appears_and_goes_without_reload(page, rabbit, live_server):
    rabbit.declare_exchange("orders", "topic")
    rabbit.declare_queue("orders.created")
    rabbit.bind("orders", "orders.created", "order.created")
    rabbit.declare_queue(HOSTILE)
    rabbit.bind("orders", HOSTILE, "#")
    live_server.wait_for_vhost(rabbit.vhost)
    open_page(page, f"{live_server.url}/?vhost={rabbit.vhost}")
    page.wait_for_function("() => window.__app.graph.element('queue:orders.created') !== null", timeout=15000)
    before = page.evaluate("() => window.__app.graph.element('queue:orders.created').position()")

    rabbit.declare_queue("late.arrival")
    page.wait_for_function("() => window.__app.graph.element('queue:late.arrival') !== null", timeout=15000)
    after = page.evaluate("() => window.__app.graph.element('queue:orders.created').position()")
    assert after == before, "an existing queue moved when a new one appeared"

    rabbit.delete_queue("late.arrival")
    page.wait_for_function("() => window.__app.graph.element('queue:late.arrival') === null", timeout=15000)


@pytest.mark.integration
def test_hostile_queue_name_is_text_and_runs_nothing(page, rabbit, live_server):
    rabbit.declare_queue(HOSTILE)
    live_server.wait_for_vhost(rabbit.vhost)
    page.add_init_script("window.__alerts = []; window.alert = (m) => window.__alerts.push(m);")
    open_page(page, f"{live_server.url}/?vhost={rabbit.vhost}")
    page.wait_for_function("(id) => window.__app.graph.element(id) !== null", arg=f"queue:{HOSTILE}", timeout=15000)
    page.fill("#search", "onerror")
    page.press("#search", "Enter")
    assert page.locator("#panel-details h2").inner_text() == HOSTILE
    assert page.locator("img[src=x]").count() == 0
    time.sleep(0.5)
    assert page.evaluate("() => window.__alerts") == []
    assert page.errors == []


def test_unreachable_broker_shows_a_banner(page):
    server, _ = run_live(Settings(management_url="http://u:secret-pw@127.0.0.1:9", poll_interval=0.5, backoff_cap=1))
    try:
        page.goto(server.url)
        expose_app(page)
        page.wait_for_selector("#banner:not([hidden])", timeout=15000)
        text = page.locator("#banner").inner_text()
        assert "unreachable" in text
        assert "secret-pw" not in page.content()
    finally:
        stop_live(server)


def test_large_graph_stays_interactive(page):
    """2,000 nodes, each drawn as itself (name groups off): pan, zoom and select still work."""
    queues = tuple(Queue(f"q.{i:04d}", messages_ready=i) for i in range(1600))
    exchanges = tuple(Exchange(f"x.{i:03d}", "topic") for i in range(400))
    bindings = tuple(Binding(f"x.{i % 400:03d}", f"q.{i:04d}", "queue", f"k.{i}.#") for i in range(1600))
    with static_live(snapshot_of(VhostSnapshot("/", exchanges, queues, bindings)), Settings(group_above=100_000)) as (
        server,
        _,
    ):
        open_page(page, server.url)
        page.wait_for_function(
            "(n) => window.__app.graph.cy.nodes().length >= n", arg=len(queues) + len(exchanges), timeout=30000
        )
        zoom = page.evaluate("() => window.__app.graph.cy.zoom()")
        page.mouse.move(700, 400)
        page.mouse.wheel(0, -400)
        page.mouse.down()
        page.mouse.move(500, 300)
        page.mouse.up()
        page.wait_for_function("(z) => window.__app.graph.cy.zoom() !== z", arg=zoom, timeout=10000)
        select_by_search(page, "q.1234", kind="queue")  # found among 2,000 and shown
        assert page.errors == []
