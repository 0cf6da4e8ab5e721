"""The Trace tab in headless Chromium, used as a person uses it: with tracing not allowed it says
so and how to allow it, and offers nothing that would fail; in the demo it traces the demo's
synthetic traffic and says that it is simulated; against the real broker (3.10 and 4.0) it
starts a trace from its control, draws each traced message moving along the edges it took
(publisher lead-in, bindings, exchange-to-exchange and alternate hops, consumer), fills the
message list with hostile names and headers shown as text, shows a body only when asked (cut
to the service's limit), narrows to a queue chosen in its lists, counts and shows publishes
routed otherwise than simulated, and stops the trace, leaving the broker's tracing flag off."""

from __future__ import annotations

import contextlib
import math
import re
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import quote

import pytest
from kombu import Connection, Consumer, Producer, Queue

from tests.brokers import BROKER
from tests.conftest import MANAGEMENT_URL, LiveServer, Rabbit, StaticSource, run_live, snapshot_of, stop_live, wait_for
from tests.e2e.conftest import details_shown, open_page
from tests.integration.test_tracing import doctored, read_topology
from visualiser.config import Settings
from visualiser.contract.vocabulary import TRACE_STATES, TRACING_ENABLE_HINT
from visualiser.model.entities import Exchange, VhostSnapshot
from visualiser.model.entities import Queue as QueueEntity

pytestmark = pytest.mark.e2e

# Each payload, if it ever ran, would push to window.__pwned (and some also call alert).
HOOKS = """
window.__pwned = [];
for (const name of ['alert', 'confirm', 'prompt', 'print']) {
  window[name] = (...args) => { window.__pwned.push(name + ':' + args.join(',')); };
}
"""
INJECTED = """() => {
  const suspicious = [...document.querySelectorAll('img, iframe, object, embed, svg, a[href^="javascript"], script:not([src]):not(#vocabulary), b')]
    .filter((e) => !e.closest('#legend'));
  const handlers = [...document.querySelectorAll('*')].filter(
    (e) => [...e.attributes].some((a) => a.name.toLowerCase().startsWith('on')));
  return [...suspicious, ...handlers].map((e) => e.tagName + ' ' + (e.getAttribute('class') || ''));
}"""
HOSTILE_QUEUE = "<img src=x onerror=window.__pwned.push('queue')>"
HOSTILE_KEY = "order.<img src=x onerror=alert(1)>.\u202eevil"
HEADERS = {
    "<img src=x onerror=window.__pwned.push('hkey')>": "\"'><script>window.__pwned.push('hval')</script>",
    "direction": "\u202eright-to-left",
    "quotes": 'it\'s "quoted" `back`',
}
BODY = "<b>bold?</b> the body of a traced message"
BIG_KEY = "order.big"
BIG_BODY = "<i>line one</i>\n" + "".join(f"{i:05d} <b>of a large body</b>\n" for i in range(400))  # about 10 KB
STATE_ON = TRACE_STATES["on"]["label"]
STATE_OFF = TRACE_STATES["off"]["label"]

# Where each traced-message marker is drawn (the page's trace layer, at its last frame), and the
# colour of the trace canvas under it: what a person sees, measured.
MARKERS = """() => {
  const layer = window.__app.trace.layer;
  const ctx = layer.canvas.getContext('2d');
  return layer.positions().map((p) => {
    const [r, g, b, a] = ctx.getImageData(Math.round(p.x * layer.ratio), Math.round(p.y * layer.ratio), 1, 1).data;
    return { ...p, pixel: [r, g, b, a] };
  });
}"""


def trace_tab(page) -> None:
    page.click("#tab-trace")
    page.wait_for_selector("#panel-trace:not([hidden])")


def state_text(page) -> str:
    return page.inner_text("#trace-state") if page.is_visible("#trace-state") else ""


def off_the_segment(p: dict[str, Any]) -> float:
    """How far (pixels) a marker is from the straight line between its hop's two ends."""
    (ax, ay), (bx, by) = (p["from"]["x"], p["from"]["y"]), (p["to"]["x"], p["to"]["y"])
    length = math.hypot(bx - ax, by - ay)
    if length < 1:
        return math.hypot(p["x"] - ax, p["y"] - ay)
    t = max(0.0, min(1.0, ((p["x"] - ax) * (bx - ax) + (p["y"] - ay) * (by - ay)) / length**2))
    return math.hypot(p["x"] - (ax + t * (bx - ax)), p["y"] - (ay + t * (by - ay)))


def drawn_pink(pixel: list[int]) -> bool:
    """The marker's colour (pink, or red for routed otherwise, or its pale outline), opaque."""
    r, g, b, a = pixel
    return a > 200 and r > 200 and g < 240


def markers_moving_along(
    page, hops: set[str] | Callable[[str], bool] | None = None, timeout: float = 30, toward: str | None = None
) -> list[dict[str, Any]]:
    """Two looks at the traced-message markers a moment apart: the same marker further along the
    same hop, each drawn on the line between the hop's ends, in the marker's colour (and, given
    `toward`, a script reading a point on screen, closer to it)."""

    wanted = hops if callable(hops) else (lambda hop: hops is None or hop in hops)

    def moving() -> list[dict[str, Any]] | None:
        first = [p for p in page.evaluate(MARKERS) if p["progress"] < 0.6 and wanted(p["hop"])]
        if not first:
            return None
        time.sleep(0.15)
        later = {(p["marker"], p["hop"]): p for p in page.evaluate(MARKERS)}
        pairs = [(p, later[(p["marker"], p["hop"])]) for p in first if (p["marker"], p["hop"]) in later]
        moved = [
            (a, b)
            for a, b in pairs
            if b["progress"] > a["progress"] and math.hypot(b["x"] - a["x"], b["y"] - a["y"]) > 1
        ]
        if toward is not None:
            point = page.evaluate(toward)
            near = lambda p: math.hypot(p["x"] - point["x"], p["y"] - point["y"])  # noqa: E731
            moved = [(a, b) for a, b in moved if near(b) < near(a)]
        return [b for a, b in moved] or None

    seen = wait_for(moving, timeout, interval=0.2, message="traced-message markers moving along their edges")
    for p in seen:
        assert off_the_segment(p) < 2.5, p
    assert any(drawn_pink(p["pixel"]) for p in seen), [p["pixel"] for p in seen]
    return seen


def node_at(kind: str, name: str) -> str:
    """A script giving where a node is drawn (the point a marker heading for it comes closer to)."""
    return (
        f"() => window.__app.graph.cy.nodes().filter((n) => n.data('kind') === {kind!r}"
        f" && n.data('name') === {name!r})[0].renderedPosition()"
    )


def edge_between(page, source: str, target: str, kind: str | None = None) -> str:
    """The id of the graph's edge from the node named `source` to the one named `target`."""
    found = page.evaluate(
        """([source, target, kind]) => window.__app.graph.cy.edges().filter((e) =>
        e.source().data('name') === source && e.target().data('name') === target
        && (kind === null || e.data('kind') === kind)).map((e) => e.id())""",
        [source, target, kind],
    )
    assert len(found) == 1, (source, target, found)
    return str(found[0])


def consumer_edge(page, queue: str) -> Callable[[str], bool]:
    """Whether a hop is an edge from the queue to one of its consumers (as the graph holds them at
    the time: a consumer that subscribes again is a new node)."""

    def test(hop: str) -> bool:
        return bool(
            page.evaluate(
                """([id, queue]) => { const e = window.__app.graph.element(id);
            return Boolean(e && e.isEdge() && e.data('kind') === 'consumes' && e.source().data('name') === queue
                           && e.target().data('kind') === 'consumer'); }""",
                [hop, queue],
            )
        )

    return test


def message_rows(page) -> list[str]:
    return page.eval_on_selector_all("#trace-messages > li", "(items) => items.map((li) => li.innerText)")


# ---- tracing not allowed -----------------------------------------------------------------------------


def test_without_allow_tracing_the_page_says_how_to_turn_it_on_and_offers_no_start(page) -> None:
    server, _ = run_live(Settings(), sources=[])
    try:
        StaticSource(
            server.service.hub,
            snapshot_of(VhostSnapshot("/", (Exchange("orders", "topic"),), (QueueEntity("orders.created"),))),
        ).start()
        open_page(page, server.url)
        trace_tab(page)
        note = page.inner_text("#trace-off")
        assert "Tracing is off on this service" in note and "--allow-tracing" in note
        assert page.inner_text("#trace-enable") == TRACING_ENABLE_HINT
        assert not page.is_visible("#trace-start") and not page.is_visible("#trace-form")
        assert page.locator("#panel-trace button:visible, #panel-trace input:visible").count() == 0  # nothing to press
        assert page.errors == []
    finally:
        stop_live(server)


# ---- the demo ------------------------------------------------------------------------------------------


def test_the_demo_traces_its_own_synthetic_traffic_and_says_it_is_simulated(page, demo_server) -> None:
    open_page(page, demo_server.url)
    trace_tab(page)
    assert "Simulated trace" in page.inner_text("#trace-simulated")
    assert page.input_value("#trace-minutes") == "10"  # the service's default
    page.click("#trace-start")
    wait_for(lambda: STATE_ON in state_text(page), 15, message="the trace running")
    assert re.search(r"stops by itself in 9 min \d+ s|stops by itself in 10 min", page.inner_text("#trace-left"))
    assert "every publish and every delivery" in page.inner_text("#trace-filter")

    markers_moving_along(page)
    wait_for(lambda: len(message_rows(page)) >= 10, 30, message="the message list filling")
    headline = wait_for(
        lambda: re.fullmatch(r"[\d,]+ traced publishes, 0 disagreements", page.inner_text("#trace-headline")),
        15,
        message="the counts",
    )
    assert int(headline.group(0).split()[0].replace(",", "")) > 0
    assert "as simulated" in "\n".join(message_rows(page))

    # Who sends messages nowhere: the shop's web app sending loyalty tasks with a key nothing is bound to.
    unroutable = wait_for(
        lambda: page.is_visible("#trace-unroutable") and page.inner_text("#trace-unroutable"),
        60,
        message="the unroutable publisher",
    )
    assert "loyalty" in unroutable and "192.0.2.20:45512 -> 192.0.2.1:5672" in unroutable and "shop" in unroutable

    # The legend explains the markers.
    page.click("#legend-menu summary")
    legend = page.inner_text("#legend")
    assert "pink diamonds" in legend and "moving dots" in legend and "Celery tasks" in legend
    page.keyboard.press("Escape")

    page.click("#trace-stop")
    wait_for(lambda: STATE_OFF in state_text(page), 15, message="the trace stopped")
    assert page.inner_text("#trace-stopped") == "Stopped: stopped on request"
    assert page.is_visible("#trace-start") and not page.is_visible("#trace-stop")
    assert page.errors == []


# ---- the real broker ----------------------------------------------------------------------------------


def shop(rabbit: Rabbit) -> None:
    """orders (topic; alternate exchange orders.ae) -> orders.created, a hostile queue, and the
    exchange audit -> audit.log; orders.ae -> orders.unrouted."""
    rabbit.declare_exchange("orders.ae", "fanout")
    rabbit.declare_exchange("orders", "topic", arguments={"alternate-exchange": "orders.ae"})
    rabbit.declare_exchange("audit", "fanout")
    for queue in ("orders.created", "audit.log", "orders.unrouted", HOSTILE_QUEUE):
        rabbit.declare_queue(queue)
    rabbit.bind("orders", "orders.created", "order.created")
    rabbit.bind("orders", HOSTILE_QUEUE, "order.#")
    rabbit.bind("orders", "audit", "order.#", destination_type="exchange")
    rabbit.bind("audit", "audit.log")
    rabbit.bind("orders.ae", "orders.unrouted")


def tracing_flag(rabbit: Rabbit) -> bool:
    return bool(rabbit.call("GET", "vhosts", rabbit.vhost).json()["tracing"])


class Traffic:
    """A plain kombu publisher (a few messages a second, hostile keys and headers) and a consumer on
    orders.created that puts each message back once (so it is redelivered), until stopped."""

    def __init__(self, rabbit: Rabbit):
        self.url = rabbit.amqp_url()
        self.stop = threading.Event()
        self.errors: list[BaseException] = []
        self.threads = [
            threading.Thread(target=self._guard(self._publish), daemon=True),
            threading.Thread(target=self._guard(self._consume), daemon=True),
        ]

    def _guard(self, fn):
        def run() -> None:
            try:
                fn()
            except BaseException as exc:  # noqa: BLE001 - reported by the test
                self.errors.append(exc)

        return run

    def start(self) -> None:
        for thread in self.threads:
            thread.start()

    def _publish(self) -> None:
        keys = ["order.created", HOSTILE_KEY, "nothing.<script>window.__pwned.push('rk')</script>"]
        with Connection(
            self.url, transport_options={"client_properties": {"connection_name": "e2e-publisher"}}
        ) as conn:
            producer = Producer(conn.channel())
            index = 0
            while not self.stop.is_set():
                producer.publish(
                    BODY.encode(),
                    exchange="orders",
                    routing_key=keys[index % len(keys)],
                    headers=HEADERS,
                    content_type="text/plain",
                )
                if index == 5:  # one message larger than the service keeps of a body
                    producer.publish(
                        BIG_BODY.encode(), exchange="orders", routing_key=BIG_KEY, content_type="text/plain"
                    )
                index += 1
                self.stop.wait(0.15)

    def _consume(self) -> None:
        def got(message: Any) -> None:
            if message.delivery_info.get("redelivered"):
                message.ack()
            else:
                message.requeue()

        with (
            Connection(self.url) as conn,
            Consumer(
                conn.channel(),
                queues=[Queue("orders.created", no_declare=True)],
                on_message=got,
                auto_declare=False,
                prefetch_count=10,
            ),
        ):
            while not self.stop.is_set():
                with contextlib.suppress(TimeoutError):
                    conn.drain_events(timeout=0.5)

    def close(self) -> None:
        self.stop.set()
        for thread in self.threads:
            if thread.ident is not None:  # started
                thread.join(timeout=10)


@pytest.fixture
def traced_shop(rabbit: Rabbit) -> Iterator[tuple[LiveServer, Rabbit]]:
    shop(rabbit)
    settings = Settings(
        management_url=MANAGEMENT_URL, trace_url=BROKER.amqp_url(), allow_tracing=True, poll_interval=0.5
    )
    server, _ = run_live(settings)
    wait_for(
        lambda: server.get("/api/topology", params={"vhost": rabbit.vhost}).status_code == 200,
        60,
        message="the vhost on the graph",
    )
    yield server, rabbit
    stop_live(server)
    assert not tracing_flag(rabbit)  # however the test ended, the service left the flag as it found it


@pytest.mark.integration
def test_traced_messages_move_along_their_edges_and_the_list_shows_hostile_strings_as_text(page, traced_shop) -> None:
    server, rabbit = traced_shop
    traffic = Traffic(rabbit)
    page.add_init_script(HOOKS)
    traffic.threads[1].start()  # the consumer first, so that the graph has it
    wait_for(
        lambda: (
            '"kind": "consumer"'
            in server.get("/api/topology", params={"vhost": rabbit.vhost}).text.replace('":"', '": "')
        ),
        60,
        message="the consumer on the graph",
    )
    open_page(page, f"{server.url}/?vhost={quote(rabbit.vhost, safe='')}")
    created_edge = edge_between(page, "orders", "orders.created")
    try:
        trace_tab(page)
        assert not tracing_flag(rabbit)
        page.click("#trace-start")
        wait_for(lambda: STATE_ON in state_text(page), 60, message="the trace running")
        assert tracing_flag(rabbit)
        assert "every publish and every delivery" in page.inner_text("#trace-filter")
        traffic.threads[0].start()

        # Each hop a message took, drawn where the graph draws it and heading for where it went: the
        # publisher's lead-in (it is not on the graph) into the exchange, a binding to a queue, the
        # exchange-to-exchange binding and the one after it, the alternate exchange (for the key nothing
        # is bound to) and its queue, and from the queue to the consumer that got it.
        # Publishes come in order from one connection: the lead-in from the left into orders.
        markers_moving_along(page, {"stub:exchange:orders"}, timeout=60, toward=node_at("exchange", "orders"))
        markers_moving_along(page, {created_edge}, timeout=60, toward=node_at("queue", "orders.created"))
        markers_moving_along(
            page, {edge_between(page, "orders", "audit")}, timeout=60, toward=node_at("exchange", "audit")
        )
        markers_moving_along(
            page, {edge_between(page, "audit", "audit.log")}, timeout=60, toward=node_at("queue", "audit.log")
        )
        markers_moving_along(
            page,
            {edge_between(page, "orders", "orders.ae", "alternate")},
            timeout=60,
            toward=node_at("exchange", "orders.ae"),
        )
        markers_moving_along(
            page,
            {edge_between(page, "orders.ae", "orders.unrouted")},
            timeout=60,
            toward=node_at("queue", "orders.unrouted"),
        )
        markers_moving_along(page, consumer_edge(page, "orders.created"), timeout=60)

        # The list fills; hostile keys and queue names are shown as themselves, as text.
        wait_for(lambda: len(message_rows(page)) >= 9, 60, message="the message list filling")
        rows = "\n".join(message_rows(page))
        assert "order.<img src=x onerror=alert(1)>.‹U+202E›evil" in rows
        assert HOSTILE_QUEUE in rows
        wait_for(lambda: "redelivered" in "\n".join(message_rows(page)), 60, message="a redelivery marked")

        # The counts: publishes traced, and the broker and the simulator agreeing on every one.
        traced = wait_for(
            lambda: re.fullmatch(r"([\d,]+) traced publishes, 0 disagreements", page.inner_text("#trace-headline")),
            30,
            message="the headline",
        )
        assert int(traced.group(1).replace(",", "")) >= 9
        assert page.inner_text("#tab-trace").strip() == "Trace"  # no disagreement: no count on the tab

        # A row opened: headers and properties as text, the body not there until asked for.
        page.locator("#trace-messages > li", has_text="nothing.<script>").first.locator(".trace-row-head").click()
        row = page.locator("#trace-messages > li:has(.trace-row-head[aria-expanded=true])")
        row.locator(".trace-row-body").wait_for(timeout=5000)
        opened = row.inner_text()
        assert "<img src=x onerror=window.__pwned.push('hkey')>" in opened and "‹U+202E›right-to-left" in opened
        assert 'it\'s \\"quoted\\" `back`' in opened or 'it\'s "quoted" `back`' in opened
        assert "orders.unrouted" in opened  # the alternate exchange's queue took it
        assert "the body of a traced message" not in page.inner_text("#panel-trace")
        row.locator(".trace-show-body").click()
        body = row.locator(".trace-body-text")
        body.wait_for(timeout=15000)
        assert body.inner_text() == BODY

        # Who published: the connection and user, as the broker names them.
        assert "guest" in opened and " -> " in opened
        row.locator(".trace-row-head").click()  # closed again

        # A body larger than the service keeps: its start, as text, and a note saying how much of it that is.
        limit = server.get("/api/trace", params={"vhost": rabbit.vhost}).json()["limits"]["body_bytes"]
        assert len(BIG_BODY.encode()) > limit
        big = page.locator("#trace-messages > li", has_text=BIG_KEY).first
        big.locator(".trace-row-head").click()
        assert "of a large body" not in big.inner_text()
        big.locator(".trace-show-body").click()
        big.locator(".trace-body-text").wait_for(timeout=15000)
        assert big.locator(".trace-body-text").inner_text() == BIG_BODY.encode()[:limit].decode()
        note = big.locator(".trace-body .table-note").inner_text()
        assert note.startswith(f"The first {limit // 1024} KiB of ") and "as text" in note, note

        assert page.evaluate(INJECTED) == []
        assert page.evaluate("() => window.__pwned") == []

        page.click("#trace-stop")
        wait_for(lambda: STATE_OFF in state_text(page), 60, message="the trace stopped")
        assert not tracing_flag(rabbit)
        assert page.errors == []
        assert traffic.errors == []
    finally:
        traffic.close()


@pytest.mark.integration
def test_a_trace_narrowed_to_a_queue_or_an_exchange_chosen_on_the_page_shows_only_that(page, traced_shop) -> None:
    server, rabbit = traced_shop
    traffic = Traffic(rabbit)
    traffic.threads[1].start()
    wait_for(
        lambda: (
            '"kind": "consumer"'
            in server.get("/api/topology", params={"vhost": rabbit.vhost}).text.replace('":"', '": "')
        ),
        60,
        message="the consumer on the graph",
    )
    # The person opens the page on whatever vhost it shows first and picks the test's vhost.
    open_page(page, server.url)
    page.wait_for_selector(f"#vhost-select option:text-is('{rabbit.vhost}')", state="attached")
    page.select_option("#vhost-select", label=rabbit.vhost)
    wait_for(
        lambda: page.evaluate(
            "(v) => window.__app.vhost === v && window.__app.graph.cy.nodes().length > 0", rabbit.vhost
        ),
        60,
        message="the chosen vhost shown",
    )
    try:
        trace_tab(page)
        assert page.inner_text("#trace-vhost") == rabbit.vhost
        page.select_option("#trace-queue", label="orders.created")
        page.click("#trace-start")
        wait_for(lambda: STATE_ON in state_text(page), 60, message="the trace running")
        assert page.inner_text("#trace-filter") == "deliveries from queue orders.created"
        assert page.is_disabled("#trace-queue") and page.is_disabled("#trace-exchange")  # fixed while it runs
        status = server.get("/api/trace", params={"vhost": rabbit.vhost}).json()
        assert (status["queue"], status["exchange"], status["broker"]["bindings"]) == (
            "orders.created",
            None,
            ["deliver.orders.created"],
        )
        traffic.threads[0].start()

        consumes = consumer_edge(page, "orders.created")
        markers_moving_along(page, consumes, timeout=60)
        wait_for(lambda: len(message_rows(page)) >= 5, 60, message="the message list filling")
        # Only deliveries were traced: no marker on any other edge, and no row with its publish.
        assert all(consumes(p["hop"]) for p in page.evaluate(MARKERS))
        assert all("publish not seen" in row and "from orders.created" in row for row in message_rows(page))
        assert re.fullmatch(r"0 traced publishes, 0 disagreements", page.inner_text("#trace-headline"))

        page.click("#trace-stop")
        wait_for(lambda: STATE_OFF in state_text(page), 60, message="the trace stopped")
        assert not tracing_flag(rabbit)
        assert not page.is_disabled("#trace-queue")

        # Then one exchange, every queue: only its publishes, and a fresh list.
        page.select_option("#trace-queue", label="every queue")
        page.select_option("#trace-exchange", label="orders")
        page.click("#trace-start")
        wait_for(lambda: STATE_ON in state_text(page), 60, message="the second trace running")
        assert page.inner_text("#trace-filter") == "publishes to exchange orders"
        assert server.get("/api/trace", params={"vhost": rabbit.vhost}).json()["broker"]["bindings"] == [
            "publish.orders"
        ]
        created = edge_between(page, "orders", "orders.created")
        markers_moving_along(page, {created}, timeout=60, toward=node_at("queue", "orders.created"))
        wait_for(lambda: len(message_rows(page)) >= 5, 60, message="the message list filling again")
        assert not any(consumes(p["hop"]) for p in page.evaluate(MARKERS))
        assert not any("publish not seen" in row or "delivered" in row for row in message_rows(page))

        page.click("#trace-stop")
        wait_for(lambda: STATE_OFF in state_text(page), 60, message="the second trace stopped")
        assert not tracing_flag(rabbit)
        assert page.errors == []
        assert traffic.errors == []
    finally:
        traffic.close()


@pytest.mark.integration
def test_publishes_routed_otherwise_than_simulated_are_drawn_counted_and_shown_on_their_exchange(page, rabbit) -> None:
    """The simulator made wrong on purpose (the topology it is given lacks the binding
    orders -> orders.created): the broker's queue the simulator cannot explain is drawn as a
    direct hop, and once the disagreement is confirmed on newer topologies the page counts it
    in the headline and on the tab, lists it, and shows it on the exchange."""
    shop(rabbit)
    real = read_topology(rabbit.vhost)
    settings = Settings(
        management_url=MANAGEMENT_URL, trace_url=BROKER.amqp_url(), allow_tracing=True, poll_interval=0.5
    )
    server, _ = run_live(settings, sources=[])
    source = StaticSource(server.service.hub, doctored(real, rabbit.vhost))
    source.start()
    traffic = Traffic(rabbit)
    try:
        open_page(page, f"{server.url}/?vhost={quote(rabbit.vhost, safe='')}")
        trace_tab(page)
        page.click("#trace-start")
        wait_for(lambda: STATE_ON in state_text(page), 60, message="the trace running")
        traffic.threads[0].start()

        markers_moving_along(
            page,
            {"direct:exchange:orders\nqueue:orders.created"},
            timeout=60,
            toward=node_at("queue", "orders.created"),
        )

        def confirmed() -> dict[str, Any] | None:
            source.post(doctored(real, rabbit.vhost))  # a newer topology, as each poll gives
            status = server.get("/api/trace", params={"vhost": rabbit.vhost}).json()
            return status if status["counts"]["disagreed"] else None

        wait_for(confirmed, 60, interval=0.5, message="a disagreement confirmed")
        traffic.close()

        # Once the traffic has stopped and every publish is judged, the page says what the service counted.
        def settled() -> dict[str, Any] | None:
            source.post(doctored(real, rabbit.vhost))
            counts = server.get("/api/trace", params={"vhost": rabbit.vhost}).json()["counts"]
            shown = page.inner_text("#trace-headline")
            wanted = f"{counts['publishes']:,} traced publishes, {counts['disagreed']:,} disagreement"
            return counts if counts["pending"] == 0 and shown.startswith(wanted) else None

        counts = wait_for(settled, 60, interval=0.5, message="the headline showing the service's counts")
        assert counts["disagreed"] >= 1 and counts["agreed"] >= 1
        assert page.inner_text("#tab-trace .count") == str(counts["disagreed"])

        item = page.locator("#trace-disagreements > li")
        wait_for(
            lambda: item.count() == 1 and f"{counts['disagreed']:,} publish" in item.inner_text(),
            15,
            message="the disagreement listed with its count",
        )
        assert "orders" in item.inner_text()
        item.locator(".trace-disagreement-head").click()
        shown = item.locator(".trace-disagreement-table").inner_text()
        routed = re.search(r"The broker routed it to\s+(.*)", shown).group(1)
        simulated = re.search(r"The simulator says \(topology v\d+\)\s+(.*)", shown).group(1)
        assert "orders.created" in routed and "orders.created" not in simulated and "audit.log" in simulated

        # The exchange's details carry it too: the finding where the person looks at the exchange.
        item.locator(".trace-focus").click()  # the graph selects and shows the exchange
        page.click("#tab-details")
        assert details_shown(page)["title"] == "orders"
        page.wait_for_selector("#panel-details .trace-details")
        wait_for(
            lambda: f"Publishes\t{counts['disagreed']:,}\n" in page.inner_text("#panel-details .trace-details"),
            15,
            message="the exchange's details counting its disagreeing publishes",
        )
        assert "routed otherwise than simulated" in page.inner_text("#panel-details .trace-details").lower()

        page.click("#tab-trace")
        page.click("#trace-stop")
        wait_for(lambda: STATE_OFF in state_text(page), 60, message="the trace stopped")
        assert not tracing_flag(rabbit)
        assert page.errors == [] and traffic.errors == []
    finally:
        traffic.close()
        stop_live(server)
    assert not tracing_flag(rabbit)
