"""Capped, jittered backoff, and the poller failing, keeping the last graph and recovering."""

from __future__ import annotations

import random

import pytest

from tests.fixtures.management_server import FakeManagement, ManagementServer, Misbehaviour
from tests.fixtures.recorded import VHOST
from visualiser.hub import Hub
from visualiser.sources.management_api import ManagementClient
from visualiser.sources.poller import SOURCE, ManagementPoller
from visualiser.sources.status import Backoff


def test_delays_grow_then_stay_under_the_cap():
    backoff = Backoff(base=1.0, cap=30.0, rng=random.Random(3))
    delays = [backoff.next_delay() for _ in range(40)]
    ceilings = [min(30.0, 2.0**i) for i in range(40)]
    for delay, ceiling in zip(delays, ceilings, strict=True):
        assert ceiling * 0.5 <= delay <= ceiling
    assert max(delays) <= 30.0 and min(delays[10:]) >= 15.0


def test_jitter_spreads_clients_that_fail_together():
    firsts = {round(Backoff(base=2.0, cap=30.0, rng=random.Random(seed)).next_delay(), 6) for seed in range(20)}
    assert len(firsts) == 20 and all(1.0 <= d <= 2.0 for d in firsts)


def test_reset_starts_again_from_the_base():
    backoff = Backoff(base=1.0, cap=8.0, rng=random.Random(1))
    for _ in range(10):
        backoff.next_delay()
    backoff.reset()
    assert backoff.failures == 0 and backoff.next_delay() <= 1.0


def test_huge_failure_counts_do_not_overflow():
    backoff = Backoff(base=1.0, cap=5.0)
    backoff.failures = 10**6
    assert backoff.next_delay() <= 5.0


@pytest.fixture
def hub():
    hub = Hub(tick=0.02)
    hub.start()
    yield hub
    hub.stop()


def test_poller_keeps_the_last_graph_while_failing_and_recovers(hub):
    state = FakeManagement()
    with ManagementServer(state) as server:
        poller = ManagementPoller(ManagementClient(server.url(), timeout=2), hub, interval=0.5, backoff_cap=4)
        assert poller.poll_once() == 0.5
        hub.drain()
        good = hub.view(VHOST)
        assert hub.statuses()[SOURCE].state == "ok"
        assert "RabbitMQ 3.10.8" in hub.statuses()[SOURCE].detail

        state.overrides["*"] = Misbehaviour(status=503)
        delays = [poller.poll_once() for _ in range(5)]
        hub.drain()
        status = hub.statuses()[SOURCE]
        assert status.state == "error" and "503" in status.last_error
        assert status.last_success is not None and status.since >= status.last_success
        assert hub.view(VHOST) is good  # the last good graph is kept
        assert all(d <= 4 for d in delays) and max(delays) > 0.5

        state.overrides["*"] = Misbehaviour(status=401)
        poller.poll_once()
        hub.drain()
        assert hub.statuses()[SOURCE].state == "unauthorised"

        del state.overrides["*"]
        assert poller.poll_once() == 0.5
        hub.drain()
        assert hub.statuses()[SOURCE].state == "ok" and poller.backoff.failures == 0
        assert hub.view(VHOST).version == good.version  # nothing changed on the broker


def test_poller_survives_an_unexpected_exception(hub):
    class Exploding(ManagementClient):
        def fetch_broker(self):
            raise KeyError("surprise")

    poller = ManagementPoller(Exploding("http://u:pw-never-shown@127.0.0.1:1"), hub, interval=0.5, backoff_cap=2)
    assert 0 < poller.poll_once() <= 2
    hub.drain()
    status = hub.statuses()[SOURCE]
    assert status.state == "error" and status.last_error == "unexpected KeyError while polling"
    assert "pw-never-shown" not in repr(status)
