"""What the Celery events consumer needs from the broker, and what it leaves behind, on the real broker.

A dedicated user holding exactly the permissions docs/deployment.md lists reaches "ok" and
receives events; with any one of the three permissions taken away, the source says
"unauthorised" and names the permission the broker refused. After a clean stop, the only
thing left in the vhost is Celery's own ``celeryev`` exchange (declared exactly as a
worker declares it, and deliberately left: see visualiser/sources/celery_events.py).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import pytest
import requests

from tests.brokers import BROKER
from tests.conftest import AUTH, MANAGEMENT, Rabbit, wait_for
from tests.integration.test_celery_events_queue import Collected, send_task_events
from visualiser.hub import Hub
from visualiser.sources.celery_events import SOURCE, CeleryEventsSource

pytestmark = pytest.mark.integration

# Exactly what docs/deployment.md tells an operator to grant (kept in step by
# test_the_documented_permissions_are_the_ones_tested).
DOCUMENTED = {
    "configure": r"^(celeryev|celeryev\.visualiser\..*)$",
    "write": r"^(amq\.default|celeryev\.visualiser\..*)$",
    "read": r"^(celeryev|celeryev\.visualiser\..*)$",
}
BUILT_IN_EXCHANGES = {"", "amq.direct", "amq.fanout", "amq.headers", "amq.match", "amq.rabbitmq.trace", "amq.topic"}


def admin(method: str, path: str, body: Any = None) -> requests.Response:
    response = requests.request(method, MANAGEMENT + path, json=body, auth=AUTH, timeout=10)
    assert response.status_code < 400, f"{method} {path}: {response.status_code} {response.text[:200]}"
    return response


@pytest.fixture
def events_user(rabbit: Rabbit) -> Iterator[tuple[str, str]]:
    name, password = f"visualiser-events-{uuid.uuid4().hex[:8]}", uuid.uuid4().hex
    admin("PUT", f"/api/users/{quote(name, safe='')}", {"password": password, "tags": ""})
    yield name, password
    requests.delete(f"{MANAGEMENT}/api/users/{quote(name, safe='')}", auth=AUTH, timeout=10)


def grant(rabbit: Rabbit, user: str, permissions: dict[str, str]) -> None:
    admin("PUT", f"/api/permissions/{quote(rabbit.vhost, safe='')}/{quote(user, safe='')}", permissions)


def run_source(rabbit: Rabbit, user: str, password: str) -> tuple[CeleryEventsSource, Hub, Collected]:
    hub = Hub()
    hub.start()
    collected = Collected()
    source = CeleryEventsSource(BROKER.amqp_url(rabbit.vhost, user, password), hub, sink=collected, backoff_cap=1.0)
    source.start()
    return source, hub, collected


def status(hub: Hub) -> Any:
    return hub.statuses().get(SOURCE)


def exchanges(rabbit: Rabbit) -> dict[str, dict[str, Any]]:
    return {e["name"]: e for e in rabbit.call("GET", "exchanges", rabbit.vhost).json()}


def queue_names(rabbit: Rabbit) -> list[str]:
    return [q["name"] for q in rabbit.call("GET", "queues", rabbit.vhost).json()]


def test_the_documented_permissions_are_enough_and_a_clean_stop_leaves_only_celeryev(rabbit, events_user):
    user, password = events_user
    grant(rabbit, user, DOCUMENTED)
    assert "celeryev" not in exchanges(rabbit)  # a vhost no worker has used yet
    source, hub, collected = run_source(rabbit, user, password)
    try:
        wait_for(lambda: status(hub) and status(hub).state == "ok", 20, message="events source ok")
        sent = send_task_events(rabbit, 3)
        wait_for(lambda: set(sent) <= collected.uuids(), 20, message="events received")
        assert status(hub).extra["declared_exchange"] is True
        assert len(queue_names(rabbit)) == 3  # events, gaps, marker
    finally:
        source.stop()
        hub.stop()
    assert queue_names(rabbit) == [], "a clean stop deletes every queue the service declared"
    left = set(exchanges(rabbit)) - BUILT_IN_EXCHANGES
    assert left == {"celeryev"}
    celeryev = exchanges(rabbit)["celeryev"]
    # As a Celery worker declares it, so that a worker starting later agrees with it.
    assert (celeryev["type"], celeryev["durable"], celeryev["auto_delete"]) == ("topic", True, False)


def test_when_a_worker_declared_celeryev_first_configure_is_needed_on_our_queues_only(rabbit, events_user):
    user, password = events_user
    rabbit.declare_exchange("celeryev", "topic", durable=True)
    grant(rabbit, user, {**DOCUMENTED, "configure": r"^celeryev\.visualiser\..*$"})
    source, hub, collected = run_source(rabbit, user, password)
    try:
        wait_for(lambda: status(hub) and status(hub).state == "ok", 20, message="events source ok")
        sent = send_task_events(rabbit, 2)
        wait_for(lambda: set(sent) <= collected.uuids(), 20, message="events received")
        assert status(hub).extra["declared_exchange"] is False
    finally:
        source.stop()
        hub.stop()
    assert queue_names(rabbit) == []


@pytest.mark.parametrize(
    ("missing", "resource"),
    [
        ("configure", "exchange 'celeryev'"),  # the first thing it declares in a vhost no worker has used
        ("write", "exchange 'amq.default'"),  # the marker message, and dead-lettering to the gaps queue
        ("read", "queue 'celeryev.visualiser."),  # consuming the gaps queue
    ],
)
def test_one_permission_less_is_unauthorised_and_names_it(rabbit, events_user, missing: str, resource: str):
    user, password = events_user
    grant(rabbit, user, {**DOCUMENTED, missing: "^$"})
    source, hub, _ = run_source(rabbit, user, password)
    try:
        refused = wait_for(
            lambda: status(hub) if status(hub) and status(hub).state == "unauthorised" else None,
            20,
            message="unauthorised status",
        )
    finally:
        source.stop()
        hub.stop()
    assert f"the user lacks {missing} permission on {resource}" in refused.last_error, refused.last_error
    assert "docs/deployment.md" in refused.last_error
    assert password not in refused.last_error and password not in str(refused.to_json())
    for queue in rabbit.call("GET", "queues", rabbit.vhost).json():  # declared before the refusal
        assert queue["arguments"].get("x-expires"), queue["name"]  # so the broker removes it


def test_the_documented_permissions_are_the_ones_tested():
    from pathlib import Path

    text = (Path(__file__).resolve().parents[2] / "docs" / "deployment.md").read_text(encoding="utf-8")
    expected = f"'{DOCUMENTED['configure']}' '{DOCUMENTED['write']}' '{DOCUMENTED['read']}'"
    assert expected in text
