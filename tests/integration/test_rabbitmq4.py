"""What RabbitMQ 4.x brings, on the real brokers.

The stats-off tests run against the RabbitMQ 4.0 node whose management metrics collection
is switched off (marked `nostats`, run once); the queue-type test runs against whichever
broker this pass of the suite is about (3.10 and 4.0 both have quorum queues and streams).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
import requests
import socketio
from kombu import Connection, Consumer, Queue

from tests.brokers import BROKERS
from tests.conftest import LiveServer, Rabbit, run_live, stop_live, wait_for
from visualiser.config import Settings

pytestmark = pytest.mark.integration
NOSTATS = BROKERS["4.0-nostats"]


def queue_node(server: LiveServer, vhost: str, name: str) -> dict[str, Any] | None:
    body = server.get("/api/topology", params={"vhost": vhost}).json()
    return next((n for n in body.get("nodes", []) if n["id"] == f"queue:{name}"), None)


class HeldConsumer:
    """A real consumer that takes messages and never acks them: depth moves to unacked."""

    def __init__(self, url: str, queue: str, prefetch: int = 2):
        self.connection = Connection(url)
        self.channel = self.connection.channel()
        self.channel.basic_qos(0, prefetch, False)
        self.consumer = Consumer(self.channel, [Queue(queue, no_declare=True)], callbacks=[lambda body, msg: None])
        self.consumer.consume()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._drain, daemon=True)
        self._thread.start()

    def _drain(self) -> None:
        while not self._stop.is_set():
            try:
                self.connection.drain_events(timeout=0.2)
            except TimeoutError:
                continue
            except Exception:  # noqa: BLE001 - the connection closed under us at teardown
                return

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self.connection.release()


@pytest.fixture
def held(rabbit_nostats: Rabbit) -> Iterator[HeldConsumer]:
    rabbit_nostats.declare_queue("work", arguments={"x-queue-type": "quorum"})
    for i in range(5):
        rabbit_nostats.publish("", "work", f"m{i}")
    consumer = HeldConsumer(rabbit_nostats.amqp_url(), "work")
    yield consumer
    consumer.close()


@pytest.mark.nostats
def test_stats_off_graph_has_depths_and_consumer_counts_from_totals_and_prometheus(
    rabbit_nostats: Rabbit, held: HeldConsumer
) -> None:
    rabbit_nostats.declare_exchange("orders", "topic")
    rabbit_nostats.bind("orders", "work", "order.#")
    settings = Settings(
        management_url=NOSTATS.management_url(), prometheus_url=(NOSTATS.prometheus,), poll_interval=0.5
    )
    server, _ = run_live(settings)
    try:
        vhost = rabbit_nostats.vhost
        node = wait_for(
            lambda: (lambda n: n if n and n["consumers"] == 1 and n["messages_unacknowledged"] == 2 else None)(
                queue_node(server, vhost, "work")
            ),
            30,
            message="depths from queue totals and the consumer count from Prometheus",
        )
        assert node["messages_ready"] == 3
        # Rates from Prometheus's message counters, from the second scrape on: nothing moves
        # now (the consumer holds its two), so zero, and known to be.
        rates = wait_for(lambda: (n := queue_node(server, vhost, "work")) and n["rates"], 30, message="rates")
        assert rates == {"publish": 0, "deliver_get": 0, "ack": 0, "redeliver": 0}
        assert node["type"] == "quorum" and node["members"] == [f"{NOSTATS.node}@localhost"]
        topology = server.get("/api/topology", params={"vhost": vhost}).json()
        assert any(e["kind"] == "binding" and e["source"] == "exchange:orders" for e in topology["edges"])
        health = server.get("/healthz").json()
        assert health["sources"]["management-api"]["state"] == "ok"  # statistics off is no failure
        snapshot = socket_snapshot(server, vhost)
        figures, missing = snapshot["broker"]["figures"], snapshot["broker"]["missing"]
        assert figures == {
            "depths": "queue totals",
            "consumer_counts": "prometheus",
            "rates": "prometheus counters",
            "consumer_details": "none",
        }
        assert any("management statistics are off" in note["why"] for note in missing)
        assert not any("rates" in note["what"] for note in missing)
    finally:
        stop_live(server)


@pytest.mark.nostats
def test_stats_off_without_prometheus_says_consumer_counts_are_unknown(rabbit_nostats: Rabbit) -> None:
    rabbit_nostats.declare_queue("lonely")
    rabbit_nostats.publish("", "lonely", "x")
    server, _ = run_live(Settings(management_url=NOSTATS.management_url(), prometheus_url=("off",), poll_interval=0.5))
    try:
        node = wait_for(
            lambda: (lambda n: n if n and n["messages_ready"] == 1 else None)(
                queue_node(server, rabbit_nostats.vhost, "lonely")
            ),
            30,
            message="the depth from queue totals",
        )
        assert node["consumers"] is None and node["rates"] == {}  # unknown, never a made-up 0
        missing = socket_snapshot(server, rabbit_nostats.vhost)["broker"]["missing"]
        assert any("consumer counts" in note["what"] and "rates" in note["what"] for note in missing)
    finally:
        stop_live(server)


@pytest.mark.nostats
def test_stats_off_prometheus_unreachable_is_said_and_the_graph_stays(rabbit_nostats: Rabbit) -> None:
    rabbit_nostats.declare_queue("still-here")
    server, _ = run_live(
        Settings(management_url=NOSTATS.management_url(), prometheus_url=("http://127.0.0.1:9",), poll_interval=0.5)
    )
    try:
        wait_for(lambda: queue_node(server, rabbit_nostats.vhost, "still-here"), 30, message="the graph")
        missing = socket_snapshot(server, rabbit_nostats.vhost)["broker"]["missing"]
        assert any("127.0.0.1:9" in note["what"] and "unreachable" in note["why"] for note in missing)
        assert server.get("/healthz").status_code == 200
    finally:
        stop_live(server)


@pytest.mark.nostats
def test_stats_off_prometheus_of_another_broker_on_the_host_is_refused(rabbit_nostats: Rabbit) -> None:
    """Pointed at the other broker's Prometheus (as the default guess, this host at port 15692,
    is on a host running two), the scrape answers for another cluster: nothing is taken from
    it, the consumer counts stay unknown and the note says what to give."""
    other = BROKERS["3.10"].prometheus
    rabbit_nostats.declare_queue("mine")
    server, _ = run_live(Settings(management_url=NOSTATS.management_url(), prometheus_url=(other,), poll_interval=0.5))
    try:
        node = wait_for(lambda: queue_node(server, rabbit_nostats.vhost, "mine"), 30, message="the graph")
        assert node["consumers"] is None and node["rates"] == {}
        missing = socket_snapshot(server, rabbit_nostats.vhost)["broker"]["missing"]
        assert any("another cluster" in note["why"] and "--prometheus-url" in note["why"] for note in missing), missing
    finally:
        stop_live(server)


def test_quorum_queues_and_streams_show_type_leader_and_replicas(rabbit: Rabbit) -> None:
    rabbit.declare_queue("ledger", arguments={"x-queue-type": "quorum", "x-delivery-limit": 5})
    rabbit.declare_queue("audit-stream", arguments={"x-queue-type": "stream"})
    rabbit.declare_queue("plain", arguments={"x-queue-type": "classic"})
    server, _ = run_live(Settings(management_url=rabbit.management_url(), poll_interval=0.5))
    try:
        ledger = wait_for(lambda: queue_node(server, rabbit.vhost, "ledger"), 30, message="quorum queue")
        stream = wait_for(lambda: queue_node(server, rabbit.vhost, "audit-stream"), 30, message="stream")
        plain = wait_for(lambda: queue_node(server, rabbit.vhost, "plain"), 30, message="classic queue")
        overview = requests.get(rabbit.broker.management + "/api/overview", auth=("guest", "guest"), timeout=10).json()
        leader = overview["node"]
        assert (ledger["type"], ledger["node"], ledger["members"], ledger["online"]) == (
            "quorum",
            leader,
            [leader],
            [leader],
        )
        assert stream["type"] == "stream" and stream["node"] == leader
        if rabbit.broker.name != "3.10":  # 3.10 does not list a stream's replicas
            assert stream["members"] == [leader] and stream["online"] == [leader]
        assert plain["type"] == "classic" and plain["members"] == [] and plain["node"] == leader
        assert ledger["delivery_limit"] == {
            "limit": 5,
            "source": "argument or policy",
            "then": "dropped (no dead-letter exchange)",
        }
        findings = server.get("/api/diagnostics", params={"vhost": rabbit.vhost}).json()["findings"]
        assert not [f for f in findings if f["rule"] == "replicas-lost"]  # every replica is up
    finally:
        stop_live(server)


def socket_snapshot(server: LiveServer, vhost: str) -> dict[str, Any]:
    client = socketio.Client()
    got: list[dict[str, Any]] = []
    client.on("snapshot", lambda message: got.append(message))
    client.connect(server.url, transports=["websocket"])
    try:
        client.emit("subscribe", {"vhost": vhost})
        wait_for(lambda: got, 15, message="a snapshot")
    finally:
        client.disconnect()
    return got[0]


def test_local_random_exchange_is_simulated_as_the_broker_routes_it(rabbit: Rabbit) -> None:
    """4.0's x-local-random exchange gives each message to one bound queue on the publisher's node; a
    broker before 4.0 has no such type, and the simulator says it cannot answer rather than guess."""
    server, _ = run_live(Settings(management_url=rabbit.management_url(), poll_interval=0.5))
    try:
        if rabbit.broker.name == "3.10":
            refused = rabbit.session.put(
                rabbit._url("exchanges", rabbit.vhost, "nearby"),
                json={"type": "x-local-random", "durable": True},
                timeout=10,
            )
            assert refused.status_code >= 400  # the type does not exist before 4.0
            return
        rabbit.declare_exchange("nearby", "x-local-random", durable=True)
        for name in ("cache.a", "cache.b"):
            rabbit.declare_queue(name)
            rabbit.bind("nearby", name, "")
        for i in range(20):
            assert rabbit.publish("nearby", "", f"m{i}")
        depths = wait_for(
            lambda: (lambda q: q if sum(q.values()) == 20 else None)(
                {q["name"]: q["messages"] for q in rabbit.call("GET", "queues", rabbit.vhost).json() if "messages" in q}
            ),
            30,
            message="the broker's queue depths",
        )
        assert set(depths) == {"cache.a", "cache.b"}  # every message went to exactly one of the two

        wait_for(lambda: queue_node(server, rabbit.vhost, "cache.b"), 30, message="the graph")
        answer = requests.post(
            server.url + "/api/route", json={"vhost": rabbit.vhost, "exchange": "nearby", "routing_key": ""}, timeout=10
        ).json()
        assert answer["one_of"] == {"nearby": ["cache.a", "cache.b"]} and answer["queues"] == []
        assert (
            answer["semantics"]["version"]
            == requests.get(rabbit.broker.management + "/api/overview", auth=("guest", "guest"), timeout=10).json()[
                "rabbitmq_version"
            ]
        )
    finally:
        stop_live(server)
