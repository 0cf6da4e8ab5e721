"""Real Celery workers on a throwaway vhost: tasks on the right edges and workers, failures,
retries, workers going offline, and hostile event messages that must not stop the consumer."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import socketio
from kombu import Connection, Exchange, Producer

from tests.celery_support import worker_args
from tests.conftest import MANAGEMENT_URL, LiveServer, Rabbit, run_live, stop_live, wait_for
from visualiser.config import Settings

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "celery_project"
BIN = ROOT / ".venv" / "bin"


class Workers:
    """Celery worker subprocesses of the example project, stopped at teardown whatever happens."""

    def __init__(self, broker_url: str):
        self.env = dict(os.environ, CELERY_BROKER_URL=broker_url, PYTHONPATH=str(EXAMPLE))
        self.procs: dict[str, subprocess.Popen] = {}
        self.suffix = uuid.uuid4().hex[:6]

    def start(self, name: str, queues: str) -> str:
        hostname = f"{name}-{self.suffix}@test"
        self.procs[hostname] = subprocess.Popen(
            [str(BIN / "celery"), *worker_args(hostname, queues)],
            cwd=EXAMPLE,
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        return hostname

    def signal(self, hostname: str, sig: int) -> None:
        self.procs[hostname].send_signal(sig)
        self.procs[hostname].wait(30)

    def produce(self, count: int) -> None:
        subprocess.run(
            [str(BIN / "python"), "producer.py", "--count", str(count), "--rate", "20"],
            cwd=EXAMPLE,
            env=self.env,
            check=True,
            timeout=120,
            stdout=subprocess.DEVNULL,
        )

    def stop_all(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.kill()
                proc.wait(30)


def celery_settings(rabbit: Rabbit) -> Settings:
    return Settings(broker_url=rabbit.amqp_url(), management_url=MANAGEMENT_URL, poll_interval=1.0, backoff_cap=2.0)


@pytest.fixture
def live(rabbit: Rabbit) -> Iterator[LiveServer]:
    server, _thread = run_live(celery_settings(rabbit))
    yield server
    stop_live(server)


@pytest.fixture
def workers(rabbit: Rabbit) -> Iterator[Workers]:
    started = Workers(rabbit.amqp_url())
    yield started
    started.stop_all()


def worker_named(server: LiveServer, hostname: str) -> dict | None:
    return next((w for w in server.get("/api/workers").json() if w["hostname"] == hostname), None)


def topology(server: LiveServer, vhost: str) -> dict:
    """The vhost's graph, once the management API poll has seen the vhost."""
    return wait_for(
        lambda: (lambda t: t if "nodes" in t else None)(server.get("/api/topology", params={"vhost": vhost}).json()),
        120,
        message=f"vhost {vhost} polled",
    )


def activity_listener(server: LiveServer, vhost: str) -> tuple[socketio.Client, list[dict]]:
    frames: list[dict] = []
    client = socketio.Client(reconnection=False)
    client.on("activity", frames.append)
    client.connect(server.url, transports=["websocket"], wait_timeout=10)
    client.emit("subscribe", {"vhost": vhost})
    return client, frames


def test_tasks_on_two_queues_show_on_the_right_edges_and_workers(live, workers, rabbit):
    payments = workers.start("payments", "payments")
    misc = workers.start("misc", "emails,sync,reports")
    wait_for(
        lambda: all((worker_named(live, h) or {}).get("online") for h in (payments, misc)),
        60,
        message="both workers online",
    )
    client, frames = activity_listener(live, rabbit.vhost)
    try:
        workers.produce(20)
        wait_for(
            lambda: (
                len(
                    live.get(
                        "/api/tasks", params={"limit": 1000, "name": "shop.tasks.send_receipt", "state": "succeeded"}
                    ).json()
                )
                == 20
            ),
            60,
            message="every receipt sent",
        )
        wait_for(
            lambda: (
                len(
                    live.get(
                        "/api/tasks", params={"limit": 1000, "name": "shop.tasks.charge_card", "state": "succeeded"}
                    ).json()
                )
                == 20
            ),
            60,
            message="every card charged",
        )
        tasks = live.get("/api/tasks?limit=1000").json()
        assert {(t["queue"], t["worker"]) for t in tasks if t["name"] == "shop.tasks.charge_card"} == {
            ("payments", payments)
        }
        assert {(t["queue"], t["worker"]) for t in tasks if t["name"] == "shop.tasks.send_receipt"} == {
            ("emails", misc)
        }

        def linked() -> set[tuple[str, str]]:
            return {(e["source"], e["target"]) for e in topology(live, rabbit.vhost)["edges"] if e.get("worker")}

        wait_for(
            lambda: {("queue:payments", f"worker:{payments}"), ("queue:emails", f"worker:{misc}")} <= linked(),
            20,
            message="queue → worker edges",
        )
        assert ("queue:payments", f"worker:{misc}") not in linked()
        seen = wait_for(lambda: {e for f in frames for e in f["edges"]}, 20, message="activity frames")
        assert f"consumes:worker:{payments}\npayments" in seen and f"consumes:worker:{misc}\nemails" in seen
        assert all(len(f["samples"]) <= 12 for f in frames)
    finally:
        client.disconnect()


def test_a_real_workers_connection_folds_into_its_node(live, workers, rabbit):
    """The broker shows the worker's connection with a consumer per queue (Celery's tags,
    "None1"…) and its pidbox: on the graph that is one worker node, one edge per queue."""
    hostname = workers.start("folded", "payments,emails")
    worker_id = f"worker:{hostname}"

    def folded() -> tuple[dict, dict] | None:
        graph = topology(live, rabbit.vhost)
        worker = next((n for n in graph["nodes"] if n["id"] == worker_id), None)
        queues = {c["queue"] for c in (worker or {}).get("consumers", [])}
        return (graph, worker) if {"payments", "emails"} <= queues else None

    graph, worker = wait_for(folded, 90, message="the worker's consumers folded into its node")
    pidbox = f"{hostname}.celery.pidbox"
    assert pidbox in {c["queue"] for c in worker["consumers"]}
    assert all(c["consumer_tag"] and c["channel"] and isinstance(c["prefetch_count"], int) for c in worker["consumers"])
    assert worker["connection"] and f"connection:{worker['connection']}" not in {n["id"] for n in graph["nodes"]}
    assert not [n for n in graph["nodes"] if n["kind"] == "consumer" and n["queue"] in ("payments", "emails", pidbox)]
    assert {e["source"] for e in graph["edges"] if e["target"] == worker_id} == {"queue:payments", "queue:emails"}


def test_failing_and_retried_tasks_show_as_such(live, workers, rabbit):
    misc = workers.start("misc", "emails,sync,reports")
    wait_for(lambda: (worker_named(live, misc) or {}).get("online"), 60, message="worker online")
    workers.produce(20)  # one nightly_report (always fails), four sync_stock (fail once, retry, succeed)
    failed = wait_for(lambda: live.get("/api/tasks?state=failed").json(), 60, message="a failed task")
    assert failed[0]["name"] == "shop.tasks.nightly_report" and failed[0]["worker"] == misc
    assert "FileNotFoundError" in failed[0]["exception"]
    synced = wait_for(
        lambda: [
            t for t in live.get("/api/tasks?limit=1000&name=shop.tasks.sync_stock").json() if t["state"] == "succeeded"
        ],
        30,
        message="a retried task succeeding",
    )
    assert all(t["retries"] >= 1 for t in synced)
    stats = wait_for(lambda: live.get("/api/celery").json()["task_names"].get("shop.tasks.sync_stock"), 10)
    assert stats["counts"]["retried"] >= 1
    # The worker's node carries its counts from the next graph the hub builds (not at once).
    wait_for(
        lambda: (
            (n := next(n for n in topology(live, rabbit.vhost)["nodes"] if n["id"] == f"worker:{misc}"))["failed"] >= 1
            and n["retried"] >= 1
        ),
        15,
        message="the worker's failed and retried counts on the graph",
    )

    # The drill-down and the failures a person reads: a real worker's events, in order.
    report = live.get(f"/api/tasks/{failed[0]['uuid']}").json()
    steps = [step["state"] for step in report["timeline"]]
    assert steps[-1] == "failed" and "started" in steps and report["traceback"].startswith("Traceback")
    retried = live.get(f"/api/tasks/{synced[0]['uuid']}").json()
    assert [s["state"] for s in retried["timeline"]].count("started") == 2
    groups = live.get("/api/failures").json()["groups"]
    assert [(g["type"], g["names"]) for g in groups] == [("FileNotFoundError", ["shop.tasks.nightly_report"])]
    assert failed[0]["uuid"] in groups[0]["tasks"]


def test_a_killed_worker_goes_offline_within_three_heartbeats(live, workers):
    doomed = workers.start("doomed", "payments")
    survivor = workers.start("survivor", "emails")
    wait_for(lambda: all((worker_named(live, h) or {}).get("online") for h in (doomed, survivor)), 60)
    wait_for(lambda: (worker_named(live, doomed) or {}).get("last_heartbeat"), 10, message="a heartbeat")
    workers.signal(doomed, signal.SIGKILL)  # no goodbye: only missing heartbeats tell
    gone = wait_for(
        lambda: (lambda w: w if w and not w["online"] else None)(worker_named(live, doomed)),
        60,
        message="killed worker offline",
    )
    assert gone["offline_since"] - gone["last_heartbeat"] <= 3 * gone["freq"]
    assert worker_named(live, survivor)["online"]
    workers.signal(survivor, signal.SIGTERM)  # graceful: worker-offline at once
    wait_for(lambda: not worker_named(live, survivor)["online"], 60, message="stopped worker offline")


HOSTILE = [
    ({"type": "worker-heartbeat", "hostname": 5}, "application/json"),
    ({"type": "task-succeeded", "hostname": "w"}, "application/json"),
    ({"type": "task-progress", "uuid": "u", "hostname": "w"}, "application/json"),
    ([{"type": "task-sent", "uuid": "u", "args": "x" * 70_000}], "application/json"),
    ("not an event", "application/json"),
]


def test_hostile_messages_are_counted_and_dropped_while_good_ones_flow(live, rabbit):
    def dropped() -> float:
        return live.service.hub.metrics.counter("visualiser_celery_events_dropped_total")

    wait_for(
        lambda: (
            (live.service.hub.statuses().get("celery-events") or {})
            and live.service.hub.statuses()["celery-events"].state == "ok"
        ),
        20,
        message="consumer up",
    )
    with Connection(rabbit.amqp_url()) as conn:
        producer = Producer(conn.channel(), exchange=Exchange("celeryev", type="topic"))
        for body, content_type in HOSTILE:
            producer.publish(
                json.dumps(body), routing_key="task.x", content_type=content_type, content_encoding="utf-8"
            )
        producer.publish(
            b"\x80\x04K\x01.",
            routing_key="task.x",
            content_type="application/x-python-serialize",
            content_encoding="binary",
        )
        producer.publish(
            b'{"type": "task-sent", "uuid": "bad\\udc00", "name": "x"}',
            routing_key="task.sent",
            content_type="application/json",
            content_encoding="utf-8",
        )
        good = {"type": "worker-online", "hostname": "after-the-storm@test", "freq": 2.0, "timestamp": 1.0}
        producer.publish(
            json.dumps(good), routing_key="worker.online", content_type="application/json", content_encoding="utf-8"
        )
    wait_for(lambda: worker_named(live, "after-the-storm@test"), 20, message="the good event after the bad ones")
    metrics = live.get("/metrics").text
    assert dropped() == len(HOSTILE) + 2, metrics
    metrics = live.get("/metrics").text
    for reason in (
        "bad_field",
        "missing_field",
        "unknown_type",
        "oversized",
        "not_object",
        "content_type",
        "surrogates",
    ):
        assert f'visualiser_celery_events_dropped_total{{reason="{reason}"}}' in metrics
    assert 'visualiser_celery_events_total{type="worker-online"} 1' in metrics
    assert live.service.hub.statuses()["celery-events"].state == "ok"


def test_inspect_is_opt_in_and_learns_queues_and_pool(rabbit, workers):
    from dataclasses import replace

    from celery import Celery

    from visualiser.celery.inspect import InspectPoller

    quiet, _ = run_live(celery_settings(rabbit))
    try:
        assert not any(isinstance(s, InspectPoller) for s in quiet.service.sources)  # nothing broadcast by default
    finally:
        stop_live(quiet)
    server, _ = run_live(replace(celery_settings(rabbit), inspect=True))
    try:
        [poller] = [s for s in server.service.sources if isinstance(s, InspectPoller)]
        hostname = workers.start("inspected", "payments,emails")
        wait_for(lambda: (worker_named(server, hostname) or {}).get("online"), 60, message="worker online")
        inspector = Celery("inspect-test", broker=rabbit.amqp_url(), set_as_current=False)

        def asked() -> dict | None:
            poller.poll(inspector)  # a broadcast; replies may be slow on a busy machine, so ask again
            worker = worker_named(server, hostname) or {}
            return worker if worker.get("pool") and worker["queue_sources"].get("payments") == "inspect" else None

        worker = wait_for(asked, 60, interval=1.0, message="inspect replies")
        assert worker["pool"] == 2
        assert worker["queue_sources"]["emails"] == "inspect"
    finally:
        stop_live(server)
