"""The demo: an online shop's broker and Celery workers, simulated, no RabbitMQ needed.

Everything the service does shows here, with synthetic data that says so (hosts
``…@demo``, documentation addresses 192.0.2.x). The shop publishes order, product and
alert events to a topic exchange (with an alternate exchange for what matches nothing), an
exchange-to-exchange binding feeds a fanout of notifications, reports go through a headers
exchange, and its Celery back office (``demo_celery``) runs payments, e-mails and reports on
four workers. Traffic swells and ebbs, so rates move: some edges are busy, some slow.

Each kind of trouble the diagnostics know is part of the story, for a reason a person can
read on the graph:

- ``invoices.retry`` fills up with nobody consuming it, reachable only by the default exchange;
- ``search.reindex`` is capped by ``x-max-length`` and its indexer is slower than the updates;
- ``orders.work`` (a quorum queue) has a replica on ``rabbit@demo-3``, which is down, and a
  policy whose look-around pattern the service cannot evaluate; its rejects fill ``orders.dead``;
- ``refunds`` dead-letters to an exchange that was deleted; ``shipping.labels`` dead-letters
  with a key nothing is bound to; ``shipping`` names an alternate exchange that does not exist;
- ``webhooks.out`` and ``webhooks.wait`` retry through dead-lettering, a cycle;
- ``promotions`` was declared and never bound; ``loyalty`` drops every task Celery sends it;
- the report builder's consumer on ``reports.eu`` is attached but paused;
- ``worker-reports@demo`` is stuck on a long export with prefetched reports waiting behind it
  (unacknowledged at prefetch), and ``worker-emails@demo`` goes away for a while and comes back.

Policies are attributed by matching their patterns, as for a definitions export. Synthetic
messages are routed by the same engine that answers "where does this message go?".
"""

from __future__ import annotations

import math
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from ..model.arguments import dead_letter_of
from ..model.entities import (
    Binding,
    BrokerSnapshot,
    Connection,
    Consumer,
    Exchange,
    Policy,
    Queue,
    VhostSnapshot,
)
from ..model.policies import resolve_policies
from ..routing import route
from .demo_celery import CELERY_QUEUES, DemoCelery, Flow, Outage, Sent, Tap, WorkerPlan, swell
from .normalise import BUILTIN_EXCHANGES
from .sink import Sink
from .status import SourceStatus

SOURCE = "demo"
CELERY_SOURCE = "celery-events"  # the name the page reads the event stream's health under
VHOST = "/"
CELERY_APP = "visualiser.sources.demo_app:app"  # the shop's Celery app, for task routes
BROKER_ADDRESS = "192.0.2.1:5672"
NODES = ("rabbit@demo-1", "rabbit@demo-2", "rabbit@demo-3")
DOWN_NODE = "rabbit@demo-3"
EVENTS_QUEUE = "celeryev.6d2a41f0"  # the service's own Celery events queue

Events = list[dict[str, Any]]


@dataclass(frozen=True)
class Publisher:
    """Sends `rate` messages a second to an exchange with keys/headers drawn at random."""

    exchange: str
    rate: float
    keys: tuple[str, ...] = ("",)
    headers: tuple[dict[str, Any], ...] = ({},)
    app: str = "storefront"  # the application publishing (its connection shows in a trace)


@dataclass(frozen=True)
class Drain:
    """One application's consumer on a queue: its speed in messages a second (0: attached but
    paused), its prefetch, and the share of what it takes that it rejects (dead-lettered)."""

    app: str
    tag: str
    rate: float
    prefetch: int = 10
    reject: float = 0.0
    acks: bool = True  # False: automatic acknowledgement (nothing is ever unacked)


def _exchanges() -> list[Exchange]:
    return [Exchange(name=n, type=t) for n, t in BUILTIN_EXCHANGES] + [
        Exchange("events", "topic", arguments={"alternate-exchange": "unrouted"}),
        Exchange("broadcast", "fanout"),
        Exchange("reports", "headers", arguments={"alternate-exchange": "unrouted"}),
        Exchange("dlx", "fanout"),
        Exchange("unrouted", "fanout"),
        Exchange("shipping", "direct", arguments={"alternate-exchange": "shipping.unrouted"}),
        Exchange("webhooks", "direct"),
        Exchange("webhooks.retry", "fanout"),
        Exchange("promotions", "fanout"),
        # Declared by the shop's Celery app and its workers.
        Exchange("celery", "direct"),
        Exchange("emails", "direct"),
        Exchange("loyalty", "direct"),
        Exchange("celeryev", "topic"),
        Exchange("celery.pidbox", "fanout", durable=False),
    ]


QUEUE_ARGUMENTS: dict[str, dict[str, Any]] = {
    "orders.work": {"x-queue-type": "quorum", "x-dead-letter-exchange": "dlx"},
    "invoices.retry": {"x-max-length": 50000},
    "search.reindex": {"x-max-length": 1000, "x-overflow": "drop-head"},
    "refunds": {"x-dead-letter-exchange": "refunds.dlx"},
    "shipping.labels": {"x-dead-letter-exchange": "shipping", "x-dead-letter-routing-key": "label.failed"},
    "webhooks.out": {"x-dead-letter-exchange": "webhooks.retry"},
    "webhooks.wait": {
        "x-message-ttl": 30000,
        "x-dead-letter-exchange": "webhooks",
        "x-dead-letter-routing-key": "webhook",
    },
    EVENTS_QUEUE: {"x-message-ttl": 5000, "x-expires": 60000},
}
QUEUE_NAMES = (
    "orders.work", "orders.audit", "analytics", "notify.email", "notify.sms", "notify.push",
    "reports.eu", "reports.pdf", "orders.dead", "unrouted.catch", "invoices.retry", "search.reindex",
    "refunds", "shipping.labels", "webhooks.out", "webhooks.wait", *CELERY_QUEUES, EVENTS_QUEUE,
)  # fmt: skip


def _bindings() -> list[Binding]:
    B = Binding
    return [
        B("events", "orders.work", "queue", "order.created"),
        B("events", "orders.audit", "queue", "order.*"),
        B("events", "analytics", "queue", "#"),
        B("events", "search.reindex", "queue", "product.*"),
        B("events", "refunds", "queue", "refund.requested"),
        B("events", "broadcast", "exchange", "alert.#"),
        B("broadcast", "notify.email", "queue", ""),
        B("broadcast", "notify.sms", "queue", ""),
        B("broadcast", "notify.push", "queue", ""),
        B("reports", "reports.eu", "queue", "", {"x-match": "all", "region": "eu", "format": "pdf"}),
        B("reports", "reports.pdf", "queue", "", {"x-match": "any", "format": "pdf", "priority": 1}),
        B("dlx", "orders.dead", "queue", ""),
        B("unrouted", "unrouted.catch", "queue", ""),
        B("shipping", "shipping.labels", "queue", "label.create"),
        B("webhooks", "webhooks.out", "queue", "webhook"),
        B("webhooks.retry", "webhooks.wait", "queue", ""),
        B("celery", "celery", "queue", "celery"),
        B("celery", "payments", "queue", "payments"),
        B("celery", "reporting", "queue", "reporting"),
        B("emails", "emails", "queue", "emails"),
        B("loyalty", "loyalty.points", "queue", "points.award"),
        B("celeryev", EVENTS_QUEUE, "queue", "#"),
    ]


POLICIES = (
    Policy("invoices-limit", r"^invoices\.", "queues", 0, {"max-length": 50000, "overflow": "reject-publish"}),
    # "Every quorum queue but the scratch ones": a look-around the broker evaluates and this service does not.
    Policy("quorum-defaults", r"^(?!tmp\.)", "quorum_queues", 1, {"delivery-limit": 10}),
)


def _queue(name: str, index: int) -> Queue:
    arguments = QUEUE_ARGUMENTS.get(name, {})
    if arguments.get("x-queue-type") == "quorum":
        return Queue(
            name,
            type="quorum",
            arguments=arguments,
            node=NODES[0],
            members=NODES,
            online=tuple(n for n in NODES if n != DOWN_NODE),
        )
    return Queue(name, arguments=arguments, node=NODES[index % 2])


def pidbox_queue(hostname: str) -> Queue:
    """A worker's remote-control mailbox: declared while it runs, deleted when it leaves."""
    return Queue(f"{hostname}.celery.pidbox", durable=False, auto_delete=True, node=NODES[0])


def demo_topology() -> VhostSnapshot:
    """The shop's broker: exchanges, queues (no workers' mailboxes), bindings and policies."""
    queues = tuple(_queue(name, i) for i, name in enumerate(QUEUE_NAMES))
    snapshot = VhostSnapshot(VHOST, tuple(_exchanges()), queues, tuple(_bindings()), policies=POLICIES)
    return resolve_policies(snapshot)


PUBLISHERS = (
    Publisher("events", 6, ("order.created", "order.paid", "order.shipped")),
    Publisher("events", 1, ("user.signup",)),
    Publisher("events", 0.4, ("alert.disk", "alert.cpu.high"), app="monitoring-agent"),
    Publisher("events", 7, ("product.updated",), app="catalog-service"),
    Publisher("events", 0.4, ("refund.requested",), app="support-desk"),
    Publisher(
        "reports",
        2,
        ("",),
        ({"region": "eu", "format": "pdf"}, {"format": "csv"}, {"priority": 1}, {"region": "us"}),
        app="report-scheduler",
    ),
    Publisher("", 1.5, ("invoices.retry",), app="billing"),
    Publisher("shipping", 1.2, ("label.create",), app="warehouse"),
    Publisher("webhooks", 1, ("webhook",), app="webhook-gateway"),
)

CONSUMERS = {
    "orders.work": Drain("order-service", "orders-1", 8, reject=0.08),
    "orders.audit": Drain("audit-service", "audit-1", 10),
    "analytics": Drain("analytics-loader", "loader-1", 30),
    "notify.email": Drain("notifier", "email", 5),
    "notify.sms": Drain("notifier", "sms", 5),
    "notify.push": Drain("notifier", "push", 5),
    "reports.eu": Drain("report-builder", "eu", 0),  # attached, but its channel is paused
    "reports.pdf": Drain("report-builder", "pdf", 2),
    "unrouted.catch": Drain("ops-inspector", "catch-all", 3),
    "search.reindex": Drain("search-indexer", "reindex", 4),
    "refunds": Drain("refund-service", "refunds-1", 2, reject=0.1),
    "shipping.labels": Drain("label-printer", "labels", 3, reject=0.05),
    "webhooks.out": Drain("webhook-sender", "sender-1", 2, reject=0.2),
    EVENTS_QUEUE: Drain("routing-visualiser (celery events)", "events", 500, prefetch=0, acks=False),
}
APPS = {  # application -> (client library, its address)
    "order-service": ("pika", "192.0.2.31:41822"),
    "audit-service": ("pika", "192.0.2.32:41930"),
    "analytics-loader": ("RabbitMQ Java Client", "192.0.2.33:52114"),
    "notifier": ("amqplib", "192.0.2.34:39001"),
    "report-builder": ("pika", "192.0.2.35:44410"),
    "ops-inspector": ("py-amqp", "192.0.2.36:40020"),
    "search-indexer": ("RabbitMQ Java Client", "192.0.2.37:52301"),
    "refund-service": ("pika", "192.0.2.38:41117"),
    "label-printer": ("amqplib", "192.0.2.39:39556"),
    "webhook-sender": ("pika", "192.0.2.40:42875"),
    "routing-visualiser (celery events)": ("py-amqp", "192.0.2.41:40500"),
}
STARTING_DEPTHS = {
    "invoices.retry": 420.0,
    "orders.dead": 12.0,
    "search.reindex": 1000.0,
    "webhooks.wait": 6.0,
    "reports.eu": 25.0,
}


def connection_name(address: str) -> str:
    """How the management API names a connection: client address -> broker address."""
    return f"{address} -> {BROKER_ADDRESS}"


def _smooth(old: float | None, new: float) -> float:
    # The broker reports rates averaged over its stats interval, not one step's draw; the
    # first step starts from a steady state.
    return round(new if old is None else 0.7 * old + 0.3 * new, 1)


def _max_length(queue: Queue) -> float:
    limits = [
        v
        for v in (queue.arguments.get("x-max-length"), queue.effective_policy_definition.get("max-length"))
        if isinstance(v, int)
    ]
    return float(min(limits)) if limits else math.inf


@dataclass
class Traffic:
    """One step's messages: into each exchange, routed out of it, and into each queue."""

    into: dict[str, float] = field(default_factory=dict)
    out: dict[str, float] = field(default_factory=dict)
    published: dict[str, float] = field(default_factory=dict)

    def add(self, exchange: str, queues: list[str], count: float) -> None:
        self.into[exchange] = self.into.get(exchange, 0.0) + count
        if queues:
            self.out[exchange] = self.out.get(exchange, 0.0) + count
        for queue in queues:
            self.published[queue] = self.published.get(queue, 0.0) + count

    def add_celery(self, flow: Flow) -> None:
        """What the Celery workers and producers did; every Celery event is a message to
        celeryev, and on to the service's own events queue."""
        for exchange, n in flow.exchange_in.items():
            self.into[exchange] = self.into.get(exchange, 0.0) + n
            self.out[exchange] = self.out.get(exchange, 0.0) + flow.exchange_out.get(exchange, 0)
        for queue, n in flow.published.items():
            self.published[queue] = self.published.get(queue, 0.0) + n
        self.add("celeryev", [EVENTS_QUEUE], float(flow.events))


class DemoBroker:
    """The simulated broker's state, Celery workers included; `step(seconds)` moves traffic on."""

    def __init__(self, seed: int = 7, outage: Outage | None = None):
        self.rng = random.Random(seed)
        self.celery = DemoCelery(random.Random(seed + 1), outage)
        self.topology = demo_topology()
        self.queues = {q.name: q for q in self.topology.queues}
        self.ready = {name: STARTING_DEPTHS.get(name, 0.0) for name in self.queues}
        self.unacked = dict.fromkeys(self.queues, 0.0)
        self.rates: dict[str, dict[str, float]] = {name: {} for name in self.queues}
        self.exchange_rates: dict[str, dict[str, float]] = {}
        self.elapsed = 0.0
        self._routes: dict[tuple[str, str, tuple[tuple[str, Any], ...]], list[str]] = {}
        self.listeners: tuple[Tap, ...] = ()  # told of each message (the demo's simulated trace)

    def listen(self, listener: Tap) -> None:
        self.listeners = (*self.listeners, listener)  # replaced, never changed: read by the demo's thread
        self.celery.tap = self._tell

    def unlisten(self, listener: Tap) -> None:
        self.listeners = tuple(fn for fn in self.listeners if fn is not listener)
        self.celery.tap = self._tell if self.listeners else None

    def _tell(self, message: Any) -> None:
        for listener in self.listeners:
            listener(message)

    # ---- traffic ------------------------------------------------------------------------------
    def step(self, seconds: float) -> None:
        self.elapsed += seconds
        flow = self.celery.take_flow()
        traffic = self._publish(seconds)
        traffic.add_celery(flow)
        delivered, rejected = self._consume(seconds, traffic.published)
        self._dead_letter(seconds, rejected, traffic)
        for name in self.ready:
            if name not in CONSUMERS and name not in CELERY_QUEUES:
                self.ready[name] += traffic.published.get(name, 0.0)
            self.ready[name] = min(self.ready[name], _max_length(self.queues[name]))
        self._record_rates(seconds, traffic.published, delivered, flow)
        # An exchange keeps its rates once it has any (they decay to 0.0), as the broker's do.
        for name in set(traffic.into) | set(self.exchange_rates):
            old = self.exchange_rates.get(name, {})
            self.exchange_rates[name] = {
                "publish_in": _smooth(old.get("publish_in"), traffic.into.get(name, 0.0) / seconds),
                "publish_out": _smooth(old.get("publish_out"), traffic.out.get(name, 0.0) / seconds),
            }

    def _publish(self, seconds: float) -> Traffic:
        """The publishers' messages for one step, routed message by message."""
        traffic = Traffic()
        busy = swell(self.elapsed)
        for pub in PUBLISHERS:
            count = pub.rate * seconds * busy * self.rng.uniform(0.7, 1.3)
            draws = max(1, round(count))
            for _ in range(draws):
                key, headers = self.rng.choice(pub.keys), self.rng.choice(pub.headers)
                queues = self._route(pub.exchange, key, headers)
                traffic.add(pub.exchange, queues, count / draws)
                if self.listeners:
                    self._tell(Sent(pub.exchange, key, tuple(queues), pub.app, dict(headers), seconds))
        return traffic

    def _route(self, exchange: str, key: str, headers: dict[str, Any]) -> list[str]:
        """The queues a message reaches; the topology's routes never change, so each is asked once."""
        question = (exchange, key, tuple(sorted(headers.items())))
        cached = self._routes.get(question)
        if cached is None:
            cached = self._routes[question] = route(self.topology, exchange, key, headers, explain=False).queues
        return cached

    def _consume(self, seconds: float, published: dict[str, float]) -> tuple[dict[str, float], dict[str, float]]:
        """What each application's consumer took, and what it rejected (to be dead-lettered)."""
        delivered: dict[str, float] = {}
        rejected: dict[str, float] = {}
        for name, drain in CONSUMERS.items():
            available = self.ready[name] + published.get(name, 0.0)
            take = min(available, drain.rate * seconds * self.rng.uniform(0.7, 1.2))
            delivered[name] = take
            self.ready[name] = available - take
            self.unacked[name] = min(drain.prefetch, take) if drain.acks else 0.0
            if drain.reject:
                rejected[name] = take * drain.reject
        return delivered, rejected

    def _dead_letter(self, seconds: float, rejected: dict[str, float], traffic: Traffic) -> None:
        """Rejected and expired messages, republished to each queue's dead-letter exchange."""
        leaving = dict(rejected)
        for name, queue in self.queues.items():
            ttl = queue.arguments.get("x-message-ttl")
            if isinstance(ttl, int) and name not in CONSUMERS and self.ready[name] > 0:
                expired = self.ready[name] * min(1.0, seconds * 1000 / ttl)
                self.ready[name] -= expired
                leaving[name] = leaving.get(name, 0.0) + expired
        for name, count in leaving.items():
            target = dead_letter_of(self.queues[name])
            if target is None or count <= 0:
                continue
            exchange, key = target
            queues = self._route(exchange, key if key is not None else name, {})
            traffic.add(exchange, queues, count)
            for target_queue in queues:
                if target_queue in CONSUMERS:
                    self.ready[target_queue] += count  # its consumer has had its turn: taken next step

    def _record_rates(
        self, seconds: float, published: dict[str, float], delivered: dict[str, float], flow: Flow
    ) -> None:
        for name in self.ready:
            if name in CELERY_QUEUES:
                out, acked = float(flow.delivered.get(name, 0)), float(flow.acked.get(name, 0))
            else:
                out = acked = delivered.get(name, 0.0)
            old = self.rates[name]
            self.rates[name] = {
                "publish": _smooth(old.get("publish"), published.get(name, 0.0) / seconds),
                "deliver_get": _smooth(old.get("deliver_get"), out / seconds),
                "ack": _smooth(old.get("ack"), acked / seconds),
            }

    # ---- what the management API would say ---------------------------------------------------------
    def snapshot(self) -> BrokerSnapshot:
        connections, consumers = self._application_consumers()
        for plan in self.celery.consuming():
            _add_worker_consumers(plan, connections, consumers)
        counts: dict[str, int] = {}
        for consumer in consumers:
            counts[consumer.queue] = counts.get(consumer.queue, 0) + 1
        queues = [self._queue_figures(q, counts.get(q.name, 0)) for q in self.topology.queues]
        queues += [replace(pidbox_queue(plan.hostname), consumers=1, rates={}) for plan in self.celery.consuming()]
        exchanges = tuple(replace(e, rates=self.exchange_rates.get(e.name, {})) for e in self.topology.exchanges)
        vhost = replace(
            self.topology,
            queues=tuple(queues),
            exchanges=exchanges,
            consumers=tuple(consumers),
            connections=tuple(connections.values()),
        )
        return BrokerSnapshot({VHOST: vhost}, {"rabbitmq_version": "demo", "cluster_name": "demo@localhost"})

    def _queue_figures(self, queue: Queue, consumers: int) -> Queue:
        if queue.name in CELERY_QUEUES:
            ready, unacked = self.celery.ready(queue.name), self.celery.unacked(queue.name)
        else:
            ready, unacked = int(self.ready[queue.name]), int(self.unacked[queue.name])
        paused = CONSUMERS.get(queue.name, Drain("", "", 1)).rate == 0
        return replace(
            queue,
            messages_ready=ready,
            messages_unacknowledged=unacked,
            consumers=consumers,
            rates=self.rates[queue.name],
            consumer_utilisation=(0.0 if paused else 1.0) if consumers else None,
        )

    @staticmethod
    def _application_consumers() -> tuple[dict[str, Connection], list[Consumer]]:
        connections: dict[str, Connection] = {}
        consumers: list[Consumer] = []
        for queue, drain in CONSUMERS.items():
            product, address = APPS[drain.app]
            name = connection_name(address)
            connections[name] = Connection(name, "shop", address, {"connection_name": drain.app, "product": product})
            consumers.append(
                Consumer(queue, drain.tag, f"{name} (1)", name, prefetch_count=drain.prefetch, ack_required=drain.acks)
            )
        return connections, consumers


def _add_worker_consumers(plan: WorkerPlan, connections: dict[str, Connection], consumers: list[Consumer]) -> None:
    """A Celery worker as the broker shows it: one connection (py-amqp, no name of its own),
    consuming its task queues on one channel (kombu's tags: None1, None2…) and its
    remote-control mailbox on another."""
    name = connection_name(plan.address)
    connections[name] = Connection(
        name, "shop", plan.address, {"product": "py-amqp", "version": "5.3.1", "platform": "Python 3.12.3"}
    )
    for i, queue in enumerate(plan.queues, start=1):
        consumers.append(Consumer(queue, f"None{i}", f"{name} (1)", name, prefetch_count=plan.prefetch))
    consumers.append(Consumer(f"{plan.hostname}.celery.pidbox", "None1", f"{name} (2)", name))


class DemoSource:
    """Runs the demo: Celery events a few times a second, a broker snapshot every `poll` seconds.

    Events go to `celery` (the Celery monitor's ``ingest``) on the hub's thread, the way the
    events consumer delivers real ones; snapshots and statuses go to the hub as a poller's do.
    """

    def __init__(
        self,
        hub: Sink,
        celery: Callable[[Events], None] | None = None,
        *,
        seed: int = 7,
        tick: float = 0.25,
        poll: float = 1.0,
        clock: Callable[[], float] = time.time,
        outage: Outage | None = None,
    ):
        self.hub, self.celery = hub, celery
        self.tick, self.poll, self.clock = tick, poll, clock
        self.broker = DemoBroker(seed, outage)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="demo", daemon=True)
        self._started = 0.0
        self._polled = 0.0

    def start(self) -> None:
        self.begin()
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=2)

    def begin(self) -> None:
        """The opening: the workers already running (events first, so that the first graph
        has them) and the broker's first snapshot."""
        self._started = self._polled = self.clock()
        self._deliver(self.broker.celery.begin(self._started))
        self._publish()

    def advance(self) -> None:
        """One tick: the Celery events of the moment; a broker snapshot when a poll is due."""
        now = self.clock()
        self._deliver(self.broker.celery.step(now))
        if now - self._polled >= self.poll:
            self.broker.step(now - self._polled)
            self._polled = now
            self._publish()

    def _run(self) -> None:
        while not self._stop.wait(self.tick):
            self.advance()

    def _deliver(self, events: Events) -> None:
        if self.celery is None or not events:
            return
        ingest = self.celery
        counts: dict[str, int] = {}
        for event in events:
            counts[event["type"]] = counts.get(event["type"], 0) + 1
        for kind, n in counts.items():
            self.hub.metrics.inc("visualiser_celery_events_total", n, type=kind)
        self.hub.submit(lambda: ingest(events))

    def _publish(self) -> None:
        now = self.clock()
        self.hub.publish_broker(SOURCE, self.broker.snapshot())
        self.hub.publish_status(
            SourceStatus(SOURCE, "ok", "embedded demo broker (simulated traffic)", now, since=self._started)
        )
        if self.celery is not None:
            self.hub.publish_status(
                SourceStatus(CELERY_SOURCE, "ok", "simulated Celery workers (demo)", now, since=self._started)
            )
