"""The live source end to end on the real broker: hostile names declared over AMQP in a
throwaway vhost reach /api/topology and a Socket.IO client exactly; deletions and depth
changes arrive as patches; a broker API that vanishes or hangs leaves the last graph, stale."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import socketio
from kombu import Connection, Producer

from tests.conftest import MANAGEMENT, MANAGEMENT_URL, Rabbit, run_live, stop_live, wait_for
from tests.fixtures.tcp_proxy import TcpProxy
from visualiser.config import Settings
from visualiser.model.diff import apply_patch
from visualiser.model.topology import Graph

pytestmark = pytest.mark.integration

XSS = "<img src=x onerror=alert(1)>"
LONG_NAME = "n" * 247 + "🐇📨"  # 255 bytes, the broker's limit
HOSTILE = [".", "#", "*", "/", "%", "%2F", 'it\'s "quoted"', "with  spaces ", "emoji 🐇📨", LONG_NAME, XSS, "shared"]
E2E = ("#", "/", "*.#")  # exchange-to-exchange binding: source, destination, key
LIVE = Settings(management_url=MANAGEMENT_URL, poll_interval=0.5)


def declare_hostile(rabbit: Rabbit) -> None:
    """Over AMQP, as applications do: one exchange, one queue and one binding per name."""
    with Connection(rabbit.amqp_url()) as connection:
        channel = connection.channel()
        for name in HOSTILE:
            channel.exchange_declare(name, "topic", durable=False, auto_delete=False)
            channel.queue_declare(name, durable=True, auto_delete=False)  # 4.3 refuses transient non-exclusive queues
            channel.queue_bind(name, name, routing_key=name)
        channel.exchange_bind(E2E[1], E2E[0], routing_key=E2E[2])


def delete_hostile(rabbit: Rabbit) -> None:
    with Connection(rabbit.amqp_url()) as connection:
        channel = connection.channel()
        for name in HOSTILE:
            channel.queue_delete(name)
            channel.exchange_delete(name)


def publish(rabbit: Rabbit, queue: str, count: int) -> None:
    with Connection(rabbit.amqp_url()) as connection:
        producer = Producer(connection.channel())
        for _ in range(count):
            producer.publish("x", exchange="", routing_key=queue)


def topology(server, vhost: str) -> dict[str, Any] | None:
    response = server.get("/api/topology", params={"vhost": vhost})
    return response.json() if response.status_code == 200 else None


def user_objects(body: dict[str, Any]) -> tuple[set[str], set[str], set[tuple[str, str, str]]]:
    """Declared exchanges, queues and bindings in a topology body (built-ins left out)."""
    exchanges = {
        n["name"]
        for n in body["nodes"]
        if n["kind"] == "exchange" and n["name"] != "" and not n["name"].startswith("amq.")
    }
    queues = {n["name"] for n in body["nodes"] if n["kind"] == "queue"}
    bindings = {(e["source"], e["target"], e["routing_key"]) for e in body["edges"] if e["kind"] == "binding"}
    return exchanges, queues, bindings


EXPECTED_BINDINGS = {(f"exchange:{n}", f"queue:{n}", n) for n in HOSTILE} | {
    (f"exchange:{E2E[0]}", f"exchange:{E2E[1]}", E2E[2])
}


class Mirror:
    """What a browser does: snapshot, then patches in order, resync on a gap."""

    def __init__(self, url: str, vhost: str):
        self.vhost = vhost
        self.graph: Graph | None = None
        self.version = 0
        self.patches: list[dict[str, Any]] = []
        self.raw_patch_sizes: list[int] = []
        self.lock = threading.Lock()
        self.client = socketio.Client(reconnection=False)
        self.client.on("snapshot", self.on_snapshot)
        self.client.on("patch", self.on_patch)
        self.client.connect(url, transports=["websocket"], wait_timeout=10)
        self.client.emit("subscribe", {"vhost": vhost})

    def on_snapshot(self, message: dict[str, Any]) -> None:
        with self.lock:
            self.graph = Graph({n["id"]: n for n in message["nodes"]}, {e["id"]: e for e in message["edges"]})
            self.version = message["version"]

    def on_patch(self, message: dict[str, Any]) -> None:
        with self.lock:
            if self.graph is None or message["to"] <= self.version:
                return
            if message["from"] != self.version:
                self.client.emit("resync", {"vhost": self.vhost})
                return
            self.graph = apply_patch(self.graph, message)
            self.version = message["to"]
            self.patches.append(message)
            self.raw_patch_sizes.append(len(json.dumps(message, separators=(",", ":"), ensure_ascii=False)))

    def body(self) -> dict[str, Any]:
        with self.lock:
            graph = self.graph or Graph()
            return {"nodes": list(graph.nodes.values()), "edges": list(graph.edges.values())}

    def close(self) -> None:
        self.client.disconnect()


@pytest.fixture
def live() -> Iterator[Any]:
    server, _ = run_live(LIVE)
    yield server
    stop_live(server)


def test_hostile_names_appear_exactly_then_go(rabbit, live):
    wait_for(lambda: topology(live, rabbit.vhost), timeout=20, message="the empty vhost")
    mirror = Mirror(live.url, rabbit.vhost)
    try:
        wait_for(lambda: mirror.graph is not None, message="snapshot")
        declare_hostile(rabbit)
        expected = (set(HOSTILE), set(HOSTILE), EXPECTED_BINDINGS)
        wait_for(lambda: user_objects(topology(live, rabbit.vhost)) == expected, timeout=20, message="API sees all")
        wait_for(lambda: user_objects(mirror.body()) == expected, timeout=20, message="socket sees all")

        body = topology(live, rabbit.vhost)
        nodes = {n["id"]: n for n in body["nodes"]}
        assert nodes[f"queue:{XSS}"]["label"] == XSS and nodes[f"exchange:{XSS}"]["type"] == "topic"
        assert nodes["queue:shared"]["kind"] == "queue" and nodes["exchange:shared"]["kind"] == "exchange"
        assert len(nodes[f"queue:{LONG_NAME}"]["name"].encode()) == 255
        assert body["vhost"] == rabbit.vhost and body["source"]["state"] == "ok"

        delete_hostile(rabbit)
        gone = (set(), set(), set())
        wait_for(lambda: user_objects(topology(live, rabbit.vhost)) == gone, timeout=20, message="API sees none")
        wait_for(lambda: user_objects(mirror.body()) == gone, timeout=20, message="socket sees none")
        assert mirror.patches and all(p["vhost"] == rabbit.vhost for p in mirror.patches)
    finally:
        mirror.close()


def test_depth_changes_arrive_as_small_change_patches(rabbit, live):
    rabbit.declare_queue("depth")
    wait_for(
        lambda: "queue:depth" in {n["id"] for n in (topology(live, rabbit.vhost) or {"nodes": []})["nodes"]},
        timeout=20,
        message="the queue",
    )
    mirror = Mirror(live.url, rabbit.vhost)
    try:
        wait_for(lambda: mirror.graph is not None, message="snapshot")
        publish(rabbit, "depth", 7)

        def depth_patch() -> dict[str, Any] | None:
            for patch in list(mirror.patches):
                for change in patch["change"]["nodes"]:
                    if change["id"] == "queue:depth" and change.get("messages_ready") == 7:
                        return patch
            return None

        # The broker refreshes queue stats every 5 s (collect_statistics_interval): a generous ceiling.
        patch = wait_for(depth_patch, timeout=30, message="a depth patch")
        assert not patch["add"]["nodes"] and not patch["remove"]["nodes"] and not patch["add"]["edges"]
        change = next(c for c in patch["change"]["nodes"] if c["id"] == "queue:depth")
        assert "name" not in change and "arguments" not in change  # only the changed fields
        assert len(json.dumps(patch, separators=(",", ":"))) < 1024

        def mirror_matches_api() -> bool:
            body = topology(live, rabbit.vhost)
            nodes = {n["id"]: n for n in body["nodes"]}
            return body["version"] == mirror.version and nodes == {n["id"]: n for n in mirror.body()["nodes"]}

        wait_for(mirror_matches_api, timeout=20, message="the socket mirror equal to /api/topology")
    finally:
        mirror.close()


def health(server) -> dict[str, Any]:
    response = server.get("/healthz")
    assert response.status_code == 200  # a failing broker is reported, not a reason to restart us
    return response.json()


def source_state(server) -> str:
    return health(server)["sources"]["management-api"]["state"]


@contextmanager
def live_behind_proxy() -> Iterator[tuple[Any, TcpProxy]]:
    """The app reading the management API through a proxy the test can make refuse or hang
    (events and Prometheus, on other ports, are reached directly)."""
    port = int(MANAGEMENT.rsplit(":", 1)[1])
    with TcpProxy(port) as proxy:
        settings = Settings(
            management_url=f"http://guest:guest@{proxy.url_host}",
            poll_interval=0.5,
            request_timeout=1.0,
            backoff_cap=2.0,
        )
        server, _ = run_live(settings)
        try:
            yield server, proxy
        finally:
            stop_live(server)


def test_a_management_outage_freezes_the_figures_too(rabbit):
    """While events flow, figures are refreshed from Prometheus, on another port than the
    management API. With the API gone the graph is the last one read, said to be so: the
    figures stop with it, rather than moving on a topology nobody can check."""
    rabbit.declare_queue("watched")
    with live_behind_proxy() as (server, proxy):
        wait_for(lambda: topology(server, rabbit.vhost), timeout=20, message="first graph")
        wait_for(
            lambda: extra(server).get("events") is True and extra(server)["figure_refreshes"] > 0,
            timeout=30,
            message="events flowing and figures refreshed between full reads",
        )
        proxy.set_mode("refuse")
        wait_for(lambda: source_state(server) == "unreachable", timeout=20, message="unreachable")
        refreshes, version = extra(server)["figure_refreshes"], topology(server, rabbit.vhost)["version"]
        states = []
        for _ in range(20):  # several poll intervals and backoff rounds
            states.append(source_state(server))
            time.sleep(0.2)
        assert set(states) == {"unreachable"}, states
        assert extra(server)["figure_refreshes"] == refreshes
        assert topology(server, rabbit.vhost)["version"] == version


def ids(graph: dict[str, Any]) -> set[str]:
    return {n["id"] for n in graph["nodes"]}


def extra(server) -> dict[str, Any]:
    return health(server)["sources"]["management-api"]["extra"]


def test_broker_api_vanishing_keeps_the_last_graph_and_recovers(rabbit):
    rabbit.declare_queue("kept")
    with live_behind_proxy() as (server, proxy):
        wait_for(lambda: topology(server, rabbit.vhost), timeout=20, message="first graph")
        graph_before = topology(server, rabbit.vhost)
        assert "queue:kept" in {n["id"] for n in graph_before["nodes"]}

        proxy.set_mode("refuse")
        wait_for(lambda: source_state(server) == "unreachable", timeout=20, message="unreachable")
        body = health(server)
        assert body["status"] == "degraded"
        assert "unreachable" in body["sources"]["management-api"]["last_error"]
        # The graph read before the outage stays (its figures may have moved on before it:
        # they are refreshed between full reads while events flow).
        kept = topology(server, rabbit.vhost)
        assert ids(kept) == ids(graph_before)
        assert kept["source"]["state"] == "unreachable" and kept["source"]["last_success"] is not None

        proxy.set_mode("hang")
        wait_for(
            lambda: "did not answer" in (health(server)["sources"]["management-api"]["last_error"] or ""),
            timeout=30,
            message="a timeout",
        )
        assert topology(server, rabbit.vhost)["nodes"] == kept["nodes"]  # frozen while the API is down

        proxy.set_mode("forward")
        wait_for(lambda: source_state(server) == "ok", timeout=30, message="recovery")
        for text in (server.get("/healthz").text, server.get("/api/topology", params={"vhost": rabbit.vhost}).text):
            assert "guest:guest" not in text


def test_nothing_listening_is_unreachable_from_the_start():
    from tests.conftest import free_port

    server, _ = run_live(
        Settings(management_url=f"http://guest:guest@127.0.0.1:{free_port()}", poll_interval=0.5, backoff_cap=1.0)
    )
    try:
        wait_for(lambda: source_state(server) == "unreachable", timeout=20, message="unreachable")
        assert server.get("/api/vhosts").json() == []
        assert server.get("/api/topology", params={"vhost": "/"}).status_code == 404
    finally:
        stop_live(server)
