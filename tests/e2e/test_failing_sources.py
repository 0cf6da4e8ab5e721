"""Every failing source in the banner, each with its own error and for how long, against the
real broker: the management API stops answering (a proxy in front of it stops listening) while
the Celery events consumer is refused by the broker for a wrong password. The page is checked
at the two sizes it is made for; with VISUALISER_SCREENSHOTS=docs/images the screenshots go
there (docs/images/failing-source-*.png), else into the test's temporary directory."""

from __future__ import annotations

import os
import re
import uuid
from pathlib import Path

import pytest

from tests.brokers import BROKER
from tests.conftest import AUTH, MANAGEMENT, Rabbit, run_live, stop_live
from tests.e2e.conftest import open_page
from tests.faultproxy import FaultProxy
from visualiser.config import Settings

pytestmark = [pytest.mark.e2e, pytest.mark.integration]
ROOT = Path(__file__).resolve().parents[2]
SIZES = ((1280, 720), (1600, 950))


@pytest.fixture
def failing(rabbit: Rabbit):
    """The app reading the broker through a proxy the test can stop, with a wrong Celery password."""
    rabbit.declare_exchange("orders", "topic")
    for queue, key in (("orders.created", "order.created"), ("orders.audit", "order.*"), ("orders.all", "#")):
        rabbit.declare_queue(queue)
        rabbit.bind("orders", queue, key)
    secret = "proxy-" + uuid.uuid4().hex
    proxy = FaultProxy(MANAGEMENT, AUTH, ("viewer", secret), delay=2.0)
    wrong = "wrong-" + uuid.uuid4().hex
    settings = Settings(
        management_url=f"http://viewer:{secret}@127.0.0.1:{proxy.port}",
        poll_interval=1.0,
        request_timeout=1.0,
        backoff_cap=2.0,
        broker_url=BROKER.amqp_url(rabbit.vhost, password=wrong),
        events_url="off",
    )  # the two sources under test; the proxy's user has no AMQP login
    server, _ = run_live(settings)
    yield server, proxy, rabbit, (secret, wrong)
    stop_live(server)
    proxy.close()


def banner_lines(page) -> list[str]:
    return page.eval_on_selector_all("#banner .banner-line", "(lines) => lines.map((p) => p.innerText)")


def test_both_failing_sources_show_each_with_its_own_error(page, failing, tmp_path: Path) -> None:
    server, proxy, rabbit, secrets = failing
    open_page(
        page,
        f"{server.url}/?vhost={rabbit.vhost}",
        "() => window.__app && window.__app.graph.element('queue:orders.created')",
    )
    # The Celery consumer is refused from the start; the graph is up.
    page.wait_for_function("() => document.querySelectorAll('#banner .banner-line').length === 1", timeout=60000)
    proxy.set_fault("refused")  # now the management API stops answering too
    page.wait_for_function("() => document.querySelectorAll('#banner .banner-line').length === 2", timeout=60000)

    management, celery = banner_lines(page)  # the graph's own source first
    assert re.match(r"RabbitMQ management API unreachable for \d+ s: ", management), management
    assert "last one read, at" in management and "retrying by itself" in management
    assert re.match(r"Celery events unauthorised for \d+ (s|min): ", celery), celery
    assert "refused the user name or password: check the user name and password in --broker-url" in celery, celery
    assert "missing from the graph" in celery
    # Each line carries its own error, not the other's.
    assert "ACCESS_REFUSED" not in management and "onnection refused" not in celery
    page.wait_for_function("() => document.getElementById('graph').classList.contains('stale')", timeout=10000)
    text = page.content()
    for secret in secrets:
        assert secret not in text
    assert page.errors == []

    images = ROOT / os.environ["VISUALISER_SCREENSHOTS"] if os.environ.get("VISUALISER_SCREENSHOTS") else tmp_path
    for width, height in SIZES:
        page.set_viewport_size({"width": width, "height": height})
        page.click("#btn-fit")
        page.wait_for_function("() => !window.__app.graph.cy.animated()", timeout=5000)
        banner = page.locator("#banner").bounding_box()
        assert banner is not None and banner["width"] <= width  # on screen, whole lines wrapped within it
        page.screenshot(path=str(images / f"failing-source-{width}.png"))
