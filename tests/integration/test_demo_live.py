"""The real app in demo mode, as a person opens it: no broker, and yet Celery workers on the
graph, tasks in every state, activity frames that move tasks along edges, and every kind of
finding the demo's story holds (see visualiser/sources/demo.py)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
import socketio

from tests.conftest import LiveServer, run_live, stop_live, wait_for
from visualiser.celery.state import TASK_STATES
from visualiser.config import Settings
from visualiser.contract.vocabulary import RULES
from visualiser.sources.demo_celery import WORKERS
from visualiser.tracing.session import RULE as TRACE_RULE

pytestmark = pytest.mark.integration

# Tracing compares a real broker's routing with the simulator's: the demo has no real broker.
DEMO_RULES = set(RULES) - {TRACE_RULE}


@pytest.fixture
def demo() -> Iterator[LiveServer]:
    # The same story with consumers judged stalled after 5 s rather than 30: sooner, not different.
    server, _ = run_live(Settings(demo=True, diagnostics={"stall_seconds": 5}))
    yield server
    stop_live(server)


class ActivityRecorder:
    """A Socket.IO client in the demo's vhost, keeping the activity frames it gets."""

    def __init__(self, server: LiveServer):
        self.frames: list[dict[str, Any]] = []
        self.lock = threading.Lock()
        self.client = socketio.Client(reconnection=False)
        self.client.on("activity", self._keep)
        self.client.connect(server.url, transports=["websocket"], wait_timeout=10)
        self.client.emit("subscribe", {"vhost": "/"})

    def _keep(self, frame: dict[str, Any]) -> None:
        with self.lock:
            self.frames.append(frame)

    def moving(self) -> list[dict[str, Any]]:
        """Frames with traffic on edges and a sampled task travelling along one."""
        with self.lock:
            return [f for f in self.frames if f["edges"] and any(s["path"] for s in f["samples"])]


def test_the_demo_shows_workers_tasks_activity_and_every_finding(demo: LiveServer) -> None:
    recorder = ActivityRecorder(demo)
    try:

        def workers_on_graph() -> dict[str, dict[str, Any]]:
            topology = demo.get("/api/topology", params={"vhost": "/"}).json()
            return {n["name"]: n for n in topology.get("nodes", []) if n["kind"] == "worker"}

        workers = wait_for(
            lambda: len(workers_on_graph()) == len(WORKERS) and workers_on_graph(),
            30,
            message="the demo's workers on the graph",
        )
        assert all(w["queues"] for w in workers.values())

        frame = wait_for(lambda: recorder.moving(), 30, message="activity frames with moving tasks")[0]
        assert any(edge["rate"] > 0 for edge in frame["edges"].values())

        states: set[str] = set()

        def every_state() -> bool:
            states.update(t["state"] for t in demo.get("/api/tasks", params={"limit": "1000"}).json())
            return states >= set(TASK_STATES)

        wait_for(every_state, 120, interval=1.0, message=f"tasks in every state (seen {states})")
        failed = demo.get("/api/tasks", params={"state": "failed", "limit": "5"}).json()
        assert failed and all(t["exception"] and t["traceback"] for t in failed)

        rules: set[str] = set()

        def every_rule() -> bool:
            rules.update(f["rule"] for f in demo.get("/api/diagnostics", params={"vhost": "/"}).json()["findings"])
            return rules >= DEMO_RULES

        wait_for(every_rule, 120, interval=1.0, message="every kind of finding")
        summary = demo.get("/api/celery").json()
        assert summary["enabled"] and summary["source"]["state"] == "ok"
    finally:
        recorder.client.disconnect()
