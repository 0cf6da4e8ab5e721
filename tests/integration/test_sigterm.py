"""SIGTERM, as a service manager sends it, to the real command with every source running: the
management API poller, the Celery events consumer and a firehose trace a page is watching.

The process must exit 0 in good time, having told its pages to go, put each vhost's tracing
flag back as it found it, and released what it held on the broker: every queue it declared
gone, every connection it opened closed. The queues and connections are those the broker
lists, compared with what the test itself made.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest
import requests
import socketio

from tests.brokers import BROKER
from tests.conftest import MANAGEMENT_URL, Rabbit, free_port, wait_for
from tests.integration.test_tracing import flag, set_flag, shop

pytestmark = pytest.mark.integration


class Command:
    """``python -m visualiser`` as an operator runs it, with every source of the vhost on."""

    def __init__(self, rabbit: Rabbit, log: Path):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log
        with log.open("w") as out:
            self.popen = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "visualiser",
                    "--port",
                    str(self.port),
                    "--management-url",
                    MANAGEMENT_URL,
                    "--broker-url",
                    rabbit.amqp_url(),
                    "--trace-url",
                    BROKER.amqp_url(),
                    "--allow-tracing",
                    "--poll-interval",
                    "1",
                    "--no-record",
                    "--access-log",
                    "off",
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
            )

    def get(self, path: str, **kwargs: Any) -> requests.Response:
        return requests.get(self.url + path, timeout=10, **kwargs)

    def answering(self) -> bool:
        try:
            return self.get("/healthz").status_code == 200
        except requests.RequestException:
            return False

    def source_ok(self, name: str) -> bool:
        sources = self.get("/healthz").json().get("sources", {})
        return (sources.get(name) or {}).get("state") == "ok"


def queues(rabbit: Rabbit) -> set[str]:
    return {q["name"] for q in rabbit.call("GET", "queues", rabbit.vhost).json()}


def connections(rabbit: Rabbit) -> list[str]:
    return [c["name"] for c in rabbit.call("GET", "vhosts", rabbit.vhost, "connections").json()]


class Page:
    """A page watching the vhost and its trace; notes when the server tells it to go."""

    def __init__(self, url: str, vhost: str):
        self.gone = threading.Event()
        self.client = socketio.Client(reconnection=False)
        self.client.on("disconnect", lambda *_: self.gone.set())
        self.client.connect(url, transports=["websocket"], wait_timeout=10)
        self.client.emit("subscribe", {"vhost": vhost})
        self.client.emit("trace-subscribe", {"vhost": vhost})


@pytest.mark.parametrize("tracing_before", [False, True], ids=["tracing-was-off", "tracing-was-on"])
def test_sigterm_stops_sources_releases_queues_and_leaves_tracing_as_found(
    rabbit: Rabbit, tmp_path: Path, tracing_before: bool
) -> None:
    shop(rabbit)
    set_flag(rabbit, tracing_before)
    mine = queues(rabbit)  # the test's own; nothing else may stay
    command = Command(rabbit, tmp_path / "command.log")
    try:
        wait_for(command.answering, 60, message="the command answering")
        wait_for(
            lambda: command.source_ok("management-api") and command.source_ok("celery-events"),
            60,
            message="the poller and the Celery events consumer running",
        )
        wait_for(
            lambda: command.get("/api/topology", params={"vhost": rabbit.vhost}).status_code == 200,
            30,
            message="the vhost on the graph",
        )
        page = Page(command.url, rabbit.vhost)
        started = requests.post(
            command.url + "/api/trace", json={"vhost": rabbit.vhost}, headers={"Origin": command.url}, timeout=60
        )
        assert started.status_code == 200, started.text
        assert flag(rabbit)
        held = wait_for(lambda: queues(rabbit) - mine, 30, message="the service's queues on the broker")
        wait_for(lambda: connections(rabbit), 30, message="the service's connections on the broker")

        command.popen.send_signal(signal.SIGTERM)
        try:
            code = command.popen.wait(60)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"no exit within 60s of SIGTERM:\n{command.log.read_text()[-3000:]}") from None
    finally:
        if command.popen.poll() is None:
            command.popen.kill()
            command.popen.wait(30)

    output = command.log.read_text()
    assert code == 0, output[-3000:]
    assert page.gone.wait(10), "the page was not told to go"
    assert flag(rabbit) is tracing_before, "the vhost's tracing flag was not left as it was found"
    assert queues(rabbit) == mine, f"left on the broker: {sorted(queues(rabbit) - mine)} (held: {sorted(held)})"
    # The management API lists a closed connection for a few seconds more.
    wait_for(lambda: not connections(rabbit), 30, message="every connection of the service closed")
