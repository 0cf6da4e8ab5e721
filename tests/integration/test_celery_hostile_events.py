"""A flood of deeply nested Celery events on the real broker: counted, summarised, not logged
one traceback each.

As reported: each event nested past the JSON parser's recursion limit logged a 22-line
traceback, 4,400 lines for 200 messages. Here 200 such messages go to the ``celeryev``
exchange of a throwaway vhost, consumed by the real app: every one is counted in
``/metrics`` under its own reason, the log gets one summary line and no traceback, and a
good event sent after them still arrives.
"""

from __future__ import annotations

import json
import logging
import re
import time

import pytest
from kombu import Connection, Exchange, Producer

from tests.conftest import MANAGEMENT_URL, Rabbit, run_live, stop_live, wait_for
from visualiser.config import Settings

pytestmark = pytest.mark.integration

MESSAGES = 200
DEPTH = 100_000  # far past the parser's limit (about 1,000), and 200 KB: under the 1 MiB body cap


def nested_event(index: int) -> bytes:
    head = json.dumps({"type": "task-sent", "uuid": f"deep-{index}", "name": "shop.tasks.charge"})[:-1]
    return f'{head}, "args": {"[" * DEPTH}{"]" * DEPTH}}}'.encode()


def test_deeply_nested_events_are_counted_and_summarised_not_logged_each(rabbit: Rabbit, caplog) -> None:
    caplog.set_level(logging.INFO)
    live, _ = run_live(Settings(management_url=MANAGEMENT_URL, broker_url=rabbit.amqp_url(), poll_interval=5.0))
    try:
        wait_for(
            lambda: live.get("/healthz").json()["sources"].get("celery-events", {}).get("state") == "ok",
            timeout=60,
            message="the Celery events source connected",
        )
        caplog.clear()
        with Connection(rabbit.amqp_url()) as conn:
            producer = Producer(conn.channel(), exchange=Exchange("celeryev", type="topic", durable=True))
            for index in range(MESSAGES):
                producer.publish(
                    nested_event(index),
                    routing_key="task.sent",
                    content_type="application/json",
                    content_encoding="utf-8",
                    delivery_mode=1,
                )
            good = {"type": "worker-online", "hostname": "after-the-flood@test", "freq": 2.0, "timestamp": time.time()}
            producer.publish(
                json.dumps(good),
                routing_key="worker.online",
                content_type="application/json",
                content_encoding="utf-8",
                delivery_mode=1,
            )

        def dropped() -> float | None:
            found = re.search(
                r'visualiser_celery_events_dropped_total\{reason="too_deep"\} (\d+)', live.get("/metrics").text
            )
            return float(found.group(1)) if found and float(found.group(1)) >= MESSAGES else None

        assert wait_for(dropped, timeout=120, message="every nested event counted") == MESSAGES
        wait_for(
            lambda: "after-the-flood@test" in live.get("/api/workers").text,
            timeout=60,
            message="the good event after the flood",
        )
        ours = [r for r in caplog.records if r.name.startswith("visualiser") and r.levelno >= logging.WARNING]
        lines = sum(r.getMessage().count("\n") + 1 + (bool(r.exc_info) * 20) for r in ours)
        assert lines <= 2, [r.getMessage() for r in ours]  # one summary (two if a minute passed), no traceback
        assert not any(r.exc_info for r in ours)
        assert any("dropped" in r.getMessage() and "too_deep" in r.getMessage() for r in ours)
        assert live.get("/healthz").json()["sources"]["celery-events"]["state"] == "ok"
    finally:
        stop_live(live)
