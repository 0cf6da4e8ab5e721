"""Times one full poll cycle against a large broker: 5,000 queues and 5,500 bindings.

Declares the topology on the real broker in a dedicated vhost over AMQP (pipelined with
nowait, so declaring takes seconds, not one HTTP call per object) and puts one message
through every queue, then runs the cycle the
live source runs several times: ManagementClient.fetch_broker (every API call), build_graph
for every vhost, and a diff against the previous cycle's graphs. Prints the median and the
maximum, with a breakdown, and compares with what a naive client pays for one plain
``GET /api/queues`` (time and bytes).

    .venv/bin/python -m benchmarks.poll_cycle [--cycles 9] [--keep] [--management-url URL]
        [--amqp-url URL] [--prometheus-url URL] [--steady-only]

It also times the steady state: the figures refresh the poller runs between reconciles while
the broker's events push every change (visualiser/sources/figures.py), side by side with a
full read and one plain ``GET /api/queues``.

The vhost is deleted at the end unless --keep (a second run then skips declaring).
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import time
from urllib.parse import quote

import requests
from kombu import Connection

from visualiser.model.diff import diff_graphs
from visualiser.model.topology import Graph, build_graph
from visualiser.sources.figures import RATES_SECONDS, RateMeter, exchange_keys, queue_keys, read_figures
from visualiser.sources.management_api import (
    BINDING_COLUMNS,
    QUEUE_COLUMNS,
    ManagementClient,
    split_credentials,
)
from visualiser.sources.prometheus import PrometheusClient

VHOST = "bench-poll-cycle"
QUEUES = 5000
EXCHANGES = 50
SETTLE_SECONDS = 30
TOTALS = "queue totals listing (its depths, statistics off)"
EXTRA_BINDINGS = 500  # every queue is bound once; these queues get a second binding


def admin_session(management_url: str) -> tuple[str, requests.Session]:
    base, user, password = split_credentials(management_url)
    session = requests.Session()
    session.auth = (user, password)
    return base, session


def vhost_counts(base: str, session: requests.Session) -> tuple[int, int]:
    """(queues, explicit bindings) already in the benchmark vhost."""
    path = quote(VHOST, safe="")
    queues = session.get(f"{base}/api/queues/{path}", params={"page": 1, "page_size": 1, "columns": "name"}, timeout=60)
    if queues.status_code == 404:
        return 0, 0
    bindings = session.get(f"{base}/api/bindings/{path}", params={"columns": "source"}, timeout=60).json()
    return queues.json()["total_count"], sum(1 for b in bindings if b["source"])


def declare(base: str, session: requests.Session, amqp_url: str, user: str) -> float:
    started = time.perf_counter()
    path = quote(VHOST, safe="")
    session.put(f"{base}/api/vhosts/{path}", timeout=30).raise_for_status()
    session.put(
        f"{base}/api/permissions/{path}/{quote(user, safe='')}",
        timeout=30,
        json={"configure": ".*", "write": ".*", "read": ".*"},
    ).raise_for_status()
    with Connection(amqp_url.rstrip("/") + "/" + path) as connection:
        channel = connection.channel()
        for e in range(EXCHANGES):
            channel.exchange_declare(f"bench.x{e:02d}", "topic", durable=False, nowait=True)
        for q in range(QUEUES):
            name = f"bench.q{q:04d}"
            channel.queue_declare(name, durable=True, auto_delete=False, nowait=True)  # what 4.3 accepts
            channel.queue_bind(name, f"bench.x{q % EXCHANGES:02d}", routing_key=f"orders.{q}.#", nowait=True)
            if q < EXTRA_BINDINGS:
                channel.queue_bind(name, f"bench.x{(q + 1) % EXCHANGES:02d}", routing_key=f"audit.{q}", nowait=True)
        channel.queue_declare("bench.q0000", durable=True, auto_delete=False, passive=True)  # waits for the rest
        # One message through every queue (published, fetched, acked), as on a broker in use:
        # each queue then has its message statistics and, from RabbitMQ 3.13, its Prometheus
        # message counters, which make the scrape about four times longer than an idle one's.
        for q in range(QUEUES):
            channel.basic_publish(channel.prepare_message(b"x"), f"bench.x{q % EXCHANGES:02d}", f"orders.{q}.new")
        for q in range(QUEUES):
            message = channel.basic_get(f"bench.q{q:04d}", no_ack=False)
            if message is not None:
                channel.basic_ack(message.delivery_tag)
    return time.perf_counter() - started


def cleanup(base: str, session: requests.Session, amqp_url: str) -> float:
    """Delete the queues over AMQP, pipelined, then the then-empty vhost: deleting a vhost
    that still holds 5,000 queues takes the broker minutes and outlives an HTTP request."""
    started = time.perf_counter()
    path = quote(VHOST, safe="")
    with Connection(amqp_url.rstrip("/") + "/" + path, connect_timeout=60) as connection:
        channel = connection.channel()
        for q in range(QUEUES):
            channel.queue_delete(f"bench.q{q:04d}", nowait=True)
        for e in range(EXCHANGES):
            channel.exchange_delete(f"bench.x{e:02d}", nowait=True)
        channel.exchange_declare("amq.direct", "direct", passive=True)  # waits for the rest
    session.delete(f"{base}/api/vhosts/{path}", timeout=600)
    return time.perf_counter() - started


def one_cycle(client: ManagementClient, previous: dict[str, Graph]) -> tuple[dict[str, float], dict[str, Graph], int]:
    started = time.perf_counter()
    snapshot = client.fetch_broker()
    fetched = time.perf_counter()
    graphs = {name: build_graph(vhost) for name, vhost in snapshot.vhosts.items()}
    built = time.perf_counter()
    for name, graph in graphs.items():
        diff_graphs(previous.get(name, Graph()), graph)
    done = time.perf_counter()
    timings = {"total": done - started, "fetch": fetched - started, "build": built - fetched, "diff": done - built}
    return timings, graphs, len(snapshot.vhosts[VHOST].queues)


def plain_queues(base: str, session: requests.Session) -> tuple[float, int]:
    started = time.perf_counter()
    response = session.get(f"{base}/api/queues", timeout=120)
    response.raise_for_status()
    return time.perf_counter() - started, len(response.content)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--management-url", default="http://guest:guest@127.0.0.1:15672")
    parser.add_argument("--amqp-url", default="amqp://guest:guest@127.0.0.1:5672")
    parser.add_argument("--cycles", type=int, default=9)
    parser.add_argument("--reps", type=int, default=3, help="rounds of the listing comparison")
    parser.add_argument("--keep", action="store_true", help="keep the benchmark vhost for the next run")
    parser.add_argument("--prometheus-url", help="the broker's Prometheus endpoint, for the figures refresh")
    parser.add_argument("--steady-only", action="store_true", help="skip the per-listing comparison")
    args = parser.parse_args()
    base, session = admin_session(args.management_url)
    _, user, _ = split_credentials(args.management_url)
    try:
        if vhost_counts(base, session) != (QUEUES, QUEUES + EXTRA_BINDINGS):
            print(
                f"declaring {QUEUES} queues, {EXCHANGES} exchanges, {QUEUES + EXTRA_BINDINGS} bindings "
                f"in vhost {VHOST!r} over AMQP ..."
            )
            print(f"  declared in {declare(base, session, args.amqp_url, user):.1f} s")
            # The management plugin is still taking in 5,000 queues' creation and first stats
            # events for a while: measured straight away, listings are several times slower.
            print(f"  letting the broker's statistics settle for {SETTLE_SECONDS} s")
            time.sleep(SETTLE_SECONDS)
        # The listings see new queues once the broker has collected their stats.
        deadline = time.monotonic() + 120
        while vhost_counts(base, session) != (QUEUES, QUEUES + EXTRA_BINDINGS) and time.monotonic() < deadline:
            time.sleep(1)
        if vhost_counts(base, session) != (QUEUES, QUEUES + EXTRA_BINDINGS):
            print("the benchmark topology is not (or no longer) all there: was the broker restarted? run again")
            return 1
        run(base, session, args)
    finally:
        if not args.keep:
            print(f"deleted in {cleanup(base, session, args.amqp_url):.1f} s")
    return 0


def run(base: str, session: requests.Session, args: argparse.Namespace) -> None:
    client = ManagementClient(args.management_url, timeout=120)
    try:
        rows, graphs, queue_count = cycles(client, args.cycles)
    finally:
        client.close()
    edges = sum(1 for e in graphs[VHOST].edges.values() if e["kind"] == "binding")
    print(
        f"broker: {queue_count} queues and {edges} bindings in {VHOST!r} ({len(graphs)} vhosts in all); "
        f"{len(rows)} cycles after one warm-up, page_size={client.page_size}"
    )
    print("poll cycle (fetch_broker + build_graph + diff):")
    for part in ("total", "fetch", "build", "diff"):
        values = [row[part] for row in rows]
        print(f"  {part:<6} median {statistics.median(values):.3f} s   max {max(values):.3f} s")
    seconds, size = plain_queues(base, session)
    print(f"plain GET /api/queues (all columns, no paging): {seconds:.3f} s, {size / 1e6:.1f} MB")
    steady_state(base, session, args)
    if not args.steady_only:
        compare_listings(args.management_url, args.reps)


def steady_state(base: str, session: requests.Session, args: argparse.Namespace) -> None:
    """What keeping the graph fresh costs between reconciles (events pushing topology), side by
    side with a full read and one plain GET /api/queues, interleaved round by round."""
    client = ManagementClient(args.management_url, timeout=120)
    prometheus = PrometheusClient([args.prometheus_url], timeout=60) if args.prometheus_url else None
    full = client.fetch_broker()
    statistics_on = full.broker.get("statistics", True) is not False
    # As the poller does: one meter turns Prometheus's message counters (RabbitMQ 3.13 and
    # later) into rates, and then the statistics rate listing is never read.
    meter = RateMeter()
    context = {
        "expected": queue_keys(full),
        "cluster": full.broker.get("cluster_name"),
        "meter": meter,
        "exchanges": exchange_keys(full),
    }
    quiet, with_rates = "figures refresh, rates not due", "figures refresh, rates due"
    requests_made = {
        quiet: read_figures(client, prometheus, statistics_on, rates=False, **context),
        with_rates: read_figures(client, prometheus, statistics_on, rates=True, **context),
    }
    counted = meter.counting
    listing = "figures refresh, rates from the statistics listing"
    if counted:  # every refresh is the same: depths, consumer counts and rates from one scrape
        quiet = with_rates = "figures refresh (Prometheus: depths, consumer counts, rates)"
        time.sleep(1.0)  # the meter gives rates from scrapes at least a second apart
        requests_made = {quiet: read_figures(client, prometheus, statistics_on, rates=True, **context)}
    without_meter = {key: value for key, value in context.items() if key != "meter"}
    variants = {
        quiet: lambda: read_figures(client, prometheus, statistics_on, rates=False, **context),
        with_rates: lambda: read_figures(client, prometheus, statistics_on, rates=True, **context),
        "full read (the reconcile)": client.fetch_broker,
        "plain GET /api/queues (what Flower's broker tab asks)": lambda: plain_queues(base, session),
    }
    if counted and statistics_on:  # side by side: rates read as where Prometheus does not count
        requests_made[listing] = read_figures(client, prometheus, True, rates=True, **without_meter)
        variants[listing] = lambda: read_figures(client, prometheus, True, rates=True, **without_meter)
    if not statistics_on:  # the plain listing then carries no depths: the cheapest one that does
        variants[TOTALS] = lambda: read_figures(client, None, False, **without_meter)
    times: dict[str, list[float]] = {name: [] for name in variants}
    try:
        for _ in range(args.reps):
            for name, call in variants.items():
                started = time.perf_counter()
                call()
                times[name].append(time.perf_counter() - started)
    finally:
        client.close()
        if prometheus is not None:
            prometheus.close()
    print(
        f"steady state, {args.reps} rounds interleaved (statistics {'on' if statistics_on else 'off'}; "
        f"Prometheus {args.prometheus_url or 'not asked'}):"
    )
    for name, values in times.items():
        made = requests_made.get(name)
        what = f" ({made.requests} request(s): {', '.join(sorted(set(made.sources.values())))})" if made else ""
        print(f"  {name:<62} median {statistics.median(values):.3f} s   max {max(values):.3f} s{what}")
    median = {name: statistics.median(values) for name, values in times.items()}
    plain = median["plain GET /api/queues (what Flower's broker tab asks)"]
    # Rates are due every RATES_SECONDS: at a 2 s poll interval, one refresh in three reads them
    # (with statistics off there are none, and every refresh is the same).
    every = math.ceil(RATES_SECONDS / 2.0) if statistics_on and not counted else 1
    per_refresh = (median[with_rates] + (every - 1) * median[quiet]) / every
    print(
        f"  per refresh at --poll-interval 2 (rates every {every}): {per_refresh:.3f} s = "
        f"{per_refresh / plain:.2f} x one plain GET /api/queues"
        + (f", {per_refresh / median[TOTALS]:.2f} x the queue totals listing" if TOTALS in median else "")
    )
    if listing in median:
        every = math.ceil(RATES_SECONDS / 2.0)
        by_listing = (median[listing] + (every - 1) * median[quiet]) / every
        print(
            f"  per refresh with rates from the statistics listing instead (every {every}): {by_listing:.3f} s = "
            f"{by_listing / plain:.2f} x one plain GET /api/queues"
        )


def compare_listings(management_url: str, reps: int) -> None:
    """The queue listing alone, each way, interleaved so that background load hits all alike."""
    client = ManagementClient(management_url, timeout=120)

    def sequential(columns: str, extra: dict[str, str] | None = None) -> None:
        page, page_count = 1, 1
        while page <= page_count:
            _, page_count = client._page("/api/queues", page, {"columns": columns, **(extra or {})})
            page += 1

    variants = {
        "columns, pages one after another": lambda: sequential(QUEUE_COLUMNS),
        "columns, pages in parallel (what the poller does)": lambda: client.get_paginated("/api/queues", QUEUE_COLUMNS),
        "columns, no paging": lambda: client.get_list("/api/queues", QUEUE_COLUMNS),
        "disable_stats + enable_queue_totals, pages in parallel": lambda: client.get_paginated(
            "/api/queues", QUEUE_COLUMNS, {"disable_stats": "true", "enable_queue_totals": "true"}
        ),
        "GET /api/bindings (columns, one call: it cannot page)": lambda: client.get_list(
            "/api/bindings", BINDING_COLUMNS
        ),
    }
    times: dict[str, list[float]] = {name: [] for name in variants}
    try:
        for _ in range(reps):
            for name, call in variants.items():
                started = time.perf_counter()
                call()
                times[name].append(time.perf_counter() - started)
    finally:
        client.close()
    print(f"one listing alone, {reps} rounds interleaved:")
    for name, values in times.items():
        print(f"  {name:<56} median {statistics.median(values):.3f} s   min {min(values):.3f} s")


def cycles(client: ManagementClient, count: int) -> tuple[list[dict[str, float]], dict[str, Graph], int]:
    previous: dict[str, Graph] = {}
    rows = []
    queue_count = 0
    for cycle in range(count + 1):
        timings, previous, queue_count = one_cycle(client, previous)
        if cycle:  # the first cycle warms connections and diffs against nothing
            rows.append(timings)
        time.sleep(0.5)  # a poll interval's pause, as the poller leaves between cycles
    return rows, previous, queue_count


if __name__ == "__main__":
    sys.exit(main())
