"""Every edge the page can click gets its verdict from the route answer, never from the page.

The page shows, for a clicked binding, implicit default-exchange binding or alternate edge,
the answer's ``bindings`` entry for that edge id, else the ``otherwise`` verdict of the edge's
source exchange. These tests build the graph the page is sent and check that each such edge
is explained, and that the explanation says what the broker does.
"""

from __future__ import annotations

import pytest

from visualiser.contract.vocabulary import ROUTE_VERDICTS
from visualiser.model.entities import Binding, Exchange, Queue, VhostSnapshot
from visualiser.model.topology import alternate_edge_id, binding_id, build_graph, implicit_binding_id
from visualiser.routing import route
from visualiser.sources.demo import demo_topology

B = Binding


def shop() -> VhostSnapshot:
    return VhostSnapshot(
        "/",
        (
            Exchange(""),
            Exchange("orders", "topic", arguments={"alternate-exchange": "lost"}),
            Exchange("lost", "fanout"),
            Exchange("audit", "fanout"),
            Exchange("gone", "direct", arguments={"alternate-exchange": "nowhere"}),
        ),
        (Queue("orders.eu"), Queue("orders.all"), Queue("lost.found"), Queue("audit.log")),
        (
            B("orders", "orders.eu", "queue", "order.eu.*"),
            B("orders", "orders.all", "queue", "order.#"),
            B("orders", "audit", "exchange", "order.#"),
            B("audit", "audit.log", "queue", ""),
            B("lost", "lost.found", "queue", ""),
        ),
    )


def explanation(answer: dict, graph_edge: dict) -> dict:
    listed = {entry["edge"]: entry for entry in answer["bindings"]}
    return listed.get(graph_edge["id"]) or answer["otherwise"][graph_edge["source"]]


def clickable_edges(snapshot: VhostSnapshot) -> list[dict]:
    """The graph's bindings and alternate edges, plus the implicit binding the page may draw per queue."""
    graph = build_graph(snapshot)
    edges = [e for e in graph.edges.values() if e["kind"] in ("binding", "alternate")]
    edges += [
        {"id": implicit_binding_id(q.name), "source": "exchange:", "target": f"queue:{q.name}"} for q in snapshot.queues
    ]
    return edges


QUESTIONS = [
    ("orders", "order.eu.1"),
    ("orders", "invoice.1"),
    ("", "orders.eu"),
    ("", "nope"),
    ("audit", "x"),
    ("gone", "k"),
    ("lost", ""),
]


@pytest.mark.parametrize(("exchange", "key"), QUESTIONS)
def test_every_clickable_edge_is_explained(exchange: str, key: str) -> None:
    snapshot = shop()
    answer = route(snapshot, exchange, key).as_json()
    for edge in clickable_edges(snapshot):
        found = explanation(answer, edge)
        assert found["verdict"] in ROUTE_VERDICTS and found["reason"], edge["id"]


def test_every_edge_of_the_demo_is_explained_for_every_exchange() -> None:
    snapshot = demo_topology()
    for exchange in snapshot.exchanges:
        answer = route(snapshot, exchange.name, "alert.cpu.high").as_json()
        for edge in clickable_edges(snapshot):
            assert explanation(answer, edge)["reason"], (exchange.name, edge["id"])


def test_taken_edges_are_the_path_and_say_matched() -> None:
    answer = route(shop(), "orders", "order.eu.1").as_json()
    carried = {e["edge"] for e in answer["bindings"] if e["matched"]}
    assert carried == {edge for edge in answer["path"] if not edge.startswith(("exchange:", "queue:"))}
    eu = explanation(
        answer, {"id": binding_id(B("orders", "orders.eu", "queue", "order.eu.*")), "source": "exchange:orders"}
    )
    assert eu["verdict"] == "matched" and "order.eu.*" in eu["reason"]


def test_alternate_edge_taken_only_when_nothing_matched() -> None:
    edge = {"id": alternate_edge_id("orders"), "source": "exchange:orders"}
    missed = explanation(route(shop(), "orders", "invoice.1").as_json(), edge)
    assert missed["verdict"] == "taken" and "nothing in 'orders' matched" in missed["reason"]
    matched = explanation(route(shop(), "orders", "order.eu.1").as_json(), edge)
    assert matched["verdict"] == "not-taken" and "own bindings matched" in matched["reason"]


def test_an_alternate_that_does_not_exist_drops_the_message() -> None:
    found = explanation(
        route(shop(), "gone", "k").as_json(), {"id": alternate_edge_id("gone"), "source": "exchange:gone"}
    )
    assert found["verdict"] == "not-taken" and "'nowhere' does not exist" in found["reason"]


def test_implicit_bindings_by_the_routing_key() -> None:
    answer = route(shop(), "", "orders.eu").as_json()
    named = explanation(answer, {"id": implicit_binding_id("orders.eu"), "source": "exchange:"})
    other = explanation(answer, {"id": implicit_binding_id("orders.all"), "source": "exchange:"})
    assert named["verdict"] == "matched" and "names this queue" in named["reason"]
    assert other["verdict"] == "missed" and "'orders.eu'" in other["reason"]
    published_elsewhere = route(shop(), "orders", "order.eu.1").as_json()
    implicit = explanation(published_elsewhere, {"id": implicit_binding_id("orders.eu"), "source": "exchange:"})
    assert implicit["verdict"] == "not-evaluated" and "published to 'orders'" in implicit["reason"]


def test_bindings_of_an_exchange_never_reached_are_not_evaluated() -> None:
    answer = route(shop(), "orders", "invoice.1").as_json()  # caught by 'lost'; 'audit' never reached
    audit = explanation(answer, {"id": binding_id(B("audit", "audit.log", "queue", "")), "source": "exchange:audit"})
    assert audit["verdict"] == "not-evaluated" and "never reached exchange 'audit'" in audit["reason"]


def test_names_in_reasons_keep_their_invisible_characters_for_the_page_to_mark() -> None:
    rlo = "orders\u202e"
    snapshot = VhostSnapshot(
        "/",
        (Exchange(rlo, "direct", arguments={"alternate-exchange": "alt"}), Exchange("alt", "fanout")),
        (Queue("q"),),
        (B("alt", "q", "queue", ""),),
    )
    found = explanation(
        route(snapshot, rlo, "k").as_json(), {"id": alternate_edge_id(rlo), "source": f"exchange:{rlo}"}
    )
    assert f"'{rlo}'" in found["reason"]  # the character itself, not a \\u202e escape


def test_without_explain_the_answer_stays_small() -> None:
    answer = route(shop(), "orders", "order.eu.1", explain=False).as_json()
    assert answer["bindings"] == [] and answer["otherwise"] == {}
