"""Puts Celery on the graph: wires the events source, state, camera, graph decorator and API.

`install(wiring)` is called by create_app. With --broker-url it starts the events source;
the JSON API answers either way (empty lists without a broker URL). Everything that reads
or writes Celery state runs on the hub thread: the source posts batches with hub.submit,
tickers expire workers and ship activity frames, and HTTP views ask the hub for a copy.

A worker is linked to the queues it consumes by what the broker says: each Celery worker
consumes its remote-control queue ``<hostname>.celery.pidbox`` on the same connection as
its task queues, so that queue's connection names the worker's other consumers. Tasks seen
going from a queue (task-sent) to a worker (task-received) confirm the link, and the
opt-in --inspect asks the workers themselves (`inspect active_queues` and `stats`).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from flask import Blueprint, Response, current_app, jsonify, request
from kombu.utils.url import url_to_parts

from ..hub import Hub, room_for
from ..model.entities import DEFAULT_EXCHANGE, Binding, VhostSnapshot
from ..model.topology import Graph, binding_id, node_id
from ..server.views import json_error
from .camera import Camera, worker_edge_id, worker_node_id
from .state import CeleryState, WorkerState

if TYPE_CHECKING:
    from .. import Wiring

log = logging.getLogger(__name__)
T = TypeVar("T")

FRAME_SECONDS = 0.25  # at most 4 activity frames a second
EXPIRY_SECONDS = 0.5
INSPECT_SECONDS = 30.0
MAX_TASK_LIMIT = 1000
DEFAULT_TASK_LIMIT = 100
FILTERS = ("name", "state", "worker", "queue")


def vhost_of(broker_url: str | None) -> str:
    """The vhost a broker URL names; AMQP's empty path means the default vhost '/'."""
    if not broker_url:
        return "/"
    return url_to_parts(broker_url).path or "/"


class CeleryFeature:
    def __init__(self, hub: Hub, vhost: str, state: CeleryState | None = None):
        self.hub, self.vhost = hub, vhost
        self.state = state or CeleryState()
        self.camera = Camera()
        self.source: Any = None
        self.broker_queues: dict[str, set[str]] = {}  # hostname -> queues, from the last graph build
        self._last_gaps: dict[str, Any] | None = None

    # ---- hub thread ---------------------------------------------------------------------------
    def ingest(self, batch: list[dict[str, Any]]) -> None:
        """Apply a batch of normalised events (hub thread)."""
        apply, record = self.state.apply, self.camera.record
        for event in batch:
            record(event, apply(event))
        self._refresh_if_graph_changed()

    def expire_workers(self) -> None:
        self.state.expire()
        self._refresh_if_graph_changed()

    def _refresh_if_graph_changed(self) -> None:
        # Online/offline and newly learned queues change the graph; heartbeats alone do not.
        if self.state.graph_changed:
            self.state.graph_changed = False
            self.hub.refresh()

    def gaps(self) -> dict[str, Any] | None:
        return self.source.gaps.to_json() if self.source is not None else None

    def ship_frame(self) -> None:
        gaps = self.gaps()
        if self.camera.idle and gaps == self._last_gaps:
            return
        self._last_gaps = gaps
        view = self.hub.view(self.vhost)
        frame = self.camera.take(self.vhost, view.graph if view else None, {"gaps": gaps})
        self.hub.emit("activity", frame, to=room_for(self.vhost))

    def decorate(self, vhost: str, entities: VhostSnapshot, graph: Graph) -> None:
        """Add worker nodes and queue → worker edges to the Celery vhost's graph."""
        if vhost != self.vhost:
            return
        self.broker_queues = _queues_by_worker(graph, self.state.workers)
        _add_default_bindings(graph, self.state.default_routed)
        for worker in self.state.workers.values():
            _add_worker(graph, worker, self.broker_queues.get(worker.hostname, set()))

    def workers_json(self) -> list[dict[str, Any]]:
        workers = self.state.workers_json()
        for worker in workers:
            for queue in sorted(self.broker_queues.get(worker["hostname"], ())):
                worker["queue_sources"].setdefault(queue, "broker")
            worker["queues"] = sorted(worker["queue_sources"])
        return workers

    def learn_from_inspect(self, queues: dict[str, list[str]], pools: dict[str, int]) -> None:
        for hostname, names in queues.items():
            self.state.learn_queues(hostname, names, "inspect")
        for hostname, pool in pools.items():
            worker = self.state.workers.get(hostname)
            if worker is not None:
                worker.pool = pool
        self._refresh_if_graph_changed()


def _queues_by_worker(graph: Graph, workers: Any) -> dict[str, set[str]]:
    """hostname -> queues its connection consumes, found through its pidbox queue."""
    consumers = [n for n in graph.nodes.values() if n.get("kind") == "consumer"]
    worker_of_connection: dict[str, str] = {}
    for node in consumers:
        queue = node.get("queue", "")
        if queue.endswith(".celery.pidbox"):
            hostname = queue[: -len(".celery.pidbox")]
            if hostname in workers:
                worker_of_connection[node["connection"]] = hostname
    found: dict[str, set[str]] = {}
    for node in consumers:
        hostname = worker_of_connection.get(node.get("connection", ""))
        if hostname is not None and not node.get("plumbing"):
            found.setdefault(hostname, set()).add(node["queue"])
    for connection, hostname in worker_of_connection.items():
        if connection in graph.nodes:
            graph.nodes[connection]["celery_worker"] = hostname
    return found


def _add_default_bindings(graph: Graph, queues: Any) -> None:
    """Draw the implicit default-exchange binding of each queue Celery sends to through it."""
    exchange_nid = node_id("exchange", DEFAULT_EXCHANGE)
    if exchange_nid not in graph.nodes:
        return
    for queue in queues:
        queue_nid = node_id("queue", queue)
        if queue_nid in graph.nodes:
            edge_id = binding_id(Binding(DEFAULT_EXCHANGE, queue, "queue", queue))
            graph.edges[edge_id] = {
                "id": edge_id, "kind": "binding", "source": exchange_nid, "target": queue_nid,
                "routing_key": queue, "arguments": {}, "destination_type": "queue", "implicit": True,
            }


def _add_worker(graph: Graph, worker: WorkerState, broker_queues: set[str]) -> None:
    nid = worker_node_id(worker.hostname)
    sources = {queue: "broker" for queue in broker_queues}
    for queue, how in worker.queues.items():
        sources.setdefault(queue, how)
    graph.nodes[nid] = {
        "id": nid, "kind": "worker", "name": worker.hostname, "label": worker.hostname,
        "online": worker.online, "pid": worker.pid, "pool": worker.pool, "active": worker.active,
        "processed": worker.processed, "succeeded": worker.succeeded, "failed": worker.failed,
        "retried": worker.retried, "loadavg": worker.loadavg, "freq": worker.freq,
        "sw_ident": worker.sw_ident, "sw_ver": worker.sw_ver, "offline_since": worker.offline_since,
        "queues": sorted(sources), "plumbing": False,
    }
    for queue, how in sorted(sources.items()):
        queue_nid = node_id("queue", queue)
        if queue_nid in graph.nodes:
            edge_id = worker_edge_id(queue, worker.hostname)
            graph.edges[edge_id] = {
                "id": edge_id, "kind": "consumes", "source": queue_nid, "target": nid,
                "routing_key": None, "arguments": {}, "worker": True, "learned": how,
            }


# ---- reading from HTTP threads ---------------------------------------------------------------
def on_hub(hub: Hub, fn: Callable[[], T], timeout: float = 5.0) -> T:
    """Run fn on the hub thread (the owner of the state) and return its result."""
    done = threading.Event()
    box: dict[str, Any] = {}

    def job() -> None:
        try:
            box["value"] = fn()
        finally:
            done.set()

    hub.submit(job)
    if not done.wait(timeout) or "value" not in box:
        raise TimeoutError("hub busy")
    return box["value"]


bp = Blueprint("celery", __name__)


def _feature() -> CeleryFeature:
    return current_app.extensions["visualiser.celery"]


def _read(fn: Callable[[], Any]) -> Response:
    feature = _feature()
    try:
        return jsonify(on_hub(feature.hub, fn))
    except TimeoutError:
        return json_error(503, "busy; try again")


@bp.get("/api/workers")
def workers() -> Response:
    return _read(_feature().workers_json)


@bp.get("/api/tasks")
def tasks() -> Response:
    raw = request.args.get("limit", str(DEFAULT_TASK_LIMIT))
    if not (raw.isascii() and raw.isdigit()) or not 1 <= int(raw) <= MAX_TASK_LIMIT:
        return json_error(400, f"limit must be a whole number from 1 to {MAX_TASK_LIMIT}")
    filters = {key: request.args.get(key, "") for key in FILTERS}
    if any(len(value) > 255 for value in filters.values()):
        return json_error(400, "filters are at most 255 characters")
    state = _feature().state
    return _read(lambda: state.tasks_json(int(raw), filters))


@bp.get("/api/celery")
def summary() -> Response:
    feature = _feature()
    status = feature.hub.statuses().get("celery-events")

    def build() -> dict[str, Any]:
        return {"vhost": feature.vhost, "enabled": feature.source is not None,
                "source": status.to_json() if status else None, "gaps": feature.gaps(),
                **feature.state.stats_json()}

    return _read(build)


# ---- wiring --------------------------------------------------------------------------------------
def install(wiring: Wiring) -> CeleryFeature:
    settings, hub = wiring.settings, wiring.hub
    feature = CeleryFeature(hub, vhost_of(settings.broker_url))
    wiring.app.extensions["visualiser.celery"] = feature
    wiring.app.register_blueprint(bp)
    hub.add_decorator(feature.decorate)
    hub.every(FRAME_SECONDS, feature.ship_frame)
    hub.every(EXPIRY_SECONDS, feature.expire_workers)
    if settings.broker_url:
        from ..sources.celery_events import CeleryEventsSource

        feature.source = CeleryEventsSource(settings.broker_url, hub, feature.ingest, settings.backoff_cap)
        wiring.sources.append(feature.source)
        if settings.inspect:
            from .inspect import InspectPoller

            wiring.sources.append(InspectPoller(settings.broker_url, feature, INSPECT_SECONDS))
    return feature
