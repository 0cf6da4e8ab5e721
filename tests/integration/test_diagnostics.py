"""Each diagnostics rule against the real broker: create the condition in a throwaway vhost,
see the finding appear through the real poller, undo the condition, see it clear."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
import requests
import socketio
from kombu import Connection

from tests.conftest import MANAGEMENT_URL, Rabbit, run_live, stop_live, wait_for
from visualiser import Service, create_app, service_of
from visualiser.config import Settings

pytestmark = pytest.mark.integration

# Short windows so that conditions show within the broker's 5 s statistics interval.
THRESHOLDS = {"stall_seconds": 3, "growth_window": 8, "min_growth_messages": 5}
# A generous request timeout: a shared broker with thousands of queues can answer slowly.
SETTINGS = Settings(management_url=MANAGEMENT_URL, poll_interval=0.5, request_timeout=30, diagnostics=THRESHOLDS)
CEILING = 120  # generous: broker statistics refresh every 5 s, and the broker may be busy


@pytest.fixture
def service() -> Iterator[Service]:
    svc = service_of(create_app(SETTINGS))
    svc.start()
    yield svc
    svc.stop()


def findings(svc: Service, vhost: str) -> list[dict[str, Any]]:
    response = svc.app.test_client().get("/api/diagnostics", query_string={"vhost": vhost})
    return response.get_json()["findings"] if response.status_code == 200 else []


def finding(svc: Service, vhost: str, rule: str, node: str) -> dict[str, Any] | None:
    return next((f for f in findings(svc, vhost) if f["rule"] == rule and f["node"] == node), None)


def appears(svc: Service, rabbit: Rabbit, rule: str, node: str) -> dict[str, Any]:
    return wait_for(lambda: finding(svc, rabbit.vhost, rule, node), CEILING, 0.25, f"{rule} on {node}")


def clears(svc: Service, rabbit: Rabbit, rule: str, node: str) -> None:
    wait_for(lambda: finding(svc, rabbit.vhost, rule, node) is None, CEILING, 0.25, f"{rule} on {node} to clear")


def purge(rabbit: Rabbit, queue: str) -> None:
    rabbit.call("DELETE", "queues", rabbit.vhost, queue, "contents")


class Publisher:
    """Publishes to an exchange a few times a second until stopped."""

    def __init__(self, rabbit: Rabbit, exchange: str, routing_key: str, every: float = 0.2):
        self.rabbit, self.exchange, self.routing_key, self.every = rabbit, exchange, routing_key, every
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Publisher:
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        self._thread.join(10)

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            try:
                self.rabbit.publish(self.exchange, self.routing_key)
            except (AssertionError, requests.RequestException):
                continue  # a busy or restarting broker: keep publishing, the finding waits for us


def test_backlog_without_consumers_is_pushed_to_browsers_and_clears(rabbit: Rabbit) -> None:
    rabbit.declare_queue("waiting")
    server, _ = run_live(SETTINGS)
    received: list[dict[str, Any]] = []
    client = socketio.Client(reconnection=False)
    client.on("findings", received.append)
    try:
        client.connect(server.url, transports=["websocket"], wait_timeout=10)
        wait_for(lambda: server.service.hub.view(rabbit.vhost), CEILING, message="vhost polled")
        client.emit("subscribe", {"vhost": rabbit.vhost})
        for _ in range(3):
            rabbit.publish("", "waiting")

        def pushed(present: bool) -> bool:
            held: dict[tuple[str, str], dict[str, Any]] = {}  # the frames are diffs: folded as the page does
            for frame in (m for m in received if m["vhost"] == rabbit.vhost):
                for gone in frame.get("removed", []):
                    held.pop((gone["rule"], gone["node"]), None)
                held.update(((f["rule"], f["node"]), f) for f in frame.get("added", []) + frame.get("changed", []))
            return (("no-consumers", "queue:waiting") in held) == present

        wait_for(lambda: pushed(True), CEILING, 0.25, "a findings frame with no-consumers")
        body = server.get("/api/diagnostics", params={"vhost": rabbit.vhost}).json()
        found = next(f for f in body["findings"] if f["rule"] == "no-consumers")
        assert found["severity"] == "warning" and "3 messages ready" in found["message"]
        history = server.get("/api/queue-history", params={"vhost": rabbit.vhost, "queue": "waiting"}).json()
        assert history["points"][-1][1] == 3

        purge(rabbit, "waiting")
        wait_for(lambda: pushed(False), CEILING, 0.25, "a findings frame without no-consumers")
    finally:
        client.disconnect()
        stop_live(server)


def test_growing_backlog_shows_slope_and_never_then_clears(service: Service, rabbit: Rabbit) -> None:
    rabbit.declare_queue("filling")
    with Publisher(rabbit, "", "filling"):
        found = appears(service, rabbit, "backlog-growing", "queue:filling")
        assert "/s)" in found["message"] and "never drains" in found["message"]
        # Publishing through the default exchange routes: no unroutable false alarm on it.
        assert finding(service, rabbit.vhost, "unroutable", "exchange:") is None
        polled = service.hub.view(rabbit.vhost).entities
        wait_for(lambda: service.hub.view(rabbit.vhost).entities is not polled, CEILING, 0.1, "a later poll")
        again = finding(service, rabbit.vhost, "backlog-growing", "queue:filling")
        assert again is not None and again["since"] == found["since"]  # stable across polls
    purge(rabbit, "filling")
    clears(service, rabbit, "backlog-growing", "queue:filling")


def test_consumers_present_but_not_consuming(service: Service, rabbit: Rabbit) -> None:
    for name in ("busy", "starved"):
        rabbit.declare_queue(name)
        for _ in range(3):
            rabbit.publish("", name)
    with Connection(rabbit.amqp_url()) as conn:
        channel = conn.channel()
        # One channel-wide credit, taken by the first consumer: the second gets nothing.
        channel.basic_qos(0, 1, True)
        channel.basic_consume("busy", callback=lambda message: None)
        wait_for(
            lambda: service.hub.view(rabbit.vhost) and _unacked(service, rabbit.vhost, "busy") == 1,
            CEILING,
            0.25,
            "busy to hold its one message",
        )
        channel.basic_consume("starved", callback=lambda message: None)
        found = appears(service, rabbit, "not-consuming", "queue:starved")
        assert "1 consumer(s)" in found["message"] and "3 messages wait" in found["message"]
    clears(service, rabbit, "not-consuming", "queue:starved")
    assert finding(service, rabbit.vhost, "no-consumers", "queue:starved")


def _unacked(svc: Service, vhost: str, queue: str) -> int:
    view = svc.hub.view(vhost)
    found = view.entities.queue(queue) if view else None
    return found.messages_unacknowledged if found else -1


def test_unacked_piling_up_at_prefetch(service: Service, rabbit: Rabbit) -> None:
    rabbit.declare_queue("jobs")
    for _ in range(5):
        rabbit.publish("", "jobs")
    with Connection(rabbit.amqp_url()) as conn:
        channel = conn.channel()
        channel.basic_qos(0, 2, False)
        channel.basic_consume("jobs", callback=lambda message: None)  # takes two, never acks
        found = appears(service, rabbit, "unacked-stuck", "queue:jobs")
        assert found["severity"] == "critical" and "prefetch 2" in found["message"]
    clears(service, rabbit, "unacked-stuck", "queue:jobs")


def test_unroutable_publishes_and_exchange_without_bindings(service: Service, rabbit: Rabbit) -> None:
    rabbit.declare_exchange("dropper")
    rabbit.declare_queue("sink")
    appears(service, rabbit, "routes-nowhere", "exchange:dropper")
    with Publisher(rabbit, "dropper", "anything"):
        found = appears(service, rabbit, "unroutable", "exchange:dropper")
        assert "routes none" in found["message"]
        rabbit.bind("dropper", "sink", "anything")
        clears(service, rabbit, "unroutable", "exchange:dropper")
        clears(service, rabbit, "routes-nowhere", "exchange:dropper")


def test_dead_letter_exchange_missing_then_unbound_then_fixed(service: Service, rabbit: Rabbit) -> None:
    rabbit.declare_queue("work", arguments={"x-dead-letter-exchange": "dlx", "x-dead-letter-routing-key": "failed"})
    appears(service, rabbit, "dlx-missing", "queue:work")
    rabbit.declare_exchange("dlx", "direct")
    clears(service, rabbit, "dlx-missing", "queue:work")
    found = appears(service, rabbit, "dlx-unrouted", "queue:work")
    assert "'failed'" in found["message"]
    rabbit.declare_queue("work.dead")
    rabbit.bind("dlx", "work.dead", "failed")
    clears(service, rabbit, "dlx-unrouted", "queue:work")


def test_dead_letter_cycle_through_a_policy(service: Service, rabbit: Rabbit) -> None:
    rabbit.declare_exchange("to-b", "fanout")
    rabbit.declare_exchange("to-a", "fanout")
    rabbit.declare_queue("a", arguments={"x-dead-letter-exchange": "to-b"})
    rabbit.declare_queue("b")
    rabbit.bind("to-b", "b")
    rabbit.bind("to-a", "a")
    rabbit.call(
        "PUT",
        "policies",
        rabbit.vhost,
        "b-dead-letters",
        body={"pattern": "^b$", "apply-to": "queues", "definition": {"dead-letter-exchange": "to-a"}},
    )
    found = appears(service, rabbit, "dlx-cycle", "queue:a")
    assert "'a' → 'b' → 'a'" in found["message"]
    rabbit.call("DELETE", "policies", rabbit.vhost, "b-dead-letters")
    clears(service, rabbit, "dlx-cycle", "queue:a")


def test_dead_letter_queue_filling(service: Service, rabbit: Rabbit) -> None:
    rabbit.declare_exchange("dlx", "fanout")
    rabbit.declare_queue("dead")
    rabbit.bind("dlx", "dead")
    # Every message expires at once and is dead-lettered into 'dead'.
    rabbit.declare_queue("expiring", arguments={"x-dead-letter-exchange": "dlx", "x-message-ttl": 0})
    with Publisher(rabbit, "", "expiring"):
        found = appears(service, rabbit, "dlq-filling", "queue:dead")
        wait_for(
            lambda: finding(service, rabbit.vhost, "dlq-filling", "queue:dead")["severity"] == "warning",
            CEILING,
            0.25,
            "the dead-letter queue seen filling",
        )
        assert "dead-letter queue" in found["message"]
    purge(rabbit, "dead")
    clears(service, rabbit, "dlq-filling", "queue:dead")


def test_alternate_exchange_missing(service: Service, rabbit: Rabbit) -> None:
    rabbit.declare_exchange("front", "topic", arguments={"alternate-exchange": "leftovers"})
    found = appears(service, rabbit, "alternate-missing", "exchange:front")
    assert "'leftovers' does not exist" in found["message"]
    rabbit.declare_exchange("leftovers", "fanout")
    clears(service, rabbit, "alternate-missing", "exchange:front")


def test_queue_reachable_only_by_default_exchange(service: Service, rabbit: Rabbit) -> None:
    rabbit.declare_exchange("orders", "direct")
    rabbit.declare_queue("lonely")
    appears(service, rabbit, "default-exchange-only", "queue:lonely")
    rabbit.bind("orders", "lonely", "new")
    clears(service, rabbit, "default-exchange-only", "queue:lonely")


def test_max_length_from_argument_and_from_policy(service: Service, rabbit: Rabbit) -> None:
    rabbit.declare_queue("capped", arguments={"x-max-length": 4, "x-overflow": "reject-publish"})
    rabbit.declare_queue("limited")
    rabbit.call(
        "PUT",
        "policies",
        rabbit.vhost,
        "limit",
        body={"pattern": "^limited$", "apply-to": "queues", "definition": {"max-length": 10}},
    )
    for _ in range(4):  # the limit: one more would be refused (reject-publish)
        rabbit.publish("", "capped")
    for _ in range(9):
        rabbit.publish("", "limited")
    at_limit = appears(service, rabbit, "max-length", "queue:capped")
    assert at_limit["severity"] == "critical" and "rejecting new publishes" in at_limit["message"]
    near = appears(service, rabbit, "max-length", "queue:limited")
    assert near["severity"] == "warning" and "9/10" in near["message"]
    purge(rabbit, "capped")
    rabbit.call("DELETE", "policies", rabbit.vhost, "limit")
    clears(service, rabbit, "max-length", "queue:capped")
    clears(service, rabbit, "max-length", "queue:limited")
