"""The Celery JSON API a person drills into: one task with its timeline, tasks found by id,
failures grouped by exception, and the Tasks tab's one-request summary. Recorded real
events in (tests/fixtures/celery_events.json); every answer checked against the contract;
bad input is a 400 or 404 that says what to send, never a 500."""

from __future__ import annotations

from typing import Any

import pytest
from jsonschema import Draft202012Validator

from tests.celery_support import broker_view, celery_events, ingest, of_type, task_names
from tests.conftest import snapshot_of
from visualiser.celery.failures import group_failures, split_exception
from visualiser.contract import frames
from visualiser.contract.schema import schema_for


def problems(tp: Any, body: Any) -> list[str]:
    return [
        f"/{'/'.join(map(str, e.absolute_path))}: {e.message[:200]}"
        for e in Draft202012Validator(schema_for(tp)).iter_errors(body)
    ]


@pytest.fixture
def recorded(service) -> list[dict]:
    """The recorded run, replayed as if it had just happened; returns its events."""
    service.test_source.post(snapshot_of(broker_view()))
    events = celery_events()
    ingest(service, events)
    return events


def the_failure(events: list[dict]) -> tuple[dict, str]:
    """The run's one failed task: its task-failed event and its name."""
    [failed] = of_type(events, "task-failed")
    return failed, task_names(events)[failed["uuid"]]


def task_named(client, name: str) -> dict:
    [found] = client.get("/api/tasks", query_string={"name": name, "limit": 1}).get_json()
    return found


def test_one_task_has_its_timeline_exception_and_traceback(client, recorded):
    failed, _ = the_failure(recorded)
    body = client.get(f"/api/tasks/{failed['uuid']}").get_json()
    assert problems(frames.Task, body) == []
    steps = [e["type"].removeprefix("task-") for e in recorded if e.get("uuid") == failed["uuid"]]
    assert [step["state"] for step in body["timeline"]] == steps  # each event a step, in order
    times = [step["time"] for step in body["timeline"]]
    assert times == sorted(times)
    assert (body["exception"], body["traceback"]) == (failed["exception"], failed["traceback"])
    assert body["worker"] == failed["hostname"] and body["queue"]


def test_a_retried_task_shows_each_attempt(client, recorded):
    uuid = of_type(recorded, "task-retried")[0]["uuid"]
    body = client.get(f"/api/tasks/{uuid}").get_json()
    states = [step["state"] for step in body["timeline"]]
    started = len([e for e in of_type(recorded, "task-started") if e["uuid"] == uuid])
    assert started > 1 and states.count("started") == started  # every attempt
    assert "retried" in states and states[-1] == "succeeded"


def test_task_list_rows_leave_out_what_only_the_drill_down_shows(client, recorded):
    summary = client.get("/api/celery", query_string={"include": "tasks", "limit": 50}).get_json()
    assert summary["tasks"] and all(set(row) == set(frames.TaskRow.__annotations__) for row in summary["tasks"])
    assert "timeline" not in client.get("/api/tasks?limit=1").get_json()[0]


def test_tasks_are_found_by_id_whole_or_by_its_start(client, recorded):
    failed, name = the_failure(recorded)
    uuid = failed["uuid"]
    by_prefix = client.get("/api/tasks", query_string={"uuid_prefix": uuid[:6]}).get_json()
    assert [t["uuid"] for t in by_prefix] == [uuid]
    assert [t["uuid"] for t in client.get("/api/tasks", query_string={"uuid": uuid}).get_json()] == [uuid]
    assert client.get("/api/tasks", query_string={"uuid": uuid[:6]}).get_json() == []  # exact means exact
    # The Tasks tab's one search box: a task id's start, or part of a task name, in any case.
    assert [t["uuid"] for t in client.get("/api/tasks", query_string={"search": uuid[:6].upper()}).get_json()] == [uuid]
    part = name.rpartition(".")[2].upper()  # part of its name, in another case
    found = client.get("/api/tasks", query_string={"search": part, "limit": 1000}).get_json()
    assert {t["name"] for t in found} == {n for n in task_names(recorded).values() if part in n.upper()}


def test_worker_and_queue_filters_list_that_workers_and_that_queues_tasks(client, recorded):
    on_worker = client.get("/api/tasks", query_string={"worker": "payments@recorder", "limit": 1000}).get_json()
    assert on_worker and {t["worker"] for t in on_worker} == {"payments@recorder"}
    edge = client.get(
        "/api/tasks", query_string={"worker": "misc@recorder", "queue": "emails", "limit": 1000}
    ).get_json()
    assert edge and {(t["worker"], t["queue"]) for t in edge} == {("misc@recorder", "emails")}


def test_failures_are_grouped_by_exception_type_and_message(client, recorded):
    body = client.get("/api/failures").get_json()
    assert problems(frames.Failures, body) == []
    failed, name = the_failure(recorded)
    assert body["failed"] == 1 and body["tasks_kept"] > 0
    [group] = body["groups"]
    report = task_named(client, name)
    assert f"{group['type']}({group['message']!r})" == failed["exception"] and group["count"] == 1
    assert group["tasks"] == [failed["uuid"]] and group["names"] == [name]
    assert group["last_seen"] == report["updated"]


def test_the_tasks_tab_gets_everything_in_one_answer(client, recorded):
    body = client.get(
        "/api/celery", query_string={"include": "tasks,workers,failures", "limit": 20, "state": "failed"}
    ).get_json()
    assert problems(frames.CelerySummary, body) == []
    failed, name = the_failure(recorded)
    assert [t["name"] for t in body["tasks"]] == [name]
    assert {w["hostname"] for w in body["workers"]} == {e["hostname"] for e in of_type(recorded, "worker-online")}
    assert failed["exception"].startswith(body["failures"]["groups"][0]["type"] + "(")
    # The tab's number: tasks failed in the last minute (the recording replays as if it just happened).
    assert body["recent"] == {"window": 60, "counts": body["recent"]["counts"]}
    assert body["recent"]["counts"]["failed"] == 1
    plain = client.get("/api/celery").get_json()
    assert problems(frames.CelerySummary, plain) == []
    assert not {"tasks", "workers", "failures"} & set(plain)


@pytest.mark.parametrize(
    ("path", "query", "word"),
    [
        ("/api/tasks", {"state": "exploded"}, "state"),
        ("/api/tasks", {"uuid_prefix": "x" * 300}, "characters"),
        ("/api/tasks", {"search": "x" * 300}, "characters"),
        ("/api/failures", {"limit": "0"}, "limit"),
        ("/api/failures", {"limit": "101"}, "limit"),
        ("/api/failures", {"limit": "ten"}, "limit"),
        ("/api/celery", {"include": "tasks,everything"}, "include"),
        ("/api/celery", {"include": "tasks", "limit": "-5"}, "limit"),
        ("/api/celery", {"include": "tasks", "state": "<b>"}, "state"),
    ],
)
def test_bad_input_is_a_400_that_names_the_fix(client, path, query, word):
    response = client.get(path, query_string=query)
    assert response.status_code == 400, response.get_data(as_text=True)
    assert word in response.get_json()["error"]


@pytest.mark.parametrize("uuid", ["no-such-task", "a/b/c", "<img src=x>", "%00", "é"])
def test_an_unknown_task_is_a_404_that_says_how_to_search(client, recorded, uuid):
    response = client.get(f"/api/tasks/{uuid}")
    assert response.status_code == 404
    assert "uuid_prefix" in response.get_json()["error"]


def test_an_overlong_task_id_is_a_400(client):
    response = client.get("/api/tasks/" + "x" * 300)
    assert response.status_code == 400 and "at most" in response.get_json()["error"]


@pytest.mark.parametrize(
    ("exception", "parts"),
    [
        ("ValueError('card declined')", ("ValueError", "card declined")),
        ('KeyError("sku-1")', ("KeyError", "sku-1")),
        ("shop.errors.GatewayTimeout('no answer in 10s')", ("shop.errors.GatewayTimeout", "no answer in 10s")),
        ("MyError()", ("MyError", "")),
        ("KeyError('a', 2)", ("KeyError", "'a', 2")),
        ("Retry(Retry(...), StockServiceDown('x'), 1)", ("Retry", "Retry(...), StockServiceDown('x'), 1")),
        ("something went wrong", ("unknown", "something went wrong")),
        ("Err(" + "(" * 500 + ")", ("Err", "(" * 500)),
        (None, ("unknown", "")),
    ],
)
def test_an_exception_repr_splits_into_type_and_message(exception, parts):
    assert split_exception(exception) == parts


class Failed:
    def __init__(self, uuid: str, exception: str, updated: float, name: str = "t", worker: str = "w"):
        self.uuid, self.exception, self.updated, self.name, self.worker = uuid, exception, updated, name, worker


def test_groups_count_each_failure_and_put_the_latest_first():
    failed = [
        Failed("c", "ValueError('b')", 30.0),
        Failed("b", "ValueError('a')", 20.0, worker="w2"),
        Failed("a", "ValueError('a')", 10.0),
    ]  # most recent first, as the state gives them
    body = group_failures(failed, limit=10)
    assert body["failed"] == 3 and body["groups_total"] == 2
    assert [(g["message"], g["count"]) for g in body["groups"]] == [("b", 1), ("a", 2)]
    same = body["groups"][1]
    assert (same["first_seen"], same["last_seen"], same["tasks"], same["workers"]) == (
        10.0,
        20.0,
        ["b", "a"],
        ["w", "w2"],
    )
    assert len(group_failures(failed, limit=1)["groups"]) == 1
