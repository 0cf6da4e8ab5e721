"""Reading some vhosts again, between full reads, when the broker says they changed.

The broker's event exchange (broker_events.py) says which vhost changed; this reads that
vhost's listings alone (``/api/queues/VHOST``…) and puts them in place of its part of the
last full read (a vhost created since is added, one deleted is dropped). What cannot be
read that way (a vhost without readable exchanges, a listing the broker refuses) is left to
a full read: ``read_vhosts`` then answers None.

Two things the management API learns late are taken from the events themselves:
consumers (the listings carry them only once the broker's statistics are next emitted,
up to 5 s on RabbitMQ 3.x) — a recent consumer event adjusts its queue's consumer count
until the listings catch up. Everything else is read as the broker has it.

It also compares a full read with what events kept up to date: objects found different are
the changes whose events were lost (a full event queue, a reconnect), counted and shown.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Any

from ..model.entities import BrokerSnapshot, Queue, VhostSnapshot
from .management_api import (
    BINDING_COLUMNS,
    CONNECTION_COLUMNS,
    CONSUMER_COLUMNS,
    EXCHANGE_COLUMNS,
    QUEUE_COLUMNS,
    QUEUE_PLAIN_COLUMNS,
    QUEUE_TOTALS_COLUMNS,
    QUEUE_TOTALS_PARAMS,
    ManagementClient,
    Refused,
    Unauthorised,
    vhost_path,
)
from .normalise import vhost_snapshot

# How long a consumer event outranks the listings: twice the broker's default statistics interval.
CONSUMER_EVENT_SECONDS = 10.0


def read_vhosts(client: ManagementClient, names: Iterable[str], previous: BrokerSnapshot) -> BrokerSnapshot | None:
    """``previous`` with these vhosts read again (a vhost gone from the broker is dropped);
    None when only a full read can say (no readable exchanges, a refused listing)."""
    vhosts = dict(previous.vhosts)
    statistics = previous.broker.get("statistics", True) is not False
    for name in sorted(set(names)):
        try:
            fresh = _read_vhost(client, name, statistics, previous.broker.get("rabbitmq_version"))
        except NoAccess:
            continue  # not drawn, as the full read leaves it out (and lists it as without access)
        except Refused:
            return None
        if fresh is None:
            vhosts.pop(name, None)
        else:
            vhosts[name] = fresh
    return BrokerSnapshot(vhosts=vhosts, broker=previous.broker)


def _read_vhost(client: ManagementClient, name: str, statistics: bool, version: Any) -> VhostSnapshot | None:
    path = vhost_path(name)
    try:  # not /api/vhosts/VHOST: that one wants the administrator tag
        exchanges = client.get_paginated(f"/api/exchanges/{path}", EXCHANGE_COLUMNS)
    except Refused as exc:
        if "answered 404" in str(exc):
            return None  # the vhost was deleted
        raise
    except Unauthorised:
        raise NoAccess(name) from None
    if not exchanges:  # every vhost has the default exchange: the user may not read this one
        raise NoAccess(name)
    queues, _depths_from = _queues(client, f"/api/queues/{path}", statistics)
    return vhost_snapshot(
        name,
        exchanges=exchanges,
        queues=queues,
        bindings=client.get_list(f"/api/bindings/{path}", BINDING_COLUMNS),
        policies=client.get_list(f"/api/policies/{path}", "name,vhost,pattern,apply-to,priority,definition"),
        consumers=client.get_list(f"/api/consumers/{path}", CONSUMER_COLUMNS) if statistics else [],
        connections=client.get_list(f"/api/vhosts/{path}/connections", CONNECTION_COLUMNS),
        broker_version=version if isinstance(version, str) else None,
        statistics=statistics,
    )


class NoAccess(Exception):
    """The user may not read this vhost's objects."""


def _queues(client: ManagementClient, path: str, statistics: bool) -> tuple[list[dict[str, Any]], str]:
    """As ManagementClient.queues, for one vhost's listing."""
    if statistics:
        try:
            return client.get_paginated(path, QUEUE_COLUMNS), "management statistics"
        except Refused:
            pass
    try:
        return client.get_paginated(path, QUEUE_TOTALS_COLUMNS, QUEUE_TOTALS_PARAMS), "queue totals"
    except Refused:
        return client.get_paginated(path, QUEUE_PLAIN_COLUMNS), "none"


# ---- consumers, from their events ------------------------------------------------------------------------


@dataclass(frozen=True)
class ConsumerEvent:
    vhost: str
    queue: str
    tag: str
    created: bool
    at: float  # time.monotonic() when it arrived


class RecentConsumers:
    """Consumer events of the last few seconds, laid over reads that may not show them yet."""

    def __init__(self, keep_for: float = CONSUMER_EVENT_SECONDS):
        self.keep_for = keep_for
        self._events: dict[tuple[str, str, str], ConsumerEvent] = {}

    def note(self, event: ConsumerEvent) -> None:
        key = (event.vhost, event.queue, event.tag)
        kept = self._events.get(key)
        if kept is None or kept.at <= event.at:  # an older event delivered late changes nothing
            self._events[key] = event

    def overlay(self, snapshot: BrokerSnapshot, now: float | None = None) -> BrokerSnapshot:
        """Each queue's consumer count as its recent consumer events make it."""
        now = time.monotonic() if now is None else now
        self._events = {key: e for key, e in self._events.items() if now - e.at < self.keep_for}
        by_vhost: dict[str, list[ConsumerEvent]] = {}
        for event in self._events.values():
            by_vhost.setdefault(event.vhost, []).append(event)
        vhosts = dict(snapshot.vhosts)
        for name, events in by_vhost.items():
            if name in vhosts and vhosts[name].statistics:
                vhosts[name] = _with_consumer_events(vhosts[name], events)
        return BrokerSnapshot(vhosts=vhosts, broker=snapshot.broker)


def _with_consumer_events(vhost: VhostSnapshot, events: list[ConsumerEvent]) -> VhostSnapshot:
    listed = {(c.queue, c.consumer_tag) for c in vhost.consumers}
    delta: dict[str, int] = {}
    for event in events:
        if event.created != ((event.queue, event.tag) in listed):  # the listing does not show it yet
            delta[event.queue] = delta.get(event.queue, 0) + (1 if event.created else -1)
    if not delta:
        return vhost
    cancelled = {(e.queue, e.tag) for e in events if not e.created}  # gone, whatever the listing says
    listed_per_queue = Counter(queue for queue, _ in listed)
    return replace(
        vhost,
        queues=tuple(
            _consumers_counted(q, listed_per_queue.get(q.name, 0), delta.get(q.name, 0)) for q in vhost.queues
        ),
        consumers=tuple(c for c in vhost.consumers if (c.queue, c.consumer_tag) not in cancelled),
    )


def _consumers_counted(queue: Queue, listed: int, delta: int) -> Queue:
    """The count the consumer listing and the events since make it (``listed`` + ``delta``).

    The queue's own count may be newer than the consumer listing (figures are refreshed more
    often than the listing is read) and may already include what the events say: so a
    consumer created counts "at least", one cancelled "at most", never twice. A new queue's
    listing has no count until the broker's next statistics: a consumer event then makes it
    "at least" that many, and a count still unknown stays unknown."""
    if delta == 0 or (queue.consumers is None and delta < 0):
        return queue
    counted = max(0, listed + delta)
    if queue.consumers is not None:
        counted = max(counted, queue.consumers) if delta > 0 else min(counted, queue.consumers)
    return replace(queue, consumers=counted)


# ---- what a full read found that events did not say ---------------------------------------------------------


def topology_keys(snapshot: BrokerSnapshot, only: Iterable[str] | None = None) -> set[tuple[str, ...]]:
    """What events keep up to date, one key per object: vhosts, exchanges, queues, bindings,
    policies, and each queue's consumer count."""
    wanted = set(snapshot.vhosts) if only is None else set(only)
    keys: set[tuple[str, ...]] = set()
    for name, vhost in snapshot.vhosts.items():
        if name not in wanted:
            continue
        keys.add(("vhost", name))
        keys.update(("exchange", name, e.name, e.type) for e in vhost.exchanges)
        keys.update(("queue", name, q.name, str(q.consumers)) for q in vhost.queues)
        keys.update(
            (
                "binding",
                name,
                b.source,
                b.destination_type,
                b.destination,
                b.routing_key,
                json.dumps(b.arguments, sort_keys=True, default=str),
            )
            for b in vhost.bindings
        )
        keys.update(("policy", name, p.name, p.pattern, str(p.priority)) for p in vhost.policies)
    return keys


def differences(kept: BrokerSnapshot, read: BrokerSnapshot, skip: set[str]) -> int:
    """Objects that differ between what events kept and a full read, outside the vhosts in
    ``skip`` (changed while the full read ran: either may be the newer)."""
    names = (set(kept.vhosts) | set(read.vhosts)) - skip
    return len(topology_keys(kept, names) ^ topology_keys(read, names))
