"""The graph built from a recorded real broker: ids, edges, placeholders, grouping, flags."""

from __future__ import annotations

import json

import pytest

from tests.fixtures.recorded import LONG_NAME, XSS, vhost_snapshot
from visualiser.model.entities import Binding, Consumer, Exchange, Policy, Queue, VhostSnapshot
from visualiser.model.policies import resolve_policies
from visualiser.model.topology import binding_id, build_graph, node_id


@pytest.fixture(scope="module")
def graph():
    return build_graph(vhost_snapshot())


def edges_of(graph, kind):
    return {(e["source"], e["target"]): e for e in graph.edges.values() if e["kind"] == kind}


def test_every_exchange_and_queue_is_a_node_with_a_kind_prefixed_id(graph):
    snapshot = vhost_snapshot()
    for exchange in snapshot.exchanges:
        node = graph.nodes[node_id("exchange", exchange.name)]
        assert (node["kind"], node["name"], node["type"]) == ("exchange", exchange.name, exchange.type)
    for queue in snapshot.queues:
        node = graph.nodes[node_id("queue", queue.name)]
        assert (node["kind"], node["name"], node["messages_ready"]) == ("queue", queue.name, queue.messages_ready)


def test_a_queue_and_an_exchange_may_share_a_name(graph):
    assert graph.nodes["queue:shared"]["kind"] == "queue"
    assert graph.nodes["exchange:shared"]["kind"] == "exchange"
    assert ("exchange:shared", "queue:shared") in edges_of(graph, "binding")


def test_hostile_names_survive_as_data(graph):
    assert graph.nodes[f"queue:{XSS}"]["label"] == XSS
    assert graph.nodes[f"queue:{LONG_NAME}"]["name"] == LONG_NAME
    binding = edges_of(graph, "binding")[(f"exchange:{XSS}", f"queue:{XSS}")]
    assert binding["routing_key"] == "<b>key</b>"
    assert json.loads(json.dumps(graph.as_lists(), ensure_ascii=False)) == graph.as_lists()


def test_every_edge_joins_two_nodes_and_ids_are_unique(graph):
    for edge in graph.edges.values():
        assert edge["source"] in graph.nodes and edge["target"] in graph.nodes, edge["id"]
    assert len({e["id"] for e in graph.edges.values()}) == len(graph.edges)


def test_default_exchange_is_labelled_and_its_implicit_bindings_folded(graph):
    default = graph.nodes["exchange:"]
    assert default["label"] == "(AMQP default)" and default.get("default") is True
    assert not [e for e in graph.edges.values() if e["source"] == "exchange:"]
    assert any(b.source == "" for b in vhost_snapshot().bindings)  # they were in the listing


def test_bindings_carry_keys_and_headers_arguments(graph):
    bindings = edges_of(graph, "binding")
    assert bindings[("exchange:orders", "queue:orders.new")]["routing_key"] == "new"
    assert bindings[("exchange:events", "queue:audit #all")]["routing_key"] == "#"
    headers = bindings[("exchange:reports", "queue:reports.eu")]
    assert headers["arguments"] == {"x-match": "all", "region": "eu", "format": "pdf"}


def test_exchange_to_exchange_binding(graph):
    e2e = edges_of(graph, "binding")[("exchange:events", "exchange:alerts")]
    assert e2e["destination_type"] == "exchange" and e2e["routing_key"] == "alert.#"


def test_dead_letter_edges_from_argument_and_from_policy(graph):
    dead = edges_of(graph, "dead-letter")
    assert dead[("queue:orders.new", "exchange:dlx")]["routing_key"] == "dead"
    assert dead[("queue:policy.dlx.work", "exchange:policy-dlx")]["routing_key"] is None
    assert len(dead) == 3  # the third points at a missing exchange


def test_missing_exchange_gets_a_placeholder(graph):
    placeholder = graph.nodes["exchange:does-not-exist"]
    assert placeholder["missing"] is True and placeholder["type"] == "missing"
    assert ("queue:dead-letters-nowhere", "exchange:does-not-exist") in edges_of(graph, "dead-letter")


def test_alternate_exchange_edges_from_argument_and_from_policy(graph):
    alternate = edges_of(graph, "alternate")
    assert set(alternate) == {
        ("exchange:events", "exchange:unrouted"),
        ("exchange:with-ae-policy", "exchange:unrouted"),
    }
    assert graph.nodes["exchange:with-ae-policy"]["alternate_exchange"] == "unrouted"


def test_consumers_are_grouped_under_their_connection(graph):
    connections = {n["label"]: n for n in graph.nodes.values() if n["kind"] == "connection"}
    assert set(connections) == {"fixture-worker <i>1</i>", "audit service"}
    consumers = {n["name"]: n for n in graph.nodes.values() if n["kind"] == "consumer"}
    worker = connections["fixture-worker <i>1</i>"]["id"]
    assert consumers["orders-consumer"]["parent"] == worker == consumers["notify-consumer"]["parent"]
    assert consumers["shared <consumer> tag"]["parent"] == connections["audit service"]["id"]
    consumes = edges_of(graph, "consumes")
    assert (node_id("queue", "orders.new"), consumers["orders-consumer"]["id"]) in consumes
    assert len(consumes) == 3


def test_celery_plumbing_is_flagged(graph):
    flagged = {n["id"] for n in graph.nodes.values() if n.get("plumbing")}
    assert flagged == {
        "queue:celeryev.0f1e2d3c-aaaa-bbbb-cccc-000000000001",
        "queue:worker1@host.celery.pidbox",
        "exchange:celeryev",
        "exchange:celery.pidbox",
        "exchange:reply.celery.pidbox",
    }


def test_connection_is_plumbing_only_if_all_it_consumes_is():
    snapshot = VhostSnapshot(
        "/",
        queues=(Queue("celeryev.1"), Queue("work"), Queue("w@h.celery.pidbox")),
        consumers=(
            Consumer("celeryev.1", "a", "c1 (1)", "c1"),
            Consumer("work", "b", "c1 (2)", "c1"),
            Consumer("w@h.celery.pidbox", "c", "c2 (1)", "c2"),
        ),
    )
    graph = build_graph(snapshot)
    assert graph.nodes["connection:c1"]["plumbing"] is False
    assert graph.nodes["connection:c2"]["plumbing"] is True


def test_argument_wins_over_policy_for_dead_letter_and_alternate():
    policy = Policy("p", ".*", "all", 0, {"dead-letter-exchange": "by-policy", "alternate-exchange": "by-policy"})
    snapshot = VhostSnapshot(
        "/",
        exchanges=(Exchange("x", arguments={"alternate-exchange": "by-arg"}), Exchange("y")),
        queues=(
            Queue(
                "q", arguments={"x-dead-letter-exchange": "by-arg"}, effective_policy_definition=dict(policy.definition)
            ),
        ),
        policies=(policy,),
    )
    graph = build_graph(resolve_policies(snapshot))  # as a definitions export: policies matched here
    assert graph.edges["dead-letter:q"]["target"] == "exchange:by-arg"
    assert graph.edges["alternate:x"]["target"] == "exchange:by-arg"
    assert graph.edges["alternate:y"]["target"] == "exchange:by-policy"


def test_binding_from_an_unlisted_exchange_adds_a_placeholder_and_racing_deletes_are_skipped():
    snapshot = VhostSnapshot(
        "/",
        queues=(Queue("q"),),
        bindings=(Binding("gone", "q", "queue", "k"), Binding("x", "deleted-queue", "queue", "k")),
    )
    graph = build_graph(snapshot)
    assert graph.nodes["exchange:gone"]["missing"] is True
    assert len(graph.edges) == 1 and "queue:deleted-queue" not in graph.nodes


def test_binding_ids_differ_by_key_arguments_and_destination_type():
    ids = {
        binding_id(Binding("x", "d", "queue", "a")),
        binding_id(Binding("x", "d", "queue", "b")),
        binding_id(Binding("x", "d", "exchange", "a")),
        binding_id(Binding("x", "d", "queue", "a", {"x-match": "any"})),
    }
    assert len(ids) == 4


def test_building_twice_gives_equal_graphs():
    assert build_graph(vhost_snapshot()) == build_graph(vhost_snapshot())
