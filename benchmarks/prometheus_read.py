"""What reading one Prometheus scrape costs the service, per refresh, at 5,000 to 20,000 busy queues.

Builds the text a RabbitMQ 4.0 node answers to the refresh's request (``/metrics/detailed``
with the queue, delivery and exchange families; line for line as the 4.0.5 node here writes
them, each metric's lines together), for queues that all have moved messages, and times the
three steps the poller runs on it: depths and consumer counts (``parse_scrape``), message
counters (``parse_counters``) and rates between two scrapes (``RateMeter``), with one queue
in ten busy between the two. The broker's own time to answer is measured by
``poll_cycle.py`` on the real node; this is the service's side.

    .venv/bin/python -m benchmarks.prometheus_read --queues 5000 20000 --reps 5
"""

from __future__ import annotations

import argparse
import statistics
import time

from visualiser.sources.figures import RateMeter
from visualiser.sources.prometheus import Scrape, parse_counters, parse_scrape

IDENTITY = (
    'rabbitmq_identity_info{rabbitmq_node="rabbit@bench",rabbitmq_cluster="bench",'
    'rabbitmq_cluster_permanent_id="rabbitmq-cluster-id-bench"} 1'
)
COARSE = ("messages_ready", "messages_unacked", "messages", "process_reductions_total")
DELIVERY = (
    "get_ack_total", "get_total", "messages_delivered_ack_total", "messages_delivered_total",
    "messages_redelivered_total", "messages_acked_total", "get_empty_total",
)  # fmt: skip
EXCHANGES = 50


def scrape_text(queues: int, moved: int) -> str:
    """One node's answer; ``moved`` messages more through every tenth queue than ``moved=0``."""

    def queue_lines(metric: str, value: object) -> list[str]:
        return [f'rabbitmq_detailed_queue_{metric}{{vhost="/",queue="svc.q{q:05d}"}} {value}' for q in range(queues)]

    def count(q: int) -> int:
        return 100 + (moved if q % 10 == 0 else 0)

    lines = ["# TYPE rabbitmq_detailed_queue_messages_acked_total counter"]
    for metric in COARSE:
        lines += queue_lines(metric, 0)
    lines += queue_lines("consumers", 1)
    for metric in DELIVERY:
        busy = metric in ("messages_delivered_ack_total", "messages_acked_total")
        lines += [
            f'rabbitmq_detailed_queue_{metric}{{vhost="/",queue="svc.q{q:05d}"}} {count(q) if busy else 0}'
            for q in range(queues)
        ]
    lines += [
        f'rabbitmq_detailed_queue_exchange_messages_published_total{{vhost="/",exchange="svc.x{q % EXCHANGES:02d}",'
        f'queue="svc.q{q:05d}"}} {count(q)}'
        for q in range(queues)
    ]
    lines += [
        f'rabbitmq_detailed_exchange_messages_{what}_total{{vhost="/",exchange="svc.x{e:02d}"}} 0'
        for what in ("published", "confirmed", "unroutable_returned", "unroutable_dropped")
        for e in range(EXCHANGES)
    ]
    lines.append(IDENTITY)
    return "\n".join(lines) + "\n"


def measure(queues: int, reps: int) -> None:
    before, after = scrape_text(queues, 0), scrape_text(queues, 20)
    times: dict[str, list[float]] = {"depths and consumer counts": [], "message counters": [], "rates": []}
    for _ in range(reps):
        started = time.perf_counter()
        figures, _, _ = parse_scrape(after)
        parsed = time.perf_counter()
        counters = parse_counters(after)
        counted = time.perf_counter()
        meter = RateMeter(clock=iter([0.0, 2.0]).__next__)  # two scrapes, two seconds apart
        keys = set(figures)
        meter.rates(Scrape(figures=figures, nodes=["n"], counters=parse_counters(before)), keys, set())
        rated = time.perf_counter()
        rates = meter.rates(Scrape(figures=figures, nodes=["n"], counters=counters), keys, set())
        done = time.perf_counter()
        assert rates is not None and rates.queues[("/", "svc.q00000")]["rates"]["ack"] == 10.0
        times["depths and consumer counts"].append(parsed - started)
        times["message counters"].append(counted - parsed)
        times["rates"].append(done - rated)
    total = sum(statistics.median(values) for values in times.values())
    print(f"{queues} queues, scrape {len(after) / 1e6:.1f} MB, {reps} rounds:")
    for name, values in times.items():
        print(f"  {name:<28} median {statistics.median(values):.3f} s")
    print(f"  {'per refresh, all three':<28} {total:.3f} s")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--queues", type=int, nargs="+", default=[5000, 20000])
    parser.add_argument("--reps", type=int, default=5)
    args = parser.parse_args()
    for queues in args.queues:
        measure(queues, args.reps)


if __name__ == "__main__":
    main()
