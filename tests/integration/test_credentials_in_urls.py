"""Passwords in --broker-url and --management-url, against the real broker and the real entry point.

* A kombu failover broker URL (``;`` or ``,`` between URLs) whose first host is unreachable
  and whose second is the real broker: events arrive through the second, and neither
  password appears in /healthz, any /api/* answer, the page, /metrics, socket frames or
  the service's log (start-up line included).
* A user whose password holds reserved characters: percent-encoded, the graph loads and
  Celery events arrive; unencoded, start-up stops with exit status 2 and one line that
  names the fix and repeats no part of the password.
"""

from __future__ import annotations

import base64
import json
import os
import random
import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
import requests

from tests.brokers import BROKER
from tests.conftest import AUTH, MANAGEMENT, MANAGEMENT_URL, Rabbit, free_port, wait_for
from tests.integration.test_celery_events_queue import send_task_events
from tests.integration.test_celery_permissions import DOCUMENTED
from tests.integration.test_resync import GraphClient

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
RESERVED = "p@ss:w/rd#?%"
API_PATHS = [
    "/",
    "/healthz",
    "/metrics",
    "/api/vhosts",
    "/api/workers",
    "/api/tasks",
    "/api/celery",
    "/api/diagnostics",
    "/api/celery/tasks",
    "/api/vocabulary",
]


def admin(method: str, path: str, body: Any = None) -> requests.Response:
    response = requests.request(method, MANAGEMENT + path, json=body, auth=AUTH, timeout=10)
    assert response.status_code < 400, f"{method} {path}: {response.status_code} {response.text[:200]}"
    return response


@contextmanager
def broker_user(rabbit: Rabbit, password: str, tags: str = "") -> Iterator[str]:
    """A user with the Celery events permissions on the throwaway vhost (and `tags`)."""
    name = f"visualiser-url-{uuid.uuid4().hex[:8]}"
    admin("PUT", f"/api/users/{quote(name, safe='')}", {"password": password, "tags": tags})
    admin("PUT", f"/api/permissions/{quote(rabbit.vhost, safe='')}/{quote(name, safe='')}", DOCUMENTED)
    try:
        yield name
    finally:
        requests.delete(f"{MANAGEMENT}/api/users/{quote(name, safe='')}", auth=AUTH, timeout=10)


@dataclass
class RunningApp:
    url: str
    process: subprocess.Popen[bytes]
    log_path: Path

    def get(self, path: str, **kwargs: Any) -> requests.Response:
        return requests.get(self.url + path, timeout=10, **kwargs)

    def source_state(self, source: str) -> str | None:
        return self.get("/healthz").json()["sources"].get(source, {}).get("state")

    def stop(self) -> str:
        """Stop it and return everything it wrote (its log)."""
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=20)
        return self.log_path.read_text(encoding="utf-8", errors="replace")


@contextmanager
def app_process(tmp_path: Path, *args: str) -> Iterator[RunningApp]:
    """app.py as an operator runs it, on a free port, its stdout and stderr in one log file."""
    port = free_port()
    log_path = tmp_path / f"app-{port}.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("VISUALISER_")}
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [sys.executable, "app.py", "--port", str(port), "--poll-interval", "1", "--log-level", "DEBUG", *args],
            cwd=ROOT,
            stdout=log,
            stderr=log,
            env=env,
        )
    running = RunningApp(f"http://127.0.0.1:{port}", process, log_path)

    def answering() -> bool:
        assert process.poll() is None, running.log_path.read_text(errors="replace")[-2000:]
        try:
            return running.get("/healthz").ok
        except requests.ConnectionError:
            return False

    try:
        wait_for(answering, 30, message="app.py answering /healthz")
        yield running
    finally:
        running.stop()


def forms_of(user: str, password: str) -> set[str]:
    """The password as written, percent-encoded, and inside a basic-auth header."""
    return {password, quote(password, safe=""), base64.b64encode(f"{user}:{password}".encode()).decode()}


def everything_shown(app: RunningApp, vhost: str, client: GraphClient) -> dict[str, str]:
    shown = {path: app.get(path).text for path in API_PATHS}
    shown["topology"] = app.get("/api/topology", params={"vhost": vhost}).text
    shown["socket frames"] = json.dumps(client.received, default=str)
    return shown


def tasks_seen(app: RunningApp) -> set[str]:
    body = app.get("/api/tasks").json()
    rows = body.get("tasks", body) if isinstance(body, dict) else body
    return {row.get("uuid") or row.get("id") for row in rows if isinstance(row, dict)}


# ---- a failover broker URL ---------------------------------------------------------------------


@pytest.mark.parametrize("separator", [";", ","])
def test_a_failover_broker_url_shows_no_password_anywhere(rabbit: Rabbit, tmp_path: Path, separator: str) -> None:
    first, second = f"first-{uuid.uuid4().hex}", f"second-{uuid.uuid4().hex}"
    rabbit.declare_queue("billing")
    with broker_user(rabbit, second) as user:
        vhost = quote(rabbit.vhost, safe="")
        dead_port = free_port()  # nothing listens there: kombu moves on to the second URL
        failover = (
            f"amqp://{user}:{first}@127.0.0.1:{dead_port}/{vhost}{separator}"
            f"amqp://{user}:{second}@{BROKER.amqp_host}/{vhost}"
        )
        with app_process(tmp_path, "--management-url", MANAGEMENT_URL, "--broker-url", failover) as app:
            wait_for(lambda: app.source_state("celery-events") == "ok", 30, message="events through the second URL")
            sent = send_task_events(rabbit, 3)
            wait_for(lambda: set(sent) <= tasks_seen(app), 30, message="the events on /api/tasks")
            client = GraphClient(app.url, rabbit.vhost).connect()
            wait_for(lambda: client.statuses, message="a status frame")
            detail = app.get("/healthz").json()["sources"]["celery-events"]["detail"]
            shown = everything_shown(app, rabbit.vhost, client)
            client.disconnect()
            log = app.stop()
    assert detail == (
        f"amqp://{user}:***@127.0.0.1:{dead_port}/{vhost}{separator}amqp://{user}:***@{BROKER.amqp_host}/{vhost}"
    )
    assert f"amqp://{user}:***@{BROKER.amqp_host}/{vhost}" in log  # the start-up line, redacted
    shown["log"] = log
    for where, text in shown.items():
        for secret in forms_of(user, first) | forms_of(user, second):
            assert secret not in text, f"a password leaked in {where}"


# ---- a password with reserved characters ------------------------------------------------------


@pytest.fixture
def reserved_user(rabbit: Rabbit) -> Iterator[tuple[str, str]]:
    # Unique per run, in letters that no word of the error message holds (checked piece by piece below).
    password = RESERVED + "".join(random.choice("GHJKMNPQSVWXYZ") for _ in range(8))
    with broker_user(rabbit, password, tags="monitoring") as user:
        yield user, password


def test_percent_encoded_reserved_characters_work_for_both_urls(rabbit: Rabbit, reserved_user, tmp_path) -> None:
    user, password = reserved_user
    rabbit.declare_queue("seen-with-reserved-password")
    encoded = f"{quote(user, safe='')}:{quote(password, safe='')}"
    management = f"{BROKER.management.replace('://', f'://{encoded}@')}"
    broker = f"amqp://{encoded}@{BROKER.amqp_host}/{quote(rabbit.vhost, safe='')}"
    with app_process(tmp_path, "--management-url", management, "--broker-url", broker) as app:

        def queues() -> set[str]:
            response = app.get("/api/topology", params={"vhost": rabbit.vhost})
            return (
                {n["name"] for n in response.json().get("nodes", []) if n["kind"] == "queue"} if response.ok else set()
            )

        wait_for(lambda: "seen-with-reserved-password" in queues(), 30, message="the graph, read as that user")
        wait_for(lambda: app.source_state("celery-events") == "ok", 30, message="events read as that user")
        health = app.get("/healthz").text
        log = app.stop()
    for text in (health, log):
        for secret in forms_of(user, password):
            assert secret not in text


@pytest.mark.parametrize("option", ["--management-url", "--broker-url"])
def test_unencoded_reserved_characters_stop_start_up_with_one_line_naming_the_fix(
    rabbit: Rabbit, reserved_user, option: str
) -> None:
    user, password = reserved_user
    if option == "--management-url":
        url = f"{BROKER.management.replace('://', f'://{user}:{password}@')}"
    else:
        url = f"amqp://{user}:{password}@{BROKER.amqp_host}/{quote(rabbit.vhost, safe='')}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("VISUALISER_")}
    result = subprocess.run(
        [sys.executable, "app.py", "--port", str(free_port()), option, url],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: command line: bad value for "), result.stderr
    assert "percent-encode" in lines[0] and "'#' as %23" in lines[0]
    pieces = {password[i : i + 3] for i in range(len(password) - 2)}  # every piece of three characters
    assert not {piece for piece in pieces if piece in result.stderr + result.stdout}
    assert user not in result.stderr
