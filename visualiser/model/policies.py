"""Which policy applies to a queue or an exchange, the way RabbitMQ decides it.

rabbit_policy:match/2: a policy applies when its apply-to covers the object's kind and its
pattern (a regular expression, searched, not anchored) matches the name; among those the
highest priority wins. The broker matches bytes (re:run without the unicode option), so
we do too. Equal priorities: the broker's pick depends on its table order, which nothing
outside it can see; we pick the greatest name so that at least we are deterministic.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import lru_cache

from .entities import Exchange, Policy

_APPLIES_TO = {
    "exchange": {"all", "exchanges"},
    "queue": {"all", "queues"},
}
# Apply-to values by queue type, from RabbitMQ 3.12 on.
_QUEUE_TYPE_APPLY = {"classic": "classic_queues", "quorum": "quorum_queues", "stream": "streams"}


@lru_cache(maxsize=1024)
def _compiled(pattern: str) -> re.Pattern[bytes] | None:
    try:
        return re.compile(pattern.encode("utf-8", "surrogatepass"))
    except re.error:
        return None  # the broker validates patterns; one we cannot read never matches here


def policy_applies(policy: Policy, name: str, kind: str, queue_type: str = "classic") -> bool:
    allowed = set(_APPLIES_TO.get(kind, ()))
    if kind == "queue":
        allowed.add(_QUEUE_TYPE_APPLY.get(queue_type, ""))
    if policy.apply_to not in allowed:
        return False
    regex = _compiled(policy.pattern)
    return bool(regex and regex.search(name.encode("utf-8", "surrogatepass")))


def effective_policy(
    policies: Iterable[Policy], name: str, kind: str, queue_type: str = "classic"
) -> Policy | None:
    matching = [p for p in policies if policy_applies(p, name, kind, queue_type)]
    if not matching:
        return None
    return max(matching, key=lambda p: (p.priority, p.name))


def effective_exchange_policy(policies: Iterable[Policy], exchange: Exchange) -> Policy | None:
    """The broker's own answer when it gave one (live mode lists it), else computed."""
    policies = tuple(policies)
    if exchange.policy:
        named = next((p for p in policies if p.name == exchange.policy), None)
        if named is not None:
            return named
    return effective_policy(policies, exchange.name, "exchange")
