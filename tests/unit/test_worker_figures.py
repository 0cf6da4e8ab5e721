"""A Celery worker's figures (active, processed, load…) reach the page when they change, not
only when something else rebuilds the graph, and a busy stream of heartbeats redraws it
a few times, not once per event."""

from __future__ import annotations

import time
from typing import Any

from tests.conftest import wait_for

WORKER = "figures@test"
NODE = f"worker:{WORKER}"


def heartbeat(processed: int, active: int = 0, load: float = 0.1) -> dict[str, Any]:
    return {
        "type": "worker-heartbeat",
        "hostname": WORKER,
        "received": time.time(),
        "freq": 60.0,  # heard from often enough to stay online throughout: only figures change
        "active": active,
        "processed": processed,
        "loadavg": [load, load, load],
    }


def ingest(service, batch: list[dict[str, Any]]) -> None:
    service.hub.submit(lambda: service.celery.ingest(batch))
    service.hub.drain()


def worker_node(service) -> dict[str, Any] | None:
    view = service.hub.view("/")
    return view.graph.nodes.get(NODE) if view else None


def record_patches(service) -> list[dict[str, Any]]:
    patches: list[dict[str, Any]] = []
    service.hub.set_emitter(lambda event, data, to=None: patches.append(data) if event == "patch" else None)
    return patches


def changes_to_worker(patches: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [c for p in patches for c in p["change"]["nodes"] if c["id"] == NODE]


def test_heartbeat_figures_reach_the_page_with_nothing_else_changing(service) -> None:
    ingest(service, [heartbeat(processed=1)])
    wait_for(lambda: worker_node(service), 10, message="the worker on the graph")
    patches = record_patches(service)

    # Only figures change: the worker stays online, no queue is learned, no poll comes.
    ingest(service, [heartbeat(processed=7, active=2, load=1.5)])
    wait_for(lambda: changes_to_worker(patches), 10, message="a patch with the worker's new figures")
    change = changes_to_worker(patches)[-1]
    assert (change["processed"], change["active"], change["loadavg"]) == (7, 2, [1.5, 1.5, 1.5])
    assert "online" not in change
    assert worker_node(service)["processed"] == 7


def test_a_stream_of_heartbeats_redraws_the_graph_a_few_times_not_per_event(service) -> None:
    ingest(service, [heartbeat(processed=0)])
    wait_for(lambda: worker_node(service), 10, message="the worker on the graph")
    patches = record_patches(service)
    for processed in range(1, 41):
        ingest(service, [heartbeat(processed=processed)])
    wait_for(lambda: worker_node(service)["processed"] == 40, 10, message="the last figures on the graph")
    # One redraw per event would be 40 patches; throttled, it is a handful whatever the machine's speed.
    assert 1 <= len(changes_to_worker(patches)) <= 10
