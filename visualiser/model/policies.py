"""Which policy applies to a queue or an exchange, the way RabbitMQ decides it.

Where the broker says, that is the truth: live listings carry each object's ``policy`` (and,
for queues, ``effective_policy_definition``), and nothing here re-matches them. Only where
nothing says (a definitions export) does the service match patterns itself, as
rabbit_policy:match/2 does: a policy applies when its apply-to covers the object's kind and
its pattern, searched (not anchored) in the name's bytes, matches; among those the highest
priority wins. Equal priorities: the broker's pick depends on its table order, which nothing
outside it can see; we pick the greatest name so that at least we are deterministic.

Patterns are matched by ``pattern.search``, bounded in steps whatever the pattern (a policy
is written by whoever may set policies, and ``^(a+)+$`` once froze the service). A policy
whose pattern cannot be evaluated within those bounds is treated as not applying, which is
what RabbitMQ does when its own matcher gives up, and is recorded on the object
(``policy_undecided``) when it would have outranked the policy chosen: the page shows it as
a finding naming the policy and its pattern, rather than a silent guess.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace

from .entities import Exchange, Policy, Queue, UndecidedPolicy, VhostSnapshot
from .pattern import STEP_LIMIT, Outcome, Verdict, search

_APPLIES_TO = {
    "exchange": {"all", "exchanges"},
    "queue": {"all", "queues"},
}
# Apply-to values by queue type, from RabbitMQ 3.12 on.
_QUEUE_TYPE_APPLY = {"classic": "classic_queues", "quorum": "quorum_queues", "stream": "streams"}
# Backtracking steps one resolution (a whole definitions file) may spend confirming matches:
# a file of 10,000 hostile names costs seconds at most, never hours.
RESOLVE_STEP_BUDGET = 40 * STEP_LIMIT


def _kind_allowed(policy: Policy, kind: str, queue_type: str) -> bool:
    allowed = set(_APPLIES_TO.get(kind, ()))
    if kind == "queue":
        allowed.add(_QUEUE_TYPE_APPLY.get(queue_type, ""))
    return policy.apply_to in allowed


def policy_match(
    policy: Policy, name: str, kind: str, queue_type: str = "classic", step_limit: int = STEP_LIMIT
) -> Verdict:
    """Would the broker apply this policy to this object? MATCH, NO_MATCH or UNDECIDED."""
    if not _kind_allowed(policy, kind, queue_type):
        return Verdict(Outcome.NO_MATCH)
    return search(policy.pattern, name, step_limit)


@dataclass(frozen=True)
class Resolution:
    policy: Policy | None
    undecided: tuple[UndecidedPolicy, ...] = ()  # outranking policies that could not be evaluated


class PolicyResolver:
    """Resolves many names against one vhost's policies, within one shared step budget."""

    def __init__(self, policies: Iterable[Policy], step_budget: int = RESOLVE_STEP_BUDGET):
        # Highest priority first, then greatest name: the first that applies wins.
        self.policies = sorted(policies, key=lambda p: (p.priority, p.name), reverse=True)
        self.budget = step_budget

    def resolve(self, name: str, kind: str, queue_type: str = "classic") -> Resolution:
        undecided: list[UndecidedPolicy] = []
        for policy in self.policies:
            verdict = self._match(policy, name, kind, queue_type)
            if verdict.outcome is Outcome.MATCH:
                return Resolution(policy, tuple(undecided))
            if verdict.outcome is Outcome.UNDECIDED:
                undecided.append(UndecidedPolicy(policy.name, policy.pattern, verdict.reason))
        return Resolution(None, tuple(undecided))

    def _match(self, policy: Policy, name: str, kind: str, queue_type: str) -> Verdict:
        limit = min(STEP_LIMIT, max(self.budget, 0))
        verdict = policy_match(policy, name, kind, queue_type, limit)
        self.budget -= verdict.backtracked
        if verdict.outcome is Outcome.UNDECIDED and limit < STEP_LIMIT and verdict.backtracked >= limit:
            return replace(
                verdict, reason="the backtracking steps allowed for this vhost's policies were spent on other names"
            )
        return verdict


def effective_policy(policies: Iterable[Policy], name: str, kind: str, queue_type: str = "classic") -> Policy | None:
    """The policy the broker would apply; one that cannot be evaluated counts as not applying."""
    return PolicyResolver(policies).resolve(name, kind, queue_type).policy


def effective_exchange_policy(policies: Iterable[Policy], exchange: Exchange) -> Policy | None:
    """The policy the exchange carries (the broker's attribution, or ours for a definitions
    export, made by resolve_policies): looked up by name, never matched again here."""
    if not exchange.policy:
        return None
    return next((p for p in policies if p.name == exchange.policy), None)


def resolve_policies(snapshot: VhostSnapshot) -> VhostSnapshot:
    """Attribute policies to every exchange and queue by matching patterns, as the broker
    would: for sources that carry no attribution (definitions exports)."""
    resolver = PolicyResolver(snapshot.policies)

    def exchange(e: Exchange) -> Exchange:
        found = resolver.resolve(e.name, "exchange")
        return replace(e, policy=found.policy.name if found.policy else None, policy_undecided=found.undecided)

    def queue(q: Queue) -> Queue:
        found = resolver.resolve(q.name, "queue", q.type)
        definition = dict(found.policy.definition) if found.policy else {}
        return replace(
            q,
            policy=found.policy.name if found.policy else None,
            effective_policy_definition=definition,
            policy_undecided=found.undecided,
        )

    return replace(
        snapshot,
        exchanges=tuple(exchange(e) for e in snapshot.exchanges),
        queues=tuple(queue(q) for q in snapshot.queues),
    )
