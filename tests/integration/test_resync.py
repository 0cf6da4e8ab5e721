"""Socket.IO resynchronisation against the real broker: a client that drops off, misses
patches and comes back, and a client that sees a gap in the versioned patch stream, both
end identical to a freshly opened page."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
import socketio

from tests.conftest import MANAGEMENT, LiveServer, Rabbit, run_live, stop_live, wait_for
from tests.synthetic import InOrderClient
from visualiser.config import Settings
from visualiser.model.diff import apply_patch
from visualiser.model.topology import Graph

pytestmark = pytest.mark.integration


class GraphClient:
    """What the page does with the socket: snapshot, then patches in version order; a patch
    whose ``from`` is not our version means we missed one, so ask for a fresh snapshot."""

    def __init__(self, url: str, vhost: str):
        self.url, self.vhost = url, vhost
        self.graph: Graph | None = None
        self.version: int | None = None
        self.snapshots = self.patches = self.resyncs = self.dropped = 0
        self.drop_next_patch = False
        self.statuses: list[dict[str, Any]] = []
        self.received: list[Any] = []  # every frame, for leak checks
        self._lock = threading.Lock()
        self.sio = self._new_socket()

    def _new_socket(self) -> socketio.Client:  # in wire order, as a page sees them
        sio = InOrderClient(reconnection=False)
        sio.on("snapshot", self._on_snapshot)
        sio.on("patch", self._on_patch)
        sio.on("status", self._on_status)
        sio.on("*", lambda event, data=None: self.received.append((event, data)))
        return sio

    def reconnect(self) -> GraphClient:
        """A page coming back: a new connection, keeping nothing but the wish to catch up."""
        self.sio = self._new_socket()
        with self._lock:
            self.version = None
        return self.connect()

    def connect(self) -> GraphClient:
        self.sio.connect(self.url, transports=["websocket"], wait_timeout=10)
        self.sio.emit("subscribe", {"vhost": self.vhost})
        wait_for(lambda: self.version is not None, message="first snapshot")
        return self

    def disconnect(self) -> None:
        self.sio.disconnect()

    def _on_snapshot(self, message: dict[str, Any]) -> None:
        self.received.append(("snapshot", message))
        if message["vhost"] != self.vhost:
            return
        with self._lock:
            self.graph = Graph({n["id"]: n for n in message["nodes"]}, {e["id"]: e for e in message["edges"]})
            self.version = message["version"]
            self.snapshots += 1

    def _on_patch(self, message: dict[str, Any]) -> None:
        self.received.append(("patch", message))
        with self._lock:
            if message["vhost"] != self.vhost or self.version is None or message["to"] <= self.version:
                return  # not ours, or already in the snapshot we hold
            if self.drop_next_patch:
                self.drop_next_patch, self.dropped = False, self.dropped + 1
                return
            if message["from"] != self.version:
                self.resyncs += 1
                self.sio.emit("resync", {"vhost": self.vhost})
                return
            self.graph = apply_patch(self.graph, message)
            self.version = message["to"]
            self.patches += 1

    def _on_status(self, message: dict[str, Any]) -> None:
        self.received.append(("status", message))
        self.statuses.append(message)

    def same_as(self, other: GraphClient) -> bool:
        with self._lock:
            return self.version == other.version and self.graph == other.graph


@pytest.fixture
def live(rabbit: Rabbit) -> Iterator[LiveServer]:
    rabbit.declare_exchange("orders", "topic")
    rabbit.declare_queue("billing")
    rabbit.bind("orders", "billing", "order.*")
    server, _ = run_live(Settings(management_url=MANAGEMENT, poll_interval=0.5, request_timeout=3))
    wait_for(lambda: server.get(f"/api/topology?vhost={rabbit.vhost}").ok, message="vhost in the graph")
    yield server
    stop_live(server)


def fresh_page(server: LiveServer, vhost: str, like: GraphClient) -> None:
    """Open a new client and wait until the long-lived one matches it exactly."""

    def matches() -> bool:
        fresh = GraphClient(server.url, vhost).connect()
        try:
            return like.same_as(fresh)
        finally:
            fresh.disconnect()

    wait_for(matches, timeout=20, interval=0.5, message="the client to match a fresh snapshot")


def test_reconnecting_client_ends_identical_to_a_fresh_page(live: LiveServer, rabbit: Rabbit) -> None:
    client = GraphClient(live.url, rabbit.vhost).connect()
    rabbit.declare_queue("shipping")
    wait_for(lambda: client.patches >= 1, message="a live patch")
    client.disconnect()
    # Missed while away: a queue removed, two added, a binding added.
    rabbit.delete_queue("shipping")
    rabbit.declare_queue("audit")
    rabbit.declare_queue("returns")
    rabbit.bind("orders", "audit", "#")
    wait_for(lambda: "audit" in live.get(f"/api/topology?vhost={rabbit.vhost}").text, message="server saw changes")
    missed_version = client.version
    client.reconnect()
    assert client.version > missed_version
    rabbit.bind("orders", "returns", "order.returned")  # and patches flow again after the return
    wait_for(
        lambda: any(e.get("routing_key") == "order.returned" for e in client.graph.edges.values()),
        message="a patch after reconnecting",
    )
    fresh_page(live, rabbit.vhost, client)
    names = [n["name"] for n in client.graph.nodes.values() if n["kind"] == "queue"]
    assert sorted(names) == ["audit", "billing", "returns"]


def test_a_gap_in_the_patch_stream_fetches_a_fresh_snapshot(live: LiveServer, rabbit: Rabbit) -> None:
    client = GraphClient(live.url, rabbit.vhost).connect()
    client.drop_next_patch = True
    rabbit.declare_queue("lost-in-transit")
    wait_for(lambda: client.dropped == 1, message="a patch to go missing")
    rabbit.declare_queue("after-the-gap")
    wait_for(lambda: client.resyncs >= 1 and client.snapshots >= 2, message="the gap to trigger a resync")
    fresh_page(live, rabbit.vhost, client)
    names = {n["name"] for n in client.graph.nodes.values() if n["kind"] == "queue"}
    assert {"lost-in-transit", "after-the-gap", "billing"} <= names
    ids = [*client.graph.nodes, *client.graph.edges]
    assert len(ids) == len(set(ids))
