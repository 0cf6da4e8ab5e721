"""Faults survived, against the real broker through a fault-injecting proxy: a management
API that is slow past the timeout, answers 500, 401 mid-run or non-JSON, or refuses
connections. Each time the source says so (in /healthz and over the socket), the last
graph stays up, the app recovers by itself with no duplicate nodes, credentials appear in
no output, and the app never sends the broker anything but GETs.

Also the real thing: RabbitMQ stopped and started under a running app (marked disruptive:
deselect with ``-m 'not disruptive'`` when the broker is shared)."""

from __future__ import annotations

import base64
import json
import logging
import uuid
from collections.abc import Iterator

import pytest

from tests.brokers import BROKER, start_app
from tests.brokers import rabbitmqctl as broker_ctl
from tests.conftest import AUTH, MANAGEMENT, LiveServer, Rabbit, run_live, stop_live, wait_for
from tests.faultproxy import FaultProxy
from tests.integration.test_resync import GraphClient
from visualiser.config import Settings

pytestmark = pytest.mark.integration

POLL = 0.5
SOURCE = "management-api"
EXPECTED = {  # fault -> (state shown, words the message must carry)
    "slow": ("unreachable", "did not answer"),
    "500": ("error", "answered 500"),
    "401": ("unauthorised", "refused the user name or password"),
    "html": ("error", "non-JSON"),
    "refused": ("unreachable", "unreachable"),
}


@pytest.fixture
def secret() -> str:
    return "pw-" + uuid.uuid4().hex


@pytest.fixture
def proxy(secret: str) -> Iterator[FaultProxy]:
    fault_proxy = FaultProxy(MANAGEMENT, AUTH, ("viewer", secret), delay=3.0)
    yield fault_proxy
    fault_proxy.close()


@pytest.fixture
def live(rabbit: Rabbit, proxy: FaultProxy, secret: str) -> Iterator[LiveServer]:
    rabbit.declare_exchange("orders", "topic")
    rabbit.declare_queue("billing")
    rabbit.bind("orders", "billing", "order.*")
    url = f"http://viewer:{secret}@127.0.0.1:{proxy.port}"
    server, _ = run_live(Settings(management_url=url, poll_interval=POLL, request_timeout=1.0, backoff_cap=2.0))
    wait_for(lambda: source_state(server) == "ok", message="first good poll")
    yield server
    stop_live(server)


def source_state(server: LiveServer) -> str | None:
    return server.get("/healthz").json()["sources"].get(SOURCE, {}).get("state")


def queue_names(server: LiveServer, vhost: str) -> list[str]:
    body = server.get("/api/topology", params={"vhost": vhost}).json()
    return sorted(n["name"] for n in body.get("nodes", []) if n["kind"] == "queue")


def assert_no_duplicates(server: LiveServer, vhost: str) -> None:
    body = server.get("/api/topology", params={"vhost": vhost}).json()
    ids = [n["id"] for n in body["nodes"]] + [e["id"] for e in body["edges"]]
    assert len(ids) == len(set(ids))
    keys = [(n["kind"], n["name"]) for n in body["nodes"]]
    assert len(keys) == len(set(keys))


def assert_secret_nowhere(secret: str, server: LiveServer, client: GraphClient, logs: str) -> None:
    encoded = base64.b64encode(f"viewer:{secret}".encode()).decode()
    outputs = {
        "logs": logs,
        "socket": json.dumps(client.received, default=str),
        **{path: server.get(path).text for path in ("/", "/healthz", "/metrics", "/api/vhosts")},
        "topology": server.get("/api/topology", params={"vhost": client.vhost}).text,
    }
    for where, text in outputs.items():
        assert secret not in text and encoded not in text, f"credential leaked in {where}"


@pytest.mark.parametrize("fault", list(EXPECTED))
def test_management_api_fault_is_reported_survived_and_recovered(
    fault: str, live: LiveServer, proxy: FaultProxy, rabbit: Rabbit, secret: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    client = GraphClient(live.url, rabbit.vhost).connect()
    assert queue_names(live, rabbit.vhost) == ["billing"]

    proxy.set_fault(fault)
    state, words = EXPECTED[fault]
    wait_for(lambda: source_state(live) == state, timeout=20, message=f"state {state} after fault {fault}")
    health = live.get("/healthz").json()
    assert live.get("/healthz").status_code == 200 and health["status"] == "degraded"
    assert words in health["sources"][SOURCE]["last_error"]
    assert health["sources"][SOURCE]["last_success"] is not None  # "stale since" is known
    wait_for(lambda: any(s["status"]["state"] == state for s in client.statuses), message="status over the socket")
    assert words in [s for s in client.statuses if s["status"]["state"] == state][-1]["status"]["last_error"]
    assert queue_names(live, rabbit.vhost) == ["billing"]  # the last graph stays up

    rabbit.declare_queue("shipping")  # changed while we could not see
    proxy.clear()
    wait_for(lambda: source_state(live) == "ok", timeout=20, message="recovery by itself")
    wait_for(lambda: queue_names(live, rabbit.vhost) == ["billing", "shipping"], message="fresh graph after recovery")
    wait_for(lambda: "shipping" in {n["name"] for n in client.graph.nodes.values()}, message="patch to the page")
    assert_no_duplicates(live, rabbit.vhost)
    assert_secret_nowhere(secret, live, client, caplog.text)
    assert proxy.methods == {"GET"}
    client.disconnect()


def test_app_reports_bad_credentials_without_echoing_them(rabbit: Rabbit, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    secret = "wrong-" + uuid.uuid4().hex
    server, _ = run_live(Settings(management_url=BROKER.management_url(password=secret), poll_interval=POLL))
    try:
        wait_for(lambda: source_state(server) == "unauthorised", message="unauthorised state")
        for path in ("/", "/healthz", "/metrics", "/api/vhosts"):
            assert secret not in server.get(path).text
        assert secret not in caplog.text
    finally:
        stop_live(server)


# ---- a hostile broker: answers built to exhaust us ------------------------------------------------


def rss_mb() -> float:
    """This process's resident memory: the app under test runs in it."""
    with open("/proc/self/status") as status:
        line = next(line for line in status if line.startswith("VmRSS:"))
    return int(line.split()[1]) / 1024


@pytest.mark.parametrize(
    ("fault", "state", "words"),
    [
        ("page-bomb", "error", "claims 100000000 pages"),
        ("trickle", "unreachable", "did not answer"),
        ("huge", "error", "larger than 32 MiB: refused"),
    ],
)
def test_a_hostile_answer_is_refused_with_memory_and_requests_bounded(
    fault: str, state: str, words: str, live: LiveServer, proxy: FaultProxy, rabbit: Rabbit
) -> None:
    """page_count is not trusted (it once made the poller ask for every page at once: 3.1 GB in 25 s),
    a body trickling a byte a second is cut at the request's overall deadline (it once hung the poll
    with /healthz "ok" for ever), and an answer larger than any broker's is not read into memory."""
    before = rss_mb()
    seen_before = proxy.requests_seen
    proxy.set_fault(fault)
    wait_for(lambda: source_state(live) == state, timeout=30, message=f"state {state} after {fault}")
    health = live.get("/healthz").json()
    assert health["status"] == "degraded" and words in health["sources"][SOURCE]["last_error"]
    polls = 3
    for _ in range(polls):  # it keeps refusing poll after poll, with backoff, never following the bomb
        last = live.get("/healthz").json()["sources"][SOURCE]["since"]
        wait_for(lambda seen=seen_before: proxy.requests_seen > seen, timeout=15, message="another poll")
        seen_before = proxy.requests_seen
        assert live.get("/healthz").json()["sources"][SOURCE]["since"] == last
    assert proxy.requests_seen < 200  # a handful of listings per poll, not a hundred million pages
    assert rss_mb() - before < 150  # bounded: the answers above were 3.1 GB and 1.3 GB of RSS before
    assert queue_names(live, rabbit.vhost) == ["billing"]  # the last graph stays
    proxy.clear()
    wait_for(lambda: source_state(live) == "ok", timeout=30, message="recovery")


# ---- the real broker going away --------------------------------------------------------------


def rabbitmqctl(*args: str) -> None:
    broker_ctl(BROKER, *args)


@pytest.mark.disruptive
def test_broker_stop_and_start(rabbit: Rabbit, request: pytest.FixtureRequest) -> None:
    rabbit.declare_queue("billing")
    server, _ = run_live(Settings(management_url=MANAGEMENT, poll_interval=POLL, request_timeout=1.0, backoff_cap=2.0))
    try:
        wait_for(lambda: queue_names(server, rabbit.vhost) == ["billing"], message="first graph")
        client = GraphClient(server.url, rabbit.vhost).connect()
        rabbitmqctl("stop_app")
        try:
            wait_for(
                lambda: source_state(server) not in ("ok", "starting"),
                timeout=2 * POLL + 2,
                message="stale within two poll intervals (plus the request timeout)",
            )
            wait_for(lambda: any(s["status"]["state"] != "ok" for s in client.statuses), message="stale on the socket")
            assert queue_names(server, rabbit.vhost) == ["billing"]
        finally:
            start_app(BROKER)
        rabbitmqctl("await_startup")
        wait_for(
            lambda: source_state(server) == "ok", timeout=10, message="recovered within 10 s of the broker's return"
        )
        assert_no_duplicates(server, rabbit.vhost)
        client.disconnect()
    finally:
        stop_live(server)
