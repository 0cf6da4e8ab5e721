"""A broker restart mid-run: the events consumer reconnects with capped backoff, the gap is
counted and shown, and worker state rebuilds from heartbeats. Restarts the shared RabbitMQ."""

from __future__ import annotations

import pytest

from tests.brokers import BROKER, rabbitmqctl, start_app
from tests.conftest import rabbit_available, wait_for
from tests.integration.test_celery_flow import activity_listener, live, worker_named, workers  # noqa: F401

pytestmark = [pytest.mark.integration, pytest.mark.disruptive]


def restart_rabbitmq() -> None:
    rabbitmqctl(BROKER, "stop_app")
    start_app(BROKER)
    wait_for(rabbit_available, 60, message="management API back")


def test_broker_restart_mid_run_recovers_and_shows_the_gap(live, workers, rabbit):  # noqa: F811
    hostname = workers.start("payments", "payments")
    wait_for(lambda: (worker_named(live, hostname) or {}).get("online"), 30, message="worker online")
    workers.produce(5)
    wait_for(lambda: len(live.get("/api/tasks?state=succeeded&name=shop.tasks.charge_card").json()) == 5, 30)
    client, frames = activity_listener(live, rabbit.vhost)
    try:
        restart_rabbitmq()

        def source() -> dict:
            return live.get("/api/celery").json()

        recovered = wait_for(
            lambda: (lambda s: s if s["source"]["state"] == "ok" and s["gaps"]["reconnects"] >= 1 else None)(source()),
            90,
            message="consumer reconnected",
        )
        # Our durable queue survives the restart, but the transient events in it do not: the
        # marker message that went with them tells the consumer so, and the gap is counted.
        assert recovered["gaps"]["broker_restarted"] >= 1
        assert recovered["source"]["last_error"]
        wait_for(lambda: (worker_named(live, hostname) or {}).get("online"), 60, message="worker back from heartbeats")
        workers.produce(5)
        wait_for(
            lambda: len(live.get("/api/tasks?state=succeeded&name=shop.tasks.charge_card").json()) == 10,
            60,
            message="tasks after the restart",
        )
        wait_for(
            lambda: any((f.get("gaps") or {}).get("reconnects", 0) >= 1 for f in frames),
            30,
            message="the gap in an activity frame",
        )
    finally:
        client.disconnect()
