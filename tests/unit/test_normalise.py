"""Raw management API JSON (recorded from a real broker) to entities, and hostile input."""

from __future__ import annotations

import pytest

from tests.fixtures.recorded import LONG_NAME, VHOST, XSS, management_results, vhost_snapshot
from visualiser.model.entities import Binding
from visualiser.sources.normalise import (
    MalformedInput,
    binding_from,
    connection_from,
    consumer_from,
    exchange_from,
    group_by_vhost,
    queue_from,
    require_list,
)


@pytest.fixture(scope="module")
def snapshot():
    return vhost_snapshot()


def test_every_recorded_object_lands_in_its_vhost(snapshot):
    results = management_results()
    assert snapshot.vhost == VHOST
    assert len(snapshot.queues) == len(results["queues"])
    assert len(snapshot.exchanges) == len(results["exchanges"])
    assert len(snapshot.bindings) == len(results["bindings"])
    assert len(snapshot.consumers) == 3 and len(snapshot.connections) == 2
    assert {p.name for p in snapshot.policies} == {"dlx-by-policy", "ae-by-policy"}


def test_queue_depths_consumers_and_arguments(snapshot):
    orders = snapshot.queue("orders.new")
    assert (orders.messages_ready, orders.messages_unacknowledged, orders.consumers) == (3, 2, 1)
    assert orders.arguments == {"x-dead-letter-exchange": "dlx", "x-dead-letter-routing-key": "dead"}
    assert orders.type == "classic" and orders.state == "running" and orders.durable
    assert set(orders.rates) == {"publish", "deliver_get", "ack", "redeliver"}
    assert orders.consumer_utilisation is not None
    assert snapshot.queue("nobody").messages_ready == 7


def test_queue_policy_comes_from_the_broker(snapshot):
    work = snapshot.queue("policy.dlx.work")
    assert work.policy == "dlx-by-policy"
    assert work.effective_policy_definition == {"dead-letter-exchange": "policy-dlx"}
    assert snapshot.queue("orders.dead").policy is None


def test_hostile_names_are_kept_exactly(snapshot):
    names = {q.name for q in snapshot.queues}
    assert {LONG_NAME, XSS, "100% / done", 'it\'s "quoted"', "emoji 🐇📨", "events.*", "audit #all"} <= names
    assert len(LONG_NAME.encode()) == 255
    assert snapshot.exchange(XSS).type == "topic"
    assert snapshot.exchange("shared") is not None and snapshot.queue("shared") is not None


def test_exchanges_keep_type_internal_and_arguments(snapshot):
    assert snapshot.exchange("alerts").internal is True
    assert snapshot.exchange("events").arguments == {"alternate-exchange": "unrouted"}
    assert snapshot.exchange("with-ae-policy").policy == "ae-by-policy"
    assert {e.type for e in snapshot.exchanges} == {"direct", "fanout", "topic", "headers"}


def test_bindings_include_headers_arguments_and_exchange_destinations(snapshot):
    assert Binding("reports", "reports.eu", "queue", "", {"x-match": "all", "region": "eu", "format": "pdf"}) in (
        snapshot.bindings
    )
    assert Binding("events", "alerts", "exchange", "alert.#") in snapshot.bindings
    implicit = [b for b in snapshot.bindings if b.source == ""]
    assert sorted(b.destination for b in implicit) == sorted(q.name for q in snapshot.queues)


def test_consumers_and_their_connections(snapshot):
    by_tag = {c.consumer_tag: c for c in snapshot.consumers}
    orders, notify = by_tag["orders-consumer"], by_tag["notify-consumer"]
    assert orders.queue == "orders.new" and orders.prefetch_count == 2 and orders.ack_required
    assert orders.connection == notify.connection and orders.channel != notify.channel
    assert by_tag["shared <consumer> tag"].connection != orders.connection
    named = {c.client["connection_name"]: c for c in snapshot.connections}
    assert set(named) == {"fixture-worker <i>1</i>", "audit service"}
    worker = named["fixture-worker <i>1</i>"]
    assert worker.name == orders.connection and worker.user == "guest" and worker.peer.startswith("127.0.0.1:")
    assert "capabilities" not in worker.client  # only the fields the page shows


def test_mistyped_fields_fall_back_instead_of_failing():
    queue = queue_from(
        {
            "name": 5,
            "messages_ready": "many",
            "consumers": True,
            "durable": "yes",
            "arguments": [1],
            "message_stats": {"publish_details": {"rate": "fast"}},
        }
    )
    # A figure that is not a count is unknown (None), never a made-up zero.
    assert (queue.name, queue.messages_ready, queue.consumers, queue.durable) == ("", None, None, True)
    assert queue.arguments == {} and queue.rates == {}
    exchange = exchange_from({"name": "x", "type": None, "internal": 1})
    assert (exchange.type, exchange.internal) == ("direct", False)
    binding = binding_from({"source": "x", "destination": "y", "destination_type": "weird"})
    assert binding.destination_type == "queue"
    consumer = consumer_from({"consumer_tag": "t", "queue": "not a dict", "channel_details": None})
    assert (consumer.queue, consumer.channel, consumer.connection) == ("", "", "")
    assert connection_from({"name": "c", "client_properties": "x"}).client == {}


def test_quorum_type_from_arguments_when_the_listing_has_no_type():
    assert queue_from({"name": "q", "arguments": {"x-queue-type": "quorum"}}).type == "quorum"


def test_require_list_refuses_objects():
    with pytest.raises(MalformedInput, match="/api/bindings: expected a JSON list, got dict"):
        require_list({"items": []}, "/api/bindings")
    assert require_list([{"a": 1}, "junk", None], "x") == [{"a": 1}]


def test_group_by_vhost_reads_nested_consumer_vhosts_and_drops_bad_ones():
    items = [{"vhost": "a"}, {"queue": {"vhost": "b"}}, {"vhost": 3}, {"name": "no vhost"}]
    assert dict(group_by_vhost(items)) == {"a": [items[0]], "b": [items[1]]}
    assert dict(group_by_vhost(items, default="d"))["d"] == [items[3]]
