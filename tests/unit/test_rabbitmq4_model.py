"""What RabbitMQ 4.x adds to the model: replicated queues' health, quorum delivery limits,
and figures the broker did not give staying unknown rather than zero."""

from __future__ import annotations

import pytest

from tests.unit.test_diagnostics import issues, vhost
from visualiser.model.arguments import delivery_limit_of
from visualiser.model.entities import Queue, VhostSnapshot
from visualiser.model.topology import build_graph

NODES = ("rabbit@a", "rabbit@b", "rabbit@c")


def quorum(name: str = "orders", online: tuple[str, ...] = NODES, **fields) -> Queue:
    return Queue(name, type="quorum", members=NODES, online=online, node=online[0] if online else None, **fields)


@pytest.mark.parametrize(
    ("online", "severity", "words"),
    [
        (NODES, None, None),
        (NODES[:2], "warning", "1 of 3 replicas offline (rabbit@c); 0 more can fail"),
        (NODES[:1], "critical", "lost its majority: 1 of 3 replicas online (needs 2)"),
        ((), "critical", "lost its majority: 0 of 3 replicas online"),
    ],
)
def test_a_quorum_queue_that_lost_replicas_or_its_majority_is_a_finding(online, severity, words) -> None:
    found = issues(vhost(quorum(online=online)))
    finding = found.get(("replicas-lost", "queue:orders"))
    if severity is None:
        assert finding is None
    else:
        assert finding.severity == severity and words in finding.message


def test_a_classic_queue_has_no_replicas_to_lose() -> None:
    assert ("replicas-lost", "queue:solo") not in issues(vhost(Queue("solo", node="rabbit@a")))


@pytest.mark.parametrize(
    ("version", "queue", "expected"),
    [
        (
            "4.0.5",
            quorum(),
            {"limit": 20, "source": "RabbitMQ 4.x default", "then": "dropped (no dead-letter exchange)"},
        ),
        (
            "4.0.5",
            quorum(arguments={"x-delivery-limit": 5, "x-dead-letter-exchange": "dlx"}),
            {"limit": 5, "source": "argument or policy", "then": "dead-lettered"},
        ),
        (
            "4.0.5",
            quorum(effective_policy_definition={"delivery-limit": 3}),
            {"limit": 3, "source": "argument or policy", "then": "dropped (no dead-letter exchange)"},
        ),
        (
            "3.13.7",
            quorum(),
            {"limit": None, "source": "none before RabbitMQ 4.0", "then": "redelivered without limit"},
        ),
        ("4.0.5", Queue("classic"), None),
    ],
)
def test_quorum_delivery_limit_follows_the_broker_version(version, queue, expected) -> None:
    assert delivery_limit_of(queue, version) == expected


def test_unknown_figures_reach_the_graph_as_unknown_and_fire_no_rule() -> None:
    unknown = Queue("backlog", messages_ready=None, messages_unacknowledged=None, consumers=None)
    snapshot = VhostSnapshot("/", queues=(unknown,), broker_version="4.0.5", statistics=False)
    node = build_graph(snapshot).nodes["queue:backlog"]
    assert node["messages_ready"] is None and node["consumers"] is None  # the page shows '?', not 0
    depth_rules = {"no-consumers", "backlog-growing", "not-consuming", "unacked-stuck", "max-length", "dlq-filling"}
    assert [key for key in issues(snapshot) if key[0] in depth_rules] == []
