"""The broker against the simulator: each traced publish's ``routed_queues`` compared with
what ``visualiser.routing.route`` answers for the same exchange, routing keys and headers on
the topology the hub holds for the vhost.

A copy carries the routing keys as the broker used them (the routing key, then CC, then
BCC) and the headers without BCC, as a headers exchange saw them; the question put to the
simulator is rebuilt from those. Answers are cached per topology snapshot (the same
exchange, keys and, where the vhost has a headers exchange, headers: the same answer), and
fresh simulations are rationed per second: a publish beyond the ration is counted as
sampled away, never guessed.

The path is what the page animates: the exchange, then the simulator's hops that lead to
the queues the broker really routed to. A queue the broker routed to where the simulator
finds no path is an "unexplained" hop, drawn straight from the exchange.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..model.entities import VhostSnapshot
from ..model.topology import node_id
from ..routing import RouteResult, route
from .decode import TraceCopy

CACHE_SIZE = 4096
AGREED, DISAGREED, UNCHECKED = "agreed", "disagreed", "unchecked"


@dataclass(frozen=True, slots=True)
class Judgement:
    verdict: str  # agreed | disagreed | unchecked
    simulated: tuple[str, ...] | None  # the simulator's queues (None when it was not asked)
    reason: str | None  # for unchecked: a key of vocabulary.TRACE_UNCHECKED_REASONS
    version: int | None  # the topology version the simulator answered on
    path: tuple[str, ...]  # graph ids from the exchange to the routed queues: nodes and edges, in order
    edges: tuple[str, ...] = ()  # the edge ids among them
    unexplained: tuple[tuple[str, str], ...] = ()  # (exchange node id, queue node id) with no simulated path


@dataclass(frozen=True, slots=True)
class Question:
    exchange: str
    routing_key: str
    headers: dict[str, Any]


def question_of(copy: TraceCopy) -> Question:
    """What to ask the simulator: the routing key, and the headers with CC as the message
    carried it and BCC rebuilt from the routing keys (the broker strips BCC before routing)."""
    headers = {k: v for k, v in copy.headers.items() if k not in ("CC", "BCC")}
    extra = list(copy.routing_keys[1:])
    carbon = copy.headers.get("CC")
    if isinstance(carbon, list) and all(isinstance(k, str) for k in carbon) and extra[: len(carbon)] == carbon:
        headers["CC"] = carbon
        extra = extra[len(carbon) :]
    if extra:
        headers["BCC"] = extra
    return Question(copy.exchange, copy.routing_key, headers)


def agrees(routed: set[str], result: RouteResult) -> bool:
    """The broker's queues are the simulator's, plus at most one of each x-local-random
    exchange's candidates (it picks one on the publisher's node, or drops the message)."""
    simulated = set(result.queues)
    if not result.one_of:
        return routed == simulated
    extra = routed - simulated
    picks = [set(candidates) for candidates in result.one_of.values()]
    return simulated <= routed and all(any(q in p for p in picks) for q in extra) and len(extra) <= len(picks)


@dataclass(frozen=True, slots=True)
class TracedPath:
    ids: tuple[str, ...]
    edges: tuple[str, ...]
    unexplained: tuple[tuple[str, str], ...]


def traced_path(exchange: str, routed: tuple[str, ...], result: RouteResult) -> TracedPath:
    """The ids along the simulated hops that reach the routed queues, and the routed queues
    no simulated hop reaches. An unroutable message's path is every hop it took before it
    was dropped (alternate exchanges included)."""
    start = node_id("exchange", exchange)
    into: dict[str, list[int]] = {}
    for index, hop in enumerate(result.hops):
        into.setdefault(hop["to_id"], []).append(index)
    picked_by = {queue: chooser for chooser, queues in result.one_of.items() for queue in queues}
    wanted: set[int] = set()
    todo = [node_id("queue", q) for q in routed]
    seen = set(todo)
    unexplained = []
    for queue in routed:
        if node_id("queue", queue) in into:
            continue
        # An x-local-random exchange's pick, or a queue the simulator cannot reach at all.
        chooser = node_id("exchange", picked_by[queue]) if queue in picked_by else start
        unexplained.append((chooser, node_id("queue", queue)))
        if chooser not in seen:
            seen.add(chooser)
            todo.append(chooser)
    while todo:
        for index in into.get(todo.pop(), []):
            wanted.add(index)
            source = result.hops[index]["from_id"]
            if source not in seen:
                seen.add(source)
                todo.append(source)
    if not routed:
        wanted = set(range(len(result.hops)))  # where it went before it was dropped
    ids: dict[str, None] = {start: None}
    edges: dict[str, None] = {}
    for index in sorted(wanted):
        hop = result.hops[index]
        for element in (hop["from_id"], hop["edge"], hop["to_id"]):
            if element:
                ids[element] = None
        if hop["edge"]:
            edges[hop["edge"]] = None
    for _, queue_id in unexplained:
        ids[queue_id] = None
    return TracedPath(tuple(ids), tuple(edges), tuple(unexplained))


class Simulator:
    """Judges publish copies against one vhost's topology. Used by one thread at a time."""

    def __init__(self, per_second: int, clock: Callable[[], float] = time.monotonic, cache_size: int = CACHE_SIZE):
        self.per_second, self.clock, self.cache_size = per_second, clock, cache_size
        self._entities: VhostSnapshot | None = None
        self._has_headers_exchange = False
        self._results: dict[tuple[Any, ...], RouteResult] = {}
        self._judgements: dict[tuple[Any, ...], Judgement] = {}
        self._tokens = float(per_second)
        self._refilled = clock()

    def judge(self, copy: TraceCopy, entities: VhostSnapshot | None, version: int | None) -> Judgement:
        start = (node_id("exchange", copy.exchange),)
        routed = copy.routed_queues or ()
        unexplained = tuple((start[0], node_id("queue", q)) for q in routed)
        if entities is None:
            return Judgement(UNCHECKED, None, "no-topology", None, start, (), unexplained)
        if copy.headers_truncated:
            return Judgement(UNCHECKED, None, "headers-too-large", version, start, (), unexplained)
        question, key = self._question(copy, entities)
        cached = self._judgements.get((key, routed, version))
        if cached is not None:
            return cached
        result = self._route(question, key, entities)
        if result is None:
            return Judgement(UNCHECKED, None, "sampled", version, start, (), unexplained)
        judgement = self._verdict(copy.exchange, routed, result, version, start, unexplained)
        if len(self._judgements) >= self.cache_size:
            self._judgements.clear()
        self._judgements[(key, routed, version)] = judgement
        return judgement

    @staticmethod
    def _verdict(
        exchange: str,
        routed: tuple[str, ...],
        result: RouteResult,
        version: int | None,
        start: tuple[str, ...],
        unexplained: tuple[tuple[str, str], ...],
    ) -> Judgement:
        if result.status == "no-such-exchange":
            return Judgement(UNCHECKED, None, "no-such-exchange", version, start, (), unexplained)
        path = traced_path(exchange, routed, result)
        simulated = tuple(result.queues)
        if result.status == "unsupported":
            return Judgement(UNCHECKED, simulated, "unsupported", version, path.ids, path.edges, path.unexplained)
        verdict = AGREED if agrees(set(routed), result) else DISAGREED
        return Judgement(verdict, simulated, None, version, path.ids, path.edges, path.unexplained)

    def _question(self, copy: TraceCopy, entities: VhostSnapshot) -> tuple[Question, tuple[Any, ...]]:
        """The question, and its cache key: the same exchange, keys and (where a headers exchange
        could see them) headers give the same answer on the same topology."""
        if entities is not self._entities:
            self._entities, self._results, self._judgements = entities, {}, {}
            self._has_headers_exchange = any(e.type == "headers" for e in entities.exchanges)
        question = question_of(copy)
        headers = json.dumps(question.headers, sort_keys=True, default=str) if self._has_headers_exchange else None
        return question, (question.exchange, copy.routing_keys, headers)

    def _route(self, question: Question, key: tuple[Any, ...], entities: VhostSnapshot) -> RouteResult | None:
        cached = self._results.get(key)
        if cached is not None:
            return cached
        if not self._take_token():
            return None
        result = route(entities, question.exchange, question.routing_key, question.headers, explain=False)
        if len(self._results) >= self.cache_size:
            self._results.clear()
        self._results[key] = result
        return result

    def _take_token(self) -> bool:
        now = self.clock()
        self._tokens = min(float(self.per_second), self._tokens + (now - self._refilled) * self.per_second)
        self._refilled = now
        if self._tokens < 1:
            return False
        self._tokens -= 1
        return True
