"""Security headers on every response: a strict CSP with no inline script, no framing.

Broker-supplied names reach the page only as data over JSON and Socket.IO and are drawn
as text; the CSP is the second line: even a name that slipped into markup could not run,
because only same-origin script files execute, and nothing may frame the page
(clickjacking) or be sniffed into another content type.
"""

from __future__ import annotations

from flask import Flask, Response, jsonify

CSP = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "font-src 'self'",
        "object-src 'none'",
        "frame-src 'none'",
        "worker-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)

HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",  # frame-ancestors for browsers that predate it
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=(), payment=(), usb=()",
    "Cache-Control": "no-store",  # topology is live and may be private: no proxy or disk caching
}


def install_security_headers(app: Flask) -> None:
    @app.after_request
    def _headers(response: Response) -> Response:
        for name, value in HEADERS.items():
            response.headers.setdefault(name, value)
        return response


def refuse_deep_json(app: Flask) -> None:
    """A JSON body nested past the parser's recursion limit is bad input (400), not a crash.

    Python's json module raises RecursionError, which is not a ValueError, so Flask's
    ``get_json(silent=True)`` lets it through as a 500.
    """

    @app.errorhandler(RecursionError)
    def _too_deep(_exc: RecursionError) -> Response:
        response = jsonify({"error": "input nested too deeply", "status": 400})
        response.status_code = 400
        return response
