"""The trace API: start, stop and read a firehose trace over HTTP; watch one over Socket.IO.

    POST   /api/trace   {"vhost", "exchange"?, "queue"?, "minutes"?}   start (or run longer)
    DELETE /api/trace?vhost=V                                            stop
    GET    /api/trace?vhost=V[&bodies=1]                                 status and recent messages

Only with --allow-tracing: otherwise every request is a 403 that says how to turn it on.
POST and DELETE are the only requests of the service that change the broker, so besides
authentication (which covers every route) they must come from the page's own origin (a
browser always sends Origin on them), and POST must carry a JSON body: a form on another
site can send neither, so it cannot start a trace with a logged-in user's credentials.
Message bodies are returned only when asked for (``bodies=1``), cut and as text.

Socket.IO: ``trace-subscribe {"vhost"}`` makes a page a watcher of that vhost's trace (it
gets ``trace`` at once and ``trace-activity`` frames while the trace runs), and
``trace-unsubscribe`` (or closing the page) ends that. A trace that had watchers stops
shortly after the last one leaves.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from typing import Any

from flask import Blueprint, Response, abort, jsonify, request
from flask_socketio import SocketIO, emit, join_room, leave_room, rooms

from ..config import Settings
from ..contract.vocabulary import TRACING_ENABLE_HINT
from ..hub import Hub
from ..tracing.tracer import TraceError, Tracer, TraceRequest, trace_room
from .hosts import HostAllowlist
from .sockets import MAX_VHOST_BYTES, origin_checker, sid

MAX_NAME_BYTES = 255
FIELDS = frozenset({"vhost", "exchange", "queue", "minutes"})
MIN_SECONDS = 1.0
TRUE = ("1", "true", "yes", "on")


def _byte_length(text: str) -> int:
    return len(text.encode("utf-8", "surrogatepass"))


def refusal(exc: TraceError) -> Response:
    body: dict[str, Any] = {"error": exc.message, "status": exc.status}
    if exc.status == 403:
        body["enable"] = TRACING_ENABLE_HINT
    response = jsonify(body)
    response.status_code = exc.status
    return response


def _json_body() -> dict[str, Any]:
    if not request.is_json:
        abort(400, "the body must be a JSON object (Content-Type: application/json)")
    try:
        body = json.loads(request.get_data(cache=True))
    except (ValueError, UnicodeDecodeError):
        abort(400, "the body is not valid JSON")
    if not isinstance(body, dict):
        abort(400, "the body must be a JSON object (Content-Type: application/json)")
    unknown = sorted(set(body) - FIELDS)
    if unknown:
        abort(
            400,
            f"unknown field(s) {', '.join(repr(k[:40]) for k in unknown[:5])}: "
            f"the fields are {', '.join(sorted(FIELDS))}",
        )
    return body


def _name(body: dict[str, Any], field: str, required: bool = False) -> str | None:
    value = body.get(field)
    if value is None and not required:
        return None
    if not isinstance(value, str):
        abort(400, f"'{field}' must be a string" + ("" if required else " (or left out)"))
    if _byte_length(value) > MAX_NAME_BYTES:
        abort(400, f"'{field}' is longer than {MAX_NAME_BYTES} bytes")
    return value


def _minutes(body: dict[str, Any], settings: Settings) -> float:
    value = body.get("minutes")
    if value is None:
        return min(settings.trace_minutes, settings.trace_max_minutes)
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        abort(400, "'minutes' must be a number")
    if value * 60 < MIN_SECONDS or value > settings.trace_max_minutes:
        abort(
            400,
            f"'minutes' must be between {MIN_SECONDS / 60:.3g} and {settings.trace_max_minutes:g} "
            "(the most this service allows: --trace-max-minutes)",
        )
    return float(value)


def blueprint(hub: Hub, tracer: Tracer, settings: Settings) -> Blueprint:
    bp = Blueprint("trace", __name__)
    same_origin = origin_checker(settings.allowed_origins, HostAllowlist.from_settings(settings))

    def from_this_page() -> None:
        """A change to the broker must come from the page's own origin (or a configured one)."""
        origin = request.headers.get("Origin")
        site = request.headers.get("Sec-Fetch-Site", "")
        if origin is None and site in ("cross-site", "same-site"):
            abort(403, "refused: a request from another site may not change the broker")
        if not same_origin(origin, request.environ):
            abort(
                403,
                "refused: a request from another origin may not change the broker "
                "(add the origin to --allowed-origins if a proxy serves the page under it)",
            )

    def known(vhost: str) -> str:
        if vhost not in hub.vhosts():
            abort(404, f"no vhost named {vhost!r} (see /api/vhosts)")
        return vhost

    def vhost_param(required: bool) -> str:
        vhost = request.args.get("vhost")
        if vhost is None:
            if required:
                abort(400, "give ?vhost=NAME")
            vhosts = hub.vhosts()
            vhost = "/" if "/" in vhosts or not vhosts else vhosts[0]
        if _byte_length(vhost) > MAX_NAME_BYTES:
            abort(400, f"vhost names are at most {MAX_NAME_BYTES} bytes")
        return known(vhost)

    def answer(action: Callable[[], dict[str, Any]], status: int = 200) -> Response:
        try:
            response = jsonify(action())
        except TraceError as exc:
            return refusal(exc)
        except TimeoutError:
            abort(503, "the service is busy: try again in a moment")
        response.status_code = status
        return response

    @bp.post("/api/trace")
    def start() -> Response:
        try:
            tracer.check_allowed()
        except TraceError as exc:
            return refusal(exc)
        from_this_page()
        body = _json_body()
        vhost = known(_name(body, "vhost", required=True) or "")
        trace = TraceRequest(vhost, _name(body, "exchange"), _name(body, "queue"), _minutes(body, settings))
        return answer(lambda: tracer.start(trace))

    @bp.delete("/api/trace")
    def stop() -> Response:
        try:
            tracer.check_allowed()
        except TraceError as exc:
            return refusal(exc)
        from_this_page()
        if request.get_data(cache=True):
            _json_body()  # a body is optional; when there is one, it is JSON
        vhost = vhost_param(required=True)
        return answer(lambda: tracer.stop(vhost, "stopped on request"))

    @bp.get("/api/trace")
    def status() -> Response:
        try:
            tracer.check_allowed()
        except TraceError as exc:
            return refusal(exc)
        vhost = vhost_param(required=False)
        bodies = request.args.get("bodies", "").lower() in TRUE
        return answer(lambda: tracer.status(vhost, messages=True, bodies=bodies))

    return bp


def register_socket(socketio: SocketIO, tracer: Tracer) -> None:
    """``trace-subscribe`` / ``trace-unsubscribe``; closing the page is handled by the caller
    passing ``tracer.unwatch`` to sockets.make_socketio's disconnect hooks."""

    def valid_vhost(data: Any) -> str | None:
        vhost = data.get("vhost") if isinstance(data, dict) else None
        if not isinstance(vhost, str) or _byte_length(vhost) > MAX_VHOST_BYTES:
            emit("error", {"message": 'trace-subscribe needs {"vhost": NAME}'})
            return None
        return vhost

    def on_subscribe(data: Any) -> None:
        vhost = valid_vhost(data)
        if vhost is None:
            return
        client = sid()
        leave_trace_rooms()
        join_room(trace_room(vhost))
        if tracer.allowed:
            tracer.watch(client, vhost)
        try:
            emit("trace", tracer.status(vhost))
        except TimeoutError:
            emit("error", {"message": "the service is busy: subscribe to the trace again in a moment", "vhost": vhost})

    def on_unsubscribe(_data: Any = None) -> None:
        leave_trace_rooms()
        tracer.unwatch(sid())

    socketio.on_event("trace-subscribe", on_subscribe)
    socketio.on_event("trace-unsubscribe", on_unsubscribe)


def leave_trace_rooms() -> None:
    """A page watches one trace at a time."""
    for room in [str(r) for r in rooms()]:
        if room.startswith(trace_room("")):
            leave_room(room)
