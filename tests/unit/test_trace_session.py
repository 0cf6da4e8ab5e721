"""The broker against the simulator, and one vhost's trace state: agreement, disagreements held
until a newer topology confirms them, deliveries tied to their publish, bounded memory."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from visualiser.hub import VhostView
from visualiser.model.entities import Binding, Exchange, Queue, VhostSnapshot
from visualiser.model.topology import build_graph
from visualiser.tracing.compare import Simulator, question_of
from visualiser.tracing.decode import TraceCopy, decode_copy
from visualiser.tracing.firehose import cluster_note
from visualiser.tracing.session import CONFIRM_AFTER, Judged, SessionLimits, TraceSession
from visualiser.tracing.tracer import binding_keys, wanted

TOPOLOGY = VhostSnapshot(
    "v",
    exchanges=(
        Exchange(""),
        Exchange("orders", "topic", arguments={"alternate-exchange": "ae"}),
        Exchange("ae", "fanout"),
        Exchange("audit", "fanout"),
        Exchange("plugin", "x-custom"),
    ),
    queues=(Queue("created"), Queue("audit.log"), Queue("unrouted"), Queue("bcc")),
    bindings=(
        Binding("orders", "created", "queue", "order.created"),
        Binding("orders", "audit", "exchange", "order.#"),
        Binding("audit", "audit.log", "queue"),
        Binding("ae", "unrouted", "queue"),
        Binding("orders", "bcc", "queue", "secret.key"),
    ),
)


def publish(
    exchange: str,
    keys: list[str],
    routed: list[str],
    headers: dict[str, Any] | None = None,
    body: bytes = b"b",
    connection: str = "c1",
    user: str = "guest",
) -> TraceCopy:
    table = {
        "exchange_name": exchange,
        "routing_keys": keys,
        "routed_queues": routed,
        "user": user,
        "connection": connection,
        "channel": 1,
        "node": "rabbit@n1",
        "properties": {"headers": headers or {}},
    }
    return decode_copy(f"publish.{exchange}", table, body, 1.0, 64)


def deliver(queue: str, exchange: str, keys: list[str], body: bytes = b"b", redelivered: int = 0) -> TraceCopy:
    table = {
        "exchange_name": exchange,
        "routing_keys": keys,
        "user": "worker",
        "connection": "c2",
        "channel": 3,
        "redelivered": redelivered,
        "properties": {"headers": {}},
    }
    return decode_copy(f"deliver.{queue}", table, body, 2.0, 64)


def judged(copy: TraceCopy, entities: VhostSnapshot = TOPOLOGY, version: int = 1) -> Judged:
    return Judged(copy, Simulator(1000).judge(copy, entities, version), entities)


def view(entities: VhostSnapshot, version: int = 2) -> VhostView:
    return VhostView(entities.vhost, version, build_graph(entities), entities, "test")


# ---- compare ---------------------------------------------------------------------------------------


def test_an_exchange_to_exchange_hop_is_on_the_path_of_an_agreeing_publish() -> None:
    judgement = judged(publish("orders", ["order.created"], ["audit.log", "created"])).judgement
    assert judgement.verdict == "agreed" and judgement.simulated == ("audit.log", "created")
    assert "exchange:audit" in judgement.path and "queue:audit.log" in judgement.path
    assert any(edge.startswith('binding:["orders","exchange","audit"') for edge in judgement.edges)


def test_an_alternate_exchange_hop_is_on_the_path() -> None:
    judgement = judged(publish("orders", ["misc"], ["unrouted"])).judgement
    assert judgement.verdict == "agreed" and "alternate:orders" in judgement.edges


def test_bcc_keys_are_rebuilt_from_the_routing_keys() -> None:
    copy = publish("orders", ["misc", "secret.key"], ["bcc"], headers={})
    assert question_of(copy).headers == {"BCC": ["secret.key"]}
    assert judged(copy).judgement.verdict == "agreed"


def test_a_different_answer_is_a_disagreement_and_unknown_types_are_not_guessed() -> None:
    assert judged(publish("orders", ["order.created"], ["created"])).judgement.verdict == "disagreed"
    unsupported = judged(publish("plugin", ["k"], ["created"])).judgement
    assert (unsupported.verdict, unsupported.reason) == ("unchecked", "unsupported")
    gone = judged(publish("deleted.since", ["k"], ["created"])).judgement
    assert (gone.verdict, gone.reason) == ("unchecked", "no-such-exchange")
    assert gone.unexplained == (("exchange:deleted.since", "queue:created"),)


def test_fresh_simulations_are_rationed_and_repeats_are_cached() -> None:
    now = [0.0]
    simulator = Simulator(per_second=2, clock=lambda: now[0])
    verdicts = [simulator.judge(publish("orders", [f"k{i}"], ["unrouted"]), TOPOLOGY, 1).reason for i in range(4)]
    assert verdicts == [None, None, "sampled", "sampled"]
    assert simulator.judge(publish("orders", ["k0"], ["unrouted"]), TOPOLOGY, 1).verdict == "agreed"  # cached


# ---- the session -----------------------------------------------------------------------------------


def test_agreements_are_counted_and_unroutable_publishes_name_their_publisher() -> None:
    session = TraceSession("v")
    session.ingest(
        [
            judged(publish("orders", ["order.created"], ["audit.log", "created"])),
            judged(publish("", ["nobody"], [], connection="10.0.0.9:4000 -> 10.0.0.1:5672", user="app")),
        ]
    )
    assert session.counts["agreed"] == 2 and session.counts["unroutable"] == 1
    assert session.unroutable_json()[0] | {"last": 0} == {
        "exchange": "",
        "connection": "10.0.0.9:4000 -> 10.0.0.1:5672",
        "user": "app",
        "count": 1,
        "last": 0,
    }


def test_a_disagreement_waits_for_newer_topologies_and_then_becomes_a_finding() -> None:
    session = TraceSession("v")
    doctored = replace(TOPOLOGY, bindings=TOPOLOGY.bindings[1:])  # the service does not know orders -> created
    session.ingest([judged(publish("orders", ["order.created"], ["audit.log", "created"]), doctored, 1)])
    assert session.counts["pending"] == 1 and session.issues() == []
    for version in range(2, 1 + CONFIRM_AFTER):
        session.on_topology(view(replace(doctored), version))  # each poll: a new snapshot, still doctored
        assert session.counts["pending"] == 1  # the poll may have begun before the message was routed
    session.on_topology(view(replace(doctored), 1 + CONFIRM_AFTER))
    assert (session.counts["pending"], session.counts["disagreed"]) == (0, 1)
    [issue] = session.issues()
    assert issue.rule == "trace-disagrees" and issue.node == "exchange:orders"
    assert "'created'" in issue.message and f"version {1 + CONFIRM_AFTER}" in issue.message
    [row] = session.disagreements_json()
    assert row["routed_queues"] == ["audit.log", "created"] and row["simulated_queues"] == ["audit.log"]


def test_a_disagreement_a_newer_topology_explains_counts_as_agreed() -> None:
    """The binding was made a moment before the poll that reads it: not the simulator's fault."""
    session = TraceSession("v")
    stale = replace(TOPOLOGY, bindings=TOPOLOGY.bindings[1:])
    session.ingest([judged(publish("orders", ["order.created"], ["audit.log", "created"]), stale, 1)])
    session.on_topology(view(TOPOLOGY))
    assert (session.counts["pending"], session.counts["agreed"], session.counts["disagreed"]) == (0, 1, 0)
    assert session.messages(False)[0]["verdict"] == "agreed"


def test_a_delivery_is_tied_to_its_publish_and_a_redelivery_to_the_same_row() -> None:
    session = TraceSession("v")
    session.ingest([judged(publish("orders", ["order.created"], ["audit.log", "created"], body=b"m1"))])
    session.ingest(
        [
            Judged(deliver("created", "orders", ["order.created"], body=b"m1")),
            Judged(deliver("created", "orders", ["order.created"], body=b"m1", redelivered=1)),
            Judged(deliver("audit.log", "orders", ["order.created"], body=b"m1")),
        ]
    )
    [row] = session.messages(False)
    assert [d["queue"] for d in row["delivered_to"]] == ["created", "created", "audit.log"]
    assert row["redelivered"] and row["published"]


def test_a_publish_copy_that_comes_after_its_delivery_joins_the_delivery_row() -> None:
    session = TraceSession("v")
    session.ingest([Judged(deliver("created", "orders", ["order.created"], body=b"m1"))])
    session.ingest([judged(publish("orders", ["order.created"], ["created", "audit.log"], body=b"m1"))])
    [row] = session.messages(False)
    assert row["published"] and row["routed_queues"] == ["audit.log", "created"] and row["verdict"] == "agreed"
    assert [d["queue"] for d in row["delivered_to"]] == ["created"]


def test_a_delivery_without_its_publish_gets_a_row_of_its_own() -> None:
    session = TraceSession("v")
    session.ingest([Judged(deliver("created", "orders", ["order.created"], body=b"before the trace"))])
    [row] = session.messages(False)
    assert not row["published"] and row["routed_queues"] is None and row["delivered_to"][0]["queue"] == "created"


def test_memory_is_bounded_whatever_the_number_of_messages() -> None:
    session = TraceSession("v", SessionLimits(recent_messages=50))
    for i in range(2000):
        session.ingest([judged(publish("orders", ["order.created"], ["audit.log", "created"], body=str(i).encode()))])
    assert len(session.messages(False)) == 50 and len(session._by_key) == 50
    assert session.counts["publishes"] == 2000
    frame = session.take_frame(view(TOPOLOGY))
    assert len(frame["messages"]) <= 20 and frame["more_messages"] > 0 and len(frame["samples"]) <= 12


def test_a_frame_counts_every_edge_exactly_and_finds_publishers_on_the_graph() -> None:
    session = TraceSession("v")
    for _ in range(30):
        session.ingest([judged(publish("orders", ["order.created"], ["audit.log", "created"]))])
    frame = session.take_frame(view(TOPOLOGY))
    edge = next(e for e in frame["edges"] if e.startswith('binding:["orders","queue","created"'))
    assert frame["edges"][edge]["count"] == 30 and frame["events"] == 30
    assert frame["publishers"][0] | {"label": ""} == {
        "connection": "c1",
        "user": "guest",
        "label": "",
        "node": None,
        "exchange": "exchange:orders",
        "count": 30,
        "unroutable": 0,
    }
    assert session.take_frame(view(TOPOLOGY)) is None  # nothing new: no frame


# ---- filters and the cluster ---------------------------------------------------------------------------


def test_bindings_and_the_filter_check_names_that_look_like_patterns() -> None:
    assert binding_keys(None, None) == ["#"]
    assert binding_keys("a.*", "q") == ["publish.a.*", "deliver.q"]
    assert wanted(publish("a.*", ["k"], []), "a.*", None)
    assert not wanted(publish("a.b", ["k"], []), "a.*", None)  # the topic binding let it through
    assert not wanted(deliver("q", "a.*", ["k"]), "a.*", None)


def test_a_cluster_note_names_the_nodes_that_are_not_traced() -> None:
    note = cluster_note("v", "rabbit@a", ["rabbit@a", "rabbit@b", "rabbit@c"])
    assert "rabbit@b, rabbit@c" in note and "trace_on" in note
    assert "every channel" in cluster_note("v", "rabbit@a", ["rabbit@a"])


def test_a_publish_the_simulator_fails_on_is_counted_and_the_consumer_keeps_going() -> None:
    from visualiser.hub import Hub
    from visualiser.tracing.tracer import MAX_BATCHES_IN_FLIGHT, Run, TraceRequest

    class Broken:
        def judge(self, *_args: Any) -> None:
            raise RecursionError("a header the engine chokes on")

    hub = Hub()
    hub.start()
    try:
        run = Run(TraceRequest("v", None, None, 1.0), ["#"], TraceSession("v"), hub, 100)
        run._simulator = Broken()  # type: ignore[assignment]
        for _ in range(MAX_BATCHES_IN_FLIGHT * 3):  # every batch is taken: nothing is left holding a slot
            assert run.offer([publish("orders", ["k"], [])], {}, timeout=5)
            hub.drain()
        assert run.session.counts["unchecked_reasons"] == {"simulator-error": MAX_BATCHES_IN_FLIGHT * 3}
    finally:
        hub.stop()
