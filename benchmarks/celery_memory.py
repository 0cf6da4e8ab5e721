"""Memory of the service under a long Celery event stream: RSS after N events (default 1,000,000).

Starts the service as a subprocess on a fresh vhost of the local RabbitMQ, publishes real
task events (every task a new uuid: the worst case for state) with Celery's own
EventDispatcher, and prints the service's resident memory as the count grows.

    .venv/bin/python benchmarks/celery_memory.py [--events 1000000]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks.celery_common import (  # noqa: E402
    Vhost,
    counter_sum,
    publish_task_events,
    rss_mb,
    start_service,
    wait_settled,
    wait_until,
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--steps", type=int, default=5)
    args = parser.parse_args()
    with Vhost() as vhost:
        service, url = start_service(vhost.url)
        try:
            wait_until(lambda: requests.get(url + "/api/celery", timeout=2).json()["source"]["state"] == "ok",
                       60, "the events consumer")
            idle = rss_mb(service.pid)
            print(f"idle: RSS {idle[0]:.0f} MB", flush=True)
            step = args.events // args.steps
            for n in range(1, args.steps + 1):
                seconds = publish_task_events(vhost.url, step, first_task=(n - 1) * step // 4)
                counted = wait_settled(lambda: counter_sum(url, "visualiser_celery_events_total"), 120, quiet=2.0)
                now, peak = rss_mb(service.pid)
                gaps = requests.get(url + "/api/celery", timeout=10).json()["gaps"]
                print(f"after {n * step:>9,} events published ({step / seconds:,.0f}/s), {counted:>9,.0f} counted, "
                      f"{gaps['expired'] + gaps['over_limit']:,} dropped by the broker (counted as gaps): "
                      f"RSS {now:.0f} MB (peak {peak:.0f} MB)", flush=True)
            summary = requests.get(url + "/api/celery", timeout=10).json()
            print(f"tasks kept: {summary['tasks_kept']:,} (limit {summary['tasks_limit']:,}); "
                  f"task names: {len(summary['task_names'])}; gaps: {summary['gaps']}")
        finally:
            service.terminate()
            service.wait(30)


if __name__ == "__main__":
    main()
