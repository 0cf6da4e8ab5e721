"""Throttled activity frames: what Celery tasks did on the graph in the last interval.

The browser never gets one message per event. The camera counts, per interval, tasks
sent along each exchange → queue binding, taken by each worker from each queue, and
finished on each worker by state, and keeps a handful of sampled task events so the page
can animate individual tasks when traffic is slow enough to follow by eye. The feature
ships one frame per interval (at most 4 a second), only when something happened.
"""

from __future__ import annotations

import time
from typing import Any

from ..model.topology import Graph, implicit_binding_id, node_id
from .state import STATE_OF, TaskRecord

MAX_SAMPLES = 12


def worker_node_id(hostname: str) -> str:
    return node_id("worker", hostname)


def worker_edge_id(queue: str, hostname: str) -> str:
    return f"consumes:worker:{hostname}\n{queue}"


class Camera:
    def __init__(self, clock: Any = time.monotonic):
        self.clock = clock
        self._since = clock()
        self._edges: dict[tuple[str, str, str], dict[str, int]] = {}  # (kind, a, b) -> state counts
        self._nodes: dict[tuple[str, str], dict[str, int]] = {}  # (kind, name) -> state counts
        self._samples: list[dict[str, Any]] = []
        self._seen = 0

    def record(self, event: dict[str, Any], task: TaskRecord | None) -> None:
        if task is None:
            return
        state = STATE_OF[event["type"]]
        self._seen += 1
        if state == "sent" and task.queue is not None:
            self._bump(self._edges, ("bind", task.exchange or "", task.queue), state)
            self._bump(self._nodes, ("queue", task.queue), state)
        elif state == "received" and task.worker:
            if task.queue is not None:
                self._bump(self._edges, ("serve", task.queue, task.worker), state)
            self._bump(self._nodes, ("worker", task.worker), state)
        elif task.worker:
            self._bump(self._nodes, ("worker", task.worker), state)
        if len(self._samples) < MAX_SAMPLES:
            self._samples.append(
                {
                    "uuid": task.uuid,
                    "name": task.name,
                    "state": state,
                    "queue": task.queue,
                    "exchange": task.exchange,
                    "worker": task.worker,
                    "runtime": task.runtime,
                }
            )

    @staticmethod
    def _bump(table: dict[Any, dict[str, int]], key: tuple[str, ...], state: str) -> None:
        counts = table.setdefault(key, {})
        counts[state] = counts.get(state, 0) + 1

    @property
    def idle(self) -> bool:
        return self._seen == 0

    def take(self, vhost: str, graph: Graph | None, extra: dict[str, Any] | None = None) -> dict[str, Any]:
        """The frame for the interval just ended, mapped onto the graph's ids; starts a new one."""
        now = self.clock()
        interval = max(now - self._since, 1e-3)
        index = _binding_index(graph)
        edges: dict[str, dict[str, Any]] = {}
        nodes: dict[str, dict[str, Any]] = {}
        for (kind, a, b), counts in self._edges.items():
            edge = index.get((a, b)) if kind == "bind" else worker_edge_id(a, b)
            if edge is not None and (graph is None or edge in graph.edges or kind == "bind"):
                edges[edge] = _figures(counts, interval)
        for (kind, name), counts in self._nodes.items():
            nodes[node_id(kind, name)] = _figures(counts, interval)
        samples = [dict(s, path=_path(s, index)) for s in self._samples]
        frame = {
            "vhost": vhost,
            "interval": round(interval, 3),
            "at": time.time(),
            "events": self._seen,
            "edges": edges,
            "nodes": nodes,
            "samples": samples,
            **(extra or {}),
        }
        self._since, self._edges, self._nodes, self._samples, self._seen = now, {}, {}, [], 0
        return frame


def _figures(counts: dict[str, int], interval: float) -> dict[str, Any]:
    total = sum(counts.values())
    return {"count": total, "rate": round(total / interval, 2), "states": counts}


def _binding_index(graph: Graph | None) -> dict[tuple[str, str], str]:
    """(exchange name, queue name) -> the id of a binding edge between them; through the
    default exchange, the implicit binding the page draws for that queue."""
    if graph is None:
        return {}
    index: dict[tuple[str, str], str] = {
        ("", node["name"]): implicit_binding_id(node["name"])
        for node in graph.nodes.values()
        if node.get("kind") == "queue"
    }
    for edge in graph.edges.values():
        if edge.get("kind") == "binding" and edge.get("destination_type") == "queue":
            source, target = graph.nodes.get(edge["source"]), graph.nodes.get(edge["target"])
            if source and target:
                index.setdefault((source["name"], target["name"]), edge["id"])
    return index


def _path(sample: dict[str, Any], index: dict[tuple[str, str], str]) -> list[str]:
    """Edge ids a sampled task travels in its current step."""
    queue, worker = sample["queue"], sample["worker"]
    if sample["state"] == "sent" and queue is not None:
        edge = index.get((sample["exchange"] or "", queue))
        return [edge] if edge else []
    if sample["state"] == "received" and queue and worker:
        return [worker_edge_id(queue, worker)]
    return []
