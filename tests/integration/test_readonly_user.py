"""Which RabbitMQ user is enough for the live source, proved on the real broker.

The 'monitoring' tag alone lists every vhost, connection and consumer, but a vhost's queues,
exchanges and bindings only where the user has permissions. Permissions that match nothing
('^$' for configure, write and read) are enough for that and grant no rights at all: such a
user sees the whole topology and cannot declare, delete, publish or read messages. The
'management' tag does not show other users' connections and consumers, and a user with no
tag is refused with a clear message.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from urllib.parse import quote

import pytest
import requests
from kombu import Connection

from tests.brokers import BROKER
from tests.conftest import AUTH, MANAGEMENT, run_live, stop_live, wait_for
from tests.fixtures.recorded import management_calls
from visualiser.config import Settings
from visualiser.sources.management_api import ManagementClient, Unauthorised

pytestmark = pytest.mark.integration


def admin(method: str, path: str, body=None) -> requests.Response:
    response = requests.request(method, MANAGEMENT + path, json=body, auth=AUTH, timeout=10)
    assert response.status_code < 400, f"{method} {path}: {response.status_code} {response.text[:200]}"
    return response


def all_vhosts() -> set[str]:
    return {v["name"] for v in admin("GET", "/api/vhosts").json()}


@pytest.fixture
def make_user() -> Iterator:
    created: list[str] = []

    def make(tags: str) -> tuple[str, str]:
        name, password = f"visualiser-{tags or 'notag'}-{uuid.uuid4().hex[:8]}", uuid.uuid4().hex
        admin("PUT", f"/api/users/{quote(name, safe='')}", {"password": password, "tags": tags})
        created.append(name)
        return name, password

    yield make
    for name in created:
        requests.delete(f"{MANAGEMENT}/api/users/{quote(name, safe='')}", auth=AUTH, timeout=10)


def client_for(user: str, password: str) -> ManagementClient:
    return ManagementClient(BROKER.management_url(user, password), timeout=10)


def populate(rabbit) -> Connection:
    rabbit.declare_exchange("orders", "topic")
    rabbit.declare_queue("orders.new")
    rabbit.bind("orders", "orders.new", "order.*")
    rabbit.call(
        "PUT",
        "policies",
        rabbit.vhost,
        "limit",
        body={"pattern": "^orders", "apply-to": "queues", "definition": {"max-length": 10}},
    )
    connection = Connection(rabbit.amqp_url(), transport_options={"client_properties": {"connection_name": "ro-test"}})
    connection.channel().basic_consume(queue="orders.new", consumer_tag="ro-consumer", callback=lambda m: None)
    return connection


def grant_nothing(user: str, vhost: str) -> None:
    """rabbitmqctl set_permissions -p VHOST USER '^$' '^$' '^$': access to the vhost, no rights in it."""
    admin(
        "PUT",
        f"/api/permissions/{quote(vhost, safe='')}/{quote(user, safe='')}",
        {"configure": "^$", "write": "^$", "read": "^$"},
    )


def test_monitoring_tag_alone_lists_vhosts_but_not_their_contents(rabbit, make_user):
    user, password = make_user("monitoring")
    assert admin("GET", f"/api/users/{quote(user, safe='')}/permissions").json() == []
    client = client_for(user, password)
    for call in management_calls().values():  # exactly the calls the poller makes: none refused
        client.get(call["path"], call["params"])
    with pytest.raises(Unauthorised):  # the vhost's own listing says why
        client.get(f"/api/queues/{quote(rabbit.vhost, safe='')}", {"columns": "name"})
    snapshot = client.fetch_broker()
    assert rabbit.vhost not in snapshot.vhosts
    assert rabbit.vhost in snapshot.broker["vhosts_without_access"]


def test_monitoring_tag_with_empty_permissions_reads_everything(rabbit, make_user):
    user, password = make_user("monitoring")
    grant_nothing(user, rabbit.vhost)
    consumer_connection = populate(rabbit)
    try:
        client = client_for(user, password)
        for call in management_calls().values():
            client.get(call["path"], call["params"])

        def sees_the_vhost():
            vhost = client.fetch_broker().vhosts.get(rabbit.vhost)
            queue = vhost.queue("orders.new") if vhost else None
            # Queue rows show a new policy on the broker's next statistics tick (5 s).
            return vhost if vhost and vhost.consumers and queue and queue.policy else None

        vhost = wait_for(sees_the_vhost, timeout=30, message="the vhost, its consumer and the queue's policy")
        assert [q.name for q in vhost.queues] == ["orders.new"]
        assert ("orders", "orders.new", "order.*") in {(b.source, b.destination, b.routing_key) for b in vhost.bindings}
        assert vhost.queue("orders.new").policy == "limit" and {p.name for p in vhost.policies} == {"limit"}
        assert [c.consumer_tag for c in vhost.consumers] == ["ro-consumer"]  # another user's consumer
        assert [c.client.get("connection_name") for c in vhost.connections] == ["ro-test"]
    finally:
        consumer_connection.release()


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("PUT", "queues/{v}/sneaky", {"durable": False}),
        ("DELETE", "queues/{v}/orders.new", None),
        ("DELETE", "exchanges/{v}/orders", None),
        (
            "POST",
            "exchanges/{v}/amq.default/publish",
            {"properties": {}, "routing_key": "orders.new", "payload": "x", "payload_encoding": "string"},
        ),
        ("POST", "queues/{v}/orders.new/get", {"count": 1, "ackmode": "ack_requeue_false", "encoding": "auto"}),
        ("PUT", "policies/{v}/takeover", {"pattern": ".*", "definition": {"max-length": 0}}),
    ],
)
def test_that_user_cannot_change_or_read_messages(rabbit, make_user, method, path, body):
    user, password = make_user("monitoring")
    grant_nothing(user, rabbit.vhost)
    rabbit.declare_exchange("orders", "topic")
    rabbit.declare_queue("orders.new")
    url = f"{MANAGEMENT}/api/" + path.format(v=quote(rabbit.vhost, safe=""))
    response = requests.request(method, url, json=body, auth=(user, password), timeout=10)
    refused = response.status_code in (401, 403) or "ACCESS_REFUSED" in response.text
    assert refused, (response.status_code, response.text[:200])
    assert admin("GET", f"/api/queues/{quote(rabbit.vhost, safe='')}/orders.new").json()["name"] == "orders.new"


def test_management_tag_sees_no_other_users_consumers(rabbit, make_user):
    user, password = make_user("management")
    grant_nothing(user, rabbit.vhost)
    consumer_connection = populate(rabbit)
    try:
        wait_for(lambda: admin("GET", f"/api/consumers/{quote(rabbit.vhost, safe='')}").json(), message="consumer")
        vhost = client_for(user, password).fetch_broker().vhosts[rabbit.vhost]
        assert [q.name for q in vhost.queues] == ["orders.new"]
        assert vhost.consumers == () and vhost.connections == ()
    finally:
        consumer_connection.release()


def test_user_without_tags_is_refused_clearly(make_user):
    user, password = make_user("")
    with pytest.raises(Unauthorised) as caught:
        client_for(user, password).fetch_broker()
    assert "401" in str(caught.value) and "'monitoring' tag" in str(caught.value)
    assert password not in str(caught.value)


def test_the_app_runs_live_as_a_monitoring_user(rabbit, make_user):
    user, password = make_user("monitoring")
    grant_nothing(user, rabbit.vhost)
    rabbit.declare_queue("seen-by-monitoring")
    server, _ = run_live(Settings(management_url=BROKER.management_url(user, password), poll_interval=0.5))
    try:

        def queue_ids():
            response = server.get("/api/topology", params={"vhost": rabbit.vhost})
            return response.ok and {n["id"] for n in response.json()["nodes"]}

        wait_for(lambda: "queue:seen-by-monitoring" in (queue_ids() or set()), timeout=20, message="the queue")
        status = server.get("/healthz").json()["sources"]["management-api"]
        assert status["state"] == "ok" and "/" in status["extra"]["vhosts_without_access"]
        assert password not in server.get("/healthz").text
    finally:
        stop_live(server)
