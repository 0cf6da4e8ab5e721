"""A synthetic broker for load and abuse: thousands of queues whose depths change on every
poll, fed to the real hub; and a Socket.IO client that handles frames in arrival order, as a
page does. Shared by the integration tests and the benchmarks."""

from __future__ import annotations

import random
import threading
import time
from pathlib import Path
from typing import Any

import engineio
import socketio

from visualiser.hub import Hub
from visualiser.model.entities import Binding, Exchange, Queue, VhostSnapshot
from visualiser.sources.management_api import build_broker_snapshot
from visualiser.sources.status import SourceStatus

VHOST = "load"
PURPOSES = ("orders", "billing", "audit", "email", "retry", "dead", "events", "search", "images", "reports")


def company_vhost(queue_count: int, vhost: str = "/") -> VhostSnapshot:
    """A vhost named as a company broker is: ``svc-0042.orders``, ``svc-0042.audit``, … (ten
    queues a service, each consumed and with a backlog), one topic exchange a service
    (``svc-0042.events``) and a binding per queue."""
    services = max(1, queue_count // len(PURPOSES))
    queues = tuple(
        Queue(f"svc-{i // len(PURPOSES):04d}.{PURPOSES[i % len(PURPOSES)]}", messages_ready=i * 7 % 5000, consumers=1)
        for i in range(queue_count)
    )
    exchanges = tuple(Exchange(f"svc-{s:04d}.events", "topic") for s in range(services))
    bindings = tuple(
        Binding(f"svc-{i // len(PURPOSES):04d}.events", q.name, "queue", f"{PURPOSES[i % len(PURPOSES)]}.#")
        for i, q in enumerate(queues)
    )
    return VhostSnapshot(vhost, exchanges, queues, bindings)


# ---- the synthetic broker -----------------------------------------------------------------------


class SyntheticBroker:
    """Management-API-shaped listings for one vhost: E exchanges fanning out to Q queues."""

    def __init__(self, queues: int, exchanges: int, consumed: bool = True, stalled: bool = False, seed: int = 1):
        self.rng = random.Random(seed)
        self.exchanges = [
            {
                "name": f"ex-{i}",
                "vhost": VHOST,
                "type": "topic",
                "durable": True,
                "auto_delete": False,
                "internal": False,
                "arguments": {},
            }
            for i in range(exchanges)
        ]
        self.queues = [
            {
                "name": f"queue-{i:05d}",
                "vhost": VHOST,
                "type": "classic",
                "durable": True,
                "auto_delete": False,
                "exclusive": False,
                "arguments": {},
                "policy": None,
                "messages_ready": 0,
                "messages_unacknowledged": 0,
                "consumers": 1 if consumed else 0,
                "state": "running",
                # Healthy consumers deliver: without a rate every waiting queue is a finding.
                "message_stats": {"deliver_get_details": {"rate": 0.0 if stalled or not consumed else 5.0}},
            }
            for i in range(queues)
        ]
        self.bindings = [
            {
                "source": f"ex-{i % exchanges}",
                "vhost": VHOST,
                "destination": q["name"],
                "destination_type": "queue",
                "routing_key": f"route.{i}.#",
                "arguments": {},
            }
            for i, q in enumerate(self.queues)
        ]
        # One consumer per queue over 20 connections, as a healthy system has. Without them
        # every queue is a "no consumers" finding, and findings, not patches, dominate.
        connections = [f"10.0.0.{i}:5672 -> 10.0.1.1:{40000 + i}" for i in range(20)]
        self.connections = (
            [
                {
                    "name": name,
                    "vhost": VHOST,
                    "user": "app",
                    "peer_host": "10.0.0.1",
                    "peer_port": 1,
                    "client_properties": {},
                }
                for name in connections
            ]
            if consumed
            else []
        )
        self.consumers = (
            [
                {
                    "consumer_tag": f"ctag-{i}",
                    "queue": {"name": q["name"], "vhost": VHOST},
                    "channel_details": {"name": f"{connections[i % 20]} (1)", "connection_name": connections[i % 20]},
                    "prefetch_count": 10,
                    "ack_required": True,
                    "active": True,
                    "exclusive": False,
                }
                for i, q in enumerate(self.queues)
            ]
            if consumed
            else []
        )

    def tick(self, changes: int, volatile: bool = False) -> dict[str, Any]:
        for queue in self.rng.sample(self.queues, changes):
            if volatile:  # depths jump anywhere: many queues look like growing backlogs
                queue["messages_ready"] = self.rng.randrange(0, 10_000)
            else:  # a busy but healthy system: depths wobble around a few messages
                queue["messages_ready"] = max(0, queue["messages_ready"] + self.rng.choice((-2, -1, 1, 2)))
        return {
            "overview": {"rabbitmq_version": "synthetic"},
            "vhosts": [{"name": VHOST}],
            "exchanges": [dict(e) for e in self.exchanges],
            "queues": [dict(q) for q in self.queues],
            "bindings": self.bindings,
            "consumers": self.consumers,
            "connections": self.connections,
            "policies": [],
        }


class SyntheticSource:
    """Posts a fresh snapshot every interval on a fixed schedule, like the poller."""

    name = "synthetic"

    def __init__(self, hub: Hub, broker: SyntheticBroker, interval: float, changes: int, volatile: bool = False):
        self.hub, self.broker, self.interval, self.changes = hub, broker, interval, changes
        self.volatile = volatile
        self.posted_at = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="synthetic-source", daemon=True)

    def start(self) -> None:
        self.post()
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def post(self) -> None:
        snapshot = build_broker_snapshot(self.broker.tick(self.changes, self.volatile))
        self.posted_at = time.time()
        self.hub.publish_broker(self.name, snapshot)
        self.hub.publish_status(SourceStatus(self.name, "ok", "synthetic broker", self.posted_at))

    def _run(self) -> None:
        due = time.monotonic() + self.interval
        while not self._stop.wait(max(0.0, due - time.monotonic())):
            self.post()
            due += self.interval


# ---- the server side ------------------------------------------------------------------------------


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


class _InOrderEngineIO(engineio.Client):
    """Runs message handlers on the reading thread, in arrival order, as a browser does.

    python-engineio hands each message to a new thread, so a client built on it can see a
    patch before the snapshot that preceded it on the wire; a page never does.
    """

    def _trigger_event(self, event: str, *args: Any, **kwargs: Any) -> Any:
        if event == "message":
            kwargs["run_async"] = False
        return super()._trigger_event(event, *args, **kwargs)


class InOrderClient(socketio.Client):
    def _engineio_client_class(self) -> type[engineio.Client]:
        return _InOrderEngineIO
