"""Recording files from outside: --replay and --export on good, damaged, foreign, newer and
hand-edited files (one line, exit code 2, or shown safely as text), and a service killed with
SIGKILL mid-recording leaving a file that opens."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from tests.conftest import free_port, wait_for
from tests.recording_support import post, recorded_service, vhost_with
from visualiser import create_app, service_of
from visualiser.config import Settings
from visualiser.recording import codec
from visualiser.recording.export import export, parse_moment
from visualiser.recording.reader import RecordingReader
from visualiser.recording.replay import open_replay
from visualiser.recording.schema import SCHEMA_VERSION, RecordingError, open_for_reading

ROOT = Path(__file__).resolve().parents[2]
HOSTILE = '<img src=x onerror=alert(1)>\u202e"quoted"&amp;'


@pytest.fixture(scope="module")
def recording(tmp_path_factory) -> Path:
    """A small real recording: a few polls of a vhost, closed cleanly."""
    path = tmp_path_factory.mktemp("rec") / "rec.db"
    with recorded_service(str(path), vhost_with({"orders": 0}, bound=("orders",))) as service:
        for depth in (3, 9, 27, 4):
            post(service, vhost_with({"orders": depth, "refunds": depth // 2}, bound=("orders",)))
        assert service.recording.recorder.sync()
    return path


@pytest.fixture
def exported(recording: Path, tmp_path) -> Path:
    window = RecordingReader(str(recording)).window()
    out = tmp_path / "export.db"
    export(str(recording), str(out), window.start, window.end)
    return out


def run_app(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "app.py", "--port", str(free_port()), *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


# ---- files that cannot be replayed: one line, exit code 2 ------------------------------------------


def _truncated(source: Path, tmp: Path) -> Path:
    data = source.read_bytes()
    out = tmp / "truncated.db"
    out.write_bytes(data[: len(data) // 2])
    return out


def _zeroed(source: Path, tmp: Path) -> Path:
    """Its last page overwritten (an index, nothing a replay reads at start): SQLite's check finds it."""
    out = tmp / "zeroed.db"
    data = bytearray(source.read_bytes())
    data[-4096:] = bytes(4096)
    out.write_bytes(bytes(data))
    return out


def _newer(source: Path, tmp: Path) -> Path:
    out = tmp / "newer.db"
    out.write_bytes(source.read_bytes())
    conn = sqlite3.connect(out)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.commit()
    conn.close()
    return out


def _foreign(_source: Path, tmp: Path) -> Path:
    out = tmp / "other.db"
    conn = sqlite3.connect(out)
    conn.execute("CREATE TABLE t (x)")
    conn.commit()
    conn.close()
    return out


def _text(_source: Path, tmp: Path) -> Path:
    out = tmp / "notes.txt"
    out.write_text("not a recording at all\n" * 100)
    return out


def _empty(_source: Path, tmp: Path) -> Path:
    out = tmp / "empty.db"
    out.write_bytes(b"")
    return out


def _missing(_source: Path, tmp: Path) -> Path:
    return tmp / "nowhere.db"


def _without_marks(source: Path, tmp: Path) -> Path:
    out = tmp / "edited.db"
    out.write_bytes(source.read_bytes())
    conn = sqlite3.connect(out)
    conn.execute("DROP TABLE marks")
    conn.commit()
    conn.close()
    return out


def _no_keyframe(source: Path, tmp: Path) -> Path:
    out = tmp / "nokeyframe.db"
    out.write_bytes(source.read_bytes())
    conn = sqlite3.connect(out)
    conn.execute("DELETE FROM frames WHERE kind = 'keyframe'")
    conn.commit()
    conn.close()
    return out


BAD_FILES = [
    (_truncated, "damaged (truncated or corrupted)"),
    (_zeroed, "damaged (truncated or corrupted)"),
    (_newer, "recorded by a newer version of the visualiser"),
    (_foreign, "not a recording (an SQLite database of something else)"),
    (_text, "not a recording (not an SQLite database)"),
    (_empty, "empty file, not a recording"),
    (_missing, "no such file"),
    (_without_marks, "damaged: table 'marks' lacks"),
    (_no_keyframe, "holds no graph to show"),
]


@pytest.mark.parametrize(("make", "says"), BAD_FILES, ids=[make.__name__.strip("_") for make, _ in BAD_FILES])
def test_replay_of_a_bad_file_says_what_is_wrong_in_one_line(make, says, exported: Path, tmp_path) -> None:
    bad = make(exported, tmp_path)
    with pytest.raises(RecordingError) as refused:
        open_replay(str(bad))
    assert says in str(refused.value) and str(bad) in str(refused.value)
    result = run_app("--replay", str(bad))
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and says in lines[0]


def test_recording_into_a_newer_file_is_refused_and_leaves_it_alone(exported: Path, tmp_path) -> None:
    newer = _newer(exported, tmp_path)
    before = newer.read_bytes()
    result = run_app("--demo", "--record", str(newer))
    assert result.returncode == 2 and "recorded by a newer version" in result.stderr
    assert newer.read_bytes() == before


# ---- a hand-edited file with hostile content ---------------------------------------------------------


def _edit_hostile(source: Path, tmp: Path) -> Path:
    out = tmp / "hostile.db"
    out.write_bytes(source.read_bytes())
    conn = sqlite3.connect(out)
    rows = conn.execute("SELECT id, body FROM frames WHERE kind = 'keyframe'").fetchall()
    for frame_id, blob in rows:
        body = codec.decode(blob)
        for node in body["nodes"]:
            if node["kind"] == "queue":
                node["name"] = node["label"] = HOSTILE + node["name"]
        body["nodes"] += [
            {"kind": "queue", "name": "no id"},
            {"id": "x", "kind": "<script>", "name": "bad kind"},
            "not even an object",
        ]
        body["edges"] += [{"id": "e1", "kind": "binding", "source": "exchange:events", "target": "queue:nowhere"}]
        body["findings"] = [
            {"rule": HOSTILE, "severity": "warning", "node": "queue:orders", "message": HOSTILE, "since": 1.0},
            {"rule": "broken"},
        ]
        conn.execute("UPDATE frames SET body = ? WHERE id = ?", (codec.encode(body), frame_id))
    conn.execute("DELETE FROM frames WHERE kind = 'findings'")  # the keyframes' findings hold throughout
    conn.execute(
        "UPDATE frames SET body = ? WHERE kind = 'patch' AND id = (SELECT MIN(id) FROM frames WHERE kind = 'patch')",
        (b"\x00garbage",),
    )
    conn.execute(
        "INSERT INTO marks (session, t, kind, scope, body) SELECT session, t, 'finding-appeared', '/', "
        "'{not json' FROM marks LIMIT 1"
    )
    conn.commit()
    conn.close()
    return out


def test_a_hand_edited_file_with_hostile_names_is_shown_safely_as_text(exported: Path, tmp_path) -> None:
    hostile = _edit_hostile(exported, tmp_path)
    service = service_of(create_app(Settings(replay=str(hostile))))
    service.start()
    try:
        service.hub.drain()
        client = service.app.test_client()
        topology = client.get("/api/topology?vhost=/")
        assert topology.status_code == 200 and topology.mimetype == "application/json"
        names = {n["name"] for n in topology.get_json()["nodes"] if n["kind"] == "queue"}
        assert HOSTILE + "orders" in names  # kept exactly, as text for the page to render
        assert "no id" not in names and "bad kind" not in {n["name"] for n in topology.get_json()["nodes"]}
        assert all(e["target"] != "queue:nowhere" for e in topology.get_json()["edges"])
        window = client.get("/api/recording").get_json()["window"]
        # At the window's very start the first poll had not come yet: moments from its end.
        for path in (
            f"/api/topology?vhost=/&at={window['to']}",
            f"/api/diagnostics?vhost=/&at={window['to']}",
            "/api/timeline?vhost=/",
            f"/api/frames?vhost=/&from={window['from'] - 1}&to={window['to']}",
            "/api/history?vhost=/&node=queue:orders",
            "/api/diagnostics?vhost=/",
        ):
            answer = client.get(path)
            assert answer.status_code == 200, (path, answer.get_data(as_text=True))
        findings = client.get("/api/diagnostics?vhost=/").get_json()["findings"]
        assert [f["message"] for f in findings] == [HOSTILE]
        page = client.get("/").get_data(as_text=True)
        assert "<img src=x" not in page
    finally:
        service.stop()


# ---- --export and back ------------------------------------------------------------------------------------


def test_export_from_the_command_line_replays_the_same_moments(recording: Path, tmp_path) -> None:
    reader = RecordingReader(str(recording))
    window = reader.window()
    middle = (window.start + window.end) / 2
    out = tmp_path / "window.db"
    result = run_app("--record", str(recording), "--export", str(middle), str(window.end), str(out))
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("exported ") and str(out) in result.stdout
    exported = RecordingReader(str(out))
    assert exported.window().start == middle and exported.window().end == window.end
    for at in (middle, (middle + window.end) / 2, window.end):
        assert exported.moment("/", at).snapshot() == reader.moment("/", at).snapshot()
    again = run_app("--record", str(recording), "--export", str(middle), "now", str(out))
    assert again.returncode == 2 and "exists already" in again.stderr
    for start, end, says in (("yesterday", "now", "is not a time"), ("now-20h", "now-19h", "nothing recorded between")):
        bad = run_app("--record", str(recording), "--export", start, end, str(tmp_path / "other.db"))
        assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1 and says in bad.stderr


def test_times_are_read_as_unix_iso_now_or_relative() -> None:
    now = 1_767_225_600.0  # 2026-01-01T00:00:00Z
    assert parse_moment("now", now) == now
    assert parse_moment("now-90m", now) == now - 5400 and parse_moment("now - 2h", now) == now - 7200
    assert parse_moment("1767225000.5", now) == 1767225000.5
    assert parse_moment("2026-01-01T00:00:00+00:00", now) == now
    assert parse_moment("2026-01-01T00:00:00Z", now) == now
    for bad in ("soon", "now-2w", "-2h", "", "2026-13-01"):
        with pytest.raises(ValueError, match="not a time"):
            parse_moment(bad, now)


# ---- kill -9 --------------------------------------------------------------------------------------------


def test_a_service_killed_mid_recording_leaves_a_file_that_opens(tmp_path) -> None:
    path = tmp_path / "killed.db"
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "app.py", "--demo", "--port", str(port), "--record", str(path), "--log-level", "WARNING"],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}/api/recording"

    def committed() -> float | None:
        try:
            return requests.get(url, timeout=5).json()["window"]["to"]
        except (requests.RequestException, TypeError, KeyError, json.JSONDecodeError):
            return None

    try:
        first = wait_for(committed, 60, message="the demo recording")
        probe = wait_for(
            lambda: (c := committed()) is not None and c > first + 3 and c, 60, message="a few seconds recorded"
        )
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait(30)
    assert os.path.exists(str(path) + "-wal")  # killed: nothing was checkpointed or closed
    open_for_reading(str(path)).close()  # SQLite's integrity check passes
    reader = RecordingReader(str(path))
    assert reader.window().end >= probe  # everything committed before the kill is there
    assert reader.moment("/", probe).nodes  # and rebuilds
    # The lock died with the process: a new service records on, in a new span.
    with recorded_service(str(path)) as service:
        assert service.recording.recorder.sync()
    assert len(RecordingReader(str(path)).spans()) == 2


def test_a_recording_being_written_can_be_exported_and_replayed_meanwhile(tmp_path) -> None:
    path = tmp_path / "live.db"
    with recorded_service(str(path)) as service:
        post(service, vhost_with({"orders": 5}))
        assert service.recording.recorder.sync()
        out = tmp_path / "out.db"
        window = RecordingReader(str(path)).window()
        export(str(path), str(out), window.start, time.time())
        post(service, vhost_with({"orders": 6}))
    reader, end = open_replay(str(out))
    assert end["/"].nodes["queue:orders"]["messages_ready"] == 5
