"""Celery task routes, resolved and simulated, against where real Celery sends real tasks.

The app below uses every form of routing Celery accepts. Its queues are declared in a
throwaway vhost; the service (live mode, polling the real broker) answers
/api/celery/tasks; then each task is sent with apply_async and the queues are drained to
see where Celery's messages really landed.
"""

from __future__ import annotations

import re
from dataclasses import replace

import amqp
import pytest
from celery import Celery
from kombu import Connection, Exchange, Queue

from tests.brokers import BROKER
from tests.conftest import MANAGEMENT_URL, Rabbit, wait_for
from visualiser import create_app, service_of
from visualiser.config import Settings

pytestmark = pytest.mark.integration

app = Celery("routing_sample", broker=BROKER.amqp_url("unset"), set_as_current=False)
app.conf.task_queues = [
    Queue("default"),
    Queue("images", Exchange("media", type="topic"), routing_key="image.#"),
    Queue("for_task_high", Exchange("tasks"), routing_key="for_task_high"),
]
app.conf.task_default_queue = "default"


def route_by_function(name, args, kwargs, options, task=None, **kw):
    if name == "sample.by_function":
        return {"queue": "images", "routing_key": "image.resize"}
    return None


class LegacyRouter:
    def route_for_task(self, task, args=None, kwargs=None):
        if task == "sample.by_class":
            return {"exchange": "fanouts", "exchange_type": "fanout", "routing_key": "x"}
        return None


app.conf.task_routes = [
    route_by_function,
    LegacyRouter(),
    {
        "sample.exact": {"queue": "for_task_high"},
        "sample.glob_*": "images",
        re.compile(r"sample\.re_\d+"): {"queue": "default"},
    },
]


def noop() -> None:
    """The body never runs here: only where Celery sends it matters."""


TASKS = ("plain", "exact", "glob_one", "re_42", "by_function", "by_class")
for short in TASKS:
    app.task(name=f"sample.{short}", shared=False)(noop)
app.task(name="sample.own_queue", queue="for_task_high", shared=False)(noop)
app.task(name="sample.nowhere", queue="nowhere", shared=False)(noop)
app.finalize()  # its own tasks only, whatever other apps the suite loads later


def drain(url: str, queues: list[str]) -> dict[str, set[str]]:
    """task name -> the queues its message sits in."""
    landed: dict[str, set[str]] = {}
    with Connection(url) as conn:
        channel = conn.default_channel
        for queue in queues:
            while (message := channel.basic_get(queue, no_ack=True)) is not None:
                landed.setdefault(message.headers["task"], set()).add(queue)
    return landed


def test_celery_routes_match_where_celery_really_sends(rabbit: Rabbit) -> None:
    app.conf.broker_url = rabbit.amqp_url()
    with Connection(rabbit.amqp_url()) as conn:
        for queue in app.amqp.queues.values():
            queue(conn.default_channel).declare()
        Exchange("fanouts", "fanout", durable=False)(conn.default_channel).declare()
    settings = replace(Settings(), management_url=MANAGEMENT_URL, poll_interval=0.5, celery_app=f"{__name__}:app")
    service = service_of(create_app(settings))
    service.start()
    try:
        wait_for(
            lambda: (view := service.hub.view(rabbit.vhost)) and view.entities.queue("images"),
            timeout=60,
            message="the poller to see the vhost",
        )
        client = service.app.test_client()
        answer = client.get("/api/celery/tasks", query_string={"vhost": rabbit.vhost})
        assert answer.status_code == 200, answer.get_json()
        listed = [t["task"] for t in answer.get_json()["tasks"]]
        assert not any(name.startswith("celery.") for name in listed)
        # Shared tasks from elsewhere in the process attach to every app: compare only ours.
        predicted = {t["task"]: t for t in answer.get_json()["tasks"] if t["task"].startswith("sample.")}
        assert set(predicted) == {f"sample.{short}" for short in (*TASKS, "own_queue", "nowhere")}
        # Declared with a queue in task_queues (or created for one), never published through: Celery
        # sends to a direct queue through the default exchange.
        unused = {e["exchange"]: e for e in answer.get_json()["unused_exchanges"]}
        assert set(unused) == {"default", "tasks", "nowhere"}
        assert unused["tasks"]["queues"] == ["for_task_high"] and "default exchange" in unused["tasks"]["note"]

        for name in predicted:
            app.tasks[name].apply_async()
        landed = drain(rabbit.amqp_url(), ["default", "images", "for_task_high", "nowhere"])
    finally:
        service.stop()
        app.close()

    for name, task in predicted.items():
        if name == "sample.nowhere":
            continue  # below: Celery creates its queue on the first send
        assert set(task["queues"]) == landed.get(name, set()), (name, task)
    assert predicted["sample.exact"]["exchange"] == "" and predicted["sample.exact"]["queues"] == ["for_task_high"]
    assert predicted["sample.by_function"]["queues"] == ["images"]
    assert predicted["sample.by_function"]["routing_key"] == "image.resize"
    assert predicted["sample.glob_one"]["exchange"] == "media"
    assert predicted["sample.by_class"]["reaches_queue"] is False
    assert "drop" in predicted["sample.by_class"]["problem"]
    nowhere = predicted["sample.nowhere"]
    assert nowhere["reaches_queue"] is False and "declares it" in nowhere["problem"]
    assert landed["sample.nowhere"] == {"nowhere"}


def test_single_task_route_and_bad_input(rabbit: Rabbit) -> None:
    app.conf.broker_url = rabbit.amqp_url()
    with Connection(rabbit.amqp_url()) as conn:
        for queue in app.amqp.queues.values():
            queue(conn.default_channel).declare()
    settings = replace(Settings(), management_url=MANAGEMENT_URL, poll_interval=0.5, celery_app=f"{__name__}:app")
    service = service_of(create_app(settings))
    service.start()
    try:
        wait_for(lambda: service.hub.view(rabbit.vhost), timeout=60, message="the poller to see the vhost")
        client = service.app.test_client()
        one = client.get("/api/celery/route", query_string={"vhost": rabbit.vhost, "task": "sample.glob_one"})
        assert one.status_code == 200 and one.get_json()["queues"] == ["images"]
        assert one.get_json()["route"]["hops"][0]["from"] == "media"
        unknown = client.get("/api/celery/route", query_string={"vhost": rabbit.vhost, "task": "not.registered"})
        assert unknown.get_json()["registered"] is False and unknown.get_json()["queues"] == ["default"]
        assert client.get("/api/celery/route", query_string={"vhost": rabbit.vhost}).status_code == 400
        assert client.get("/api/celery/route", query_string={"vhost": "nope", "task": "x"}).status_code == 404
        assert client.get("/api/celery/route", query_string={"task": "x" * 600}).status_code == 400
    finally:
        service.stop()
        app.close()


def test_internal_exchange_really_refuses_publishes(rabbit: Rabbit) -> None:
    """The simulator says 'internal: refused'; the broker closes the channel with access-refused."""
    rabbit.declare_exchange("inner", "fanout", internal=True)
    connection = amqp.Connection(host=BROKER.amqp_host, userid="guest", password="guest", virtual_host=rabbit.vhost)
    connection.connect()
    try:
        channel = connection.channel()
        channel.confirm_select()
        try:
            channel.basic_publish(amqp.Message(b"x"), "inner", "")
            channel.queue_declare("after", durable=False, auto_delete=False)  # the refusal arrives by now
            refused = None
        except amqp.exceptions.AccessRefused as exc:
            refused = exc
        assert refused is not None and "internal" in str(refused)
    finally:
        connection.close()
