"""Where a message goes: RabbitMQ's routing, simulated over one vhost's entities.

The walk follows rabbit_exchange:route/2 and route1/3 (RabbitMQ 3.x):

- The default exchange ("") delivers to the queue named by each routing key, and has no
  alternate exchange.
- Any other exchange routes by its type; destinations that are exchanges join a work
  list, each exchange at most once (cycles end, one copy per queue).
- An exchange whose own bindings matched nothing (not even another exchange) hands the
  message to its alternate exchange: the ``alternate-exchange`` argument, else the
  policy's, per rabbit_policy:get_arg. A missing alternate is silently skipped.
- Internal exchanges refuse a publish; exchange types the engine does not know make the
  answer incomplete ('unsupported'), never a guess.
- The CC and BCC headers (arrays of strings) add routing keys; BCC is removed before
  routing, so a headers exchange never sees it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..model.entities import DEFAULT_EXCHANGE, DEFAULT_EXCHANGE_LABEL, Binding, Exchange, VhostSnapshot
from ..model.policies import effective_exchange_policy
from ..model.topology import binding_id
from .matchers import Verdict, headers_match, match_direct, match_headers, match_topic, topic_matches

KNOWN_TYPES = ("direct", "fanout", "topic", "headers")
ROUTING_HEADERS = ("CC", "BCC")


@dataclass
class RouteResult:
    """The answer, JSON-ready through ``as_json``.

    ``status`` is one of routed, unroutable, internal (publish refused), no-such-exchange,
    unsupported (an exchange type we cannot simulate was on the path: queues may be missing).
    """

    queues: list[str] = field(default_factory=list)
    unroutable: bool = True
    hops: list[dict[str, Any]] = field(default_factory=list)
    status: str = "unroutable"
    message: str = ""
    reasons: dict[str, list[str]] = field(default_factory=dict)
    bindings: list[dict[str, Any]] = field(default_factory=list)
    exchanges: list[dict[str, Any]] = field(default_factory=list)
    unsupported: list[str] = field(default_factory=list)
    routing_keys: list[str] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {
            "queues": self.queues,
            "unroutable": self.unroutable,
            "status": self.status,
            "message": self.message,
            "hops": self.hops,
            "reasons": self.reasons,
            "bindings": self.bindings,
            "exchanges": self.exchanges,
            "unsupported": self.unsupported,
            "routing_keys": self.routing_keys,
        }


@dataclass(frozen=True)
class Alternate:
    name: str
    source: str  # "argument" | "policy"
    policy: str | None = None


class _Index:
    """Per-snapshot lookups, built once: exchanges, queue names and bindings by source."""

    def __init__(self, snapshot: VhostSnapshot):
        self.snapshot = snapshot
        self.exchanges = {e.name: e for e in snapshot.exchanges}
        self.queues = {q.name for q in snapshot.queues}
        # Each binding with its graph edge id, computed once per snapshot rather than per message.
        self.by_source: dict[str, list[tuple[Binding, str]]] = {}
        for binding in snapshot.bindings:
            if binding.source != DEFAULT_EXCHANGE:  # implicit ones: derived from queue names
                self.by_source.setdefault(binding.source, []).append((binding, binding_id(binding)))


_INDEX_CACHE: dict[int, _Index] = {}
_INDEX_CACHE_SIZE = 8


def _index(snapshot: VhostSnapshot) -> _Index:
    # Snapshots are immutable; the cache holds each one, so its id cannot be reused meanwhile.
    cached = _INDEX_CACHE.get(id(snapshot))
    if cached is not None and cached.snapshot is snapshot:
        return cached
    if len(_INDEX_CACHE) >= _INDEX_CACHE_SIZE:
        _INDEX_CACHE.pop(next(iter(_INDEX_CACHE)))
    built = _INDEX_CACHE[id(snapshot)] = _Index(snapshot)
    return built


def alternate_exchange(exchange: Exchange, snapshot: VhostSnapshot) -> Alternate | None:
    """rabbit_policy:get_arg: the argument, when present, wins over the policy's value."""
    if exchange.name == DEFAULT_EXCHANGE:
        return None
    if "alternate-exchange" in exchange.arguments:
        value = exchange.arguments["alternate-exchange"]
        return Alternate(value, "argument") if isinstance(value, str) else None
    policy = effective_exchange_policy(snapshot.policies, exchange)
    if policy is not None and isinstance(policy.definition.get("alternate-exchange"), str):
        return Alternate(policy.definition["alternate-exchange"], "policy", policy.name)
    return None


def routing_keys_of(routing_key: str, headers: Mapping[str, Any]) -> list[str]:
    """The routing key plus the CC and BCC header entries (sender-selected distribution)."""
    keys = [routing_key]
    for name in ROUTING_HEADERS:
        value = headers.get(name)
        if isinstance(value, (list, tuple)):
            keys.extend(v for v in value if isinstance(v, str))
    return keys


def label(name: str) -> str:
    return DEFAULT_EXCHANGE_LABEL if name == DEFAULT_EXCHANGE else name


class _Walk:
    def __init__(self, index: _Index, routing_keys: list[str], headers: Mapping[str, Any], result: RouteResult,
                 explain: bool):
        self.index, self.keys, self.headers, self.result = index, routing_keys, headers, result
        self.explain = explain
        self.queues: set[str] = set()

    def run(self, start: Exchange) -> None:
        seen, todo = {start.name}, [start]
        while todo:
            exchange = todo.pop()
            for name in self.visit(exchange):
                if name not in seen and name in self.index.exchanges:
                    seen.add(name)
                    todo.append(self.index.exchanges[name])

    def visit(self, exchange: Exchange) -> list[str]:
        """Route through one exchange; return the exchanges the message goes on to."""
        if exchange.name == DEFAULT_EXCHANGE:
            self.deliver_default(exchange)
            return []
        if exchange.type not in KNOWN_TYPES:
            self.result.unsupported.append(exchange.name)
            self.note_exchange(exchange, f"type {exchange.type!r} is not simulated: its routing is unknown")
            return []
        matched = self.match_bindings(exchange)
        onward = [b.destination for b in matched if b.destination_type == "exchange"]
        if matched:
            self.note_exchange(exchange, f"{len(matched)} binding(s) matched")
            return onward
        return self.use_alternate(exchange)

    def match_bindings(self, exchange: Exchange) -> list[Binding]:
        matched = []
        for binding, edge in self.index.by_source.get(exchange.name, []):
            hit = self.matches(exchange.type, binding)
            # Words cost more than the verdict: misses are put into words only when asked for.
            reason = self.verdict(exchange.type, binding).reason if hit or self.explain else ""
            if self.explain:
                self.result.bindings.append(
                    {
                        "edge": edge,
                        "source": binding.source,
                        "destination": binding.destination,
                        "destination_type": binding.destination_type,
                        "routing_key": binding.routing_key,
                        "matched": hit,
                        "reason": reason,
                    }
                )
            if hit:
                matched.append(binding)
                self.hop(exchange.name, binding.destination, binding.destination_type, "binding",
                         binding.routing_key, edge, reason)
        return matched

    def matches(self, exchange_type: str, binding: Binding) -> bool:
        if exchange_type == "fanout":
            return True
        if exchange_type == "direct":
            return binding.routing_key in self.keys
        if exchange_type == "topic":
            return any(topic_matches(binding.routing_key, key) for key in self.keys)
        return headers_match(binding.arguments, self.headers)

    def verdict(self, exchange_type: str, binding: Binding) -> Verdict:
        if exchange_type == "fanout":
            return Verdict(True, "fanout: every binding gets a copy")
        if exchange_type == "direct":
            return match_direct(binding.routing_key, self.keys)
        if exchange_type == "topic":
            return match_topic(binding.routing_key, self.keys)
        return match_headers(binding.arguments, self.headers)

    def use_alternate(self, exchange: Exchange) -> list[str]:
        alternate = alternate_exchange(exchange, self.index.snapshot)
        if alternate is None:
            self.note_exchange(exchange, "no binding matched and it has no alternate exchange")
            return []
        how = "argument" if alternate.source == "argument" else f"policy {alternate.policy!r}"
        exists = alternate.name in self.index.exchanges
        note = f"no binding matched: alternate exchange {label(alternate.name)!r} (by {how})"
        self.note_exchange(exchange, note if exists else note + " does not exist, so the message is dropped")
        if exists:
            self.hop(exchange.name, alternate.name, "exchange", "alternate-exchange", None,
                     f"alternate:{exchange.name}", f"unroutable here; alternate exchange by {how}")
            return [alternate.name]
        return []

    def deliver_default(self, exchange: Exchange) -> None:
        found = sorted({key for key in self.keys if key in self.index.queues})
        for key in found:
            self.hop(exchange.name, key, "queue", "default-exchange", key, None,
                     "default exchange: the routing key names this queue")
        missing = sorted(set(self.keys) - set(found))
        note = f"{len(found)} queue(s) named by the routing key"
        self.note_exchange(exchange, note + (f"; no queue named {missing[0]!r}" if missing else ""))

    def hop(self, source: str, target: str, kind: str, via: str, key: str | None, edge: str | None,
            reason: str) -> None:
        self.result.hops.append(
            {"from": source, "to": target, "to_kind": kind, "via": via, "routing_key": key, "edge": edge,
             "reason": reason}
        )
        if kind == "queue" and target in self.index.queues:
            self.queues.add(target)
            self.result.reasons.setdefault(target, []).append(f"{label(source)} → {target}: {reason}")

    def note_exchange(self, exchange: Exchange, outcome: str) -> None:
        self.result.exchanges.append({"name": exchange.name, "type": exchange.type, "outcome": outcome})


def route(
    snapshot: VhostSnapshot,
    exchange: str,
    routing_key: str,
    headers: Mapping[str, Any] | None = None,
    *,
    explain: bool = True,
) -> RouteResult:
    """Which queues a message published to `exchange` with this key and headers reaches.

    With explain=False the answer leaves out ``bindings`` (why each binding did or did
    not match): the same queues, hops and reasons, faster on large vhosts.
    """
    headers = dict(headers or {})
    keys = routing_keys_of(routing_key, headers)
    headers.pop("BCC", None)
    result = RouteResult(routing_keys=keys)
    index = _index(snapshot)
    start = index.exchanges.get(exchange)
    if start is None and exchange == DEFAULT_EXCHANGE:
        start = Exchange(DEFAULT_EXCHANGE, "direct")  # every vhost has it, listed or not
    if start is None:
        result.status, result.message = "no-such-exchange", f"no exchange named {exchange!r}"
        return result
    if start.internal:
        result.status = "internal"
        result.message = f"exchange {exchange!r} is internal: the broker refuses publishes to it (access refused)"
        return result
    walk = _Walk(index, keys, headers, result, explain)
    walk.run(start)
    result.queues = sorted(walk.queues)
    result.unroutable = not result.queues and not result.unsupported
    result.status = "unsupported" if result.unsupported else ("routed" if result.queues else "unroutable")
    result.message = _summary(result)
    return result


def _summary(result: RouteResult) -> str:
    if result.status == "unsupported":
        kinds = ", ".join(repr(name) for name in result.unsupported)
        return f"incomplete: exchange(s) {kinds} have a type the simulator does not know"
    if result.queues:
        return f"delivered to {len(result.queues)} queue(s)"
    return "unroutable: no queue gets this message (it is dropped, or returned if published mandatory)"
