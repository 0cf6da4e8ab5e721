"""Helpers for the recording's tests: graphs as the hub builds them, items as the hub would
enqueue them at chosen times, and a service that records to a temporary file."""

from __future__ import annotations

import copy
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import requests

from tests.conftest import StaticSource, free_port, snapshot_of, wait_for
from visualiser import Service, create_app, service_of
from visualiser.config import Settings
from visualiser.model.diff import diff_graphs, is_empty
from visualiser.model.entities import Binding, Exchange, Queue, VhostSnapshot
from visualiser.model.topology import Graph, build_graph
from visualiser.recording.store import Store
from visualiser.recording.writer import Item, Writer


def vhost_with(
    depths: dict[str, int], vhost: str = "/", consumers: int = 1, bound: tuple[str, ...] = ()
) -> VhostSnapshot:
    """Queues with these depths; each queue in ``bound`` bound to exchange 'events'."""
    queues = tuple(
        Queue(
            name,
            messages_ready=depth,
            messages_unacknowledged=0,
            consumers=consumers,
            rates={"publish": float(depth % 7)},
        )
        for name, depth in depths.items()
    )
    exchanges = (Exchange("", "direct"), Exchange("events", "topic"))
    bindings = tuple(Binding("events", name, "queue", f"{name}.#") for name in bound)
    return VhostSnapshot(vhost, exchanges=exchanges, queues=queues, bindings=bindings, broker_version="3.13.0")


def graph_of(depths: dict[str, int], **kwargs: Any) -> Graph:
    return build_graph(vhost_with(depths, **kwargs))


def as_dicts(nodes: Any, edges: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """Nodes and edges by id, through JSON-shaped copies, for comparing."""
    items = (nodes.values() if isinstance(nodes, dict) else nodes, edges.values() if isinstance(edges, dict) else edges)
    return ({n["id"]: copy.deepcopy(n) for n in items[0]}, {e["id"]: copy.deepcopy(e) for e in items[1]})


class Feed:
    """What the hub would enqueue for one vhost, at times the test chooses: the first graph
    as a keyframe's view, each later one as a patch (and a view when asked)."""

    def __init__(self, vhost: str = "/"):
        self.vhost, self.version = vhost, 0
        self.graph: Graph | None = None

    def show(self, t: float, graph: Graph, keyframe: bool = False) -> list[Item]:
        items: list[Item] = []
        if self.graph is None:
            self.version += 1
            keyframe = True
        else:
            patch = diff_graphs(self.graph, graph)
            if not is_empty(patch):
                self.version += 1
                items.append(
                    (
                        t,
                        "patch",
                        self.vhost,
                        {"vhost": self.vhost, "from": self.version - 1, "to": self.version, **patch},
                    )
                )
        self.graph = graph
        if keyframe:
            items.append((t, "view", self.vhost, (self.version, graph, {"rabbitmq_version": "3.13.0"}, "test")))
        return items


def write(store: Store, writer: Writer, items: list[Item], now: float) -> None:
    with store.transaction():
        writer.write(items)
        writer.flush(now)
        assert writer.session is not None
        store.touch_session(writer.session, now)


@contextmanager
def recorded_service(path: str, first: VhostSnapshot | None = None, **settings: Any) -> Iterator[Service]:
    """The real app recording to ``path``, fed by a static source the test posts to."""
    service = service_of(create_app(Settings(record=path, **settings), sources=[]))
    source = StaticSource(service.hub, snapshot_of(first or vhost_with({"orders": 0})))
    service.sources.append(source)
    service.start()
    service.hub.drain()
    service.test_source = source  # type: ignore[attr-defined]
    try:
        yield service
    finally:
        service.stop()


def post(service: Service, *vhosts: VhostSnapshot) -> None:
    service.test_source.post(snapshot_of(*vhosts))  # type: ignore[attr-defined]


ROOT = Path(__file__).resolve().parents[1]


def answering(url: str) -> bool:
    try:
        return requests.get(url + "/healthz", timeout=2).ok
    except requests.RequestException:
        return False


@contextmanager
def replaying(replay_file: Path) -> Iterator[str]:
    """``app.py --replay FILE`` in a fresh process with no broker (its management URL leads
    nowhere); yields its address once it answers, and stops it afterwards."""
    port = free_port()
    command = [sys.executable, "app.py", "--replay", str(replay_file), "--port", str(port),
               "--management-url", "http://nobody:nothing@127.0.0.1:1", "--log-level", "WARNING"]  # fmt: skip
    replay = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: answering(url), 60, message="the replay answering")
        yield url
    finally:
        replay.terminate()
        replay.wait(30)
