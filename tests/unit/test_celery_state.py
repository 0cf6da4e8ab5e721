"""Celery state folded from a recorded real event stream, plus ordering, bounds and expiry."""

from __future__ import annotations

import json
from pathlib import Path

from visualiser.celery.events import events_of
from visualiser.celery.state import CeleryState

RECORDED = json.loads((Path(__file__).resolve().parents[1] / "fixtures" / "celery_events.json").read_text())


def recorded_events() -> list[dict]:
    events = []
    for message in RECORDED:
        for event, _ in events_of(
            message["body"].encode(),
            message["content_type"],
            message["content_encoding"],
            received=1000.0 + message["at"],
        ):
            events.append(event)
    return events


def replayed(**kwargs) -> CeleryState:
    state = CeleryState(clock=lambda: 1000.0 + RECORDED[-1]["at"], **kwargs)
    for event in recorded_events():
        state.apply(event)
    return state


def test_replay_finds_both_workers_and_their_graceful_exit():
    state = replayed()
    workers = {w["hostname"]: w for w in state.workers_json()}
    assert set(workers) == {"payments@recorder", "misc@recorder"}
    assert not any(w["online"] for w in workers.values())  # both sent worker-offline
    assert workers["payments@recorder"]["succeeded"] >= 10
    assert workers["misc@recorder"]["failed"] >= 1
    assert workers["misc@recorder"]["retried"] >= 1
    assert workers["payments@recorder"]["queues"] == ["payments"]
    assert set(workers["misc@recorder"]["queues"]) >= {"emails", "sync"}


def test_replay_gives_each_task_its_final_state_route_and_worker():
    state = replayed()
    tasks = state.tasks_json(1000)
    charges = [t for t in tasks if t["name"] == "shop.tasks.charge_card"]
    assert len(charges) == 20
    assert all(
        t["state"] == "succeeded"
        and t["worker"] == "payments@recorder"
        and t["queue"] == "payments"
        and t["runtime"] > 0
        for t in charges
    )
    [report] = [t for t in tasks if t["name"] == "shop.tasks.nightly_report"]
    assert report["state"] == "failed" and "FileNotFoundError" in report["exception"]
    syncs = [t for t in tasks if t["name"] == "shop.tasks.sync_stock"]
    assert syncs and all(t["state"] == "succeeded" and t["retries"] >= 1 for t in syncs)


def test_filters_and_per_name_stats():
    state = replayed()
    failed = state.tasks_json(100, {"state": "failed"})
    assert [t["name"] for t in failed] == ["shop.tasks.nightly_report"]
    assert all(t["queue"] == "emails" for t in state.tasks_json(100, {"queue": "emails"}))
    assert len(state.tasks_json(3)) == 3
    stats = state.stats_json()
    charge = stats["task_names"]["shop.tasks.charge_card"]
    assert charge["counts"]["sent"] == 20 and charge["counts"]["succeeded"] == 20
    assert charge["runtime"]["p50"] <= charge["runtime"]["p99"] <= charge["runtime"]["max"]
    assert stats["task_names"]["shop.tasks.sync_stock"]["counts"]["retried"] >= 1
    assert stats["queues"]["payments"]["sent_not_received"] == 0


def test_sent_but_not_received_counts_per_queue():
    state = CeleryState()
    for n in range(3):
        state.apply({"type": "task-sent", "uuid": f"u{n}", "name": "t", "queue": "q", "received": 1.0})
    state.apply({"type": "task-received", "uuid": "u0", "hostname": "w", "received": 2.0})
    assert state.stats_json()["queues"]["q"]["sent_not_received"] == 2


def test_out_of_order_events_never_move_a_task_backwards():
    state = CeleryState()
    state.apply({"type": "task-succeeded", "uuid": "u", "hostname": "w", "runtime": 0.1, "received": 3.0})
    state.apply({"type": "task-received", "uuid": "u", "hostname": "w", "name": "t", "received": 3.1})
    state.apply({"type": "task-sent", "uuid": "u", "name": "t", "queue": "q", "received": 3.2})
    [task] = state.tasks_json(1)
    assert task["state"] == "succeeded" and task["queue"] == "q" and task["name"] == "t"
    assert state.stats_json()["queues"]["q"]["sent_not_received"] == 0


def test_a_retried_task_is_received_again():
    state = CeleryState()
    for kind in ("task-received", "task-started", "task-retried", "task-received"):
        state.apply({"type": kind, "uuid": "u", "hostname": "w", "received": 1.0})
    assert state.tasks_json(1)[0]["state"] == "received"


def test_memory_stays_bounded_whatever_the_event_count():
    state = CeleryState(max_tasks=100, max_workers=5, max_names=10, max_queues=10)
    for n in range(5000):
        state.apply(
            {
                "type": "task-sent",
                "uuid": f"u{n}",
                "name": f"name{n % 50}",
                "queue": f"q{n % 30}",
                "exchange": "",
                "received": float(n),
            }
        )
        state.apply({"type": "worker-heartbeat", "hostname": f"w{n % 20}", "received": float(n)})
    assert len(state.tasks) == 100 and len(state.workers) == 5
    assert len(state.names) == 10 and len(state.pending) <= 10 and len(state.default_routed) <= 10
    assert sum(state.pending.values()) <= 100


def test_worker_goes_offline_after_missed_heartbeats_and_comes_back():
    state = CeleryState(expire_factor=2.5)
    state.apply({"type": "worker-online", "hostname": "w", "freq": 2.0, "received": 100.0})
    state.graph_changed = False
    assert not state.expire(now=104.9)
    assert state.expire(now=105.1)
    [worker] = state.workers_json()
    assert not worker["online"] and worker["offline_since"] == 105.1 and state.graph_changed
    state.apply({"type": "worker-heartbeat", "hostname": "w", "freq": 2.0, "received": 106.0})
    assert state.workers_json()[0]["online"]
