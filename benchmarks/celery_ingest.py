"""Celery event ingestion, this service and Flower side by side in one run.

Starts both as subprocesses on a fresh vhost of the local RabbitMQ, publishes real Celery
task events with Celery's own EventDispatcher as fast as one process can, then reads back
how many each counted (visualiser_celery_events_total and flower_events_total from their
/metrics). Then measures each one's ingest path alone, in this process on the same JSON
bodies with no broker in the way: ours (decode, validate, apply to state, record activity)
and Flower's (decode, EventsState.event, which also feeds its Prometheus counters).

    .venv/bin/python -m benchmarks.celery_ingest [--events 200000]
"""

from __future__ import annotations

import argparse
import json
import time

import requests

from benchmarks.celery_common import (
    Vhost,
    counter_sum,
    publish_task_events,
    rss_mb,
    start_flower,
    start_service,
    task_event,
    wait_settled,
    wait_until,
)
from visualiser.celery.camera import Camera
from visualiser.celery.events import events_of
from visualiser.celery.state import CeleryState


def end_to_end(events: int) -> dict:
    with Vhost() as vhost:
        service, service_url = start_service(vhost.url)
        flower, flower_url = start_flower(vhost.url)
        try:
            wait_until(
                lambda: requests.get(service_url + "/api/celery", timeout=2).json()["source"]["state"] == "ok",
                180,
                "the service's events consumer",
            )
            wait_until(lambda: requests.get(flower_url + "/metrics", timeout=2).ok, 60, "Flower")
            wait_until(lambda: vhost.event_consumers() >= 2, 60, "both event queues to have a consumer")
            seconds = publish_task_events(vhost.url, events)
            ours = wait_settled(lambda: counter_sum(service_url, "visualiser_celery_events_total"), 120)
            theirs = wait_settled(lambda: counter_sum(flower_url, "flower_events_total"), 60)
            return {
                "published": events,
                "publish_seconds": seconds,
                "ours": ours,
                "flower": theirs,
                "ours_rss_mb": rss_mb(service.pid),
                "flower_rss_mb": rss_mb(flower.pid),
                "gaps": requests.get(service_url + "/api/celery", timeout=5).json()["gaps"],
            }
        finally:
            for proc in (service, flower):
                proc.terminate()
                proc.wait(30)


def encoded_events(events: int) -> list[bytes]:
    """The JSON bodies Celery's dispatcher would send for `events` task events."""
    bodies = []
    for n in range(events):
        kind, fields = task_event(n)
        event = {
            "type": kind,
            "hostname": "bench@publisher",
            "timestamp": time.time(),
            "clock": n,
            "pid": 1,
            "utcoffset": 0,
            **fields,
        }
        bodies.append(json.dumps(event).encode())
    return bodies


def ingest_path(bodies: list[bytes]) -> float:
    """Events a second through this service's decode + validate + state + activity."""
    state, camera = CeleryState(), Camera()
    started = time.perf_counter()
    for body in bodies:
        for event, _reason in events_of(body, "application/json", "utf-8", 0.0):
            if event is not None:
                camera.record(event, state.apply(event))
    return len(bodies) / (time.perf_counter() - started)


def flower_ingest_path(bodies: list[bytes]) -> float:
    """Events a second through Flower's own path for the same bodies: decode + EventsState.event."""
    from flower.events import EventsState

    state = EventsState(max_tasks_in_memory=10_000)
    started = time.perf_counter()
    for body in bodies:
        event = json.loads(body)
        event["local_received"] = time.time()  # what Celery's EventReceiver adds before the handler
        state.event(event)
    return len(bodies) / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=200_000)
    args = parser.parse_args()
    run = end_to_end(args.events)
    rate = run["published"] / run["publish_seconds"]
    print(
        f"published {run['published']:,} task events in {run['publish_seconds']:.1f} s "
        f"({rate:,.0f}/s, one process, celery EventDispatcher)"
    )
    for who, counted, rss in (
        ("this service", run["ours"], run["ours_rss_mb"]),
        ("flower", run["flower"], run["flower_rss_mb"]),
    ):
        print(
            f"  {who:<13} counted {counted:>10,.0f}  ({100 * counted / run['published']:5.1f}%)  "
            f"RSS {rss[0]:.0f} MB (peak {rss[1]:.0f} MB)"
        )
    print(f"  this service's gaps: {run['gaps']}")
    bodies = encoded_events(min(args.events, 200_000))
    ours, theirs = ingest_path(bodies), flower_ingest_path(bodies)
    print(
        f"ingest path alone, {len(bodies):,} events in this process: this service {ours:,.0f}/s, "
        f"Flower's (json + EventsState.event) {theirs:,.0f}/s: {ours / theirs:.1f}x"
    )


if __name__ == "__main__":
    main()
