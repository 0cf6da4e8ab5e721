"""route() over hand-built vhosts: exchange-to-exchange walks, alternates, refusals, results."""

from __future__ import annotations

from visualiser.model.entities import Binding, Exchange, Policy, Queue, VhostSnapshot
from visualiser.model.policies import resolve_policies
from visualiser.routing import route
from visualiser.sources.demo import demo_topology

B = Binding


def vhost(exchanges, queues, bindings, policies=()) -> VhostSnapshot:
    return VhostSnapshot(
        "/",
        tuple(Exchange(n, t, **kw) for n, t, kw in exchanges),
        tuple(Queue(q) for q in queues),
        tuple(bindings),
        policies=tuple(policies),
    )


def test_default_exchange_routes_by_queue_name_even_when_unlisted() -> None:
    snap = vhost([], ["orders"], [])
    assert route(snap, "", "orders").queues == ["orders"]
    missing = route(snap, "", "nope")
    assert missing.unroutable and missing.status == "unroutable"
    assert route(snap, "", "orders").hops[0]["via"] == "default-exchange"


def test_exchange_to_exchange_union_one_copy_and_cycles_end() -> None:
    snap = vhost(
        [("a", "fanout", {}), ("b", "fanout", {}), ("c", "direct", {})],
        ["q1", "q2"],
        [
            B("a", "b", "exchange"),
            B("b", "a", "exchange"),
            B("a", "q1", "queue"),
            B("b", "q1", "queue"),
            B("b", "c", "exchange"),
            B("c", "q2", "queue", "k"),
            B("a", "a", "exchange"),
        ],
    )
    result = route(snap, "a", "k")
    assert result.queues == ["q1", "q2"]
    assert len(result.reasons["q1"]) == 2  # two paths, one copy
    assert {(h["from"], h["to"]) for h in result.hops} >= {("a", "b"), ("b", "c"), ("c", "q2")}


def test_alternate_used_only_when_the_exchange_itself_matched_nothing() -> None:
    snap = vhost(
        [
            ("main", "direct", {"arguments": {"alternate-exchange": "ae"}}),
            ("ae", "fanout", {}),
            ("dead-end", "fanout", {}),
        ],
        ["hit", "caught"],
        [B("main", "hit", "queue", "k"), B("main", "dead-end", "exchange", "x"), B("ae", "caught", "queue")],
    )
    assert route(snap, "main", "k").queues == ["hit"]
    assert route(snap, "main", "other").queues == ["caught"]
    # Matched a binding to an exchange that routes nowhere: not unroutable *here*, so no alternate.
    via_exchange = route(snap, "main", "x")
    assert via_exchange.unroutable and via_exchange.queues == []
    assert any(h["via"] == "alternate-exchange" for h in route(snap, "main", "other").hops)


def test_alternate_of_an_exchange_reached_by_binding() -> None:
    snap = vhost(
        [
            ("front", "fanout", {}),
            ("inner", "direct", {"arguments": {"alternate-exchange": "ae"}}),
            ("ae", "fanout", {}),
        ],
        ["caught"],
        [B("front", "inner", "exchange"), B("ae", "caught", "queue")],
    )
    assert route(snap, "front", "k").queues == ["caught"]


def test_argument_wins_over_policy_and_priority_decides_between_policies() -> None:
    exchanges = [
        ("x", "direct", {"arguments": {"alternate-exchange": "by-arg"}}),
        ("y", "direct", {}),
        ("by-arg", "fanout", {}),
        ("low", "fanout", {}),
        ("high", "fanout", {}),
    ]
    policies = [
        Policy("p-low", "^[xy]$", "exchanges", 1, {"alternate-exchange": "low"}),
        Policy("p-high", "^y", "all", 5, {"alternate-exchange": "high"}),
        Policy("p-queues", ".", "queues", 9, {"alternate-exchange": "by-arg"}),
    ]
    bindings = [B("by-arg", "q-arg", "queue"), B("low", "q-low", "queue"), B("high", "q-high", "queue")]
    snap = resolve_policies(vhost(exchanges, ["q-arg", "q-low", "q-high"], bindings, policies))
    assert route(snap, "x", "k").queues == ["q-arg"]
    assert route(snap, "y", "k").queues == ["q-high"]
    outcome = [e["outcome"] for e in route(snap, "y", "k").exchanges if e["name"] == "y"][0]
    assert "policy 'p-high'" in outcome


def test_missing_alternate_is_dropped_silently() -> None:
    snap = vhost([("x", "direct", {"arguments": {"alternate-exchange": "gone"}})], ["q"], [])
    result = route(snap, "x", "k")
    assert result.unroutable and "does not exist" in result.exchanges[0]["outcome"]


def test_internal_exchange_refuses_publish_but_routes_as_a_hop() -> None:
    snap = vhost(
        [("inside", "fanout", {"internal": True}), ("front", "fanout", {})],
        ["q"],
        [B("inside", "q", "queue"), B("front", "inside", "exchange")],
    )
    refused = route(snap, "inside", "")
    assert refused.status == "internal" and refused.queues == [] and "internal" in refused.message
    assert route(snap, "front", "").queues == ["q"]


def test_unknown_type_is_unsupported_not_guessed() -> None:
    snap = vhost(
        [("front", "fanout", {}), ("hash", "x-consistent-hash", {})],
        ["q1", "q2"],
        [B("front", "hash", "exchange"), B("front", "q1", "queue"), B("hash", "q2", "queue", "1")],
    )
    result = route(snap, "front", "")
    assert result.status == "unsupported" and result.unsupported == ["hash"]
    assert result.queues == ["q1"] and result.unroutable is False


def test_unknown_exchange() -> None:
    assert route(vhost([], [], []), "nope", "").status == "no-such-exchange"


def test_cc_and_bcc_add_routing_keys_and_bcc_is_hidden_from_headers() -> None:
    snap = vhost(
        [("d", "direct", {}), ("h", "headers", {})],
        ["a", "b", "c"],
        [
            B("d", "a", "queue", "ka"),
            B("d", "b", "queue", "kb"),
            B("h", "c", "queue", "", {"x-match": "any", "BCC": None}),
        ],
    )
    assert route(snap, "d", "ka", {"CC": ["kb"]}).queues == ["a", "b"]
    assert route(snap, "d", "zz", {"BCC": ["ka"]}).queues == ["a"]
    assert route(snap, "", "a", {"CC": ["b"]}).queues == ["a", "b"]
    assert route(snap, "h", "", {"BCC": ["x"]}).queues == []


def test_non_matching_bindings_are_explained() -> None:
    result = route(demo_topology(), "events", "order.created.eu")
    by_destination = {b["destination"]: b for b in result.bindings if "destination" in b}
    assert by_destination["orders.audit"]["matched"] is False
    assert "exactly 2 word(s), the key has 3" in by_destination["orders.audit"]["reason"]
    assert by_destination["analytics"]["matched"] is True
    assert by_destination["orders.audit"]["edge"].startswith("binding:")


def test_demo_example_reaches_fanout_through_exchange_binding() -> None:
    result = route(demo_topology(), "events", "alert.cpu.high")
    assert result.queues == ["analytics", "notify.email", "notify.push", "notify.sms"]
    assert result.as_json()["unroutable"] is False


# ---- RabbitMQ 4.x: version-dependent rules, x-local-random, types the simulator does not know ----------


def local_random_vhost(version: str) -> VhostSnapshot:
    snap = vhost(
        [("pick", "x-local-random", {})],
        ["w1", "w2", "keyed"],
        [B("pick", "w2", "queue"), B("pick", "w1", "queue"), B("pick", "keyed", "queue", "k")],
    )
    return VhostSnapshot(snap.vhost, snap.exchanges, snap.queues, snap.bindings, broker_version=version)


def test_local_random_delivers_to_one_queue_bound_with_the_empty_key() -> None:
    result = route(local_random_vhost("4.0.5"), "pick", "anything")
    assert result.status == "routed" and not result.unroutable
    assert result.queues == [] and result.one_of == {"pick": ["w1", "w2"]}  # 'keyed' never: only "" bindings
    assert "one queue picked at random" in result.message
    assert result.as_json()["semantics"]["version"] == "4.0.5"


def test_local_random_before_4_0_is_a_type_the_simulator_does_not_know() -> None:
    result = route(local_random_vhost("3.13.7"), "pick", "anything")
    assert result.status == "unsupported" and result.unsupported == ["pick"]


def test_a_plugin_exchange_type_is_unsupported_and_says_why() -> None:
    snap = vhost([("hashy", "x-consistent-hash", {})], ["q"], [B("hashy", "q", "queue", "1")])
    result = route(snap, "hashy", "k")
    assert result.status == "unsupported" and not result.unroutable
    assert "does not know how it routes" in result.exchanges[0]["outcome"]


def test_headers_routing_follows_the_snapshot_broker_version() -> None:
    bindings = [B("h", "ints", "queue", "", {"x-match": "all", "n": 1})]
    for version, expected in (("3.10.8", ["ints"]), ("4.0.5", [])):
        snap = VhostSnapshot(
            "/", (Exchange("h", "headers"),), (Queue("ints"),), tuple(bindings), broker_version=version
        )
        result = route(snap, "h", "", {"n": 1.0})
        assert result.queues == expected, version
        assert result.semantics is not None and result.semantics.version == version
