"""The findings in the browser: the demo's stuck queue carries its badge, the findings list
focuses it on click, its details list the finding and show a depth chart, and hostile names stay text."""

from __future__ import annotations

import json

import pytest

from tests.conftest import snapshot_of, static_live, wait_for
from tests.e2e import conftest as e2e
from tests.e2e.conftest import details_shown
from visualiser.model.entities import Exchange, Queue, VhostSnapshot

pytestmark = pytest.mark.e2e

STUCK = "queue:invoices.retry"
HOSTILE = "<img src=x onerror=alert(1)>"


def open_page(page, url: str) -> None:
    e2e.open_page(page, url, "() => window.__app && window.__app.findings")


def badge_of(page, node: str) -> list[str]:
    return page.evaluate(
        "(id) => { const n = window.__app.graph.element(id); return n ? n.classes().filter((c) => c.startsWith('badge-')) : []; }",
        node,
    )


def test_demo_stuck_queue_has_a_badge_and_the_list_focuses_it(page, demo_server):
    open_page(page, demo_server.url)
    page.wait_for_function(
        "(id) => window.__app.graph.element(id)?.hasClass('badge-warning')", arg=STUCK, timeout=20000
    )
    page.click("#tab-findings")
    item = page.locator(f'li.finding[data-node="{STUCK}"][data-rule="no-consumers"]')
    item.wait_for(timeout=20000)
    assert "no consumer" in item.inner_text()
    severities = page.eval_on_selector_all("li.finding", "(items) => items.map((li) => li.dataset.severity)")
    rank = {s["id"]: s["rank"] for s in json.loads(page.locator("#vocabulary").text_content())["severities"]}
    ranks = [rank[s] for s in severities]
    assert ranks == sorted(ranks)  # worst first, in the server's order of severities

    item.locator("button.finding-node").click()
    # The focused node is centred in the viewport once the animation settles.
    centred = """(id) => { const cy = window.__app.graph.cy; const p = cy.getElementById(id).renderedPosition();
        return Math.abs(p.x - cy.width() / 2) < 40 && Math.abs(p.y - cy.height() / 2) < 40; }"""
    page.wait_for_function(centred, arg=STUCK, timeout=10000)

    page.click("#tab-details")  # and it is the one selected: Details is about it
    assert details_shown(page)["kind"] == "queue" and page.inner_text("#panel-details h2") == STUCK.removeprefix(
        "queue:"
    )
    page.wait_for_selector('.depth-chart[data-queue="invoices.retry"] svg .ready-line', timeout=15000)
    caption = page.locator(".depth-chart .chart-caption").inner_text()
    assert caption.startswith("now ") and "ready" in caption
    # Its details list the finding the badge stands for.
    assert page.locator("#panel-details .details-findings li[data-rule=no-consumers]").count() == 1
    assert page.errors == []


def test_findings_arrive_live_and_hostile_names_stay_text(page):
    quiet = VhostSnapshot("/", (Exchange(""), Exchange("ex")), (Queue(HOSTILE),))
    with static_live(snapshot_of(quiet)) as (server, source):
        open_page(page, server.url)
        page.wait_for_function("(id) => window.__app.graph.element(id)", arg=f"queue:{HOSTILE}", timeout=15000)
        stuck = VhostSnapshot("/", quiet.exchanges, (Queue(HOSTILE, messages_ready=9),))
        source.post(snapshot_of(stuck))
        page.wait_for_function(
            "(id) => window.__app.graph.element(id)?.hasClass('badge-warning')", arg=f"queue:{HOSTILE}", timeout=15000
        )
        page.click("#tab-findings")
        button = page.locator("li.finding[data-rule='no-consumers'] button.finding-node")
        assert button.inner_text() == HOSTILE
        assert page.locator("li.finding img").count() == 0
        source.post(snapshot_of(quiet))
        # The backlog is gone; only the structural note (reachable by the default exchange only) stays.
        wait_for(lambda: badge_of(page, f"queue:{HOSTILE}") == ["badge-info"], 15, message="the badge to drop to info")
        assert page.locator("li.finding[data-rule='no-consumers']").count() == 0
        assert page.errors == []
