"""Real frames against the wire contract: what the running service sends matches the types in
visualiser/contract (through the JSON Schema generated from them), field for field.

Runs the real app twice: the demo (every kind of frame, no broker needed) and a live broker
with Celery events, whose snapshots carry what only a real broker gives (replicas, policies,
consumers, connections)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests
import socketio
from kombu import Connection, Exchange, Producer

from tests.conftest import MANAGEMENT_URL, LiveServer, Rabbit, run_live, stop_live, wait_for
from tests.contract_check import FrameChecker
from visualiser.config import Settings
from visualiser.contract import frames
from visualiser.contract.schema import schema_for

pytestmark = pytest.mark.integration


def publish_celery_events(rabbit: Rabbit, events: list[dict[str, Any]]) -> None:
    """Events as Celery's workers and producers publish them: transient JSON to celeryev."""
    with Connection(rabbit.amqp_url()) as conn:
        producer = Producer(conn.default_channel, exchange=Exchange("celeryev", "topic", durable=True))
        for event in events:
            body = {"timestamp": time.time(), "clock": 1, "utcoffset": 0, "pid": 1, **event}
            producer.publish(
                json.dumps(body),
                routing_key=event["type"].replace("-", "."),
                content_type="application/json",
                content_encoding="utf-8",
                delivery_mode=1,
            )


def task_life(uuid: str, worker: str) -> list[dict[str, Any]]:
    route = {"queue": "orders.created", "exchange": "orders", "routing_key": "order.created"}
    return [
        {
            "type": "worker-heartbeat",
            "hostname": worker,
            "freq": 2.0,
            "active": 1,
            "processed": 1,
            "loadavg": [0.1, 0.2, 0.3],
            "sw_ident": "py-celery",
            "sw_ver": "5.7.0",
            "sw_sys": "Linux",
        },
        {"type": "task-sent", "uuid": uuid, "name": "shop.charge", "hostname": "producer@test", **route},
        {
            "type": "task-received",
            "uuid": uuid,
            "name": "shop.charge",
            "hostname": worker,
            "args": "(1,)",
            "kwargs": "{}",
            "retries": 0,
        },
        {"type": "task-started", "uuid": uuid, "hostname": worker},
        {
            "type": "task-failed",
            "uuid": uuid,
            "hostname": worker,
            "exception": "ValueError('no')",
            "traceback": "Traceback (most recent call last): ...",
        },
    ]


EVENTS = ("hello", "vhosts", "status", "snapshot", "patch", "vhost-removed", "error", "findings", "activity")


class Recorder:
    """A Socket.IO client that checks every frame it gets against the contract."""

    def __init__(self, server: LiveServer, vhost: str):
        self.checker = FrameChecker()
        self.lock = threading.Lock()
        self.client = socketio.Client(reconnection=False)
        for event in EVENTS:
            self.client.on(event, self._handler(event))
        self.client.connect(server.url, transports=["websocket"], wait_timeout=10)
        self.client.emit("subscribe", {"vhost": vhost})

    def _handler(self, event: str):
        def handle(data: Any) -> None:
            with self.lock:
                self.checker.check(event, data)

        return handle

    def close(self) -> None:
        self.client.disconnect()


@pytest.fixture
def demo() -> Iterator[LiveServer]:
    server, _ = run_live(Settings(demo=True))
    yield server
    stop_live(server)


def test_every_demo_frame_matches_the_contract(demo: LiveServer) -> None:
    recorder = Recorder(demo, "/")
    try:
        wanted = {"hello", "vhosts", "snapshot", "patch", "findings", "status", "activity"}
        wait_for(lambda: wanted <= set(recorder.checker.seen), 30, message=f"frames of each kind {wanted}")
    finally:
        recorder.close()
    assert recorder.checker.problems == []


def test_route_answers_match_the_contract(demo: LiveServer) -> None:
    validator = schema_for(frames.RouteAnswer)
    from jsonschema import Draft202012Validator

    checker = Draft202012Validator(validator)
    for question in (
        {"exchange": "events", "routing_key": "alert.cpu.high"},
        {"exchange": "", "routing_key": "nope"},
        {"exchange": "reports", "routing_key": "", "headers": {"format": "pdf"}},
    ):
        answer = requests.post(demo.url + "/api/route", json={"vhost": "/", **question}, timeout=10).json()
        body = {k: v for k, v in answer.items() if k not in ("vhost", "exchange", "routing_key", "version")}
        assert [e.message for e in checker.iter_errors(body)] == []


def test_live_broker_and_celery_frames_match_the_contract(rabbit: Rabbit) -> None:
    rabbit.declare_exchange("orders", "topic")
    rabbit.declare_queue("orders.created", arguments={"x-queue-type": "quorum"})
    rabbit.declare_queue("orders.dead", arguments={"x-dead-letter-exchange": "missing.dlx"})
    rabbit.bind("orders", "orders.created", "order.*")
    server, _ = run_live(Settings(management_url=MANAGEMENT_URL, broker_url=rabbit.amqp_url(), poll_interval=0.5))
    try:
        wait_for(
            lambda: server.get("/api/topology", params={"vhost": rabbit.vhost}).status_code == 200,
            30,
            message="the vhost on the graph",
        )
        recorder = Recorder(server, rabbit.vhost)
        try:
            wait_for(lambda: "snapshot" in recorder.checker.seen, 15, message="a snapshot")
            wait_for(
                lambda: (server.get("/api/celery").json()["source"] or {}).get("state") == "ok",
                30,
                message="the Celery events source",
            )
            for i in range(3):
                publish_celery_events(rabbit, task_life(f"task-{i}", "worker-1@test"))
                rabbit.publish("orders", "order.created", f"m{i}")
            wait_for(
                lambda: {"activity", "patch", "findings"} <= set(recorder.checker.seen),
                30,
                message="activity, patch and findings frames",
            )
            time.sleep(0.5)
        finally:
            recorder.close()
    finally:
        stop_live(server)
    assert recorder.checker.problems == []
