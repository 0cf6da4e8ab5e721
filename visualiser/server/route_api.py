"""The routing API: "where does this message go?" and where Celery sends each task.

POST /api/route routes one message through the hub's current entities for the vhost.
GET /api/celery/tasks and GET /api/celery/route?task=NAME resolve the --celery-app's task
routes with Celery's own router and follow them through the same simulator. Input is
checked field by field: a clear 4xx, never a 500.
"""

from __future__ import annotations

import json
import math
import sys
import threading
from typing import Any

from flask import Blueprint, Response, abort, jsonify, request

from ..hub import Hub, VhostView
from ..model.topology import node_id
from ..routing import route
from ..routing.celery_routes import (
    CeleryAppError,
    TaskRoute,
    broker_vhost,
    load_app,
    resolve,
    task_names,
    unused_exchanges,
)

MAX_NAME_BYTES = 255  # AMQP short strings: names, routing keys, header keys
MAX_HEADERS = 64
MAX_TASK_NAME = 512
AMQP_LONG = 2**63  # signed 64-bit: the widest integer a header can carry
ROUTING_HEADERS = ("CC", "BCC")


class _IntegerTooLong(ValueError):
    def __init__(self, digits: int):
        super().__init__(digits)
        self.digits = digits


def _integer(text: str) -> int:
    """json's parse_int, checking first what int() would refuse with a bare ValueError."""
    limit = sys.get_int_max_str_digits()
    digits = len(text.lstrip("-"))
    if limit and digits > limit:
        raise _IntegerTooLong(digits)
    return int(text)


def _json_object() -> dict[str, Any]:
    """The request's JSON object, or a 400 that says what is wrong with it."""
    if not request.is_json:
        abort(400, "the body must be a JSON object (Content-Type: application/json)")
    try:
        body = json.loads(request.get_data(cache=True), parse_int=_integer)
    except _IntegerTooLong as exc:
        abort(
            400,
            f"the body holds an integer of {exc.digits:,} digits, more than Python reads "
            f"({sys.get_int_max_str_digits():,}, its integer-string conversion limit); "
            "a header integer must fit 64 bits (at most 19 digits)",
        )
    except UnicodeDecodeError:
        abort(400, "the body is not UTF-8 JSON")
    except ValueError as exc:
        message = exc.msg if isinstance(exc, json.JSONDecodeError) else "malformed"
        position = f" at line {exc.lineno}, column {exc.colno}" if isinstance(exc, json.JSONDecodeError) else ""
        abort(400, f"the body is not valid JSON ({message}{position})")
    if not isinstance(body, dict):
        abort(400, "the body must be a JSON object (Content-Type: application/json)")
    return body


def _byte_length(text: str) -> int:
    return len(text.encode("utf-8", "surrogatepass"))


def _short_string(body: dict[str, Any], field: str, default: str | None = None) -> str:
    value = body.get(field, default)
    if not isinstance(value, str):
        abort(400, f"'{field}' must be a string")
    if _byte_length(value) > MAX_NAME_BYTES:
        abort(400, f"'{field}' is longer than {MAX_NAME_BYTES} bytes")
    return value


def _header_value(key: str, value: Any) -> Any:
    if key in ROUTING_HEADERS:
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            abort(400, f"header '{key}' must be a list of routing keys (strings)")
        if any(_byte_length(v) > MAX_NAME_BYTES for v in value):
            abort(400, f"header '{key}' has a routing key longer than {MAX_NAME_BYTES} bytes")
        return value
    if isinstance(value, (bool, str)):
        return value
    if isinstance(value, int):
        if not -AMQP_LONG <= value < AMQP_LONG:
            abort(400, f"header '{key}' does not fit a 64-bit integer")
        return value
    if isinstance(value, float) and math.isfinite(value):
        return value
    abort(400, f"header '{key}' must be a string, an integer, a finite number or a boolean")


def _headers(body: dict[str, Any]) -> dict[str, Any]:
    headers = body.get("headers")
    if headers is None:
        return {}
    if not isinstance(headers, dict):
        abort(400, "'headers' must be an object of name: value")
    if len(headers) > MAX_HEADERS:
        abort(400, f"at most {MAX_HEADERS} headers")
    for key in headers:
        if _byte_length(key) > MAX_NAME_BYTES:
            abort(400, f"a header name is longer than {MAX_NAME_BYTES} bytes")
    return {key: _header_value(key, value) for key, value in headers.items()}


def _view(hub: Hub, vhost: str) -> VhostView:
    view = hub.view(vhost)
    if view is None:
        abort(404, f"no vhost named {vhost!r} (see /api/vhosts)")
    return view


def _default_vhost(hub: Hub) -> str:
    vhosts = hub.vhosts()
    return "/" if "/" in vhosts or not vhosts else vhosts[0]


# ---- Celery task routes ------------------------------------------------------------------------


class CeleryApps:
    """Imports the configured app once, on first use, and remembers a failure's message.
    ``app``: the app itself, when the caller holds it already (``celery -A proj visualiser``)."""

    def __init__(self, spec: str | None, app: Any = None):
        self.spec = spec or (getattr(app, "main", None) or "celery app" if app is not None else None)
        self._app: Any = app
        self._error: str | None = None
        self._lock = threading.Lock()

    def loaded(self) -> Any:
        """The app, or None when none is configured or it cannot be imported (the routing
        API says why)."""
        if not self.spec:
            return None
        self._load()
        return self._app

    def _load(self) -> None:
        with self._lock:
            if self._app is None and self._error is None:
                try:
                    self._app = load_app(self.spec or "")
                except CeleryAppError as exc:
                    self._error = str(exc)

    def get(self) -> Any:
        if not self.spec:
            abort(404, "no Celery app configured (start with --celery-app module:attribute)")
        self._load()
        if self._error:
            abort(503, self._error)
        return self._app


def _celery_vhost(hub: Hub, app: Any) -> str:
    vhost = request.args.get("vhost")
    if vhost is None:
        named = broker_vhost(app)
        return named if named in hub.vhosts() else _default_vhost(hub)
    if _byte_length(vhost) > MAX_NAME_BYTES:
        abort(400, f"vhost names are at most {MAX_NAME_BYTES} bytes")
    return vhost


def _followed(task_route: TaskRoute, view: VhostView) -> dict[str, Any]:
    answer = task_route.as_json()
    if task_route.error or task_route.exchange is None:
        answer.update(queues=[], reaches_queue=False, route=None)
        return answer
    if task_route.exchange and view.entities.exchange(task_route.exchange) is None:
        answer.update(
            queues=[],
            reaches_queue=False,
            route=None,
            problem=f"exchange {task_route.exchange!r} does not exist in vhost {view.vhost!r}",
        )
        return answer
    result = route(view.entities, task_route.exchange, task_route.routing_key or "")
    answer.update(
        queues=result.queues,
        reaches_queue=bool(result.queues) or result.status == "unsupported",
        route=result.as_json(),
    )
    if not result.queues and result.status != "unsupported":
        answer["problem"] = _no_queue_problem(task_route, view)
    return answer


def _no_queue_problem(task_route: TaskRoute, view: VhostView) -> str:
    if task_route.queue and view.entities.queue(task_route.queue) is None:
        # send_task_message declares the queue it names before publishing.
        return (
            f"reaches no queue on the broker now: queue {task_route.queue!r} does not exist; "
            "Celery declares it when it sends, if the sending user may configure it"
        )
    return "reaches no queue: the broker would drop the message"


def blueprint(hub: Hub, celery_apps: CeleryApps) -> Blueprint:
    bp = Blueprint("routing", __name__)

    @bp.post("/api/route")
    def route_message() -> Response:
        body = _json_object()
        vhost = _short_string(body, "vhost", _default_vhost(hub))
        exchange = _short_string(body, "exchange")
        routing_key = _short_string(body, "routing_key", "")
        headers = _headers(body)
        view = _view(hub, vhost)
        if exchange != "" and view.entities.exchange(exchange) is None:
            abort(404, f"no exchange named {exchange!r} in vhost {vhost!r}")
        result = route(view.entities, exchange, routing_key, headers)
        return jsonify(
            {
                "vhost": vhost,
                "exchange": exchange,
                "routing_key": routing_key,
                "version": view.version,
                **result.as_json(),
            }
        )

    @bp.get("/api/celery/tasks")
    def celery_tasks() -> Response:
        app = celery_apps.get()
        vhost = _celery_vhost(hub, app)
        view = _view(hub, vhost)
        routes = [resolve(app, name) for name in task_names(app)]
        tasks = [_followed(task_route, view) for task_route in routes]
        unused = [
            {**entry.as_json(), "node": node_id("exchange", entry.exchange)} for entry in unused_exchanges(app, routes)
        ]
        return jsonify({"vhost": vhost, "version": view.version, "tasks": tasks, "unused_exchanges": unused})

    @bp.get("/api/celery/route")
    def celery_route() -> Response:
        app = celery_apps.get()
        name = request.args.get("task")
        if not name:
            abort(400, "give ?task=NAME (see /api/celery/tasks)")
        if len(name) > MAX_TASK_NAME:
            abort(400, f"task names here are at most {MAX_TASK_NAME} characters")
        vhost = _celery_vhost(hub, app)
        view = _view(hub, vhost)
        return jsonify({"vhost": vhost, "version": view.version, **_followed(resolve(app, name), view)})

    return bp
