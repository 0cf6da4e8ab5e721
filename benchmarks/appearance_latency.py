"""How long a change on the broker takes to reach a subscribed browser.

Runs the real app against the real broker, subscribes a Socket.IO client to a throwaway
vhost and, over AMQP as applications do, declares a queue, binds it, consumes from it and
deletes it, one step at a time. Each step's latency runs from the broker's answer to the
step to the patch that shows it arriving at the client:

- declared: the patch adds the node ``queue:NAME``;
- bound: the patch adds a binding edge to it;
- consumed: the patch changes its consumer count to 1;
- deleted (its consumer cancelled first): the patch removes the node.

With the broker's event exchange on (the default) the target is one second whatever the
poll interval; ``--events off`` measures polling alone (target: one poll interval plus one
second). ``--storm N`` then declares N queues at once and reports how long the graph takes
to hold them all, how many reads that took and how many events were lost on the way.

    .venv/bin/python benchmarks/appearance_latency.py [--samples 20 --poll-interval 30 --events on]
    VISUALISER_TEST_BROKER=4.0 .venv/bin/python benchmarks/appearance_latency.py ...
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

import socketio  # noqa: E402
from kombu import Connection  # noqa: E402

from tests.conftest import BROKER, Rabbit, run_live, stop_live  # noqa: E402
from visualiser.config import Settings  # noqa: E402

STEPS = ("declared", "bound", "consumed", "deleted")
GIVE_UP_SECONDS = 120.0


class Arrivals:
    """When each awaited sign first arrived in a patch (perf_counter)."""

    def __init__(self) -> None:
        self.seen: dict[tuple[str, str], float] = {}
        self.lock = threading.Lock()

    def on_patch(self, msg: dict[str, Any]) -> None:
        now = time.perf_counter()
        signs = [("declared", n["id"]) for n in msg["add"]["nodes"]]
        signs += [("bound", e["target"]) for e in msg["add"]["edges"] if e.get("kind") == "binding"]
        signs += [("consumed", n["id"]) for n in msg["change"]["nodes"] if n.get("consumers") == 1]
        signs += [("deleted", node_id) for node_id in msg["remove"]["nodes"]]
        with self.lock:
            for sign in signs:
                self.seen.setdefault(sign, now)

    def wait(self, sign: tuple[str, str], since: float) -> float:
        while time.perf_counter() - since < GIVE_UP_SECONDS:
            with self.lock:
                if sign in self.seen:
                    return self.seen[sign] - since
            time.sleep(0.002)
        return float("inf")


def measure(channel: Any, arrivals: Arrivals, name: str) -> dict[str, float]:
    node = f"queue:{name}"
    tags: list[str] = []
    actions: dict[str, Callable[[], object]] = {
        "declared": lambda: channel.queue_declare(name, durable=True, auto_delete=False),
        "bound": lambda: channel.queue_bind(name, "amq.topic", routing_key=f"{name}.#"),
        "consumed": lambda: tags.append(channel.basic_consume(name, callback=lambda message: None)),
        "deleted": lambda: (channel.basic_cancel(tags[0]), channel.queue_delete(name)),
    }
    found = {}
    for step in STEPS:
        actions[step]()
        found[step] = arrivals.wait((step, node), time.perf_counter())
    return found


def storm(server: Any, rabbit: Rabbit, arrivals: Arrivals, count: int) -> None:
    """Declare ``count`` queues as fast as one channel can, then wait for all of them on the page."""
    poller, events = server.service.sources[0], server.service.sources[-1]
    before = {name: getattr(poller, name, 0) for name in ("polls", "full_reads", "refreshes")}
    lost = getattr(events, "counts", {}).get("lost", 0)
    names = [f"storm-{i}" for i in range(count)]
    with Connection(rabbit.amqp_url()) as connection:
        channel = connection.channel()
        started = time.perf_counter()
        for name in names:
            channel.queue_declare(name, durable=True, auto_delete=False)
        declared = time.perf_counter() - started
    last = max(arrivals.wait(("declared", f"queue:{name}"), started) for name in names)
    reads = ", ".join(f"{name} {getattr(poller, name, 0) - value}" for name, value in before.items())
    print(
        f"storm: {count} queues declared in {declared:.2f} s; all on the page {last:.2f} s after the first "
        f"declare; reads meanwhile: {reads}; events lost: {getattr(events, 'counts', {}).get('lost', 0) - lost}"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--samples", type=int, default=20)
    parser.add_argument("--poll-interval", type=float, default=30.0)
    parser.add_argument("--events", choices=("on", "off"), default="on")
    parser.add_argument("--storm", type=int, default=0, help="then declare this many queues in a burst")
    args = parser.parse_args()
    rabbit = Rabbit(f"bench-latency-{uuid.uuid4().hex[:6]}")
    rabbit.create_vhost()
    server, _ = run_live(
        Settings(
            management_url=rabbit.management_url(),
            poll_interval=args.poll_interval,
            events_url=None if args.events == "on" else "off",
        )
    )
    arrivals = Arrivals()
    ready = threading.Event()
    client = socketio.Client()
    client.on("snapshot", lambda msg: ready.set() if msg["vhost"] == rabbit.vhost else None)
    client.on("patch", arrivals.on_patch)
    try:
        server.wait_for_vhost(rabbit.vhost, timeout=args.poll_interval + 30)
        if args.events == "on":  # the read after subscribing to events, so that none is missed
            poller = server.service.sources[0]
            deadline = time.time() + 30
            while getattr(poller, "applied", 0) < 1 and time.time() < deadline:
                time.sleep(0.05)
        client.connect(server.url, transports=["websocket"])
        client.emit("subscribe", {"vhost": rabbit.vhost})
        ready.wait(10)
        results: dict[str, list[float]] = {step: [] for step in STEPS}
        polls_before = getattr(server.service.sources[0], "polls", 0)
        with Connection(rabbit.amqp_url()) as connection:
            channel = connection.channel()
            for i in range(args.samples):
                for step, seconds in measure(channel, arrivals, f"sample-{i}").items():
                    results[step].append(seconds)
                time.sleep(0.13 * (i % 7))  # spread the samples across the poll cycle
        polls = getattr(server.service.sources[0], "polls", 0) - polls_before
        print(
            f"RabbitMQ {BROKER.name}, poll interval {args.poll_interval:g} s, events {args.events}, "
            f"{args.samples} samples of each step, {polls} poll(s) ran meanwhile"
        )
        target = 1.0 if args.events == "on" else args.poll_interval + 1
        for step in STEPS:
            values = sorted(results[step])
            print(
                f"  {step:9} -> browser patch: median {statistics.median(values) * 1000:6.0f} ms, "
                f"max {values[-1] * 1000:6.0f} ms (target: <= {target * 1000:.0f} ms)"
            )
        if args.storm:
            storm(server, rabbit, arrivals, args.storm)
    finally:
        client.disconnect()
        stop_live(server)
        rabbit.delete_vhost(timeout=600)  # after a storm: 10,000 durable queues took 27 s


if __name__ == "__main__":
    main()
