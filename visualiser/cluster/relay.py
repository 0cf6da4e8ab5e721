"""Followers relay to the leader; the leader answers for every process.

A follower runs no source and holds no model: whatever a page asks of it is answered by the
leader, so that every page sees one model with one sequence of versions, whichever process
it is connected to.

- **Socket events** (connect, subscribe, resync, trace-subscribe, disconnect...) of a page held
  here are sent to the leader, which runs the very same handler as if the page were its own.
  What the handler emits to the page, and the rooms it joins or leaves for it, travel back
  through Socket.IO's message queue to this process, which delivers them. Because the leader
  emits a page's snapshot from the hub thread that emits every patch, and publishes both on
  one channel, a page gets its snapshot and the patches after it in order, as with one process.
- **HTTP reads** (``/api/*``, ``/healthz``, ``/metrics``) are forwarded once this process's own
  gates (Host allowlist, authentication, input limits) have let them through, and the leader
  answers them with its Flask app alone, past its gates (they have been passed here).
- **A new leader** starts with an empty model: every process, on its announcement, sends it
  again what each of its pages last asked for (``ClientBook``), so that every page gets a
  fresh snapshot numbered after any version it may hold.
"""

from __future__ import annotations

import base64
import functools
import io
import logging
import sys
import threading
from collections.abc import Callable
from typing import Any

from flask import Flask, Response, request

from ..server.errors import json_error
from .link import BrokerLink, Message, NoLeader
from .manager import ClusterManager

log = logging.getLogger(__name__)

FORWARD_SECONDS = 15.0  # a forwarded read waits this long for a leader (an election takes about one)
FORWARDED_PATHS = ("/healthz", "/metrics")
FORWARDED_PREFIX = "/api/"
LOCAL_PATHS = ("/api/cluster",)  # about this very process
HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "upgrade", "te", "trailer"}
NAMESPACE = "/"


class ClientBook:
    """The pages this process holds and what each last asked for: what a new leader is sent again."""

    def __init__(self) -> None:
        self._clients: dict[str, dict[str, list[Any]]] = {}
        self._lock = threading.Lock()

    def note(self, event: str, sid: str, args: list[Any]) -> None:
        with self._lock:
            if event == "disconnect":
                self._clients.pop(sid, None)
            elif event == "connect":
                self._clients[sid] = {"connect": args}
            elif event in ("subscribe", "trace-subscribe") and sid in self._clients:
                self._clients[sid][event] = args
            elif event == "trace-unsubscribe" and sid in self._clients:
                self._clients[sid].pop("trace-subscribe", None)

    def replay(self) -> list[tuple[str, str, list[Any]]]:
        """(sid, event, args), each page's in the order it sent them."""
        with self._lock:
            return [
                (sid, event, args)
                for sid, asked in self._clients.items()
                for event in ("connect", "subscribe", "trace-subscribe")
                if event in asked
                for args in [asked[event]]
            ]

    def __len__(self) -> int:
        with self._lock:
            return len(self._clients)


class Relay:
    def __init__(self, app: Flask, socketio: Any, manager: ClusterManager, link: BrokerLink):
        self.app, self.socketio, self.manager, self.link = app, socketio, manager, link
        self.book = ClientBook()

    # ---- socket events --------------------------------------------------------------------------
    def local_event(self, event: str, handler: Callable[..., Any], args: tuple[Any, ...]) -> Any:
        """A page held here sent ``event`` (Flask-SocketIO's request context): run it here if this
        process leads, else send it to the leader."""
        sid = str(getattr(request, "sid"))  # noqa: B009 - set by Flask-SocketIO, not a typed attribute
        self.book.note(event, sid, list(args))
        if self.link.is_leader:
            return handler(*args)
        self.link.send(self._socket_message(sid, event, list(args)))
        return None

    def _socket_message(self, sid: str, event: str, args: list[Any]) -> Message:
        rooms = [str(room) for room in self.manager.get_rooms(sid, NAMESPACE)]
        return {"kind": "socket", "event": event, "sid": sid, "args": args, "rooms": rooms}

    def run_socket_event(self, message: Message) -> None:
        """Leader: a page's event, run by its handler as if the page were held here."""
        handler = self.socketio.event_handlers.get(message.get("event"))
        sid, args, rooms = message.get("sid"), message.get("args"), message.get("rooms")
        if handler is None or not isinstance(sid, str) or not isinstance(args, list) or not isinstance(rooms, list):
            return
        with self.app.test_request_context("/socket.io/"):
            request.sid = sid  # type: ignore[attr-defined]  # as Flask-SocketIO sets them
            request.namespace = NAMESPACE  # type: ignore[attr-defined]
            with self.manager.forwarded_client(sid, [str(room) for room in rooms]):
                handler(*args)

    def replay(self) -> None:
        """A new leader: what every page held here last asked for, sent to it again."""
        pages = self.book.replay()
        for sid, event, args in pages:
            message = self._socket_message(sid, event, args)
            if self.link.is_leader:
                self.run_socket_event(message)
            else:
                self.link.send(message)
        if pages:
            log.info("sent the new leader what %d page(s) held here asked for", len(self.book))

    # ---- HTTP reads ---------------------------------------------------------------------------------
    def forward_reads(self) -> Response | None:
        """Flask ``before_request``: a follower forwards reads of the model to the leader."""
        path = request.path
        if self.link.is_leader or path in LOCAL_PATHS:
            return None
        if not (path.startswith(FORWARDED_PREFIX) or path in FORWARDED_PATHS):
            return None
        try:
            answer = self.link.call(self._request_message(), FORWARD_SECONDS)
        except (NoLeader, TimeoutError):
            return json_error(
                503, "no process of this service leads right now (they elect one within seconds): try again shortly"
            )
        headers = [
            (str(name), str(value)) for name, value in answer.get("headers", []) if str(name).lower() not in HOP_BY_HOP
        ]
        return Response(
            base64.b64decode(answer.get("body", "")), status=str(answer.get("status", "502")), headers=headers
        )

    def _request_message(self) -> Message:
        environ = request.environ
        headers = {
            key: value
            for key, value in environ.items()
            if isinstance(value, str) and (key.startswith("HTTP_") or key in ("CONTENT_TYPE", "CONTENT_LENGTH"))
        }
        return {
            "kind": "http",
            "method": request.method,
            "path": environ.get("PATH_INFO", "/"),
            "query": environ.get("QUERY_STRING", ""),
            "scheme": environ.get("wsgi.url_scheme", "http"),
            "server_name": environ.get("SERVER_NAME", "localhost"),
            "server_port": str(environ.get("SERVER_PORT", "80")),
            "remote_addr": environ.get("REMOTE_ADDR", ""),
            "headers": headers,
            "body": base64.b64encode(request.get_data(cache=True)).decode("ascii"),
        }

    def run_request(self, message: Message) -> Message:
        """Leader: a forwarded read, answered by the Flask app alone (the follower's gates passed it)."""
        from werkzeug.test import run_wsgi_app

        body = base64.b64decode(str(message.get("body", "")))
        headers = message.get("headers")
        environ: dict[str, Any] = {
            "REQUEST_METHOD": str(message.get("method", "GET")),
            "SCRIPT_NAME": "",
            "PATH_INFO": str(message.get("path", "/")),
            "QUERY_STRING": str(message.get("query", "")),
            "SERVER_NAME": str(message.get("server_name", "localhost")),
            "SERVER_PORT": str(message.get("server_port", "80")),
            "SERVER_PROTOCOL": "HTTP/1.1",
            "REMOTE_ADDR": str(message.get("remote_addr", "")),
            "wsgi.version": (1, 0),
            "wsgi.url_scheme": str(message.get("scheme", "http")),
            "wsgi.input": io.BytesIO(body),
            "wsgi.errors": sys.stderr,
            "wsgi.multithread": True,
            "wsgi.multiprocess": True,
            "wsgi.run_once": False,
            **({str(k): str(v) for k, v in headers.items()} if isinstance(headers, dict) else {}),
        }
        inner = functools.partial(Flask.wsgi_app, self.app)
        app_iter, status, response_headers = run_wsgi_app(inner, environ, buffered=True)
        try:
            answer = b"".join(app_iter)
        finally:
            close = getattr(app_iter, "close", None)
            if callable(close):
                close()
        return {
            "status": status,
            "headers": list(response_headers.items()),
            "body": base64.b64encode(answer).decode("ascii"),
        }
