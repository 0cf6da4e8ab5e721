"""Hostile policy patterns against the real broker and the real service.

The attack as reported: a policy whose pattern backtracks catastrophically (``^(a+)+$``)
and an exchange or queue named ``"a" * 40 + "!"``. RabbitMQ's own matcher gives up and
applies no policy; the service used to re-match the pattern with Python's ``re``, which
held the GIL for hours, so ``/healthz`` stopped answering.

- The bounded matcher gives the broker's answer for every pattern and name here, PCRE's
  peculiarities included, or says it cannot tell (only where the broker's matcher gives up).
- Live mode takes the broker's attribution and never matches: the service, in its own
  process, keeps answering and its graph shows what the broker reports.
- A definitions export of the same vhost, where the service must match patterns itself:
  it answers, attributes what it can exactly, and reports the policy it could not evaluate
  as a finding naming the policy and its pattern.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.brokers import BROKER, BROKERS
from tests.conftest import Rabbit, free_port, wait_for
from visualiser.model.pattern import Outcome, search

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
HOSTILE_NAME = "a" * 40 + "!"
CATASTROPHIC = "^(a+)+$"  # never matches the hostile name: exact answer, no backtracking
UNDECIDABLE = "(a+)+$|!"  # matches it, but only after exponential backtracking: PCRE gives up

# Patterns whose answers depend on PCRE as RabbitMQ runs it, and names to try them on.
PATTERNS = [CATASTROPHIC, UNDECIDABLE, "a$", r"a\z", r"^\w\w$", r"^\w", "(a(?i)b)c", "(?i)^ORDERS", r"^x\.\*$",
            r"\border", "^[[:alpha:]]+$", "^$", "é", "^(orders|invoices)\\.", "s{2,}", "[^[:alnum:]]"]  # fmt: skip
NAMES = [HOSTILE_NAME, "é", "aBc", "Orders", "x.*", "orders.in", "invoices.x", "a b", "ss", "a"]


@contextlib.contextmanager
def service(*args: str) -> Iterator[str]:
    """python app.py with these options, in its own process: a frozen service fails the test, not pytest."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "app.py", "--host", "127.0.0.1", "--port", str(port), "--log-level", "WARNING", *args],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: _answers(url), timeout=30, message="the service to start")
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)


def _answers(url: str) -> bool:
    try:
        return requests.get(url + "/healthz", timeout=2).ok
    except requests.RequestException:
        return False


def healthy(url: str) -> dict[str, Any]:
    """/healthz within a short timeout: a service whose matcher holds the GIL fails here."""
    response = requests.get(url + "/healthz", timeout=5)
    assert response.status_code == 200
    return response.json()


def nodes(url: str, vhost: str) -> dict[str, dict[str, Any]]:
    body = requests.get(url + "/api/topology", params={"vhost": vhost}, timeout=5).json()
    return {n["id"]: n for n in body.get("nodes", [])}


def broker_policies(rabbit: Rabbit, kind: str) -> dict[str, str | None]:
    listing = rabbit.call("GET", kind, rabbit.vhost).json()
    return {item["name"]: item.get("policy") for item in listing}


def decided(rabbit: Rabbit, ours: tuple[str, str]) -> dict[str, str | None] | None:
    found = broker_policies(rabbit, "exchanges")
    return found if all(found[name] in ours for name in NAMES) else None


def test_the_matcher_gives_the_brokers_answer_or_says_it_cannot_tell(rabbit: Rabbit) -> None:
    for name in NAMES:
        rabbit.declare_exchange(name)
    undecided = set()
    for index, pattern in enumerate(PATTERNS):
        policy, marker = f"p{index}", f"m{index}"
        if index:
            rabbit.call("DELETE", "policies", rabbit.vhost, f"p{index - 1}")
            rabbit.call("DELETE", "policies", rabbit.vhost, f"m{index - 1}")
        # The pattern under test, then a lower-priority marker that matches everything: once
        # every exchange carries one of the two, the broker has decided ours for each of them.
        for name, body_pattern, priority in ((policy, pattern, 1), (marker, ".", 0)):
            rabbit.call(
                "PUT",
                "policies",
                rabbit.vhost,
                name,
                body={
                    "pattern": body_pattern,
                    "apply-to": "exchanges",
                    "priority": priority,
                    "definition": {"alternate-exchange": "z"},
                },
            )

        attribution = wait_for(
            lambda ours=(policy, marker): decided(rabbit, ours), timeout=60, message=f"the broker to apply {pattern!r}"
        )
        for name in NAMES:
            verdict = search(pattern, name)
            applied = attribution[name] == policy
            if verdict.outcome is Outcome.UNDECIDED:
                assert not applied, (pattern, name)  # undecided counts as not applying: so did the broker
                undecided.add((pattern, name))
            else:
                assert (verdict.outcome is Outcome.MATCH) is applied, (pattern, name, verdict, attribution[name])
    assert undecided == {(UNDECIDABLE, HOSTILE_NAME)}


def declare_hostile(rabbit: Rabbit) -> None:
    for name, pattern, priority in (
        ("catastrophic", CATASTROPHIC, 20),
        ("undecidable", UNDECIDABLE, 10),
        ("benign", "^benign", 1),
    ):
        rabbit.call(
            "PUT",
            "policies",
            rabbit.vhost,
            name,
            body={
                "pattern": pattern,
                "apply-to": "all",
                "priority": priority,
                "definition": {"alternate-exchange": f"ae-{name}", "dead-letter-exchange": f"dlx-{name}"},
            },
        )
    for name in (HOSTILE_NAME, "benign.one", "plain"):
        rabbit.declare_exchange(name)
        rabbit.declare_queue(name)


def settled_attribution(rabbit: Rabbit) -> dict[str, dict[str, str | None]]:
    """The broker's own answers, once they settle: no policy for the hostile name (its matcher
    gave up on both hostile patterns), 'benign' where it matches."""

    def read() -> dict[str, dict[str, str | None]] | None:
        found = {kind: broker_policies(rabbit, kind) for kind in ("exchanges", "queues")}
        expected = {HOSTILE_NAME: None, "benign.one": "benign", "plain": None}
        return found if all(found[kind].get(n) == p for kind in found for n, p in expected.items()) else None

    return wait_for(read, timeout=60, message="the broker's policy attribution")


def test_live_mode_keeps_answering_and_shows_the_brokers_attribution(rabbit: Rabbit) -> None:
    declare_hostile(rabbit)
    broker = settled_attribution(rabbit)
    with service("--management-url", BROKER.management_url(), "--poll-interval", "1") as url:

        def drawn() -> dict[str, dict[str, Any]] | None:
            found = nodes(url, rabbit.vhost)
            return found if f"queue:{HOSTILE_NAME}" in found and f"exchange:{HOSTILE_NAME}" in found else None

        graph = wait_for(drawn, timeout=60, message="the hostile names in the graph")
        for _ in range(3):  # several polls, each building the graph from the hostile listing
            status = healthy(url)["sources"]["management-api"]
            assert status["state"] == "ok", status
            graph = nodes(url, rabbit.vhost)
        for kind in ("exchange", "queue"):
            for name, policy in broker[f"{kind}s"].items():
                assert graph[f"{kind}:{name}"]["policy"] == policy, (kind, name)
        assert graph[f"exchange:{HOSTILE_NAME}"]["alternate_exchange"] is None
        assert graph["exchange:benign.one"]["alternate_exchange"] == "ae-benign"
        assert graph["queue:benign.one"]["effective_policy_definition"]["dead-letter-exchange"] == "dlx-benign"


def test_a_definitions_export_is_matched_in_bounds_and_the_undecidable_policy_is_reported(
    rabbit: Rabbit, tmp_path: Path
) -> None:
    declare_hostile(rabbit)
    broker = settled_attribution(rabbit)
    export = tmp_path / "definitions.json"
    export.write_text(json.dumps(rabbit.call("GET", "definitions", rabbit.vhost).json()))
    with service("--definitions", str(export)) as url:
        vhost = wait_for(
            lambda: next(iter(requests.get(url + "/api/vhosts", timeout=5).json()), None),
            timeout=30,
            message="the export's vhost",
        )["name"]
        graph = nodes(url, vhost)
        healthy(url)
        # Attributed here, by matching: the broker's answer for every object. For the hostile
        # name, 'catastrophic' does not match (told exactly, in one step a byte) and
        # 'undecidable' could not be told and counts as not applying: no policy, as on the broker.
        for kind in ("exchange", "queue"):
            for name, policy in broker[f"{kind}s"].items():
                if f"{kind}:{name}" in graph:
                    assert graph[f"{kind}:{name}"]["policy"] == policy, (kind, name)
        findings = requests.get(url + "/api/diagnostics", params={"vhost": vhost}, timeout=5).json()["findings"]
        undecided = {f["node"]: f["message"] for f in findings if f["rule"] == "policy-undecided"}
        assert set(undecided) == {f"exchange:{HOSTILE_NAME}", f"queue:{HOSTILE_NAME}"}
        message = undecided[f"queue:{HOSTILE_NAME}"]
        assert "'undecidable'" in message and repr(UNDECIDABLE) in message and "no policy is shown" in message


@pytest.mark.nostats
def test_statistics_off_the_queue_totals_carry_the_brokers_attribution(rabbit_nostats: Rabbit) -> None:
    """The listing RabbitMQ 4.x answers with statistics off names each queue's policy: kept, not re-matched."""
    declare_hostile(rabbit_nostats)
    broker = settled_attribution(rabbit_nostats)
    management = BROKERS["4.0-nostats"].management_url()
    with service("--management-url", management, "--poll-interval", "1", "--prometheus-url", "off") as url:

        def drawn() -> dict[str, dict[str, Any]] | None:
            found = nodes(url, rabbit_nostats.vhost)
            return found if f"queue:{HOSTILE_NAME}" in found else None

        graph = wait_for(drawn, timeout=60, message="the hostile queue in the graph")
        healthy(url)
        for name, policy in broker["queues"].items():
            assert graph[f"queue:{name}"]["policy"] == policy, name
        assert graph["queue:benign.one"]["effective_policy_definition"]["dead-letter-exchange"] == "dlx-benign"
