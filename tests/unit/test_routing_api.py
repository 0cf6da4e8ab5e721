"""POST /api/route and the Celery route endpoints over the app with a static source.

Good answers follow the engine; bad input gets a clear 4xx JSON error, never a 500.
"""

from __future__ import annotations

import sys

import pytest

from tests.conftest import snapshot_of
from visualiser.model.entities import VhostSnapshot
from visualiser.sources.demo import demo_topology


@pytest.fixture
def demo_client(service, client):
    service.test_source.post(snapshot_of(demo_topology(), VhostSnapshot("other")))
    return client


def post(client, body, **kwargs):
    return client.post("/api/route", json=body, **kwargs)


def test_routes_through_the_current_topology(demo_client) -> None:
    response = post(demo_client, {"vhost": "/", "exchange": "events", "routing_key": "alert.cpu.high"})
    assert response.status_code == 200
    body = response.get_json()
    assert body["queues"] == ["analytics", "notify.email", "notify.push", "notify.sms"]
    assert body["unroutable"] is False and body["status"] == "routed"
    hop = next(h for h in body["hops"] if h["to"] == "broadcast")
    assert {"from": "events", "to_kind": "exchange", "via": "binding", "routing_key": "alert.#"}.items() <= hop.items()
    assert body["reasons"]["notify.sms"] == ["broadcast → notify.sms: fanout: every binding gets a copy"]
    assert isinstance(body["version"], int)


def test_typed_headers_and_default_vhost(demo_client) -> None:
    body = post(demo_client, {"exchange": "reports", "routing_key": "", "headers": {"priority": 1}}).get_json()
    assert body["queues"] == ["reports.pdf"]
    # The demo follows the newest broker's rules: 1.0 is not the binding's integer 1 (3.13+).
    body = post(demo_client, {"exchange": "reports", "headers": {"priority": 1.0}}).get_json()
    assert body["queues"] == ["unrouted.catch"] and body["semantics"]["exact_header_values"] is True
    assert "type and value" in body["semantics"]["description"]
    # true is not 1 to the broker: nothing matches, so the alternate exchange takes it.
    body = post(demo_client, {"exchange": "reports", "headers": {"priority": True}}).get_json()
    assert body["queues"] == ["unrouted.catch"]
    assert any(h["via"] == "alternate-exchange" and h["to"] == "unrouted" for h in body["hops"])


def test_default_exchange(demo_client) -> None:
    body = post(demo_client, {"vhost": "/", "exchange": "", "routing_key": "analytics"}).get_json()
    assert body["queues"] == ["analytics"] and body["hops"][0]["via"] == "default-exchange"


def test_internal_exchange_is_refused(service, client) -> None:
    from visualiser.model.entities import Binding, Exchange, Queue

    snap = VhostSnapshot(
        "/", (Exchange("inner", "fanout", internal=True),), (Queue("q"),), (Binding("inner", "q", "queue"),)
    )
    service.test_source.post(snapshot_of(snap))
    body = post(client, {"exchange": "inner"}).get_json()
    assert body["status"] == "internal" and body["queues"] == [] and "refuses publishes" in body["message"]


@pytest.mark.parametrize(
    ("body", "status", "words"),
    [
        ({"vhost": "nope", "exchange": "events"}, 404, "no vhost"),
        ({"vhost": "/", "exchange": "nope"}, 404, "no exchange"),
        ({"vhost": "other", "exchange": "events"}, 404, "no exchange"),
        ({"vhost": "/", "exchange": "events", "routing_key": "k" * 256}, 400, "255 bytes"),
        ({"vhost": "/", "exchange": "events", "routing_key": "é" * 128}, 400, "255 bytes"),
        ({"vhost": "/", "exchange": "e" * 300}, 400, "255 bytes"),
        ({"vhost": "/", "exchange": "events", "headers": {f"h{i}": 1 for i in range(65)}}, 400, "at most 64"),
        ({"vhost": "/", "exchange": "events", "headers": ["a"]}, 400, "'headers' must be an object"),
        ({"vhost": "/", "exchange": "events", "headers": {"a": {"nested": 1}}}, 400, "must be a string"),
        ({"vhost": "/", "exchange": "events", "headers": {"a": None}}, 400, "must be a string"),
        ({"vhost": "/", "exchange": "events", "headers": {"a": 2**70}}, 400, "64-bit"),
        ({"vhost": "/", "exchange": "events", "headers": {"CC": "k"}}, 400, "list of routing keys"),
        ({"vhost": "/", "exchange": "events", "headers": {"h" * 256: 1}}, 400, "header name"),
        ({"vhost": "/", "exchange": 5}, 400, "'exchange' must be a string"),
        ({"vhost": "/"}, 400, "'exchange' must be a string"),
        ({"vhost": ["/"], "exchange": "events"}, 400, "'vhost' must be a string"),
        ({"vhost": "/", "exchange": "events", "routing_key": None}, 400, "'routing_key' must be a string"),
        ([1, 2], 400, "JSON object"),
        ("text", 400, "JSON object"),
    ],
)
def test_bad_input_is_a_clear_4xx(demo_client, body, status: int, words: str) -> None:
    response = post(demo_client, body)
    assert response.status_code == status, response.get_json()
    assert words in response.get_json()["error"]


def test_body_that_is_not_json(demo_client) -> None:
    for kwargs in (
        {"data": "{not json", "content_type": "application/json"},
        {"data": '{"exchange": "events"}', "content_type": "text/plain"},
        {"data": b"\xff\xfe", "content_type": "application/json"},
    ):
        response = demo_client.post("/api/route", **kwargs)
        assert response.status_code == 400 and "JSON" in response.get_json()["error"]


def test_an_integer_past_pythons_conversion_limit_gets_a_400_that_names_it(demo_client) -> None:
    """4,301 digits: int() refuses them with a ValueError, which once read as "not a JSON object"."""
    digits = sys.get_int_max_str_digits() + 1
    body = '{"exchange": "events", "headers": {"n": ' + "9" * digits + "}}"
    response = demo_client.post("/api/route", data=body, content_type="application/json")
    assert response.status_code == 400
    error = response.get_json()["error"]
    assert f"{digits:,} digits" in error and "integer-string conversion limit" in error and "64 bits" in error
    # Below the limit, an integer too wide for a header still names the header.
    body = '{"exchange": "events", "headers": {"n": ' + "9" * (digits - 1) + "}}"
    error = demo_client.post("/api/route", data=body, content_type="application/json").get_json()["error"]
    assert "header 'n' does not fit a 64-bit integer" in error


def test_malformed_json_says_where(demo_client) -> None:
    response = demo_client.post("/api/route", data='{"exchange": "events",}', content_type="application/json")
    assert response.status_code == 400
    assert "not valid JSON" in response.get_json()["error"] and "column" in response.get_json()["error"]


def test_hostile_names_round_trip_as_data(service, client) -> None:
    from visualiser.model.entities import Binding, Exchange, Queue

    name = "<img src=x onerror=alert(1)>.\u202e"
    snap = VhostSnapshot("/", (Exchange(name, "topic"),), (Queue(name),), (Binding(name, name, "queue", "#"),))
    service.test_source.post(snapshot_of(snap))
    body = post(client, {"exchange": name, "routing_key": "a.b"}).get_json()
    assert body["queues"] == [name]


def test_celery_endpoints_without_an_app(client) -> None:
    response = client.get("/api/celery/tasks")
    assert response.status_code == 404 and "--celery-app" in response.get_json()["error"]


def test_celery_app_that_does_not_import() -> None:
    from visualiser import create_app, service_of
    from visualiser.config import Settings

    svc = service_of(create_app(Settings(celery_app="no_such_module_here:app"), sources=[]))
    response = svc.app.test_client().get("/api/celery/tasks")
    error = response.get_json()["error"]
    assert response.status_code == 503 and "cannot import no_such_module_here" in error and "PYTHONPATH" in error
