"""Time travel on the page, in Chromium, against the real app recording to a real file.

A queue backs up with no consumer (a finding appears) and drains (it clears) while the service
records; the tests then use the timeline as a person does: click the incident on the strip,
drag to another moment, press Back to live, play, copy a link and open it, download the graph
as PNG and SVG, and open the exported recording with --replay. Expectations come from what the
test posted and when; the page's app object is read only to find where to point the mouse.
"""

from __future__ import annotations

import re
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import pytest

from tests.conftest import (
    MANAGEMENT_URL,
    LiveServer,
    Rabbit,
    run_live,
    snapshot_of,
    static_live,
    stop_live,
    wait_for,
)
from tests.e2e.conftest import GRAPH_DRAWN, open_page, select_by_search
from tests.recording_support import replaying, vhost_with
from visualiser.config import Settings

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[2]

BACKLOG = 400
LATER = 77  # the live depth posted while the page shows the past
HOSTILE = '<img src=x onerror=alert(1)>&"q'
BOUND = ("orders", HOSTILE)
ORDERS = "queue:orders"
STEP_S = 1.5  # between the recorded moments: each one wide enough to click on the strip


@dataclass
class Recorded:
    server: LiveServer
    source: object
    quiet: float  # orders empty, a consumer
    backlog: float  # orders BACKLOG deep, no consumer: the no-consumers finding
    drained: float  # orders empty again, a consumer


def post_depth(source, depth: int, consumers: int) -> None:
    """Orders at that depth on '/', and the vhost 'late' (not there at the first moment)."""
    source.post(
        snapshot_of(
            vhost_with({"orders": depth, HOSTILE: 2}, consumers=consumers, bound=BOUND),
            vhost_with({"late.queue": 1}, vhost="late"),
        )
    )


@pytest.fixture(scope="module")
def recorded(tmp_path_factory) -> Iterator[Recorded]:
    path = tmp_path_factory.mktemp("timeline") / "recording.db"
    first = snapshot_of(vhost_with({"orders": 0, HOSTILE: 2}, consumers=1, bound=BOUND))
    with static_live(first, Settings(record=str(path))) as (server, source):
        quiet = time.time()
        time.sleep(STEP_S)
        post_depth(source, BACKLOG, consumers=0)
        backlog = time.time()
        time.sleep(STEP_S)
        post_depth(source, 0, consumers=1)
        drained = time.time()
        time.sleep(STEP_S)
        assert server.service.recording.recorder.sync()
        yield Recorded(server, source, quiet, backlog, drained)


def ready_shown(page) -> str:
    """The Ready row of the Details tab, as shown."""
    return page.evaluate("""() => {
      const row = [...document.querySelectorAll('#panel-details tr')].find((r) => r.querySelector('th')?.textContent.trim() === 'Ready');
      return row ? row.querySelector('td').textContent.trim() : null;
    }""")


def wait_for_ready(page, value: int) -> None:
    page.wait_for_function(
        """(want) => {
      const row = [...document.querySelectorAll('#panel-details tr')].find((r) => r.querySelector('th')?.textContent.trim() === 'Ready');
      return row && row.querySelector('td').textContent.trim() === want;
    }""",
        arg=str(value),
        timeout=60000,  # a live depth takes the broker's statistics interval and a poll, on a busy machine more
    )


def wait_for_backlog(page, most: int) -> int:
    """Until the Details tab shows a backlog (1 to ``most`` ready); the number shown. The broker
    counts a burst in steps, so a moment inside it may show part of the burst."""
    page.wait_for_function(
        """(most) => {
      const row = [...document.querySelectorAll('#panel-details tr')].find((r) => r.querySelector('th')?.textContent.trim() === 'Ready');
      const shown = row ? Number(row.querySelector('td').textContent.trim().replace(/,/g, '')) : NaN;
      return shown >= 1 && shown <= most;
    }""",
        arg=most,
        timeout=60000,
    )
    return int(str(ready_shown(page)).replace(",", ""))


def findings_listed(page) -> list[tuple[str, str]]:
    return [
        tuple(pair)
        for pair in page.evaluate("""() => [...document.querySelectorAll('#panel-findings li.finding')]
      .map((li) => [li.dataset.rule, li.dataset.node])""")
    ]


def wait_until_shown(page) -> str:
    """Until the page has shown the moment asked for last (no answer still loading); its state line."""
    page.wait_for_function(
        "() => /^Viewing \\d\\d:\\d\\d:\\d\\d(, not live| of the recording)$/"
        ".test(document.getElementById('tl-state').textContent)",
        timeout=30000,
    )
    return page.inner_text("#tl-state")


def moment_shown(page) -> float:
    """The moment in the page's address (what a copied link carries)."""
    found = re.search(r"[?&]at=([0-9.]+)", page.url)
    assert found, page.url
    return float(found.group(1))


def clock(t: float) -> str:
    return time.strftime("%H:%M:%S", time.localtime(t))


def click_band(page, node: str) -> None:
    """Click on the strip in the middle of the no-consumers finding's band for that node."""
    band = page.locator(f'.tl-band.tl-finding[data-rule="no-consumers"][data-node="{node}"]')
    band.wait_for(timeout=30000)
    box = wait_for(band.bounding_box, 10, message="the band drawn")  # the strip is redrawn as the window grows
    page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)


def click_track_at(page, t: float) -> None:
    """Click on the strip where the moment t is drawn (the strip's ends are the page's window)."""
    where = page.evaluate(
        """(t) => {
      const w = window.__app.timeline.window; const box = document.getElementById('tl-track').getBoundingClientRect();
      return {x: box.left + box.width * (t - w.from) / (w.to - w.from), y: box.top + box.height - 3};
    }""",
        t,
    )
    page.mouse.click(where["x"], where["y"])


def open_recorded(page, url: str) -> None:
    open_page(page, url)
    page.wait_for_function("() => window.__app.timeline && window.__app.timeline.window", timeout=15000)


def test_scrubbing_shows_the_past_the_not_live_state_and_back_to_live(page, recorded: Recorded) -> None:
    open_recorded(page, recorded.server.url + "/?vhost=%2F")
    assert page.inner_text("#tl-state") == "Live"
    assert page.is_disabled("#tl-play")  # live already moves forward
    select_by_search(page, "orders", "queue")
    assert ready_shown(page) == "0"

    # Hovering over the strip says what was open then.
    band = page.locator(f'.tl-band.tl-finding[data-rule="no-consumers"][data-node="{ORDERS}"]')
    band.wait_for(timeout=30000)
    box = wait_for(band.bounding_box, 10, message="the band drawn")
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    tip = page.get_attribute("#tl-track", "title")
    assert "Backlog with no consumer on orders" in tip and "click to show this moment" in tip

    # The incident on the strip: a click on it shows the backlog and its finding.
    click_band(page, ORDERS)
    wait_for_ready(page, BACKLOG)
    at = moment_shown(page)
    assert recorded.backlog <= at < recorded.drained
    assert wait_until_shown(page) == f"Viewing {clock(at)}, not live"
    assert page.is_visible("#tl-live")
    page.click("#tab-findings")
    assert ("no-consumers", ORDERS) in findings_listed(page)

    # Live frames meanwhile change nothing on screen.
    post_depth(recorded.source, LATER, consumers=1)
    live_version = recorded.server.get("/api/topology", params={"vhost": "/"}).json()["version"]
    page.wait_for_function("(v) => window.__app.stream.version >= v", arg=live_version, timeout=15000)
    page.click("#tab-details")
    assert ready_shown(page) == str(BACKLOG)
    assert ("no-consumers", ORDERS) in findings_listed(page)

    # Dragged back to before the backlog: empty, and no finding.
    start = page.locator(f'.tl-band.tl-finding[data-rule="no-consumers"][data-node="{ORDERS}"]').bounding_box()
    page.mouse.move(start["x"] + 2, start["y"] + start["height"] + 6)
    page.mouse.down()
    target = page.evaluate(
        """(t) => {
      const w = window.__app.timeline.window; const box = document.getElementById('tl-track').getBoundingClientRect();
      return box.left + box.width * (t - w.from) / (w.to - w.from);
    }""",
        (recorded.quiet + recorded.backlog) / 2,
    )
    page.mouse.move(target, start["y"] + start["height"] + 6, steps=8)
    page.mouse.up()
    wait_for_ready(page, 0)
    state = wait_until_shown(page)
    at = moment_shown(page)
    assert recorded.quiet - 1 <= at < recorded.backlog
    assert state == f"Viewing {clock(at)}, not live"
    assert ("no-consumers", ORDERS) not in findings_listed(page)

    # One click back to live: the depth posted meanwhile.
    page.click("#tl-live")
    wait_for_ready(page, LATER)
    assert page.inner_text("#tl-state") == "Live"
    assert not page.is_visible("#tl-live")
    assert "at=" not in page.url
    post_depth(recorded.source, 0, consumers=1)  # live again: live frames are drawn
    wait_for_ready(page, 0)
    assert page.errors == []


def test_a_moment_before_a_vhost_existed_shows_it_absent(page, recorded: Recorded) -> None:
    open_recorded(page, recorded.server.url + "/?vhost=late")
    click_track_at(page, recorded.quiet + 0.3)
    page.wait_for_function(
        "() => document.getElementById('tl-state').textContent.endsWith('late was not on the graph then')",
        timeout=30000,
    )
    assert page.inner_text("#tl-state").startswith("Viewing ")
    assert page.evaluate("() => window.__app.graph.cy.nodes().length") == 0
    page.click("#tl-live")
    page.wait_for_function(GRAPH_DRAWN, timeout=15000)
    assert page.inner_text("#tl-state") == "Live"
    assert page.errors == []


def test_a_queues_depth_over_the_recording_shows_its_peak_and_goes_there(page, recorded: Recorded) -> None:
    open_recorded(page, recorded.server.url + "/?vhost=%2F")
    select_by_search(page, "orders", "queue")
    caption = page.locator(".recorded-depth .chart-caption")
    page.wait_for_selector(".recorded-depth .chart-caption:has-text('peak')", timeout=30000)
    peak = re.fullmatch(r"peak ([\d,]+) ready at (\d\d:\d\d:\d\d) show that moment", caption.inner_text())
    assert peak, caption.inner_text()
    assert int(peak.group(1).replace(",", "")) == BACKLOG
    assert clock(recorded.quiet) <= peak.group(2) <= clock(recorded.drained)
    assert page.locator(".recorded-depth svg .ready-line").count() == 1  # the chart is drawn
    page.click(".recorded-depth .recorded-peak")
    wait_for_ready(page, BACKLOG)
    assert wait_until_shown(page) == f"Viewing {peak.group(2)}, not live"
    assert page.errors == []


def test_the_task_counts_of_a_past_moment_are_those_recorded(page, tmp_path) -> None:
    server, _ = run_live(Settings(demo=True, record=str(tmp_path / "demo.db")))
    try:
        wait_for(
            lambda: (w := server.get("/api/recording").json()["window"]) and w["to"] - w["from"] > 15,
            60,
            message="15 s of the demo recorded",
        )
        open_recorded(page, server.url + "/?vhost=%2F")
        page.wait_for_function("() => window.__app.timeline.window.to - window.__app.timeline.window.from > 15")
        click_track_at(page, page.evaluate("() => window.__app.timeline.window.from + 13"))
        wait_until_shown(page)
        at = moment_shown(page)
        frames = server.get("/api/frames", params={"vhost": "/", "from": at - 10, "to": at, "limit": 5000}).json()
        counts = {"sent": 0, "succeeded": 0, "failed": 0, "retried": 0}
        for frame in frames["frames"]:
            if frame["event"] != "activity":
                continue
            for node, figures in frame["data"]["nodes"].items():
                states = figures.get("states", {})
                if node.startswith("queue:"):
                    counts["sent"] += states.get("sent", 0)
                elif node.startswith("worker:"):
                    for state in ("succeeded", "failed", "retried"):
                        counts[state] += states.get(state, 0)
        assert counts["sent"] > 0  # the demo's tasks were recorded
        parts = [f"{counts['sent']:,} sent", f"{counts['succeeded']:,} succeeded"]
        parts += [f"{counts[state]:,} {state}" for state in ("failed", "retried") if counts[state]]
        assert page.inner_text("#tl-tasks") == "Tasks, 10 s before: " + " · ".join(parts)
        assert page.errors == []
    finally:
        stop_live(server)


def test_play_moves_forward_through_the_backlog_and_catches_up_with_live(page, recorded: Recorded) -> None:
    open_recorded(page, recorded.server.url + "/?vhost=%2F")
    select_by_search(page, "orders", "queue")
    click_track_at(page, recorded.quiet + 0.3)
    wait_for_ready(page, 0)
    page.click("#tl-play")
    assert page.inner_text("#tl-play") == "❚❚ Pause"
    wait_for_ready(page, BACKLOG)  # played at 1×: the backlog comes about STEP_S later
    assert moment_shown(page) >= recorded.backlog - 1  # the address follows the play clock each second
    wait_for_ready(page, 0)  # and drains
    page.select_option("#tl-speed", "60")
    page.wait_for_function("() => document.getElementById('tl-state').textContent === 'Live'", timeout=60000)
    assert page.inner_text("#tl-play") == "▶ Play"
    assert page.errors == []


def test_a_copied_link_opens_the_same_view(page, browser, recorded: Recorded) -> None:
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=recorded.server.url)
    open_recorded(page, recorded.server.url + "/?vhost=%2F")
    click_band(page, ORDERS)
    wait_until_shown(page)
    at = moment_shown(page)
    page.click("#tab-tasks")
    page.fill("#celery-search", "tasks.add")
    page.press("#celery-search", "Enter")
    select_by_search(page, "orders", "queue")
    wait_for_ready(page, BACKLOG)
    page.click("#tab-route")
    page.select_option("#route-exchange", "events")
    page.fill("#route-key", "orders.created")
    page.click("#route-submit")
    page.wait_for_selector("#route-queues li")
    page.click("#share-copy")
    page.wait_for_function("() => document.getElementById('share-copy').textContent === 'Copied'")
    link = page.evaluate("() => navigator.clipboard.readText()")
    assert link.startswith(recorded.server.url + "/?")

    other = browser.new_context(viewport={"width": 1440, "height": 900}).new_page()
    try:
        errors: list[str] = []
        other.on("pageerror", lambda exc: errors.append(str(exc)))
        open_page(other, link, GRAPH_DRAWN)
        assert wait_until_shown(other) == f"Viewing {clock(at)}, not live"
        assert abs(moment_shown(other) - at) < 0.01
        wait_for_ready(other, BACKLOG)  # the selection, at that moment
        assert other.evaluate("() => document.querySelector('#panel-details h2').textContent") == "orders"
        assert other.is_visible("#panel-route")  # the question's tab is open, with the question asked
        assert other.input_value("#route-exchange") == "events"
        assert other.input_value("#route-key") == "orders.created"
        other.wait_for_selector("#route-queues li")
        assert "orders" in other.inner_text("#route-queues")
        assert other.input_value("#celery-search") == "tasks.add"
        assert errors == []
    finally:
        other.context.close()


def test_png_and_svg_exports_are_named_with_vhost_and_moment_and_hold_the_graph(page, recorded: Recorded) -> None:
    open_recorded(page, recorded.server.url + "/?vhost=%2F")
    click_band(page, ORDERS)
    wait_until_shown(page)
    at = moment_shown(page)
    stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(at))

    with page.expect_download() as png:
        page.click("#export-png")
    assert png.value.suggested_filename == f"rabbitmq-default-{stamp}.png"
    data = Path(png.value.path()).read_bytes()
    assert data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) > 2000

    with page.expect_download() as svg:
        page.click("#export-svg")
    assert svg.value.suggested_filename == f"rabbitmq-default-{stamp}.svg"
    root = ET.parse(svg.value.path()).getroot()  # well-formed XML, whatever the names hold
    ns = {"s": "http://www.w3.org/2000/svg"}
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    assert root.findall("s:script", ns) == [] and root.findall(".//s:foreignObject", ns) == []
    titles = {g.get("data-id"): g.find("s:title", ns).text for g in root.iterfind(".//s:g[@class='node']", ns)}
    assert titles[ORDERS] == "orders"
    assert titles["queue:" + HOSTILE] == HOSTILE  # the hostile name, as text
    lines = {
        g.get("data-id"): [span.text for span in g.iterfind("s:text/s:tspan", ns)]
        for g in root.iterfind(".//s:g[@class='node']", ns)
    }
    assert lines[ORDERS][0] == "orders"
    assert lines[ORDERS][1].startswith(f"{BACKLOG} ready")  # the depth as drawn at that moment
    assert clock(at) in root.find("s:title", ns).text
    assert page.errors == []


def test_a_replayed_recording_has_the_same_timeline(page, recorded: Recorded, tmp_path) -> None:
    exported = recorded.server.get("/api/export", params={"from": recorded.quiet - 1, "to": recorded.drained + 1})
    assert exported.status_code == 200
    path = tmp_path / "incident.db"
    path.write_bytes(exported.content)
    replay, _ = run_live(Settings(replay=str(path)))
    try:
        open_recorded(page, replay.url + "/?vhost=%2F")
        assert page.inner_text("#mode-badge").lower() == "replay"
        assert page.inner_text("#tl-state") == "End of the recording"
        select_by_search(page, "orders", "queue")
        assert ready_shown(page) == "0"
        click_band(page, ORDERS)
        wait_for_ready(page, BACKLOG)
        at = moment_shown(page)
        assert recorded.backlog <= at < recorded.drained
        assert wait_until_shown(page) == f"Viewing {clock(at)} of the recording"
        page.click("#tab-findings")
        assert ("no-consumers", ORDERS) in findings_listed(page)
        page.click("#tl-live")
        page.click("#tab-details")
        wait_for_ready(page, 0)
        assert page.inner_text("#tl-state") == "End of the recording"

        # From the keyboard: Home is the file's first moment (before the backlog; the service had
        # started but not yet read the vhost), 10 s on is the file's last, End is the end.
        window = replay.get("/api/recording").json()["window"]
        page.focus("#tl-track")
        page.keyboard.press("Home")
        page.wait_for_function(
            "() => /^Viewing \\d\\d:\\d\\d:\\d\\d of the recording($| · \\/ was not on the graph then$)/"
            ".test(document.getElementById('tl-state').textContent)",
            timeout=30000,
        )
        assert abs(moment_shown(page) - window["from"]) < 0.01
        page.keyboard.press("ArrowRight")
        wait_until_shown(page)
        assert abs(moment_shown(page) - window["to"]) < 0.01
        page.keyboard.press("End")
        page.wait_for_function("() => document.getElementById('tl-state').textContent === 'End of the recording'")
        assert page.errors == []
    finally:
        stop_live(replay)


def test_a_service_that_does_not_record_says_so_and_a_link_to_the_past_stays_live(page) -> None:
    with static_live(snapshot_of(vhost_with({"orders": 3}))) as (server, source):
        open_page(page, server.url + "/?vhost=%2F&node=queue%3Aorders&at=1000000000")
        page.wait_for_function("() => document.getElementById('timeline').classList.contains('tl-off')", timeout=15000)
        page.wait_for_selector("#banner:has-text('Could not show')")
        assert "does not record" in page.inner_text("#banner")
        page.wait_for_function("() => document.getElementById('tl-state').textContent.startsWith('Not recording')")
        assert page.inner_text("#tl-state").startswith("Not recording: no past to show")
        assert not page.is_visible("#tl-track") and not page.is_visible("#tl-play")
        assert page.is_visible("#export-svg")  # exporting the view needs no recording
        wait_for_ready(page, 3)  # the link's selection, shown live
        source.post(snapshot_of(vhost_with({"orders": 9})))
        wait_for_ready(page, 9)  # live frames are drawn
        assert "at=" not in page.url
        assert page.errors == []


# ---- against the real broker -------------------------------------------------------------------------

LIVE_QUEUE = "orders.created"
LIVE_NODE = "queue:" + LIVE_QUEUE
LIVE_BACKLOG = 30


def live_depth(server: LiveServer, vhost: str) -> int | None:
    body = server.get("/api/topology", params={"vhost": vhost}).json()
    return next((n["messages_ready"] for n in body.get("nodes", []) if n["id"] == LIVE_NODE), None)


def live_findings(server: LiveServer, vhost: str) -> set[tuple[str, str]]:
    body = server.get("/api/diagnostics", params={"vhost": vhost}).json()
    return {(f["rule"], f["node"]) for f in body["findings"]}


@pytest.mark.integration
def test_a_real_backlog_is_on_the_timeline_at_its_moment_and_replays_without_a_broker(
    page, rabbit: Rabbit, tmp_path
) -> None:
    rabbit.declare_exchange("orders", "topic")
    rabbit.declare_queue(LIVE_QUEUE)
    rabbit.bind("orders", LIVE_QUEUE, "order.*")
    server, _ = run_live(Settings(management_url=MANAGEMENT_URL, poll_interval=1.0, record=str(tmp_path / "live.db")))
    vhost = rabbit.vhost
    url = f"/?vhost={quote(vhost, safe='')}"
    try:
        wait_for(lambda: live_depth(server, vhost) == 0, 30, message="the empty queue on the graph")
        open_recorded(page, server.url + url)
        empty = time.time()
        for i in range(LIVE_BACKLOG):
            rabbit.publish("orders", "order.created", f"m{i}")
        wait_for(lambda: ("no-consumers", LIVE_NODE) in live_findings(server, vhost), 30, message="the finding")
        backlog = time.time()
        rabbit.call(
            "POST",
            "queues",
            vhost,
            LIVE_QUEUE,
            "get",
            body={"count": LIVE_BACKLOG, "ackmode": "ack_requeue_false", "encoding": "auto"},
        )
        wait_for(
            lambda: live_depth(server, vhost) == 0 and ("no-consumers", LIVE_NODE) not in live_findings(server, vhost),
            30,
            message="the queue drained and the finding gone",
        )
        drained = time.time()
        select_by_search(page, LIVE_QUEUE, "queue")
        wait_for_ready(page, 0)

        # The finding's bar spans its appearing and clearing, as the page read them (once cleared).
        band = page.locator(f'.tl-band.tl-finding:not(.tl-open)[data-rule="no-consumers"][data-node="{LIVE_NODE}"]')
        band.wait_for(timeout=30000)
        appeared, cleared = float(band.get_attribute("data-from")), float(band.get_attribute("data-to"))
        assert empty < appeared <= backlog < cleared <= drained
        click_band(page, LIVE_NODE)
        wait_for_backlog(page, LIVE_BACKLOG)
        assert wait_until_shown(page).endswith("not live")
        assert appeared <= moment_shown(page) <= cleared
        page.click("#tab-findings")
        assert ("no-consumers", LIVE_NODE) in findings_listed(page)
        page.click("#tl-live")
        page.click("#tab-details")
        wait_for_ready(page, 0)

        exported = server.get("/api/export", params={"from": empty - 2, "to": drained + 2})
        assert exported.status_code == 200
        replay_file = tmp_path / "incident.db"
        replay_file.write_bytes(exported.content)
    finally:
        stop_live(server)

    # A fresh process with no broker: the same bar, the same backlog.
    with replaying(replay_file) as replay_url:
        open_recorded(page, replay_url + url)
        select_by_search(page, LIVE_QUEUE, "queue")
        wait_for_ready(page, 0)
        band = page.locator(f'.tl-band.tl-finding[data-rule="no-consumers"][data-node="{LIVE_NODE}"]')
        band.wait_for(timeout=30000)
        assert (float(band.get_attribute("data-from")), float(band.get_attribute("data-to"))) == (appeared, cleared)
        click_band(page, LIVE_NODE)
        wait_for_backlog(page, LIVE_BACKLOG)  # the band's middle, read back from the exported file
        assert wait_until_shown(page).endswith(" of the recording")
        assert page.errors == []
