"""The diagnostics part of the JSON API: a vhost's findings and a queue's depth history.

``?at=UNIX_TIME`` answers with the findings the page showed then, from the recording.
"""

from __future__ import annotations

from typing import Any, Protocol

from flask import Blueprint, Response, jsonify, request

from ..hub import Hub
from ..recording.reader import RecordingReader
from . import moments
from .errors import json_error
from .views import MAX_NAME_BYTES, known_vhost, vhost_arg


class FindingsReader(Protocol):
    """The live diagnostics, or in a replay the findings it recorded."""

    def findings(self, vhost: str) -> list[dict[str, Any]]: ...

    def queue_history(self, vhost: str, queue: str) -> dict[str, Any] | None: ...


def blueprint(hub: Hub, diagnostics: FindingsReader, recording: RecordingReader | None = None) -> Blueprint:
    bp = Blueprint("diagnostics", __name__)

    @bp.get("/api/diagnostics")
    def findings() -> Response:
        at = moments.time_arg("at")
        if at is not None:
            vhost = vhost_arg(hub)
            return moments.from_recording(
                recording, lambda r: {"vhost": vhost, "at": at, "findings": r.findings(vhost, at)}
            )
        vhost = known_vhost(hub)
        return jsonify({"vhost": vhost, "findings": diagnostics.findings(vhost)})

    @bp.get("/api/queue-history")
    def queue_history() -> Response:
        vhost = known_vhost(hub)
        queue = request.args.get("queue")
        if queue is None:
            return json_error(400, "give ?queue=NAME")
        if len(queue.encode("utf-8", "surrogatepass")) > MAX_NAME_BYTES:
            return json_error(400, f"queue names are at most {MAX_NAME_BYTES} bytes")
        body = diagnostics.queue_history(vhost, queue)
        if body is not None:
            return jsonify(body)
        view = hub.view(vhost)
        if view is not None and any(q.name == queue for q in view.entities.queues):
            # On the graph, not sampled yet (just declared, or its depth unknown): no history,
            # which is an answer, not a missing resource.
            return jsonify({"vhost": vhost, "queue": queue, "points": [], "slope": 0.0, "time_to_drain": None})
        return json_error(404, f"no queue {queue!r} in vhost {vhost!r}")

    return bp
