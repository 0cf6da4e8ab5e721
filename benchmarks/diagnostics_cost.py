"""What diagnostics cost per poll on a large vhost, and how much memory the history keeps.

Builds a synthetic vhost (5,000 queues by default: a tenth with a dead-letter exchange,
a tenth with max-length, one consumer on most, exchanges with bindings and alternates),
then times the Diagnostics engine over 100 polls with every queue's depth changing every
poll (the worst case), and measures the memory the depth history holds after 15 minutes of
2 s polls (450), when every series is as long as it gets.

    .venv/bin/python benchmarks/diagnostics_cost.py [--queues 5000 --polls 100 --history-polls 450]
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
import tracemalloc
from dataclasses import replace

from visualiser.diagnostics.history import HistoryStore
from visualiser.diagnostics.service import Diagnostics
from visualiser.hub import VhostView
from visualiser.model.entities import Binding, Consumer, Exchange, Queue, VhostSnapshot
from visualiser.model.topology import build_graph


def synthetic(queues: int) -> VhostSnapshot:
    exchanges = [Exchange(""), Exchange("dlx", "fanout"), Exchange("ae", "fanout")]
    exchanges += [
        Exchange(f"ex{i}", "topic", arguments={"alternate-exchange": "ae"} if i % 10 == 0 else {})
        for i in range(queues // 10)
    ]
    made, bindings, consumers = [], [], []
    for i in range(queues):
        args = {}
        if i % 10 == 0:
            args["x-dead-letter-exchange"] = "dlx"
        if i % 10 == 1:
            args["x-max-length"] = 1000
        made.append(Queue(f"q{i}", arguments=args, consumers=1 if i % 7 else 0))
        bindings.append(Binding(f"ex{i % (queues // 10)}", f"q{i}", "queue", f"k.{i}.#"))
        if i % 7:
            consumers.append(Consumer(f"q{i}", f"c{i}", f"ch{i}", f"conn{i % 50}", prefetch_count=10))
    bindings.append(Binding("dlx", "q3", "queue"))
    return VhostSnapshot("/", tuple(exchanges), tuple(made), tuple(bindings), tuple(consumers))


def polls_of(base: VhostSnapshot, polls: int):
    """The same vhost, every queue's depth and delivery rate drawn afresh each poll."""
    rng = random.Random(1)
    for _ in range(polls):
        yield tuple(
            replace(
                q,
                messages_ready=rng.randrange(0, 2000),
                messages_unacknowledged=rng.randrange(0, 11),
                rates={"deliver_get": rng.choice((0.0, 3.0))},
            )
            for q in base.queues
        )


def time_rules(base: VhostSnapshot, polls: int) -> tuple[Diagnostics, list[float]]:
    graph = build_graph(base)
    clock = [1_800_000_000.0]
    engine = Diagnostics(clock=lambda: clock[0])
    durations = []
    for poll, queues in enumerate(polls_of(base, polls)):
        clock[0] += 2.0
        view = VhostView("/", poll, graph, replace(base, queues=queues), "bench")
        started = time.perf_counter()
        engine.observe(view)
        durations.append(time.perf_counter() - started)
    return engine, sorted(durations)


def history_memory(base: VhostSnapshot, polls: int) -> tuple[int, int]:
    """Points kept and bytes held by the history alone after `polls` polls 2 s apart."""
    history = HistoryStore()
    tracemalloc.start()
    for poll, queues in enumerate(polls_of(base, polls)):
        history.of("/").record(1_800_000_000.0 + 2.0 * poll, queues)
        del queues
    held = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    series = history.get("/")
    return sum(len(series.series(q)) for q in series.queues()), held


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--queues", type=int, default=5000)
    parser.add_argument("--polls", type=int, default=100, help="polls timed with every rule")
    parser.add_argument("--history-polls", type=int, default=450, help="polls recorded for the memory figure")
    args = parser.parse_args()
    base = synthetic(args.queues)
    engine, durations = time_rules(base, args.polls)
    print(f"queues={args.queues} polls={args.polls} findings(last poll)={len(engine.findings('/'))}")
    print(
        f"observe per poll: median {statistics.median(durations) * 1000:.1f} ms, "
        f"p95 {durations[int(len(durations) * 0.95)] * 1000:.1f} ms, max {durations[-1] * 1000:.1f} ms"
    )
    points, held = history_memory(base, args.history_polls)
    print(
        f"history after {args.history_polls} polls: {points} points ({points / args.queues:.0f} per queue), "
        f"{held / 1e6:.1f} MB"
    )


if __name__ == "__main__":
    main()
