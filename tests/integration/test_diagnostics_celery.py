"""The Celery rules against real workers on a throwaway vhost: a worker that dies leaving
its queue unconsumed, tasks that wait behind a busy worker or run long, and a task route
that reaches no queue. The Celery app is written for the test, with a task that sleeps."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import MANAGEMENT_URL, Rabbit, wait_for
from visualiser import Service, create_app, service_of
from visualiser.config import Settings

pytestmark = pytest.mark.integration

BIN = Path(__file__).resolve().parents[2] / ".venv" / "bin"
CEILING = 120
APP_SOURCE = textwrap.dedent('''
    """A Celery app for the diagnostics tests."""
    import os
    import time

    from celery import Celery

    app = Celery("diagapp", broker=os.environ["CELERY_BROKER_URL"])
    app.conf.update(
        task_default_queue="slow",
        task_send_sent_event=True,
        worker_send_task_events=True,
        worker_prefetch_multiplier=4,
        task_ignore_result=True,
        broker_connection_retry_on_startup=True,
        task_routes={"diagapp.lost": {"exchange": "nowhere", "exchange_type": "direct", "routing_key": "lost"}},
    )


    @app.task(name="diagapp.hold")
    def hold(seconds):
        time.sleep(seconds)


    @app.task(name="diagapp.lost")
    def lost():
        return None
''')


class Worker:
    """One Celery worker subprocess of the test app, killed at teardown whatever happens."""

    def __init__(self, app_dir: Path, broker_url: str, hostname: str):
        self.app_dir, self.hostname = app_dir, hostname
        self.env = dict(os.environ, CELERY_BROKER_URL=broker_url, PYTHONPATH=str(app_dir))
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [
                str(BIN / "celery"),
                "-A",
                "diagapp.app",
                "worker",
                "-E",
                "-n",
                self.hostname,
                "-Q",
                "slow",
                "-P",
                "threads",
                "-c",
                "1",
                "-l",
                "warning",
                "--without-mingle",
                "--without-gossip",
            ],
            cwd=self.app_dir,
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(30)

    def send(self, *calls: tuple[str, tuple]) -> None:
        script = "from diagapp.app import app\n" + "".join(
            f"app.send_task({name!r}, args={args!r})\n" for name, args in calls
        )
        subprocess.run([str(BIN / "python"), "-c", script], cwd=self.app_dir, env=self.env, check=True, timeout=60)


def forget_app_modules() -> None:
    for name in [n for n in sys.modules if n == "diagapp" or n.startswith("diagapp.")]:
        del sys.modules[name]


@pytest.fixture
def app_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    package = tmp_path / "diagapp"
    package.mkdir()
    (package / "__init__.py").write_text('"""Test Celery app."""\n')
    (package / "app.py").write_text(APP_SOURCE)
    monkeypatch.syspath_prepend(str(tmp_path))  # --celery-app imports it in this process too
    forget_app_modules()  # each test's app points at its own vhost
    yield tmp_path
    forget_app_modules()


@pytest.fixture
def worker(app_dir: Path, rabbit: Rabbit) -> Iterator[Worker]:
    started = Worker(app_dir, rabbit.amqp_url(), f"diag-{uuid.uuid4().hex[:6]}@test")
    yield started
    started.kill()


@pytest.fixture
def service(rabbit: Rabbit, app_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Service]:
    monkeypatch.setenv("CELERY_BROKER_URL", rabbit.amqp_url())
    settings = Settings(
        management_url=MANAGEMENT_URL,
        poll_interval=0.5,
        request_timeout=30,
        backoff_cap=2.0,
        broker_url=rabbit.amqp_url(),
        celery_app="diagapp.app:app",
        diagnostics={"received_not_started": 2, "started_not_finished": 3},
    )
    svc = service_of(create_app(settings))
    svc.start()
    yield svc
    svc.stop()


def finding(svc: Service, vhost: str, rule: str, node: str) -> dict[str, Any] | None:
    response = svc.app.test_client().get("/api/diagnostics", query_string={"vhost": vhost})
    found = response.get_json()["findings"] if response.status_code == 200 else []
    return next((f for f in found if f["rule"] == rule and f["node"] == node), None)


def test_tasks_waiting_and_running_long_on_a_busy_worker(service: Service, rabbit: Rabbit, worker: Worker) -> None:
    worker.start()
    node = f"worker:{worker.hostname}"
    wait_for(
        lambda: service.hub.view(rabbit.vhost) and node in service.hub.view(rabbit.vhost).graph.nodes,
        CEILING,
        0.25,
        "the worker on the graph",
    )
    worker.send(*[("diagapp.hold", (8,))] * 3)  # one runs, two wait behind it (-c 1, prefetch 4)
    waiting = wait_for(
        lambda: finding(service, rabbit.vhost, "tasks-not-started", node),
        CEILING,
        0.25,
        "tasks received but not started",
    )
    assert "'diagapp.hold'" in waiting["message"] and "saturated" in waiting["message"]
    running = wait_for(
        lambda: finding(service, rabbit.vhost, "tasks-running-long", node), CEILING, 0.25, "a task running long"
    )
    assert "started but not finished" in running["message"]
    for rule in ("tasks-not-started", "tasks-running-long"):  # all three finish within ~24 s
        wait_for(lambda rule=rule: finding(service, rabbit.vhost, rule, node) is None, CEILING, 0.5, f"{rule} to clear")


def test_worker_offline_leaves_its_queue_unconsumed(service: Service, rabbit: Rabbit, worker: Worker) -> None:
    worker.start()
    node = f"worker:{worker.hostname}"

    def online() -> bool:
        view = service.hub.view(rabbit.vhost)
        found = view.graph.nodes.get(node) if view else None
        return bool(found and found["online"] and "slow" in found["queues"])

    wait_for(online, CEILING, 0.25, "the worker online, consuming 'slow'")
    worker.kill()
    found = wait_for(lambda: finding(service, rabbit.vhost, "worker-offline", node), CEILING, 0.25, "worker-offline")
    assert found["severity"] == "critical" and "'slow'" in found["message"]
    worker.start()  # same hostname: back online
    wait_for(
        lambda: finding(service, rabbit.vhost, "worker-offline", node) is None, CEILING, 0.25, "worker-offline to clear"
    )


def test_celery_task_route_reaching_no_queue(service: Service, rabbit: Rabbit) -> None:
    found = wait_for(
        lambda: finding(service, rabbit.vhost, "task-route-unroutable", "exchange:nowhere"),
        CEILING,
        0.25,
        "the lost task's route",
    )
    assert "'diagapp.lost'" in found["message"] and "no queue" in found["message"]
    rabbit.declare_exchange("nowhere", "direct")
    rabbit.declare_queue("found")
    rabbit.bind("nowhere", "found", "lost")
    wait_for(
        lambda: finding(service, rabbit.vhost, "task-route-unroutable", "exchange:nowhere") is None,
        CEILING,
        0.25,
        "the route to reach a queue",
    )
