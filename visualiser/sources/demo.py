"""An embedded simulated broker: a realistic topology with traffic, no RabbitMQ needed.

The layout is what people run in production: Celery's direct exchange feeding one queue
per priority, each drained by its own worker; a topic exchange with wildcard bindings and
an alternate exchange; a fanout; a headers exchange; an exchange-to-exchange binding; a
dead-letter queue; and one queue nobody consumes, filling up on purpose. Synthetic
messages are routed by the same engine that answers "where does this message go?".
"""

from __future__ import annotations

import random
import threading
import time
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

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
from ..routing import route
from .normalise import BUILTIN_EXCHANGES
from .status import SourceStatus

if TYPE_CHECKING:
    from ..hub import Hub

SOURCE = "demo"
VHOST = "/"


@dataclass
class Publisher:
    """Sends `rate` messages a second to an exchange with keys/headers drawn at random."""

    exchange: str
    rate: float
    keys: tuple[str, ...] = ("",)
    headers: tuple[dict[str, Any], ...] = ({},)


@dataclass
class Drain:
    """A consumer's speed in messages a second; `reject` is the share it dead-letters."""

    rate: float
    prefetch: int = 10
    reject: float = 0.0


def demo_topology() -> VhostSnapshot:
    exchanges = [Exchange(name=n, type=t) for n, t in BUILTIN_EXCHANGES] + [
        Exchange("celery", "direct"),
        Exchange("events", "topic", arguments={"alternate-exchange": "unrouted"}),
        Exchange("broadcast", "fanout"),
        Exchange("reports", "headers", arguments={"alternate-exchange": "unrouted"}),
        Exchange("dlx", "fanout"),
        Exchange("unrouted", "fanout"),
        Exchange("celeryev", "topic", durable=True),
        Exchange("celery.pidbox", "fanout", durable=False),
    ]
    queue_args = {
        "orders.work": {"x-dead-letter-exchange": "dlx", "x-queue-type": "quorum"},
        "invoices.retry": {"x-max-length": 50000},
    }
    queue_names = [
        "for_task_high", "for_task_default", "for_task_low",
        "orders.work", "orders.audit", "analytics",
        "notify.email", "notify.sms", "notify.push",
        "reports.eu", "reports.pdf",
        "orders.dead", "unrouted.catch", "invoices.retry",
        "celeryev.6d2a41f0", "workerA@demo.celery.pidbox",
    ]  # fmt: skip
    queues = [Queue(name, type="quorum" if name == "orders.work" else "classic", arguments=queue_args.get(name, {}))
              for name in queue_names]
    B = Binding
    bindings = [
        B("celery", "for_task_high", "queue", "for_task_high"),
        B("celery", "for_task_default", "queue", "for_task_default"),
        B("celery", "for_task_low", "queue", "for_task_low"),
        B("events", "orders.work", "queue", "order.created"),
        B("events", "orders.audit", "queue", "order.*"),
        B("events", "analytics", "queue", "#"),
        B("events", "broadcast", "exchange", "alert.#"),
        B("broadcast", "notify.email", "queue", ""),
        B("broadcast", "notify.sms", "queue", ""),
        B("broadcast", "notify.push", "queue", ""),
        B("reports", "reports.eu", "queue", "", {"x-match": "all", "region": "eu", "format": "pdf"}),
        B("reports", "reports.pdf", "queue", "", {"x-match": "any", "format": "pdf", "priority": 1}),
        B("dlx", "orders.dead", "queue", ""),
        B("unrouted", "unrouted.catch", "queue", ""),
        B("celeryev", "celeryev.6d2a41f0", "queue", "#"),
        B("celery.pidbox", "workerA@demo.celery.pidbox", "queue", ""),
    ]
    policies = [Policy("invoices-limit", r"^invoices\.", "queues", 0, {"max-length": 50000, "overflow": "reject-publish"})]
    return VhostSnapshot(VHOST, tuple(exchanges), tuple(queues), tuple(bindings), policies=tuple(policies))


PUBLISHERS = (
    Publisher("celery", 6, ("for_task_high",)),
    Publisher("celery", 12, ("for_task_default",)),
    Publisher("celery", 4, ("for_task_low",)),
    Publisher("events", 9, ("order.created", "order.paid", "order.shipped", "user.signup", "alert.disk", "alert.cpu.high")),
    Publisher("reports", 2, ("",), ({"region": "eu", "format": "pdf"}, {"format": "csv"}, {"priority": 1}, {"region": "us"})),
    Publisher("", 1.5, ("invoices.retry",)),
)

# queue -> (connection label, consumer tag, drain)
CONSUMERS = {
    "for_task_high": ("workerA@demo", "celery-worker-a", Drain(8)),
    "for_task_default": ("workerB@demo", "celery-worker-b", Drain(13)),
    "for_task_low": ("workerC@demo", "celery-worker-c", Drain(4.5, prefetch=4)),
    "orders.work": ("order-service", "orders-1", Drain(6, reject=0.1)),
    "orders.audit": ("audit-service", "audit-1", Drain(9)),
    "analytics": ("analytics-loader", "loader-1", Drain(12)),
    "notify.email": ("notifier", "email", Drain(5)),
    "notify.sms": ("notifier", "sms", Drain(5)),
    "notify.push": ("notifier", "push", Drain(5)),
    "reports.eu": ("report-builder", "eu", Drain(2)),
    "reports.pdf": ("report-builder", "pdf", Drain(2)),
    "unrouted.catch": ("ops-inspector", "catch-all", Drain(3)),
    "celeryev.6d2a41f0": ("workerA@demo", "celeryev-consumer", Drain(100)),
    "workerA@demo.celery.pidbox": ("workerA@demo", "pidbox", Drain(100)),
}


class DemoBroker:
    """The simulated broker's state; `step(seconds)` moves traffic forward."""

    def __init__(self, seed: int = 7):
        self.rng = random.Random(seed)
        self.topology = demo_topology()
        self.ready = {q.name: 0.0 for q in self.topology.queues}
        self.ready["invoices.retry"] = 420.0  # already stuck when the demo opens
        self.ready["orders.dead"] = 12.0
        self.unacked = {q.name: 0.0 for q in self.topology.queues}
        self.rates: dict[str, dict[str, float]] = {q.name: {} for q in self.topology.queues}
        self.exchange_rates: dict[str, dict[str, float]] = {}

    def step(self, seconds: float) -> None:
        published: dict[str, float] = dict.fromkeys(self.ready, 0.0)
        into_exchange: dict[str, float] = {}
        out_of_exchange: dict[str, float] = {}  # routed somewhere: the broker's publish_out
        for pub in PUBLISHERS:
            count = pub.rate * seconds * self.rng.uniform(0.6, 1.4)
            into_exchange[pub.exchange] = into_exchange.get(pub.exchange, 0) + count
            for _ in range(max(1, round(count))):
                result = route(self.topology, pub.exchange, self.rng.choice(pub.keys), self.rng.choice(pub.headers))
                for queue in result.queues:
                    published[queue] += count / max(1, round(count))
                if result.queues:
                    out_of_exchange[pub.exchange] = out_of_exchange.get(pub.exchange, 0) + count / max(1, round(count))
        delivered: dict[str, float] = dict.fromkeys(self.ready, 0.0)
        for name, (_, _, drain) in CONSUMERS.items():
            available = self.ready[name] + published[name]
            take = min(available, drain.rate * seconds * self.rng.uniform(0.7, 1.2))
            delivered[name] = take
            self.ready[name] = available - take
            self.unacked[name] = min(drain.prefetch, take)
            if drain.reject:
                published["orders.dead"] += take * drain.reject
                self.ready["orders.dead"] += take * drain.reject
        for name in self.ready:
            if name not in CONSUMERS:
                self.ready[name] += published[name]
        self.ready["invoices.retry"] = min(self.ready["invoices.retry"], 50000)
        for name in self.ready:
            self.rates[name] = {
                "publish": round(published[name] / seconds, 1),
                "deliver_get": round(delivered[name] / seconds, 1),
                "ack": round(delivered[name] / seconds, 1),
            }
        self.exchange_rates = {name: self._smoothed(name, n / seconds, out_of_exchange.get(name, 0) / seconds)
                               for name, n in into_exchange.items()}

    def _smoothed(self, exchange: str, publish_in: float, publish_out: float) -> dict[str, float]:
        # The broker reports rates averaged over its stats interval, not one step's draw.
        # The first step starts from a steady state, not from one unlucky draw.
        old = self.exchange_rates.get(exchange, {"publish_in": publish_in, "publish_out": publish_in})
        return {"publish_in": round(0.7 * old["publish_in"] + 0.3 * publish_in, 1),
                "publish_out": round(0.7 * old["publish_out"] + 0.3 * publish_out, 1)}

    def snapshot(self) -> BrokerSnapshot:
        connections: dict[str, Connection] = {}
        consumers = []
        for queue, (label, tag, drain) in CONSUMERS.items():
            conn_name = f"{label} (demo connection)"
            connections[conn_name] = Connection(conn_name, "demo", "127.0.0.1:5672",
                                                {"connection_name": label, "product": "demo"})
            consumers.append(Consumer(queue, tag, f"{conn_name} (1)", conn_name, prefetch_count=drain.prefetch))
        queues = tuple(
            replace(
                q,
                messages_ready=int(self.ready[q.name]),
                messages_unacknowledged=int(self.unacked[q.name]),
                consumers=1 if q.name in CONSUMERS else 0,
                rates=self.rates[q.name],
                consumer_utilisation=1.0 if q.name in CONSUMERS else None,
                policy="invoices-limit" if q.name.startswith("invoices.") else None,
                effective_policy_definition=dict(self.topology.policies[0].definition)
                if q.name.startswith("invoices.") else {},
            )
            for q in self.topology.queues
        )
        exchanges = tuple(replace(e, rates=self.exchange_rates.get(e.name, {})) for e in self.topology.exchanges)
        vhost = replace(self.topology, queues=queues, exchanges=exchanges,
                        consumers=tuple(consumers), connections=tuple(connections.values()))
        return BrokerSnapshot({VHOST: vhost}, {"rabbitmq_version": "demo", "cluster_name": "demo@localhost"})


class DemoSource:
    def __init__(self, hub: Hub, interval: float = 1.0, seed: int = 7):
        self.hub, self.interval = hub, interval
        self.broker = DemoBroker(seed)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="demo", daemon=True)

    def start(self) -> None:
        self._started = time.time()
        self._publish()
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)

    def _publish(self) -> None:
        self.hub.publish_broker(SOURCE, self.broker.snapshot())
        detail = "embedded demo broker (simulated traffic)"
        self.hub.publish_status(SourceStatus(SOURCE, "ok", detail, time.time(), since=self._started))

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.broker.step(self.interval)
            self._publish()
