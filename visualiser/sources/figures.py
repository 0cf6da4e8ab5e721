"""Depths, consumer counts and rates between full reads, from the cheapest source the broker offers.

While the broker's event exchange pushes every topology change (broker_events.py), the full
read of every listing is only a reconcile, run every ``--reconcile-interval``. The numbers
that move all the time are refreshed every ``--poll-interval`` by one cheaper read:

- **Statistics off, Prometheus answering**: one scrape of each node's
  ``/metrics/detailed?family=queue_coarse_metrics&family=queue_consumer_count`` (depths and
  consumer counts of the queues each node hosts). On RabbitMQ 4.0 with 5,000 queues it
  answered in a fraction of the time of one ``GET /api/queues`` (docs/performance.md).
- **Statistics off, no Prometheus**: the queue totals listing (depths, no consumer counts).
- **Statistics on**: depths and consumer counts from Prometheus as above when it answers
  (on every refresh, and laid over each full read too: the statistics listing lags the
  scrape by a collection tick, and the two taken in turn would make depths flap). When
  Prometheus does not answer, the queue listing gives everything.
- **Rates**: where every node counts messages (RabbitMQ 3.13 and later, statistics on or
  off), from the same scrape: each counter's change since the last scrape over the time
  between (``RateMeter``). Otherwise, with statistics on, from the queue listing with only
  its rate columns and the exchange listing with only its rates, at most every
  ``RATES_SECONDS`` (they move only on the broker's statistics tick). On RabbitMQ 4.0 with
  5,000 queues that listing alone cost about what one ``GET /api/queues`` costs.

A scrape counts only if it comes from the management API's cluster and covers every queue
the last full read found; otherwise the listing is read instead.

Each answer replaces only the figures it carries, on the objects the last full read found;
what it does not mention keeps its last value, and its age says how old that is.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar

from ..model.entities import BrokerSnapshot, Exchange, Queue
from .management_api import QUEUE_TOTALS_PARAMS, ManagementClient
from .normalise import exchange_from, queue_from
from .prometheus import Counters, PrometheusClient, Scrape, Totals

Key = tuple[str, str]  # (vhost, name)
Entity = TypeVar("Entity", Queue, Exchange)
RATES_SECONDS = 5.0  # RabbitMQ's default collect_statistics_interval: rates move no faster
MIN_RATE_SECONDS = 1.0  # counters a shorter time apart give a rate too coarse to show
QUEUE_RATES = ("publish", "deliver_get", "ack", "redeliver")
EXCHANGE_RATES = ("publish_in", "publish_out")

QUEUE_RATE_COLUMNS = ",".join(
    [
        "name", "vhost", "consumer_utilisation", "consumer_capacity", "message_stats.publish_details.rate",
        "message_stats.deliver_get_details.rate", "message_stats.ack_details.rate",
        "message_stats.redeliver_details.rate",
    ]
)  # fmt: skip
QUEUE_FIGURE_COLUMNS = QUEUE_RATE_COLUMNS + ",messages_ready,messages_unacknowledged,consumers"
QUEUE_TOTALS_FIGURE_COLUMNS = "name,vhost,messages_ready,messages_unacknowledged"
EXCHANGE_RATE_COLUMNS = "name,vhost,message_stats.publish_in_details.rate,message_stats.publish_out_details.rate"


@dataclass
class Figures:
    """One refresh's answer: the fields to replace, per queue and per exchange, and what it asked."""

    queues: dict[Key, dict[str, Any]] = field(default_factory=dict)
    exchanges: dict[Key, dict[str, Any]] = field(default_factory=dict)
    sources: dict[str, str] = field(default_factory=dict)  # figure -> where it came from this time
    requests: int = 0
    read_at: float = 0.0


def read_figures(
    client: ManagementClient,
    prometheus: PrometheusClient | None,
    statistics: bool,
    *,
    rates: bool = True,
    expected: set[Key] | None = None,
    cluster: str | None = None,
    meter: RateMeter | None = None,
    exchanges: set[Key] | None = None,
) -> Figures:
    """The cheapest refresh for this broker (raises SourceError as the client does).

    ``rates``: rates are due (statistics on; they move only on the broker's statistics tick).
    A Prometheus scrape is used only if it comes from this cluster (``cluster``, the management
    API's name for it) and covers every queue of the last full read (``expected``): a scrape of
    another broker, or of some nodes of a cluster only, would leave figures silently old.
    ``meter`` turns the scrape's counters into rates for those queues and ``exchanges``.
    """
    scraped = prometheus_figures(prometheus, expected, cluster, meter, exchanges) if prometheus is not None else None
    if scraped is not None:
        # One source per figure: depths stay Prometheus's even on the rates tick, because the
        # statistics listing lags it by a collection tick and the two taken in turn would flap;
        # where Prometheus counts messages, rates are its too (the meter's first scrape has none).
        counted = meter is not None and meter.counting
        return merged(scraped, read_rates(client)) if statistics and rates and not counted else scraped
    if not statistics:
        rows = client.get_paginated("/api/queues", QUEUE_TOTALS_FIGURE_COLUMNS, QUEUE_TOTALS_PARAMS)
        queues = {_key(row): _depths(queue_from(row)) for row in rows}
        return Figures(queues=queues, sources={"depths": "queue totals"}, requests=1, read_at=time.time())
    queues = {}
    for row in client.get_paginated("/api/queues", QUEUE_FIGURE_COLUMNS):
        queue = queue_from(row)
        queues[_key(row)] = {
            **_depths(queue),
            "consumers": queue.consumers,
            "consumer_utilisation": queue.consumer_utilisation,
            "rates": queue.rates,
        }
    statistics_source = "management statistics"
    return Figures(
        queues=queues,
        exchanges=_exchange_rates(client),
        sources={"depths": statistics_source, "consumer_counts": statistics_source, "rates": statistics_source},
        requests=2,
        read_at=time.time(),
    )


def prometheus_figures(
    prometheus: PrometheusClient,
    expected: set[Key] | None,
    cluster: str | None,
    meter: RateMeter | None = None,
    exchanges: set[Key] | None = None,
) -> Figures | None:
    """Depths, consumer counts and (given a meter) rates from one scrape, or None when it cannot
    be trusted: no node answered, it is another cluster's, or it lacks a queue the last full
    read found."""
    read_at = time.time()
    scrape = prometheus.scrape()
    covered = expected is None or expected <= scrape.figures.keys()
    if not (scrape.nodes and scrape.of_cluster(cluster) and covered):
        return None
    source = f"Prometheus ({', '.join(sorted(scrape.nodes))})"
    figures = Figures(
        queues={key: dict(found) for key, found in scrape.figures.items()},
        sources={"depths": source, "consumer_counts": source},
        requests=len(prometheus.urls),
        read_at=read_at,
    )
    rates = meter.rates(scrape, expected or set(), exchanges or set()) if meter else None
    return merged(figures, rates) if rates is not None else figures


class RateMeter:
    """Message rates from Prometheus's counters: each counter's change between two scrapes,
    over the time between them.

    The first scrape, one with another set of nodes answering (their sums would jump), and one
    less than ``MIN_RATE_SECONDS`` after the last give no rates. A counter that went down (its
    queue deleted and declared again, a node restarted) gives no rate for that queue that
    time. A queue or exchange the broker has no counter for has moved no message since its
    node started: its rates are zero, and known to be.
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.counting = False  # the last scrape's nodes all count messages
        self.latest: Figures | None = None  # the last rates given, to lay over a vhost read again
        self._last: tuple[float, tuple[str, ...], Counters] | None = None

    def rates(self, scrape: Scrape, queues: set[Key], exchanges: set[Key]) -> Figures | None:
        """Rates since the last scrape for these queues and exchanges (None: none this time)."""
        now = self.clock()
        self.counting = scrape.counters is not None
        if scrape.counters is None:
            self._last = self.latest = None
            return None
        nodes = tuple(sorted(scrape.nodes))
        last, self._last = self._last, (now, nodes, scrape.counters)
        if last is not None and now - last[0] < MIN_RATE_SECONDS and last[1] == nodes:
            self._last = last  # too soon: measure from the older scrape next time
            return None
        if last is None or last[1] != nodes:
            return None
        elapsed = now - last[0]
        self.latest = Figures(
            queues=_rates_of(last[2].queues, scrape.counters.queues, elapsed, queues, QUEUE_RATES),
            exchanges=_rates_of(last[2].exchanges, scrape.counters.exchanges, elapsed, exchanges, EXCHANGE_RATES),
            sources={"rates": f"Prometheus counters ({', '.join(nodes)})"},
            read_at=time.time(),
        )
        return self.latest


def _rates_of(
    before: Totals, after: Totals, elapsed: float, wanted: set[Key], names: tuple[str, ...]
) -> dict[Key, dict[str, Any]]:
    rates: dict[Key, dict[str, Any]] = {}
    for key in wanted or after.keys():
        now, then = after.get(key, {}), before.get(key, {})
        if now == then:  # most queues of a big broker, most of the time: a quick zero
            rates[key] = {"rates": dict.fromkeys(names, 0.0)}
            continue
        moved = {name: now.get(name, 0.0) - then.get(name, 0.0) for name in names}
        if any(delta < 0 for delta in moved.values()):
            continue  # a counter started again: no rate this time
        rates[key] = {"rates": {name: round(delta / elapsed, 2) for name, delta in moved.items()}}
    return rates


def read_rates(client: ManagementClient) -> Figures:
    """Rates (and consumer utilisation), which only the management statistics have."""
    queues = {}
    for row in client.get_paginated("/api/queues", QUEUE_RATE_COLUMNS):
        queue = queue_from(row)
        queues[_key(row)] = {"consumer_utilisation": queue.consumer_utilisation, "rates": queue.rates}
    return Figures(
        queues=queues,
        exchanges=_exchange_rates(client),
        sources={"rates": "management statistics"},
        requests=2,
        read_at=time.time(),
    )


def merged(first: Figures, second: Figures) -> Figures:
    """Both answers' figures; where both carry one, the second's."""
    queues = {key: dict(found) for key, found in first.queues.items()}
    for key, found in second.queues.items():
        queues.setdefault(key, {}).update(found)
    return Figures(
        queues=queues,
        exchanges={**first.exchanges, **second.exchanges},
        sources={**first.sources, **second.sources},
        requests=first.requests + second.requests,
        read_at=min(first.read_at, second.read_at),
    )


def _exchange_rates(client: ManagementClient) -> dict[Key, dict[str, Any]]:
    return {
        _key(row): {"rates": exchange_from(row).rates}
        for row in client.get_paginated("/api/exchanges", EXCHANGE_RATE_COLUMNS)
    }


def queue_keys(read: BrokerSnapshot) -> set[Key]:
    return {(name, q.name) for name, vhost in read.vhosts.items() for q in vhost.queues}


def exchange_keys(read: BrokerSnapshot) -> set[Key]:
    return {(name, x.name) for name, vhost in read.vhosts.items() for x in vhost.exchanges}


def _key(row: dict[str, Any]) -> Key:
    return str(row.get("vhost", "")), str(row.get("name", ""))


def _depths(queue: Queue) -> dict[str, Any]:
    return {"messages_ready": queue.messages_ready, "messages_unacknowledged": queue.messages_unacknowledged}


def with_figures(read: BrokerSnapshot, figures: Figures) -> BrokerSnapshot:
    """The last full read with this refresh's figures laid over its queues and exchanges."""
    vhosts = {}
    for name, vhost in read.vhosts.items():
        queues = tuple(_updated(q, figures.queues.get((name, q.name))) for q in vhost.queues)
        exchanges = tuple(_updated(x, figures.exchanges.get((name, x.name))) for x in vhost.exchanges)
        vhosts[name] = replace(vhost, queues=queues, exchanges=exchanges)
    return BrokerSnapshot(vhosts=vhosts, broker=read.broker)


def _updated(entity: Entity, found: dict[str, Any] | None) -> Entity:
    if not found:
        return entity
    changes = {key: value for key, value in found.items() if getattr(entity, key) != value}
    return replace(entity, **changes) if changes else entity
