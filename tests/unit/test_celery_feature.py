"""The Celery feature inside the app: real recorded events in, worker nodes, activity frames and API
out. Expectations are derived from the events fed in (tests/celery_support.py)."""

from __future__ import annotations

import time

import pytest

from tests.celery_support import (
    CONNECTION,
    broker_view,
    celery_events,
    finished_by_name,
    ingest,
    mid_run,
    of_type,
    task_names,
    task_queues,
)
from tests.conftest import snapshot_of
from visualiser.celery.camera import MAX_SAMPLES


@pytest.fixture
def celery(service):
    service.test_source.post(snapshot_of(broker_view()))
    feature = service.celery
    frames: list[dict] = []
    service.hub.set_emitter(lambda event, data, to=None: frames.append(data) if event == "activity" else None)
    feature.frames = frames
    return feature


def test_workers_appear_on_the_graph_linked_to_their_queues(service, celery, client):
    events = celery_events(until=mid_run())
    ingest(service, events)
    topology = client.get("/api/topology?vhost=/").get_json()
    workers = {n["name"]: n for n in topology["nodes"] if n["kind"] == "worker"}
    assert set(workers) == {e["hostname"] for e in of_type(events, "worker-online")}
    payments = workers["payments@recorder"]
    assert payments["online"] and payments["succeeded"] == len(of_type(events, "task-succeeded", "payments@recorder"))
    links = {(e["source"], e["target"]): e["learned"] for e in topology["edges"] if e.get("worker")}
    assert links[("queue:payments", "worker:payments@recorder")] == "broker"  # via its pidbox connection
    assert links[("queue:emails", "worker:misc@recorder")] == "tasks"  # seen sent to emails, received there
    # Celery sends through the default exchange: the queue says so, and the page draws that binding.
    queues = {q.name for q in broker_view().queues}
    through_default = {e["queue"] for e in of_type(events, "task-sent") if e.get("exchange") == ""} & queues
    assert through_default and {n["name"] for n in topology["nodes"] if n.get("default_routed")} == through_default
    assert not [e for e in topology["edges"] if e.get("implicit")]  # the page alone draws implicit bindings
    # The worker's connection is folded into its node: no consumer boxes, no connection box.
    assert not [n for n in topology["nodes"] if n["kind"] in ("connection", "consumer")]
    assert workers["payments@recorder"]["connection"] == CONNECTION


def test_stopped_workers_show_offline_on_the_graph(service, celery, client):
    events = celery_events()
    stopped = {e["hostname"] for e in of_type(events, "worker-offline")}
    assert stopped  # the run ends with its workers stopping
    ingest(service, events)
    topology = client.get("/api/topology?vhost=/").get_json()
    assert {n["name"]: n["online"] for n in topology["nodes"] if n["kind"] == "worker"} == dict.fromkeys(stopped, False)


def test_activity_frame_maps_tasks_onto_edges_and_stays_small(service, celery):
    events = celery_events(until=mid_run())
    ingest(service, events)
    service.hub.submit(celery.ship_frame)
    service.hub.drain()
    [frame] = celery.frames
    task_events = [e for e in events if e["type"].startswith("task-")]
    assert frame["vhost"] == "/" and frame["events"] == len(task_events)
    assert 0 < len(frame["samples"]) <= MAX_SAMPLES < len(task_events)  # a sample of the tasks, not all of them
    assert "worker:payments@recorder" in frame["nodes"]
    # The payments queue → payments@recorder edge carries every task that worker received from it.
    queues = task_queues(events)
    received = [e for e in of_type(events, "task-received", "payments@recorder") if queues.get(e["uuid"]) == "payments"]
    edge = frame["edges"]["consumes:worker:payments@recorder\npayments"]
    assert received and edge["states"]["received"] == len(received) and edge["rate"] > 0
    implicit = [e for e in frame["edges"] if e.startswith("implicit:queue:")]
    assert implicit, "task-sent through the default exchange shows on its implicit binding"
    assert frame["nodes"]["worker:misc@recorder"]["states"]["failed"] == len(
        of_type(events, "task-failed", "misc@recorder")
    )
    service.hub.submit(celery.ship_frame)  # nothing happened since: no frame
    service.hub.drain()
    assert len(celery.frames) == 1


def test_workers_and_tasks_api(service, celery, client):
    events = celery_events()
    ingest(service, events)
    workers = client.get("/api/workers").get_json()
    assert {w["hostname"] for w in workers} == {e["hostname"] for e in of_type(events, "worker-online")}
    tasks = client.get("/api/tasks?limit=5").get_json()
    assert len(tasks) == 5 and all("state" in t and "uuid" in t for t in tasks)
    failed = client.get("/api/tasks?state=failed").get_json()
    assert sorted(t["name"] for t in failed) == sorted(finished_by_name(events, "failed").elements())
    by_worker = client.get("/api/tasks", query_string={"worker": "payments@recorder", "limit": 1000}).get_json()
    received = {e["uuid"] for e in of_type(events, "task-received", "payments@recorder")}
    assert received and {t["uuid"] for t in by_worker} == received
    summary = client.get("/api/celery").get_json()
    succeeded = finished_by_name(events, "succeeded")
    assert {name: summary["task_names"][name]["counts"]["succeeded"] for name in succeeded} == dict(succeeded)
    assert set(summary["task_names"]) == set(task_names(events).values())
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
    events = [e for e in celery_events() if e["type"].startswith("task-")]
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
