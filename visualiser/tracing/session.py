"""One vhost's trace as the page sees it: counts, recent messages, disagreements, activity.

Lives on the hub thread: the trace consumer reads and judges copies on its own thread and
posts batches here (``ingest``); each new topology the hub applies re-judges the
disagreements still waiting (``on_topology``); the tracer's tickers take activity frames
and the status. Everything is bounded whatever the rate: a ring of recent messages (each
with its body cut at decode), a capped table of disagreements waiting for a newer
topology, capped tables of disagreeing exchanges and unroutable publishers.

**Correlation.** A delivery is tied to its publish by the copy's correlation key (exchange,
routing keys, identifying properties, whole body: ``decode.correlation_key``), looked up
among the recent messages only: the oldest one routed to that queue and not yet delivered
from it. Identical messages cannot be told apart (either may be matched: their paths are
the same); a delivery whose publish is no longer recent, was published before the trace
began, or was dead-lettered (new exchange and keys) becomes a row of its own.

**Disagreements.** The simulator answers on the topology the last poll read, which may lag
the broker by a poll: a binding made a second ago routes real messages before the
service has seen it. So a publish the simulator answers differently is *pending*: it is
judged again on each newer topology, counts as agreed if one of them agrees, and is
confirmed a disagreement only if it still disagrees on the second topology read after it
(``CONFIRM_AFTER``) -- a read that began after the message was routed. Confirmed
disagreements become a finding on the exchange (rule ``trace-disagrees``).
"""

from __future__ import annotations

import json
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..diagnostics.rules import Issue, exchange_label
from ..hub import VhostView
from ..metrics import Metrics
from ..model.entities import VhostSnapshot
from ..model.topology import Graph, node_id
from .activity import ActivityCamera, channel_name, consumer_index
from .compare import AGREED, DISAGREED, Judgement, Simulator
from .decode import TraceCopy

RULE = "trace-disagrees"
CONFIRM_AFTER = 2  # newer topologies a disagreement must survive
FINDING_MEMORY = 15 * 60.0  # seconds a disagreement stays a finding after its last message
MAX_PENDING = 256  # distinct disagreements waiting for a newer topology
MAX_DISAGREEING_EXCHANGES = 100
MAX_UNROUTABLE_ROWS = 100
MAX_DELIVERIES_PER_MESSAGE = 16
MAX_FRAME_MESSAGES = 20
MAX_SEEN_NODES = 64
SHOWN_ROWS = 20  # disagreements and unroutable publishers in a status


@dataclass(frozen=True, slots=True)
class Judged:
    """A copy, and for a publish the simulator's judgement on the topology it was judged on."""

    copy: TraceCopy
    judgement: Judgement | None = None
    entities: VhostSnapshot | None = None


@dataclass(frozen=True)
class SessionLimits:
    recent_messages: int = 200
    simulations_per_second: int = 2000


def publisher_of(copy: TraceCopy) -> dict[str, Any]:
    return {"connection": copy.connection, "channel": copy.channel, "user": copy.user, "node": copy.node}


@dataclass
class Entry:
    """A row of the message list (hub thread)."""

    id: int
    copy: TraceCopy  # the first copy seen: the publish when there was one
    published: bool
    verdict: str | None = None
    reason: str | None = None
    simulated: tuple[str, ...] | None = None
    version: int | None = None
    path: tuple[str, ...] = ()
    delivered_to: list[dict[str, Any]] = field(default_factory=list)
    redelivered: bool = False

    def delivered_from(self, queue: str) -> bool:
        return any(d["queue"] == queue for d in self.delivered_to)

    def to_json(self, bodies: bool) -> dict[str, Any]:
        copy = self.copy
        routed = list(copy.routed_queues) if self.published and copy.routed_queues is not None else None
        row: dict[str, Any] = {
            "id": self.id,
            "time": copy.received,
            "exchange": copy.exchange,
            "routing_key": copy.routing_key,
            "routing_keys": list(copy.routing_keys),
            "headers": copy.headers,
            "properties": copy.properties,
            "size": copy.size,
            "published": self.published,
            "routed_queues": routed,
            "simulated_queues": list(self.simulated) if self.simulated is not None else None,
            "verdict": self.verdict,
            "verdict_reason": self.reason,
            "topology_version": self.version,
            "unroutable": routed == [],
            "publisher": publisher_of(copy) if self.published else None,
            "delivered_to": [dict(d) for d in self.delivered_to],
            "redelivered": self.redelivered,
            "path": list(self.path),
        }
        if bodies:
            row["body"], row["body_truncated"] = copy.body, copy.body_truncated
        return row


@dataclass
class Pending:
    """Publishes that disagreed in the same way, waiting for newer topologies."""

    example: TraceCopy
    judgement: Judgement
    entities: VhostSnapshot | None
    count: int = 0
    newer: int = 0
    entries: list[Entry] = field(default_factory=list)


def new_counts() -> dict[str, Any]:
    return {
        "traced": 0,
        "publishes": 0,
        "deliveries": 0,
        "agreed": 0,
        "disagreed": 0,
        "pending": 0,
        "unchecked": 0,
        "unchecked_reasons": {},
        "unroutable": 0,
        "dropped": 0,
        "dropped_exact": True,
        "malformed": 0,
        "malformed_reasons": {},
        "filtered": 0,
        "non_utf8": 0,
        "unknown_exchange": 0,
    }


def _bump(table: dict[str, int], key: str, amount: int = 1) -> None:
    table[key] = table.get(key, 0) + amount


class TraceSession:
    def __init__(
        self,
        vhost: str,
        limits: SessionLimits | None = None,
        metrics: Metrics | None = None,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
    ):
        self.vhost, self.limits, self.metrics, self.clock = vhost, limits or SessionLimits(), metrics, clock
        self.counts = new_counts()
        self.camera = ActivityCamera(monotonic)
        self._next_id = 0
        self._ring: deque[Entry] = deque()
        self._by_key: dict[bytes, list[Entry]] = {}
        self._changed: OrderedDict[int, Entry] = OrderedDict()
        self._more_changed = 0
        self._pending: dict[tuple[Any, ...], Pending] = {}
        self._confirmed: dict[tuple[Any, ...], VhostSnapshot] = {}
        self._simulator = Simulator(per_second=max(1, self.limits.simulations_per_second))
        self.disagreements: dict[str, dict[str, Any]] = {}
        self.unroutable: dict[tuple[str, str | None, str | None], dict[str, Any]] = {}
        self.seen_nodes: set[str] = set()
        self._counts_at_frame: dict[str, Any] = {}
        self.rows_changed = False  # the disagreements or the unroutable publishers changed since last shown

    # ---- input (hub thread) ---------------------------------------------------------------------------
    def ingest(self, batch: list[Judged]) -> None:
        for judged in batch:
            copy = judged.copy
            self.counts["traced"] += 1
            self.counts["non_utf8"] += copy.non_utf8
            if copy.node is not None and len(self.seen_nodes) < MAX_SEEN_NODES:
                self.seen_nodes.add(copy.node)
            if copy.kind == "publish":
                self._publish(judged)
            else:
                self._deliver(copy)
        if self.metrics is not None and batch:
            publishes = sum(1 for j in batch if j.copy.kind == "publish")
            self.metrics.inc("visualiser_trace_messages_total", publishes, kind="publish")
            self.metrics.inc("visualiser_trace_messages_total", len(batch) - publishes, kind="deliver")

    def count_malformed(self, reasons: dict[str, int]) -> None:
        for reason, n in reasons.items():
            self.counts["traced"] += n
            self.counts["malformed"] += n
            _bump(self.counts["malformed_reasons"], reason, n)
            self.camera.other()

    def count_filtered(self, n: int) -> None:
        self.counts["traced"] += n
        self.counts["filtered"] += n

    def set_dropped(self, dropped: int, exact: bool) -> None:
        self.counts["dropped"], self.counts["dropped_exact"] = dropped, exact

    def _publish(self, judged: Judged) -> None:
        copy, judgement = judged.copy, judged.judgement
        self.counts["publishes"] += 1
        entry = self._adopt(copy) or self._add(Entry(self._new_id(), copy, published=True))
        unroutable = copy.routed_queues == ()
        if unroutable:
            self._count_unroutable(copy)
        if judgement is not None:
            self._apply_judgement(entry, judged)
        edges = set(judgement.edges) if judgement else set()
        path_nodes = tuple(i for i in entry.path if i not in edges)
        self.camera.publish(
            copy.exchange,
            copy.connection,
            copy.user,
            unroutable,
            path_nodes,
            judgement.edges if judgement else (),
            judgement.unexplained if judgement else (),
            self._sample(entry, "publish") if self.camera.wants_sample else None,
        )

    def _apply_judgement(self, entry: Entry, judged: Judged) -> None:
        judgement = judged.judgement
        assert judgement is not None
        entry.path, entry.simulated, entry.version = judgement.path, judgement.simulated, judgement.version
        if judgement.verdict == AGREED:
            entry.verdict = AGREED
            self.counts["agreed"] += 1
        elif judgement.verdict == DISAGREED:
            self._hold(entry, judged)
        else:
            entry.verdict, entry.reason = "unchecked", judgement.reason
            self.counts["unchecked"] += 1
            _bump(self.counts["unchecked_reasons"], judgement.reason or "unknown")
            if judgement.reason == "no-such-exchange":
                self.counts["unknown_exchange"] += 1

    def _deliver(self, copy: TraceCopy) -> None:
        self.counts["deliveries"] += 1
        queue = copy.queue or ""
        entry = self._match(copy, queue)
        if entry is None:
            entry = self._add(Entry(self._new_id(), copy, published=False))
        if len(entry.delivered_to) < MAX_DELIVERIES_PER_MESSAGE:
            entry.delivered_to.append(
                {
                    "queue": queue,
                    "time": copy.received,
                    "connection": copy.connection,
                    "channel": copy.channel,
                    "user": copy.user,
                    "redelivered": copy.redelivered,
                    "consumer": None,
                }
            )
        entry.redelivered = entry.redelivered or copy.redelivered
        self._mark_changed(entry)
        sample = None
        if self.camera.wants_sample:
            sample = self._sample(entry, "deliver")
            sample["delivery"] = {"queue": queue, "connection": copy.connection, "channel": copy.channel}
        self.camera.deliver(queue, copy.connection, copy.channel, copy.user, copy.redelivered, sample)

    def _adopt(self, copy: TraceCopy) -> Entry | None:
        """A row made by a delivery whose publish copy came after it (the two copies reach the
        trace queue from different channels, in no guaranteed order): it is this publish's."""
        routed = set(copy.routed_queues or ())
        for entry in self._by_key.get(copy.key, ()):
            if not entry.published and all(d["queue"] in routed for d in entry.delivered_to):
                entry.copy, entry.published = copy, True
                self._mark_changed(entry)
                return entry
        return None

    def _match(self, copy: TraceCopy, queue: str) -> Entry | None:
        for entry in self._by_key.get(copy.key, ()):
            routed = entry.copy.routed_queues if entry.published else None
            reaches = routed is None or queue in routed
            if reaches and (not entry.delivered_from(queue) or copy.redelivered):
                return entry
        return None

    # ---- disagreements -------------------------------------------------------------------------------------
    @staticmethod
    def _signature(copy: TraceCopy) -> tuple[Any, ...]:
        headers = json.dumps(copy.headers, sort_keys=True, default=str)
        return copy.exchange, copy.routing_keys, headers, tuple(sorted(copy.routed_queues or ()))

    def _hold(self, entry: Entry, judged: Judged) -> None:
        copy, judgement = judged.copy, judged.judgement
        assert judgement is not None
        signature = self._signature(copy)
        confirmed_on = self._confirmed.get(signature)
        if confirmed_on is not None and confirmed_on is judged.entities:
            entry.verdict = DISAGREED
            self._confirm(copy, judgement, 1)
            return
        pending = self._pending.get(signature)
        if pending is None:
            if len(self._pending) >= MAX_PENDING:
                entry.verdict, entry.reason = "unchecked", "overflow"
                self.counts["unchecked"] += 1
                _bump(self.counts["unchecked_reasons"], "overflow")
                return
            pending = self._pending[signature] = Pending(copy, judgement, judged.entities)
        pending.count += 1
        if len(pending.entries) < MAX_DELIVERIES_PER_MESSAGE:
            pending.entries.append(entry)
        entry.verdict = "pending"
        self.counts["pending"] += 1

    def on_topology(self, view: VhostView) -> None:
        """Judge the waiting disagreements again on a topology newer than the one they were judged on."""
        for signature, pending in list(self._pending.items()):
            if view.entities is pending.entities:
                continue
            pending.entities = view.entities
            pending.newer += 1
            again = self._simulator.judge(pending.example, view.entities, view.version)
            if again.verdict == AGREED:
                self._settle(signature, pending, again, AGREED)
            elif again.verdict != DISAGREED:
                self._settle(signature, pending, again, "unchecked")
            elif pending.newer >= CONFIRM_AFTER:
                self._settle(signature, pending, again, DISAGREED)
                self._confirmed[signature] = view.entities
                if len(self._confirmed) > MAX_PENDING:
                    self._confirmed.pop(next(iter(self._confirmed)))

    def _settle(self, signature: tuple[Any, ...], pending: Pending, judgement: Judgement, verdict: str) -> None:
        del self._pending[signature]
        self.counts["pending"] -= pending.count
        for entry in pending.entries:
            entry.verdict, entry.simulated, entry.version = verdict, judgement.simulated, judgement.version
            entry.reason = judgement.reason if verdict == "unchecked" else None
            self._mark_changed(entry)
        if verdict == AGREED:
            self.counts["agreed"] += pending.count
        elif verdict == DISAGREED:
            self._confirm(pending.example, judgement, pending.count)
        else:
            self.counts["unchecked"] += pending.count
            _bump(self.counts["unchecked_reasons"], judgement.reason or "unknown", pending.count)

    def _confirm(self, copy: TraceCopy, judgement: Judgement, count: int) -> None:
        self.counts["disagreed"] += count
        self.rows_changed = True
        if self.metrics is not None:
            self.metrics.inc("visualiser_trace_disagreements_total", count)
        row = self.disagreements.get(copy.exchange)
        if row is None:
            if len(self.disagreements) >= MAX_DISAGREEING_EXCHANGES:
                return
            row = self.disagreements[copy.exchange] = {"count": 0}
        row.update(
            {
                "exchange": copy.exchange,
                "routing_key": copy.routing_key,
                "routing_keys": list(copy.routing_keys),
                "headers": copy.headers,
                "routed_queues": sorted(copy.routed_queues or ()),
                "simulated_queues": sorted(judgement.simulated or ()),
                "topology_version": judgement.version,
                "count": row["count"] + count,
                "time": self.clock(),
                "publisher": publisher_of(copy),
            }
        )

    def issues(self) -> list[Issue]:
        """The findings this trace feeds to diagnostics: one per exchange that disagreed lately."""
        now = self.clock()
        return [
            Issue(RULE, "warning", node_id("exchange", exchange), disagreement_message(row))
            for exchange, row in self.disagreements.items()
            if now - row["time"] <= FINDING_MEMORY
        ]

    # ---- unroutable -----------------------------------------------------------------------------------------
    def _count_unroutable(self, copy: TraceCopy) -> None:
        self.counts["unroutable"] += 1
        self.rows_changed = True
        key = (copy.exchange, copy.connection, copy.user)
        row = self.unroutable.get(key)
        if row is None:
            if len(self.unroutable) >= MAX_UNROUTABLE_ROWS:
                return
            row = self.unroutable[key] = {
                "exchange": copy.exchange,
                "connection": copy.connection,
                "user": copy.user,
                "count": 0,
                "last": 0.0,
            }
        row["count"] += 1
        row["last"] = copy.received

    # ---- the ring of recent messages ---------------------------------------------------------------------------
    def _new_id(self) -> int:
        self._next_id += 1
        return self._next_id

    def _add(self, entry: Entry) -> Entry:
        if len(self._ring) >= self.limits.recent_messages:
            self._evict(self._ring.popleft())
        self._ring.append(entry)
        self._by_key.setdefault(entry.copy.key, []).append(entry)
        self._mark_changed(entry)
        return entry

    def _evict(self, entry: Entry) -> None:
        same = self._by_key.get(entry.copy.key)
        if same is not None:
            same.remove(entry)
            if not same:
                del self._by_key[entry.copy.key]

    def _mark_changed(self, entry: Entry) -> None:
        self._changed.pop(entry.id, None)
        self._changed[entry.id] = entry
        if len(self._changed) > MAX_FRAME_MESSAGES:
            self._changed.popitem(last=False)
            self._more_changed += 1

    @staticmethod
    def _sample(entry: Entry, kind: str) -> dict[str, Any]:
        copy = entry.copy
        return {
            "id": entry.id,
            "kind": kind,
            "exchange": copy.exchange,
            "routing_key": copy.routing_key,
            "path": list(entry.path),
            "queues": list(copy.routed_queues or ()) if kind == "publish" else [copy.queue or ""],
            "verdict": entry.verdict,
            "unroutable": copy.routed_queues == (),
            "redelivered": copy.redelivered,
            "publisher": publisher_of(copy) if kind == "publish" else None,
            "consumer": None,
        }

    # ---- output (hub thread) ------------------------------------------------------------------------------------
    def messages(self, bodies: bool, graph: Graph | None = None) -> list[dict[str, Any]]:
        """The recent messages, oldest first; each delivery's consumer found on the graph."""
        index = consumer_index(graph)
        return [with_consumers(entry.to_json(bodies), index) for entry in self._ring]

    def take_frame(self, view: VhostView | None) -> dict[str, Any] | None:
        """The activity frame for the interval just ended, or None when nothing changed."""
        if self.camera.idle and self.counts == self._counts_at_frame and not self._changed:
            return None
        graph = view.graph if view else None
        frame = self.camera.take(self.vhost, graph)
        frame["counts"] = self.counts_json()
        index = consumer_index(graph)
        frame["messages"] = [with_consumers(entry.to_json(False), index) for entry in self._changed.values()]
        frame["more_messages"] = self._more_changed
        self._changed, self._more_changed = OrderedDict(), 0
        self._counts_at_frame = self.counts_json()
        return frame

    def counts_json(self) -> dict[str, Any]:
        return {
            **self.counts,
            "unchecked_reasons": dict(self.counts["unchecked_reasons"]),
            "malformed_reasons": dict(self.counts["malformed_reasons"]),
        }

    def disagreements_json(self) -> list[dict[str, Any]]:
        rows = sorted(self.disagreements.values(), key=lambda r: r["time"], reverse=True)
        return [dict(row) for row in rows[:SHOWN_ROWS]]

    def unroutable_json(self) -> list[dict[str, Any]]:
        rows = sorted(self.unroutable.values(), key=lambda r: r["count"], reverse=True)
        return [dict(row) for row in rows[:SHOWN_ROWS]]


def with_consumers(row: dict[str, Any], index: dict[tuple[str, str], str]) -> dict[str, Any]:
    for delivery in row["delivered_to"]:
        if delivery["connection"] is not None and delivery["channel"] is not None:
            channel = channel_name(delivery["connection"], delivery["channel"])
            delivery["consumer"] = index.get((delivery["queue"], channel))
    return row


def _queues(names: list[str]) -> str:
    return ", ".join(repr(n) for n in names) if names else "no queue"


def disagreement_message(row: dict[str, Any]) -> str:
    version = row["topology_version"]
    on = f"topology version {version}" if version is not None else "the topology at hand"
    publisher = row.get("publisher") or {}
    who = (
        f" (published by {publisher.get('user')!r} on {publisher.get('connection')!r})" if publisher.get("user") else ""
    )
    return (
        f"{row['count']} traced publish(es) to {exchange_label(row['exchange'])} were routed by the broker "
        f"otherwise than the simulator says. Latest: routing key {row['routing_key']!r}{who} went to "
        f"{_queues(row['routed_queues'])}; the simulator, on {on}, says {_queues(row['simulated_queues'])}. "
        "The service's picture of the topology is missing something (a binding, a policy, a plugin's "
        "behaviour), or the simulator is wrong."
    )
