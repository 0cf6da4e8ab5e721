"""diff_graphs and apply_patch are inverses; a patch carries only what changed."""

from __future__ import annotations

import copy
import json
import random
from dataclasses import replace

import pytest

from tests.fixtures.recorded import vhost_snapshot
from visualiser.model.diff import apply_patch, diff_graphs, is_empty
from visualiser.model.topology import Graph, build_graph

NAMES = ["a", "b", "orders", "q.#", "<img src=x>", "🐇", "", "x/y", "%2F"]


def random_node(rng: random.Random, kind: str, name: str) -> dict:
    return {
        "id": f"{kind}:{name}",
        "kind": kind,
        "name": name,
        "messages_ready": rng.randint(0, 5),
        "arguments": rng.choice([{}, {"x-max-length": rng.randint(1, 3)}]),
        "rates": {"publish": rng.choice([0.0, 1.5])},
        "policy": rng.choice([None, "p"]),
    }


def random_graph(rng: random.Random) -> Graph:
    graph = Graph()
    for kind in ("exchange", "queue"):
        for name in rng.sample(NAMES, rng.randint(0, len(NAMES))):
            node = random_node(rng, kind, name)
            graph.nodes[node["id"]] = node
    ids = list(graph.nodes)
    for _ in range(rng.randint(0, 12) if ids else 0):
        source, target = rng.choice(ids), rng.choice(ids)
        key = rng.choice(["", "k", "#"])
        edge_id = f"binding:{source}|{target}|{key}"
        graph.edges[edge_id] = {
            "id": edge_id,
            "kind": "binding",
            "source": source,
            "target": target,
            "routing_key": key,
            "arguments": rng.choice([{}, {"x-match": "any"}]),
        }
    return graph


@pytest.mark.parametrize("seed", range(300))
def test_apply_patch_of_diff_rebuilds_the_new_graph(seed):
    rng = random.Random(seed)
    old, new = random_graph(rng), random_graph(rng)
    before = copy.deepcopy(old)
    patch = diff_graphs(old, new)
    assert apply_patch(old, patch) == new
    assert old == before  # neither side is mutated
    assert is_empty(diff_graphs(new, new))
    assert is_empty(patch) == (old == new)


@pytest.mark.parametrize("seed", range(50))
def test_patch_survives_json_like_the_wire(seed):
    rng = random.Random(1000 + seed)
    old, new = random_graph(rng), random_graph(rng)
    wire = json.loads(json.dumps(diff_graphs(old, new)))
    assert apply_patch(old, wire) == new


def test_one_depth_change_sends_only_that_field():
    snapshot = vhost_snapshot()
    old = build_graph(snapshot)
    queues = tuple(replace(q, messages_ready=99) if q.name == "orders.new" else q for q in snapshot.queues)
    new = build_graph(replace(snapshot, queues=queues))
    patch = diff_graphs(old, new)
    assert patch["change"]["nodes"] == [{"id": "queue:orders.new", "messages_ready": 99}]
    assert not patch["add"]["nodes"] and not patch["remove"]["nodes"] and not patch["change"]["edges"]


def test_removed_and_added_items_are_ids_and_whole_items():
    old = Graph(nodes={"queue:a": {"id": "queue:a", "kind": "queue"}})
    new = Graph(nodes={"queue:b": {"id": "queue:b", "kind": "queue"}})
    patch = diff_graphs(old, new)
    assert patch["remove"]["nodes"] == ["queue:a"]
    assert patch["add"]["nodes"] == [{"id": "queue:b", "kind": "queue"}]


def test_a_field_that_disappears_is_sent_as_none():
    old = Graph(nodes={"queue:a": {"id": "queue:a", "policy": "p", "x": 1}})
    new = Graph(nodes={"queue:a": {"id": "queue:a", "x": 1}})
    assert diff_graphs(old, new)["change"]["nodes"] == [{"id": "queue:a", "policy": None}]
