"""Broker entities as plain, immutable data.

Every source (management API, definitions file, demo) normalises what it reads into
these types; everything downstream (graph building, routing, diagnostics) works on them
and never on raw JSON. Names are kept exactly as the broker gave them: escaping is the
renderer's job, not ours.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

DEFAULT_EXCHANGE = ""
DEFAULT_EXCHANGE_LABEL = "(AMQP default)"


@dataclass(frozen=True, slots=True)
class Exchange:
    name: str
    type: str = "direct"
    durable: bool = True
    auto_delete: bool = False
    internal: bool = False
    arguments: dict[str, Any] = field(default_factory=dict)
    policy: str | None = None
    rates: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Queue:
    name: str
    type: str = "classic"
    durable: bool = True
    auto_delete: bool = False
    exclusive: bool = False
    arguments: dict[str, Any] = field(default_factory=dict)
    policy: str | None = None
    effective_policy_definition: dict[str, Any] = field(default_factory=dict)
    messages_ready: int = 0
    messages_unacknowledged: int = 0
    consumers: int = 0
    consumer_utilisation: float | None = None
    state: str = "running"
    rates: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Binding:
    source: str
    destination: str
    destination_type: str  # "queue" | "exchange"
    routing_key: str = ""
    arguments: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Consumer:
    queue: str
    consumer_tag: str
    channel: str
    connection: str
    prefetch_count: int = 0
    ack_required: bool = True
    active: bool = True
    exclusive: bool = False


@dataclass(frozen=True, slots=True)
class Connection:
    name: str
    user: str = ""
    peer: str = ""
    client: dict[str, Any] = field(default_factory=dict)  # product, version, platform, connection_name


@dataclass(frozen=True, slots=True)
class Policy:
    name: str
    pattern: str
    apply_to: str = "all"  # "all" | "queues" | "exchanges" | "classic_queues" | "quorum_queues" | "streams"
    priority: int = 0
    definition: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class VhostSnapshot:
    """Everything one source knows about one vhost at one moment."""

    vhost: str
    exchanges: tuple[Exchange, ...] = ()
    queues: tuple[Queue, ...] = ()
    bindings: tuple[Binding, ...] = ()
    consumers: tuple[Consumer, ...] = ()
    connections: tuple[Connection, ...] = ()
    policies: tuple[Policy, ...] = ()

    def exchange(self, name: str) -> Exchange | None:
        return next((e for e in self.exchanges if e.name == name), None)

    def queue(self, name: str) -> Queue | None:
        return next((q for q in self.queues if q.name == name), None)


@dataclass(frozen=True, slots=True)
class BrokerSnapshot:
    """One poll's worth of data: every vhost, plus facts about the broker itself."""

    vhosts: dict[str, VhostSnapshot]
    broker: dict[str, Any] = field(default_factory=dict)  # rabbitmq_version, cluster_name, …
