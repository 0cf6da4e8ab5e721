"""A fault-injecting HTTP proxy for the RabbitMQ management API, for fault tests.

It sits between the app and the real broker. The app authenticates to the proxy with its
own secret, which the proxy swaps for the broker's credentials, so a test can grep every
output of the app for that secret. A test switches faults on and off while the app runs:

- ``slow``: answer only after ``delay`` seconds (past the app's request timeout)
- ``500``, ``401``: answer that status with a small JSON body, as the broker would
- ``html``: answer 200 with an HTML page (a captive portal, a misrouted proxy)
- ``refused``: stop listening, so connections are refused; ``clear()`` listens again

and answers a hostile broker (or something posing as one) could give:

- ``page-bomb``: every paginated listing says it has 100,000,000 pages, with no items
- ``trickle``: the headers at once, then the body a byte at a time (``trickle_every`` seconds
  apart, less than the app's read timeout, so that no single read ever times out), for ever
- ``huge``: a 200 whose body is larger than any broker's (``huge_bytes``), streamed

Every request method the app used is recorded, to show that it only ever reads.
"""

from __future__ import annotations

import base64
import contextlib
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import requests

FAULTS = ("slow", "500", "401", "html", "refused", "page-bomb", "trickle", "huge")
PAGE_BOMB = b'{"items":[],"page":1,"page_count":100000000,"page_size":500,"total_count":0,"filtered_count":0}'
CHUNK = 1024 * 1024


class FaultProxy:
    def __init__(
        self,
        upstream: str,
        upstream_auth: tuple[str, str],
        app_auth: tuple[str, str],
        delay: float = 3.0,
        huge_bytes: int = 80 * CHUNK,
        trickle_every: float = 0.3,
    ):
        self.upstream, self.upstream_auth, self.delay = upstream.rstrip("/"), upstream_auth, delay
        self.huge_bytes, self.trickle_every = huge_bytes, trickle_every
        self.bytes_sent = 0  # of hostile bodies (trickle, huge)
        self.expected_header = "Basic " + base64.b64encode(":".join(app_auth).encode()).decode()
        self.fault: str | None = None
        self.methods: set[str] = set()
        self.requests_seen = 0
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._open: set[socket.socket] = set()  # kept-alive connections: "refused" must cut them too
        self.port = self._free_port()
        self._listen()

    @staticmethod
    def _free_port() -> int:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            return sock.getsockname()[1]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # ---- control --------------------------------------------------------------------------
    def set_fault(self, fault: str | None) -> None:
        if fault is not None and fault not in FAULTS:
            raise ValueError(f"unknown fault {fault!r}")
        with self._lock:
            self.fault = fault
        if fault == "refused":
            self._stop_listening()
        elif self._server is None:
            self._listen()

    def clear(self) -> None:
        self.set_fault(None)

    def close(self) -> None:
        self._stop_listening()

    # ---- serving ----------------------------------------------------------------------------
    def _listen(self) -> None:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:  # noqa: N802 - the http.server naming
                proxy._handle(self)

            do_POST = do_PUT = do_DELETE = do_PATCH = do_GET  # noqa: N815 - recorded, then refused

            def log_message(self, *args: Any) -> None:
                pass

            def setup(self) -> None:
                super().setup()
                with proxy._lock:
                    proxy._open.add(self.connection)

            def finish(self) -> None:
                with proxy._lock:
                    proxy._open.discard(self.connection)
                super().finish()

        ThreadingHTTPServer.allow_reuse_address = True
        server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        self._server = server

    def _stop_listening(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
        with self._lock:
            connections, self._open = list(self._open), set()
        for connection in connections:
            with contextlib.suppress(OSError):  # already closed by the other end
                connection.shutdown(socket.SHUT_RDWR)

    def _handle(self, handler: BaseHTTPRequestHandler) -> None:
        with self._lock:
            self.methods.add(handler.command)
            self.requests_seen += 1
            fault = self.fault
        if handler.command != "GET":
            return self._reply(handler, 405, b'{"error":"read-only proxy"}')
        if handler.headers.get("Authorization") != self.expected_header:
            return self._reply(handler, 401, b'{"error":"not_authorised","reason":"bad app credentials"}')
        if fault == "slow":
            time.sleep(self.delay)
        elif fault == "500":
            return self._reply(handler, 500, b'{"error":"Internal Server Error","reason":"injected"}')
        elif fault == "401":
            return self._reply(handler, 401, b'{"error":"not_authorised","reason":"Login failed"}')
        elif fault == "html":
            return self._reply(handler, 200, b"<html><body>Please sign in to the proxy</body></html>", "text/html")
        elif fault == "page-bomb" and "page=" in handler.path:
            return self._reply(handler, 200, PAGE_BOMB)
        elif fault == "trickle":
            return self._trickle(handler)
        elif fault == "huge":
            return self._huge(handler)
        self._forward(handler)

    def _trickle(self, handler: BaseHTTPRequestHandler) -> None:
        """A body that never ends, a byte at a time: each read succeeds, the answer never completes."""
        with contextlib.suppress(OSError):
            handler.send_response(200)
            handler.send_header("Content-Type", "application/json")
            handler.send_header("Content-Length", "1000000")
            handler.end_headers()
            handler.wfile.write(b"[")
            while self.fault == "trickle":
                handler.wfile.write(b" ")
                handler.wfile.flush()
                with self._lock:
                    self.bytes_sent += 1
                time.sleep(self.trickle_every)

    def _huge(self, handler: BaseHTTPRequestHandler) -> None:
        with contextlib.suppress(OSError):
            handler.send_response(200)
            handler.send_header("Content-Type", "application/json")
            handler.send_header("Content-Length", str(self.huge_bytes))
            handler.end_headers()
            chunk = b" " * CHUNK
            for _ in range(self.huge_bytes // CHUNK):
                handler.wfile.write(chunk)
                with self._lock:
                    self.bytes_sent += CHUNK

    def _forward(self, handler: BaseHTTPRequestHandler) -> None:
        try:
            upstream = requests.get(self.upstream + handler.path, auth=self.upstream_auth, timeout=30)
        except requests.RequestException:
            return self._reply(handler, 502, b'{"error":"upstream unreachable"}')
        self._reply(
            handler, upstream.status_code, upstream.content, upstream.headers.get("Content-Type", "application/json")
        )

    @staticmethod
    def _reply(handler: BaseHTTPRequestHandler, status: int, body: bytes, kind: str = "application/json") -> None:
        try:
            handler.send_response(status)
            handler.send_header("Content-Type", kind)
            handler.send_header("Content-Length", str(len(body)))
            handler.end_headers()
            handler.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the app gave up waiting (the slow fault): nothing to tell it
