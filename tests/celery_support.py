"""Real Celery events for tests downstream of the events source: the events two real workers
sent (tests/fixtures/celery_events.json), the broker as the management API showed it meanwhile,
and what those events say happened, so that a test derives its expectations from the events it
feeds in rather than from figures copied out of them."""

from __future__ import annotations

import json
import time
from collections import Counter
from pathlib import Path
from typing import Any

from visualiser.celery.events import events_of
from visualiser.model.entities import Binding, Connection, Consumer, Exchange, Queue, VhostSnapshot

EVENTS_FILE = Path(__file__).resolve().parent / "fixtures" / "celery_events.json"
MESSAGES: list[dict[str, Any]] = json.loads(EVENTS_FILE.read_text())
CONNECTION = "127.0.0.1:40000 -> 127.0.0.1:5672"


def broker_view() -> VhostSnapshot:
    """What the management API shows while payments@recorder runs: its task and pidbox consumers."""
    return VhostSnapshot(
        "/",
        exchanges=(Exchange(""), Exchange("celery.pidbox", "fanout"), Exchange("emails")),
        queues=(
            Queue("payments"),
            Queue("emails"),
            Queue("sync"),
            Queue("reports"),
            Queue("payments@recorder.celery.pidbox"),
        ),
        bindings=(
            Binding("celery.pidbox", "payments@recorder.celery.pidbox", "queue"),
            Binding("emails", "emails", "queue", "emails"),
        ),
        consumers=(
            Consumer("payments", "tag-1", "ch-1", CONNECTION),
            Consumer("payments@recorder.celery.pidbox", "tag-2", "ch-2", CONNECTION),
        ),
        connections=(Connection(CONNECTION, client={"product": "py-amqp"}),),
    )


def celery_events(until: float | None = None) -> list[dict[str, Any]]:
    """The events up to `until` seconds into the run, decoded as the source decodes them and
    replayed as if that moment is now."""
    events = []
    base = time.time() - (until if until is not None else MESSAGES[-1]["at"])
    for message in MESSAGES:
        if until is not None and message["at"] > until:
            break
        for event, _ in events_of(
            message["body"].encode(),
            message["content_type"],
            message["content_encoding"],
            received=base + message["at"],
        ):
            events.append(event)
    return events


def mid_run() -> float:
    """A moment after the orders went out and before any worker stopped."""
    return next(m["at"] for m in MESSAGES if m["routing_key"] == "worker.offline") - 0.01


# ---- what the events say happened ------------------------------------------------------------------


def of_type(events: list[dict[str, Any]], kind: str, hostname: str | None = None) -> list[dict[str, Any]]:
    """The events of one type (e.g. "task-received"), optionally only those one host sent."""
    return [e for e in events if e["type"] == kind and (hostname is None or e.get("hostname") == hostname)]


def task_names(events: list[dict[str, Any]]) -> dict[str, str]:
    """Each task's name by its id (task-sent and task-received carry it)."""
    return {e["uuid"]: e["name"] for e in events if e["type"] in ("task-sent", "task-received") and "name" in e}


def task_queues(events: list[dict[str, Any]]) -> dict[str, str]:
    """The queue each task was sent to, by its id."""
    return {e["uuid"]: e["queue"] for e in of_type(events, "task-sent") if e.get("queue")}


def finished_by_name(events: list[dict[str, Any]], state: str) -> Counter[str]:
    """How many tasks of each name reached a state ("succeeded", "failed")."""
    names = task_names(events)
    return Counter(names[e["uuid"]] for e in of_type(events, f"task-{state}"))


def ingest(service: Any, events: list[dict[str, Any]]) -> None:
    """Hand events to the app's Celery monitor on the hub thread, as the events source does."""
    service.hub.submit(lambda: service.celery.ingest(events))
    service.hub.drain()


def worker_args(hostname: str, queues: str) -> list[str]:
    """What follows ``celery`` to start one worker of the example shop (examples/celery_project)
    as the tests run it: events on, threads, no start-up chatter with other workers."""
    return ["-A", "shop.app", "worker", "-E", "-n", hostname, "-Q", queues, "-P", "threads", "-c", "2",
            "-l", "warning", "--without-mingle", "--without-gossip"]  # fmt: skip
