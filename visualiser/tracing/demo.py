"""The demo's simulated firehose: the demo broker's synthetic messages, told as the copies
RabbitMQ's firehose would make of them, so that the Trace view works with no broker.

Nothing here touches a broker, so the demo traces without ``--allow-tracing`` and the page
says it is a simulated trace. The demo broker (``demo.DemoBroker``) tells ``DemoTrace`` of
each message it routes, its applications' and its Celery app's; each becomes a
``publish.<exchange>`` copy carrying the headers ``rabbit_trace`` puts on one
(``exchange_name``, ``routing_keys``, ``properties``, ``node``, ``vhost``, ``connection``,
``channel``, ``user``, ``routed_queues``), read by the same ``decode_copy`` as a live copy and
judged by the same tracer. Deliveries (``deliver.<queue>`` copies): a Celery worker's as the
demo's Celery tells them; the shop's other consumers' made here, at each consumer's pace (a
paused one takes nothing), and a rejected order redelivered once, as its quorum queue does
before the delivery limit. Celery's own events (``celeryev``) are not traced: the demo tells
them as events, not as messages.

The demo broker steps once a second with that second's messages; they are released over
the next second, so that markers flow rather than arrive in bursts. What waits is bounded as
the live trace queue is (``QueueLimits.max_length``, oldest dropped first, counted).
"""

from __future__ import annotations

import heapq
import json
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..routing.matchers import topic_matches
from ..sources.demo import APPS, CONSUMERS, NODES, DemoBroker, connection_name
from ..sources.demo_celery import CELERY_QUEUES, WORKERS, Sent, Taken
from .decode import Malformed, TraceCopy, decode_copy
from .firehose import QueueLimits
from .tracer import Backend, BackendFactory, Sink, TraceRequest

USER = "shop"
PRODUCER_ADDRESS = "192.0.2.20:45512"  # the shop's web application, which sends the Celery tasks
PUBLISHING_APPS = {  # the applications that publish, by address (demo.APPS has those that consume)
    "storefront": "192.0.2.21:40110",
    "monitoring-agent": "192.0.2.22:38455",
    "catalog-service": "192.0.2.23:51877",
    "support-desk": "192.0.2.24:40990",
    "report-scheduler": "192.0.2.25:44102",
    "billing": "192.0.2.26:41533",
    "warehouse": "192.0.2.27:39120",
    "webhook-gateway": "192.0.2.28:42004",
}
WORKER_ADDRESSES = {plan.hostname: plan.address for plan in WORKERS}
TICK_SECONDS = 0.05
DELIVERY_DELAY = (0.3, 1.2)  # seconds from a publish to its delivery, when its consumer keeps up
REDELIVERY_DELAY = (0.8, 2.0)
LARGE_REPORT_SHARE = 0.1  # reports carrying a CSV larger than the part of a body a trace keeps
MAX_REMEMBERED = 10_000  # task messages whose publish is waiting for its delivery
NOTE = "simulated: every synthetic message is traced, on every node of the demo"


@dataclass(order=True)
class _Copy:
    """A trace copy waiting for its moment."""

    at: float
    seq: int
    routing_key: str = field(compare=False)
    headers: dict[str, Any] = field(compare=False)
    body: bytes = field(compare=False)


class DemoTrace:
    """One vhost's simulated trace: the tracer's ``Backend`` for the demo."""

    def __init__(
        self,
        broker: DemoBroker,
        vhost: str,
        bindings: list[str],
        sink: Sink,
        limits: QueueLimits | None = None,
        seed: int = 23,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.broker, self.vhost, self.bindings, self.sink = broker, vhost, list(bindings), sink
        self.limits, self.clock = limits or QueueLimits(), clock
        self.rng = random.Random(seed)  # its own: the demo's story draws from the broker's, untouched
        self.dropped = 0
        self.dropped_exact = True
        self._waiting: list[_Copy] = []
        self._seq = 0
        self._published_at: dict[tuple[str, int], float] = {}  # (task id, retries) -> its publish's moment
        self._credit: dict[str, float] = {}  # queue -> deliveries its consumer may still take
        self._credited_at = clock()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="demo-trace", daemon=True)

    # ---- the tracer's side ------------------------------------------------------------------------------
    def start(self) -> None:
        self.broker.listen(self._on_message)
        self._thread.start()

    def stop(self) -> str | None:
        self.broker.unlisten(self._on_message)
        self._stop.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout=5)
        return None

    def broker_json(self) -> dict[str, Any]:
        return {
            "tracing": True,
            "was_on": False,
            "node": NODES[0],
            "nodes": list(NODES),
            "untraced_nodes": [],
            "note": NOTE,
            "queue": None,
            "bindings": list(self.bindings),
            "consumer": "ok",
            "last_error": None,
            "faults": {
                "reconnects": 0,
                "queue_lost": 0,
                "tracing_found_off": 0,
                "tracing_reenabled": 0,
                "last_fault": None,
            },
        }

    # ---- the demo's thread: what the broker routed and delivered ----------------------------------------
    def _on_message(self, message: Sent | Taken) -> None:
        now = self.clock()
        if isinstance(message, Taken):
            self._on_taken(message, now)
            return
        at = now + self.rng.uniform(0.0, max(message.within, TICK_SECONDS))
        body = message.body if message.body is not None else self._body(message)
        properties = message.properties or self._properties(message)
        connection, node = self._sender(message.sender)
        self._add(
            "publish." + message.exchange,
            self._headers(message, properties, connection, node, routed_queues=list(message.queues)),
            body,
            at,
        )
        if message.body is not None:  # a Celery task: its deliveries are the demo Celery's to tell
            self._remember(message, at)
            return
        for queue in message.queues:
            if self._consumer_takes(queue, now):
                self._deliver(message, properties, body, queue, at + self.rng.uniform(*DELIVERY_DELAY))

    def _on_taken(self, taken: Taken, now: float) -> None:
        message = taken.message
        key = (str(message.headers.get("id")), int(message.headers.get("retries") or 0))
        published = self._published_at.pop(key, now)
        at = max(now + self.rng.uniform(0.0, max(message.within, TICK_SECONDS)), published + DELIVERY_DELAY[0])
        connection = connection_name(WORKER_ADDRESSES.get(taken.worker, PRODUCER_ADDRESS))
        assert message.body is not None
        self._add(
            "deliver." + taken.queue,
            self._headers(message, message.properties, connection, self._node_of(taken.queue), redelivered=0),
            message.body,
            at,
        )

    def _remember(self, message: Sent, at: float) -> None:
        if len(self._published_at) >= MAX_REMEMBERED:
            self._published_at.pop(next(iter(self._published_at)))
        self._published_at[(str(message.headers.get("id")), int(message.headers.get("retries") or 0))] = at

    def _deliver(self, message: Sent, properties: dict[str, Any], body: bytes, queue: str, at: float) -> None:
        drain = CONSUMERS[queue]
        connection = connection_name(APPS[drain.app][1])
        node = self._node_of(queue)
        self._add("deliver." + queue, self._headers(message, properties, connection, node, redelivered=0), body, at)
        if drain.reject and self._quorum(queue) and self.rng.random() < drain.reject:
            # Rejected with requeue: its quorum queue delivers it again (until the delivery limit).
            self._add(
                "deliver." + queue,
                self._headers(message, properties, connection, node, redelivered=1),
                body,
                at + self.rng.uniform(*REDELIVERY_DELAY),
            )

    def _consumer_takes(self, queue: str, now: float) -> bool:
        """Whether the queue's consumer takes this message now: each takes at its own pace."""
        drain = CONSUMERS.get(queue)
        if drain is None or drain.rate <= 0 or queue in CELERY_QUEUES:
            return False
        elapsed, self._credited_at = now - self._credited_at, now
        for name, credit in self._credit.items():
            self._credit[name] = min(CONSUMERS[name].rate * 2, credit + elapsed * CONSUMERS[name].rate)
        credit = self._credit.setdefault(queue, drain.rate)
        if credit < 1:
            return False
        self._credit[queue] = credit - 1
        return True

    def _add(self, routing_key: str, headers: dict[str, Any], body: bytes, at: float) -> None:
        if not any(topic_matches(binding, routing_key) for binding in self.bindings):
            return
        with self._lock:
            self._seq += 1
            heapq.heappush(self._waiting, _Copy(at, self._seq, routing_key, headers, body))
            if len(self._waiting) > self.limits.max_length:
                heapq.heappop(self._waiting)  # the oldest goes, as from a full drop-head queue
                self.dropped += 1

    # ---- what a copy carries ------------------------------------------------------------------------------
    def _headers(
        self, message: Sent, properties: dict[str, Any], connection: str, node: str, **extra: Any
    ) -> dict[str, Any]:
        return {
            "exchange_name": message.exchange,
            "routing_keys": [message.routing_key],
            "properties": {**properties, "headers": dict(message.headers)},
            "node": node,
            "vhost": self.vhost,
            "connection": connection,
            "channel": 1,
            "user": USER,
            **extra,
        }

    def _sender(self, sender: str) -> tuple[str, str]:
        """A sender's connection name and node."""
        if sender in PUBLISHING_APPS:
            index = list(PUBLISHING_APPS).index(sender)
            return connection_name(PUBLISHING_APPS[sender]), NODES[index % 2]
        # A Celery worker publishes its own retries; everything else Celery sends comes from the shop's web app.
        address = WORKER_ADDRESSES.get(sender, PRODUCER_ADDRESS)
        return connection_name(address), NODES[0]

    def _quorum(self, queue: str) -> bool:
        found = self.broker.queues.get(queue)
        return found is not None and found.type == "quorum"

    def _node_of(self, queue: str) -> str:
        found = self.broker.queues.get(queue)
        return found.node if found is not None and found.node else NODES[0]

    def _properties(self, message: Sent) -> dict[str, Any]:
        self._seq += 1
        return {
            "content_type": "application/json",
            "delivery_mode": 2,
            "message_id": f"{message.sender}-{self._seq}",
            "app_id": message.sender,
            "timestamp": int(time.time()),
        }

    def _body(self, message: Sent) -> bytes:
        if message.exchange == "reports" and self.rng.random() < LARGE_REPORT_SHARE:
            rows = "\n".join(f"{day},{self.rng.randrange(100, 9999)},EUR" for day in range(1, 200))
            return ("day,sales,currency\n" + rows).encode()
        return json.dumps(
            {
                "event": message.routing_key or message.exchange,
                "id": self.rng.randrange(10_000, 99_999),
                "source": message.sender,
            }
        ).encode()

    # ---- the trace's own thread: copies released when due, to the tracer ---------------------------------
    def _run(self) -> None:
        while not self._stop.wait(TICK_SECONDS):
            batch = self._due()
            if not batch:
                continue
            copies, malformed = self._read(batch)
            while not self.sink.offer(copies, malformed, timeout=0.5):
                if self._stop.is_set():
                    return

    def _due(self) -> list[_Copy]:
        now = self.clock()
        with self._lock:
            due: list[_Copy] = []
            while self._waiting and self._waiting[0].at <= now and len(due) < self.limits.prefetch:
                due.append(heapq.heappop(self._waiting))
            return due

    def _read(self, batch: list[_Copy]) -> tuple[list[TraceCopy], dict[str, int]]:
        copies: list[TraceCopy] = []
        malformed: dict[str, int] = {}
        for copy in batch:
            try:
                copies.append(
                    decode_copy(copy.routing_key, copy.headers, copy.body, time.time(), self.limits.body_bytes)
                )
            except Malformed as exc:  # never, from these copies; counted as a live trace's would be
                malformed[exc.reason] = malformed.get(exc.reason, 0) + 1
        return copies, malformed


def demo_backends(broker: DemoBroker) -> BackendFactory:
    """Traces of the demo broker's synthetic traffic, for ``Tracer.simulate``."""

    def make(request: TraceRequest, bindings: list[str], sink: Sink, limits: QueueLimits) -> Backend:
        return DemoTrace(broker, request.vhost, bindings, sink, limits)

    return make
