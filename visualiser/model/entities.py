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


@dataclass(frozen=True, slots=True)
class UndecidedPolicy:
    """A policy whose pattern could not be evaluated against an object's name (model/pattern.py)."""

    policy: str
    pattern: str
    reason: str


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
    # Policies that would outrank ``policy`` had their pattern been evaluable (definitions only).
    policy_undecided: tuple[UndecidedPolicy, ...] = ()


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
    # None where the source does not know (a definitions file, statistics off and no
    # Prometheus): never drawn or judged as zero.
    messages_ready: int | None = 0
    messages_unacknowledged: int | None = 0
    consumers: int | None = 0
    consumer_utilisation: float | None = None
    state: str = "running"
    rates: dict[str, float] = field(default_factory=dict)
    node: str | None = None  # where a classic queue lives; a quorum queue's or stream's leader
    members: tuple[str, ...] = ()  # quorum queues and streams: the nodes holding a replica
    online: tuple[str, ...] = ()  # … and those of them that are up
    policy_undecided: tuple[UndecidedPolicy, ...] = ()  # as on Exchange


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
    broker_version: str | None = None  # RabbitMQ's version: routing follows that version's rules
    statistics: bool = True  # rates and consumer details known (management statistics on)

    def exchange(self, name: str) -> Exchange | None:
        return next((e for e in self.exchanges if e.name == name), None)

    def queue(self, name: str) -> Queue | None:
        return next((q for q in self.queues if q.name == name), None)


@dataclass(frozen=True, slots=True)
class BrokerSnapshot:
    """One poll's worth of data: every vhost, plus facts about the broker itself."""

    vhosts: dict[str, VhostSnapshot]
    broker: dict[str, Any] = field(default_factory=dict)  # rabbitmq_version, cluster_name, …
