"""Which RabbitMQ user is enough for the live source, proved on the real broker.

A user with the 'monitoring' tag and no vhost permissions at all can make every call the
poller makes and sees every vhost, every connection and every consumer, yet cannot change
anything. The 'management' tag is not enough (it sees only vhosts it has permissions on, so
with none it sees an empty broker), and a user with no tag is refused with a clear message.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from urllib.parse import quote

import pytest
import requests
from kombu import Connection

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
    return ManagementClient(f"http://{quote(user, safe='')}:{password}@127.0.0.1:15672", timeout=10)


def populate(rabbit) -> Connection:
    rabbit.declare_exchange("orders", "topic")
    rabbit.declare_queue("orders.new")
    rabbit.bind("orders", "orders.new", "order.*")
    rabbit.call("PUT", "policies", rabbit.vhost, "limit", body={"pattern": "^orders", "apply-to": "queues",
                                                                 "definition": {"max-length": 10}})
    connection = Connection(rabbit.amqp_url(), transport_options={"client_properties": {"connection_name": "ro-test"}})
    connection.channel().basic_consume(queue="orders.new", consumer_tag="ro-consumer", callback=lambda m: None)
    return connection


def test_monitoring_tag_without_permissions_reads_everything(rabbit, make_user):
    user, password = make_user("monitoring")
    permissions = admin("GET", f"/api/users/{quote(user, safe='')}/permissions").json()
    assert permissions == []  # no configure, write or read anywhere
    consumer_connection = populate(rabbit)
    try:
        client = client_for(user, password)
        for call in management_calls().values():  # exactly the calls the poller makes
            client.get(call["path"], call["params"])

        def sees_everything():
            before = all_vhosts()
            snapshot = client.fetch_broker()
            vhost = snapshot.vhosts.get(rabbit.vhost)
            return snapshot if before & all_vhosts() <= set(snapshot.vhosts) and vhost and vhost.consumers else None

        snapshot = wait_for(sees_everything, timeout=20, message="every vhost and the consumer")
        vhost = snapshot.vhosts[rabbit.vhost]
        assert [c.consumer_tag for c in vhost.consumers] == ["ro-consumer"]
        assert [c.client.get("connection_name") for c in vhost.connections] == ["ro-test"]
        assert vhost.queue("orders.new").policy == "limit"
        assert {p.name for p in vhost.policies} == {"limit"}
        assert "/" in snapshot.vhosts and snapshot.broker["rabbitmq_version"]
    finally:
        consumer_connection.release()


def test_monitoring_user_cannot_change_anything(rabbit, make_user):
    user, password = make_user("monitoring")
    url = f"{MANAGEMENT}/api/queues/{quote(rabbit.vhost, safe='')}/sneaky"
    response = requests.put(url, json={"durable": False}, auth=(user, password), timeout=10)
    assert response.status_code in (401, 403)
    assert requests.get(url, auth=AUTH, timeout=10).status_code == 404


def test_management_tag_without_permissions_sees_an_empty_broker(rabbit, make_user):
    user, password = make_user("management")
    snapshot = client_for(user, password).fetch_broker()
    assert snapshot.vhosts == {} and rabbit.vhost in all_vhosts()


def test_user_without_tags_is_refused_clearly(make_user):
    user, password = make_user("")
    with pytest.raises(Unauthorised) as caught:
        client_for(user, password).fetch_broker()
    assert "401" in str(caught.value) and "'monitoring' tag" in str(caught.value)
    assert password not in str(caught.value)


def test_the_app_runs_live_as_a_monitoring_user(rabbit, make_user):
    user, password = make_user("monitoring")
    rabbit.declare_queue("seen-by-monitoring")
    server, _ = run_live(Settings(management_url=f"http://{user}:{password}@127.0.0.1:15672", poll_interval=0.5))
    try:
        def queue_ids():
            response = server.get("/api/topology", params={"vhost": rabbit.vhost})
            return response.ok and {n["id"] for n in response.json()["nodes"]}

        wait_for(lambda: "queue:seen-by-monitoring" in (queue_ids() or set()), timeout=20, message="the queue")
        assert server.get("/healthz").json()["sources"]["management-api"]["state"] == "ok"
        assert password not in server.get("/healthz").text
    finally:
        stop_live(server)
