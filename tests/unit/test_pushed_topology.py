"""Pure parts of the pushed topology: which AMQP port the events are read on, consumer events
laid over reads that do not show them yet, what a reconcile counts as different, how
requests for reads gather between reads, and which read each broker event asks for."""

from __future__ import annotations

from typing import Any

from visualiser.model.entities import BrokerSnapshot, Consumer, Exchange, Queue, VhostSnapshot
from visualiser.sources.broker_events import BrokerEventsSource, amqp_port
from visualiser.sources.poller import _Requests
from visualiser.sources.vhost_refresh import ConsumerEvent, RecentConsumers, differences


def broker(*queues: Queue, consumers: tuple[Consumer, ...] = (), vhost: str = "v") -> BrokerSnapshot:
    return BrokerSnapshot({vhost: VhostSnapshot(vhost, exchanges=(Exchange(""),), queues=queues, consumers=consumers)})


def consumers_of(snapshot: BrokerSnapshot, queue: str, vhost: str = "v") -> int | None:
    found = snapshot.vhosts[vhost].queue(queue)
    assert found is not None
    return found.consumers


def test_the_amqp_port_is_the_answering_nodes() -> None:
    overview = {
        "node": "b@h",
        "listeners": [
            {"node": "a@h", "protocol": "amqp", "port": 5700},
            {"node": "b@h", "protocol": "clustering", "port": 25672},
            {"node": "b@h", "protocol": "amqp", "port": 5673},
        ],
    }
    assert amqp_port(overview) == 5673
    assert amqp_port({"node": "b@h", "listeners": [{"node": "a@h", "protocol": "amqp", "port": 5700}]}) == 5700
    assert amqp_port({"listeners": "garbage"}) == 5672
    assert amqp_port(None) == 5672


def test_a_consumer_not_yet_listed_counts_from_its_event() -> None:
    recent = RecentConsumers(keep_for=10)
    recent.note(ConsumerEvent("v", "q", "tag-1", True, at=100.0))
    read = broker(Queue("q", consumers=0), Queue("other", consumers=2))
    shown = recent.overlay(read, now=101.0)
    assert consumers_of(shown, "q") == 1 and consumers_of(shown, "other") == 2
    # Once the listing shows it, the listing's count stands as it is.
    listed = broker(Queue("q", consumers=1), consumers=(Consumer("q", "tag-1", "ch", "conn"),))
    assert consumers_of(recent.overlay(listed, now=101.0), "q") == 1
    # After a while the listing is trusted whatever it says.
    assert consumers_of(recent.overlay(read, now=111.0), "q") == 0


def test_a_cancelled_consumer_still_listed_is_taken_off() -> None:
    recent = RecentConsumers(keep_for=10)
    recent.note(ConsumerEvent("v", "q", "tag-1", True, at=100.0))
    recent.note(ConsumerEvent("v", "q", "tag-1", False, at=100.5))  # the last word on a consumer wins
    listed = broker(Queue("q", consumers=1), consumers=(Consumer("q", "tag-1", "ch", "conn"),))
    shown = recent.overlay(listed, now=101.0)
    assert consumers_of(shown, "q") == 0 and shown.vhosts["v"].consumers == ()  # its node goes too
    assert consumers_of(recent.overlay(broker(Queue("q", consumers=0)), now=101.0), "q") == 0


def test_an_unknown_count_becomes_at_least_the_events_never_less() -> None:
    recent = RecentConsumers(keep_for=10)
    recent.note(ConsumerEvent("v", "q", "tag-1", True, at=100.0))
    assert consumers_of(recent.overlay(broker(Queue("q", consumers=None)), now=100.0), "q") == 1
    gone = RecentConsumers(keep_for=10)
    gone.note(ConsumerEvent("v", "q", "tag-1", False, at=100.0))
    listed = broker(Queue("q", consumers=None), consumers=(Consumer("q", "tag-1", "ch", "conn"),))
    assert consumers_of(gone.overlay(listed, now=100.0), "q") is None  # unknown is never drawn as zero


def test_a_count_refreshed_since_the_listing_is_not_counted_twice() -> None:
    """Figures are refreshed more often than the consumer listing is read: a queue's count may
    already include the consumer its event announces, while the listing does not show it yet."""
    recent = RecentConsumers(keep_for=10)
    recent.note(ConsumerEvent("v", "q", "tag-2", True, at=100.0))
    one_listed = (Consumer("q", "tag-1", "ch", "conn"),)
    refreshed = broker(Queue("q", consumers=2), consumers=one_listed)  # the count already has tag-2
    assert consumers_of(recent.overlay(refreshed, now=101.0), "q") == 2
    stale = broker(Queue("q", consumers=1), consumers=one_listed)  # the count does not, yet
    assert consumers_of(recent.overlay(stale, now=101.0), "q") == 2
    gone = RecentConsumers(keep_for=10)
    gone.note(ConsumerEvent("v", "q", "tag-1", False, at=100.0))
    both_listed = (*one_listed, Consumer("q", "tag-2", "ch", "conn"))
    assert consumers_of(gone.overlay(broker(Queue("q", consumers=1), consumers=both_listed), now=101.0), "q") == 1
    assert consumers_of(gone.overlay(broker(Queue("q", consumers=2), consumers=both_listed), now=101.0), "q") == 1


def test_differences_count_objects_outside_the_vhosts_changed_meanwhile() -> None:
    kept = BrokerSnapshot(
        {
            "a": VhostSnapshot("a", exchanges=(Exchange(""),), queues=(Queue("q1"),)),
            "b": VhostSnapshot("b", exchanges=(Exchange(""),), queues=(Queue("x"),)),
        }
    )
    read = BrokerSnapshot(
        {
            "a": VhostSnapshot("a", exchanges=(Exchange(""), Exchange("new", "topic")), queues=(Queue("q2"),)),
            "b": VhostSnapshot("b", exchanges=(Exchange(""),), queues=()),
            "c": VhostSnapshot("c", exchanges=(Exchange(""),)),
        }
    )
    # a: q1 gone, q2 and 'new' came (3); b: x gone (1); c: the vhost and its exchange (2).
    assert differences(kept, read, skip=set()) == 6
    assert differences(kept, read, skip={"a", "c"}) == 1
    assert differences(kept, kept, skip=set()) == 0
    # Depths are not topology: a reconcile does not count them.
    deeper = BrokerSnapshot(
        {"a": VhostSnapshot("a", exchanges=(Exchange(""),), queues=(Queue("q1", messages_ready=9),))}
    )
    assert differences(BrokerSnapshot({"a": kept.vhosts["a"]}), deeper, skip=set()) == 0


def test_requests_gather_between_reads_and_tickets_grow() -> None:
    requests = _Requests()
    first = requests.add({"a"}, [])
    second = requests.add({"b"}, [ConsumerEvent("c", "q", "t", True, at=0.0)])
    assert second > first and requests.wake.is_set()
    taken = requests.take()
    assert taken is not None
    vhosts, full, ticket, consumers = taken
    assert vhosts == {"a", "b"} and not full and ticket == second and [e.vhost for e in consumers] == ["c"]
    assert not requests.wake.is_set()
    assert requests.take(hold=True) is None
    third = requests.add({"a"}, [])
    assert requests.changed_since(second) == {"a"}
    assert requests.changed_since(third) == set()
    requests.add(None, [])
    assert requests.changed_since(third) is None  # a full read was asked for meanwhile
    taken = requests.take()
    assert taken is not None and taken[1] is True


class FakePoller:
    def __init__(self) -> None:
        self.asked: list[tuple[Any, list[ConsumerEvent]]] = []
        self.applied = 0

    def request(self, vhosts: Any, consumers: Any = ()) -> int:
        self.asked.append((None if vhosts is None else set(vhosts), list(consumers)))
        return len(self.asked)

    def events_flowing(self, flowing: bool, reason: str = "") -> None:
        pass


class FakeMessage:
    def __init__(self, key: str, headers: dict[str, Any]) -> None:
        self.delivery_info, self.headers, self.acked = {"routing_key": key}, headers, False

    def ack(self, multiple: bool = False) -> None:
        self.acked = multiple


class FakeHub:
    def publish_status(self, status: Any) -> None:
        pass


def source() -> tuple[BrokerEventsSource, FakePoller]:
    poller = FakePoller()
    return BrokerEventsSource(poller, FakeHub(), "http://guest:guest@127.0.0.1:15672"), poller  # type: ignore[arg-type]


def test_each_event_asks_for_the_read_it_needs_and_is_acked_once_that_is_applied() -> None:
    events, poller = source()
    last = FakeMessage("binding.created", {"vhost": "orders"})
    for message in (
        FakeMessage("queue.created", {"vhost": "orders", "name": "q"}),
        FakeMessage("vhost.deleted", {"name": "old"}),
        FakeMessage("consumer.created", {"vhost": "orders", "queue": "q", "consumer_tag": "t"}),
        last,
    ):
        events._on_event(message)
    events.on_iteration()
    ((vhosts, consumers),) = poller.asked
    assert vhosts == {"orders", "old"} and [(c.queue, c.tag, c.created) for c in consumers] == [("q", "t", True)]
    assert not last.acked
    events._on_event(FakeMessage("exchange.created", {"vhost": b"\xff"}))  # a vhost it cannot place
    events.on_iteration()
    assert len(poller.asked) == 1 and not last.acked  # one read at a time: the first is not applied yet
    poller.applied = 1
    events.on_iteration()
    assert last.acked is True
    assert poller.asked[1][0] is None  # the unplaceable event: everything is read
    assert events.counts["received"] == 5


def test_duplicated_and_reordered_events_ask_for_one_read_whose_answer_is_the_truth() -> None:
    """A deletion seen before the creation it follows, the same event twice, an event for a vhost
    the graph has never shown: each only names what to read again, so the read decides."""
    events, poller = source()
    for message in (
        FakeMessage("queue.deleted", {"vhost": "orders", "name": "q"}),
        FakeMessage("queue.created", {"vhost": "orders", "name": "q"}),
        FakeMessage("queue.created", {"vhost": "orders", "name": "q"}),
        FakeMessage("queue.created", {"vhost": "never-seen", "name": "q"}),
    ):
        events._on_event(message)
    events.on_iteration()
    ((vhosts, consumers),) = poller.asked
    assert vhosts == {"orders", "never-seen"} and consumers == []
    assert events.counts["received"] == 4


def test_consumer_events_out_of_order_end_as_the_last_one_said() -> None:
    recent = RecentConsumers()
    recent.note(ConsumerEvent("v", "q", "t", True, at=2.0))
    recent.note(ConsumerEvent("v", "q", "t", False, at=1.0))  # an older cancel, delivered late
    assert consumers_of(recent.overlay(broker(Queue("q", consumers=0)), now=3.0), "q") == 1
    recent.note(ConsumerEvent("v", "q", "t", True, at=2.0))  # and the newer one again
    assert consumers_of(recent.overlay(broker(Queue("q", consumers=0)), now=3.0), "q") == 1
