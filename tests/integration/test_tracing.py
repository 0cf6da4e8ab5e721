"""Firehose tracing against the real broker (3.10 and 4.0 passes): plain clients' messages with
their true path, the broker's routing checked against the simulator, the vhost's tracing flag
left as it was found however the trace ends, the bounded queue's drops counted, faults counted
and survived, and bodies kept out of logs and /metrics."""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest
import requests
import socketio
from jsonschema import Draft202012Validator
from kombu import Connection, Consumer, Producer, Queue

from tests.brokers import BROKER, rabbitmqctl
from tests.conftest import MANAGEMENT_URL, LiveServer, Rabbit, StaticSource, run_live, stop_live, wait_for
from tests.contract_check import FrameChecker
from visualiser.config import Settings
from visualiser.contract import frames
from visualiser.contract.schema import schema_for
from visualiser.model.entities import BrokerSnapshot
from visualiser.sources.management_api import ManagementClient
from visualiser.tracing.firehose import QueueLimits
from visualiser.tracing.session import CONFIRM_AFTER

pytestmark = pytest.mark.integration


def tracing_settings(**overrides: Any) -> Settings:
    return Settings(
        **{
            "management_url": MANAGEMENT_URL,
            "trace_url": BROKER.amqp_url(),
            "allow_tracing": True,
            "poll_interval": 0.5,
            **overrides,
        }
    )


class Trace:
    """The trace API of one live server, for one vhost, as the page calls it (same origin, JSON)."""

    def __init__(self, server: LiveServer, vhost: str):
        self.server, self.vhost = server, vhost
        self.origin = {"Origin": server.url}

    def start(self, **body: Any) -> requests.Response:
        return requests.post(
            self.server.url + "/api/trace", json={"vhost": self.vhost, **body}, headers=self.origin, timeout=60
        )

    def stop(self) -> requests.Response:
        return requests.delete(
            self.server.url + "/api/trace", params={"vhost": self.vhost}, headers=self.origin, timeout=60
        )

    def status(self, bodies: bool = False) -> dict[str, Any]:
        params = {"vhost": self.vhost, **({"bodies": "1"} if bodies else {})}
        return self.server.get("/api/trace", params=params).json()

    def message(self, routing_key: str, **wanted: Any) -> dict[str, Any] | None:
        for row in self.status()["messages"]:
            if row["routing_key"] == routing_key and all(row.get(k) == v for k, v in wanted.items()):
                return row
        return None


def flag(rabbit: Rabbit) -> bool:
    return bool(rabbit.call("GET", "vhosts", rabbit.vhost).json()["tracing"])


def set_flag(rabbit: Rabbit, on: bool) -> None:
    vhost = rabbit.call("GET", "vhosts", rabbit.vhost).json()
    rabbit.call(
        "PUT",
        "vhosts",
        rabbit.vhost,
        body={"tracing": on, "description": vhost.get("description", ""), "tags": ",".join(vhost.get("tags", []))},
    )


def shop(rabbit: Rabbit) -> None:
    """orders (topic, alternate exchange orders.ae) -> created; orders -> audit (exchange) -> audit.log."""
    rabbit.declare_exchange("orders.ae", "fanout")
    rabbit.declare_exchange("orders", "topic", arguments={"alternate-exchange": "orders.ae"})
    rabbit.declare_exchange("audit", "fanout")
    rabbit.declare_exchange("void", "direct")
    for queue in ("orders.created", "audit.log", "orders.unrouted"):
        rabbit.declare_queue(queue)
    rabbit.bind("orders", "orders.created", "order.created")
    rabbit.bind("orders", "audit", "order.#", destination_type="exchange")
    rabbit.bind("audit", "audit.log")
    rabbit.bind("orders.ae", "orders.unrouted")


def publisher(rabbit: Rabbit, name: str) -> Connection:
    return Connection(rabbit.amqp_url(), transport_options={"client_properties": {"connection_name": name}})


def broker_connection_name(rabbit: Rabbit, client_name: str) -> str:
    """How the broker names the connection a client opened with connection_name = client_name."""

    def find() -> str | None:
        for conn in rabbit.call("GET", "vhosts", rabbit.vhost, "connections").json():
            if (conn.get("client_properties") or {}).get("connection_name") == client_name:
                return str(conn["name"])
        return None

    return wait_for(find, 30, message=f"connection {client_name!r} on the broker")


@pytest.fixture
def live(rabbit: Rabbit) -> Iterator[LiveServer]:
    shop(rabbit)
    server, _ = run_live(tracing_settings())
    wait_for(
        lambda: server.get("/api/topology", params={"vhost": rabbit.vhost}).status_code == 200,
        30,
        message="the vhost on the graph",
    )
    yield server
    stop_live(server)


class Watcher:
    """A page watching the trace: its frames checked against the contract as they come."""

    def __init__(self, server: LiveServer, vhost: str):
        self.checker = FrameChecker()
        self.frames: dict[str, list[Any]] = {"trace": [], "trace-activity": []}
        self.lock = threading.Lock()
        self.client = socketio.Client(reconnection=False)
        for event in self.frames:
            self.client.on(event, self._handler(event))
        self.client.connect(server.url, transports=["websocket"], wait_timeout=10)
        self.client.emit("subscribe", {"vhost": vhost})  # the page viewing the vhost: `trace` on each change
        self.client.emit("trace-subscribe", {"vhost": vhost})

    def _handler(self, event: str):
        def handle(data: Any) -> None:
            with self.lock:
                self.checker.check(event, data)
                self.frames[event].append(data)

        return handle

    def activity(self) -> list[dict[str, Any]]:
        with self.lock:
            return list(self.frames["trace-activity"])

    def close(self) -> None:
        self.client.disconnect()


# ---- the true path ----------------------------------------------------------------------------------


def test_plain_client_messages_appear_with_their_true_path(rabbit: Rabbit, live: LiveServer) -> None:
    trace = Trace(live, rabbit.vhost)
    watcher = Watcher(live, rabbit.vhost)
    try:
        assert trace.start().status_code == 200
        with publisher(rabbit, "shop-consumer") as consuming:
            got: list[Any] = []
            consumer = Consumer(
                consuming.channel(),
                queues=[Queue("orders.created", no_declare=True)],
                on_message=lambda m: (got.append(m), m.ack()),
                auto_declare=False,
            )
            with consumer, publisher(rabbit, "shop-publisher") as conn:
                producer = Producer(conn.channel())
                producer.publish(b"one", exchange="orders", routing_key="order.created")  # binding and e2e hop
                producer.publish(b"two", exchange="orders", routing_key="misc")  # alternate exchange
                producer.publish(b"three", exchange="void", routing_key="nobody")  # routed nowhere
                wait_for(lambda: consuming.drain_events(timeout=1) or got, 20, message="the consumer's delivery")
                publisher_name = broker_connection_name(rabbit, "shop-publisher")
                consumer_name = broker_connection_name(rabbit, "shop-consumer")

        created = wait_for(
            lambda: trace.message("order.created", verdict="agreed", routed_queues=["audit.log", "orders.created"]),
            30,
            message="order.created traced and agreed",
        )
        assert 'binding:["orders","exchange","audit","order.#",{}]' in created["path"]  # the exchange-to-exchange hop
        assert {"exchange:orders", "exchange:audit", "queue:audit.log", "queue:orders.created"} <= set(created["path"])
        assert created["publisher"]["connection"] == publisher_name and created["publisher"]["user"] == "guest"
        delivered = wait_for(lambda: trace.message("order.created")["delivered_to"], 30, message="its delivery")
        assert delivered[0]["queue"] == "orders.created" and delivered[0]["connection"] == consumer_name
        assert delivered[0]["redelivered"] is False

        misc = wait_for(lambda: trace.message("misc", verdict="agreed"), 30, message="misc traced")
        assert misc["routed_queues"] == ["orders.unrouted"] and "alternate:orders" in misc["path"]

        nowhere = wait_for(lambda: trace.message("nobody"), 30, message="the unroutable publish")
        assert nowhere["unroutable"] and nowhere["routed_queues"] == [] and nowhere["verdict"] == "agreed"
        assert (nowhere["publisher"]["connection"], nowhere["publisher"]["user"]) == (publisher_name, "guest")
        status = trace.status()
        assert {"exchange": "void", "connection": publisher_name, "user": "guest", "count": 1} in [
            {k: row[k] for k in ("exchange", "connection", "user", "count")} for row in status["unroutable"]
        ]
        assert status["counts"]["agreed"] == 3 and status["counts"]["disagreed"] == 0
        assert status["broker"]["untraced_nodes"] == [] and status["broker"]["tracing"] is True
        assert status["broker"]["seen_nodes"] == status["broker"]["nodes"]
        contract = Draft202012Validator(schema_for(frames.TraceStatus))
        assert [e.message for e in contract.iter_errors(trace.status(bodies=True))] == []

        # The page's frames: exact counts per edge, the publisher, and the delivery to the consumer.
        wait_for(lambda: sum(f["events"] for f in watcher.activity()) >= 4, 30, message="activity frames")
        activity = watcher.activity()
        e2e = 'binding:["orders","exchange","audit","order.#",{}]'
        assert sum(f["edges"].get(e2e, {}).get("count", 0) for f in activity) == 1
        assert sum(p["count"] for f in activity for p in f["publishers"] if p["connection"] == publisher_name) == 3
        assert any(
            c["queue"] == "queue:orders.created" and c["connection"] == consumer_name
            for f in activity
            for c in f["consumers"]
        )
    finally:
        watcher.close()
    assert watcher.checker.problems == []
    assert any(frame["state"] == "on" and frame["broker"] for frame in watcher.frames["trace"])


# ---- the simulator checked ---------------------------------------------------------------------------


def read_topology(vhost: str) -> BrokerSnapshot:
    client = ManagementClient(MANAGEMENT_URL)
    try:
        snapshot = client.fetch_broker()
    finally:
        client.close()
    return BrokerSnapshot({vhost: snapshot.vhosts[vhost]}, snapshot.broker)


def doctored(snapshot: BrokerSnapshot, vhost: str) -> BrokerSnapshot:
    """The real topology, less the binding orders -> orders.created and the exchange 'fresh': a
    fresh object each time, as each poll gives."""
    real = snapshot.vhosts[vhost]
    bindings = tuple(b for b in real.bindings if (b.source, b.destination) != ("orders", "orders.created"))
    exchanges = tuple(e for e in real.exchanges if e.name != "fresh")
    return BrokerSnapshot({vhost: replace(real, bindings=bindings, exchanges=exchanges)}, snapshot.broker)


def test_a_wrong_simulator_answer_is_reported_as_a_disagreement(rabbit: Rabbit) -> None:
    shop(rabbit)
    rabbit.declare_exchange("fresh", "fanout")
    rabbit.bind("fresh", "audit.log")
    real = read_topology(rabbit.vhost)
    server, _ = run_live(tracing_settings(), sources=[])
    source = StaticSource(server.service.hub, doctored(real, rabbit.vhost))
    source.start()
    trace = Trace(server, rabbit.vhost)
    try:
        assert trace.start().status_code == 200
        with publisher(rabbit, "shop") as conn:
            producer = Producer(conn.channel())
            producer.publish(b"x", exchange="orders", routing_key="order.created")  # the simulator misses a queue
            producer.publish(b"y", exchange="orders", routing_key="order.shipped")  # the same answer on both sides
            producer.publish(b"z", exchange="fresh", routing_key="")  # an exchange the topology does not have
        wait_for(lambda: trace.status()["counts"]["publishes"] == 3, 30, message="three publishes traced")
        assert trace.status()["counts"]["pending"] == 1  # judged again on the next polls, not reported yet
        for _ in range(CONFIRM_AFTER):
            source.post(doctored(real, rabbit.vhost))
        status = wait_for(
            lambda: (lambda s: s if s["counts"]["disagreed"] == 1 else None)(trace.status()),
            30,
            message="the disagreement confirmed",
        )
        counts = status["counts"]
        assert (counts["agreed"], counts["pending"], counts["unknown_exchange"]) == (1, 0, 1)
        assert counts["unchecked_reasons"] == {"no-such-exchange": 1}
        [row] = status["disagreements"]
        assert row["routed_queues"] == ["audit.log", "orders.created"] and row["simulated_queues"] == ["audit.log"]
        assert row["topology_version"] == status["topology_version"]

        def finding() -> dict[str, Any] | None:
            findings = server.get("/api/diagnostics", params={"vhost": rabbit.vhost}).json()["findings"]
            return next((f for f in findings if f["rule"] == "trace-disagrees"), None)

        found = wait_for(finding, 30, message="a trace-disagrees finding")
        assert found["node"] == "exchange:orders" and "'orders.created'" in found["message"]
        assert f"topology version {row['topology_version']}" in found["message"]
    finally:
        trace.stop()
        stop_live(server)


# ---- the broker left as it was found ------------------------------------------------------------------


def test_tracing_is_off_after_stop_and_the_vhost_keeps_its_description_and_tags(
    rabbit: Rabbit, live: LiveServer
) -> None:
    rabbit.call("PUT", "vhosts", rabbit.vhost, body={"description": "the shop", "tags": "prod,eu"})
    trace = Trace(live, rabbit.vhost)
    assert not flag(rabbit)
    started = trace.start(exchange="orders", queue="orders.created")
    assert started.status_code == 200 and flag(rabbit)
    assert started.json()["broker"]["bindings"] == ["publish.orders", "deliver.orders.created"]
    assert started.json()["broker"]["was_on"] is False
    stopped = trace.stop()
    assert stopped.status_code == 200 and stopped.json()["state"] == "off" and not flag(rabbit)
    vhost = rabbit.call("GET", "vhosts", rabbit.vhost).json()
    assert (vhost["description"], sorted(vhost["tags"])) == ("the shop", ["eu", "prod"])


def test_tracing_stops_by_itself_when_its_time_runs_out(rabbit: Rabbit, live: LiveServer) -> None:
    trace = Trace(live, rabbit.vhost)
    assert trace.start(minutes=0.05).status_code == 200 and flag(rabbit)
    status = wait_for(
        lambda: (lambda s: s if s["state"] == "off" else None)(trace.status()),
        30,
        message="the trace stopped after 3 seconds",
    )
    assert "time ran out" in status["stop_reason"] and not flag(rabbit)


def test_tracing_stops_when_the_last_page_watching_it_closes(rabbit: Rabbit, live: LiveServer) -> None:
    trace = Trace(live, rabbit.vhost)
    watcher = Watcher(live, rabbit.vhost)
    wait_for(lambda: watcher.frames["trace"], 15, message="the watcher's first status")
    assert trace.start().status_code == 200 and trace.status()["watchers"] == 1
    watcher.close()
    status = wait_for(
        lambda: (lambda s: s if s["state"] == "off" else None)(trace.status()),
        40,
        message="the trace stopped once no page watches",
    )
    assert "last page watching" in status["stop_reason"] and not flag(rabbit)


def test_tracing_stops_with_the_service(rabbit: Rabbit) -> None:
    shop(rabbit)
    server, _ = run_live(tracing_settings())
    wait_for(lambda: server.get("/api/topology", params={"vhost": rabbit.vhost}).status_code == 200, 30)
    assert Trace(server, rabbit.vhost).start().status_code == 200 and flag(rabbit)
    stop_live(server)
    assert not flag(rabbit)


def test_tracing_that_was_already_on_is_left_on(rabbit: Rabbit, live: LiveServer) -> None:
    set_flag(rabbit, True)
    trace = Trace(live, rabbit.vhost)
    started = trace.start()
    assert started.status_code == 200 and started.json()["broker"]["was_on"] is True
    assert trace.stop().status_code == 200
    assert flag(rabbit)


# ---- limits and faults ---------------------------------------------------------------------------------


def test_the_bounded_queue_drops_what_a_slow_service_cannot_take_and_every_drop_is_counted(
    rabbit: Rabbit, live: LiveServer
) -> None:
    tracer = live.service.tracer
    assert tracer is not None
    tracer.queue_limits = QueueLimits(max_length=50, prefetch=100)
    trace = Trace(live, rabbit.vhost)
    assert trace.start(exchange="void").status_code == 200
    run = tracer._runs[rabbit.vhost]
    gate = threading.Event()
    live.service.hub.submit(lambda: gate.wait(60))  # the hub is stuck: batches wait, the consumer stops acking
    burst = 3000
    try:
        with publisher(rabbit, "burst") as conn:
            producer = Producer(conn.channel())
            for i in range(burst):
                producer.publish(b"m%d" % i, exchange="void", routing_key="nobody")
        wait_for(lambda: run.backend.dropped > 0, 30, message="the broker dropping from the full trace queue")
    finally:
        gate.set()

    def settled() -> dict[str, Any] | None:
        counts = trace.status()["counts"]
        return counts if counts["publishes"] + counts["dropped"] == burst else None

    counts = wait_for(settled, 60, message="every publish either traced or counted as dropped")
    assert counts["dropped"] > 0 and counts["dropped_exact"] is True
    assert trace.status()["limits"]["max_length"] == 50


def consumer_connection(rabbit: Rabbit, queue: str) -> str:
    def find() -> str | None:
        for consumer in rabbit.call("GET", "consumers", rabbit.vhost).json():
            details = consumer.get("channel_details")  # [] until the broker has the channel's stats
            if consumer["queue"]["name"] == queue and isinstance(details, dict) and details.get("connection_name"):
                return str(details["connection_name"])
        return None

    return wait_for(find, 30, message="the trace consumer on the broker")


def test_the_trace_survives_its_queue_deleted_and_a_broker_that_forgot_the_flag(
    rabbit: Rabbit, live: LiveServer
) -> None:
    trace = Trace(live, rabbit.vhost)
    assert trace.start().status_code == 200
    queue = trace.status()["broker"]["queue"]

    rabbitmqctl(BROKER, "delete_queue", "-p", rabbit.vhost, queue)
    faults = wait_for(
        lambda: (lambda f: f if f["queue_lost"] == 1 else None)(trace.status()["broker"]["faults"]),
        30,
        message="the lost queue counted",
    )
    wait_for(lambda: trace.status()["broker"]["consumer"] == "ok", 30, message="the consumer back")
    assert faults["last_fault"] is not None

    # What a broker restart does: the flag is forgotten and the consumer's connection is gone.
    set_flag(rabbit, False)
    rabbit.call("DELETE", "connections", consumer_connection(rabbit, queue))
    broker = wait_for(
        lambda: (lambda b: b if b["faults"]["tracing_reenabled"] >= 1 else None)(trace.status()["broker"]),
        60,
        message="tracing found off after the reconnect and turned on again",
    )
    assert broker["faults"]["tracing_found_off"] >= 1 and broker["faults"]["reconnects"] >= 2 and flag(rabbit)

    rabbit.publish("orders", "order.created", "after")
    wait_for(lambda: trace.message("order.created"), 30, message="traced after the faults")
    assert trace.stop().status_code == 200 and not flag(rabbit)  # the service turned it on: it turns it off


def test_bodies_only_when_asked_cut_to_size_and_never_in_logs_or_metrics(
    rabbit: Rabbit, live: LiveServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    secret = f"SECRET-{uuid.uuid4().hex}"
    trace = Trace(live, rabbit.vhost)
    assert trace.start().status_code == 200
    with publisher(rabbit, "shop") as conn:
        producer = Producer(conn.channel())
        producer.publish(secret.encode() + b"x" * 1_000_000, exchange="orders", routing_key="order.big")
        producer.publish(
            secret.encode(),
            exchange="orders",
            routing_key="order.hostile",
            headers={"note": b"\xff\xfe not utf-8", "<script>": "<img src=x onerror=alert(1)>"},
        )
    big = wait_for(lambda: trace.message("order.big"), 30, message="the big message traced")
    hostile = wait_for(lambda: trace.message("order.hostile"), 30, message="the hostile message traced")
    assert big["size"] == len(secret) + 1_000_000 and "body" not in big
    assert hostile["headers"]["note"] == "\\xff\\xfe not utf-8"  # escaped text, never bytes or markup
    assert hostile["headers"]["<script>"] == "<img src=x onerror=alert(1)>"
    assert trace.status()["counts"]["non_utf8"] >= 1

    shown = {row["routing_key"]: row for row in trace.status(bodies=True)["messages"]}
    limit = trace.status()["limits"]["body_bytes"]
    assert shown["order.big"]["body"].startswith(secret) and len(shown["order.big"]["body"]) == limit
    assert shown["order.big"]["body_truncated"] is True and shown["order.hostile"]["body"] == secret
    assert secret not in requests.get(live.url + "/api/trace", params={"vhost": rabbit.vhost}, timeout=10).text
    time.sleep(0.5)  # frames of the last interval go out
    assert secret not in live.get("/metrics").text
    assert "visualiser_trace_messages_total" in live.get("/metrics").text
    trace.stop()
    assert secret not in caplog.text


# ---- what the broker's users need (docs/tracing.md) ------------------------------------------------------


@pytest.fixture
def user(rabbit: Rabbit) -> Iterator[tuple[str, str]]:
    name, password = f"tracer-{uuid.uuid4().hex[:8]}", uuid.uuid4().hex
    created: list[str] = []

    def make(tags: str, configure: str, write: str, read: str) -> tuple[str, str]:
        rabbit.call("PUT", "users", name, body={"password": password, "tags": tags})
        created.append(name)
        rabbit.call(
            "PUT", "permissions", rabbit.vhost, name, body={"configure": configure, "write": write, "read": read}
        )
        return name, password

    yield make  # type: ignore[misc]
    for made in created:
        rabbit.session.delete(f"{BROKER.management}/api/users/{made}", timeout=10)


def trace_queues(rabbit: Rabbit) -> list[str]:
    return [
        q["name"]
        for q in rabbit.call("GET", "queues", rabbit.vhost).json()
        if q["name"].startswith("visualiser.trace.")
    ]


def test_a_management_user_without_the_administrator_tag_is_refused_clearly_and_nothing_is_left(
    rabbit: Rabbit, user
) -> None:
    shop(rabbit)
    name, password = user("monitoring", ".*", ".*", ".*")
    server, _ = run_live(
        Settings(
            management_url=BROKER.management_url(name, password),
            allow_tracing=True,
            trace_url=BROKER.amqp_url(),
            poll_interval=0.5,
        )
    )
    try:
        wait_for(lambda: server.get("/api/topology", params={"vhost": rabbit.vhost}).status_code == 200, 30)
        refused = Trace(server, rabbit.vhost).start()
        assert refused.status_code == 502
        assert "'administrator' tag" in refused.json()["error"]
        assert not flag(rabbit)
        wait_for(lambda: trace_queues(rabbit) == [], 30, message="the trace queue gone with its consumer")
        assert Trace(server, rabbit.vhost).status()["state"] == "failed"
        assert server.get("/healthz").json()["status"] == "ok"  # a refused trace does not mark the service degraded
    finally:
        stop_live(server)


def test_the_documented_amqp_permissions_are_enough(rabbit: Rabbit, user) -> None:
    shop(rabbit)
    name, password = user(
        "",
        r"^visualiser\.trace\.",
        r"^visualiser\.trace\.|^amq\.default$",
        r"^visualiser\.trace\.|^amq\.rabbitmq\.trace$",
    )
    server, _ = run_live(tracing_settings(trace_url=BROKER.amqp_url(user=name, password=password)))
    trace = Trace(server, rabbit.vhost)
    try:
        wait_for(lambda: server.get("/api/topology", params={"vhost": rabbit.vhost}).status_code == 200, 30)
        assert trace.start().status_code == 200
        rabbit.publish("orders", "order.created", "x")
        wait_for(lambda: trace.message("order.created", verdict="agreed"), 30, message="traced with least privilege")
        assert trace.stop().status_code == 200
    finally:
        stop_live(server)
