"""``--replay FILE``: a recording shown without any broker, as ``--definitions`` shows an export.

The file is checked when the service starts (``RecordingError`` says in one line what is
wrong with it: app.py exits 2). The graph the service holds, and sends to every page on
connect, is the recording's last moment; the page moves through the recording itself with
the JSON API (``/api/topology?at=``, ``/api/frames``, ``/api/timeline``), exactly as it
travels back in time over a live service's recording: one code path for both.

Routing questions work on the replayed graph: its exchanges, queues and bindings are read
back into entities (an alternate exchange set by a policy becomes an argument, which routes
the same).
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from typing import Any, Protocol

from ..diagnostics.history import QueueHistory, time_to_drain
from ..model.entities import Binding, Exchange, Queue, VhostSnapshot
from ..model.topology import Graph
from ..sources.status import SourceStatus
from . import schema
from .reader import Moment, NotThere, RecordingReader, clock_text
from .schema import RecordingError

SOURCE = "replay"
HISTORY_WINDOW = 15 * 60.0  # what a queue's details show, as the live diagnostics history


class GraphSink(Protocol):
    def publish_graphs(
        self, source: str, graphs: Mapping[str, tuple[VhostSnapshot, Graph]], broker: Mapping[str, Any]
    ) -> None: ...

    def publish_status(self, status: SourceStatus) -> None: ...


def open_replay(path: str) -> tuple[RecordingReader, dict[str, Moment]]:
    """Check the file and rebuild its last moment; RecordingError in one line when it cannot be shown."""
    schema.open_for_reading(path).close()
    reader = RecordingReader(path)
    with reader.connect() as conn:
        sessions = conn.execute("SELECT id, last FROM sessions ORDER BY id DESC").fetchall()
        if not sessions:
            raise RecordingError(f"{path}: an empty recording (nothing was recorded in it)")
        for session, last in sessions:
            vhosts = reader.vhosts_in(conn, session, last)
            if vhosts:
                try:
                    return reader, {vhost: reader.moment_in(conn, vhost, last, session) for vhost in vhosts}
                except NotThere as exc:
                    raise RecordingError(f"{path}: {exc}") from None
    raise RecordingError(f"{path}: holds no graph to show (no keyframe of any vhost)")


class ReplaySource:
    def __init__(self, path: str, hub: GraphSink):
        self.path, self.hub = path, hub
        self.reader, self.end = open_replay(path)

    def start(self) -> None:
        graphs = {vhost: (entities_from_graph(m), Graph(nodes=m.nodes, edges=m.edges)) for vhost, m in self.end.items()}
        broker = next(iter(self.end.values())).broker
        self.hub.publish_graphs(SOURCE, graphs, broker)
        last = max(m.at for m in self.end.values())
        detail = f"{os.path.basename(self.path)} (a recording, up to {clock_text(last)})"
        self.hub.publish_status(SourceStatus(SOURCE, "ok", detail, last_success=last, since=time.time()))

    def stop(self) -> None:
        pass


class ReplayDiagnostics:
    """What /api/diagnostics and /api/queue-history answer in replay: the recording's last moment."""

    def __init__(self, source: ReplaySource):
        self.source = source

    def findings(self, vhost: str) -> list[dict[str, Any]]:
        moment = self.source.end.get(vhost)
        return list(moment.findings) if moment else []

    def queue_history(self, vhost: str, queue: str) -> dict[str, Any] | None:
        moment = self.source.end.get(vhost)
        if moment is None:
            return None
        try:
            found = self.source.reader.history(vhost, f"queue:{queue}", moment.at - HISTORY_WINDOW, moment.at)
        except LookupError:
            return None
        history = QueueHistory(HISTORY_WINDOW)
        for point in found["points"]:
            if point["messages_ready"] is not None and point["messages_unacknowledged"] is not None:
                history.record(
                    point["t"],
                    [
                        Queue(
                            queue,
                            messages_ready=point["messages_ready"],
                            messages_unacknowledged=point["messages_unacknowledged"],
                        )
                    ],
                )
        points = history.series(queue)
        if not points:
            return None
        trend = history.trend(queue, HISTORY_WINDOW)
        slope = trend.slope if trend else 0.0
        return {
            "vhost": vhost,
            "queue": queue,
            "window": HISTORY_WINDOW,
            "points": [list(p) for p in points],
            "slope": slope,
            "time_to_drain": time_to_drain(points[-1][1], slope) if trend else None,
        }


# ---- entities back from a graph ------------------------------------------------------------------------


def _text(value: Any, default: str = "") -> str:
    return value if isinstance(value, str) else default


def _mapping(value: Any) -> dict[str, Any]:
    return dict(value) if isinstance(value, dict) else {}


def _count(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _exchange(node: dict[str, Any]) -> Exchange:
    arguments = _mapping(node.get("arguments"))
    alternate = node.get("alternate_exchange")
    if isinstance(alternate, str) and "alternate-exchange" not in arguments:
        arguments["alternate-exchange"] = alternate  # set by a policy: routes the same as an argument
    return Exchange(
        name=node["name"],
        type=_text(node.get("type"), "direct"),
        durable=node.get("durable") is not False,
        auto_delete=node.get("auto_delete") is True,
        internal=node.get("internal") is True,
        arguments=arguments,
        policy=node.get("policy") if isinstance(node.get("policy"), str) else None,
    )


def _queue(node: dict[str, Any]) -> Queue:
    return Queue(
        name=node["name"],
        type=_text(node.get("type"), "classic"),
        durable=node.get("durable") is not False,
        auto_delete=node.get("auto_delete") is True,
        exclusive=node.get("exclusive") is True,
        arguments=_mapping(node.get("arguments")),
        policy=node.get("policy") if isinstance(node.get("policy"), str) else None,
        effective_policy_definition=_mapping(node.get("effective_policy_definition")),
        messages_ready=_count(node.get("messages_ready")),
        messages_unacknowledged=_count(node.get("messages_unacknowledged")),
        consumers=_count(node.get("consumers")),
        state=_text(node.get("state"), "running"),
    )


def entities_from_graph(moment: Moment) -> VhostSnapshot:
    """The exchanges, queues and bindings a replayed graph shows, for the routing simulator."""
    nodes = moment.nodes
    exchanges = [_exchange(n) for n in nodes.values() if n["kind"] == "exchange" and not n.get("missing")]
    queues = [_queue(n) for n in nodes.values() if n["kind"] == "queue"]
    bindings = []
    for edge in moment.edges.values():
        if edge["kind"] != "binding":
            continue
        source, target = nodes[edge["source"]], nodes[edge["target"]]
        bindings.append(
            Binding(
                source["name"],
                target["name"],
                "exchange" if target["kind"] == "exchange" else "queue",
                _text(edge.get("routing_key")),
                _mapping(edge.get("arguments")),
            )
        )
    version = moment.broker.get("rabbitmq_version")
    return VhostSnapshot(
        moment.vhost,
        tuple(exchanges),
        tuple(queues),
        tuple(bindings),
        broker_version=version if isinstance(version, str) else None,
    )
