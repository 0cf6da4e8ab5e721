"""The time-travel JSON API over a real recording service: answers for past moments in the
contract's shapes, frames that play one moment into the next, the export, and bad input
answered with a 4xx (a moment outside the recording with the window that was recorded)."""

from __future__ import annotations

import time
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from tests.contract_check import FrameChecker
from tests.recording_support import as_dicts, post, recorded_service, vhost_with
from visualiser import create_app, service_of
from visualiser.config import Settings
from visualiser.contract import frames
from visualiser.contract.schema import schema_for
from visualiser.model.diff import apply_patch
from visualiser.model.topology import Graph
from visualiser.recording.replay import open_replay


def problems(tp: Any, body: Any) -> list[str]:
    return [
        f"{'/'.join(map(str, e.absolute_path))}: {e.message[:200]}"
        for e in Draft202012Validator(schema_for(tp)).iter_errors(body)
    ]


@pytest.fixture
def recorded(tmp_path):
    """A recording service that went through a few moments; yields (service, client, moments)."""
    path = str(tmp_path / "rec.db")
    with recorded_service(path, vhost_with({"orders": 0}, bound=("orders",))) as service:
        moments = []
        for depths in ({"orders": 5}, {"orders": 50, "refunds": 1}, {"orders": 2, "refunds": 1}, {"refunds": 7}):
            post(service, vhost_with(depths, consumers=0 if depths.get("orders", 0) > 10 else 1, bound=("orders",)))
            view = service.hub.view("/")
            moments.append((time.time(), as_dicts(view.graph.nodes, view.graph.edges), view.version))
        assert service.recording.recorder.sync()
        yield service, service.app.test_client(), moments


def test_past_answers_match_the_contract(recorded) -> None:
    service, client, moments = recorded
    at = moments[1][0]
    answers = {
        frames.TopologyAnswer: [client.get("/api/topology?vhost=/"), client.get(f"/api/topology?vhost=/&at={at}")],
        frames.DiagnosticsAnswer: [
            client.get("/api/diagnostics?vhost=/"),
            client.get(f"/api/diagnostics?vhost=/&at={at}"),
        ],
        frames.RecordingInfo: [client.get("/api/recording")],
        frames.Timeline: [client.get("/api/timeline?vhost=/")],
        frames.NodeHistory: [
            client.get("/api/history?vhost=/&node=queue:orders"),
            client.get("/api/history?vhost=/&node=queue:orders&points=2"),
        ],
        frames.RecordedFrames: [client.get(f"/api/frames?vhost=/&from={moments[0][0] - 60}&to={time.time()}")],
        frames.OutsideRecording: [client.get(f"/api/topology?vhost=/&at={at - 86400}")],
        list[frames.VhostEntry]: [client.get(f"/api/vhosts?at={at}")],
    }
    for tp, responses in answers.items():
        for response in responses:
            assert problems(tp, response.get_json()) == [], (tp, response.get_json())
    recorded_frames = answers[frames.RecordedFrames][0].get_json()["frames"]
    checker = FrameChecker()
    for frame in recorded_frames:
        checker.check(frame["event"], frame["data"])
    assert checker.problems == []
    assert {"snapshot", "patch", "findings", "status"} <= {f["event"] for f in recorded_frames}
    marks = answers[frames.Timeline][0].get_json()["marks"]
    assert {"finding-appeared", "finding-cleared"} <= {m["kind"] for m in marks}


def test_topology_at_each_moment_is_what_the_page_had(recorded) -> None:
    _service, client, moments = recorded
    for at, (nodes, edges), version in moments:
        body = client.get(f"/api/topology?vhost=/&at={at}").get_json()
        assert (as_dicts(body["nodes"], body["edges"]), body["version"]) == ((nodes, edges), version)
        assert body["at"] == at and body["recorded_at"] <= at


def test_frames_played_from_one_moment_reach_the_next(recorded) -> None:
    _service, client, moments = recorded
    (start, _shown, _version), (end, expected, version) = moments[0], moments[-1]
    snapshot = client.get(f"/api/topology?vhost=/&at={start}").get_json()
    graph = Graph({n["id"]: n for n in snapshot["nodes"]}, {e["id"]: e for e in snapshot["edges"]})
    at_version, cursor, pages = snapshot["version"], start, 0
    while cursor is not None:  # one frame a page: the cursor goes from moment to moment
        page = client.get(f"/api/frames?vhost=/&from={cursor}&to={end}&limit=1").get_json()
        for frame in page["frames"]:
            if frame["event"] == "patch":
                assert frame["data"]["from"] == at_version
                graph, at_version = apply_patch(graph, frame["data"]), frame["data"]["to"]
        cursor, pages = page["next"], pages + 1
    assert (as_dicts(graph.nodes, graph.edges), at_version) == (expected, version)
    assert pages > 2


def test_bad_input_is_a_4xx_and_a_moment_outside_carries_the_window(recorded) -> None:
    _service, client, moments = recorded
    at = moments[0][0]
    for path in (
        "/api/topology?vhost=/&at=soon",
        "/api/topology?vhost=/&at=-1",
        "/api/topology?vhost=/&at=1e300",
        "/api/topology?vhost=/&at=nan",
        "/api/diagnostics?vhost=/&at=inf",
        f"/api/vhosts?at={'9' * 400}",
        "/api/history?vhost=/",
        f"/api/history?vhost=/&node={'q' * 400}",
        "/api/history?vhost=/&node=queue:orders&points=0",
        "/api/history?vhost=/&node=queue:orders&points=x",
        "/api/frames?vhost=/",
        f"/api/frames?vhost=/&from={at}&to={at - 1}",
        f"/api/frames?vhost=/&from={at}&to={at + 1}&limit=0",
        f"/api/export?from={at}&to={at}",
        f"/api/topology?vhost={'v' * 300}&at={at}",
        "/api/timeline?vhost=/&from=x",
    ):
        response = client.get(path)
        assert response.status_code == 400, (path, response.status_code)
        assert response.get_json()["error"]
    for path in (
        f"/api/topology?vhost=/&at={at - 3600}",
        f"/api/diagnostics?vhost=/&at={at + 3600}",
        f"/api/vhosts?at={at - 3600}",
        f"/api/frames?vhost=/&from={at - 7200}&to={at - 3600}",
    ):
        response = client.get(path)
        body = response.get_json()
        assert response.status_code == 404 and body["window"]["from"] < at < body["window"]["to"], path
        assert "nothing recorded" in body["error"]
    for path in (f"/api/topology?vhost=nope&at={at}", "/api/history?vhost=/&node=queue:nope"):
        assert client.get(path).status_code == 404


def test_the_export_downloads_a_file_that_replays_the_same(recorded, tmp_path) -> None:
    service, client, moments = recorded
    response = client.get("/api/export")
    assert response.status_code == 200 and response.mimetype == "application/vnd.sqlite3"
    assert "attachment" in response.headers["Content-Disposition"]
    out = tmp_path / "download.db"
    out.write_bytes(response.get_data())
    response.close()
    _reader, end = open_replay(str(out))
    last_at, last_shown, _version = moments[-1]
    assert as_dicts(end["/"].nodes, end["/"].edges) == last_shown
    replay = service_of(create_app(Settings(replay=str(out))))
    replay.start()
    try:
        replay.hub.drain()
        replayed = replay.app.test_client()
        for at, _shown, _version in moments:
            for path in (f"/api/topology?vhost=/&at={at}", f"/api/diagnostics?vhost=/&at={at}"):
                assert replayed.get(path).get_json() == client.get(path).get_json(), path
        assert replayed.get("/api/recording").get_json()["mode"] == "replay"
    finally:
        replay.stop()


def test_a_service_that_does_not_record_says_so(tmp_path) -> None:
    service = service_of(create_app(Settings(), sources=[]))
    client = service.app.test_client()
    info = client.get("/api/recording").get_json()
    assert info["mode"] == "off" and info["window"] is None and problems(frames.RecordingInfo, info) == []
    for path in ("/api/topology?vhost=/&at=1700000000", "/api/timeline?vhost=/", "/api/export"):
        response = client.get(path)
        assert response.status_code == 404 and response.get_json()["window"] is None
        assert "does not record" in response.get_json()["error"]


def test_the_demo_recorded_plays_back_in_the_contract_shapes(tmp_path) -> None:
    """The demo sends every kind of frame (Celery activity included): played back from the
    recording, each still matches the wire contract."""
    from tests.conftest import wait_for

    service = service_of(create_app(Settings(demo=True, record=str(tmp_path / "demo.db"))))
    service.start()
    try:
        client = service.app.test_client()
        start = time.time()

        def played() -> list[dict[str, Any]]:
            service.recording.recorder.sync()
            return client.get(f"/api/frames?vhost=/&from={start - 60}&to={time.time()}").get_json()["frames"]

        wanted = {"snapshot", "patch", "findings", "activity", "status"}
        recorded_frames = wait_for(
            lambda: (found := played()) and wanted <= {f["event"] for f in found} and found,
            60,
            message=f"frames of each kind {wanted}",
        )
    finally:
        service.stop()
    checker = FrameChecker()
    for frame in recorded_frames:
        checker.check(frame["event"], frame["data"])
    assert checker.problems == []
    assert (
        problems(
            frames.RecordedFrames,
            {
                "vhost": "/",
                "from": 0.0,
                "to": 1.0,
                "frames": recorded_frames,
                "next": None,
                "window": {"from": 0.0, "to": 1.0},
            },
        )
        == []
    )


def test_a_node_on_the_graph_not_recorded_yet_has_an_empty_history_and_one_never_seen_is_a_404(recorded) -> None:
    """The recorder follows the graph by a flush: a queue the page shows, asked for before its
    first row is written, has no history yet (which the page says), not a failed request."""
    service, client, _ = recorded
    reader = service.recording.reader
    fresh = reader.history("/", "queue:fresh", None, None, on_graph=True)
    assert fresh["points"] == [] and problems(frames.NodeHistory, fresh) == []
    with pytest.raises(LookupError):
        reader.history("/", "queue:fresh", None, None)
    assert client.get("/api/history?vhost=/&node=queue:never-seen").status_code == 404
    assert client.get("/api/history?vhost=/&node=queue:orders").status_code == 200
