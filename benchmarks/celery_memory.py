"""Memory of the service under a long Celery event stream: RSS after N events (default 1,000,000).

Starts the service as a subprocess on a fresh vhost of the local RabbitMQ, publishes real
task events (every task a new uuid: the worst case for state) with Celery's own
EventDispatcher, and prints the service's resident memory as the count grows.

With --direct, no broker: the same events (as the JSON bodies Celery sends) go through the
service's own ingest path (decode, validate, hub, state, activity) inside this process, and
this process's memory is reported. Quicker, and independent of the broker's speed.

    .venv/bin/python -m benchmarks.celery_memory [--events 1000000] [--direct]
"""

from __future__ import annotations

import argparse

import requests

from benchmarks.celery_common import (
    Vhost,
    counter_sum,
    publish_task_events,
    rss_mb,
    start_service,
    task_event,
    wait_settled,
    wait_until,
)


def direct(events: int, steps: int) -> None:
    import json
    import os
    import time

    from visualiser import create_app, service_of
    from visualiser.celery.events import events_of
    from visualiser.config import Settings

    service = service_of(create_app(Settings(), sources=[]))
    service.start()
    feature = service.celery
    print(f"idle: RSS {rss_mb(os.getpid())[0]:.0f} MB", flush=True)
    step = events // steps
    n = 0
    for done in range(1, steps + 1):
        started = time.perf_counter()
        while n < done * step:
            batch = []
            for _ in range(500):
                kind, fields = task_event(n)
                body = json.dumps(
                    {
                        "type": kind,
                        "hostname": "bench@publisher",
                        "timestamp": time.time(),
                        "clock": n,
                        "pid": 1,
                        "utcoffset": 0,
                        **fields,
                    }
                ).encode()
                batch.extend(event for event, _ in events_of(body, "application/json", "utf-8", time.time()) if event)
                n += 1
            service.hub.submit(lambda batch=batch: feature.ingest(batch))
        service.hub.drain(timeout=120)
        now, peak = rss_mb(os.getpid())
        print(
            f"after {n:>9,} events ({step / (time.perf_counter() - started):,.0f}/s incl. encoding): "
            f"RSS {now:.0f} MB (peak {peak:.0f} MB)",
            flush=True,
        )
    stats = feature.state.stats_json()
    print(
        f"tasks kept: {stats['tasks_kept']:,} (limit {stats['tasks_limit']:,}); "
        f"task names: {len(stats['task_names'])}; events applied: {stats['events_applied']:,}"
    )
    service.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--direct", action="store_true", help="no broker: feed the ingest path in-process")
    args = parser.parse_args()
    if args.direct:
        direct(args.events, args.steps)
        return
    with Vhost() as vhost:
        service, url = start_service(vhost.url)
        try:
            wait_until(
                lambda: requests.get(url + "/api/celery", timeout=2).json()["source"]["state"] == "ok",
                180,
                "the events consumer",
            )
            idle = rss_mb(service.pid)
            print(f"idle: RSS {idle[0]:.0f} MB", flush=True)
            step = args.events // args.steps
            for n in range(1, args.steps + 1):
                seconds = publish_task_events(vhost.url, step, first_task=(n - 1) * step // 4)
                counted = wait_settled(lambda: counter_sum(url, "visualiser_celery_events_total"), 120, quiet=2.0)
                now, peak = rss_mb(service.pid)
                gaps = requests.get(url + "/api/celery", timeout=10).json()["gaps"]
                print(
                    f"after {n * step:>9,} events published ({step / seconds:,.0f}/s), {counted:>9,.0f} counted, "
                    f"{gaps['expired'] + gaps['over_limit']:,} dropped by the broker (counted as gaps): "
                    f"RSS {now:.0f} MB (peak {peak:.0f} MB)",
                    flush=True,
                )
            summary = requests.get(url + "/api/celery", timeout=10).json()
            print(
                f"tasks kept: {summary['tasks_kept']:,} (limit {summary['tasks_limit']:,}); "
                f"task names: {len(summary['task_names'])}; gaps: {summary['gaps']}"
            )
        finally:
            service.terminate()
            service.wait(30)


if __name__ == "__main__":
    main()
