"""Past moments in the JSON API: reading ``at=``, ``from=`` and ``to=``, and answering from the
recording with the same errors everywhere.

A moment outside what was recorded is a 404 whose body carries the recorded window
(``{"error", "status", "window": {"from", "to"}}``), so the page can say what it can show;
a service that does not record answers the same with ``"window": null``.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any

from flask import Response, abort, jsonify, request

from ..recording.reader import NotThere, OutsideWindow, RecordingReader
from ..recording.schema import RecordingError
from .errors import json_error

LATEST_TIME = 1e11  # far beyond any recording; a larger number is a mistake, not a moment


def time_arg(name: str) -> float | None:
    """The UNIX time in ?name=, or None when absent; 400 for anything else."""
    raw = request.args.get(name)
    if raw is None or raw == "":
        return None
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or not 0 <= value <= LATEST_TIME:
        abort(400, f"{name} must be a UNIX time in seconds, e.g. {name}={int(time.time())}")
    return value


def int_arg(name: str, default: int, low: int, high: int) -> int:
    raw = request.args.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        value = low - 1
    if not low <= value <= high:
        abort(400, f"{name} must be a whole number from {low} to {high}")
    return value


def window_error(status: int, message: str, window: dict[str, float] | None) -> Response:
    response = jsonify({"error": message, "status": status, "window": window})
    response.status_code = status
    return response


def from_recording(reader: RecordingReader | None, answer: Callable[[RecordingReader], Any]) -> Response:
    """``answer(reader)`` as JSON, or the error that says why the past cannot be shown."""
    if reader is None:
        return window_error(
            404,
            "this service does not record (it was started with --no-record, or without "
            "--record): there is no past to show",
            None,
        )
    try:
        result = answer(reader)
    except OutsideWindow as exc:
        return window_error(404, str(exc), exc.window.to_json() if exc.window else None)
    except NotThere as exc:
        return json_error(404, str(exc))
    except RecordingError as exc:
        return json_error(503, str(exc))
    return result if isinstance(result, Response) else jsonify(result)
