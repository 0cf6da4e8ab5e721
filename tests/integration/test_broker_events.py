"""Topology pushed by the broker's event exchange, on the real broker (3.10, or 4.0 with
VISUALISER_TEST_BROKER=4.0): with a 30 s poll interval, a queue declared, bound, consumed
and deleted reaches the graph by push, before any poll; an event queue that overflows is
counted and healed by the full read it asks for; without the event exchange the service
says so and polls as before."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import pytest
from kombu import Connection

from tests.brokers import rabbitmq_plugins
from tests.conftest import Rabbit, run_live, stop_live, wait_for
from tests.traffic import BusyQueue
from visualiser.config import Settings
from visualiser.sources.broker_events import CONNECTION_NAME, BrokerEventsSource
from visualiser.sources.broker_events import SOURCE as EVENTS
from visualiser.sources.poller import SOURCE as POLLER
from visualiser.sources.poller import ManagementPoller

pytestmark = pytest.mark.integration

SLOW_POLL = 30.0  # the production interval RabbitMQ recommends: nothing here waits for it


def health(server) -> dict[str, Any]:
    return server.get("/healthz").json()["sources"]


def queue_node(server, vhost: str, name: str) -> dict[str, Any] | None:
    response = server.get("/api/topology", params={"vhost": vhost})
    if response.status_code != 200:
        return None
    return next((n for n in response.json()["nodes"] if n["id"] == f"queue:{name}"), None)


def has_binding(server, vhost: str, exchange: str, queue: str, key: str) -> bool:
    edges = server.get("/api/topology", params={"vhost": vhost}).json()["edges"]
    return any(
        e["kind"] == "binding"
        and e["source"] == f"exchange:{exchange}"
        and e["target"] == f"queue:{queue}"
        and e.get("routing_key") == key
        for e in edges
    )


def the(server, kind: type) -> Any:
    return next(source for source in server.service.sources if isinstance(source, kind))


def connection_named(rabbit: Rabbit, name: str) -> str | None:
    connections = rabbit.call("GET", "connections").json()
    return next(
        (
            c["name"]
            for c in connections
            if (c.get("client_properties") or {}).get("connection_name") == name and c.get("vhost") == "/"
        ),
        None,
    )


def events_flowing(server) -> bool:
    poller = the(server, ManagementPoller)
    return health(server).get(EVENTS, {}).get("state") == "ok" and poller.applied >= 1


def test_a_queue_declared_bound_consumed_and_deleted_arrives_by_push(rabbit: Rabbit) -> None:
    server, _ = run_live(Settings(management_url=rabbit.management_url(), poll_interval=SLOW_POLL))
    try:
        server.wait_for_vhost(rabbit.vhost)
        wait_for(lambda: events_flowing(server), timeout=20, message="events flowing, and the read after subscribing")
        poller = the(server, ManagementPoller)
        polls, refreshes = poller.polls, poller.refreshes
        with Connection(rabbit.amqp_url()) as connection:
            channel = connection.channel()
            channel.queue_declare("pushed", durable=True, auto_delete=False)
            wait_for(lambda: queue_node(server, rabbit.vhost, "pushed"), message="the declared queue")
            channel.queue_bind("pushed", "amq.topic", routing_key="orders.#")
            wait_for(lambda: has_binding(server, rabbit.vhost, "amq.topic", "pushed", "orders.#"), message="binding")
            tag = channel.basic_consume("pushed", callback=lambda message: None)
            wait_for(
                lambda: (queue_node(server, rabbit.vhost, "pushed") or {}).get("consumers") == 1,
                message="the queue's consumer",
            )
            channel.basic_cancel(tag)
            wait_for(
                lambda: (queue_node(server, rabbit.vhost, "pushed") or {}).get("consumers") == 0,
                message="the consumer gone",
            )
            channel.queue_delete("pushed")
            wait_for(lambda: queue_node(server, rabbit.vhost, "pushed") is None, message="the queue gone")
        # Every change above came by push: the poll, 30 s apart, has not run since events began.
        assert poller.polls == polls
        assert poller.refreshes > refreshes
        status = wait_for(
            lambda: "changes pushed by events, checked every 30 s" in (h := health(server)[POLLER])["detail"] and h,
            message="the status line saying so",
        )
        assert status["extra"]["events"] is True
    finally:
        stop_live(server)


def test_an_overflowing_event_queue_is_counted_and_healed_by_a_full_read(rabbit: Rabbit) -> None:
    server, _ = run_live(Settings(management_url=rabbit.management_url(), poll_interval=SLOW_POLL, events_url="off"))
    hub = server.service.hub
    poller = the(server, ManagementPoller)
    # recheck: the exchange is looked for twice a second as well (a disabled plugin deletes it).
    events = BrokerEventsSource(poller, hub, rabbit.management_url(), max_length=5, prefetch=2, recheck=0.5)
    server.service.sources.append(events)
    events.start()
    gate = threading.Event()
    try:
        server.wait_for_vhost(rabbit.vhost)
        wait_for(lambda: events_flowing(server), timeout=20, message="events flowing, and the read after subscribing")
        reconciles = poller.reconcile["reads"]
        with Connection(rabbit.amqp_url()) as connection:
            channel = connection.channel()
            hub.submit(gate.wait)  # the hub stalls: events are acknowledged only once their read is on the graph
            channel.queue_declare("first", durable=True, auto_delete=False)
            # The consumer waits for a read to reach the graph (this one's, or one asked for just
            # before), and the poller has read all it was asked: from now on events only queue up.
            wait_for(lambda: (events.waiting_for or 0) > poller.applied and poller.idle, message="the consumer held")
            names = [f"burst-{i}" for i in range(40)]
            for name in names:  # more than the 2 unacknowledged and 5 queued events the broker holds
                channel.queue_declare(name, durable=True, auto_delete=False)
            wait_for(lambda: events.counts["lost"] > 0, message="events dropped by the full queue, counted")
            gate.set()
            wait_for(
                lambda: all(queue_node(server, rabbit.vhost, n) for n in ["first", *names]),
                timeout=20,
                message="every queue on the graph after the full read",
            )
        assert poller.reconcile["reads"] > reconciles
        assert poller.reconcile["differences"] >= 1
        sources = wait_for(lambda: (h := health(server))[EVENTS]["extra"]["lost"] > 0 and h, message="lost in /healthz")
        assert sources[EVENTS]["extra"]["lost"] <= events.counts["lost"]  # said at most a second late
        assert sources[EVENTS]["state"] == "ok" and events.counts["reconnects"] == 0
        wait_for(lambda: "difference" in health(server)[POLLER]["detail"], message="differences in the status line")
    finally:
        gate.set()
        stop_live(server)


def test_without_the_event_exchange_it_says_so_and_polls(rabbit: Rabbit) -> None:
    """The throwaway vhost has no amq.rabbitmq.event (the plugin publishes to '/'): the broker
    answers the bind as it does when the plugin is off."""
    server, _ = run_live(
        Settings(management_url=rabbit.management_url(), poll_interval=1.0, events_url=rabbit.amqp_url())
    )
    try:
        status = wait_for(
            lambda: health(server).get(EVENTS, {}).get("state") == "off" and health(server)[EVENTS],
            timeout=20,
            message="events off",
        )
        assert "rabbitmq_event_exchange" in status["last_error"]
        assert "rabbitmq-plugins enable rabbitmq_event_exchange" in status["last_error"]
        assert server.get("/healthz").json()["status"] == "ok"  # nothing is wrong: the broker lacks a plugin
        detail = wait_for(
            lambda: "event exchange is not enabled" in (d := health(server)[POLLER]["detail"]) and d,
            message="the status line saying so",
        )
        assert "polled every 1 s" in detail
        rabbit.declare_queue("polled")
        wait_for(lambda: queue_node(server, rabbit.vhost, "polled"), message="the queue, by poll")
        assert health(server)[POLLER]["extra"]["events"] is False
    finally:
        stop_live(server)


@pytest.fixture
def monitoring_user(rabbit: Rabbit) -> Iterator[tuple[str, str]]:
    """A user with the 'monitoring' tag and no rights in the test's vhost (docs/deployment.md)."""
    name, password = f"visualiser-events-{uuid.uuid4().hex[:8]}", uuid.uuid4().hex
    rabbit.call("PUT", "users", name, body={"password": password, "tags": "monitoring"})
    rabbit.call("PUT", "permissions", rabbit.vhost, name, body={"configure": "^$", "write": "^$", "read": "^$"})
    yield name, password
    rabbit.session.delete(rabbit.broker.management + "/api/users/" + quote(name, safe=""), timeout=10)


def test_a_user_without_the_permissions_is_told_which_and_polls(rabbit: Rabbit, monitoring_user) -> None:
    user, password = monitoring_user
    server, _ = run_live(Settings(management_url=rabbit.broker.management_url(user, password), poll_interval=1.0))
    try:
        status = wait_for(
            lambda: health(server).get(EVENTS, {}).get("state") == "off" and health(server)[EVENTS],
            timeout=20,
            message="events off",
        )
        assert "configure on '^visualiser\\.events\\.'" in status["last_error"]
        assert server.get("/healthz").json()["status"] == "ok"
        assert password not in server.get("/healthz").text
        rabbit.declare_queue("polled")
        wait_for(lambda: queue_node(server, rabbit.vhost, "polled"), message="the queue, by poll")
    finally:
        stop_live(server)


def test_the_documented_permissions_are_enough(rabbit: Rabbit, monitoring_user) -> None:
    """docs/deployment.md's set_permissions line for '/', and nothing more."""
    user, password = monitoring_user
    rabbit.call(
        "PUT",
        "permissions",
        "/",
        user,
        body={
            "configure": r"^visualiser\.events\.",
            "write": r"^(visualiser\.events\..*|amq\.default)$",
            "read": r"^(visualiser\.events\..*|amq\.rabbitmq\.event)$",
        },
    )
    server, _ = run_live(Settings(management_url=rabbit.broker.management_url(user, password), poll_interval=SLOW_POLL))
    try:
        server.wait_for_vhost(rabbit.vhost)
        wait_for(lambda: events_flowing(server), timeout=20, message="events flowing for the monitoring user")
        polls = the(server, ManagementPoller).polls
        rabbit.declare_queue("pushed")
        wait_for(lambda: queue_node(server, rabbit.vhost, "pushed"), message="the queue, by push")
        assert the(server, ManagementPoller).polls == polls
    finally:
        stop_live(server)


def test_a_connection_closed_under_it_reconnects_and_the_graph_is_read_whole(rabbit: Rabbit) -> None:
    """An administrator closes the service's connection (its exclusive queue goes with it): the
    consumer reconnects with a new queue, counts the reconnect and asks for a full read, since
    whatever happened meanwhile was not heard."""
    server, _ = run_live(Settings(management_url=rabbit.management_url(), poll_interval=SLOW_POLL))
    try:
        server.wait_for_vhost(rabbit.vhost)
        wait_for(lambda: events_flowing(server), timeout=20, message="events flowing")
        events, poller = the(server, BrokerEventsSource), the(server, ManagementPoller)
        full_reads = poller.full_reads
        ours = f"{CONNECTION_NAME} ({events.queue.name})"  # this service's, not another's on the broker
        wait_for(lambda: connection_named(rabbit, ours), message="the events connection listed")
        rabbit.call("DELETE", "connections", connection_named(rabbit, ours))
        wait_for(lambda: health(server)[EVENTS]["extra"]["reconnects"] == 1, timeout=20, message="a reconnect, counted")
        wait_for(lambda: poller.full_reads > full_reads, message="the full read after subscribing again")
        rabbit.declare_queue("after")
        wait_for(lambda: queue_node(server, rabbit.vhost, "after"), message="the queue, by push again")
        assert poller.polls == 1  # the seed; all else came from events and the reads they asked for
    finally:
        stop_live(server)


def test_on_a_broker_with_statistics_off_changes_arrive_by_push_too(rabbit_nostats: Rabbit) -> None:
    """RabbitMQ 4.0 with management statistics off: the vhost read again takes depths from the
    queue totals, as the full read does. Its management API then lists no AMQP listener, so the
    address is given (the next test: what happens when it is not)."""
    rabbit = rabbit_nostats
    server, _ = run_live(
        Settings(
            management_url=rabbit.management_url(), poll_interval=SLOW_POLL, events_url=rabbit.broker.amqp_url("/")
        )
    )
    try:
        server.wait_for_vhost(rabbit.vhost)
        wait_for(lambda: events_flowing(server), timeout=20, message="events flowing")
        poller = the(server, ManagementPoller)
        polls = poller.polls
        with Connection(rabbit.amqp_url()) as connection:
            channel = connection.channel()
            channel.queue_declare("pushed", durable=True, auto_delete=False)
            node = wait_for(lambda: queue_node(server, rabbit.vhost, "pushed"), message="the declared queue")
            assert node["messages_ready"] == 0  # known (queue totals), not left unknown by the read of one vhost
            channel.queue_bind("pushed", "amq.topic", routing_key="orders.#")
            wait_for(lambda: has_binding(server, rabbit.vhost, "amq.topic", "pushed", "orders.#"), message="binding")
            channel.queue_delete("pushed")
            wait_for(lambda: queue_node(server, rabbit.vhost, "pushed") is None, message="the queue gone")
        assert poller.polls == polls
    finally:
        stop_live(server)


def test_a_guessed_address_reaching_another_broker_is_refused(rabbit_nostats: Rabbit) -> None:
    """Without --events-url and without a listener in the management API's answer, the guess is
    the management host on 5672, where another broker (3.10) answers here: its cluster name is
    not the API's, so the service says so and polls, never following another broker's events."""
    server, _ = run_live(Settings(management_url=rabbit_nostats.management_url(), poll_interval=1.0))
    try:
        status = wait_for(
            lambda: health(server).get(EVENTS, {}).get("state") == "off" and health(server)[EVENTS],
            timeout=20,
            message="events off",
        )
        assert "--events-url" in status["last_error"] and "answers as cluster" in status["last_error"]
        assert the(server, BrokerEventsSource).counts["received"] == 0
        rabbit_nostats.declare_queue("polled")
        wait_for(lambda: queue_node(server, rabbit_nostats.vhost, "polled"), message="the queue, by poll")
    finally:
        stop_live(server)


# ---- between reconciles: figures from the cheapest source ----------------------------------------


def depth_of(server, vhost: str, name: str) -> int | None:
    node = queue_node(server, vhost, name)
    return node["messages_ready"] if node else None


def test_between_reconciles_depths_come_from_the_figures_listing(rabbit: Rabbit) -> None:
    """Statistics on: a depth change reaches the graph from the queue figures listing, with no
    full read in between; the source and age of each figure are in the status."""
    server, _ = run_live(
        Settings(management_url=rabbit.management_url(), poll_interval=1.0, reconcile_interval=SLOW_POLL)
    )
    try:
        server.wait_for_vhost(rabbit.vhost)
        wait_for(lambda: events_flowing(server), timeout=20, message="events flowing")
        rabbit.declare_queue("figures")
        rabbit.bind("amq.direct", "figures", "k")
        wait_for(lambda: depth_of(server, rabbit.vhost, "figures") == 0, timeout=20, message="the queue, pushed")
        poller = the(server, ManagementPoller)
        # Events flowing means a full read has ended since they began: the next is 30 s away.
        full_reads = poller.full_reads
        for _ in range(4):
            rabbit.publish("amq.direct", "k")
        wait_for(lambda: depth_of(server, rabbit.vhost, "figures") == 4, timeout=30, message="the new depth")
        assert poller.full_reads == full_reads  # not a full read: the figures refresh brought it
        assert poller.figure_refreshes > 0
        figures = wait_for(
            lambda: (f := health(server)[POLLER]["extra"]["figures"])["depths"]["at"] > f["topology"]["at"] and f
        )
        # Prometheus (this broker's, covering every queue) between the rate reads, which come from
        # the statistics listings on the broker's statistics tick.
        assert figures["depths"]["source"] in ("management statistics", "Prometheus (rabbit@localhost)")
        assert figures["rates"]["source"] == "management statistics"
        assert figures["topology"]["source"] == "full read of the management API"
        assert f"checked every {SLOW_POLL:g} s" in health(server)[POLLER]["detail"]
    finally:
        stop_live(server)


@pytest.mark.nostats
@pytest.mark.parametrize("prometheus", ["answering", "unreachable"])
def test_with_statistics_off_depths_come_from_prometheus_between_reconciles(
    rabbit_nostats: Rabbit, prometheus: str
) -> None:
    """Prometheus answering: depths, consumer counts and rates from its scrape. Unreachable:
    depths from the queue totals listing instead, consumer counts not refreshed (their age says
    so), and no rates."""
    broker = rabbit_nostats.broker
    server, _ = run_live(
        Settings(
            management_url=rabbit_nostats.management_url(),
            prometheus_url=(broker.prometheus if prometheus == "answering" else "http://127.0.0.1:9",),
            events_url=broker.amqp_url("/"),
            poll_interval=1.0,
            reconcile_interval=SLOW_POLL,
        )
    )
    try:
        server.wait_for_vhost(rabbit_nostats.vhost)
        wait_for(lambda: events_flowing(server), timeout=20, message="events flowing")
        rabbit_nostats.declare_queue("scraped")
        rabbit_nostats.bind("amq.direct", "scraped", "k")
        wait_for(lambda: depth_of(server, rabbit_nostats.vhost, "scraped") == 0, timeout=20, message="the queue")
        poller = the(server, ManagementPoller)
        full_reads = poller.full_reads
        for _ in range(3):
            rabbit_nostats.publish("amq.direct", "k")
        wait_for(lambda: depth_of(server, rabbit_nostats.vhost, "scraped") == 3, timeout=30, message="the new depth")
        assert poller.full_reads == full_reads
        figures = wait_for(
            lambda: (f := health(server)[POLLER]["extra"]["figures"])["depths"]["at"] > f["topology"]["at"] and f
        )
        if prometheus == "answering":
            assert figures["depths"]["source"].startswith("Prometheus (")
            assert figures["consumer_counts"]["source"].startswith("Prometheus (")
            # RabbitMQ 4.0 counts messages in Prometheus: rates from two scrapes' counters
            rates = wait_for(lambda: health(server)[POLLER]["extra"]["figures"].get("rates"), timeout=20)
            assert rates["source"].startswith("Prometheus counters (")
        else:
            assert figures["depths"]["source"] == "queue totals"
            assert "consumer_counts" not in figures  # nobody answered with them
            assert "rates" not in figures  # nobody gives them: not listed, never shown as zero
    finally:
        stop_live(server)


def exchange_node(server, vhost: str, name: str) -> dict[str, Any] | None:
    response = server.get("/api/topology", params={"vhost": vhost})
    return next((n for n in response.json()["nodes"] if n["id"] == f"exchange:{name}"), None)


@pytest.mark.parametrize("statistics", ["on", pytest.param("off", marks=pytest.mark.nostats)])
def test_rates_come_from_prometheus_counters_where_the_broker_counts_messages(
    request: pytest.FixtureRequest, statistics: str
) -> None:
    """RabbitMQ 3.13 and later count messages per queue and exchange in Prometheus, with
    statistics on or off: between reconciles, rates are those counters' change, so a queue
    with traffic shows its rates, and the same queue once quiet shows zero (known, not
    unknown). 3.10 does not count: there, rates come from the statistics listing on its tick."""
    broker_rabbit: Rabbit = request.getfixturevalue("rabbit" if statistics == "on" else "rabbit_nostats")
    broker = broker_rabbit.broker
    server, _ = run_live(
        Settings(
            management_url=broker_rabbit.management_url(),
            prometheus_url=(broker.prometheus,),
            events_url=broker.amqp_url("/"),
            poll_interval=1.0,
            reconcile_interval=SLOW_POLL,
        )
    )
    traffic = None
    try:
        vhost = broker_rabbit.vhost
        server.wait_for_vhost(vhost)
        wait_for(lambda: events_flowing(server), timeout=20, message="events flowing")
        broker_rabbit.declare_queue("busy")
        broker_rabbit.bind("amq.direct", "busy", "busy")
        wait_for(lambda: queue_node(server, vhost, "busy"), timeout=20, message="the queue, pushed")
        traffic = BusyQueue(broker_rabbit.amqp_url(), "busy", "busy")

        def moving(rates: dict[str, float]) -> bool:
            return all(rates.get(name, 0) > 0 for name in ("publish", "deliver_get", "ack"))

        node = wait_for(
            lambda: (n := queue_node(server, vhost, "busy")) and moving(n["rates"]) and n,
            timeout=40,
            message="the busy queue's rates",
        )
        figures = health(server)[POLLER]["extra"]["figures"]
        if broker.counts_messages:
            assert figures["rates"]["source"] == f"Prometheus counters ({broker.node}@localhost)", figures
        else:
            assert figures["rates"]["source"] == "management statistics"
        wait_for(
            lambda: (x := exchange_node(server, vhost, "amq.direct")) and x["rates"].get("publish_in", 0) > 0,
            timeout=20,
            message="the exchange's rate in",
        )
        assert node["rates"]["publish"] < 1000  # messages a second, not the counter itself
        traffic.quiet()
        traffic = None
        # The last deliveries and acks may follow the last publish by a refresh: all three, zero.
        wait_for(
            lambda: (
                (n := queue_node(server, vhost, "busy"))
                and all(n["rates"].get(name) == 0 for name in ("publish", "deliver_get", "ack"))
            ),
            timeout=40,
            message="the quiet queue's rates back to zero (zero, not unknown)",
        )
    finally:
        if traffic is not None:
            traffic.quiet()
        stop_live(server)


# ---- faults: storms, unseen vhosts -------------------------------------------------------------------

STORM = 2000


def queue_count(server, vhost: str) -> int:
    answer = server.get("/api/topology", params={"vhost": vhost})
    return sum(1 for n in answer.json()["nodes"] if n["kind"] == "queue") if answer.status_code == 200 else 0


def test_a_storm_of_declarations_converges_by_push_and_is_counted(rabbit: Rabbit) -> None:
    """Thousands of queues declared in a burst (pipelined over AMQP): the graph holds every one
    well before the 30 s reconcile, and what the events consumer took or lost is counted."""
    server, _ = run_live(Settings(management_url=rabbit.management_url(), poll_interval=SLOW_POLL))
    try:
        server.wait_for_vhost(rabbit.vhost)
        wait_for(lambda: events_flowing(server), timeout=20, message="events flowing")
        full_reads = the(server, ManagementPoller).full_reads
        with Connection(rabbit.amqp_url()) as connection:
            channel = connection.channel()
            for i in range(STORM):
                channel.queue_declare(f"storm-{i:05d}", durable=True, auto_delete=False, nowait=True)
            channel.queue_declare("storm-last", durable=True, auto_delete=False)  # waits for the burst
        wait_for(lambda: queue_count(server, rabbit.vhost) == STORM + 1, timeout=25, message="every queue, pushed")
        events = the(server, BrokerEventsSource).counts
        assert events["received"] + events["lost"] >= STORM  # each one taken, or its loss counted
        health_now = health(server)
        assert health_now[POLLER]["state"] == "ok" and health_now[EVENTS]["state"] == "ok"
        assert the(server, ManagementPoller).full_reads - full_reads <= 2  # reads of the vhost, not polls
    finally:
        stop_live(server)


def test_a_vhost_created_after_start_arrives_by_push(rabbit: Rabbit) -> None:
    server, _ = run_live(Settings(management_url=rabbit.management_url(), poll_interval=SLOW_POLL))
    late = Rabbit(f"{rabbit.vhost}-late", rabbit.broker)
    try:
        server.wait_for_vhost(rabbit.vhost)
        wait_for(lambda: events_flowing(server), timeout=20, message="events flowing")
        late.create_vhost()
        late.declare_queue("born-late")
        wait_for(lambda: queue_node(server, late.vhost, "born-late"), timeout=20, message="the new vhost's queue")
        late.delete_vhost()
        wait_for(
            lambda: late.vhost not in [v["name"] for v in server.get("/api/vhosts").json()],
            timeout=20,
            message="the vhost gone",
        )
    finally:
        late.delete_vhost()
        stop_live(server)


def full_reads_settled(poller: ManagementPoller, for_seconds: float = 3.0) -> bool:
    """No full read for a while: the one that took events up again is done, the next one is 30 s off."""
    before = poller.full_reads
    time.sleep(for_seconds)
    return poller.full_reads == before and not poller.reading


def test_the_plugin_disabled_and_enabled_mid_run_falls_back_to_polling_and_back(rabbit: Rabbit) -> None:
    """Disabling rabbitmq_event_exchange deletes its exchange, and the bindings of our queue with
    it, silently: the service notices, says so, polls at the poll interval, and when the plugin
    is back, takes the events up again on its own."""
    server, _ = run_live(Settings(management_url=rabbit.management_url(), poll_interval=1.0))
    events = the(server, BrokerEventsSource)
    events.recheck = 1.0  # how often it looks for the exchange (and, once gone, looks again)
    poller = the(server, ManagementPoller)
    try:
        wait_for(lambda: events_flowing(server), timeout=30, message="events flowing")
        assert health(server)[POLLER]["extra"]["events"] is True
        rabbitmq_plugins(rabbit.broker, "disable", "rabbitmq_event_exchange")
        try:
            status = wait_for(
                lambda: (s := health(server).get(EVENTS, {})).get("state") == "off" and s,
                timeout=30,
                message="events off",
            )
            assert "rabbitmq-plugins enable rabbitmq_event_exchange" in status["last_error"]
            wait_for(
                lambda: "event exchange is not enabled" in health(server)[POLLER]["detail"],
                message="the status line saying so",
            )
            assert health(server)[POLLER]["extra"]["events"] is False
            rabbit.declare_queue("while-off")
            wait_for(lambda: queue_node(server, rabbit.vhost, "while-off"), timeout=20, message="the queue, by poll")
        finally:
            rabbitmq_plugins(rabbit.broker, "enable", "rabbitmq_event_exchange")
        wait_for(
            lambda: events_flowing(server) and health(server)[POLLER]["extra"]["events"] is True,
            timeout=60,
            message="events flowing again",
        )
        wait_for(lambda: full_reads_settled(poller), timeout=40, message="the full read taking events up again done")
        full_reads = poller.full_reads
        rabbit.declare_queue("pushed-again")
        wait_for(lambda: queue_node(server, rabbit.vhost, "pushed-again"), timeout=20, message="the queue, by push")
        assert poller.full_reads == full_reads  # no full read brought it: an event did
    finally:
        stop_live(server)
