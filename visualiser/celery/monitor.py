"""Celery on the graph: state, activity frames and worker nodes, all on the hub thread.

``CeleryMonitor`` owns the Celery state. The events source posts batches to ``ingest``
through the hub; ``attach`` registers its graph decorator and tickers (worker expiry,
throttled activity frames); HTTP views read it through ``Hub.call``. Without a broker URL
it is still there, empty, so the API answers with empty lists.

A worker is linked to the queues it consumes by what the broker says: each Celery worker
consumes its remote-control queue ``<hostname>.celery.pidbox`` on the same connection as
its task queues, so that queue's connection names the worker's other consumers. Tasks seen
going from a queue (task-sent) to a worker (task-received) confirm the link, and the
opt-in --inspect asks the workers themselves (`inspect active_queues` and `stats`).

That connection is folded into the worker's node: its consumer boxes (labelled with
Celery's own tags, "None4" and the like) and their connection leave the graph, each queue
gets one edge to the worker, and the consumers' details (tag, channel, prefetch, acks) go
in the worker node's ``consumers`` for the details panel.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from kombu.utils.url import url_to_parts

from ..hub import Hub, room_for
from ..model.entities import VhostSnapshot
from ..model.topology import Graph, node_id
from ..urls import split_urls
from .camera import Camera, worker_edge_id, worker_node_id
from .state import CeleryState, TaskRecord, WorkerState

log = logging.getLogger(__name__)

FRAME_SECONDS = 0.25  # at most 4 activity frames a second
EXPIRY_SECONDS = 0.5
FIGURES_SECONDS = 2.0  # worker figures alone (heartbeats, finished tasks) redraw the graph at most this often


class GapCounter(Protocol):
    """What the events source reports about holes in the stream."""

    def to_json(self) -> dict[str, Any]: ...


def vhost_of(broker_url: str | None) -> str:
    """The vhost a broker URL names (the first of a failover list); AMQP's empty path means '/'."""
    urls = split_urls(broker_url or "")
    if not urls:
        return "/"
    return url_to_parts(urls[0]).path or "/"


class CeleryMonitor:
    def __init__(self, hub: Hub, vhost: str, state: CeleryState | None = None):
        self.hub, self.vhost = hub, vhost
        self.state = state or CeleryState()
        self.camera = Camera()
        self.enabled = False  # an events source feeds it (--broker-url)
        self.gap_counter: GapCounter | None = None
        self.broker_queues: dict[str, set[str]] = {}  # hostname -> queues, from the last graph build
        self._last_gaps: dict[str, Any] | None = None
        self._figures_shown: tuple[Any, ...] = ()

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

    def attach(self) -> None:
        """Put itself on the hub: the graph decorator, worker expiry, activity frames."""
        self.hub.add_decorator(self.decorate)
        self.hub.every(FRAME_SECONDS, self.ship_frame)
        self.hub.every(EXPIRY_SECONDS, self.expire_workers)
        self.hub.every(FIGURES_SECONDS, self.refresh_worker_figures)

    def refresh_worker_figures(self) -> None:
        """Heartbeats and finished tasks change a worker's figures, not the graph's shape, so
        they do not refresh the graph as they come (a busy worker would redraw it on every
        event): this ticker does, when any figure changed since it last looked."""
        figures = self._worker_figures()
        if figures != self._figures_shown and self.hub.view(self.vhost) is not None:
            self._figures_shown = figures
            self.hub.refresh()

    def _worker_figures(self) -> tuple[Any, ...]:
        return tuple(
            (
                w.hostname,
                w.active,
                w.processed,
                w.succeeded,
                w.failed,
                w.retried,
                tuple(w.loadavg),
                w.pool,
                w.pid,
                w.freq,
                w.sw_ident,
                w.sw_ver,
            )
            for w in self.state.workers.values()
        )

    def gaps(self) -> dict[str, Any] | None:
        return self.gap_counter.to_json() if self.gap_counter is not None else None

    def ship_frame(self) -> None:
        gaps = self.gaps()
        if self.camera.idle and gaps == self._last_gaps:
            return
        self._last_gaps = gaps
        view = self.hub.view(self.vhost)
        frame = self.camera.take(self.vhost, view.graph if view else None, {"gaps": gaps})
        self.hub.emit("activity", frame, to=room_for(self.vhost))

    def decorate(self, vhost: str, entities: VhostSnapshot, graph: Graph) -> None:
        """Add worker nodes and queue → worker edges to the Celery vhost's graph, folding
        each worker's AMQP connection into its node."""
        if vhost != self.vhost:
            return
        folded = fold_worker_connections(graph, self.state.workers)
        self.broker_queues = {hostname: found.queues for hostname, found in folded.items()}
        _mark_default_routed(graph, self.state.default_routed)
        for worker in self.state.workers.values():
            _add_worker(graph, worker, folded.get(worker.hostname, WorkerConnection()))

    def in_flight_tasks(self) -> list[TaskRecord]:
        """Tasks received or started and not finished (hub thread)."""
        return [task for task in self.state.tasks.values() if task.state in ("received", "started")]

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


@dataclass
class WorkerConnection:
    """What the broker shows of one worker's consumers, once taken off the graph."""

    connection: str | None = None  # the broker's name for it
    consumers: list[dict[str, Any]] = field(default_factory=list)  # WorkerConsumer
    queues: set[str] = field(default_factory=set)  # task queues (not Celery's plumbing)


PIDBOX_SUFFIX = ".celery.pidbox"


def fold_worker_connections(graph: Graph, workers: Mapping[str, WorkerState]) -> dict[str, WorkerConnection]:
    """hostname -> its connection's consumers, removed from the graph.

    A worker's connection is the one consuming its ``<hostname>.celery.pidbox``; every
    consumer on it is that worker's. Those consumers, their edges and the connection node
    leave the graph: the worker node stands for them. Other applications' consumers stay."""
    consumers = [n for n in graph.nodes.values() if n.get("kind") == "consumer"]
    worker_of_connection: dict[str, str] = {}
    for node in consumers:
        queue = node.get("queue", "")
        hostname = queue[: -len(PIDBOX_SUFFIX)] if queue.endswith(PIDBOX_SUFFIX) else None
        if hostname and hostname in workers:
            worker_of_connection[node["connection"]] = hostname
    found: dict[str, WorkerConnection] = {}
    for node in sorted(consumers, key=lambda n: (n.get("queue", ""), n["id"])):
        hostname = worker_of_connection.get(node.get("connection", ""))
        if hostname is None:
            continue
        folded = found.setdefault(hostname, WorkerConnection())
        connection = graph.nodes.get(node["connection"], {}).get("name")
        if folded.connection is None or (connection is not None and connection < folded.connection):
            folded.connection = connection
        folded.consumers.append(_worker_consumer(node))
        if not node.get("plumbing"):
            folded.queues.add(node["queue"])
        del graph.nodes[node["id"]]
        graph.edges.pop(f"consumes:{node['id']}", None)
    for connection in worker_of_connection:
        graph.nodes.pop(connection, None)
    return found


def _worker_consumer(node: dict[str, Any]) -> dict[str, Any]:
    return {
        "queue": node["queue"],
        "consumer_tag": node["name"],
        "channel": node["channel"],
        "prefetch_count": node["prefetch_count"],
        "ack_required": node["ack_required"],
        "active": node["active"],
    }


def _mark_default_routed(graph: Graph, queues: Any) -> None:
    """Flag each queue Celery sends to through the default exchange: the page draws that
    implicit binding for it (the page alone draws implicit bindings; the graph carries facts)."""
    for queue in queues:
        node = graph.nodes.get(node_id("queue", queue))
        if node is not None:
            node["default_routed"] = True


def _add_worker(graph: Graph, worker: WorkerState, folded: WorkerConnection) -> None:
    nid = worker_node_id(worker.hostname)
    sources = {queue: "broker" for queue in folded.queues}
    for queue, how in worker.queues.items():
        sources.setdefault(queue, how)
    graph.nodes[nid] = {
        "id": nid,
        "kind": "worker",
        "name": worker.hostname,
        "label": worker.hostname,
        "online": worker.online,
        "pid": worker.pid,
        "pool": worker.pool,
        "active": worker.active,
        "processed": worker.processed,
        "succeeded": worker.succeeded,
        "failed": worker.failed,
        "retried": worker.retried,
        "loadavg": worker.loadavg,
        "freq": worker.freq,
        "sw_ident": worker.sw_ident,
        "sw_ver": worker.sw_ver,
        "offline_since": worker.offline_since,
        "queues": sorted(sources),
        "plumbing": False,
        "connection": folded.connection,
        "consumers": folded.consumers,
    }
    for queue, how in sorted(sources.items()):
        queue_nid = node_id("queue", queue)
        if queue_nid in graph.nodes:
            edge_id = worker_edge_id(queue, worker.hostname)
            graph.edges[edge_id] = {
                "id": edge_id,
                "kind": "consumes",
                "source": queue_nid,
                "target": nid,
                "routing_key": None,
                "arguments": {},
                "worker": True,
                "learned": how,
            }
