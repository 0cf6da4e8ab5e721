"""Times one full poll cycle against a large broker: 5,000 queues and 5,500 bindings.

Declares the topology on the real broker in a dedicated vhost over AMQP (pipelined with
nowait, so declaring takes seconds, not one HTTP call per object), then runs the cycle the
live source runs several times: ManagementClient.fetch_broker (every API call), build_graph
for every vhost, and a diff against the previous cycle's graphs. Prints the median and the
maximum, with a breakdown, and compares with what a naive client pays for one plain
``GET /api/queues`` (time and bytes).

    .venv/bin/python benchmarks/poll_cycle.py [--cycles 9] [--keep] [--management-url URL]

The vhost is deleted at the end unless --keep (a second run then skips declaring).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path
from urllib.parse import quote

import requests
from kombu import Connection

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from visualiser.model.diff import diff_graphs  # noqa: E402
from visualiser.model.topology import Graph, build_graph  # noqa: E402
from visualiser.sources.management_api import ManagementClient, split_credentials  # noqa: E402

VHOST = "bench-poll-cycle"
QUEUES = 5000
EXCHANGES = 50
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
    session.put(f"{base}/api/permissions/{path}/{quote(user, safe='')}", timeout=30,
                json={"configure": ".*", "write": ".*", "read": ".*"}).raise_for_status()
    with Connection(amqp_url.rstrip("/") + "/" + path) as connection:
        channel = connection.channel()
        for e in range(EXCHANGES):
            channel.exchange_declare(f"bench.x{e:02d}", "topic", durable=False, nowait=True)
        for q in range(QUEUES):
            name = f"bench.q{q:04d}"
            channel.queue_declare(name, durable=False, auto_delete=False, nowait=True)
            channel.queue_bind(name, f"bench.x{q % EXCHANGES:02d}", routing_key=f"orders.{q}.#", nowait=True)
            if q < EXTRA_BINDINGS:
                channel.queue_bind(name, f"bench.x{(q + 1) % EXCHANGES:02d}", routing_key=f"audit.{q}", nowait=True)
        channel.queue_declare("bench.q0000", durable=False, auto_delete=False, passive=True)  # waits for the rest
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
    parser.add_argument("--keep", action="store_true", help="keep the benchmark vhost for the next run")
    args = parser.parse_args()
    base, session = admin_session(args.management_url)
    _, user, _ = split_credentials(args.management_url)
    try:
        if vhost_counts(base, session) != (QUEUES, QUEUES + EXTRA_BINDINGS):
            print(f"declaring {QUEUES} queues, {EXCHANGES} exchanges, {QUEUES + EXTRA_BINDINGS} bindings "
                  f"in vhost {VHOST!r} over AMQP ...")
            print(f"  declared in {declare(base, session, args.amqp_url, user):.1f} s")
        # The listings see new queues once the broker has collected their stats.
        deadline = time.monotonic() + 120
        while vhost_counts(base, session) != (QUEUES, QUEUES + EXTRA_BINDINGS) and time.monotonic() < deadline:
            time.sleep(1)
        run(base, session, args)
    finally:
        if not args.keep:
            session.delete(f"{base}/api/vhosts/{quote(VHOST, safe='')}", timeout=120)
    return 0


def run(base: str, session: requests.Session, args: argparse.Namespace) -> None:
    client = ManagementClient(args.management_url, timeout=60)
    previous: dict[str, Graph] = {}
    rows = []
    for cycle in range(args.cycles + 1):
        timings, previous, queue_count = one_cycle(client, previous)
        if cycle:  # the first cycle warms connections and diffs against nothing
            rows.append(timings)
    edges = sum(1 for e in previous[VHOST].edges.values() if e["kind"] == "binding")
    print(f"broker: {queue_count} queues and {edges} bindings in {VHOST!r} ({len(previous)} vhosts in all); "
          f"page_size={client.page_size}")
    print(f"poll cycle (fetch_broker + build_graph + diff), {len(rows)} cycles after one warm-up:")
    for part in ("total", "fetch", "build", "diff"):
        values = [row[part] for row in rows]
        print(f"  {part:<6} median {statistics.median(values):.3f} s   max {max(values):.3f} s")
    seconds, size = plain_queues(base, session)
    print(f"plain GET /api/queues (all columns, no paging): {seconds:.3f} s, {size / 1e6:.1f} MB")


if __name__ == "__main__":
    sys.exit(main())
