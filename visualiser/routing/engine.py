"""Routing engine (interim: direct, fanout, topic; the full engine replaces this)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..model.entities import VhostSnapshot


@dataclass
class RouteResult:
    queues: list[str] = field(default_factory=list)
    unroutable: bool = True
    hops: list[dict[str, Any]] = field(default_factory=list)


def _topic_match(pattern: list[str], words: list[str]) -> bool:
    if not pattern:
        return not words
    if pattern[0] == "#":
        return any(_topic_match(pattern[1:], words[i:]) for i in range(len(words) + 1))
    if not words:
        return False
    return (pattern[0] == "*" or pattern[0] == words[0]) and _topic_match(pattern[1:], words[1:])


def route(snapshot: VhostSnapshot, exchange: str, routing_key: str, headers: dict[str, Any] | None = None) -> RouteResult:
    result = RouteResult()
    if exchange == "":
        if snapshot.queue(routing_key):
            result.queues = [routing_key]
        result.unroutable = not result.queues
        return result
    seen, queues, todo = {exchange}, set(), [exchange]
    while todo:
        name = todo.pop()
        ex = snapshot.exchange(name)
        if ex is None:
            continue
        for b in snapshot.bindings:
            if b.source != name:
                continue
            if ex.type == "fanout":
                ok = True
            elif ex.type == "topic":
                ok = _topic_match(b.routing_key.split("."), routing_key.split("."))
            else:
                ok = b.routing_key == routing_key
            if ok and b.destination_type == "queue":
                queues.add(b.destination)
            elif ok and b.destination not in seen:
                seen.add(b.destination)
                todo.append(b.destination)
    result.queues = sorted(queues)
    result.unroutable = not queues
    return result
