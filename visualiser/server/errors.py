"""JSON errors for the API: bad input is a 4xx with a message that names the fix, never a 500."""

from __future__ import annotations

from flask import Flask, Response, jsonify, request
from werkzeug.exceptions import HTTPException

JSON_PATHS = ("/api/", "/healthz", "/metrics")


def json_error(status: int, message: str) -> Response:
    response = jsonify({"error": message, "status": status})
    response.status_code = status
    return response


def install(app: Flask) -> None:
    """API paths answer errors as JSON; pages keep Flask's HTML error pages."""

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException) -> Response | HTTPException:
        if request.path.startswith(JSON_PATHS[0]) or request.path in JSON_PATHS[1:]:
            return json_error(exc.code or 500, exc.description or exc.name)
        return exc
