"""A vhost of 10,000 nodes in headless Chromium, used as a person does: name groups drawn
one node each, a group opened by a click and folded again, a queue found by name inside a
folded group, a depth change and a finding reaching a folded group. The page answering
throughout is the responsiveness checked here; its timings are in benchmarks/."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

import pytest

from tests.conftest import StaticSource, run_live, snapshot_of, stop_live
from tests.e2e.conftest import click_on_graph, open_page, select_by_search
from tests.synthetic import company_vhost
from visualiser.config import Settings

pytestmark = pytest.mark.e2e

QUEUES = 9100  # with one exchange a service: 10,010 nodes
GROUP = "group:queue:svc-042"  # svc-0420.* to svc-0429.*: 910 services are too many groups to read
GROUPS_DRAWN = "() => window.__app && window.__app.graph.cy.nodes('[kind = \"group\"]').length > 0"


@pytest.fixture(scope="module")
def big() -> Iterator[tuple[object, StaticSource]]:
    server, _ = run_live(Settings(), sources=[])
    source = StaticSource(server.service.hub, name="big")
    vhost = company_vhost(QUEUES)
    source.hub.publish_broker("big", snapshot_of(vhost))
    source.hub.drain(120)
    source.snapshot = snapshot_of(vhost)
    yield server, source
    stop_live(server)


def node_data(page, node_id: str) -> dict | None:
    return page.evaluate("(id) => { const n = window.__app.graph.element(id); return n ? n.data() : null; }", node_id)


def test_groups_are_drawn_one_node_each_and_open_and_fold_on_click(page, big):
    server, _ = big
    open_page(page, server.url, GROUPS_DRAWN)
    held = page.evaluate("() => window.__app.graph.cy.nodes().length")
    assert held < 1200, f"Cytoscape holds {held} nodes for 10,010: the groups did not fold"
    assert page.evaluate("() => window.__app.graph.counts().queues") == QUEUES  # the status bar counts members

    group = node_data(page, GROUP)
    assert group["count"] == 100 and group["member_kind"] == "queue"
    label = page.evaluate("(id) => window.__app.graph.element(id).data('display')", GROUP)
    assert label.startswith("svc-042*") and "100 queues" in label

    click_on_graph(page, GROUP)
    page.wait_for_function("(id) => !window.__app.graph.element(id)", arg=GROUP, timeout=30000)
    assert node_data(page, "queue:svc-0420.audit")["name"] == "svc-0420.audit"
    collapse = page.locator("#btn-collapse")
    assert collapse.is_visible()

    collapse.click()
    page.wait_for_function("(id) => Boolean(window.__app.graph.element(id))", arg=GROUP, timeout=30000)
    assert node_data(page, "queue:svc-0420.audit") is None
    assert not collapse.is_visible()
    assert page.errors == []


def test_search_finds_a_queue_inside_a_folded_group(page, big):
    server, _ = big
    open_page(page, server.url, GROUPS_DRAWN)
    assert node_data(page, "queue:svc-0777.billing") is None  # folded
    shown = select_by_search(page, "svc-0777.billing", "queue")
    assert shown["title"] == "svc-0777.billing"
    assert node_data(page, "queue:svc-0777.billing") is not None
    assert node_data(page, "group:queue:svc-077") is None  # its group was opened to show it
    assert page.errors == []


def test_a_depth_change_and_a_finding_reach_a_folded_group(page, big):
    server, source = big
    open_page(page, server.url, GROUPS_DRAWN)
    before = node_data(page, "group:queue:svc-030")["messages_ready"]
    vhost = source.snapshot.vhosts["/"]
    queues = list(vhost.queues)
    index = next(i for i, q in enumerate(queues) if q.name == "svc-0300.retry")
    # A backlog with nobody consuming it: a depth change and a finding, in one poll.
    queues[index] = replace(queues[index], messages_ready=queues[index].messages_ready + 250_000, consumers=0)
    source.post(snapshot_of(replace(vhost, queues=tuple(queues))))
    page.wait_for_function(
        "([id, want]) => window.__app.graph.element(id)?.data('messages_ready') === want",
        arg=["group:queue:svc-030", before + 250_000],
        timeout=30000,
    )
    page.wait_for_function(
        "(id) => /badge-/.test(window.__app.graph.element(id)?.classes().join(' ') ?? '')",
        arg="group:queue:svc-030",
        timeout=30000,
    )
    tooltip = page.evaluate(
        "(id) => { const g = window.__app.graph; return g.findingsOf(g.element(id)).map((f) => f.node); }",
        "group:queue:svc-030",
    )
    assert "queue:svc-0300.retry" in tooltip
    assert page.errors == []
