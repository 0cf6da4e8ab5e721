"""Shared fixtures: the app and its test client, a live server on a free port, and a
throwaway vhost on the real RabbitMQ for integration tests."""

from __future__ import annotations

import os
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import requests

from tests.brokers import BROKER, BROKERS, PASSWORD, USER, Broker
from visualiser import Service, create_app, service_of
from visualiser.cli import Lifecycle
from visualiser.config import Settings
from visualiser.hub import Hub
from visualiser.model.entities import BrokerSnapshot, VhostSnapshot
from visualiser.server.serving import ProductionServer, listen, make_server

MANAGEMENT = BROKER.management  # the broker under test, without credentials
MANAGEMENT_URL = BROKER.management_url()  # the same, with the admin credentials, as --management-url takes it
AUTH = (USER, PASSWORD)


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


@pytest.fixture(scope="session", autouse=True)
def recordings_in_a_temporary_state_directory(tmp_path_factory) -> None:
    """app.py records by default under $XDG_STATE_HOME (docs/recording.md): the services the
    tests start as subprocesses record into a temporary one, not the user's."""
    os.environ["XDG_STATE_HOME"] = str(tmp_path_factory.mktemp("state"))


@pytest.fixture
def service() -> Iterator[Service]:
    """The app with a static source holding one empty vhost; tests post what they need."""
    svc = service_of(create_app(Settings(), sources=[]))
    source = StaticSource(svc.hub, snapshot_of(VhostSnapshot("/")))
    svc.sources.append(source)
    svc.start()
    svc.hub.drain()
    svc.test_source = source  # type: ignore[attr-defined]
    yield svc
    svc.stop()


@pytest.fixture
def app(service: Service):
    return service.app


@pytest.fixture
def client(app):
    return app.test_client()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class LiveServer:
    def __init__(
        self, service: Service, port: int, http: ProductionServer | None = None, thread: threading.Thread | None = None
    ):
        self.service, self.port, self.http, self.thread = service, port, http, thread
        self.url = f"http://127.0.0.1:{port}"

    def get(self, path: str, **kwargs: Any) -> requests.Response:
        return requests.get(self.url + path, timeout=10, **kwargs)

    def wait_for_vhost(self, vhost: str, timeout: float = 30) -> None:
        """Until the app has read the vhost from its source (its topology answers)."""
        wait_for(
            lambda: self.get("/api/topology", params={"vhost": vhost}).status_code == 200,
            timeout,
            message=f"vhost {vhost!r} on the graph",
        )


def run_live(settings: Settings, sources: list[Any] | None = None) -> tuple[LiveServer, threading.Thread]:
    """Start the real app (hub, sources) on a free loopback port, served by the production
    server as the command serves it (in a thread of the test process, so that tests can reach
    the service's parts). ``stop_live`` stops it as SIGTERM does."""
    from dataclasses import replace

    listener = listen("127.0.0.1", 0)
    port = listener.getsockname()[1]
    settings = replace(settings, host="127.0.0.1", port=port)
    svc = service_of(create_app(settings, sources=sources))
    lifecycle = Lifecycle(svc)
    http = make_server(svc.app, "127.0.0.1", port, listener=listener, on_stop=lifecycle.stop_hooks())
    lifecycle.start()
    thread = threading.Thread(target=http.serve_forever, name=f"http-{port}", daemon=True)
    thread.start()
    for _ in range(100):
        try:
            requests.get(f"http://127.0.0.1:{port}/healthz", timeout=1)
            break
        except requests.ConnectionError:
            time.sleep(0.05)
    return LiveServer(svc, port, http, thread), thread


def stop_live(server: LiveServer) -> None:
    """Stop as SIGTERM does: pages told to go, the sources and hub stopped, then the server."""
    if server.http is None:
        server.service.stop()
        return
    server.http.shutdown()
    assert server.thread is not None
    server.thread.join(30)


@contextmanager
def static_live(
    snapshot: BrokerSnapshot | None = None, settings: Settings | None = None
) -> Iterator[tuple[LiveServer, StaticSource]]:
    """The real app on a free port, fed by a StaticSource the test posts snapshots to (no broker)."""
    server, _ = run_live(settings or Settings(), sources=[])
    source = StaticSource(server.service.hub, snapshot)
    server.service.sources.append(source)
    source.start()
    try:
        yield server, source
    finally:
        stop_live(server)


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

    def __init__(self, vhost: str, broker: Broker = BROKER):
        self.vhost, self.broker = vhost, broker
        self.session = requests.Session()
        self.session.auth = AUTH

    def _url(self, *parts: str) -> str:
        from urllib.parse import quote

        return self.broker.management + "/api/" + "/".join(quote(p, safe="") for p in parts)

    def call(self, method: str, *parts: str, body: Any = None) -> requests.Response:
        response = self.session.request(method, self._url(*parts), json=body, timeout=10)
        if response.status_code >= 400:
            raise AssertionError(f"{method} {parts}: {response.status_code} {response.text[:300]}")
        return response

    def create_vhost(self) -> None:
        self.call("PUT", "vhosts", self.vhost)
        self.call("PUT", "permissions", self.vhost, "guest", body={"configure": ".*", "write": ".*", "read": ".*"})

    def delete_vhost(self, timeout: float = 10) -> None:
        """(A vhost of thousands of durable queues takes tens of seconds to delete.)"""
        self.session.delete(self._url("vhosts", self.vhost), timeout=timeout)

    def declare_exchange(self, name: str, type_: str = "direct", **props: Any) -> None:
        self.call("PUT", "exchanges", self.vhost, name, body={"type": type_, "durable": False, **props})

    def declare_queue(self, name: str, **props: Any) -> None:
        # Durable by default: RabbitMQ 4.3 refuses transient non-exclusive queues. The vhost,
        # and every queue in it, is deleted after the test.
        self.call("PUT", "queues", self.vhost, name, body={"durable": True, **props})

    def delete_queue(self, name: str) -> None:
        self.call("DELETE", "queues", self.vhost, name)

    def bind(
        self,
        source: str,
        destination: str,
        routing_key: str = "",
        arguments: dict | None = None,
        destination_type: str = "queue",
    ) -> None:
        kind = "q" if destination_type == "queue" else "e"
        self.call(
            "POST",
            "bindings",
            self.vhost,
            "e",
            source,
            kind,
            destination,
            body={"routing_key": routing_key, "arguments": arguments or {}},
        )

    def publish(self, exchange: str, routing_key: str, payload: str = "x", headers: dict | None = None) -> bool:
        body = {
            "properties": {"headers": headers or {}},
            "routing_key": routing_key,
            "payload": payload,
            "payload_encoding": "string",
        }
        return self.call("POST", "exchanges", self.vhost, exchange, "publish", body=body).json()["routed"]

    def amqp_url(self) -> str:
        return self.broker.amqp_url(self.vhost)

    def management_url(self) -> str:
        return self.broker.management_url()


def rabbit_available(broker: Broker = BROKER) -> bool:
    try:
        return requests.get(broker.management + "/api/overview", auth=AUTH, timeout=3).ok
    except requests.RequestException:
        return False


def throwaway_vhost(broker: Broker) -> Iterator[Rabbit]:
    if not rabbit_available(broker):
        script = "scripts/ensure-rabbitmq" if broker.name == "3.10" else "scripts/ensure-rabbitmq4"
        pytest.fail(f"RabbitMQ {broker.name} is not answering on {broker.management} (run {script})")
    helper = Rabbit(f"test-{uuid.uuid4().hex[:10]}", broker)
    helper.create_vhost()
    yield helper
    helper.delete_vhost()


@pytest.fixture
def rabbit() -> Iterator[Rabbit]:
    """A fresh vhost on the broker under test, deleted afterwards. Fails (never skips) without it."""
    yield from throwaway_vhost(BROKER)


@pytest.fixture
def rabbit_nostats() -> Iterator[Rabbit]:
    """A fresh vhost on the RabbitMQ 4.0 node whose management statistics are off."""
    yield from throwaway_vhost(BROKERS["4.0-nostats"])


# ---- the run always ends ------------------------------------------------------------------------

EXIT_GRACE_SECONDS = 60.0


def pytest_sessionfinish(session, exitstatus) -> None:
    session.config.stash[_EXIT_STATUS] = int(exitstatus)


_EXIT_STATUS = pytest.StashKey[int]()


def pytest_unconfigure(config) -> None:
    """A run ends with its result, whatever a test left running: the interpreter joins every
    non-daemon thread at exit (a connection a test never closed keeps its server thread, and so
    the process, alive for good). After a grace period the stragglers are named and the process
    exits with the run's status."""
    status = config.stash.get(_EXIT_STATUS, 1)

    def watchdog() -> None:
        time.sleep(EXIT_GRACE_SECONDS)
        names = sorted(t.name for t in threading.enumerate() if not t.daemon and t is not threading.main_thread())
        print(f"\nstill running {EXIT_GRACE_SECONDS:.0f} s after the tests ended: {names}; exiting", flush=True)
        os._exit(status or 1)  # a leak is a failure, even of a run that otherwise passed

    threading.Thread(target=watchdog, name="exit-watchdog", daemon=True).start()
