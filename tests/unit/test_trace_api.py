"""The trace API's guards, without a broker: off unless --allow-tracing (a 403 that says how to
turn it on), same-origin and JSON only for the requests that change the broker, every field
checked with a 4xx naming the fix; and the page told in `hello` whether it may trace."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.conftest import StaticSource, snapshot_of
from visualiser import Service, create_app, service_of
from visualiser.config import Settings, load_settings
from visualiser.model.entities import VhostSnapshot

SAME_ORIGIN = {"Origin": "http://localhost"}


def started(settings: Settings) -> Iterator[Service]:
    svc = service_of(create_app(settings, sources=[]))
    svc.sources.append(StaticSource(svc.hub, snapshot_of(VhostSnapshot("/"), VhostSnapshot("shop"))))
    svc.start()
    svc.hub.drain()
    yield svc
    svc.stop()


@pytest.fixture
def allowed() -> Iterator[Service]:
    yield from started(Settings(allow_tracing=True, trace_max_minutes=30))


@pytest.fixture
def refused() -> Iterator[Service]:
    yield from started(Settings())


@pytest.mark.parametrize(
    ("method", "kwargs"),
    [
        ("get", {"query_string": {"vhost": "/"}}),
        ("post", {"json": {"vhost": "/"}, "headers": SAME_ORIGIN}),
        ("delete", {"query_string": {"vhost": "/"}, "headers": SAME_ORIGIN}),
    ],
)
def test_without_allow_tracing_every_trace_request_is_refused_with_how_to_enable_it(refused, method, kwargs) -> None:
    response = getattr(refused.app.test_client(), method)("/api/trace", **kwargs)
    assert response.status_code == 403
    body = response.get_json()
    assert "--allow-tracing" in body["error"] and "--allow-tracing" in body["enable"]


@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": "http://evil.example"},
        {"Origin": "http://localhost.evil.example"},
        {"Origin": "null"},
        {"Sec-Fetch-Site": "cross-site"},  # no Origin, but the browser says where it came from
    ],
)
def test_a_request_from_another_site_may_not_start_or_stop_a_trace(allowed, headers) -> None:
    client = allowed.app.test_client()
    assert client.post("/api/trace", json={"vhost": "/"}, headers=headers).status_code == 403
    assert client.delete("/api/trace", query_string={"vhost": "/"}, headers=headers).status_code == 403


@pytest.mark.parametrize(
    ("data", "content_type"),
    [
        ('{"vhost": "/"}', "text/plain"),  # what a cross-site form or a no-preflight fetch can send
        ("vhost=%2F", "application/x-www-form-urlencoded"),
        ("{not json", "application/json"),
        ('["/"]', "application/json"),
        (b'{"vhost": "\xff"}', "application/json"),
    ],
)
def test_starting_needs_a_json_object_body(allowed, data, content_type) -> None:
    response = allowed.app.test_client().post("/api/trace", data=data, content_type=content_type, headers=SAME_ORIGIN)
    assert response.status_code == 400
    assert "JSON" in response.get_json()["error"]


@pytest.mark.parametrize(
    ("body", "status", "words"),
    [
        ({}, 400, "'vhost' must be a string"),
        ({"vhost": 7}, 400, "'vhost' must be a string"),
        ({"vhost": "x" * 300}, 400, "longer than 255 bytes"),
        ({"vhost": "nowhere"}, 404, "no vhost named 'nowhere'"),
        ({"vhost": "/", "exchange": ["a"]}, 400, "'exchange' must be a string"),
        ({"vhost": "/", "queue": 1}, 400, "'queue' must be a string"),
        ({"vhost": "/", "minutes": True}, 400, "'minutes' must be a number"),
        ({"vhost": "/", "minutes": "5"}, 400, "'minutes' must be a number"),
        ({"vhost": "/", "minutes": 0}, 400, "between"),
        ({"vhost": "/", "minutes": 31}, 400, "--trace-max-minutes"),
        ({"vhost": "/", "exchnage": "orders"}, 400, "unknown field(s) 'exchnage'"),
    ],
)
def test_each_field_is_checked_with_a_message_naming_the_fix(allowed, body, status, words) -> None:
    response = allowed.app.test_client().post("/api/trace", json=body, headers=SAME_ORIGIN)
    assert response.status_code == status
    assert words in response.get_json()["error"]


def test_same_origin_passes_the_guard_and_so_does_a_client_without_origin(allowed) -> None:
    """A 404 for an unknown vhost: the request got past the origin and body checks (no broker touched)."""
    client = allowed.app.test_client()
    assert client.post("/api/trace", json={"vhost": "nowhere"}, headers=SAME_ORIGIN).status_code == 404
    assert client.post("/api/trace", json={"vhost": "nowhere"}).status_code == 404  # curl, scripts
    assert client.delete("/api/trace", query_string={"vhost": "nowhere"}, headers=SAME_ORIGIN).status_code == 404


def test_stopping_needs_a_vhost_and_reading_a_vhost_not_traced_says_off(allowed) -> None:
    client = allowed.app.test_client()
    assert client.delete("/api/trace", headers=SAME_ORIGIN).status_code == 400
    status = client.get("/api/trace", query_string={"vhost": "shop"}).get_json()
    assert status["state"] == "off" and status["allowed"] and status["messages"] == []
    assert status["counts"]["traced"] == 0


def test_hello_tells_the_page_whether_it_may_trace(refused, allowed) -> None:
    def hello(svc: Service) -> dict:
        client = svc.socketio.test_client(svc.app)
        try:
            return next(m["args"][0] for m in client.get_received() if m["name"] == "hello")
        finally:
            client.disconnect()

    off = hello(refused)["tracing"]
    assert not off["allowed"] and "--allow-tracing" in off["reason"] and "--allow-tracing" in off["enable"]
    on = hello(allowed)["tracing"]
    assert on["allowed"] and on["available"] and on["reason"] == "" and on["max_minutes"] == 30


def test_the_demo_cannot_trace_a_broker_and_says_so() -> None:
    svc = service_of(create_app(Settings(demo=True, allow_tracing=True), sources=[]))
    svc.sources.append(StaticSource(svc.hub, snapshot_of(VhostSnapshot("/"))))
    svc.start()
    try:
        svc.hub.drain()
        response = svc.app.test_client().post("/api/trace", json={"vhost": "/"}, headers=SAME_ORIGIN)
        assert response.status_code == 409 and "live broker" in response.get_json()["error"]
    finally:
        svc.stop()


def test_the_tracing_options_read_from_the_command_line_and_environment() -> None:
    settings = load_settings(["--allow-tracing", "--trace-minutes", "2.5"], {"VISUALISER_TRACE_MAX_MINUTES": "20"})
    assert (settings.allow_tracing, settings.trace_minutes, settings.trace_max_minutes) == (True, 2.5, 20.0)
    assert not load_settings([], {}).allow_tracing
    with pytest.raises(ValueError, match="trace_minutes"):
        load_settings(["--trace-minutes", "0"], {})
