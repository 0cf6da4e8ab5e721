"""The page on a RabbitMQ 4.0 node with management statistics off, read as a person reads it.

Depths come from queue totals; with Prometheus switched off the consumer counts are unknown,
and the page must say so in words instead of drawing zeros.
"""

from __future__ import annotations

import pytest

from tests.brokers import BROKERS
from tests.conftest import Rabbit, run_live, stop_live, wait_for
from visualiser.config import Settings

pytestmark = [pytest.mark.e2e, pytest.mark.nostats]
NOSTATS = BROKERS["4.0-nostats"]


def test_stats_off_page_says_what_the_broker_does_not_give(page, rabbit_nostats: Rabbit) -> None:
    rabbit_nostats.declare_queue("invoices", arguments={"x-queue-type": "quorum"})
    for _ in range(3):
        rabbit_nostats.publish("", "invoices")
    server, _ = run_live(Settings(management_url=NOSTATS.management_url(), prometheus_url=("off",), poll_interval=0.5))
    try:
        vhost = rabbit_nostats.vhost
        wait_for(lambda: server.get("/api/topology", params={"vhost": vhost}).status_code == 200, 30, message="vhost")
        page.goto(f"{server.url}/?vhost={vhost}")
        notes = page.locator("#broker-notes")
        notes.wait_for(state="visible", timeout=15000)
        text = notes.inner_text()
        assert "Not shown: message rates, consumer details and consumer counts." in text
        assert "management statistics are off" in text

        page.fill("#search", "invoices")
        page.press("#search", "Enter")
        details = page.locator("#panel-details")
        details.locator("h2", has_text="invoices").wait_for(timeout=15000)

        def shown(field: str) -> str:
            row = details.locator(f"table.fields tr[data-field='{field}'] td").first
            return row.inner_text() if row.count() else ""

        # The depth comes from the queue totals listing; the panel follows the graph's patches.
        wait_for(lambda: shown("messages_ready") == "3", 30, message="the depth in the details")
        unknown = server.get("/api/vocabulary").json()["missing_values"]["default"]
        assert shown("consumers") == unknown  # unknown: said in words, never a made-up zero
        assert page.errors == []
    finally:
        stop_live(server)
