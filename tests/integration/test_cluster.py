"""Three processes of one service (--message-queue) on the real broker, with pages on each.

The processes are the real command, each in its own process; the pages are Socket.IO clients
that keep their graph exactly as the page does (snapshot, then patches in version order, a
fresh snapshot asked for on a gap). The test changes the broker all along, so that patches
keep coming, and kills the leading process with SIGKILL halfway: another must take over
within 10 s, the pages on the surviving processes must go on, their versions never going
back and their graphs ending equal to the model the service serves, and nothing the
processes declared may stay on the broker once they are gone.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import engineio
import pytest
import requests
import socketio

from tests.conftest import MANAGEMENT_URL, Rabbit, free_port, wait_for
from visualiser.model.diff import apply_patch
from visualiser.model.topology import Graph

pytestmark = pytest.mark.integration

PROCESSES = 3
PAGES_PER_PROCESS = 2
PREFIX = "rabbitmq-visualiser."


class Process:
    """One process of the service, run as an operator runs it."""

    def __init__(self, rabbit: Rabbit, log_dir: Path, index: int):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log_dir / f"process-{index}.log"
        with self.log.open("w") as log:
            self.popen = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "visualiser",
                    "--port",
                    str(self.port),
                    "--management-url",
                    MANAGEMENT_URL,
                    "--poll-interval",
                    "1",
                    "--message-queue",
                    rabbit.amqp_url(),
                    "--no-record",
                    "--access-log",
                    "off",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**os.environ, "PYTHONUNBUFFERED": "1", "PYTHONFAULTHANDLER": "1"},
            )

    def cluster(self) -> dict[str, Any] | None:
        try:
            return requests.get(self.url + "/api/cluster", timeout=5).json()
        except (requests.RequestException, ValueError):
            return None

    def alive(self) -> bool:
        return self.popen.poll() is None

    def stopped(self, timeout: float) -> int:
        """Its exit code once stopped; a process that does not stop in time is made to print
        every thread's stack (faulthandler, on SIGABRT) and the test fails with its log."""
        try:
            return self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            self.popen.send_signal(signal.SIGABRT)
            self.popen.wait(30)
            raise AssertionError(f"process did not stop within {timeout}s:\n{self.log.read_text()[-6000:]}") from None


class _InOrderEngineIO(engineio.Client):
    """Message handlers on the reading thread, in arrival order, as in a browser."""

    def _trigger_event(self, event: str, *args: Any, **kwargs: Any) -> Any:
        if event == "message":
            kwargs["run_async"] = False
        return super()._trigger_event(event, *args, **kwargs)


class _InOrderClient(socketio.Client):
    def _engineio_client_class(self) -> type[engineio.Client]:
        return _InOrderEngineIO


class Page:
    """A page's graph: snapshot, then patches whose `from` is its version; a gap asks for a snapshot."""

    def __init__(self, url: str, vhost: str):
        self.url, self.vhost = url, vhost
        self.graph: Graph | None = None
        self.version: int | None = None
        self.versions: list[int] = []  # every version the page held, in order
        self.applied = 0
        self.resyncing = False
        self.lock = threading.Lock()
        self.sio = _InOrderClient(reconnection=False)
        self.sio.on("snapshot", self.on_snapshot)
        self.sio.on("patch", self.on_patch)
        self.sio.connect(url, transports=["websocket"], wait_timeout=30)
        self.sio.emit("subscribe", {"vhost": vhost})

    def on_snapshot(self, message: dict[str, Any]) -> None:
        if message.get("vhost") != self.vhost:
            return
        with self.lock:
            self.graph = Graph({n["id"]: n for n in message["nodes"]}, {e["id"]: e for e in message["edges"]})
            self.version = message["version"]
            self.versions.append(message["version"])
            self.resyncing = False

    def on_patch(self, message: dict[str, Any]) -> None:
        with self.lock:
            if message.get("vhost") != self.vhost or self.version is None or message["to"] <= self.version:
                return
            if message["from"] != self.version:
                if not self.resyncing:
                    self.resyncing = True
                    self.sio.emit("resync", {"vhost": self.vhost})
                return
            assert self.graph is not None
            self.graph = apply_patch(self.graph, message)
            self.version = message["to"]
            self.versions.append(message["to"])
            self.applied += 1

    def node_ids(self) -> set[str]:
        with self.lock:
            return set(self.graph.nodes) if self.graph is not None else set()


class BrokerChanges:
    """A queue declared every half second: a patch at every poll of the leader."""

    def __init__(self, rabbit: Rabbit):
        self.rabbit, self.count = rabbit, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(0.5):
            self.count += 1
            with contextlib.suppress(AssertionError, requests.RequestException):
                self.rabbit.declare_queue(f"work.{self.count:04d}")

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)


@pytest.fixture
def processes(rabbit: Rabbit, tmp_path: Path) -> Iterator[list[Process]]:
    rabbit.declare_queue("work.0000")
    started = [Process(rabbit, tmp_path, index) for index in range(PROCESSES)]
    try:
        yield started
    finally:
        for process in started:
            if process.alive():
                process.popen.kill()
            process.popen.wait(30)


def leaders(processes: list[Process]) -> list[Process]:
    return [p for p in processes if p.alive() and (p.cluster() or {}).get("role") == "leader"]


def cluster_queues(rabbit: Rabbit) -> list[str]:
    return [
        q["name"]
        for q in rabbit.call("GET", "queues", rabbit.vhost).json()
        if q["name"].startswith(PREFIX) or q["name"].startswith("celeryev.")
    ]


def test_patches_reach_pages_on_every_process_and_survive_the_leader_being_killed(
    rabbit: Rabbit, processes: list[Process]
) -> None:
    wait_for(lambda: all(p.cluster() for p in processes), 60, message="every process answering")
    wait_for(lambda: len(leaders(processes)) == 1, 30, message="one leader elected")
    leader = leaders(processes)[0]
    wait_for(
        lambda: all((p.cluster() or {}).get("leader") == leader.cluster()["process"] for p in processes),
        30,
        message="every process knowing the leader",
    )
    # A follower answers reads of the model (forwarded to the leader).
    for process in processes:
        wait_for(
            lambda p=process: (
                requests.get(p.url + "/api/topology", params={"vhost": rabbit.vhost}, timeout=20).status_code == 200
            ),
            30,
            message="the vhost on the graph",
        )

    changes = BrokerChanges(rabbit)
    pages = {process.port: [Page(process.url, rabbit.vhost) for _ in range(PAGES_PER_PROCESS)] for process in processes}
    try:
        everyone = [page for group in pages.values() for page in group]
        wait_for(
            lambda: all(page.applied >= 3 for page in everyone),
            60,
            message="patches applied by the pages on every process",
        )

        leader.popen.send_signal(signal.SIGKILL)
        leader.popen.wait(10)
        survivors = [p for p in processes if p is not leader]
        # Within 10 s of the kill, another process leads.
        wait_for(lambda: len(leaders(survivors)) == 1, 10, interval=0.2, message="another process leading")

        survivor_pages = [page for process in survivors for page in pages[process.port]]
        before = {id(page): page.applied for page in survivor_pages}
        wait_for(
            lambda: all(page.applied >= before[id(page)] + 3 for page in survivor_pages),
            60,
            message="pages on the surviving processes applying patches again",
        )
    finally:
        changes.stop()

    # No gap left unhealed: once the broker is quiet, every surviving page holds the very graph,
    # at the very version, that the service serves (asked of each survivor: a follower forwards).
    def settled() -> bool:
        served = [
            requests.get(p.url + "/api/topology", params={"vhost": rabbit.vhost}, timeout=20).json() for p in survivors
        ]
        if len({s["version"] for s in served}) != 1:
            return False
        model = served[0]
        return all(
            page.version == model["version"] and page.node_ids() == {n["id"] for n in model["nodes"]}
            for page in survivor_pages
        )

    wait_for(settled, 60, interval=0.5, message="every surviving page equal to the served model")
    for page in survivor_pages:
        # A fresh snapshot may repeat the version the page holds (its own resync and the new
        # leader's replay can both answer it); a version never goes back.
        assert page.versions == sorted(page.versions), "a page's versions went back"

    for page in survivor_pages:
        page.sio.disconnect()
    for process in survivors:
        process.popen.send_signal(signal.SIGTERM)
    for process in survivors:
        assert process.stopped(60) == 0, process.log.read_text()[-2000:]
    # The killed process's queues went with its connection; the others' with a clean stop.
    wait_for(lambda: cluster_queues(rabbit) == [], 30, message="no queue of the service left on the broker")
    exchanges = [e["name"] for e in rabbit.call("GET", "exchanges", rabbit.vhost).json()]
    assert not [name for name in exchanges if name.startswith(PREFIX)]


def test_a_follower_forwards_reads_and_route_questions(rabbit: Rabbit, processes: list[Process]) -> None:
    rabbit.declare_exchange("orders", "topic")
    rabbit.bind("orders", "work.0000", "order.*")
    wait_for(lambda: len(leaders(processes)) == 1, 60, message="one leader elected")
    follower = wait_for(
        lambda: next((p for p in processes if (p.cluster() or {}).get("role") == "follower"), None),
        30,
        message="a process following",
    )
    wait_for(
        lambda: (
            requests.get(follower.url + "/api/topology", params={"vhost": rabbit.vhost}, timeout=20).status_code == 200
        ),
        30,
        message="the vhost, read through a follower",
    )
    answer = requests.post(
        follower.url + "/api/route",
        json={"vhost": rabbit.vhost, "exchange": "orders", "routing_key": "order.created"},
        timeout=20,
    )
    assert answer.status_code == 200 and answer.json()["queues"] == ["work.0000"]
    assert requests.get(follower.url + "/healthz", timeout=20).json()["sources"]["management-api"]["state"] == "ok"
    bad = requests.post(follower.url + "/api/route", data="{", headers={"Content-Type": "application/json"}, timeout=20)
    assert bad.status_code == 400  # bad input answered as the leader answers it, not a 500
