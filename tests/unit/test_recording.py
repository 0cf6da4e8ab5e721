"""The recording: what the hub showed, written through the real hub and read back for any
moment; findings and outages marked; retention by age and by size; a full queue, a full disk
and a second service on the same file."""

from __future__ import annotations

import math
import random
import sqlite3
import threading
import time

import pytest

from tests.conftest import wait_for
from tests.recording_support import Feed, as_dicts, graph_of, post, recorded_service, vhost_with, write
from visualiser.hub import Hub
from visualiser.metrics import Metrics
from visualiser.model.entities import VhostSnapshot
from visualiser.model.topology import Graph
from visualiser.recording import recorder as recorder_module
from visualiser.recording.reader import NotThere, OutsideWindow, RecordingReader
from visualiser.recording.recorder import Recorder
from visualiser.recording.schema import RecordingError
from visualiser.recording.store import Store
from visualiser.recording.writer import Writer
from visualiser.sources.status import SourceStatus

HOUR = 3600.0


# ---- through the real hub ------------------------------------------------------------------------


def test_any_moment_rebuilds_the_graph_the_hub_showed_then(tmp_path) -> None:
    path = str(tmp_path / "rec.db")
    shown: list[tuple[float, dict, dict, int]] = []
    with recorded_service(path) as service:
        steps = [
            vhost_with({"orders": 0}),
            vhost_with({"orders": 5}),
            vhost_with({"orders": 5, "refunds": 1}),
            vhost_with({"orders": 9, "refunds": 1}, bound=("orders",)),
            vhost_with({"refunds": 0}),
            vhost_with({"refunds": 3, "invoices": 2}, bound=("invoices",)),
        ]
        for step in steps:
            post(service, step)
            view = service.hub.view("/")
            shown.append((time.time(), *as_dicts(view.graph.nodes, view.graph.edges), view.version))
        assert service.recording.recorder.sync()
        reader = RecordingReader(path)
        for at, nodes, edges, version in shown:
            moment = reader.moment("/", at)
            assert (as_dicts(moment.nodes, moment.edges), moment.version) == ((nodes, edges), version)
        with pytest.raises(OutsideWindow) as outside:
            reader.moment("/", shown[0][0] - HOUR)
        assert outside.value.window is not None and outside.value.window.end >= shown[-1][0]


def test_findings_are_marked_appearing_and_clearing_and_answered_at_a_moment(tmp_path) -> None:
    path = str(tmp_path / "rec.db")
    bound = ("orders",)  # bound and consumed: no finding at all
    with recorded_service(path, vhost_with({"orders": 0}, bound=bound)) as service:
        before = time.time()
        post(service, vhost_with({"orders": 40}, consumers=0, bound=bound))  # a backlog with no consumer
        shown = wait_for(lambda: service.diagnostics.findings("/"), message="the no-consumers finding")
        assert "no-consumers" in {f["rule"] for f in shown}
        during = time.time()
        post(service, vhost_with({"orders": 0}, consumers=1, bound=bound))
        wait_for(lambda: not service.diagnostics.findings("/"), message="the findings cleared")
        after = time.time()
        assert service.recording.recorder.sync()
        reader = RecordingReader(path)
        assert reader.moment("/", before).findings == []
        assert _keys(reader.moment("/", during).findings) == _keys(shown)
        assert reader.moment("/", after).findings == []
        marks = reader.timeline("/", None, None)["marks"]
        appeared = [m for m in marks if m["kind"] == "finding-appeared"]
        cleared = [m for m in marks if m["kind"] == "finding-cleared"]
        assert _keys(appeared) == _keys(cleared) == _keys(shown)
        assert all(before <= m["t"] <= during for m in appeared) and all(during <= m["t"] <= after for m in cleared)


def _keys(findings: list[dict]) -> set[tuple[str, str, str]]:
    return {(f["rule"], f["node"], f["severity"]) for f in findings}


def test_source_outages_are_marked_and_statuses_answered_at_a_moment(tmp_path) -> None:
    path = str(tmp_path / "rec.db")
    with recorded_service(path) as service:
        hub = service.hub
        hub.publish_status(SourceStatus("test", "unreachable", "test source", last_error="refused"))
        hub.drain()
        down = time.time()
        hub.publish_status(SourceStatus("test", "ok", "test source", time.time()))
        post(service, vhost_with({"orders": 1}))  # a patch after the outage
        assert service.recording.recorder.sync()
        reader = RecordingReader(path)
        assert reader.moment("/", down).status["state"] == "unreachable"
        assert reader.moment("/", time.time()).status["state"] == "ok"
        marks = [
            (m["kind"], m["source"], m["state"])
            for m in reader.timeline("/", None, None)["marks"]
            if m["kind"].startswith("source-")
        ]
        assert marks == [("source-down", "test", "unreachable"), ("source-up", "test", "ok")]


def test_a_vhost_removed_is_not_there_afterwards(tmp_path) -> None:
    path = str(tmp_path / "rec.db")
    with recorded_service(path) as service:
        post(service, vhost_with({"orders": 1}), vhost_with({"jobs": 2}, vhost="other"))
        both = time.time()
        post(service, vhost_with({"orders": 1}))
        assert service.recording.recorder.sync()
        reader = RecordingReader(path)
        assert reader.vhosts_at(both) == ["/", "other"]
        assert reader.vhosts_at(time.time()) == ["/"]
        with pytest.raises(NotThere):
            reader.moment("other", time.time())


def test_a_full_queue_drops_and_counts_and_the_recording_heals(tmp_path) -> None:
    path = str(tmp_path / "rec.db")
    hub = Hub(metrics=Metrics())
    emitted: list[str] = []
    recorder = Recorder(path, hub, mode="live", queue_items=3)
    hub.set_emitter(recorder.tap(lambda event, data, to=None: emitted.append(event)))
    hub.add_listener(recorder.on_view)
    # The writer stalls on its first batch (a slow disk) until released: the queue fills behind it.
    writing, release = threading.Event(), threading.Event()
    write = recorder.writer.write

    def stalled_write(items):
        writing.set()
        release.wait(30)
        write(items)

    recorder.writer.write = stalled_write  # type: ignore[method-assign]
    hub.start()
    recorder.start()
    try:
        hub.publish_broker("test", _broker(vhost_with({"orders": 0})))
        assert writing.wait(30)
        for depth in range(1, 9):
            hub.publish_broker("test", _broker(vhost_with({"orders": depth})))
        hub.drain()
        assert recorder.dropped > 0
        assert emitted.count("patch") == 8  # the live view lost nothing
        release.set()
        assert recorder.sync()
        for depth in (99, 100):  # the next polls after the gap
            hub.publish_broker("test", _broker(vhost_with({"orders": depth})))
            hub.drain()
            assert recorder.sync()
        moment = RecordingReader(path).moment("/", time.time())
        assert moment.nodes["queue:orders"]["messages_ready"] == 100
        assert moment.version == hub.view("/").version
    finally:
        release.set()
        recorder.stop()
        hub.stop()


def test_a_full_disk_pauses_the_recording_says_so_and_resumes(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(recorder_module, "RETRY_SECONDS", 0.2)
    path = str(tmp_path / "rec.db")
    with recorded_service(path) as service:
        recorder = service.recording.recorder
        assert recorder.sync()
        pages = recorder.store.conn.execute("PRAGMA page_count").fetchone()[0]
        # SQLite's own limit on the file's size gives the same error a full disk does (SQLITE_FULL).
        recorder.store.conn.execute(f"PRAGMA max_page_count = {pages}")
        for depth in range(1, 40):
            post(service, vhost_with({f"queue-{i}": depth for i in range(60)}))
            if recorder.state == "paused":
                break
        wait_for(lambda: recorder.state == "paused", message="the recording paused")
        status = wait_for(lambda: service.hub.statuses().get("recording"), message="its status")
        wait_for(lambda: service.hub.statuses()["recording"].state == "error", message="its status says so")
        status = service.hub.statuses()["recording"]
        assert "the disk holding rec.db is full" in status.last_error  # what is wrong,
        assert "free some space or lower --record-max-mb" in status.last_error  # the fix,
        assert "the live view goes on" in status.last_error  # and what still works
        post(service, vhost_with({"queue-0": 12345}))  # the live view goes on
        assert service.hub.view("/").graph.nodes["queue:queue-0"]["messages_ready"] == 12345
        recorder.store.conn.execute("PRAGMA max_page_count = 1073741823")
        wait_for(lambda: recorder.state == "recording", 20, message="the recording resumed")
        post(service, vhost_with({"queue-0": 777}))
        assert recorder.sync()
        reader = RecordingReader(path)
        assert len(reader.spans()) == 2  # the pause is a gap between two spans
        assert reader.moment("/", time.time()).nodes["queue:queue-0"]["messages_ready"] == 777
        assert recorder.info()["lost_while_paused"] > 0


def test_a_second_service_on_the_same_file_refuses_with_a_clear_message(tmp_path) -> None:
    path = str(tmp_path / "rec.db")
    with recorded_service(path):
        with pytest.raises(RecordingError) as refused:
            Recorder(path, Hub(), mode="live")
        assert "another service is already recording to this file" in str(refused.value)
        assert "--no-record" in str(refused.value) and "--record" in str(refused.value)
    second = Recorder(path, Hub(), mode="live")  # free again once the first has stopped
    second.stop()


def _broker(*vhosts: VhostSnapshot):
    from tests.conftest import snapshot_of

    return snapshot_of(*vhosts)


# ---- retention -------------------------------------------------------------------------------------


def _record_hours(
    store: Store, start: float, hours: float, step: float, queues: int = 5, seed: int = 1
) -> dict[float, Graph]:
    """Polls every ``step`` seconds from ``start``, a keyframe every 300 s, as the hub would
    enqueue them; returns the graph at each poll."""
    rng = random.Random(seed)
    writer = Writer(store, "live")
    feed = Feed()
    depths = {f"q{i}": 0 for i in range(queues)}
    shown: dict[float, Graph] = {}
    with store.transaction():
        writer.begin(start)
    t, next_keyframe = start, start
    while t < start + hours * HOUR:
        for name in rng.sample(sorted(depths), max(1, queues // 5)):
            depths[name] = rng.randrange(0, 1000)
        graph = graph_of(depths)
        items = feed.show(t, graph, keyframe=t >= next_keyframe)
        if t >= next_keyframe:
            next_keyframe = t + 300.0
        write(store, writer, items, t)
        shown[t] = graph  # never changed once built, as the hub's
        t += step
    with store.transaction():
        writer.end(t - step)
    return shown


def test_retention_by_age_keeps_the_last_hours_and_every_moment_in_them(tmp_path) -> None:
    store = Store(str(tmp_path / "rec.db"))
    start = 1_700_000_000.0
    shown = _record_hours(store, start, 30, 60.0)
    end = max(shown)
    retained = store.retain(end, 24 * HOUR, 10**12)
    assert retained.frames > 0 and retained.cutoff == end - 24 * HOUR
    reader = RecordingReader(store.path)
    window = reader.window()
    assert window.start == end - 24 * HOUR and window.end == end
    kept = [t for t in shown if t >= window.start]
    for t in kept[:3] + kept[len(kept) // 2 : len(kept) // 2 + 3] + kept[-3:]:
        moment = reader.moment("/", t)
        assert as_dicts(moment.nodes, moment.edges) == as_dicts(shown[t].nodes, shown[t].edges)
    with pytest.raises(OutsideWindow):
        reader.moment("/", window.start - 120)
    with store.transaction():
        oldest_frame = store.conn.execute("SELECT MIN(t) FROM frames").fetchone()[0]
    assert oldest_frame >= window.start - 300.0  # at most the keyframe the window starts from
    points = reader.history("/", "queue:q0", None, None, points=2000)["points"]
    assert points[0]["t"] == window.start


def test_retention_by_size_keeps_the_file_under_its_limit_and_the_newest_moments(tmp_path) -> None:
    path = str(tmp_path / "rec.db")
    store = Store(path)
    start = 1_700_000_000.0
    shown = _record_hours(store, start, 1, 10.0, queues=100)
    used = store.used_bytes()
    limit = used // 3
    retained = store.retain(max(shown), 10**9, limit)
    assert retained.used_bytes <= limit < used
    store.close()
    import os

    assert os.path.getsize(path) <= limit * 1.1  # the freed pages went back to the file system
    reader = RecordingReader(path)
    window = reader.window()
    assert window.start > start and window.end == max(shown)
    for t in sorted(shown)[-5:]:
        moment = reader.moment("/", t)
        assert as_dicts(moment.nodes, moment.edges) == as_dicts(shown[t].nodes, shown[t].edges)


def test_a_session_that_ended_before_the_cutoff_goes_whole(tmp_path) -> None:
    store = Store(str(tmp_path / "rec.db"))
    start = 1_700_000_000.0
    _record_hours(store, start, 2, 60.0)
    _record_hours(store, start + 26 * HOUR, 2, 60.0)
    store.retain(start + 28 * HOUR, 24 * HOUR, 10**12)
    reader = RecordingReader(store.path)
    assert len(reader.spans()) == 1 and reader.window().start >= start + 26 * HOUR


# ---- the writer alone ------------------------------------------------------------------------------


def test_activity_frames_are_summed_per_second(tmp_path) -> None:
    store = Store(str(tmp_path / "rec.db"))
    writer = Writer(store, "live")
    t0 = 1_700_000_000.0
    with store.transaction():
        writer.begin(t0)
    frames = [
        (
            t0 + 0.1 + 0.25 * i,
            "activity",
            "/",
            {
                "vhost": "/",
                "interval": 0.25,
                "at": t0 + 0.1 + 0.25 * i,
                "events": 2,
                "edges": {"binding:x": {"count": 2, "rate": 8.0, "states": {"sent": 2}}},
                "nodes": {"worker:w": {"count": 1, "rate": 4.0, "states": {"succeeded": 1}}},
                "samples": [],
                "gaps": None,
            },
        )
        for i in range(6)
    ]  # 4 in the first second, 2 in the next
    write(store, writer, frames, t0 + 5)
    played = RecordingReader(store.path).frames("/", t0, t0 + 5)["frames"]
    activity = [f["data"] for f in played if f["event"] == "activity"]
    assert [a["events"] for a in activity] == [8, 4]
    assert activity[0]["edges"]["binding:x"] == {"count": 8, "rate": 8.0, "states": {"sent": 8}}
    assert math.isclose(activity[0]["interval"], 1.0)


def test_a_patch_that_does_not_follow_is_not_stored_and_asks_for_a_keyframe(tmp_path) -> None:
    store = Store(str(tmp_path / "rec.db"))
    wanted: list[str] = []
    writer = Writer(store, "live", want_keyframe=wanted.append)
    feed = Feed()
    t0 = 1_700_000_000.0
    with store.transaction():
        writer.begin(t0)
    write(store, writer, feed.show(t0, graph_of({"a": 1})), t0)
    feed.show(t0 + 1, graph_of({"a": 2}))  # lost on the way
    write(store, writer, feed.show(t0 + 2, graph_of({"a": 3})), t0 + 2)
    assert wanted == ["/"]
    assert RecordingReader(store.path).moment("/", t0 + 2).nodes["queue:a"]["messages_ready"] == 1


def test_a_file_that_is_not_a_recording_is_never_taken_over(tmp_path) -> None:
    other = tmp_path / "notes.db"
    conn = sqlite3.connect(other)
    conn.execute("CREATE TABLE notes (text TEXT)")
    conn.execute("INSERT INTO notes VALUES ('keep me')")
    conn.commit()
    conn.close()
    before = other.read_bytes()
    with pytest.raises(RecordingError) as refused:
        Recorder(str(other), Hub(), mode="live")
    assert "not a recording" in str(refused.value)
    assert other.read_bytes() == before
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    with pytest.raises(RecordingError, match="not a recording"):
        Recorder(str(text), Hub(), mode="live")
    assert text.read_text() == "hello"


def test_depth_history_over_the_window_is_downsampled_to_peaks(tmp_path) -> None:
    store = Store(str(tmp_path / "rec.db"))
    writer = Writer(store, "live")
    feed = Feed()
    t0 = 1_700_000_000.0
    with store.transaction():
        writer.begin(t0)
    depths = [i % 50 for i in range(1000)]  # a change every poll
    depths[500] = 9999  # and one spike among them
    for i, depth in enumerate(depths):
        write(store, writer, feed.show(t0 + i, graph_of({"a": depth}), keyframe=i % 300 == 0), t0 + i)
    history = RecordingReader(store.path).history("/", "queue:a", None, None, points=100)
    assert len(history["points"]) <= 100 and history["step"] is not None
    assert max(p["messages_ready"] for p in history["points"]) == 9999
    full = RecordingReader(store.path).history("/", "queue:a", t0 + 490, t0 + 510, points=2000)
    assert [p["messages_ready"] for p in full["points"]].count(9999) == 1 and full["step"] is None


def test_hub_cost_is_an_enqueue(tmp_path) -> None:
    """The tap and the listener never touch the file: with the writer stopped, the hub still
    runs and the items wait (or are dropped and counted)."""
    recorder = Recorder(str(tmp_path / "rec.db"), Hub(), mode="live", queue_items=10)
    sent: list[str] = []
    emit = recorder.tap(lambda event, data, to=None: sent.append(event))
    for _ in range(20):
        emit("patch", {"vhost": "/", "from": 1, "to": 2, "add": {}, "remove": {}, "change": {}})
    assert sent == ["patch"] * 20 and recorder.dropped == 10
    recorder.store.close()
    recorder._lock.release()


def test_frames_are_cut_between_moments_never_inside_one(tmp_path) -> None:
    """Frames sent at the same moment come in the same answer: the next page starts after it."""
    store = Store(str(tmp_path / "rec.db"))
    writer = Writer(store, "live")
    feed = Feed()
    t0 = 1_700_000_000.0
    with store.transaction():
        writer.begin(t0)
    write(store, writer, feed.show(t0, graph_of({"a": 1})), t0)
    same = feed.show(t0 + 1, graph_of({"a": 2})) + feed.show(t0 + 1, graph_of({"a": 3}))
    write(store, writer, same + feed.show(t0 + 2, graph_of({"a": 4})), t0 + 2)
    reader = RecordingReader(store.path)
    first = reader.frames("/", t0, t0 + 2, limit=1)
    assert [f["data"]["to"] for f in first["frames"]] == [2, 3] and first["next"] == t0 + 1
    rest = reader.frames("/", first["next"], t0 + 2, limit=1)
    assert [f["data"]["to"] for f in rest["frames"]] == [4] and rest["next"] is None


def test_a_place_that_cannot_hold_the_file_is_refused_in_one_line(tmp_path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    with pytest.raises(RecordingError) as refused:
        Recorder(str(blocker / "rec.db"), Hub(), mode="live")
    assert "cannot record there" in str(refused.value) and "--no-record" in str(refused.value)
    assert "\n" not in str(refused.value)
