"""Policy resolution as rabbit_policy:match/2 does it: apply-to, searched pattern, priority."""

from __future__ import annotations

import pytest

from visualiser.model.entities import Exchange, Policy
from visualiser.model.policies import effective_exchange_policy, effective_policy, policy_applies

P = Policy

# (policy, name, kind, queue type, applies?)
CASES = [
    (P("p", "^orders", "all"), "orders.in", "exchange", "classic", True),
    (P("p", "^orders", "all"), "orders.in", "queue", "classic", True),
    (P("p", "^orders", "queues"), "orders.in", "exchange", "classic", False),
    (P("p", "^orders", "exchanges"), "orders.in", "queue", "classic", False),
    (P("p", "in$", "exchanges"), "orders.in", "exchange", "classic", True),
    (P("p", "rders", "all"), "orders", "exchange", "classic", True),  # searched, not anchored
    (P("p", "^$", "all"), "", "exchange", "classic", True),
    (P("p", "^.$", "all"), "é", "exchange", "classic", False),  # bytes, like re:run without unicode
    (P("p", "^..$", "all"), "é", "exchange", "classic", True),
    (P("p", "(", "all"), "(", "exchange", "classic", False),  # unreadable pattern never matches
    (P("p", ".", "quorum_queues"), "q", "queue", "quorum", True),
    (P("p", ".", "quorum_queues"), "q", "queue", "classic", False),
]


@pytest.mark.parametrize(("policy", "name", "kind", "queue_type", "expected"), CASES)
def test_policy_applies(policy: Policy, name: str, kind: str, queue_type: str, expected: bool) -> None:
    assert policy_applies(policy, name, kind, queue_type) is expected


def test_highest_priority_wins() -> None:
    policies = [P("low", ".", "all", 1), P("high", "^o", "exchanges", 7), P("other", "^z", "all", 99)]
    assert effective_policy(policies, "orders", "exchange").name == "high"
    assert effective_policy(policies, "orders", "queue").name == "low"
    assert effective_policy(policies, "zeta", "queue").name == "other"
    assert effective_policy([], "orders", "queue") is None


def test_the_brokers_own_attribution_is_preferred() -> None:
    policies = [P("computed", ".", "all", 5), P("told", "^nothing", "all", 0)]
    assert effective_exchange_policy(policies, Exchange("x", policy="told")).name == "told"
    assert effective_exchange_policy(policies, Exchange("x")).name == "computed"
    assert effective_exchange_policy(policies, Exchange("x", policy="deleted-since")).name == "computed"
