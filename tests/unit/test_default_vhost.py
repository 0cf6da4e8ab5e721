"""Where the page opens when neither its URL nor the user has chosen: the Celery broker's vhost
when it is on the graph, else the busiest, "/" on a tie; and a page that connected before the
first read is told once the broker has been read."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.conftest import StaticSource, snapshot_of, wait_for
from visualiser import create_app, service_of
from visualiser.config import Settings
from visualiser.hub import Hub
from visualiser.model.entities import Binding, Exchange, Queue, VhostSnapshot
from visualiser.server.sockets import default_vhost

QUIET_ROOT = VhostSnapshot(
    "/", (Exchange("legacy", "direct"),), (Queue("one"),), (Binding("legacy", "one", "queue", "k"),)
)
BUSY = VhostSnapshot(
    "shop",
    (Exchange("orders", "topic"),),
    tuple(Queue(f"q{i}") for i in range(5)),
    tuple(Binding("orders", f"q{i}", "queue", "#") for i in range(5)),
)
DEEP = VhostSnapshot("deep", (), (Queue("a", messages_ready=10_000),), ())


@pytest.fixture
def hub() -> Iterator[Hub]:
    svc = service_of(create_app(Settings(), sources=[]))
    svc.start()
    yield svc.hub
    svc.stop()


def post(hub: Hub, *vhosts: VhostSnapshot) -> None:
    StaticSource(hub, snapshot_of(*vhosts)).start()


def test_the_busiest_vhost_even_when_root_has_something(hub: Hub) -> None:
    post(hub, QUIET_ROOT, BUSY)
    assert default_vhost(hub, Settings()) == "shop"


def test_messages_break_a_tie_in_size_and_root_wins_an_exact_tie(hub: Hub) -> None:
    post(hub, VhostSnapshot("/", (), (Queue("x"),), ()), DEEP)
    assert default_vhost(hub, Settings()) == "deep"
    post(hub, VhostSnapshot("/", (), (Queue("x"),), ()), VhostSnapshot("other", (), (Queue("y"),), ()))
    assert default_vhost(hub, Settings()) == "/"


def test_the_celery_broker_vhost_wins_when_it_is_on_the_graph(hub: Hub) -> None:
    post(hub, QUIET_ROOT, BUSY, VhostSnapshot("celery", (), (), ()))
    assert default_vhost(hub, Settings(broker_url="amqp://u:p@h:5672/celery")) == "celery"
    assert default_vhost(hub, Settings(broker_url="amqp://u:p@h:5672/elsewhere")) == "shop"


def test_nothing_read_yet_means_no_suggestion(hub: Hub) -> None:
    assert default_vhost(hub, Settings()) is None


def test_a_page_connected_before_the_first_read_is_told_the_suggestion() -> None:
    svc = service_of(create_app(Settings(), sources=[]))
    svc.start()
    page = svc.socketio.test_client(svc.app)
    try:
        hellos = [frame["args"][0] for frame in page.get_received() if frame["name"] == "hello"]
        assert [h["default_vhost"] for h in hellos] == [None]  # nothing read yet
        post(svc.hub, QUIET_ROOT, BUSY)

        def second_hello() -> list[dict]:
            hellos.extend(frame["args"][0] for frame in page.get_received() if frame["name"] == "hello")
            return hellos[1:]

        wait_for(second_hello, message="a second hello once the broker is read")
        assert hellos[-1]["default_vhost"] == "shop"
    finally:
        page.disconnect()
        svc.stop()
