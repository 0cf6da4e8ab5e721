"""The sidebar and the Tasks tab used as a person does, in headless Chromium: a failed task's
drill-down (timeline, exception, traceback), a worker clicked on the graph filtering the task
list, a task found by its id, the sidebar dragged wider, hidden and shown again (and remembered),
a Tasks table whose cells never wrap, and Details that read in human terms with a depth chart
that has axes."""

from __future__ import annotations

import re

import pytest
import requests
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

from tests.conftest import StaticSource, run_live, snapshot_of, stop_live
from tests.e2e.conftest import click_on_graph, open_page
from visualiser.config import Settings
from visualiser.model.entities import Binding, Exchange, Queue, VhostSnapshot

pytestmark = pytest.mark.e2e

APP_READY = "() => window.__app && window.__app.celery && window.__app.graph.cy.nodes().length > 0"
CLOCK_MS = re.compile(r"^\d\d:\d\d:\d\d\.\d{3}$")


def row_uuids(page) -> list[str]:
    return page.eval_on_selector_all("#celery-tasks tr[data-uuid]", "(rows) => rows.map((r) => r.dataset.uuid)")


# ---- the Tasks tab against the demo (simulated Celery workers: successes, failures, retries) -------------------


def test_a_failed_tasks_row_opens_its_timeline_exception_and_traceback(page, demo_server):
    open_page(page, demo_server.url, APP_READY)
    page.click("#tab-tasks")
    page.select_option("#celery-filter-state", "failed")
    failed = page.locator("#celery-tasks tr[data-state=failed]").first
    failed.wait_for(timeout=60000)
    uuid = failed.get_attribute("data-uuid")
    failed.click()

    page.wait_for_selector("#task-timeline", timeout=10000)
    steps = page.locator("#task-timeline .step-state").all_inner_texts()
    assert steps[-1] == "failed" and "started" in steps[:-1], steps
    times = page.locator("#task-timeline .step-time").all_inner_texts()
    assert all(CLOCK_MS.match(t) for t in times), times
    gaps = page.locator("#task-timeline .step-gap").all_inner_texts()[1:]
    assert all(g.startswith("+") for g in gaps), gaps
    task = requests.get(f"{demo_server.url}/api/tasks/{uuid}", timeout=10).json()
    assert page.inner_text("#task-exception") == task["exception"]
    assert page.inner_text("#task-traceback").startswith("Traceback (most recent call last)")
    assert page.inner_text("#panel-tasks h2") == task["name"]
    assert page.locator("#panel-tasks code.uuid").inner_text() == uuid

    page.keyboard.press("Escape")
    page.wait_for_selector("#task-detail", state="hidden", timeout=5000)
    assert page.locator(f"#celery-tasks tr[data-uuid='{uuid}']").is_visible()
    assert page.errors == []


# What the page is doing, for a failure to say what it saw.
PAGE_STATE = """() => ({
  tab: window.__app.tabs.current,
  selected: window.__app.graph.cy.$(':selected').map((e) => e.id()),
  filters: ['worker', 'queue'].map((k) => document.querySelector(`#celery-filter-${k}`).value),
  queues: [...document.querySelector('#celery-filter-queue').options].map((o) => o.value),
  url: location.search,
})"""


def test_a_worker_clicked_on_the_graph_lists_its_tasks_and_a_task_id_finds_its_task(page, demo_server):
    open_page(
        page, demo_server.url, APP_READY + " && window.__app.graph.cy.nodes('[kind = \"worker\"][?online]').length > 1"
    )
    page.click("#tab-tasks")
    page.locator("#celery-tasks tr[data-uuid]").first.wait_for(timeout=30000)
    workers = page.evaluate(
        "() => window.__app.graph.cy.nodes('[kind = \"worker\"][?online]').map((n) => [n.id(), n.data('name')])"
    )
    worker_id, hostname = workers[0]

    click_on_graph(page, worker_id)
    page.wait_for_function(
        "(name) => document.querySelector('#celery-filter-worker').value === name", arg=hostname, timeout=10000
    )
    assert page.locator("#tab-tasks").get_attribute("aria-selected") == "true"  # the click kept the Tasks tab
    page.wait_for_function(
        """(name) => { const rows = [...document.querySelectorAll('#celery-tasks tr[data-uuid]')];
             return rows.length > 0 && rows.every((r) => r.querySelector('.col-worker').textContent === name); }""",
        arg=hostname,
        timeout=15000,
    )

    # A queue → worker edge: the tasks that queue handed that worker.
    edge = page.evaluate(
        "(id) => window.__app.graph.cy.getElementById(id).incomers('edge[?worker]').map((e) => [e.id(), e.source().data('name')])[0]",
        worker_id,
    )
    click_on_graph(page, edge[0])
    try:
        page.wait_for_function(
            "(q) => document.querySelector('#celery-filter-queue').value === q", arg=edge[1], timeout=10000
        )
    except PlaywrightTimeoutError as timeout:
        raise AssertionError(
            f"a click on {edge[0]!r} did not filter the tasks by its queue: {page.evaluate(PAGE_STATE)}"
        ) from timeout
    assert page.locator("#celery-filter-worker").input_value() == hostname

    page.click("#celery-clear-filters")
    page.wait_for_function("() => document.querySelectorAll('#celery-tasks tr[data-uuid]').length > 1", timeout=15000)
    wanted = row_uuids(page)[-1]
    page.fill("#celery-search", wanted[:8])
    page.wait_for_function(
        """(prefix) => { const rows = [...document.querySelectorAll('#celery-tasks tr[data-uuid]')];
             return rows.length >= 1 && rows.every((r) => r.dataset.uuid.startsWith(prefix)); }""",
        arg=wanted[:8],
        timeout=15000,
    )
    assert wanted in row_uuids(page)
    page.fill("#celery-search", wanted)
    page.keyboard.press("Enter")
    page.wait_for_function(
        "(u) => { const r = document.querySelectorAll('#celery-tasks tr[data-uuid]'); return r.length === 1 && r[0].dataset.uuid === u; }",
        arg=wanted,
        timeout=15000,
    )
    assert page.errors == []


CELLS_ON_ONE_LINE = """() => [...document.querySelectorAll('#celery-tasks-table th, #celery-tasks-table td')]
  .filter((cell) => cell.offsetParent !== null)
  .map((cell) => {
    // The lines the cell's text takes: the distinct tops of its text's boxes.
    const tops = new Set();
    const walker = document.createTreeWalker(cell, NodeFilter.SHOW_TEXT);
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
      const range = document.createRange(); range.selectNodeContents(node);
      [...range.getClientRects()].filter((r) => r.width > 0).forEach((r) => tops.add(Math.round(r.top)));
    }
    return {text: cell.textContent, cls: cell.className, tag: cell.tagName, lines: tops.size, whole: cell.scrollWidth <= cell.clientWidth,
            height: cell.getBoundingClientRect().height};
  })"""


@pytest.mark.parametrize("wide", [False, True], ids=["beside the graph", "wide"])
def test_the_tasks_table_never_wraps_a_cell_at_1280x720(browser, demo_server, wide):
    context = browser.new_context(viewport={"width": 1280, "height": 720})
    page = context.new_page()
    try:
        open_page(page, demo_server.url, APP_READY)
        page.click("#tab-tasks")
        if wide:
            page.click("#sidebar-wide")
        page.locator("#celery-tasks tr[data-state=succeeded]").first.wait_for(timeout=30000)
        page.locator("#celery-tasks tr[data-state=failed]").first.wait_for(timeout=60000)
        cells = page.evaluate(CELLS_ON_ONE_LINE)
        assert len(cells) > 20
        wrapped = [c for c in cells if c["lines"] > 1]
        assert wrapped == [], wrapped[:5]
        # Headers and states read whole ("succeeded", "Worker"), never cut.
        cut = [
            c["text"] for c in cells if ("col-state" in c["cls"] or c["cls"].startswith("col-when")) and not c["whole"]
        ]
        assert cut == [], cut
        heights = {round(c["height"]) for c in cells if c["cls"] == "col-task" and c["tag"] == "TD"}
        assert max(heights) - min(heights) <= 1, heights  # a failed task's row is as tall as any other
        if wide:
            shown = page.eval_on_selector_all(
                "#celery-tasks-table thead th", "(ths) => ths.filter((t) => t.offsetParent).map((t) => t.textContent)"
            )
            assert shown[:6] == ["Time", "Task", "State", "Worker", "Queue", "Runtime"], shown
            assert page.eval_on_selector("#sidebar", "(s) => s.getBoundingClientRect().width") > 1280 * 0.6
    finally:
        context.close()


# ---- the sidebar -------------------------------------------------------------------------------------------------


def widths(page) -> dict:
    return page.evaluate("""() => ({sidebar: document.querySelector('#sidebar').getBoundingClientRect().width,
                                    graph: window.__app.graph.cy.width(),
                                    panels: document.querySelector('#tab-panels').offsetParent !== null})""")


def test_the_sidebar_is_dragged_wider_hidden_and_shown_and_remembered(page, demo_server):
    open_page(page, demo_server.url)
    before = widths(page)
    handle = page.locator("#sidebar-handle").bounding_box()
    x, y = handle["x"] + handle["width"] / 2, handle["y"] + handle["height"] / 2
    page.mouse.move(x, y)
    page.mouse.down()
    page.mouse.move(x - 100, y, steps=5)
    page.mouse.move(x - 200, y, steps=5)
    page.mouse.up()
    page.wait_for_function(
        "(w) => Math.abs(window.__app.graph.cy.width() - w) <= 4", arg=before["graph"] - 200, timeout=5000
    )  # the graph gives up what the sidebar takes
    dragged = widths(page)
    assert abs(dragged["sidebar"] - (before["sidebar"] + 200)) <= 2, (before, dragged)

    page.reload()
    open_page(page, demo_server.url)
    assert abs(widths(page)["sidebar"] - dragged["sidebar"]) <= 2

    page.click("#sidebar-toggle")
    page.wait_for_function("() => document.querySelector('#sidebar').getBoundingClientRect().width < 40", timeout=5000)
    hidden = widths(page)
    assert not hidden["panels"]
    page.wait_for_function("(w) => window.__app.graph.cy.width() > w + 300", arg=dragged["graph"], timeout=5000)
    page.reload()
    open_page(page, demo_server.url)
    assert widths(page)["sidebar"] < 40 and page.get_attribute("#sidebar-toggle", "aria-expanded") == "false"

    page.click("#sidebar-toggle")
    page.wait_for_function(
        "(w) => Math.abs(document.querySelector('#sidebar').getBoundingClientRect().width - w) <= 2",
        arg=dragged["sidebar"],
        timeout=5000,
    )
    assert widths(page)["panels"]
    assert page.errors == []


# ---- Details in human terms ------------------------------------------------------------------------------------

BACKLOG = Queue(
    "orders",
    messages_ready=12345,
    messages_unacknowledged=7,
    consumers=0,
    rates={"publish": 12.5, "deliver_get": 0.0000010141482616665745},
    arguments={"x-message-ttl": 60000, "x-dead-letter-exchange": "dlx"},
)
UNKNOWN = Queue("mystery", messages_ready=None, messages_unacknowledged=None, consumers=None)


@pytest.fixture
def details_server():
    server, _ = run_live(Settings(), sources=[])
    snapshot = VhostSnapshot(
        "/",
        (Exchange(""), Exchange("shop", "topic"), Exchange("dlx", "fanout")),
        (BACKLOG, UNKNOWN),
        (Binding("shop", "orders", "queue", "order.*"),),
    )
    source = StaticSource(server.service.hub)
    server.service.sources.append(source)
    source.post(snapshot_of(snapshot))
    source.post(snapshot_of(snapshot))  # a second poll: two points of depth history
    yield server
    stop_live(server)


def field(page, name: str) -> tuple[str, str]:
    row = page.locator(
        f"#panel-details table.fields > tbody > tr[data-field='{name}'], #panel-details table.fields > tr[data-field='{name}']"
    ).first
    return row.locator("th").first.inner_text(), row.locator("td").first.inner_text()


def test_details_read_in_human_terms_with_findings_and_a_depth_chart(page, details_server):
    words = details_server.get("/api/vocabulary").json()
    open_page(page, details_server.url)
    click_on_graph(page, "queue:orders")
    page.wait_for_selector("#panel-details h2", timeout=5000)
    assert page.inner_text("#panel-details h2") == "orders"

    assert field(page, "messages_ready") == (words["fields"]["messages_ready"]["label"], "12,345")
    assert field(page, "consumers")[1] == "0"
    rates = dict(
        zip(
            page.locator("#panel-details tr[data-field=rates] table th").all_inner_texts(),
            page.locator("#panel-details tr[data-field=rates] table td").all_inner_texts(),
            strict=True,
        )
    )
    assert rates == {words["rate_labels"]["publish"]: "12.5 msg/s", words["rate_labels"]["deliver_get"]: "< 0.01 msg/s"}
    arguments = page.inner_text("#panel-details tr[data-field=arguments] td")
    assert "1 min" in arguments and "dlx" in arguments and "60000" not in arguments
    labels = page.locator("#panel-details table.fields th").all_inner_texts()
    assert not [label for label in labels if "_" in label], labels  # no raw field names

    finding = page.locator("#panel-details .details-findings li[data-rule=no-consumers]")
    finding.wait_for(timeout=15000)
    assert words["rules"]["no-consumers"] in finding.inner_text()
    assert finding.locator(".pill").inner_text() in {s["label"] for s in words["severities"]}

    chart = page.locator("#panel-details .depth-chart svg")
    chart.wait_for(timeout=15000)
    assert chart.locator(".axis-title").text_content() == "messages"
    y_ticks = chart.locator(".y-tick").all_text_contents()
    assert any("," in t for t in y_ticks) and y_ticks[0] == "0", y_ticks
    x_ticks = chart.locator(".x-tick").all_text_contents()
    assert x_ticks and all(re.match(r"^\d\d:\d\d(:\d\d)?$", t) for t in x_ticks), x_ticks
    tick_height = chart.locator(".y-tick").last.bounding_box()["height"]
    assert tick_height >= 10  # drawn at its real size, not scaled down
    assert page.locator("#panel-details .chart-caption").inner_text().startswith("now 12,345 ready")

    click_on_graph(page, "queue:mystery")
    page.wait_for_function("() => document.querySelector('#panel-details h2').textContent === 'mystery'", timeout=5000)
    assert field(page, "messages_ready")[1] == words["missing_values"]["default"]
    assert page.errors == []
