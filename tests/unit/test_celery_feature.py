"""The Celery feature inside the app: recorded events in, worker nodes, activity frames and API out."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from tests.conftest import snapshot_of
from visualiser.celery.events import events_of
from visualiser.model.entities import Binding, Connection, Consumer, Exchange, Queue, VhostSnapshot

RECORDED = json.loads((Path(__file__).resolve().parents[1] / "fixtures" / "celery_events.json").read_text())
CONNECTION = "127.0.0.1:40000 -> 127.0.0.1:5672"


def broker_view() -> VhostSnapshot:
    """What the management API shows while payments@recorder runs: its task and pidbox consumers."""
    return VhostSnapshot(
        "/",
        exchanges=(Exchange(""), Exchange("celery.pidbox", "fanout"), Exchange("emails")),
        queues=(Queue("payments"), Queue("emails"), Queue("sync"), Queue("reports"),
                Queue("payments@recorder.celery.pidbox")),
        bindings=(Binding("celery.pidbox", "payments@recorder.celery.pidbox", "queue"),
                  Binding("emails", "emails", "queue", "emails")),
        consumers=(Consumer("payments", "tag-1", "ch-1", CONNECTION),
                   Consumer("payments@recorder.celery.pidbox", "tag-2", "ch-2", CONNECTION)),
        connections=(Connection(CONNECTION, client={"product": "py-amqp"}),),
    )


def recorded_batch(until: float | None = None) -> list[dict]:
    """Recorded events up to `until` seconds into the recording, replayed as if that moment is now."""
    events = []
    base = time.time() - (until if until is not None else RECORDED[-1]["at"])
    for message in RECORDED:
        if until is not None and message["at"] > until:
            break
        for event, _ in events_of(message["body"].encode(), message["content_type"], message["content_encoding"],
                                  received=base + message["at"]):
            events.append(event)
    return events


@pytest.fixture
def celery(service):
    service.test_source.post(snapshot_of(broker_view()))
    feature = service.app.extensions["visualiser.celery"]
    frames: list[dict] = []
    service.hub.set_emitter(lambda event, data, to=None: frames.append(data) if event == "activity" else None)
    feature.frames = frames
    return feature


def ingest(service, feature, batch):
    service.hub.submit(lambda: feature.ingest(batch))
    service.hub.drain()


def mid_run() -> float:
    """A moment after the orders went out and before any worker stopped."""
    return next(m["at"] for m in RECORDED if m["routing_key"] == "worker.offline") - 0.01


def test_workers_appear_on_the_graph_linked_to_their_queues(service, celery, client):
    ingest(service, celery, recorded_batch(until=mid_run()))
    topology = client.get("/api/topology?vhost=/").get_json()
    workers = {n["name"]: n for n in topology["nodes"] if n["kind"] == "worker"}
    assert set(workers) == {"payments@recorder", "misc@recorder"}
    assert workers["payments@recorder"]["online"] and workers["payments@recorder"]["succeeded"] >= 20
    links = {(e["source"], e["target"]): e["learned"] for e in topology["edges"] if e.get("worker")}
    assert links[("queue:payments", "worker:payments@recorder")] == "broker"  # via its pidbox connection
    assert links[("queue:emails", "worker:misc@recorder")] == "tasks"  # seen sent to emails, received there
    implicit = [e for e in topology["edges"] if e.get("implicit")]
    assert {e["target"] for e in implicit} >= {"queue:payments", "queue:emails"}
    conn = next(n for n in topology["nodes"] if n["kind"] == "connection")
    assert conn["celery_worker"] == "payments@recorder"


def test_stopped_workers_show_offline_on_the_graph(service, celery, client):
    ingest(service, celery, recorded_batch())
    topology = client.get("/api/topology?vhost=/").get_json()
    assert [n["online"] for n in topology["nodes"] if n["kind"] == "worker"] == [False, False]


def test_activity_frame_maps_tasks_onto_edges_and_stays_small(service, celery):
    ingest(service, celery, recorded_batch(until=mid_run()))
    service.hub.submit(celery.ship_frame)
    service.hub.drain()
    [frame] = celery.frames
    assert frame["vhost"] == "/" and frame["events"] > 50 and len(frame["samples"]) <= 12
    assert "worker:payments@recorder" in frame["nodes"]
    edge = frame["edges"]["consumes:worker:payments@recorder\npayments"]
    assert edge["states"]["received"] == 20 and edge["rate"] > 0
    implicit = [e for e in frame["edges"] if e.startswith("binding:")]
    assert implicit, "task-sent through the default exchange shows on its implicit binding"
    assert frame["nodes"]["worker:misc@recorder"]["states"]["failed"] >= 1
    service.hub.submit(celery.ship_frame)  # nothing happened since: no frame
    service.hub.drain()
    assert len(celery.frames) == 1


def test_workers_and_tasks_api(service, celery, client):
    ingest(service, celery, recorded_batch())
    workers = client.get("/api/workers").get_json()
    assert {w["hostname"] for w in workers} == {"payments@recorder", "misc@recorder"}
    tasks = client.get("/api/tasks?limit=5").get_json()
    assert len(tasks) == 5 and all("state" in t and "uuid" in t for t in tasks)
    failed = client.get("/api/tasks?state=failed").get_json()
    assert [t["name"] for t in failed] == ["shop.tasks.nightly_report"]
    by_worker = client.get("/api/tasks", query_string={"worker": "payments@recorder", "limit": 1000}).get_json()
    assert len(by_worker) == 20
    summary = client.get("/api/celery").get_json()
    assert summary["task_names"]["shop.tasks.charge_card"]["counts"]["succeeded"] == 20
    assert summary["enabled"] is False and summary["gaps"] is None


@pytest.mark.parametrize("limit", ["0", "-1", "abc", "1001", "1e3", "", "９"])
def test_bad_task_limit_is_a_clear_400(client, limit):
    response = client.get("/api/tasks", query_string={"limit": limit})
    assert response.status_code == 400
    assert "limit" in response.get_json()["error"]


def test_overlong_filter_is_a_400(client):
    response = client.get("/api/tasks", query_string={"name": "x" * 300})
    assert response.status_code == 400


def test_activity_frames_are_throttled_to_four_a_second(service, celery):
    """A steady stream of task events (one batch every 10 ms) yields at most ~4 frames a second."""
    events = [e for e in recorded_batch() if e["type"].startswith("task-")]
    started = time.monotonic()
    batches = 0
    while time.monotonic() - started < 1.5:
        service.hub.submit(lambda: celery.ingest(events[:20]))
        batches += 1
        time.sleep(0.01)
    service.hub.drain()
    elapsed = time.monotonic() - started
    assert batches > 40 and celery.frames
    assert len(celery.frames) <= 4 * elapsed + 1, (len(celery.frames), elapsed)
