"""How long a queue declared on the broker takes to reach a subscribed browser.

Runs the real app against the real broker (poll interval 2 s by default), subscribes a
Socket.IO client to a throwaway vhost, declares queues one at a time and measures the time
from the declare returning to the patch that adds the queue arriving at the client.
The target is one poll interval plus one second.

    .venv/bin/python benchmarks/appearance_latency.py [--samples 15 --poll-interval 2]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import threading
import time
import uuid

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

import socketio  # noqa: E402

from tests.conftest import Rabbit, run_live  # noqa: E402
from visualiser.config import Settings  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--samples", type=int, default=15)
    parser.add_argument("--poll-interval", type=float, default=2.0)
    args = parser.parse_args()
    rabbit = Rabbit(f"bench-latency-{uuid.uuid4().hex[:6]}")
    rabbit.create_vhost()
    server, _ = run_live(Settings(management_url="http://guest:guest@127.0.0.1:15672", poll_interval=args.poll_interval))
    arrived: dict[str, float] = {}
    ready = threading.Event()
    client = socketio.Client()

    @client.on("snapshot")
    def _snapshot(msg):
        if msg["vhost"] == rabbit.vhost:
            ready.set()

    @client.on("patch")
    def _patch(msg):
        for node in msg["add"]["nodes"]:
            arrived.setdefault(node["id"], time.perf_counter())

    try:
        deadline = time.time() + 30
        while time.time() < deadline and server.get(f"/api/topology?vhost={rabbit.vhost}").status_code != 200:
            time.sleep(0.2)
        client.connect(server.url, transports=["websocket"])
        client.emit("subscribe", {"vhost": rabbit.vhost})
        ready.wait(10)
        latencies = []
        for i in range(args.samples):
            name = f"sample-{i}"
            rabbit.declare_queue(name)
            declared = time.perf_counter()
            while f"queue:{name}" not in arrived and time.perf_counter() - declared < 30:
                time.sleep(0.01)
            latencies.append(arrived.get(f"queue:{name}", float("inf")) - declared)
            time.sleep(0.37 * (i % 5))  # spread declares across the poll cycle
        latencies.sort()
        print(f"poll interval: {args.poll_interval} s, samples: {len(latencies)}")
        print(f"declare -> browser patch: median {statistics.median(latencies):.2f} s, "
              f"max {latencies[-1]:.2f} s (target: <= {args.poll_interval + 1:.1f} s)")
    finally:
        client.disconnect()
        server.service.stop()
        rabbit.delete_vhost()


if __name__ == "__main__":
    main()
