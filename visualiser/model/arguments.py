"""What queue and exchange arguments mean, the way the broker reads them.

An argument set on the object wins over the same key set by a policy
(rabbit_policy:get_arg). Graph building, routing and diagnostics all ask here, so the
three never disagree about a queue's dead-letter exchange or an exchange's alternate.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from .entities import DEFAULT_EXCHANGE, Exchange, Queue, VhostSnapshot
from .policies import effective_exchange_policy


@dataclass(frozen=True)
class Alternate:
    name: str
    source: str  # "argument" | "policy"
    policy: str | None = None


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


def alternate_exchange_of(exchange: Exchange, snapshot: VhostSnapshot) -> str | None:
    """The exchange's alternate, decided exactly as the routing engine (and the broker) does."""
    alternate = alternate_exchange(exchange, snapshot)
    return alternate.name if alternate else None


def dead_letter_of(queue: Queue) -> tuple[str, str | None] | None:
    """(exchange, routing key or None) a queue dead-letters to; argument wins over policy."""
    args, policy = queue.arguments, queue.effective_policy_definition
    if "x-dead-letter-exchange" in args:
        exchange = args["x-dead-letter-exchange"]
    elif "dead-letter-exchange" in policy:
        exchange = policy["dead-letter-exchange"]
    else:
        return None
    key = args.get("x-dead-letter-routing-key", policy.get("dead-letter-routing-key"))
    return str(exchange), (None if key is None else str(key))


def major_version(version: str | None) -> int | None:
    match = re.match(r"(\d+)\.", version or "")
    return int(match.group(1)) if match else None


def delivery_limit_of(queue: Queue, broker_version: str | None) -> dict[str, Any] | None:
    """A quorum queue's delivery limit, where it comes from, and what happens past it.

    RabbitMQ 4.0 gave quorum queues a default limit of 20 redeliveries; before, none. Past
    the limit a message is dead-lettered (reason ``delivery_limit``) or, without a
    dead-letter exchange, dropped.
    """
    if queue.type != "quorum":
        return None
    limits = [
        v
        for v in (queue.arguments.get("x-delivery-limit"), queue.effective_policy_definition.get("delivery-limit"))
        if isinstance(v, int) and not isinstance(v, bool)
    ]
    major = major_version(broker_version)
    if limits:
        limit, source = min(limits), "argument or policy"
    elif major is not None and major >= 4 or major is None and broker_version:
        limit, source = 20, "RabbitMQ 4.x default"
    else:
        return {"limit": None, "source": "none before RabbitMQ 4.0", "then": "redelivered without limit"}
    if limit < 0:
        return {"limit": None, "source": source, "then": "redelivered without limit (-1)"}
    then = "dead-lettered" if dead_letter_of(queue) else "dropped (no dead-letter exchange)"
    return {"limit": limit, "source": source, "then": then}
