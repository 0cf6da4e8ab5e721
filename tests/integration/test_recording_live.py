"""Time travel against the real broker: a queue backs up and drains while the service
records; afterwards the API at past moments shows the backlog when it was there and the
finding appearing and clearing; the exported window replays the same in a fresh process
(``app.py --replay FILE``) with no broker at all."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import requests

from tests.conftest import MANAGEMENT_URL, LiveServer, Rabbit, run_live, stop_live, wait_for
from tests.recording_support import replaying
from visualiser.config import Settings

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
QUEUE = "orders.created"
NODE = "queue:" + QUEUE
BACKLOG = 30


def depth(server: LiveServer, vhost: str, at: float | None = None) -> int | None:
    params = {"vhost": vhost, **({"at": at} if at is not None else {})}
    body = server.get("/api/topology", params=params).json()
    return next((n["messages_ready"] for n in body.get("nodes", []) if n["id"] == NODE), None)


def findings(server: LiveServer | str, vhost: str, at: float | None = None) -> set[tuple[str, str]]:
    base = server.url if isinstance(server, LiveServer) else server
    params = {"vhost": vhost, **({"at": at} if at is not None else {})}
    body = requests.get(base + "/api/diagnostics", params=params, timeout=10).json()
    return {(f["rule"], f["node"]) for f in body["findings"]}


def drain(rabbit: Rabbit) -> None:
    rabbit.call(
        "POST",
        "queues",
        rabbit.vhost,
        QUEUE,
        "get",
        body={"count": BACKLOG, "ackmode": "ack_requeue_false", "encoding": "auto"},
    )


def recorded_through(server: LiveServer, t: float) -> bool:
    """Committed well past t: every frame the hub had sent by t is in the file."""
    window = server.get("/api/recording").json()["window"]
    return bool(window) and window["to"] >= t + 3


def test_a_backlog_recorded_live_is_shown_at_its_moment_and_replays_without_a_broker(rabbit: Rabbit, tmp_path) -> None:
    rabbit.declare_exchange("orders", "topic")
    rabbit.declare_queue(QUEUE)
    rabbit.bind("orders", QUEUE, "order.*")
    server, _ = run_live(Settings(management_url=MANAGEMENT_URL, poll_interval=1.0, record=str(tmp_path / "live.db")))
    vhost = rabbit.vhost
    try:
        wait_for(lambda: depth(server, vhost) == 0, 30, message="the empty queue on the graph")
        empty = time.time()
        for i in range(BACKLOG):
            rabbit.publish("orders", "order.created", f"m{i}")
        wait_for(lambda: depth(server, vhost) == BACKLOG, 30, message="the backlog on the graph")
        wait_for(lambda: ("no-consumers", NODE) in findings(server, vhost), 30, message="the no-consumers finding")
        backlog = time.time()
        drain(rabbit)
        wait_for(
            lambda: depth(server, vhost) == 0 and ("no-consumers", NODE) not in findings(server, vhost),
            30,
            message="the queue drained and the finding gone",
        )
        drained = time.time()
        wait_for(lambda: recorded_through(server, drained), 30, message="the recording past the drain")

        # The past, from the recording of the running service.
        assert depth(server, vhost, empty) == 0
        assert depth(server, vhost, backlog) == BACKLOG
        assert depth(server, vhost, drained) == 0
        assert ("no-consumers", NODE) not in findings(server, vhost, empty)
        assert ("no-consumers", NODE) in findings(server, vhost, backlog)
        assert ("no-consumers", NODE) not in findings(server, vhost, drained)
        marks = [
            m
            for m in server.get("/api/timeline", params={"vhost": vhost}).json()["marks"]
            if m.get("rule") == "no-consumers" and m.get("node") == NODE
        ]
        assert [m["kind"] for m in marks] == ["finding-appeared", "finding-cleared"]
        assert empty < marks[0]["t"] <= backlog < marks[1]["t"] <= drained
        history = server.get("/api/history", params={"vhost": vhost, "node": NODE}).json()["points"]
        assert max(p["messages_ready"] for p in history if empty <= p["t"] <= drained) == BACKLOG

        # The window exported, and replayed by a fresh process with no broker.
        export = server.get("/api/export", params={"from": empty - 2, "to": drained + 2})
        assert export.status_code == 200
        replay_file = tmp_path / "incident.db"
        replay_file.write_bytes(export.content)
        moments = {"empty": empty, "backlog": backlog, "drained": drained}
        live_answers = {
            name: (server.get("/api/topology", params={"vhost": vhost, "at": at}).json(), findings(server, vhost, at))
            for name, at in moments.items()
        }
    finally:
        stop_live(server)

    with replaying(replay_file) as url:
        assert set(requests.get(url + "/healthz", timeout=10).json()["sources"]) == {"replay"}
        for name, at in moments.items():
            topology = requests.get(url + "/api/topology", params={"vhost": vhost, "at": at}, timeout=10).json()
            assert topology == live_answers[name][0], name
            assert findings(url, vhost, at) == live_answers[name][1], name
        replayed_marks = [
            m
            for m in requests.get(url + "/api/timeline", params={"vhost": vhost}, timeout=10).json()["marks"]
            if m.get("rule") == "no-consumers" and m.get("node") == NODE
        ]
        assert [(m["kind"], m["t"]) for m in replayed_marks] == [(m["kind"], m["t"]) for m in marks]
