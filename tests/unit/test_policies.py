"""Policy resolution as rabbit_policy:match/2 does it: apply-to, searched pattern, priority;
the broker's own attribution kept as the truth; hostile patterns bounded and reported."""

from __future__ import annotations

import pytest

from visualiser.diagnostics.history import QueueHistory
from visualiser.diagnostics.rules import Context, evaluate
from visualiser.model.entities import Exchange, Policy, Queue, VhostSnapshot
from visualiser.model.pattern import STEP_LIMIT, Outcome
from visualiser.model.policies import (
    PolicyResolver,
    effective_exchange_policy,
    effective_policy,
    policy_match,
    resolve_policies,
)
from visualiser.model.topology import build_graph

P = Policy
MATCH, NO, UNDECIDED = Outcome.MATCH, Outcome.NO_MATCH, Outcome.UNDECIDED
HOSTILE_NAME = "a" * 40 + "!"

# (policy, name, kind, queue type, outcome)
CASES = [
    (P("p", "^orders", "all"), "orders.in", "exchange", "classic", MATCH),
    (P("p", "^orders", "all"), "orders.in", "queue", "classic", MATCH),
    (P("p", "^orders", "queues"), "orders.in", "exchange", "classic", NO),
    (P("p", "^orders", "exchanges"), "orders.in", "queue", "classic", NO),
    (P("p", "in$", "exchanges"), "orders.in", "exchange", "classic", MATCH),
    (P("p", "rders", "all"), "orders", "exchange", "classic", MATCH),  # searched, not anchored
    (P("p", "^$", "all"), "", "exchange", "classic", MATCH),
    (P("p", "^.$", "all"), "é", "exchange", "classic", NO),  # bytes, like re:run without unicode
    (P("p", "^..$", "all"), "é", "exchange", "classic", MATCH),
    (P("p", "(", "all"), "(", "exchange", "classic", UNDECIDED),  # unreadable: said, not guessed
    (P("p", r"(a)\1", "all"), "aa", "exchange", "classic", UNDECIDED),  # back-references: not evaluated
    (P("p", ".", "quorum_queues"), "q", "queue", "quorum", MATCH),
    (P("p", ".", "quorum_queues"), "q", "queue", "classic", NO),
    # The reported attack: RabbitMQ's matcher gives up and applies nothing; the answer is exact here.
    (P("p", "^(a+)+$", "all"), HOSTILE_NAME, "exchange", "classic", NO),
    # A match exists, but PCRE would backtrack exponentially before finding it: cannot tell.
    (P("p", "(a+)+$|!", "all"), HOSTILE_NAME, "exchange", "classic", UNDECIDED),
]


@pytest.mark.parametrize(("policy", "name", "kind", "queue_type", "expected"), CASES)
def test_policy_match(policy: Policy, name: str, kind: str, queue_type: str, expected: Outcome) -> None:
    verdict = policy_match(policy, name, kind, queue_type)
    assert verdict.outcome is expected
    assert (verdict.reason != "") is (expected is UNDECIDED)


def test_the_reported_pattern_costs_a_step_per_byte() -> None:
    """^(a+)+$ against 40 a's and a '!' backtracks 2^40 times in Python's re; here it is linear."""
    for length in (40, 254):
        name = "a" * length + "!"
        verdict = policy_match(P("p", "^(a+)+$", "all"), name, "exchange")
        assert verdict.outcome is NO
        assert verdict.steps <= len(name) + 1


def test_a_match_that_needs_unbounded_backtracking_stops_at_the_step_limit() -> None:
    verdict = policy_match(P("p", "(a+)+$|!", "all"), "a" * 200 + "!", "exchange")
    assert verdict.outcome is UNDECIDED
    assert STEP_LIMIT < verdict.backtracked <= STEP_LIMIT + 1
    assert "RabbitMQ's matcher may give up" in verdict.reason


def test_highest_priority_wins() -> None:
    policies = [P("low", ".", "all", 1), P("high", "^o", "exchanges", 7), P("other", "^z", "all", 99)]
    assert effective_policy(policies, "orders", "exchange").name == "high"
    assert effective_policy(policies, "orders", "queue").name == "low"
    assert effective_policy(policies, "zeta", "queue").name == "other"
    assert effective_policy([], "orders", "queue") is None


def test_an_undecided_policy_counts_as_not_applying_and_is_recorded_only_when_it_outranks() -> None:
    hostile = P("hostile", "(a+)+$|!", "all", 10)
    resolver = PolicyResolver([hostile, P("fallback", "!$", "all", 1), P("outranked", "(a+)+$|!", "all", 0)])
    found = resolver.resolve(HOSTILE_NAME, "queue")
    assert found.policy.name == "fallback"
    assert [u.policy for u in found.undecided] == ["hostile"]
    assert found.undecided[0].pattern == "(a+)+$|!"


def test_the_brokers_attribution_is_the_truth_and_is_never_rematched() -> None:
    policies = [P("computed", ".", "all", 5), P("told", "^nothing", "all", 0)]
    assert effective_exchange_policy(policies, Exchange("x", policy="told")).name == "told"
    # The broker said no policy applies (live listings omit the field): none, whatever the patterns say.
    assert effective_exchange_policy(policies, Exchange("x")) is None
    assert effective_exchange_policy(policies, Exchange("x", policy="deleted-since")) is None


def test_resolving_a_definitions_export_attributes_policies_and_reports_what_it_cannot_tell() -> None:
    policies = (P("hostile", "(a+)+$|!", "all", 10), P("dlx", "^orders$", "queues", 0, {"dead-letter-exchange": "dlx"}))
    snapshot = VhostSnapshot(
        "/",
        exchanges=(Exchange(HOSTILE_NAME), Exchange("plain")),
        queues=(Queue("orders"), Queue(HOSTILE_NAME)),
        policies=policies,
    )
    resolved = resolve_policies(snapshot)
    assert resolved.queue("orders").policy == "dlx"
    assert resolved.queue("orders").effective_policy_definition == {"dead-letter-exchange": "dlx"}
    assert resolved.exchange(HOSTILE_NAME).policy is None
    assert [u.policy for u in resolved.exchange(HOSTILE_NAME).policy_undecided] == ["hostile"]
    assert resolved.exchange("plain").policy_undecided == ()

    context = Context(resolved, build_graph(resolved), QueueHistory())
    issues = {issue.node: issue for issue in evaluate(context) if issue.rule == "policy-undecided"}
    assert set(issues) == {f"exchange:{HOSTILE_NAME}", f"queue:{HOSTILE_NAME}"}
    message = issues[f"exchange:{HOSTILE_NAME}"].message
    assert "'hostile'" in message and "'(a+)+$|!'" in message and "treated as not applying" in message


def test_many_hostile_names_share_one_step_budget() -> None:
    """A file of many hostile names costs a bounded number of steps, then says the budget is spent."""
    budget = 3 * STEP_LIMIT
    resolver = PolicyResolver([P("hostile", "(a+)+$|!", "all")], step_budget=budget)
    found = [resolver.resolve("a" * (40 + i) + "!", "queue") for i in range(20)]
    assert all(f.policy is None and len(f.undecided) == 1 for f in found)
    assert resolver.budget >= -1  # the budget bounds the work: never overrun by more than a step
    assert "spent" in found[-1].undecided[0].reason
    assert "RabbitMQ's matcher may give up" in found[0].undecided[0].reason
