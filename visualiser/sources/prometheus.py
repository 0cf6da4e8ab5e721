"""Queue depths, consumer counts and message counters from RabbitMQ's Prometheus plugin.

With management statistics off (RabbitMQ's recommended setting from 4.x), the management
API no longer gives consumer counts or rates. The Prometheus plugin does, cheaply:
``/metrics/detailed?family=queue_coarse_metrics&family=queue_consumer_count`` answers per
queue (ready, unacked, total, consumers). Each node reports only the queues it hosts, so
every node of a cluster is scraped and the answers are merged; the nodes that did not
answer are reported, and their queues' figures stay unknown.

From RabbitMQ 3.13 the same request also gets per-queue and per-exchange message counters
(``queue_delivery_metrics``, ``queue_exchange_metrics``, ``exchange_metrics``), counted
with management statistics on or off. Each node counts what its own channels did, so the
nodes' counters are added up; rates are their change between two scrapes (figures.py).

The text format is parsed here (a few dozen lines) rather than with a client library:
only the samples of the metrics named below are read, with label values unescaped as the format
defines (``\\\\``, ``\\"``, ``\\n``), because queue names may hold any character.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import urlsplit

import requests

from ..model.entities import BrokerSnapshot, VhostSnapshot
from .management_api import redact_url
from .quoting import broker_text

DETAILED_PATH = "/metrics/detailed"
FAMILIES = tuple(
    ("family", family)
    for family in (
        "queue_coarse_metrics", "queue_consumer_count",
        "queue_delivery_metrics", "queue_exchange_metrics", "exchange_metrics",  # ignored before 3.13
    )
)  # fmt: skip
DEFAULT_PORT = 15692
MAX_BODY_BYTES = 64 * 1024 * 1024  # ~1 kB a busy queue with its counters: room for 60,000

METRICS = {
    "rabbitmq_detailed_queue_messages_ready": "messages_ready",
    "rabbitmq_detailed_queue_messages_unacked": "messages_unacknowledged",
    "rabbitmq_detailed_queue_consumers": "consumers",
}
# Message counters, and the rate each adds to (the management API's names for them).
QUEUE_COUNTERS = {
    "rabbitmq_detailed_queue_messages_delivered_ack_total": "deliver_get",
    "rabbitmq_detailed_queue_messages_delivered_total": "deliver_get",
    "rabbitmq_detailed_queue_get_ack_total": "deliver_get",
    "rabbitmq_detailed_queue_get_total": "deliver_get",
    "rabbitmq_detailed_queue_messages_acked_total": "ack",
    "rabbitmq_detailed_queue_messages_redelivered_total": "redeliver",
}
ROUTED = "rabbitmq_detailed_queue_exchange_messages_published_total"  # into a queue, through an exchange
EXCHANGE_PUBLISHED = "rabbitmq_detailed_exchange_messages_published_total"  # into an exchange
# Written (as a TYPE line) by nodes that count, even before anything was counted.
COUNTING = "\n# TYPE rabbitmq_detailed_queue_messages_acked_total "
_SAMPLE = re.compile(r"^(?P<name>[a-zA-Z_:][a-zA-Z0-9_:]*)\{(?P<labels>.*)\}\s+(?P<value>\S+)(?:\s+\d+)?$")
_LABEL = re.compile(r'\s*(?P<key>[a-zA-Z_][a-zA-Z0-9_]*)="(?P<value>(?:[^"\\]|\\.)*)"\s*,?')
_ESCAPES = {"\\\\": "\\", '\\"': '"', "\\n": "\n"}

QueueKey = tuple[str, str]  # (vhost, queue)
PROMETHEUS_SOURCES = {"prometheus": "Prometheus", "prometheus counters": "Prometheus counters"}  # as shown
Totals = dict[tuple[str, str], dict[str, float]]  # (vhost, name) -> rate name -> messages so far


@dataclass
class Counters:
    """Messages counted so far, per queue (publish, deliver_get, ack, redeliver) and per
    exchange (publish_in, publish_out), summed over the nodes that answered."""

    queues: Totals = field(default_factory=dict)
    exchanges: Totals = field(default_factory=dict)

    def add(self, other: Counters) -> None:
        for mine, theirs in ((self.queues, other.queues), (self.exchanges, other.exchanges)):
            for key, counts in theirs.items():
                _add_counts(mine.setdefault(key, {}), counts)


@dataclass
class Scrape:
    """The merged answer of every node: figures per queue, and which endpoints failed."""

    figures: dict[QueueKey, dict[str, int]] = field(default_factory=dict)
    counters: Counters | None = None  # None unless every node that answered counts messages
    nodes: list[str] = field(default_factory=list)  # rabbitmq_node of each endpoint that answered
    clusters: set[str] = field(default_factory=set)  # rabbitmq_cluster they said they belong to
    failed: dict[str, str] = field(default_factory=dict)  # redacted URL -> reason

    def of_cluster(self, cluster: Any) -> bool:
        """Whether this scrape may be the broker's whose management API names ``cluster``
        (unknown on either side: it may)."""
        return not isinstance(cluster, str) or not self.clusters or cluster in self.clusters


def unescape(value: str) -> str:
    return re.sub(r'\\[\\"n]', lambda m: _ESCAPES[m.group(0)], value)


def parse_labels(text: str) -> dict[str, str] | None:
    labels, position = {}, 0
    while position < len(text):
        match = _LABEL.match(text, position)
        if match is None:
            return None  # malformed: the whole sample is ignored, not half-read
        labels[match["key"]] = unescape(match["value"])
        position = match.end()
    return labels


def samples(text: str, wanted: Iterable[str]) -> Iterator[tuple[str, dict[str, str], float]]:
    """(metric, labels, value) of each wanted sample; comments and anything malformed skipped."""
    names = set(wanted)
    for line in text.splitlines():
        if not line or line[0] == "#" or line.split("{", 1)[0] not in names:
            continue
        match = _SAMPLE.match(line)
        labels = parse_labels(match["labels"]) if match else None
        if match is None or labels is None:
            continue
        try:
            yield match["name"], labels, float(match["value"])
        except ValueError:
            continue


def parse_queue_figures(text: str) -> tuple[dict[QueueKey, dict[str, int]], str | None]:
    """Figures per (vhost, queue) from one node's detailed metrics, and that node's name."""
    figures, node, _ = parse_scrape(text)
    return figures, node


def parse_scrape(text: str) -> tuple[dict[QueueKey, dict[str, int]], str | None, str | None]:
    """Figures per (vhost, queue) from one node's detailed metrics, its node and its cluster."""
    figures: dict[QueueKey, dict[str, int]] = {}
    text = "\n" + text  # every sample line now follows a newline, the first one too
    for metric, figure in METRICS.items():
        for vhost, queue, value_text in _queue_samples(text, metric):
            try:
                value = float(value_text)
            except ValueError:
                continue
            if not value >= 0 or value != int(value):
                continue
            figures.setdefault((vhost, queue), {})[figure] = int(value)
    node = cluster = None
    start = text.find("\nrabbitmq_identity_info{")
    if start >= 0:
        end = text.find("\n", start + 1)
        for _, labels, _ in samples(text[start + 1 : end if end >= 0 else len(text)], ["rabbitmq_identity_info"]):
            node, cluster = labels.get("rabbitmq_node"), labels.get("rabbitmq_cluster")
    return figures, node, cluster


def parse_counters(text: str) -> Counters | None:
    """One node's message counters, or None if it does not count them (before RabbitMQ 3.13)."""
    text = "\n" + text
    if COUNTING not in text:
        return None
    counters = Counters()
    queues, exchanges = counters.queues, counters.exchanges
    for metric, rate in QUEUE_COUNTERS.items():
        for vhost, queue, value in _counts(_queue_samples(text, metric)):
            counts = queues.get((vhost, queue))
            if counts is None:
                queues[(vhost, queue)] = {rate: value}
            else:
                counts[rate] = counts.get(rate, 0.0) + value
    for vhost, exchange, value in _counts(_queue_samples(text, EXCHANGE_PUBLISHED, "exchange")):
        _add_counts(exchanges.setdefault((vhost, exchange), {}), {"publish_in": value})
    for vhost, exchange, queue, value in _routed_counts(text):
        _add_counts(queues.setdefault((vhost, queue), {}), {"publish": value})
        _add_counts(exchanges.setdefault((vhost, exchange), {}), {"publish_out": value})
    return counters


def _counts(found: list[tuple[str, str, str]]) -> Iterator[tuple[str, str, float]]:
    """The positive counts: most counters of most queues are 0, and a missing one counts as 0."""
    for first, second, value_text in found:
        value = _positive(value_text)
        if value is not None:
            yield first, second, value


def _positive(value_text: str) -> float | None:
    if value_text == "0":
        return None
    try:
        value = float(value_text)
    except ValueError:
        return None
    return value if 0 < value < float("inf") else None


def _routed_counts(text: str) -> Iterator[tuple[str, str, str, float]]:
    """(vhost, exchange, queue, messages) routed into each queue through each exchange."""
    plain = re.compile(
        "\n"
        + re.escape(ROUTED)
        + r'\{vhost="([^"\\\n]*)",exchange="([^"\\\n]*)",queue="([^"\\\n]*)"\}[ \t]+(\S+)[ \t]*(?=\n|$)'
    )
    found = _plain_lines(plain, text, ROUTED)
    if found is None:
        found = [
            (labels["vhost"], labels["exchange"], labels["queue"], repr(value))
            for _, labels, value in samples(text, [ROUTED])
            if {"vhost", "exchange", "queue"} <= labels.keys()
        ]
    for vhost, exchange, queue, value_text in found:
        value = _positive(value_text)
        if value is not None:
            yield vhost, exchange, queue, value


def _add_counts(into: dict[str, float], counts: dict[str, float]) -> None:
    for name, value in counts.items():
        into[name] = into.get(name, 0.0) + value


def _queue_samples(text: str, metric: str, second: str = "queue") -> list[tuple[str, str, str]]:
    """(vhost, queue, value) of each sample of one metric (``second``: the label after vhost).

    A scrape of 5,000 queues is 2 MB, read at every refresh: the lines as RabbitMQ writes them
    (``vhost="…",queue="…"``, nothing escaped) are found by one regular expression over the
    whole text, several times faster than a loop over its lines in Python. If any line of the
    metric is written otherwise (escapes, other labels, a timestamp), that metric is read line
    by line with the full label grammar instead.
    """
    plain = re.compile(
        "\n" + re.escape(metric) + r'\{vhost="([^"\\\n]*)",' + second + r'="([^"\\\n]*)"\}[ \t]+(\S+)[ \t]*(?=\n|$)'
    )
    found = _plain_lines(plain, text, metric)
    if found is not None:
        return found
    return [
        (labels["vhost"], labels[second], repr(value))
        for _, labels, value in samples(text, [metric])
        if "vhost" in labels and second in labels
    ]


def _plain_lines(plain: re.Pattern[str], text: str, metric: str) -> list[Any] | None:
    """Every line of one metric matched by ``plain``, or None if some line is written otherwise.

    RabbitMQ writes a metric's lines together, so only the stretch from its first line to its
    last is searched: with message counters a scrape is about 1 kB a busy queue, and a search
    of the whole text for each of its dozen metrics cost more than reading the lines found."""
    start = text.find("\n" + metric + "{")
    if start < 0:
        return []
    last = text.rfind("\n" + metric + "{")
    end = text.find("\n", last + 1)
    end = len(text) if end < 0 else end
    found = plain.findall(text, start, end)
    return found if len(found) == text.count("\n" + metric + "{", start, end) else None


def default_url(management_base_url: str) -> str:
    """The Prometheus plugin on the management API's host, at its default port."""
    host = urlsplit(management_base_url).hostname or "localhost"
    host = f"[{host}]" if ":" in host else host
    return f"http://{host}:{DEFAULT_PORT}"


class PrometheusClient:
    """Scrapes the detailed queue families of every configured node, in parallel."""

    def __init__(self, urls: Iterable[str], timeout: float = 5.0):
        self.urls = [url.rstrip("/") for url in urls]
        self.timeout = timeout
        self._pool = ThreadPoolExecutor(max_workers=max(1, min(8, len(self.urls))), thread_name_prefix="prometheus")

    def __repr__(self) -> str:
        return f"PrometheusClient({[redact_url(u) for u in self.urls]!r})"

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

    def scrape(self) -> Scrape:
        result = Scrape()
        every_node_counts = True
        for url, outcome in zip(self.urls, self._pool.map(self._scrape_one, self.urls), strict=True):
            if isinstance(outcome, str):
                result.failed[redact_url(url)] = outcome
                continue
            figures, node, cluster, counters = outcome
            result.figures.update(figures)
            if node:
                result.nodes.append(broker_text(node, 100))  # quoted in the page's notes
            if cluster:
                result.clusters.add(cluster)
            if counters is None:
                every_node_counts = False
            elif result.counters is None:
                result.counters = counters  # parsed for this scrape alone: no copy needed
            elif every_node_counts:
                result.counters.add(counters)
        if not every_node_counts:
            result.counters = None  # some nodes' messages would be missing from the sums
        return result

    def _scrape_one(self, url: str) -> tuple[dict[QueueKey, dict[str, int]], str, str | None, Counters | None] | str:
        try:
            with requests.get(
                url + DETAILED_PATH, params=list(FAMILIES), timeout=self.timeout, stream=True
            ) as response:
                if response.status_code != 200:
                    return f"answered {response.status_code}"
                body = response.raw.read(MAX_BODY_BYTES + 1, decode_content=True)
        except requests.RequestException as exc:
            return f"unreachable ({type(exc).__name__})"
        if len(body) > MAX_BODY_BYTES:
            return f"answer larger than {MAX_BODY_BYTES // (1024 * 1024)} MiB"
        text = body.decode("utf-8", "replace")
        figures, node, cluster = parse_scrape(text)
        if node is None:
            return "not a RabbitMQ Prometheus endpoint (no rabbitmq_identity_info)"
        return figures, node, cluster, parse_counters(text)


def with_prometheus_figures(snapshot: BrokerSnapshot, scrape: Scrape | None) -> BrokerSnapshot:
    """The snapshot with each queue's unknown figures filled in from a scrape (None: not configured).

    Only figures the management API left unknown are taken (it stays the source of what it
    gives); a queue no answering node reported keeps them unknown, and the notes say which
    nodes did not answer.
    """
    configured = scrape is not None
    scrape = scrape or Scrape()
    cluster = snapshot.broker.get("cluster_name")
    other_cluster = not scrape.of_cluster(cluster)
    if other_cluster:  # e.g. the default guess, host:15692, reaching another broker on the same host
        scrape = Scrape(failed=scrape.failed)
    vhosts = {name: _fill_vhost(vhost, scrape) for name, vhost in snapshot.vhosts.items()}
    broker = dict(snapshot.broker)
    figures = dict(broker.get("figures", {}))
    missing = [
        note
        for note in broker.get("missing", [])
        if note.get("what") not in ("message rates and consumer details", "consumer details")
    ]
    if scrape.nodes:
        figures["consumer_counts"] = "prometheus"
        if figures.get("depths") == "none":
            figures["depths"] = "prometheus"
        counted = scrape.counters is not None
        if counted:
            figures["rates"] = "prometheus counters"
        missing.insert(
            0,
            {
                "what": "consumer details" if counted else "message rates and consumer details",
                # Not where depths come from: full reads and the refreshes between them may
                # differ (queue totals, Prometheus), and each figure's details say which.
                "why": "management statistics are off on this broker (RabbitMQ's recommended setting "
                "from 4.x); consumer counts "
                + ("and message rates " if counted else "")
                + f"come from Prometheus ({', '.join(sorted(scrape.nodes))}); each figure's source is in its details",
            },
        )
    else:
        missing.insert(
            0,
            {
                "what": "message rates, consumer details and consumer counts",
                "why": "management statistics are off on this broker and "
                + (
                    f"the Prometheus endpoint that answered belongs to another cluster, not '{broker_text(cluster, 100)}': "
                    "give this cluster's nodes with --prometheus-url"
                    if other_cluster
                    else "no Prometheus endpoint answered: give every node's with --prometheus-url"
                    if configured
                    else "Prometheus is switched off (--prometheus-url off)"
                ),
            },
        )
    for url, reason in sorted(scrape.failed.items()):
        missing.append({"what": "consumer counts of queues on the node at " + url, "why": "Prometheus " + reason})
    broker["figures"], broker["missing"], broker["prometheus_nodes"] = figures, missing, sorted(scrape.nodes)
    return BrokerSnapshot(vhosts=vhosts, broker=broker)


def _fill_vhost(vhost: VhostSnapshot, scrape: Scrape) -> VhostSnapshot:
    queues = []
    for queue in vhost.queues:
        found = scrape.figures.get((vhost.vhost, queue.name))
        if not found:
            queues.append(queue)
            continue
        changes: dict[str, Any] = {key: value for key, value in found.items() if getattr(queue, key) is None}
        queues.append(replace(queue, **changes) if changes else queue)
    return replace(vhost, queues=tuple(queues))
