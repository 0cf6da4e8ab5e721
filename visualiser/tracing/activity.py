"""Throttled trace frames: what traced messages did on the graph in the last interval.

Like the Celery camera (visualiser.celery.camera), the page never gets one socket message
per traced message: per interval it gets exact counts per edge and node, per publisher
connection and per consumer, and a handful of sampled messages to animate one by one.
Names are kept as the broker gave them until the frame is taken; then they are mapped onto
the graph's ids (a publisher's connection and a delivery's consumer are on the graph only
when the poller has seen them).
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..celery.camera import worker_edge_id
from ..model.topology import Graph, node_id

MAX_SAMPLES = 12
MAX_PUBLISHERS = 50  # per interval; the rest are counted under one row
MAX_CONSUMERS = 100


@dataclass
class _Publisher:
    count: int = 0
    unroutable: int = 0


@dataclass
class _Consumer:
    count: int = 0
    redelivered: int = 0


@dataclass
class Interval:
    """One interval's figures, in broker names."""

    since: float
    events: int = 0
    edges: Counter[str] = field(default_factory=Counter)
    nodes: Counter[str] = field(default_factory=Counter)
    publishers: dict[tuple[str | None, str | None, str], _Publisher] = field(default_factory=dict)
    consumers: dict[tuple[str, str | None, int | None, str | None], _Consumer] = field(default_factory=dict)
    unexplained: Counter[tuple[str, str]] = field(default_factory=Counter)
    samples: list[dict[str, Any]] = field(default_factory=list)
    other_publishers: int = 0
    other_consumers: int = 0


class ActivityCamera:
    def __init__(self, clock: Callable[[], float] = time.monotonic):
        self.clock = clock
        self.interval = Interval(clock())

    @property
    def idle(self) -> bool:
        return self.interval.events == 0

    @property
    def wants_sample(self) -> bool:
        """Whether this interval still takes samples (building one for each message would cost)."""
        return len(self.interval.samples) < MAX_SAMPLES

    def publish(
        self,
        exchange: str,
        connection: str | None,
        user: str | None,
        unroutable: bool,
        path_nodes: tuple[str, ...],
        edges: tuple[str, ...],
        unexplained: tuple[tuple[str, str], ...],
        sample: dict[str, Any] | None,
    ) -> None:
        current = self.interval
        current.events += 1
        current.edges.update(edges)
        current.nodes.update(path_nodes)
        current.unexplained.update(unexplained)
        key = (connection, user, exchange)
        publisher = current.publishers.get(key)
        if publisher is None:
            if len(current.publishers) >= MAX_PUBLISHERS:
                current.other_publishers += 1
                publisher = None
            else:
                publisher = current.publishers[key] = _Publisher()
        if publisher is not None:
            publisher.count += 1
            publisher.unroutable += unroutable
        self._sample(sample)

    def deliver(
        self,
        queue: str,
        connection: str | None,
        channel: int | None,
        user: str | None,
        redelivered: bool,
        sample: dict[str, Any] | None,
    ) -> None:
        current = self.interval
        current.events += 1
        key = (queue, connection, channel, user)
        consumer = current.consumers.get(key)
        if consumer is None and len(current.consumers) >= MAX_CONSUMERS:
            current.other_consumers += 1
        else:
            if consumer is None:
                consumer = current.consumers[key] = _Consumer()
            consumer.count += 1
            consumer.redelivered += redelivered
        self._sample(sample)

    def other(self) -> None:
        """A message that counts as activity but draws nothing (malformed, filtered)."""
        self.interval.events += 1

    def _sample(self, sample: dict[str, Any] | None) -> None:
        if sample is not None and len(self.interval.samples) < MAX_SAMPLES:
            self.interval.samples.append(sample)

    def take(self, vhost: str, graph: Graph | None) -> dict[str, Any]:
        """The interval just ended, mapped onto the graph's ids; starts a new one."""
        now = self.clock()
        current, self.interval = self.interval, Interval(now)
        seconds = max(now - current.since, 1e-3)
        consumers = consumer_index(graph)
        edges = {edge: figures(n, seconds) for edge, n in current.edges.items()}
        delivered = [_consumer(key, counts, consumers) for key, counts in current.consumers.items()]
        for consumer in delivered:
            if consumer["edge"]:
                edges[consumer["edge"]] = figures(consumer["count"], seconds)
        return {
            "vhost": vhost,
            "interval": round(seconds, 3),
            "at": time.time(),
            "events": current.events,
            "edges": edges,
            "nodes": {node: figures(n, seconds) for node, n in current.nodes.items()},
            "publishers": [_publisher(key, counts, graph) for key, counts in current.publishers.items()],
            "consumers": delivered,
            "unexplained": [{"source": a, "target": b, "count": n} for (a, b), n in current.unexplained.items()],
            "samples": [_placed(sample, consumers) for sample in current.samples],
        }


def figures(count: int, seconds: float) -> dict[str, Any]:
    return {"count": count, "rate": round(count / seconds, 2)}


def channel_name(connection: str, channel: int) -> str:
    """How the management API names a channel: its connection's name and number."""
    return f"{connection} ({channel})"


def consumer_index(graph: Graph | None) -> dict[tuple[str, str], str]:
    """(queue name, channel name) -> the node consuming that queue on that channel: a consumer,
    or the Celery worker node its consumers are folded into (celery.monitor)."""
    if graph is None:
        return {}
    found: dict[tuple[str, str], str] = {}
    for node in graph.nodes.values():
        if node.get("kind") == "consumer":
            found.setdefault((node.get("queue", ""), node.get("channel", "")), node["id"])
        elif node.get("kind") == "worker":
            for folded in node.get("consumers") or ():
                found.setdefault((folded.get("queue", ""), folded.get("channel", "")), node["id"])
    return found


def consumes_edge(queue: str, consumer: str) -> str:
    """The id of the edge from a queue to the node consuming it (a worker's edges are its own)."""
    worker = node_id("worker", "")
    if consumer.startswith(worker):
        return worker_edge_id(queue, consumer[len(worker) :])
    return f"consumes:{consumer}"


def _publisher(key: tuple[str | None, str | None, str], counts: _Publisher, graph: Graph | None) -> dict[str, Any]:
    connection, user, exchange = key
    node = node_id("connection", connection) if connection is not None else None
    graph_node = graph.nodes.get(node) if graph is not None and node is not None else None
    label = str(graph_node.get("label")) if graph_node else (connection or "unknown connection")
    return {
        "connection": connection,
        "user": user,
        "label": label,
        "node": node if graph_node else None,
        "exchange": node_id("exchange", exchange),
        "count": counts.count,
        "unroutable": counts.unroutable,
    }


def _consumer(
    key: tuple[str, str | None, int | None, str | None], counts: _Consumer, index: dict[tuple[str, str], str]
) -> dict[str, Any]:
    queue, connection, channel, user = key
    consumer = _consumer_node(queue, connection, channel, index)
    return {
        "queue": node_id("queue", queue),
        "consumer": consumer,
        "edge": consumes_edge(queue, consumer) if consumer else None,
        "connection": connection,
        "channel": channel,
        "user": user,
        "count": counts.count,
        "redelivered": counts.redelivered,
    }


def _consumer_node(
    queue: str, connection: str | None, channel: int | None, index: dict[tuple[str, str], str]
) -> str | None:
    if connection is None or channel is None:
        return None
    return index.get((queue, channel_name(connection, channel)))


def _placed(sample: dict[str, Any], index: dict[tuple[str, str], str]) -> dict[str, Any]:
    """A sample with its consumer node found, and the queue → consumer edge on its path."""
    delivery = sample.pop("delivery", None)
    if delivery is None:
        return sample
    consumer = _consumer_node(delivery["queue"], delivery["connection"], delivery["channel"], index)
    path = [node_id("queue", delivery["queue"])]
    if consumer:
        path += [consumes_edge(delivery["queue"], consumer), consumer]
    return {**sample, "consumer": consumer, "path": path}
