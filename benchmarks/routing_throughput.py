"""How fast route() answers: the demo topology and a large generated one.

Prints messages routed per second for a few representative questions, single-threaded,
with the full explanation (every evaluated binding) the API returns, and without it.

    .venv/bin/python benchmarks/routing_throughput.py
"""

from __future__ import annotations

import random
import time

from visualiser.model.entities import Binding, Exchange, Queue, VhostSnapshot
from visualiser.routing import route
from visualiser.sources.demo import demo_topology


def large_topology(exchanges: int = 500, queues: int = 5000, seed: int = 3) -> VhostSnapshot:
    """Topic exchanges with ten queue bindings each, chained by exchange-to-exchange bindings."""
    rng = random.Random(seed)
    words = ("order", "user", "alert", "eu", "us", "created", "paid", "*", "#")
    xs = [Exchange(f"x{i}", "topic") for i in range(exchanges)]
    qs = [Queue(f"q{i}") for i in range(queues)]
    bindings = [
        Binding(f"x{i % exchanges}", f"q{i}", "queue", ".".join(rng.choice(words) for _ in range(3)))
        for i in range(queues)
    ]
    bindings += [Binding(f"x{i}", f"x{i + 1}", "exchange", "#") for i in range(exchanges - 1)]
    return VhostSnapshot("/", tuple(xs), tuple(qs), tuple(bindings))


def measure(
    label: str, snapshot: VhostSnapshot, exchange: str, key: str, headers: dict | None = None, explain: bool = True
) -> None:
    route(snapshot, exchange, key, headers)  # builds the per-snapshot index once
    count, started = 0, time.perf_counter()
    while time.perf_counter() - started < 1.0:
        result = route(snapshot, exchange, key, headers, explain=explain)
        count += 1
    elapsed = time.perf_counter() - started
    print(
        f"{label:<58} {count / elapsed:>10,.0f} routes/s  ({len(result.queues)} queues, "
        f"{len(result.bindings)} bindings evaluated)"
    )


def main() -> None:
    demo = demo_topology()
    measure("demo: events 'alert.cpu.high' (topic -> fanout)", demo, "events", "alert.cpu.high")
    measure("demo: reports headers {region: eu, format: pdf}", demo, "reports", "", {"region": "eu", "format": "pdf"})
    measure("demo: default exchange 'invoices.retry'", demo, "", "invoices.retry")
    big = large_topology()
    measure("large (500 exchanges, 5,499 bindings): x0 'order.eu.paid'", big, "x0", "order.eu.paid")
    measure("large, explain=False (no per-binding words)", big, "x0", "order.eu.paid", explain=False)
    started = time.perf_counter()
    fresh = large_topology(seed=4)
    route(fresh, "x0", "order.eu.paid")
    print(f"{'large: first route on a fresh snapshot (index build)':<58} {time.perf_counter() - started:>10.3f} s")


if __name__ == "__main__":
    main()
