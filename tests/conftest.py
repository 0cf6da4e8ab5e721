"""Shared fixtures: the app and its test client, a live server on a free port, and a
throwaway vhost on the real RabbitMQ for integration tests."""

from __future__ import annotations

import socket
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from visualiser import Visualiser, create_app
from visualiser.config import Settings
from visualiser.hub import Hub
from visualiser.model.entities import BrokerSnapshot, VhostSnapshot

MANAGEMENT = "http://127.0.0.1:15672"
AUTH = ("guest", "guest")


class StaticSource:
    """A source that posts fixed snapshots when told: for tests of everything downstream."""

    def __init__(self, hub: Hub, snapshot: BrokerSnapshot | None = None, name: str = "test"):
        self.hub, self.snapshot, self.name = hub, snapshot, name

    def start(self) -> None:
        if self.snapshot is not None:
            self.post(self.snapshot)

    def post(self, snapshot: BrokerSnapshot) -> None:
        from visualiser.sources.status import SourceStatus

        self.snapshot = snapshot
        self.hub.publish_broker(self.name, snapshot)
        self.hub.publish_status(SourceStatus(self.name, "ok", "test source", time.time()))
        self.hub.drain()

    def stop(self) -> None:
        pass


def snapshot_of(*vhosts: VhostSnapshot) -> BrokerSnapshot:
    return BrokerSnapshot({v.vhost: v for v in vhosts}, {"rabbitmq_version": "test"})


@pytest.fixture
def service() -> Iterator[Visualiser]:
    """The app with a static source holding one empty vhost; tests post what they need."""
    svc = create_app(Settings(), sources=[])
    source = StaticSource(svc.hub, snapshot_of(VhostSnapshot("/")))
    svc.sources.append(source)
    svc.start()
    svc.hub.drain()
    svc.test_source = source  # type: ignore[attr-defined]
    yield svc
    svc.stop()


@pytest.fixture
def app(service: Visualiser):
    return service.app


@pytest.fixture
def client(app):
    return app.test_client()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class LiveServer:
    def __init__(self, service: Visualiser, port: int):
        self.service, self.port = service, port
        self.url = f"http://127.0.0.1:{port}"

    def get(self, path: str, **kwargs: Any) -> requests.Response:
        return requests.get(self.url + path, timeout=10, **kwargs)


def run_live(settings: Settings, sources: list[Any] | None = None) -> tuple[LiveServer, threading.Thread]:
    """Start the real app (hub, sources, Socket.IO server) on a free loopback port."""
    from dataclasses import replace

    port = free_port()
    settings = replace(settings, host="127.0.0.1", port=port)
    svc = create_app(settings, sources=sources)
    svc.start()
    thread = threading.Thread(
        target=svc.socketio.run,
        args=(svc.app,),
        kwargs={"host": "127.0.0.1", "port": port, "allow_unsafe_werkzeug": True, "log_output": False},
        daemon=True,
    )
    thread.start()
    for _ in range(100):
        try:
            requests.get(f"http://127.0.0.1:{port}/healthz", timeout=1)
            break
        except requests.ConnectionError:
            time.sleep(0.05)
    return LiveServer(svc, port), thread



def stop_live(server: LiveServer) -> None:
    """Stop the hub and sources; the Werkzeug thread is a daemon and ends with the process."""
    server.service.stop()


def wait_for(predicate, timeout: float = 10.0, interval: float = 0.1, message: str = "condition"):
    """Poll until predicate() is truthy; returns its value. Not a timing assertion: a generous ceiling."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {message}")
        time.sleep(interval)


# ---- the real broker -----------------------------------------------------------------------


class Rabbit:
    """Admin helper for the real broker's management API, scoped to one throwaway vhost."""

    def __init__(self, vhost: str):
        self.vhost = vhost
        self.session = requests.Session()
        self.session.auth = AUTH

    def _url(self, *parts: str) -> str:
        from urllib.parse import quote

        return MANAGEMENT + "/api/" + "/".join(quote(p, safe="") for p in parts)

    def call(self, method: str, *parts: str, body: Any = None) -> requests.Response:
        response = self.session.request(method, self._url(*parts), json=body, timeout=10)
        if response.status_code >= 400:
            raise AssertionError(f"{method} {parts}: {response.status_code} {response.text[:300]}")
        return response

    def create_vhost(self) -> None:
        self.call("PUT", "vhosts", self.vhost)
        self.call("PUT", "permissions", self.vhost, "guest", body={"configure": ".*", "write": ".*", "read": ".*"})

    def delete_vhost(self) -> None:
        self.session.delete(self._url("vhosts", self.vhost), timeout=10)

    def declare_exchange(self, name: str, type_: str = "direct", **props: Any) -> None:
        self.call("PUT", "exchanges", self.vhost, name, body={"type": type_, "durable": False, **props})

    def declare_queue(self, name: str, **props: Any) -> None:
        self.call("PUT", "queues", self.vhost, name, body={"durable": False, **props})

    def delete_queue(self, name: str) -> None:
        self.call("DELETE", "queues", self.vhost, name)

    def bind(self, source: str, destination: str, routing_key: str = "", arguments: dict | None = None,
             destination_type: str = "queue") -> None:
        kind = "q" if destination_type == "queue" else "e"
        self.call("POST", "bindings", self.vhost, "e", source, kind, destination,
                  body={"routing_key": routing_key, "arguments": arguments or {}})

    def publish(self, exchange: str, routing_key: str, payload: str = "x", headers: dict | None = None) -> bool:
        body = {"properties": {"headers": headers or {}}, "routing_key": routing_key,
                "payload": payload, "payload_encoding": "string"}
        return self.call("POST", "exchanges", self.vhost, exchange, "publish", body=body).json()["routed"]

    def amqp_url(self) -> str:
        from urllib.parse import quote

        return f"amqp://guest:guest@127.0.0.1:5672/{quote(self.vhost, safe='')}"


def rabbit_available() -> bool:
    try:
        return requests.get(MANAGEMENT + "/api/overview", auth=AUTH, timeout=3).ok
    except requests.RequestException:
        return False


@pytest.fixture
def rabbit() -> Iterator[Rabbit]:
    """A fresh vhost on the real broker, deleted afterwards. Fails (never skips) without a broker."""
    if not rabbit_available():
        pytest.fail("RabbitMQ management API is not answering on 127.0.0.1:15672 (run scripts/ensure-rabbitmq)")
    helper = Rabbit(f"test-{uuid.uuid4().hex[:10]}")
    helper.create_vhost()
    yield helper
    helper.delete_vhost()
