"""The events source on its own: an unreachable broker is reported, retried with capped
backoff, and its password never reaches the status, the page or the log."""

from __future__ import annotations

import json
import logging

from tests.conftest import free_port, wait_for
from visualiser.hub import Hub
from visualiser.sources.celery_events import MAX_LENGTH, MESSAGE_TTL_MS, CeleryEventsSource

PASSWORD = "s3cret-Pa55"


def test_unreachable_broker_is_reported_without_the_password(caplog):
    caplog.set_level(logging.DEBUG)
    hub = Hub()
    hub.start()
    url = f"amqp://celery:{PASSWORD}@127.0.0.1:{free_port()}//"  # nothing listens there
    source = CeleryEventsSource(url, hub, sink=lambda batch: None, backoff_cap=0.5)
    source.start()
    try:
        status = wait_for(
            lambda: (lambda s: s if s and s.state == "unreachable" else None)(hub.statuses().get("celery-events")),
            20,
            message="unreachable status",
        )
        wait_for(lambda: source.backoff.failures >= 3, 20, message="repeated retries")
    finally:
        source.stop()
        hub.stop()
    text = json.dumps(status.to_json())
    assert PASSWORD not in text and "celery:***@127.0.0.1" in text
    assert status.last_error
    assert PASSWORD not in caplog.text
    assert all(source.backoff.next_delay() <= 0.5 for _ in range(20))  # capped


def test_queue_is_built_not_to_lose_events_silently():
    source = CeleryEventsSource("amqp://guest:guest@127.0.0.1:5672//", Hub(), sink=lambda batch: None)
    args = source.queue.queue_arguments
    assert args["x-message-ttl"] == MESSAGE_TTL_MS > 5000  # Celery's own receivers: 5 s
    assert args["x-max-length"] == MAX_LENGTH and args["x-overflow"] == "drop-head"
    assert args["x-dead-letter-routing-key"] == source.gap_queue.name  # what the broker drops is counted
    assert source.queue.name.startswith("celeryev.") and not source.queue.exclusive
