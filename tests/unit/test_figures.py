"""Which source each figure of a refresh comes from (visualiser/sources/figures.py).

The management client and the Prometheus client are replaced by fakes answering as the real
ones do (listings of rows, a merged scrape): this is the choice between them, not the reading.
"""

from __future__ import annotations

from typing import Any

from visualiser.sources.figures import read_figures
from visualiser.sources.prometheus import Scrape

QUEUE = ("/", "orders")


class Listings:
    """Answers GET listings with fixed rows, keeping the columns each request asked for."""

    def __init__(self, queues: list[dict[str, Any]], exchanges: list[dict[str, Any]] | None = None) -> None:
        self.rows = {"/api/queues": queues, "/api/exchanges": exchanges or []}
        self.asked: list[tuple[str, str]] = []

    def get_paginated(self, path: str, columns: str, extra: dict[str, str] | None = None) -> list[dict[str, Any]]:
        self.asked.append((path, columns))
        wanted = set(columns.split(","))
        return [{k: v for k, v in row.items() if k in wanted or k == "message_stats"} for row in self.rows[path]]


class Scraper:
    urls = ["http://127.0.0.1:15692"]

    def __init__(self, scrape: Scrape) -> None:
        self.answer = scrape
        self.scrapes = 0

    def scrape(self) -> Scrape:
        self.scrapes += 1
        return self.answer


def listed_queue(ready: int) -> dict[str, Any]:
    return {
        "vhost": "/",
        "name": "orders",
        "messages_ready": ready,
        "messages_unacknowledged": 0,
        "consumers": 0,
        "message_stats": {"publish_details": {"rate": 2.5}},
    }


def scraped(ready: int, cluster: str = "rabbit@here") -> Scrape:
    return Scrape(
        figures={QUEUE: {"messages_ready": ready, "messages_unacknowledged": 0, "consumers": 1}},
        nodes=["rabbit@here"],
        clusters={cluster},
    )


def test_on_the_rates_tick_depths_stay_prometheus_and_only_rates_come_from_the_listing() -> None:
    """The statistics listing lags the scrape; taking depths from each in turn made them flap."""
    listings = Listings([listed_queue(ready=0)])
    figures = read_figures(
        listings, Scraper(scraped(ready=15)), True, rates=True, expected={QUEUE}, cluster="rabbit@here"
    )
    assert figures.queues[QUEUE]["messages_ready"] == 15
    assert figures.queues[QUEUE]["consumers"] == 1
    assert figures.queues[QUEUE]["rates"]["publish"] == 2.5
    assert figures.sources == {
        "depths": "Prometheus (rabbit@here)",
        "consumer_counts": "Prometheus (rabbit@here)",
        "rates": "management statistics",
    }
    queue_columns = dict(listings.asked)["/api/queues"].split(",")
    assert "messages_ready" not in queue_columns and "consumers" not in queue_columns


def test_between_rate_ticks_only_prometheus_is_asked() -> None:
    listings = Listings([listed_queue(ready=0)])
    figures = read_figures(listings, Scraper(scraped(ready=3)), True, rates=False, expected={QUEUE}, cluster=None)
    assert listings.asked == []
    assert figures.queues[QUEUE]["messages_ready"] == 3
    assert "rates" not in figures.sources


def test_a_scrape_of_another_cluster_or_missing_a_queue_is_not_used() -> None:
    for scrape, expected in ((scraped(3, cluster="elsewhere"), {QUEUE}), (scraped(3), {QUEUE, ("/", "other")})):
        listings = Listings([listed_queue(ready=7)])
        figures = read_figures(listings, Scraper(scrape), True, rates=False, expected=expected, cluster="rabbit@here")
        assert figures.queues[QUEUE]["messages_ready"] == 7
        assert figures.sources["depths"] == "management statistics"


def test_statistics_off_without_prometheus_reads_the_queue_totals() -> None:
    listings = Listings([listed_queue(ready=9)])
    figures = read_figures(listings, None, False, rates=True, expected={QUEUE})
    assert figures.queues[QUEUE] == {"messages_ready": 9, "messages_unacknowledged": 0}
    assert figures.sources == {"depths": "queue totals"}
