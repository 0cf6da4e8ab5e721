"""Socket.IO fan-out under load: N concurrent clients on a large topology receiving patches.

The server is the real app (hub, Flask-SocketIO in threading mode, the production server) fed by a
synthetic source that posts a management-API-shaped broker every poll interval through the
poller's own snapshot builder, with a slice of queue depths changed each time so that every
poll yields a patch. Clients run in separate processes (python-socketio over websocket)
and keep their graph exactly as the page does: snapshot, then patches in version order,
resync on a gap.

It prints: the poll cadence seen at the server (interval between patches), the hub's
post-to-emit time, fan-out latency (patch emitted -> client received, p50/p99/max, in
wall-clock time shared by the processes), patches lost or out of order, and the server's
RSS over the soak (start after warm-up, end, max).

    .venv/bin/python -m benchmarks.socket_load --clients 100 --queues 2000 --duration 600
"""

from __future__ import annotations

import argparse
import json
import logging
import multiprocessing as mp
import socket
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

from tests.synthetic import VHOST, InOrderClient, SyntheticBroker, SyntheticSource, rss_mb
from visualiser import create_app, service_of
from visualiser.config import Settings
from visualiser.model.diff import apply_patch
from visualiser.model.topology import Graph

RECORDINGS: list[Any] = []  # the server's recording (--record), for its figures at the end


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(args: argparse.Namespace) -> tuple[int, SyntheticSource, list[tuple[float, float]], Counter[str]]:
    """The real app on a free port. Returns the port, the source, and the (posted, emitted)
    wall-clock times of each patch, which the emitter instrumentation records."""
    service = service_of(create_app(Settings(log_level="ERROR", record=args.record), sources=[]))
    RECORDINGS.append(service.recording)
    source = SyntheticSource(
        service.hub,
        SyntheticBroker(args.queues, args.exchanges, not args.unconsumed, args.stalled),
        args.interval,
        args.changes,
        args.volatile,
    )
    service.sources.append(source)
    emitted: list[tuple[float, float]] = []
    traffic: Counter[str] = Counter()  # bytes per event name, as sent to one client

    def emit(event: str, data: Any, to: str | None = None) -> None:
        traffic[event] += len(json.dumps(data, default=str))
        if event == "patch":
            now = time.time()
            emitted.append((source.posted_at, now))
            data = {**data, "bench_sent": now}  # benchmark-only: lets clients measure fan-out
        service.socketio.emit(event, data, to=to)

    service.hub.set_emitter(service.recording.tap(emit))  # --record: recorded as create_app's emitter is
    port = free_port()
    service.start()
    threading.Thread(
        target=service.socketio.run,
        args=(service.app,),
        daemon=True,
        kwargs={"host": "127.0.0.1", "port": port, "allow_unsafe_werkzeug": True, "log_output": False},
    ).start()
    return port, source, emitted, traffic


# ---- the clients (separate processes) ----------------------------------------------------------------


class Client:
    def __init__(self, url: str):
        self.graph: Graph | None = None
        self.version: int | None = None
        self.latencies: list[tuple[float, float]] = []  # (sent, latency)
        self.patches = 0
        self.awaiting_snapshot = False  # a resync is in flight: later patches cannot apply either
        self.gaps: list[float] = []  # when a patch did not follow our version
        self.lock = threading.Lock()
        self.sio = InOrderClient(reconnection=True)
        self.sio.on("snapshot", self.on_snapshot)
        self.sio.on("patch", self.on_patch)
        self.url = url

    def start(self) -> None:
        self.sio.connect(self.url, transports=["websocket"], wait_timeout=30)
        self.sio.emit("subscribe", {"vhost": VHOST})

    def on_snapshot(self, message: dict[str, Any]) -> None:
        with self.lock:
            self.graph = Graph({n["id"]: n for n in message["nodes"]}, {e["id"]: e for e in message["edges"]})
            self.version = message["version"]
            self.awaiting_snapshot = False

    def on_patch(self, message: dict[str, Any]) -> None:
        received = time.time()
        with self.lock:
            if self.version is None or message["to"] <= self.version or self.awaiting_snapshot:
                return
            self.latencies.append((message["bench_sent"], received - message["bench_sent"]))
            if message["from"] != self.version:
                self.gaps.append(message["bench_sent"])
                self.awaiting_snapshot = True
                self.sio.emit("resync", {"vhost": VHOST})
                return
            self.graph = apply_patch(self.graph, message)
            self.version = message["to"]
            self.patches += 1


def client_process(url: str, count: int, duration: float, results: Any, ready: Any) -> None:
    logging.disable(logging.CRITICAL)
    clients = [Client(url) for _ in range(count)]
    for client in clients:
        client.start()
    deadline = time.monotonic() + 300
    while any(c.version is None for c in clients) and time.monotonic() < deadline:
        time.sleep(0.1)  # everyone holds a snapshot before the soak starts
    ready.put(count)
    time.sleep(duration)
    final = [(c.version, len(c.graph.nodes) if c.graph else 0) for c in clients]
    results.put(
        {
            "latencies": [x for c in clients for x in c.latencies],
            "gaps": [g for c in clients for g in c.gaps],
            "patches": sum(c.patches for c in clients),
            "final": final,
        }
    )
    for client in clients:
        client.sio.disconnect()


# ---- main ----------------------------------------------------------------------------------------------


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))] if ordered else float("nan")


def summarise(label: str, values: list[float], unit: float = 1000.0, suffix: str = "ms") -> str:
    return (
        f"{label}: n={len(values)} p50={percentile(values, 50) * unit:.1f}{suffix} "
        f"p99={percentile(values, 99) * unit:.1f}{suffix} max={max(values, default=float('nan')) * unit:.1f}{suffix}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=100)
    parser.add_argument("--queues", type=int, default=2000)
    parser.add_argument("--exchanges", type=int, default=40)
    parser.add_argument("--changes", type=int, default=50, help="queue depths changed per poll")
    parser.add_argument("--interval", type=float, default=2.0, help="poll interval, seconds")
    parser.add_argument("--duration", type=float, default=60.0, help="soak length after all clients joined, seconds")
    parser.add_argument("--volatile", action="store_true", help="depths jump at random (backlog findings churn)")
    parser.add_argument("--stalled", action="store_true", help="consumers deliver nothing: findings churn")
    parser.add_argument("--unconsumed", action="store_true", help="no consumers: every queue is a finding")
    parser.add_argument("--processes", type=int, default=4, help="client processes")
    parser.add_argument("--record", metavar="FILE", help="record to this file, as app.py does by default")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.ERROR)
    logging.getLogger("werkzeug").setLevel(logging.ERROR)

    port, source, emitted, traffic = start_server(args)
    url = f"http://127.0.0.1:{port}"
    time.sleep(1.0)
    ctx = mp.get_context("spawn")
    results, ready = ctx.Queue(), ctx.Queue()
    shares = [
        args.clients // args.processes + (1 if i < args.clients % args.processes else 0) for i in range(args.processes)
    ]
    procs = [
        ctx.Process(target=client_process, args=(url, n, args.duration, results, ready), daemon=True)
        for n in shares
        if n
    ]
    for proc in procs:
        proc.start()
    joined = sum(ready.get(timeout=300) for _ in procs)
    soak_start, soak_wall, rss_start = len(emitted), time.time(), rss_mb()
    traffic_start = Counter(traffic)
    samples = [rss_start]
    deadline = time.monotonic() + args.duration
    while time.monotonic() < deadline:
        time.sleep(min(5.0, max(0.0, deadline - time.monotonic())))
        samples.append(rss_mb())
    soak_end = len(emitted)
    soak_traffic = Counter(traffic)
    soak_traffic.subtract(traffic_start)
    outcome = [results.get(timeout=120) for _ in procs]
    for proc in procs:
        proc.join(30)
    source.stop()

    soak = emitted[soak_start:soak_end]
    emits = [t for _, t in soak]
    intervals = [b - a for a, b in zip(emits, emits[1:], strict=False)]
    processing = [sent - posted for posted, sent in soak]
    # Soak only: the joining phase (a 2,000-node snapshot per client) is start-up, not fan-out.
    latencies = [lat for r in outcome for sent, lat in r["latencies"] if sent >= soak_wall]
    finals = [f for r in outcome for f in r["final"]]
    server_version = max((v for v, _ in finals if v is not None), default=None)
    print(
        f"clients={joined} queues={args.queues} (consumed: {not args.unconsumed}, stalled: {args.stalled}, volatile: {args.volatile}) exchanges={args.exchanges} "
        f"changes/poll={args.changes} "
        f"interval={args.interval}s duration={args.duration:.0f}s"
    )
    print(summarise("poll cadence (interval between patches)", intervals, 1, "s"))
    print(summarise("hub post->emit", processing))
    print(summarise("fan-out latency (emit->client)", latencies))
    print(
        f"patches emitted in the soak={len(soak)}; applied by clients in all={sum(r['patches'] for r in outcome)}; "
        f"gaps (resyncs) while joining={sum(1 for r in outcome for g in r['gaps'] if g < soak_wall)}, "
        f"in the soak={sum(1 for r in outcome for g in r['gaps'] if g >= soak_wall)}"
    )
    in_step = sum(1 for v, _ in finals if v is not None and server_version is not None and v >= server_version - 1)
    print(f"clients at the latest version (or one behind) at the end: {in_step}/{len(finals)}")
    per_second = ", ".join(f"{k} {v / args.duration / 1024:.1f} KiB/s" for k, v in soak_traffic.most_common() if v)
    print(f"hub broadcasts (per subscribed client): {per_second}")
    print(
        f"server RSS MB: start={rss_start:.1f} end={samples[-1]:.1f} max={max(samples):.1f} "
        f"(samples every 5 s: {len(samples)})"
    )
    recorder = RECORDINGS[0].recorder if RECORDINGS else None
    if recorder is not None:
        recorder.sync()
        info = recorder.info()
        size = sum(f.stat().st_size for f in (Path(args.record), Path(args.record + "-wal")) if f.exists())
        print(f"recording: {info['state']}, items dropped={info['dropped']}, file and WAL bytes={size}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
