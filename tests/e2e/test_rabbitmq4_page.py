"""The page on a RabbitMQ 4.0 node with management statistics off, read as a person reads it.

Depths come from queue totals; with Prometheus switched off the consumer counts are unknown,
and the page must say so in words instead of drawing zeros.
"""

from __future__ import annotations

import pytest
from playwright.sync_api import Locator

from tests.brokers import BROKERS
from tests.conftest import LiveServer, Rabbit, run_live, stop_live, wait_for
from tests.traffic import BusyQueue
from visualiser.config import Settings

pytestmark = [pytest.mark.e2e, pytest.mark.nostats]
NOSTATS = BROKERS["4.0-nostats"]


def open_with_notes(page, server: LiveServer, vhost: str) -> Locator:
    """The page on this vhost once the server has read it; the notes under the toolbar."""
    wait_for(lambda: server.get("/api/topology", params={"vhost": vhost}).status_code == 200, 30, message="vhost")
    page.goto(f"{server.url}/?vhost={vhost}")
    notes = page.locator("#broker-notes")
    notes.wait_for(state="visible", timeout=15000)
    return notes


def test_stats_off_page_says_what_the_broker_does_not_give(page, rabbit_nostats: Rabbit) -> None:
    rabbit_nostats.declare_queue("invoices", arguments={"x-queue-type": "quorum"})
    for _ in range(3):
        rabbit_nostats.publish("", "invoices")
    server, _ = run_live(Settings(management_url=NOSTATS.management_url(), prometheus_url=("off",), poll_interval=0.5))
    try:
        notes = open_with_notes(page, server, rabbit_nostats.vhost)
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


def test_stats_off_with_prometheus_shows_rates_and_counts_no_consumer_it_cannot_see(
    page, rabbit_nostats: Rabbit
) -> None:
    """Prometheus answering on 4.0: consumer counts and message rates come from it (the rates
    from its counters), the note says only consumer details are missing, the details say
    where each figure came from, and the status bar does not count the consumers it cannot
    list as zero."""
    rabbit_nostats.declare_queue("invoices")
    rabbit_nostats.bind("amq.direct", "invoices", "invoices")
    traffic = BusyQueue(rabbit_nostats.amqp_url(), "invoices", "invoices")
    server, _ = run_live(
        Settings(management_url=NOSTATS.management_url(), prometheus_url=(NOSTATS.prometheus,), poll_interval=0.5)
    )
    try:
        notes = open_with_notes(page, server, rabbit_nostats.vhost)
        wait_for(lambda: "Not shown: consumer details." in notes.inner_text(), 15, message="the note")
        assert "rates" not in notes.inner_text().split(".")[0]

        page.fill("#search", "invoices")
        page.press("#search", "Enter")
        details = page.locator("#panel-details")
        details.locator("h2", has_text="invoices").wait_for(timeout=15000)
        rates = details.locator("table.fields tr[data-field='rates'] td").first
        wait_for(lambda: "published" in rates.inner_text() and "msg/s" in rates.inner_text(), 30, message="rates")
        sources = details.locator(".figure-sources")
        wait_for(lambda: "Prometheus counters" in sources.inner_text(), 15, message="the rates' source")
        consumers = details.locator("table.fields tr[data-field='consumers'] td").first
        wait_for(lambda: consumers.inner_text() == "1", 30, message="the consumer count, from Prometheus")
        counts = page.locator("#status-counts").inner_text()
        assert "1 queue" in counts and "consumer" not in counts, counts  # none listed: none counted
        assert page.errors == []
    finally:
        traffic.quiet()
        stop_live(server)
