"""Which policy applies to a queue or an exchange, the way RabbitMQ decides it.

A policy applies when its pattern (a regular expression, searched, not anchored) matches
the name and its apply-to covers the object's kind; among those, the highest priority wins
(ties: RabbitMQ picks one deterministically; we pick the greatest name).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import lru_cache

from .entities import Policy

_APPLIES_TO = {
    "exchange": {"all", "exchanges"},
    "queue": {"all", "queues"},
}
_QUEUE_TYPE_APPLY = {"classic": "classic_queues", "quorum": "quorum_queues", "stream": "streams"}


@lru_cache(maxsize=1024)
def _compiled(pattern: str) -> re.Pattern[str] | None:
    try:
        return re.compile(pattern)
    except re.error:
        return None  # the broker validates patterns; a bad one here just never matches


def policy_applies(policy: Policy, name: str, kind: str, queue_type: str = "classic") -> bool:
    allowed = set(_APPLIES_TO.get(kind, ()))
    if kind == "queue":
        allowed.add(_QUEUE_TYPE_APPLY.get(queue_type, ""))
    if policy.apply_to not in allowed:
        return False
    regex = _compiled(policy.pattern)
    return bool(regex and regex.search(name))


def effective_policy(
    policies: Iterable[Policy], name: str, kind: str, queue_type: str = "classic"
) -> Policy | None:
    matching = [p for p in policies if policy_applies(p, name, kind, queue_type)]
    if not matching:
        return None
    return max(matching, key=lambda p: (p.priority, p.name))
