"""Pages and the core JSON API: a thin layer over the hub's read side.

Views never change the broker or the model; they read the hub's immutable views. Bad
input gets a 4xx with a JSON message, never a 500.
"""

from __future__ import annotations

import json
from typing import Any

from flask import Blueprint, Response, abort, jsonify, render_template, request
from markupsafe import Markup

from ..config import Settings
from ..contract.vocabulary import HEALTHY_STATES, vocabulary
from ..hub import Hub
from ..recording.reader import RecordingReader
from . import moments
from .errors import json_error

MAX_NAME_BYTES = 255


def vhost_arg(hub: Hub) -> str:
    """The ?vhost= argument, or the only (or "/") vhost when it is left out."""
    vhost = request.args.get("vhost")
    if vhost is None:
        vhosts = hub.vhosts()
        if len(vhosts) == 1 or "/" in vhosts:
            return vhosts[0] if len(vhosts) == 1 else "/"
        abort(400, "give ?vhost=NAME (see /api/vhosts)")
    if len(vhost.encode("utf-8", "surrogatepass")) > MAX_NAME_BYTES:
        abort(400, f"vhost names are at most {MAX_NAME_BYTES} bytes")
    return vhost


def known_vhost(hub: Hub) -> str:
    vhost = vhost_arg(hub)
    if hub.view(vhost) is None:
        abort(404, f"no vhost named {vhost!r} (see /api/vhosts)")
    return vhost


def vocabulary_json() -> Markup:
    """The vocabulary for a <script type="application/json"> block: '<', '>' and '&' escaped
    so that no value can close the block."""
    text = json.dumps(vocabulary(), ensure_ascii=False, separators=(",", ":"))
    text = text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    return Markup(text)  # noqa: S704 - escaped above; the block is data, never run


def topology_at(reader: RecordingReader, vhost: str, at: float) -> dict[str, Any]:
    """What /api/topology answered at that moment, from the recording (plus when it was recorded)."""
    moment = reader.moment(vhost, at)
    snapshot = moment.snapshot()
    return {
        "vhost": vhost,
        "version": snapshot["version"],
        "source": snapshot["status"],
        "broker": snapshot["broker"],
        "nodes": snapshot["nodes"],
        "edges": snapshot["edges"],
        "at": at,
        "recorded_at": moment.recorded_at,
    }


def blueprint(hub: Hub, settings: Settings, recording: RecordingReader | None = None) -> Blueprint:
    bp = Blueprint("views", __name__)

    @bp.get("/")
    def index() -> str:
        # The Route tab offers Celery task routes when there is an app to ask (the demo has its own).
        celery_routes = bool(settings.celery_app or settings.demo)
        return render_template(
            "index.html",
            mode=settings.mode,
            vocabulary=vocabulary_json(),
            celery_routes="yes" if celery_routes else "no",
        )

    @bp.get("/api/vhosts")
    def vhosts() -> Response:
        at = moments.time_arg("at")
        if at is not None:
            return moments.from_recording(recording, lambda r: [{"name": name} for name in r.vhosts_at(at)])
        return jsonify([{"name": name} for name in hub.vhosts()])

    @bp.get("/api/vocabulary")
    def vocabulary_view() -> Response:
        return jsonify(vocabulary())

    @bp.get("/api/topology")
    def topology() -> Response:
        vhost = vhost_arg(hub)
        at = moments.time_arg("at")
        if at is not None:
            return moments.from_recording(recording, lambda r: topology_at(r, vhost, at))
        message = hub.snapshot_message(vhost)
        if message is None:
            return json_error(404, f"no vhost named {vhost!r} (see /api/vhosts)")
        return jsonify(
            {
                "vhost": message["vhost"],
                "version": message["version"],
                "source": message["status"],
                "broker": message["broker"],
                "nodes": message["nodes"],
                "edges": message["edges"],
            }
        )

    @bp.get("/healthz")
    def healthz() -> Response:
        statuses = {name: status.to_json() for name, status in hub.statuses().items()}
        healthy = all(s["state"] in HEALTHY_STATES for s in statuses.values())
        body: dict[str, Any] = {"status": "ok" if healthy else "degraded", "sources": statuses}
        # 200 while the process is healthy: a failing broker is reported, not a reason to restart us.
        return jsonify(body)

    @bp.get("/metrics")
    def metrics() -> Response:
        return Response(hub.metrics.render(), mimetype="text/plain; version=0.0.4")

    return bp
