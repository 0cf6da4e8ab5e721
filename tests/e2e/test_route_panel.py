"""The routing panel on the demo: it opens with an example, highlights the right path,
answers new questions, explains clicked bindings and shows hostile names as text."""

from __future__ import annotations

import pytest

from tests.conftest import StaticSource, run_live, snapshot_of, stop_live
from tests.e2e.conftest import open_page
from visualiser.config import Settings
from visualiser.model.entities import Binding, Exchange, Queue, VhostSnapshot
from visualiser.model.topology import binding_id

pytestmark = pytest.mark.e2e

HIGHLIGHTED = "() => window.visualiser.graph.cy.elements('.highlight').map((e) => e.id()).sort()"


def open_route_panel(page, url: str) -> None:
    open_page(page, url, "() => window.visualiser && window.visualiser.route")
    page.click("#tab-route")


def queues_listed(page) -> list[str]:
    return page.eval_on_selector_all("#route-queues li", "(items) => items.map((li) => li.dataset.queue)")


def test_demo_opens_with_a_routed_example_on_the_graph(page, demo_server):
    open_route_panel(page, demo_server.url)
    page.wait_for_function("() => document.querySelectorAll('#route-queues li').length === 4", timeout=15000)
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


def test_asking_again_with_typed_headers_and_explaining_a_binding(page, demo_server):
    open_route_panel(page, demo_server.url)
    page.wait_for_function("() => document.querySelectorAll('#route-queues li').length === 4", timeout=15000)
    page.select_option("#route-exchange", "reports")
    page.fill("#route-key", "")
    page.click("#route-add-header")
    row = page.locator(".route-header").last
    row.locator(".route-header-name").fill("priority")
    row.locator(".route-header-type").select_option("integer")
    row.locator(".route-header-value").fill("1")
    page.click("#route-submit")
    page.wait_for_function("() => document.querySelector('#route-queues').innerText.includes('reports.pdf')",
                           timeout=10000)
    assert queues_listed(page) == ["reports.pdf"]
    assert "x-match=any: priority=1 matched" in page.inner_text("#route-queues")
    missed = binding_id(Binding("reports", "reports.eu", "queue", "", {"x-match": "all", "region": "eu", "format": "pdf"}))
    page.evaluate("(id) => window.visualiser.bus.emit('select', window.visualiser.graph.element(id))", missed)
    explanation = page.inner_text("#route-explain-text")
    assert explanation.startswith("Did not match: x-match=all") and "region is missing" in explanation
    unreached = binding_id(Binding("celery", "for_task_high", "queue", "for_task_high"))
    page.evaluate("(id) => window.visualiser.bus.emit('select', window.visualiser.graph.element(id))", unreached)
    assert "never reached exchange celery" in page.inner_text("#route-explain-text")

    row.locator(".route-header-type").select_option("boolean")
    row.locator(".route-header-value").fill("true")
    page.click("#route-submit")
    # true is not 1 to the broker: nothing matches, and the alternate exchange catches it.
    page.wait_for_function("() => document.querySelector('#route-queues').innerText.includes('unrouted.catch')",
                           timeout=10000)
    assert queues_listed(page) == ["unrouted.catch"]
    assert page.errors == []


def test_unroutable_caught_by_alternate_and_follows_topology_changes(page):
    ae = Exchange("events", "direct", arguments={"alternate-exchange": "<b>ae</b>"})
    catch = Exchange("<b>ae</b>", "fanout")
    first = VhostSnapshot("/", (ae, catch), (Queue("caught<script>"), Queue("orders")),
                          (Binding("<b>ae</b>", "caught<script>", "queue", ""),))
    holder: list = []
    server, _ = run_live(Settings(), sources=[])
    try:
        source = StaticSource(server.service.hub, snapshot_of(first))
        holder.append(source)
        source.start()
        open_route_panel(page, server.url)
        page.wait_for_function("() => [...document.querySelectorAll('#route-exchange option')].some((o) => o.value === 'events')",
                               timeout=15000)
        page.select_option("#route-exchange", "events")
        page.fill("#route-key", "order.new")
        page.click("#route-submit")
        page.wait_for_function("() => document.querySelectorAll('#route-queues li').length === 1", timeout=10000)
        assert queues_listed(page) == ["caught<script>"]
        assert "alternate exchange '<b>ae</b>' (by argument)" in page.inner_text("#route-exchanges")
        assert "alternate:events" in page.evaluate(HIGHLIGHTED)
        assert page.locator("#panel-route b, #panel-route script").count() == 0  # names stayed text

        bound = replace_bindings(first, Binding("events", "orders", "queue", "order.new"))
        source.post(snapshot_of(bound))
        page.wait_for_function("() => document.querySelector('#route-queues').innerText.includes('orders')",
                               timeout=10000)
        assert queues_listed(page) == ["orders"]
        assert page.errors == []
    finally:
        stop_live(server)


def replace_bindings(snapshot: VhostSnapshot, *extra: Binding) -> VhostSnapshot:
    from dataclasses import replace

    return replace(snapshot, bindings=snapshot.bindings + extra)
