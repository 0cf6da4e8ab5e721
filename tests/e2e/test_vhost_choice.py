"""Which vhost the page opens on, as a person meets it: the busiest one at first (not "/" just
because it exists), then the one they last picked, and always the one a link names."""

from __future__ import annotations

import pytest

from tests.conftest import StaticSource, run_live, snapshot_of, stop_live
from tests.e2e.conftest import expose_app
from visualiser.config import Settings
from visualiser.model.entities import Binding, Exchange, Queue, VhostSnapshot

pytestmark = pytest.mark.e2e

QUIET_ROOT = VhostSnapshot(
    "/", (Exchange("legacy", "direct"),), (Queue("leftover"),), (Binding("legacy", "leftover", "queue", "k"),)
)
SHOP = VhostSnapshot(
    "shop",
    (Exchange("orders", "topic"),),
    tuple(Queue(f"orders.{i}") for i in range(6)),
    tuple(Binding("orders", f"orders.{i}", "queue", "#") for i in range(6)),
)


@pytest.fixture
def two_vhosts():
    server, _ = run_live(Settings(), sources=[])
    source = StaticSource(server.service.hub, snapshot_of(QUIET_ROOT, SHOP))
    server.service.sources.append(source)
    source.start()
    yield server
    stop_live(server)


def opened(page, url: str, queue: str) -> str:
    """Load the page and return the vhost it shows once the queue is drawn."""
    page.goto(url)
    expose_app(page)
    page.wait_for_function("(id) => window.__app.graph.element(id) !== null", arg=f"queue:{queue}", timeout=30000)
    return page.input_value("#vhost-select")


def test_busiest_first_then_the_users_choice_and_a_link_always_wins(page, two_vhosts) -> None:
    base = two_vhosts.url + "/"
    assert opened(page, base, "orders.0") == "shop"  # the busiest, though "/" has something too
    assert "vhost=shop" in page.url

    page.select_option("#vhost-select", "/")  # the person's own choice
    page.wait_for_function("() => window.__app.graph.element('queue:leftover') !== null", timeout=30000)
    assert opened(page, base, "leftover") == "/"  # remembered on the next visit

    assert opened(page, f"{base}?vhost=shop", "orders.0") == "shop"  # a link that names one wins
    assert page.errors == []
