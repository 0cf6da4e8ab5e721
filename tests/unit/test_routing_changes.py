"""Which patches can change a route answer: the page asks its question again only for those."""

from __future__ import annotations

from dataclasses import replace

from visualiser.model.diff import diff_graphs
from visualiser.model.entities import Binding, Exchange, Queue, VhostSnapshot
from visualiser.model.topology import build_graph
from visualiser.routing.changes import changes_routing

BASE = VhostSnapshot(
    "/",
    (Exchange(""), Exchange("orders", "topic")),
    (Queue("eu", messages_ready=1),),
    (Binding("orders", "eu", "queue", "order.eu"),),
)


def flag(after: VhostSnapshot, before: VhostSnapshot = BASE) -> bool:
    old = build_graph(before)
    return changes_routing(old, diff_graphs(old, build_graph(after)))


def test_depth_and_rate_changes_do_not_touch_routing() -> None:
    deeper = replace(BASE, queues=(Queue("eu", messages_ready=500, messages_unacknowledged=3),))
    busier = replace(BASE, exchanges=(Exchange(""), Exchange("orders", "topic", rates={"publish_in": 9.0})))
    assert not flag(deeper) and not flag(busier)


def test_added_or_removed_queues_exchanges_and_bindings_do() -> None:
    assert flag(replace(BASE, queues=BASE.queues + (Queue("us"),)))
    assert flag(replace(BASE, exchanges=BASE.exchanges + (Exchange("audit", "fanout"),)))
    assert flag(replace(BASE, bindings=()))
    assert flag(replace(BASE, bindings=(Binding("orders", "eu", "queue", "order.#"),)))  # a new key: remove + add
    assert flag(BASE, before=replace(BASE, queues=BASE.queues + (Queue("us"),)))


def test_an_alternate_exchange_appearing_does() -> None:
    with_alternate = replace(
        BASE, exchanges=(Exchange(""), Exchange("orders", "topic", arguments={"alternate-exchange": "lost"}))
    )
    assert flag(with_alternate)


def test_an_exchange_becoming_internal_does() -> None:
    assert flag(replace(BASE, exchanges=(Exchange(""), Exchange("orders", "topic", internal=True))))
