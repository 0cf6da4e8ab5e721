"""The Celery events source's own queues on the real broker: accepted by a broker that
refuses transient non-exclusive queues (RabbitMQ 4.3's default), nothing lost across a
reconnect, what is lost counted, and nothing left behind after a clean stop."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import pytest
from kombu import Connection, Exchange, Producer

from tests.brokers import BROKER
from tests.conftest import Rabbit, wait_for
from tests.fixtures.tcp_proxy import TcpProxy
from visualiser.hub import Hub
from visualiser.sources.celery_events import SOURCE, CeleryEventsSource

pytestmark = pytest.mark.integration


class Collected:
    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []

    def __call__(self, batch: list[dict[str, Any]]) -> None:
        self.events.extend(batch)

    def uuids(self) -> set[str]:
        return {e["uuid"] for e in self.events if "uuid" in e}


@pytest.fixture
def proxy() -> Iterator[TcpProxy]:
    with TcpProxy(BROKER.amqp_port) as tcp:
        yield tcp


def start_source(rabbit: Rabbit, amqp_host: str) -> tuple[CeleryEventsSource, Hub, Collected]:
    hub = Hub()
    hub.start()
    collected = Collected()
    url = f"amqp://guest:guest@{amqp_host}/{quote(rabbit.vhost, safe='')}"
    source = CeleryEventsSource(url, hub, sink=collected, backoff_cap=1.0)
    source.start()
    wait_for(lambda: state(hub) == "ok", 20, message="events source connected")
    return source, hub, collected


def state(hub: Hub) -> str | None:
    status = hub.statuses().get(SOURCE)
    return status.state if status else None


def gaps(hub: Hub) -> dict[str, Any]:
    return hub.statuses()[SOURCE].extra["gaps"]


def send_task_events(rabbit: Rabbit, count: int) -> list[str]:
    """Publish `task-sent` events as a Celery producer does (transient, JSON, to celeryev)."""
    ids = [f"task-{i}-{time.monotonic_ns()}" for i in range(count)]
    with Connection(rabbit.amqp_url()) as conn:
        producer = Producer(conn.default_channel, exchange=Exchange("celeryev", "topic", durable=True))
        for task_id in ids:
            body = {
                "type": "task-sent",
                "uuid": task_id,
                "name": "shop.tasks.charge",
                "timestamp": time.time(),
                "hostname": "producer@test",
                "clock": 1,
                "utcoffset": 0,
                "pid": 1,
                "queue": "celery",
                "exchange": "",
                "routing_key": "celery",
            }
            producer.publish(
                json.dumps(body),
                routing_key="task.sent",
                content_type="application/json",
                content_encoding="utf-8",
                delivery_mode=1,
            )
    return ids


def our_queues(rabbit: Rabbit, source: CeleryEventsSource) -> list[dict[str, Any]]:
    listed = rabbit.call("GET", "queues", rabbit.vhost).json()
    return [q for q in listed if q["name"].startswith(source.queue.name)]


def test_queues_are_accepted_and_built_to_outlive_a_reconnect(rabbit: Rabbit) -> None:
    source, hub, _ = start_source(rabbit, BROKER.amqp_host)
    try:
        queues = wait_for(
            lambda: our_queues(rabbit, source) if len(our_queues(rabbit, source)) == 3 else None,
            message="the events, gaps and marker queues",
        )
        for queue in queues:
            # Durable with an expiry: what RabbitMQ 4.3 accepts, and what survives a dropped connection.
            assert queue["durable"] and not queue["exclusive"] and not queue["auto_delete"], queue
            assert queue["arguments"]["x-expires"] > 0
    finally:
        source.stop()
        hub.stop()
    assert our_queues(rabbit, source) == [], "a clean stop deletes the queues"


def test_events_sent_during_a_reconnect_arrive_and_nothing_is_counted_lost(rabbit: Rabbit, proxy: TcpProxy) -> None:
    source, hub, collected = start_source(rabbit, proxy.url_host)
    try:
        before = send_task_events(rabbit, 5)
        wait_for(lambda: set(before) <= collected.uuids(), message="events before the cut")
        proxy.set_mode("refuse")  # the connection drops; the broker keeps queueing for us
        wait_for(lambda: state(hub) != "ok", 30, message="connection lost")
        during = send_task_events(rabbit, 7)
        proxy.set_mode("forward")
        wait_for(lambda: set(during) <= collected.uuids(), 30, message="events sent while disconnected")
        counted = gaps(hub)
        assert counted["reconnects"] >= 1
        assert counted["queue_lost"] == 0 and counted["broker_restarted"] == 0
    finally:
        source.stop()
        hub.stop()


def test_a_queue_deleted_under_the_source_is_counted_as_a_gap(rabbit: Rabbit, proxy: TcpProxy) -> None:
    source, hub, collected = start_source(rabbit, proxy.url_host)
    try:
        proxy.set_mode("refuse")
        wait_for(lambda: state(hub) != "ok", 30, message="connection lost")
        rabbit.delete_queue(source.queue.name)  # as x-expires would after a long outage
        lost = send_task_events(rabbit, 3)  # nobody's queue is bound: these are gone
        proxy.set_mode("forward")
        wait_for(lambda: state(hub) == "ok" and gaps(hub)["queue_lost"] == 1, 30, message="queue_lost counted")
        after = send_task_events(rabbit, 2)
        wait_for(lambda: set(after) <= collected.uuids(), message="events after the gap")
        assert not set(lost) & collected.uuids()
        assert gaps(hub)["last_gap"] is not None
    finally:
        source.stop()
        hub.stop()
