"""The Celery part of the JSON API: workers, tasks (a list, one task, failures grouped by
exception) and the events source's summary.

Celery state belongs to the hub thread; each view reads a copy through ``Hub.call`` and
answers 503 when the hub is too busy to answer in time, never a half-read state. Every
answer is bounded (limits on lists, capped groups), and bad input is a 400 that says what
to send instead.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Blueprint, Response, jsonify, request

from ..celery.failures import MAX_GROUPS, group_failures
from ..celery.monitor import CeleryMonitor
from ..contract.vocabulary import TASK_STATES
from ..hub import Hub
from .errors import json_error

MAX_TASK_LIMIT = 1000
DEFAULT_TASK_LIMIT = 100
DEFAULT_GROUPS = 20
FILTERS = ("name", "state", "worker", "queue", "uuid", "uuid_prefix", "search")
MAX_FILTER_CHARS = 255
EVENTS_SOURCE = "celery-events"
# What GET /api/celery?include= may add to the summary: the Tasks tab asks for all three at once.
INCLUDES = ("tasks", "workers", "failures")


class BadRequest(ValueError):
    """A query argument that cannot be used; its message names the fix."""


def _whole_number(name: str, default: int, top: int) -> int:
    raw = request.args.get(name, str(default))
    if not (raw.isascii() and raw.isdigit()) or not 1 <= int(raw) <= top:
        raise BadRequest(f"{name} must be a whole number from 1 to {top}")
    return int(raw)


def _filters() -> dict[str, str]:
    filters = {key: request.args.get(key, "") for key in FILTERS}
    if any(len(value) > MAX_FILTER_CHARS for value in filters.values()):
        raise BadRequest(f"filters are at most {MAX_FILTER_CHARS} characters")
    if filters["state"] and filters["state"] not in TASK_STATES:
        raise BadRequest(f"state must be one of {', '.join(TASK_STATES)}")
    return filters


def _includes() -> set[str]:
    asked = {part.strip() for part in request.args.get("include", "").split(",") if part.strip()}
    unknown = asked - set(INCLUDES)
    if unknown:
        raise BadRequest(
            f"include takes a comma-separated list of {', '.join(INCLUDES)}; not {', '.join(sorted(unknown))}"
        )
    return asked


def blueprint(hub: Hub, monitor: CeleryMonitor) -> Blueprint:
    bp = Blueprint("celery", __name__)

    def read(fn: Callable[[], Any]) -> Response:
        try:
            return jsonify(hub.call(fn))
        except TimeoutError:
            return json_error(503, "busy; try again")

    @bp.errorhandler(BadRequest)
    def _bad_request(exc: BadRequest) -> Response:
        return json_error(400, str(exc))

    @bp.get("/api/workers")
    def workers() -> Response:
        return read(monitor.workers_json)

    @bp.get("/api/tasks")
    def tasks() -> Response:
        limit, filters = _whole_number("limit", DEFAULT_TASK_LIMIT, MAX_TASK_LIMIT), _filters()
        return read(lambda: monitor.state.tasks_json(limit, filters))

    @bp.get("/api/tasks/<path:uuid>")
    def task(uuid: str) -> Response:
        if len(uuid) > MAX_FILTER_CHARS:
            return json_error(400, f"task ids are at most {MAX_FILTER_CHARS} characters")
        try:
            found = hub.call(lambda: monitor.state.task_json(uuid))
        except TimeoutError:
            return json_error(503, "busy; try again")
        if found is None:
            kept = monitor.state.tasks.limit
            return json_error(
                404,
                f"no task {uuid!r} among the {kept:,} most recent tasks this service keeps "
                "(search with /api/tasks?uuid_prefix=)",
            )
        return jsonify(found)

    @bp.get("/api/failures")
    def failures() -> Response:
        limit = _whole_number("limit", DEFAULT_GROUPS, MAX_GROUPS)
        return read(lambda: failures_json(monitor, limit))

    @bp.get("/api/celery")
    def summary() -> Response:
        includes = _includes()
        limit = _whole_number("limit", DEFAULT_TASK_LIMIT, MAX_TASK_LIMIT) if "tasks" in includes else 0
        filters = _filters() if "tasks" in includes else {}
        status = hub.statuses().get(EVENTS_SOURCE)

        def build() -> dict[str, Any]:
            body: dict[str, Any] = {
                "vhost": monitor.vhost,
                "enabled": monitor.enabled,
                "source": status.to_json() if status else None,
                "gaps": monitor.gaps(),
                "recent": monitor.state.recent_json(),
                **monitor.state.stats_json(),
            }
            if "tasks" in includes:
                body["tasks"] = monitor.state.tasks_json(limit, filters, summary=True)
            if "workers" in includes:
                body["workers"] = monitor.workers_json()
            if "failures" in includes:
                body["failures"] = failures_json(monitor, DEFAULT_GROUPS)
            return body

        return read(build)

    return bp


def failures_json(monitor: CeleryMonitor, limit: int) -> dict[str, Any]:
    state = monitor.state
    return {
        **group_failures(state.failed_tasks(), limit),
        "tasks_kept": len(state.tasks),
        "tasks_limit": state.tasks.limit,
    }
