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

With ``explain`` the answer also says, for every edge the page can click, why it did or did
not carry this message: ``bindings`` (each evaluated binding, the implicit default-exchange
binding of each queue the key names, each alternate edge of an exchange the message reached,
by edge id) and ``otherwise`` (by exchange node id: the verdict for any other edge leaving that
exchange, e.g. one the message never reached). The page shows these; it never works them out.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..contract.vocabulary import DEFAULT_EXCHANGE_LABEL, ROUTE_VERDICTS
from ..model.arguments import alternate_exchange
from ..model.entities import DEFAULT_EXCHANGE, Binding, Exchange, VhostSnapshot
from ..model.topology import alternate_edge_id, binding_id, implicit_binding_id, node_id
from .matchers import Verdict, headers_match, match_direct, match_headers, match_topic, topic_matches
from .semantics import Semantics, semantics_for

KNOWN_TYPES = ("direct", "fanout", "topic", "headers")
LOCAL_RANDOM = "x-local-random"
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
    # x-local-random exchanges: each delivers to ONE of these queues (those on the publisher's node).
    one_of: dict[str, list[str]] = field(default_factory=dict)
    semantics: Semantics | None = None
    # Exchange node id -> {verdict, reason} for every edge from it that ``bindings`` does not list.
    otherwise: dict[str, dict[str, str]] = field(default_factory=dict)

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
            "one_of": self.one_of,
            "semantics": self.semantics.as_json() if self.semantics else None,
            "otherwise": self.otherwise,
            "path": self.path(),
        }

    def path(self) -> list[str]:
        """Ids of the graph elements the message passes: every hop's ends and edge, in order."""
        seen: dict[str, None] = {}
        for hop in self.hops:
            for element in (hop["from_id"], hop["edge"], hop["to_id"]):
                if element:
                    seen[element] = None
        return list(seen)


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


def quoted(name: str) -> str:
    """A name set in a sentence, as written: the page marks any character that does not show
    (repr would turn them into escapes the page cannot tell from the name's own text)."""
    return DEFAULT_EXCHANGE_LABEL if name == DEFAULT_EXCHANGE else f"'{name}'"


class _Walk:
    def __init__(
        self,
        index: _Index,
        routing_keys: list[str],
        headers: Mapping[str, Any],
        result: RouteResult,
        explain: bool,
        semantics: Semantics,
    ):
        self.index, self.keys, self.headers, self.result = index, routing_keys, headers, result
        self.explain, self.semantics = explain, semantics
        self.queues: set[str] = set()

    def run(self, start: Exchange) -> None:
        seen, todo = {start.name}, [start]
        while todo:
            exchange = todo.pop()
            for name in self.visit(exchange):
                if name not in seen and name in self.index.exchanges:
                    seen.add(name)
                    todo.append(self.index.exchanges[name])
        self.explain_unreached(start.name, seen)

    def visit(self, exchange: Exchange) -> list[str]:
        """Route through one exchange; return the exchanges the message goes on to."""
        if exchange.name == DEFAULT_EXCHANGE:
            self.deliver_default(exchange)
            return []
        if exchange.type == LOCAL_RANDOM and self.semantics.local_random:
            self.pick_local_random(exchange)
            return []
        if exchange.type not in KNOWN_TYPES:
            self.result.unsupported.append(exchange.name)
            self.otherwise(
                exchange.name, "not-evaluated", f"the simulator does not know how a {exchange.type!r} exchange routes"
            )
            self.note_exchange(
                exchange,
                f"type {exchange.type!r} is a plugin's or a newer broker's: the simulator "
                "does not know how it routes, so the answer may be missing queues",
            )
            return []
        matched = self.match_bindings(exchange)
        onward = [b.destination for b in matched if b.destination_type == "exchange"]
        if matched:
            self.note_exchange(exchange, f"{len(matched)} binding(s) matched")
            self.explain_alternate_unused(exchange, len(matched))
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
                        "verdict": "matched" if hit else "missed",
                        "reason": reason,
                    }
                )
            if hit:
                matched.append(binding)
                self.hop(
                    exchange.name,
                    binding.destination,
                    binding.destination_type,
                    "binding",
                    binding.routing_key,
                    edge,
                    reason,
                )
        return matched

    def pick_local_random(self, exchange: Exchange) -> None:
        """rabbit_exchange_type_local_random: one queue, at random, of those bound with the empty key
        that live on the publisher's node (a node the simulator cannot know); none: dropped."""
        bound = self.index.by_source.get(exchange.name, [])
        candidates = sorted(
            {
                b.destination
                for b, _ in bound
                if b.destination_type == "queue" and b.routing_key == "" and b.destination in self.index.queues
            }
        )
        if self.explain:
            for binding, edge in bound:
                if binding.destination in candidates and binding.routing_key == "":
                    self.explain_edge(
                        edge,
                        "candidate",
                        False,
                        "x-local-random delivers to one queue bound with the "
                        "empty routing key, picked at random among those on the publisher's node",
                    )
                else:
                    self.explain_edge(
                        edge, "missed", False, "x-local-random delivers only to queues bound with the empty routing key"
                    )
        if candidates:
            self.result.one_of[exchange.name] = candidates
            self.note_exchange(
                exchange,
                f"x-local-random: one of {len(candidates)} queue(s), picked at random among "
                "those on the publisher's node (dropped if none is local)",
            )
        else:
            self.note_exchange(exchange, "x-local-random: no queue bound with the empty routing key, so it is dropped")

    def matches(self, exchange_type: str, binding: Binding) -> bool:
        if exchange_type == "fanout":
            return True
        if exchange_type == "direct":
            return binding.routing_key in self.keys
        if exchange_type == "topic":
            return any(topic_matches(binding.routing_key, key) for key in self.keys)
        return headers_match(binding.arguments, self.headers, self.semantics.exact_header_values)

    def verdict(self, exchange_type: str, binding: Binding) -> Verdict:
        if exchange_type == "fanout":
            return Verdict(True, "fanout: every binding gets a copy")
        if exchange_type == "direct":
            return match_direct(binding.routing_key, self.keys)
        if exchange_type == "topic":
            return match_topic(binding.routing_key, self.keys)
        return match_headers(binding.arguments, self.headers, self.semantics.exact_header_values)

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
            self.explain_edge(
                alternate_edge_id(exchange.name),
                "taken",
                True,
                f"nothing in {quoted(exchange.name)} matched, so its alternate exchange (set by {how}) got the message",
            )
            self.hop(
                exchange.name,
                alternate.name,
                "exchange",
                "alternate-exchange",
                None,
                alternate_edge_id(exchange.name),
                f"unroutable here; alternate exchange by {how}",
            )
            return [alternate.name]
        self.explain_edge(
            alternate_edge_id(exchange.name),
            "not-taken",
            False,
            f"nothing in {quoted(exchange.name)} matched, but its alternate exchange "
            f"{quoted(alternate.name)} does not exist, so the message is dropped",
        )
        return []

    def explain_alternate_unused(self, exchange: Exchange, matched: int) -> None:
        if self.explain and alternate_exchange(exchange, self.index.snapshot) is not None:
            self.explain_edge(
                alternate_edge_id(exchange.name),
                "not-taken",
                False,
                f"{matched} of {quoted(exchange.name)}'s own bindings matched; an alternate exchange "
                "gets only what they all miss",
            )

    def deliver_default(self, exchange: Exchange) -> None:
        found = sorted({key for key in self.keys if key in self.index.queues})
        for key in found:
            self.explain_edge(implicit_binding_id(key), "matched", True, "the routing key names this queue")
            self.hop(
                exchange.name,
                key,
                "queue",
                "default-exchange",
                key,
                implicit_binding_id(key),
                "default exchange: the routing key names this queue",
            )
        named = ", ".join(quoted(key) for key in self.keys)
        self.otherwise(
            exchange.name, "missed", f"the default exchange delivers only to the queue the routing key names ({named})"
        )
        missing = sorted(set(self.keys) - set(found))
        note = f"{len(found)} queue(s) named by the routing key"
        self.note_exchange(exchange, note + (f"; no queue named {missing[0]!r}" if missing else ""))

    def hop(
        self, source: str, target: str, kind: str, via: str, key: str | None, edge: str | None, reason: str
    ) -> None:
        self.result.hops.append(
            {
                "from": source,
                "to": target,
                "to_kind": kind,
                "via": via,
                "routing_key": key,
                "edge": edge,
                "reason": reason,
                "from_id": node_id("exchange", source),
                "to_id": node_id(kind, target),
            }
        )
        if kind == "queue" and target in self.index.queues:
            self.queues.add(target)
            self.result.reasons.setdefault(target, []).append(f"{label(source)} → {target}: {reason}")

    def note_exchange(self, exchange: Exchange, outcome: str) -> None:
        self.result.exchanges.append({"name": exchange.name, "type": exchange.type, "outcome": outcome})

    def explain_edge(self, edge: str, verdict: str, matched: bool, reason: str) -> None:
        """One clickable edge's verdict, for the page (bindings are listed by match_bindings)."""
        if self.explain:
            assert verdict in ROUTE_VERDICTS
            self.result.bindings.append({"edge": edge, "matched": matched, "verdict": verdict, "reason": reason})

    def otherwise(self, exchange: str, verdict: str, reason: str) -> None:
        if self.explain:
            assert verdict in ROUTE_VERDICTS
            self.result.otherwise[node_id("exchange", exchange)] = {"verdict": verdict, "reason": reason}

    def explain_unreached(self, start: str, visited: set[str]) -> None:
        """Every exchange the message never got to: no edge from it carried the message."""
        if not self.explain:
            return
        names = set(self.index.exchanges) | set(self.index.by_source) | {DEFAULT_EXCHANGE}
        for name in sorted(names - visited):
            if name == DEFAULT_EXCHANGE:
                reason = (
                    f"the default exchange delivers only what is published to it, and this message was "
                    f"published to {quoted(start)}"
                )
            else:
                reason = f"the message never reached exchange {quoted(name)}"
            self.otherwise(name, "not-evaluated", reason)


def route(
    snapshot: VhostSnapshot,
    exchange: str,
    routing_key: str,
    headers: Mapping[str, Any] | None = None,
    *,
    explain: bool = True,
    semantics: Semantics | None = None,
) -> RouteResult:
    """Which queues a message published to `exchange` with this key and headers reaches.

    The rules are those of the snapshot's broker version unless `semantics` says otherwise.
    With explain=False the answer leaves out ``bindings`` (why each binding did or did
    not match): the same queues, hops and reasons, faster on large vhosts.
    """
    headers = dict(headers or {})
    keys = routing_keys_of(routing_key, headers)
    headers.pop("BCC", None)
    semantics = semantics or semantics_for(snapshot.broker_version)
    result = RouteResult(routing_keys=keys, semantics=semantics)
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
    walk = _Walk(index, keys, headers, result, explain, semantics)
    walk.run(start)
    result.queues = sorted(walk.queues)
    result.unroutable = not result.queues and not result.unsupported and not result.one_of
    reached = result.queues or result.one_of
    result.status = "unsupported" if result.unsupported else ("routed" if reached else "unroutable")
    result.message = _summary(result)
    return result


def _summary(result: RouteResult) -> str:
    if result.status == "unsupported":
        kinds = ", ".join(repr(name) for name in result.unsupported)
        return f"incomplete: exchange(s) {kinds} have a type the simulator does not know"
    if result.one_of:
        picks = sum(1 for _ in result.one_of)
        also = f"{len(result.queues)} queue(s), plus " if result.queues else ""
        return f"delivered to {also}one queue picked at random by each of {picks} x-local-random exchange(s)"
    if result.queues:
        return f"delivered to {len(result.queues)} queue(s)"
    return "unroutable: no queue gets this message (it is dropped, or returned if published mandatory)"
