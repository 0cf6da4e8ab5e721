"""What recording costs: the hub's time, the file's size, and the time to open a moment.

    .venv/bin/python -m benchmarks.recording_cost hub      # per-call cost on the hub thread; hub apply time
    .venv/bin/python -m benchmarks.recording_cost hour     # bytes per hour, 2,000 queues, 50 changes per 2 s poll
    .venv/bin/python -m benchmarks.recording_cost demo --minutes 10   # bytes per hour of the demo, in real time
    .venv/bin/python -m benchmarks.recording_cost day --file /tmp/day.db   # a synthetic 24-hour file: size,
                                                                           # time to open moments, a 1-hour export

The 2,000-queue broker is socket_load.py's synthetic one (40 topic exchanges, 2,000 bindings,
2,000 consumers on 20 connections), read through the poller's own snapshot builder and the
hub's own graph builder and diff. ``hour`` and ``day`` feed the recording's writer directly
with what the hub would enqueue at simulated times (a patch every 2 s, a keyframe every
300 s), so an hour or a day is written in minutes; ``hub`` and ``demo`` run the real thing.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from typing import Any

from tests.synthetic import VHOST, SyntheticBroker
from visualiser import create_app, service_of
from visualiser.config import Settings
from visualiser.hub import Hub, VhostView
from visualiser.metrics import Metrics
from visualiser.model.diff import diff_graphs
from visualiser.model.topology import Graph, build_graph
from visualiser.recording.export import export
from visualiser.recording.reader import RecordingReader
from visualiser.recording.recorder import KEYFRAME_SECONDS, Recorder
from visualiser.recording.store import Store
from visualiser.recording.writer import Writer
from visualiser.routing.changes import changes_routing
from visualiser.sources.management_api import build_broker_snapshot

POLL_SECONDS = 2.0
CHANGES = 50
BROKER = {"rabbitmq_version": "synthetic"}


def percentiles(values: list[float], unit: str = "ms", scale: float = 1000.0) -> str:
    ordered = sorted(values)

    def at(share: float) -> float:
        return ordered[min(len(ordered) - 1, int(len(ordered) * share))] * scale

    return (
        f"n={len(ordered)} p50={statistics.median(ordered) * scale:.2f}{unit} p90={at(0.9):.2f}{unit} "
        f"p99={at(0.99):.2f}{unit} max={ordered[-1] * scale:.2f}{unit}"
    )


def file_bytes(path: str) -> int:
    return sum(os.path.getsize(p) for p in (path, path + "-wal") if os.path.exists(p))


def synthetic_graph(broker: SyntheticBroker) -> Graph:
    return build_graph(build_broker_snapshot(broker.tick(CHANGES)).vhosts[VHOST])


def patch_message(old: Graph, new: Graph, version: int) -> dict[str, Any]:
    """As Hub._emit_patch builds it."""
    patch = diff_graphs(old, new)
    return {
        "vhost": VHOST,
        "from": version,
        "to": version + 1,
        "add": patch["add"],
        "remove": patch["remove"],
        "change": patch["change"],
        "routing": changes_routing(old, patch),
    }


# ---- the hub's side ------------------------------------------------------------------------------------


def time_calls(fn: Callable[[], None], calls: int) -> float:
    """Seconds per call, the best of five runs (the machine is shared)."""
    best = float("inf")
    for _ in range(5):
        started = time.perf_counter()
        for _ in range(calls):
            fn()
        best = min(best, (time.perf_counter() - started) / calls)
    return best


def activity_frame() -> dict[str, Any]:
    figures = {"count": 3, "rate": 12.0, "states": {"sent": 2, "received": 1}}
    return {
        "vhost": VHOST,
        "interval": 0.25,
        "at": time.time(),
        "events": 60,
        "edges": {f"binding:{i}": dict(figures) for i in range(20)},
        "nodes": {f"worker:w{i}": dict(figures) for i in range(10)},
        "samples": [
            {
                "uuid": f"u{i}",
                "name": "shop.task",
                "state": "sent",
                "queue": "q",
                "exchange": "x",
                "worker": None,
                "runtime": None,
                "path": [],
            }
            for i in range(12)
        ],
        "gaps": None,
    }


def bench_hub(args: argparse.Namespace) -> None:
    broker = SyntheticBroker(2000, 40)
    first = synthetic_graph(broker)
    second = synthetic_graph(broker)
    patch = patch_message(first, second, 1)
    activity = activity_frame()
    calls = 20_000
    with tempfile.TemporaryDirectory() as directory:
        hub = Hub(metrics=Metrics())
        recorder = Recorder(os.path.join(directory, "r.db"), hub, mode="live", queue_items=10 * calls)

        def nothing(event: str, data: Any, to: str | None = None) -> None:
            pass

        tapped = recorder.tap(nothing)
        print(f"per call on the hub thread ({calls} calls, best of 5 runs):")
        for name, data in (("patch (50 changes)", patch), ("activity frame", activity)):
            event = "patch" if name.startswith("patch") else "activity"
            plain = time_calls(lambda d=data, e=event: nothing(e, d), calls)
            recorded = time_calls(lambda d=data, e=event: tapped(e, d), calls)
            print(
                f"  {name}: emit alone {plain * 1e6:.2f} us, with the recording's tap {recorded * 1e6:.2f} us "
                f"(+{(recorded - plain) * 1e6:.2f} us)"
            )
        view = VhostView(VHOST, 2, second, build_broker_snapshot(broker.tick(0)).vhosts[VHOST], "synthetic")
        recorder.on_view(view)  # a keyframe is enqueued; the next ones within 300 s are not
        listener = time_calls(lambda: recorder.on_view(view), calls)
        print(f"  topology listener, no keyframe due: {listener * 1e6:.2f} us")
        recorder.store.close()
        recorder._lock.release()
    writer_cpu()
    print(
        f"hub apply (post -> patch emitted, wall clock), 2,000 queues, {args.polls} polls back to back, "
        f"rounds alternating:"
    )
    for _round in range(args.rounds):
        for record in (False, True):
            print(f"  {'with' if record else 'without'} recording: {percentiles(hub_apply_times(record, args.polls))}")


def writer_cpu() -> None:
    """CPU the writer thread spends (the time it can hold the GIL from the hub), per item."""
    broker = SyntheticBroker(2000, 40)
    hub = SimulatedHub(synthetic_graph(broker))
    rng = random.Random(3)
    with tempfile.TemporaryDirectory() as directory:
        store = Store(os.path.join(directory, "w.db"))
        writer = Writer(store, "live")
        t = time.time()
        with store.transaction():
            writer.begin(t)

        def cpu(items: list[Any]) -> float:
            began = time.thread_time()
            with store.transaction():
                writer.write(items)
            return time.thread_time() - began

        keyframes = [cpu([hub.keyframe(t + i)]) for i in range(5)]
        patches = [cpu([hub.depth_patch(t + 10 + i, rng)]) for i in range(300)]
        store.close()
    print(f"writer thread CPU per patch (50 changes, its series rows, one commit): {percentiles(patches)}")
    print(f"writer thread CPU per keyframe (2,000 queues; one every {KEYFRAME_SECONDS:g} s): {percentiles(keyframes)}")


def hub_apply_times(record: bool, polls: int) -> list[float]:
    """The real app's hub and recorder (writer thread running), fed polls one after another."""
    with tempfile.TemporaryDirectory() as directory:
        settings = Settings(log_level="ERROR", record=os.path.join(directory, "r.db") if record else None)
        service = service_of(create_app(settings, sources=[]))
        emitted: list[float] = []
        service.hub.set_emitter(
            service.recording.tap(
                lambda event, data, to=None: emitted.append(time.perf_counter()) if event == "patch" else None
            )
        )
        service.start()
        broker = SyntheticBroker(2000, 40)
        times = []
        try:
            for _ in range(polls):
                snapshot = build_broker_snapshot(broker.tick(CHANGES))
                before = len(emitted)
                posted = time.perf_counter()
                service.hub.publish_broker("synthetic", snapshot)
                service.hub.drain(30)
                if len(emitted) > before:
                    times.append(emitted[-1] - posted)
        finally:
            service.stop()
        return times[1:]


# ---- size: the writer fed at simulated times --------------------------------------------------------------


class SimulatedHub:
    """What the hub enqueues for the synthetic broker, at simulated times."""

    def __init__(self, graph: Graph):
        self.graph, self.version = graph, 1
        self.nodes = dict(graph.nodes)

    def keyframe(self, t: float) -> tuple[float, str, str, Any]:
        return (t, "view", VHOST, (self.version, Graph(dict(self.nodes), self.graph.edges), BROKER, "synthetic"))

    def depth_patch(self, t: float, rng: random.Random) -> tuple[float, str, str, Any]:
        """50 queue depths changed: the patch the hub sends for it ({"id", "messages_ready"} each)."""
        changes = []
        for node_id in rng.sample(sorted(n for n in self.nodes if n.startswith("queue:")), CHANGES):
            node = self.nodes[node_id]
            depth = max(0, (node["messages_ready"] or 0) + rng.choice((-2, -1, 1, 2)))
            if depth != node["messages_ready"]:
                self.nodes[node_id] = {**node, "messages_ready": depth}
                changes.append({"id": node_id, "messages_ready": depth})
        self.version += 1
        patch = {
            "vhost": VHOST,
            "from": self.version - 1,
            "to": self.version,
            "add": {"nodes": [], "edges": []},
            "remove": {"nodes": [], "edges": []},
            "change": {"nodes": changes, "edges": []},
            "routing": False,
        }
        return (t, "patch", VHOST, patch)


def simulate(path: str, hours: float, seed: int = 1) -> tuple[float, float, float]:
    """Write ``hours`` of the synthetic broker; returns (start, end, seconds it took)."""
    rng = random.Random(seed)
    broker = SyntheticBroker(2000, 40, seed=seed)
    hub = SimulatedHub(synthetic_graph(broker))
    check_patch_shape(broker)
    store = Store(path)
    writer = Writer(store, "live")
    start = time.time() - hours * 3600.0
    started = time.perf_counter()
    with store.transaction():
        writer.begin(start)
    t, next_keyframe = start, start
    while t < start + hours * 3600.0:
        items = [hub.depth_patch(t, rng)] if t > start else []
        if t >= next_keyframe:
            items.append(hub.keyframe(t))
            next_keyframe = t + KEYFRAME_SECONDS
        with store.transaction():
            writer.write(items)
            assert writer.session is not None
            store.touch_session(writer.session, t)
        t += POLL_SECONDS
    with store.transaction():
        writer.end(t - POLL_SECONDS)
    store.close()
    return start, t - POLL_SECONDS, time.perf_counter() - started


def check_patch_shape(broker: SyntheticBroker) -> None:
    """The simulated patch is what the real diff gives for a depth change."""
    old = synthetic_graph(broker)
    new = synthetic_graph(broker)
    changed = patch_message(old, new, 1)["change"]["nodes"]
    assert changed and all(set(c) == {"id", "messages_ready"} for c in changed), changed[:2]


def bench_hour(_args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as directory:
        path = os.path.join(directory, "hour.db")
        _start, _end, took = simulate(path, 1.0)
        print(
            f"2,000 queues, {CHANGES} depth changes per {POLL_SECONDS:g} s poll, one hour "
            f"(written in {took:.0f} s): {file_bytes(path) / 1024 / 1024:.1f} MB"
        )
        print(frames_by_kind(path))


def frames_by_kind(path: str) -> str:
    import sqlite3

    conn = sqlite3.connect(path)
    rows = conn.execute("SELECT kind, COUNT(*), SUM(LENGTH(body)) FROM frames GROUP BY kind ORDER BY kind").fetchall()
    series = conn.execute("SELECT COUNT(*) FROM series").fetchone()[0]
    conn.close()
    parts = ", ".join(f"{kind} {count} ({size / 1024 / 1024:.1f} MB)" for kind, count, size in rows)
    return f"  frames: {parts}; series rows {series}"


# ---- the demo, in real time ---------------------------------------------------------------------------------


def bench_demo(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as directory:
        path = os.path.join(directory, "demo.db")
        service = service_of(create_app(Settings(demo=True, log_level="ERROR", record=path)))
        service.start()
        started = time.time()
        try:
            time.sleep(args.minutes * 60)
            assert service.recording.recorder is not None
            service.recording.recorder.sync()
        finally:
            service.stop()
        seconds = time.time() - started
        size = file_bytes(path)
        print(
            f"demo, {seconds / 60:.1f} minutes: {size / 1024:.0f} KiB, {size / seconds * 3600 / 1024 / 1024:.1f} MB "
            f"per hour"
        )
        print(frames_by_kind(path))


# ---- a day: size, opening moments, exporting an hour ----------------------------------------------------


def bench_day(args: argparse.Namespace) -> None:
    path = args.file
    if not os.path.exists(path):
        start, end, took = simulate(path, 24.0)
        print(f"24 hours of 2,000 queues written in {took:.0f} s: {file_bytes(path) / 1024 / 1024:.0f} MB")
        print(frames_by_kind(path))
    window = RecordingReader(path).window()
    assert window is not None
    start, end = window.start, window.end
    service = service_of(create_app(Settings(log_level="ERROR", replay=path)))
    client = service.app.test_client()
    rng = random.Random(7)
    moments = [rng.uniform(start + 60, end) for _ in range(args.moments)]
    opened = timed(lambda at: client.get(f"/api/topology?vhost={VHOST}&at={at}"), moments)
    print(
        f"GET /api/topology?at= (any moment of {(end - start) / 3600:.0f} h, {len(moments)} at random): "
        f"{percentiles(opened)}"
    )
    # The most work a moment takes: just before a keyframe, every patch since the last one.
    worst = [keyframe_t - 0.5 for keyframe_t in keyframe_times(path)[1:21]]
    opened = timed(lambda at: client.get(f"/api/topology?vhost={VHOST}&at={at}"), worst)
    print(
        f"GET /api/topology?at= just before a keyframe ({KEYFRAME_SECONDS / POLL_SECONDS - 1:.0f} patches to "
        f"apply, 20 of them): {percentiles(opened)}"
    )
    findings = timed(lambda at: client.get(f"/api/diagnostics?vhost={VHOST}&at={at}"), moments[:20])
    print(f"GET /api/diagnostics?at=: {percentiles(findings)}")
    history = timed(lambda _at: client.get(f"/api/history?vhost={VHOST}&node=queue:queue-00007"), moments[:10])
    print(f"GET /api/history (one queue, the whole window, 500 points): {percentiles(history)}")
    frames = timed(lambda at: client.get(f"/api/frames?vhost={VHOST}&from={at}&to={at + 60}"), moments[:20])
    print(f"GET /api/frames (a minute: 60x play for one second): {percentiles(frames)}")
    out = os.path.join(tempfile.mkdtemp(), "hour.db")
    began = time.perf_counter()
    done = export(path, out, end - 3600, end)
    print(
        f"export of the last hour: {done.bytes / 1024 / 1024:.1f} MB in {time.perf_counter() - began:.1f} s "
        f"({done.frames} frames)"
    )
    os.remove(out)


def keyframe_times(path: str) -> list[float]:
    import sqlite3

    conn = sqlite3.connect(path)
    times = [t for (t,) in conn.execute("SELECT t FROM frames WHERE kind = 'keyframe' ORDER BY t")]
    conn.close()
    return times


def timed(call: Callable[[float], Any], moments: list[float]) -> list[float]:
    times = []
    for at in moments:
        began = time.perf_counter()
        response = call(at)
        times.append(time.perf_counter() - began)
        assert response.status_code == 200, response.get_data(as_text=True)[:200]
    return times


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="what", required=True)
    hub = sub.add_parser("hub")
    hub.add_argument("--polls", type=int, default=100)
    hub.add_argument("--rounds", type=int, default=2)
    sub.add_parser("hour")
    demo = sub.add_parser("demo")
    demo.add_argument("--minutes", type=float, default=10.0)
    day = sub.add_parser("day")
    day.add_argument("--file", required=True, help="the 24-hour file (written first when it does not exist)")
    day.add_argument("--moments", type=int, default=100)
    args = parser.parse_args(argv)
    {"hub": bench_hub, "hour": bench_hour, "demo": bench_demo, "day": bench_day}[args.what](args)
    threading.Event().wait(0)  # nothing left running
    return 0


if __name__ == "__main__":
    sys.exit(main())
