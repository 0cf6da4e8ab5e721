"""Pages and the JSON API: a thin layer over the hub's read side.

Views never change the broker or the model; they read the hub's immutable views. Bad
input gets a 4xx with a JSON message, never a 500.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, abort, current_app, jsonify, render_template, request
from werkzeug.exceptions import HTTPException

from ..hub import Hub

bp = Blueprint("views", __name__)


def hub() -> Hub:
    return current_app.extensions["visualiser.hub"]


def json_error(status: int, message: str) -> Response:
    response = jsonify({"error": message, "status": status})
    response.status_code = status
    return response


@bp.app_errorhandler(HTTPException)
def _http_error(exc: HTTPException) -> Response:
    if request.path.startswith("/api/") or request.path in ("/healthz", "/metrics"):
        return json_error(exc.code or 500, exc.description or exc.name)
    return exc  # type: ignore[return-value]


def vhost_arg() -> str:
    vhost = request.args.get("vhost")
    if vhost is None:
        vhosts = hub().vhosts()
        if len(vhosts) == 1 or "/" in vhosts:
            return vhosts[0] if len(vhosts) == 1 else "/"
        abort(400, "give ?vhost=NAME (see /api/vhosts)")
    if len(vhost.encode("utf-8", "surrogatepass")) > 255:
        abort(400, "vhost names are at most 255 bytes")
    return vhost


@bp.get("/")
def index() -> str:
    settings = current_app.config["VISUALISER_SETTINGS"]
    return render_template("index.html", mode=settings.mode)


@bp.get("/api/vhosts")
def vhosts() -> Response:
    return jsonify([{"name": name} for name in hub().vhosts()])


@bp.get("/api/topology")
def topology() -> Response:
    vhost = vhost_arg()
    message = hub().snapshot_message(vhost)
    if message is None:
        return json_error(404, f"no vhost named {vhost!r} (see /api/vhosts)")
    return jsonify({"vhost": message["vhost"], "version": message["version"], "source": message["status"],
                    "broker": message["broker"], "nodes": message["nodes"], "edges": message["edges"]})


@bp.get("/healthz")
def healthz() -> Response:
    statuses = {name: status.to_json() for name, status in hub().statuses().items()}
    healthy = all(s["state"] in ("ok", "starting") for s in statuses.values())
    body: dict[str, Any] = {"status": "ok" if healthy else "degraded", "sources": statuses}
    # 200 while the process is healthy: a failing broker is reported, not a reason to restart us.
    return jsonify(body)


@bp.get("/metrics")
def metrics() -> Response:
    return Response(hub().metrics.render(), mimetype="text/plain; version=0.0.4")
