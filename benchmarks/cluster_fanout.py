"""Socket.IO fan-out through several processes (``--message-queue``) against one process alone.

Each server is the real app served by the production server, in a process of its own, fed by
socket_load's synthetic broker (a slice of queue depths changed every poll, so every poll
yields a patch). With ``--servers N`` (N > 1) the processes share a message queue on the real
RabbitMQ (a throwaway vhost, deleted at the end): they elect a leader through the broker, only
the leader's source posts, and its patches reach every process through the message queue.
Clients (python-socketio over websocket, in processes of their own, one per server) keep their
graph exactly as the page does and note, for every patch, the time from the leader's emit to
their receipt (wall clock, shared by the processes on this machine).

It prints the fan-out latency p50/p99/max over the soak, the patches lost (gaps), and each
server process's RSS (which one leads). Run from the repository root:

    .venv/bin/python -m benchmarks.cluster_fanout --servers 1 --clients 100
    .venv/bin/python -m benchmarks.cluster_fanout --servers 3 --clients 300
"""

from __future__ import annotations

import argparse
import logging
import multiprocessing as mp
import os
import signal
import sys
import time
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import quote

import requests

from benchmarks.socket_load import Client, percentile
from tests.synthetic import VHOST, SyntheticBroker, SyntheticSource

MANAGEMENT = "http://127.0.0.1:15672"
AMQP = "amqp://guest:guest@127.0.0.1:5672"
AUTH = ("guest", "guest")
DRAIN = 10.0  # seconds after the soak for its last patches to arrive; one that takes longer counts as lost


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


# ---- a server process --------------------------------------------------------------------------


def server_process(options: dict[str, Any], message_queue: str | None, ports: Any) -> None:
    """The real app, as the command runs it (Lifecycle, production server), with the synthetic source."""
    import faulthandler
    import time as clock

    from visualiser import create_app, service_of
    from visualiser.cli import Lifecycle
    from visualiser.config import Settings
    from visualiser.server.serving import Limits, listen, serve

    faulthandler.register(signal.SIGUSR1, all_threads=True)  # kill -USR1 PID: every thread's stack, on stderr
    logging.basicConfig(level=logging.WARNING, format=f"server {os.getpid()}: %(levelname)s %(name)s: %(message)s")
    listener = listen("127.0.0.1", 0)
    port = listener.getsockname()[1]
    settings = Settings(
        port=port, log_level="WARNING", no_record=True, message_queue=message_queue, max_connections=512
    )
    service = service_of(create_app(settings, sources=[]))
    source = SyntheticSource(
        service.hub, SyntheticBroker(options["queues"], options["exchanges"]), options["interval"], options["changes"]
    )
    service.sources.append(source)  # started by the elected process only, with --message-queue

    def emit(event: str, data: Any, to: str | None = None) -> None:
        if event == "patch":
            data = {**data, "bench_sent": clock.time()}  # benchmark-only: lets clients measure fan-out
        service.socketio.emit(event, data, to=to)

    service.hub.set_emitter(emit)
    lifecycle = Lifecycle.of(service)
    lifecycle.start()
    ports.put(port)
    serve(
        service.app,
        "127.0.0.1",
        port,
        Limits.from_settings(settings),
        listener,
        access_log=None,
        on_stop=lifecycle.stop_hooks(),
    )


# ---- the clients ------------------------------------------------------------------------------------


class Page(Client):
    """socket_load's client, which also does what the page does when its connection comes back
    (a server busy past Engine.IO's ping timeout drops it): subscribe again."""

    def __init__(self, url: str):
        super().__init__(url)
        self.connects = 0
        self.snapshots: list[float] = []  # when each snapshot came
        self.sio.on("connect", self.on_connect)

    def on_snapshot(self, message: dict[str, Any]) -> None:
        self.snapshots.append(time.time())
        super().on_snapshot(message)

    def on_connect(self) -> None:
        self.connects += 1
        if self.connects > 1:
            self.sio.emit("subscribe", {"vhost": VHOST})


def clients_of(port: int, count: int, duration: float, results: Any, ready: Any, go: Any) -> None:
    """``count`` pages on one server; after the soak, what each saw, tagged with the server."""
    logging.disable(logging.CRITICAL)
    pages = [Page(f"http://127.0.0.1:{port}") for _ in range(count)]
    for page in pages:
        page.start()
    deadline = time.monotonic() + 300
    while any(p.version is None for p in pages) and time.monotonic() < deadline:
        time.sleep(0.1)  # everyone holds a snapshot before the soak starts
    ready.put(count)
    go.wait()  # the soak starts when every process's pages have joined
    time.sleep(duration + DRAIN)  # what the soak's last patches take to arrive is counted too
    results.put(
        {
            "port": port,
            "latencies": [x for p in pages for x in p.latencies],
            "gaps": [g for p in pages for g in p.gaps],
            "patches": sum(p.patches for p in pages),
            "final": [(p.version, len(p.graph.nodes) if p.graph else 0) for p in pages],
            "reconnects": sum(max(0, p.connects - 1) for p in pages),
            "snapshots": [t for p in pages for t in p.snapshots[1:]],
        }
    )  # after the first: a resync, a reconnection
    for page in pages:
        page.sio.disconnect()


def latency_line(label: str, latencies: list[float]) -> str:
    return (
        f"{label}: n={len(latencies)} p50={percentile(latencies, 50) * 1000:.1f}ms "
        f"p99={percentile(latencies, 99) * 1000:.1f}ms max={max(latencies, default=float('nan')) * 1000:.1f}ms"
    )


# ---- main ----------------------------------------------------------------------------------------


def throwaway_vhost(name: str) -> str:
    requests.put(f"{MANAGEMENT}/api/vhosts/{quote(name, safe='')}", auth=AUTH, timeout=10).raise_for_status()
    requests.put(
        f"{MANAGEMENT}/api/permissions/{quote(name, safe='')}/guest",
        auth=AUTH,
        timeout=10,
        json={"configure": ".*", "write": ".*", "read": ".*"},
    ).raise_for_status()
    return f"{AMQP}/{quote(name, safe='')}"


def role_of(port: int) -> str:
    try:
        return str(requests.get(f"http://127.0.0.1:{port}/api/cluster", timeout=5).json()["role"])
    except (requests.RequestException, ValueError, KeyError):
        return "alone"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--servers", type=int, default=3, help="server processes (more than one: --message-queue)")
    parser.add_argument("--clients", type=int, default=300, help="clients in all, spread evenly over the servers")
    parser.add_argument("--queues", type=int, default=500)
    parser.add_argument("--exchanges", type=int, default=20)
    parser.add_argument("--changes", type=int, default=25, help="queue depths changed per poll")
    parser.add_argument("--interval", type=float, default=2.0, help="poll interval, seconds")
    parser.add_argument("--duration", type=float, default=30.0, help="soak length after all clients joined, seconds")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.ERROR)

    vhost = f"bench-cluster-{uuid.uuid4().hex[:8]}" if args.servers > 1 else None
    message_queue = throwaway_vhost(vhost) if vhost else None
    options = {"queues": args.queues, "exchanges": args.exchanges, "interval": args.interval, "changes": args.changes}
    ctx = mp.get_context("spawn")
    ports_queue = ctx.Queue()
    servers = [
        ctx.Process(target=server_process, args=(options, message_queue, ports_queue), daemon=True)
        for _ in range(args.servers)
    ]
    clients: list[Any] = []
    try:
        for server in servers:
            server.start()
        ports = [ports_queue.get(timeout=120) for _ in servers]
        deadline = time.monotonic() + 60
        while args.servers > 1 and sorted(role_of(p) for p in ports).count("leader") != 1:
            if time.monotonic() > deadline:
                raise SystemExit("no leader elected within 60 s")
            time.sleep(0.5)
        time.sleep(args.interval * 2)  # the leader's first posts are in
        results, ready, go = ctx.Queue(), ctx.Queue(), ctx.Event()
        shares = [
            args.clients // args.servers + (1 if i < args.clients % args.servers else 0) for i in range(args.servers)
        ]
        clients = [
            ctx.Process(target=clients_of, args=(port, n, args.duration, results, ready, go), daemon=True)
            for port, n in zip(ports, shares, strict=True)
            if n
        ]
        for client in clients:
            client.start()
        joined = sum(ready.get(timeout=300) for _ in clients)
        soak_wall = time.time()
        go.set()
        rss: dict[int, list[float]] = {s.pid: [rss_mb(s.pid)] for s in servers if s.pid is not None}
        end = time.monotonic() + args.duration
        while time.monotonic() < end:
            time.sleep(min(5.0, max(0.0, end - time.monotonic())))
            for pid, samples in rss.items():
                samples.append(rss_mb(pid))
        roles = [role_of(port) for port in ports]
        outcome = [results.get(timeout=120) for _ in clients]
    finally:
        for client in clients:
            client.join(30)
        for server in servers:
            if server.pid is not None and server.is_alive():
                os.kill(server.pid, signal.SIGTERM)
        for server in servers:
            server.join(60)
        if vhost:
            requests.delete(f"{MANAGEMENT}/api/vhosts/{quote(vhost, safe='')}", auth=AUTH, timeout=10)

    soak_end = soak_wall + args.duration

    def in_soak(rows: list[dict[str, Any]]) -> list[float]:
        return [lat for r in rows for sent, lat in r["latencies"] if soak_wall <= sent < soak_end and lat <= DRAIN]

    emitted = {sent for r in outcome for sent, _ in r["latencies"] if soak_wall <= sent < soak_end}
    latencies = in_soak(outcome)
    print(
        f"servers={args.servers} ({'--message-queue, leader election' if args.servers > 1 else 'alone'}) "
        f"clients={joined} ({', '.join(str(n) for n in shares)} per server) queues={args.queues} "
        f"changes/poll={args.changes} interval={args.interval}s soak={args.duration:.0f}s"
    )
    print(latency_line("fan-out latency, all clients (leader's emit -> client)", latencies))
    print(
        f"patches the leader emitted in the soak={len(emitted)}; received by every client within {DRAIN:.0f}s: "
        f"{len(latencies)} of {len(emitted) * joined}"
    )
    for server, port, role in zip(servers, ports, roles, strict=True):
        mine = [r for r in outcome if r["port"] == port]
        gaps = sum(1 for r in mine for g in r["gaps"] if g >= soak_wall)
        versions = [v for r in mine for v, _ in r["final"] if v is not None]
        samples = rss.get(server.pid or 0, [0.0])
        print(
            f"server pid {server.pid} ({role}): RSS MB start={samples[0]:.1f} end={samples[-1]:.1f} "
            f"max={max(samples):.1f}"
        )
        print("  " + latency_line("its clients' fan-out latency", in_soak(mine)))
        print(
            f"  its clients: patches applied={sum(r['patches'] for r in mine)}, gaps (resyncs) in the soak={gaps}, "
            f"reconnections={sum(r['reconnects'] for r in mine)}, "
            f"fresh snapshots in the soak={sum(1 for r in mine for t in r['snapshots'] if soak_wall <= t < soak_end)}, "
            f"holding a graph at the end={len(versions)}/{sum(len(r['final']) for r in mine)}, "
            f"versions apart at the end={max(versions) - min(versions) if versions else 'n/a'}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
