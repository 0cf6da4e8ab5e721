"""The time-travel part of the JSON API, over the recording (live) or the file replayed.

- ``GET /api/recording``: whether and where the service records, its state (paused when the
  disk is full), the window it holds and the spans inside it;
- ``GET /api/timeline?vhost=&from=&to=``: marks for findings appearing and clearing and
  sources going down and coming back, and the spans recorded;
- ``GET /api/history?vhost=&node=ID&from=&to=&points=``: a node's depths, consumers and rates
  over the window (downsampled to at most ``points``);
- ``GET /api/frames?vhost=&from=&to=&limit=``: the frames the page was sent between two
  moments (snapshot, patch, findings, activity, status), for the page to play forward
  from ``/api/topology?at=from``;
- ``GET /api/export?from=&to=``: that window as a recording file of its own, for --replay.

All of them only read. See docs/recording.md.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
import time
from typing import Any

from flask import Blueprint, Response, abort, jsonify, request, send_file

from ..hub import Hub
from ..recording import Recording
from ..recording.export import export
from ..recording.reader import (
    DEFAULT_FRAMES,
    DEFAULT_POINTS,
    MAX_FRAMES,
    MAX_POINTS,
    RecordingReader,
)
from . import moments
from .errors import json_error
from .views import MAX_NAME_BYTES, vhost_arg

MAX_NODE_ID_BYTES = MAX_NAME_BYTES + 64  # a kind prefix and a name (a worker edge id joins two)
MAX_SPANS = 100


def node_arg() -> str:
    node = request.args.get("node")
    if not node:
        abort(400, "give ?node=ID (a node's id, e.g. queue:orders)")
    if len(node.encode("utf-8", "surrogatepass")) > MAX_NODE_ID_BYTES:
        abort(400, f"node ids are at most {MAX_NODE_ID_BYTES} bytes")
    return node


def recording_info(recording: Recording) -> dict[str, Any]:
    reader = recording.reader
    window = reader.window() if reader is not None else None
    spans = reader.spans() if reader is not None else []
    body: dict[str, Any] = {
        "mode": "off",
        "state": "off",
        "message": "",
        "file": None,
        "window": window.to_json() if window else None,
        "spans": spans[-MAX_SPANS:],
        "spans_total": len(spans),
        "max_hours": None,
        "max_mb": None,
        "used_bytes": None,
        "dropped": 0,
        "lost_while_paused": 0,
    }
    if recording.recorder is not None:
        info = recording.recorder.info()
        body.update(
            {
                key: info[key]
                for key in (
                    "state",
                    "message",
                    "file",
                    "max_hours",
                    "max_mb",
                    "used_bytes",
                    "dropped",
                    "lost_while_paused",
                )
            },
            mode="recording",
        )
    elif recording.replay is not None and reader is not None:
        body.update(
            mode="replay", state="replay", file=os.path.basename(reader.path), used_bytes=os.path.getsize(reader.path)
        )
    return body


def blueprint(hub: Hub, recording: Recording) -> Blueprint:
    bp = Blueprint("recording", __name__)
    exporting = threading.Lock()  # one export at a time: each copies up to the whole file

    @bp.get("/api/recording")
    def info() -> Response:
        if recording.reader is None:
            return jsonify(recording_info(recording))
        return moments.from_recording(recording.reader, lambda _reader: recording_info(recording))

    @bp.get("/api/timeline")
    def timeline() -> Response:
        vhost = vhost_arg(hub)
        start, end = moments.time_arg("from"), moments.time_arg("to")
        return moments.from_recording(recording.reader, lambda r: r.timeline(vhost, start, end))

    @bp.get("/api/history")
    def history() -> Response:
        vhost, node = vhost_arg(hub), node_arg()
        start, end = moments.time_arg("from"), moments.time_arg("to")
        points = moments.int_arg("points", DEFAULT_POINTS, 2, MAX_POINTS)

        live = hub.view(vhost)
        on_graph = live is not None and node in live.graph.nodes

        def answer(reader: RecordingReader) -> dict[str, Any]:
            return reader.history(vhost, node, start, end, points, on_graph=on_graph)

        return moments.from_recording(recording.reader, answer)

    @bp.get("/api/frames")
    def frames() -> Response:
        vhost = vhost_arg(hub)
        start, end = moments.time_arg("from"), moments.time_arg("to")
        if start is None or end is None:
            abort(400, "give ?from=UNIX_TIME&to=UNIX_TIME: the frames after from, up to and including to")
        if start >= end:
            abort(400, "from must be before to")
        limit = moments.int_arg("limit", DEFAULT_FRAMES, 1, MAX_FRAMES)
        return moments.from_recording(recording.reader, lambda r: r.frames(vhost, start, end, limit))

    @bp.get("/api/export")
    def export_window() -> Response:
        start, end = moments.time_arg("from"), moments.time_arg("to")
        if start is not None and end is not None and start >= end:
            abort(400, "from must be before to")
        if not exporting.acquire(blocking=False):
            return json_error(429, "an export is being written; try again when it is done")
        try:
            return moments.from_recording(recording.reader, lambda r: _export(r, start, end))
        finally:
            exporting.release()

    return bp


def _export(reader: RecordingReader, start: float | None, end: float | None) -> Response:
    window = reader.window()
    start = start if start is not None else (window.start if window else 0.0)
    end = end if end is not None else (window.end if window else time.time())
    directory = tempfile.mkdtemp(prefix="visualiser-export-")
    name = "visualiser-recording-{}-{}.db".format(
        *(time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(t)) for t in (start, end))
    )
    try:
        done = export(reader.path, os.path.join(directory, name), start, end)
        response = send_file(
            done.path, mimetype="application/vnd.sqlite3", as_attachment=True, download_name=name, max_age=0
        )
    except BaseException:
        shutil.rmtree(directory, ignore_errors=True)
        raise
    response.call_on_close(lambda: shutil.rmtree(directory, ignore_errors=True))
    return response
