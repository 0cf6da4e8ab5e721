"""Which source each figure of a refresh comes from (visualiser/sources/figures.py).

The management client and the Prometheus client are replaced by fakes answering as the real
ones do (listings of rows, a merged scrape): this is the choice between them, not the reading.
"""

from __future__ import annotations

from typing import Any

from visualiser.sources.figures import RateMeter, read_figures
from visualiser.sources.prometheus import Counters, Scrape

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


class Meter(RateMeter):
    """A rate meter on a clock the test sets."""

    def __init__(self) -> None:
        super().__init__(clock=lambda: self.now)
        self.now = 100.0

    def at(self, now: float) -> Meter:
        self.now = now
        return self


def counting(ready: int, counts: dict[str, float], *, nodes: tuple[str, ...] = ("rabbit@here",)) -> Scrape:
    scrape = scraped(ready)
    scrape.nodes = list(nodes)
    scrape.counters = Counters(
        queues={QUEUE: dict(counts)}, exchanges={("/", "in"): {"publish_in": counts.get("publish", 0)}}
    )
    return scrape


def test_rates_are_the_counters_change_over_the_time_between_scrapes() -> None:
    meter = Meter()
    assert meter.at(100.0).rates(counting(0, {"publish": 10, "ack": 4}), {QUEUE}, {("/", "in")}) is None  # first
    rates = meter.at(104.0).rates(
        counting(0, {"publish": 30, "ack": 9, "deliver_get": 3}), {QUEUE}, {("/", "in"), ("/", "idle")}
    )
    assert rates is not None
    assert rates.queues[QUEUE]["rates"] == {"publish": 5.0, "deliver_get": 0.75, "ack": 1.25, "redeliver": 0.0}
    assert rates.exchanges[("/", "in")]["rates"] == {"publish_in": 5.0, "publish_out": 0.0}
    # an exchange the broker has no counter for has moved nothing: zero, and known
    assert rates.exchanges[("/", "idle")]["rates"] == {"publish_in": 0.0, "publish_out": 0.0}
    assert rates.sources == {"rates": "Prometheus counters (rabbit@here)"}


def test_a_counter_that_went_down_or_other_nodes_give_no_rate() -> None:
    meter = Meter()
    meter.at(100.0).rates(counting(0, {"publish": 10}), {QUEUE}, set())
    restarted = meter.at(102.0).rates(counting(0, {"publish": 2}), {QUEUE}, set())
    assert restarted is not None and QUEUE not in restarted.queues  # no rate rather than a negative one
    again = meter.at(104.0).rates(counting(0, {"publish": 6}), {QUEUE}, set())
    assert again is not None and again.queues[QUEUE]["rates"]["publish"] == 2.0
    assert (
        meter.at(106.0).rates(counting(0, {"publish": 50}, nodes=("rabbit@here", "rabbit@new")), {QUEUE}, set()) is None
    )


def test_a_scrape_too_soon_waits_and_the_rate_spans_both_gaps() -> None:
    meter = Meter()
    meter.at(100.0).rates(counting(0, {"publish": 0}), {QUEUE}, set())
    assert meter.at(100.4).rates(counting(0, {"publish": 1}), {QUEUE}, set()) is None
    rates = meter.at(102.0).rates(counting(0, {"publish": 8}), {QUEUE}, set())
    assert rates is not None and rates.queues[QUEUE]["rates"]["publish"] == 4.0


def test_a_node_that_does_not_count_stops_the_rates() -> None:
    meter = Meter()
    meter.at(100.0).rates(counting(0, {"publish": 0}), {QUEUE}, set())
    meter.at(102.0).rates(counting(0, {"publish": 4}), {QUEUE}, set())
    assert meter.counting and meter.latest is not None
    assert meter.at(104.0).rates(scraped(0), {QUEUE}, set()) is None  # counters None: a 3.12 node joined
    assert not meter.counting and meter.latest is None


def test_where_prometheus_counts_messages_the_rate_listing_is_never_read() -> None:
    """On RabbitMQ 4.0 with 5,000 queues the rate listing cost about one GET /api/queues."""
    listings = Listings([listed_queue(ready=0)])
    scraper, meter = Scraper(counting(4, {"publish": 10})), Meter()
    first = read_figures(listings, scraper, True, rates=True, expected={QUEUE}, cluster="rabbit@here", meter=meter)
    assert "rates" not in first.sources  # one scrape is no rate yet; the full read's stay
    scraper.answer = counting(4, {"publish": 20})
    meter.now += 2.0
    second = read_figures(listings, scraper, True, rates=True, expected={QUEUE}, cluster="rabbit@here", meter=meter)
    assert listings.asked == []
    assert second.queues[QUEUE]["rates"]["publish"] == 5.0
    assert second.queues[QUEUE]["messages_ready"] == 4
    assert second.sources["rates"] == "Prometheus counters (rabbit@here)"


def test_before_3_13_rates_still_come_from_the_listing_on_their_tick() -> None:
    listings = Listings([listed_queue(ready=0)])
    figures = read_figures(
        listings,
        Scraper(scraped(ready=1)),
        True,
        rates=True,
        expected={QUEUE},
        cluster="rabbit@here",
        meter=Meter(),
    )
    assert figures.sources["rates"] == "management statistics"
    assert figures.queues[QUEUE]["rates"]["publish"] == 2.5
