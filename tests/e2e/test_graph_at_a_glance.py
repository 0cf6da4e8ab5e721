"""The graph read at a glance, measured in the browser as a person sees it: the size of every
label drawn at the default fit, labels that never cover one another, a toolbar on one row,
a legend that stays out of the way, a badge and a tooltip on a node with a finding, Celery
workers drawn as workers, traffic moving along edges, and the view following the first
workers. Sizes and positions are read from the page (rendered font size = font size x zoom,
label boxes converted to screen coordinates); the page is driven by clicks, keys and the mouse."""

from __future__ import annotations

import base64
import json
import time

import pytest

from tests.celery_support import ingest
from tests.conftest import snapshot_of, static_live, wait_for
from tests.e2e.conftest import open_page
from visualiser.config import Settings
from visualiser.model.entities import Binding, Connection, Consumer, Exchange, Queue, VhostSnapshot

pytestmark = pytest.mark.e2e

SIZES = [(1280, 720), (1600, 950)]

# Every label Cytoscape draws, with its on-screen font size and box (screen pixels, relative to
# the graph's canvas), and the screen box of every drawn node.
MEASURE = """() => {
  const cy = window.__app.graph.cy;
  const zoom = cy.zoom(); const pan = cy.pan();
  const screen = (b) => ({ x1: b.x1 * zoom + pan.x, y1: b.y1 * zoom + pan.y, x2: b.x2 * zoom + pan.x, y2: b.y2 * zoom + pan.y });
  const kinds = new Set(['exchange', 'queue', 'consumer', 'connection', 'worker']);
  const drawn = (ele) => ele.visible() && ele.effectiveOpacity() > 0;
  const only = { includeNodes: false, includeEdges: false, includeLabels: true, includeOverlays: false, includeUnderlays: false,
                 includeMainLabels: false, includeSourceLabels: false, includeTargetLabels: false };
  const labels = []; const nodes = [];
  cy.nodes().forEach((n) => {
    if (!kinds.has(n.data('kind')) || !drawn(n)) return;
    nodes.push({ id: n.id(), kind: n.data('kind'), box: screen(n.boundingBox({ includeLabels: false, includeOverlays: false })) });
    const text = n.pstyle('label').strValue;
    if (!text || Number(n.pstyle('text-opacity').value) === 0) return;
    labels.push({ id: n.id(), kind: n.data('kind'), text, px: n.pstyle('font-size').pfValue * zoom,
                  box: screen(n.boundingBox({ ...only, includeMainLabels: true })) });
  });
  cy.edges().forEach((e) => {
    if (!drawn(e) || Number(e.pstyle('text-opacity').value) === 0) return;
    for (const [prop, part] of [['label', 'includeMainLabels'], ['source-label', 'includeSourceLabels'], ['target-label', 'includeTargetLabels']]) {
      const text = e.pstyle(prop).strValue;
      if (text) labels.push({ id: e.id(), kind: 'edge', text, px: e.pstyle('font-size').pfValue * zoom, box: screen(e.boundingBox({ ...only, [part]: true })) });
    }
  });
  return { zoom, width: cy.width(), height: cy.height(), labels, nodes };
}"""


def measure(page) -> dict:
    return page.evaluate(MEASURE)


def overlapping(labels: list[dict]) -> list[tuple[str, str]]:
    """Pairs of label boxes that overlap by more than a pixel."""
    found = []
    for i, a in enumerate(labels):
        for b in labels[i + 1 :]:
            p, q = a["box"], b["box"]
            if p["x1"] < q["x2"] - 1 and q["x1"] < p["x2"] - 1 and p["y1"] < q["y2"] - 1 and q["y1"] < p["y2"] - 1:
                found.append((f"{a['id']}: {a['text']!r}", f"{b['id']}: {b['text']!r}"))
    return found


def settle(page) -> None:
    """Wait until the view stops moving (the first fit, and a fit again as workers arrive)."""
    last = None
    steady = 0
    for _ in range(100):
        now = page.evaluate("() => { const cy = window.__app.graph.cy; return [cy.zoom(), cy.pan().x, cy.pan().y]; }")
        steady = steady + 1 if now == last else 0
        if steady >= 4:
            return
        last = now
        time.sleep(0.25)


def new_page(browser, width: int, height: int):
    context = browser.new_context(viewport={"width": width, "height": height})
    page = context.new_page()
    page.errors = []  # type: ignore[attr-defined]
    page.on("pageerror", lambda exc: page.errors.append(str(exc)))  # type: ignore[attr-defined]
    return context, page


def node_screen_box(page, node_id: str) -> dict:
    """Where a node's shape is drawn, in page coordinates (to point the mouse at it)."""
    return page.evaluate(
        """(id) => {
      const g = window.__app.graph; const n = g.element(id); const r = g.container.getBoundingClientRect();
      const p = n.renderedPosition(); const w = n.renderedWidth() / 2; const h = n.renderedHeight() / 2;
      return { x1: r.left + p.x - w, y1: r.top + p.y - h, x2: r.left + p.x + w, y2: r.top + p.y + h };
    }""",
        node_id,
    )


def screen_pixels(page, clip: dict) -> list[list[int]]:
    """The colours on screen in a rectangle: a screenshot, decoded by the browser."""
    png = base64.b64encode(page.screenshot(clip=clip)).decode()
    return page.evaluate(
        """async (src) => {
      const img = new Image(); img.src = src; await img.decode();
      const canvas = document.createElement('canvas'); canvas.width = img.width; canvas.height = img.height;
      const ctx = canvas.getContext('2d'); ctx.drawImage(img, 0, 0);
      const data = ctx.getImageData(0, 0, canvas.width, canvas.height).data; const out = [];
      for (let i = 0; i < data.length; i += 4) out.push([data[i], data[i + 1], data[i + 2]]);
      return out;
    }""",
        f"data:image/png;base64,{png}",
    )


# ---- the demo at the sizes people use ---------------------------------------------------------------


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_demo_labels_are_at_least_11px_and_never_overlap_at_the_default_fit(browser, demo_server, size):
    context, page = new_page(browser, *size)
    try:
        open_page(
            page, demo_server.url, "() => window.__app && window.__app.graph.cy.nodes('[kind = \"worker\"]').length > 0"
        )
        settle(page)
        m = measure(page)
        named = [n for n in m["nodes"] if n["kind"] in ("exchange", "queue", "worker")]
        labelled = {label["id"] for label in m["labels"]}
        assert len(named) >= 40, "the demo is the reference: a broker of some size"
        assert [n["id"] for n in named if n["id"] not in labelled] == [], "every exchange, queue and worker is named"
        small = [(label["id"], round(label["px"], 1)) for label in m["labels"] if label["px"] < 11]
        assert small == [], f"labels drawn under 11 px at zoom {m['zoom']:.2f}"
        assert overlapping(m["labels"]) == []
        # Every node on the canvas, none under the side panel or off the edge; the graph fills it.
        boxes = [n["box"] for n in m["nodes"]]
        left, top = min(b["x1"] for b in boxes), min(b["y1"] for b in boxes)
        right, bottom = max(b["x2"] for b in boxes), max(b["y2"] for b in boxes)
        assert left >= 0 and top >= 0 and right <= m["width"] and bottom <= m["height"]
        used = ((right - left) / m["width"], (bottom - top) / m["height"])
        assert max(used) > 0.9 and min(used) > 0.55, f"the graph uses {used[0]:.0%} x {used[1]:.0%} of the canvas"
        assert page.errors == []
    finally:
        context.close()


def test_zooming_in_shows_more_and_never_draws_text_under_11px(browser, demo_server):
    context, page = new_page(browser, 1280, 720)
    try:
        open_page(page, demo_server.url)
        settle(page)
        first = measure(page)
        assert not [label for label in first["labels"] if label["kind"] == "edge"], "no routing keys too small to read"
        for _ in range(8):
            page.click("#btn-zoom-in")
            m = measure(page)
            assert [label["id"] for label in m["labels"] if label["px"] < 11] == []
            if any("ready" in label["text"] for label in m["labels"]) and any(
                label["kind"] == "edge" for label in m["labels"]
            ):
                break
        else:
            pytest.fail("zooming in never showed the queues' figures and the routing keys")
        assert overlapping(m["labels"]) == []
    finally:
        context.close()


def test_the_toolbar_fits_one_row_at_1280(browser, demo_server):
    context, page = new_page(browser, 1280, 720)
    try:
        open_page(page, demo_server.url)
        rows = page.evaluate("""() => {
          const bar = document.querySelector('.topbar');
          const items = [...bar.children].filter((c) => c.getClientRects().length);
          return { tops: items.map((c) => Math.round(c.getBoundingClientRect().top + c.getBoundingClientRect().height / 2)),
                   overflow: bar.scrollWidth - bar.clientWidth, height: bar.getBoundingClientRect().height };
        }""")
        assert max(rows["tops"]) - min(rows["tops"]) <= 4, rows
        assert rows["overflow"] <= 0 and rows["height"] < 56, rows
        for control in (
            "#vhost-select",
            "#search",
            "#view-menu summary",
            "#legend-menu summary",
            "#btn-fit",
            "#btn-relayout",
        ):
            assert page.locator(control).is_visible(), control
    finally:
        context.close()


def test_view_menu_and_legend_open_on_demand_and_cover_nothing_until_then(browser, demo_server):
    context, page = new_page(browser, 1280, 720)
    try:
        open_page(page, demo_server.url)
        assert not page.locator("#legend").is_visible()
        assert not page.locator("#toggle-plumbing").is_visible()
        page.click("#legend-menu summary")
        legend = page.locator("#legend")
        assert legend.is_visible()
        text = legend.inner_text()
        words = json.loads(page.locator("#vocabulary").text_content())
        for kind in ("direct", "fanout", "topic", "headers"):
            assert words["exchange_types"][kind]["label"] in text
        for kind in ("dead-letter", "alternate", "consumes"):
            assert words["edge_kinds"][kind]["legend"] in text
        for severity in words["severities"]:
            assert severity["label"] in text
        for mark in ("↓", "↑", "red dashed border", "width", "moving dots", "offline"):
            assert mark in text, mark
        page.keyboard.press("Escape")
        assert not legend.is_visible()
        # One menu at a time; a click elsewhere closes it.
        page.click("#view-menu summary")
        assert page.locator("#toggle-plumbing").is_visible()
        page.click("#legend-menu summary")
        assert legend.is_visible() and not page.locator("#toggle-plumbing").is_visible()
        page.mouse.click(40, 400)  # on the graph, beside the open legend
        assert not legend.is_visible()
    finally:
        context.close()


def marker_pixels(page) -> list[int]:
    """Indexes of the drawn pixels of the moving-marker layer (what it shows, read back)."""
    return page.evaluate("""() => {
      const canvas = document.querySelector('#flow-layer');
      const data = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
      const drawn = [];
      for (let i = 3; i < data.length; i += 4 * 7) if (data[i] > 200) drawn.push(i);
      return drawn;
    }""")


def test_demo_shows_celery_workers_as_workers_and_messages_moving(browser, demo_server):
    context, page = new_page(browser, 1600, 950)
    try:
        open_page(
            page, demo_server.url, "() => window.__app && window.__app.graph.cy.nodes('[kind = \"worker\"]').length > 0"
        )
        settle(page)
        m = measure(page)
        workers = [label for label in m["labels"] if label["kind"] == "worker"]
        assert len(workers) >= 3, "the demo's workers, each named on the canvas"
        shown = [label["text"] for label in m["labels"]]
        # A worker's connection and its consumer boxes are folded into its node.
        assert not [text for text in shown if text.startswith("None") or text.startswith("py-amqp")], shown
        ids = page.evaluate(
            "() => window.__app.graph.cy.edges('[?worker]').map((e) => [e.source().id(), e.target().id()])"
        )
        assert ids and all(source.startswith("queue:") and target.startswith("worker:") for source, target in ids)
        # Markers move: the marker layer draws something, and not the same thing a moment later.
        first = wait_for(lambda: marker_pixels(page) or None, 10, message="markers drawn")
        later = wait_for(
            lambda: (lambda now: now if now and now != first else None)(marker_pixels(page)),
            10,
            message="markers moved",
        )
        assert later != first
        assert page.errors == []
    finally:
        context.close()


# ---- findings: a badge on the canvas and a tooltip --------------------------------------------------------


@pytest.fixture
def stuck_server():
    """A broker with one queue filling up and nobody consuming it."""
    with static_live(
        snapshot_of(
            VhostSnapshot(
                "/",
                (Exchange(""), Exchange("shop", "direct")),
                (Queue("orders", messages_ready=500, consumers=0), Queue("mail", consumers=1)),
                (Binding("shop", "orders", "queue", "order"), Binding("shop", "mail", "queue", "mail")),
            )
        )
    ) as (server, _):
        yield server


def badge_colours(page, box: dict) -> list[list[int]]:
    """Colours drawn around a node's top-right corner, where its badge goes."""
    return screen_pixels(page, {"x": box["x2"] - 16, "y": box["y1"] - 16, "width": 32, "height": 32})


def near(colour: list[int], hex_colour: str, tolerance: int = 40) -> bool:
    target = tuple(int(hex_colour[i : i + 2], 16) for i in (1, 3, 5))
    return all(abs(a - b) <= tolerance for a, b in zip(colour, target, strict=True))


def test_a_node_with_a_finding_shows_a_badge_and_its_tooltip_says_why(page, stuck_server):
    open_page(page, stuck_server.url)
    page.click("#tab-findings")
    page.locator("li.finding[data-node='queue:orders']").first.wait_for(timeout=20000)
    findings = stuck_server.get("/api/diagnostics?vhost=/").json()["findings"]
    mine = [f for f in findings if f["node"] == "queue:orders"]
    words = json.loads(page.locator("#vocabulary").text_content())
    worst = min(mine, key=lambda f: [s["id"] for s in words["severities"]].index(f["severity"]))
    colour = {"critical": "#ef4444", "warning": "#f59e0b", "info": "#3b82f6"}[worst["severity"]]
    settle(page)
    box = node_screen_box(page, "queue:orders")
    wait_for(lambda: any(near(c, colour) for c in badge_colours(page, box)), 10, message="the badge drawn")
    assert not any(near(c, colour) for c in badge_colours(page, node_screen_box(page, "queue:mail"))), (
        "no badge without a finding"
    )

    page.mouse.move((box["x1"] + box["x2"]) / 2, (box["y1"] + box["y2"]) / 2)
    tooltip = page.locator("#graph-tooltip")
    tooltip.wait_for(state="visible", timeout=5000)
    text = tooltip.inner_text()
    for finding in mine:
        assert words["rules"][finding["rule"]] in text
        assert finding["message"] in text
    assert tooltip.locator("img, b, script").count() == 0
    page.mouse.move(5, 5)
    tooltip.wait_for(state="hidden", timeout=5000)
    assert page.errors == []


# ---- Celery workers: folded, offline with a finding, and the view following them ------------------------

WORKER = "billing@host-7"
CONN = "10.1.0.7:41000 -> 10.1.0.2:5672"


def celery_broker(with_worker: bool, consumers_on_queue: int = 1) -> VhostSnapshot:
    """A task queue; with the worker running, its connection consuming that queue and its pidbox."""
    pidbox = f"{WORKER}.celery.pidbox"
    consumers = (
        (
            Consumer("billing", "None1", f"{CONN} (1)", CONN, prefetch_count=4),
            Consumer(pidbox, "None1", f"{CONN} (2)", CONN),
        )
        if with_worker
        else ()
    )
    return VhostSnapshot(
        "/",
        exchanges=(Exchange(""), Exchange("celery", "direct"), Exchange("celery.pidbox", "fanout")),
        queues=tuple(
            [Queue("billing", messages_ready=0, consumers=consumers_on_queue if with_worker else 0)]
            + [Queue(f"q{i}", messages_ready=i) for i in range(12)]
            + ([Queue(pidbox, consumers=1)] if with_worker else [])
        ),
        bindings=tuple(
            [Binding("celery", "billing", "queue", "billing")]
            + [Binding("celery", f"q{i}", "queue", f"k{i}") for i in range(12)]
            + ([Binding("celery.pidbox", pidbox, "queue")] if with_worker else [])
        ),
        consumers=consumers,
        connections=(Connection(CONN, "guest", "10.1.0.7:41000", {"product": "py-amqp"}),) if with_worker else (),
    )


@pytest.fixture
def celery_server():
    with static_live(snapshot_of(celery_broker(with_worker=False))) as (server, source):
        server.source = source  # type: ignore[attr-defined]
        yield server


def test_the_view_follows_the_first_worker_and_nothing_else_moves(page, celery_server):
    page.set_viewport_size({"width": 1280, "height": 720})
    open_page(page, celery_server.url)
    settle(page)
    before = page.evaluate("() => window.__app.graph.cy.nodes().map((n) => [n.id(), n.position()])")
    celery_server.source.post(snapshot_of(celery_broker(with_worker=True)))
    ingest(celery_server.service, [{"type": "worker-online", "hostname": WORKER, "freq": 2.0, "received": time.time()}])
    page.wait_for_function("(id) => window.__app.graph.element(id)", arg=f"worker:{WORKER}", timeout=15000)
    settle(page)
    m = measure(page)
    [worker] = [n for n in m["nodes"] if n["id"] == f"worker:{WORKER}"]
    box = worker["box"]
    assert box["x1"] >= 0 and box["y1"] >= 0 and box["x2"] <= m["width"] and box["y2"] <= m["height"], box
    after = dict(page.evaluate("() => window.__app.graph.cy.nodes().map((n) => [n.id(), n.position()])"))
    assert all(after[node] == position for node, position in before if node in after), "a node moved"
    # Folded: the worker's consumer boxes and its connection are not on the canvas.
    assert not [label for label in m["labels"] if label["kind"] in ("consumer", "connection")]
    assert page.errors == []


def test_an_offline_worker_with_a_critical_finding_shows_both(page, celery_server):
    now = time.time()
    celery_server.source.post(snapshot_of(celery_broker(with_worker=True)))
    ingest(celery_server.service, [{"type": "worker-online", "hostname": WORKER, "freq": 2.0, "received": now}])
    open_page(page, celery_server.url)
    page.wait_for_function("(id) => window.__app.graph.element(id)", arg=f"worker:{WORKER}", timeout=15000)
    # The worker stops, its connection goes, and nobody consumes its queue any more.
    ingest(celery_server.service, [{"type": "worker-offline", "hostname": WORKER, "received": time.time()}])
    celery_server.source.post(snapshot_of(celery_broker(with_worker=False)))
    page.click("#tab-findings")
    page.locator(f"li.finding[data-node='worker:{WORKER}'][data-rule='worker-offline']").wait_for(timeout=20000)
    settle(page)
    m = measure(page)
    [label] = [label for label in m["labels"] if label["id"] == f"worker:{WORKER}"]
    assert "offline" in label["text"]
    border = page.evaluate("(id) => window.__app.graph.element(id).pstyle('border-style').strValue", f"worker:{WORKER}")
    assert border == "dashed", "drawn as offline"
    box = node_screen_box(page, f"worker:{WORKER}")
    wait_for(lambda: any(near(c, "#ef4444") for c in badge_colours(page, box)), 10, message="a critical badge")
    page.mouse.move((box["x1"] + box["x2"]) / 2, (box["y1"] + box["y2"]) / 2)
    tooltip = page.locator("#graph-tooltip")
    tooltip.wait_for(state="visible", timeout=5000)
    words = json.loads(page.locator("#vocabulary").text_content())
    assert words["rules"]["worker-offline"] in tooltip.inner_text() and "offline" in tooltip.inner_text()
    assert page.errors == []


# ---- a patch costs what it carries ----------------------------------------------------------------------

SPY = """() => {
  const app = window.__app; const cy = app.graph.cy; const graph = app.graph;
  window.__walks = 0; window.__patches = [];
  // Count every walk over the whole graph (a collection of everything, then filtered or iterated).
  for (const name of ['nodes', 'edges', 'elements', 'filter', '$']) {
    const real = cy[name].bind(cy);
    cy[name] = (...args) => { window.__walks += 1; return real(...args); };
  }
  const apply = graph.applyPatch.bind(graph);
  graph.applyPatch = (msg) => {
    const before = window.__walks; apply(msg); graph.counts();
    window.__patches.push({ changed: msg.change.nodes.length, added: msg.add.nodes.length, removed: msg.remove.nodes.length, walks: window.__walks - before });
  };
}"""


def big_broker(depth_of) -> VhostSnapshot:
    exchanges = (Exchange(""),) + tuple(Exchange(f"x{i}", "topic") for i in range(40))
    queues = tuple(Queue(f"q{i:04d}", messages_ready=depth_of(i), consumers=1) for i in range(800))
    bindings = tuple(Binding(f"x{i % 40}", f"q{i:04d}", "queue", f"k.{i}") for i in range(800))
    return VhostSnapshot("/", exchanges, queues, bindings)


def test_a_depth_only_patch_does_not_walk_the_whole_graph(page):
    before = big_broker(lambda i: i)
    after = big_broker(lambda i: i + 1 if i % 10 == 0 else i)  # every tenth queue one deeper
    deeper = [new.name for old, new in zip(before.queues, after.queues, strict=True) if new != old]
    # Every queue drawn as itself (no name groups): the patch's work is what is measured here.
    with static_live(snapshot_of(before), Settings(group_above=100_000)) as (server, source):
        nodes = len(before.exchanges) + len(before.queues)
        open_page(page, server.url, f"() => window.__app && window.__app.graph.cy.nodes().length >= {nodes}")
        page.evaluate(SPY)
        source.post(snapshot_of(after))
        page.wait_for_function("() => window.__patches.some((p) => p.changed > 0)", timeout=15000)
        [patch] = page.evaluate("() => window.__patches.filter((p) => p.changed > 0)")
        assert patch["changed"] == len(deeper) and patch["added"] == 0
        assert patch["walks"] == 0, f"a depth-only patch walked the whole graph {patch['walks']} times"
        label = page.evaluate("(id) => window.__app.graph.element(id).data('display')", f"queue:{deeper[1]}")
        depth = next(q.messages_ready for q in after.queues if q.name == deeper[1])
        assert label.split("\n")[1].startswith(f"{depth} ready"), "and still drew the new depth"
        assert page.errors == []
