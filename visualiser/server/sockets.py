"""The Socket.IO side: a snapshot on subscribe, then the hub's patches via rooms.

A client joins one vhost's room at a time. It joins before reading the snapshot, so a
patch emitted in between is either already in the snapshot (its `to` is not newer, and
the client drops it) or follows it; a client that sees a `from` that is not its version
asks for a fresh snapshot with `resync`.

Connections are accepted from the page's own origin (plus a configured list, for a proxy
that changes the host name) and client messages are small: a page only ever sends a vhost
name, so anything bigger is refused before it is buffered.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from functools import partial
from typing import Any
from urllib.parse import urlsplit

from engineio.async_drivers._websocket_wsgi import SimpleWebSocketWSGI
from flask import Flask, current_app, request
from flask_socketio import SocketIO, emit, join_room, leave_room

from ..hub import Hub, room_for

MAX_VHOST_BYTES = 255
# A page sends {"vhost": NAME}; a few KB leaves room for features' small requests.
MAX_CLIENT_MESSAGE_BYTES = 16 * 1024


def origin_checker(extra_origins: Iterable[str]) -> Callable[[str | None, dict[str, Any]], bool]:
    """Engine.IO origin policy: the page's own host, or an explicitly configured origin.

    Engine.IO's default also trusts X-Forwarded-Host, which any non-browser client can set;
    here only the Host header the connection arrived with counts, plus the operator's list.
    """
    allowed = {origin.rstrip("/").lower() for origin in extra_origins}

    def accept(origin: str | None, environ: dict[str, Any] | None = None) -> bool:
        if not origin:
            return True  # not a browser: browsers always send Origin on cross-site requests
        origin = origin.rstrip("/").lower()
        if origin in allowed:
            return True
        host = (environ or {}).get("HTTP_HOST", "").lower()
        try:
            parts = urlsplit(origin)
        except ValueError:
            return False
        return bool(host) and parts.scheme in ("http", "https") and parts.netloc == host

    return accept


def refuse_large_polls(wsgi_app: Any, path: str = "/socket.io/") -> Callable[..., Any]:
    """413 for a long-polling POST over the limit, before Engine.IO sees it.

    Engine.IO's own refusal closes the session and waits for a poll that never drains it,
    holding a server thread for good; refusing here costs nothing and keeps the session.
    """

    def guard(environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        if environ.get("REQUEST_METHOD") == "POST" and environ.get("PATH_INFO", "").startswith(path):
            try:
                length = int(environ.get("CONTENT_LENGTH") or 0)
            except ValueError:
                length = MAX_CLIENT_MESSAGE_BYTES + 1
            if length > MAX_CLIENT_MESSAGE_BYTES:
                start_response("413 Request Entity Too Large", [("Content-Type", "text/plain"), ("Connection", "close")])
                return [b"message too large"]
        return wsgi_app(environ, start_response)

    return guard


def harden(app: Flask, socketio: SocketIO, extra_origins: Iterable[str]) -> None:
    """Same-origin (plus a list) connections only, and small client messages only."""
    eio = socketio.server.eio
    eio.cors_allowed_origins = origin_checker(extra_origins)
    eio.max_http_buffer_size = MAX_CLIENT_MESSAGE_BYTES
    # Engine.IO checks a websocket message's size only after simple-websocket has buffered
    # all of it; passing the limit down makes the transport close the socket (1009) early.
    # A copy of the driver table: the module's dict is shared by every server in the process.
    eio._async = {**eio._async, "websocket": partial(SimpleWebSocketWSGI, max_message_size=MAX_CLIENT_MESSAGE_BYTES)}
    app.wsgi_app = refuse_large_polls(app.wsgi_app)  # type: ignore[method-assign]

def register(socketio: SocketIO, hub: Hub) -> None:
    subscriptions: dict[str, str] = {}  # sid -> vhost

    def send_snapshot(vhost: str) -> None:
        # Sent from the hub thread, which also emits patches: the client then always gets
        # its snapshot before any patch that follows it, and never has to resync on join.
        sid = request.sid

        def send() -> None:
            message = hub.snapshot_message(vhost)
            if message is None:
                socketio.emit("error", {"message": f"no vhost named {vhost!r}", "vhost": vhost}, to=sid)
            else:
                socketio.emit("snapshot", message, to=sid)

        hub.submit(send)

    def valid_vhost(data: Any) -> str | None:
        vhost = data.get("vhost") if isinstance(data, dict) else None
        if not isinstance(vhost, str) or len(vhost.encode("utf-8", "surrogatepass")) > MAX_VHOST_BYTES:
            emit("error", {"message": "subscribe needs {\"vhost\": NAME}"})
            return None
        return vhost

    @socketio.on("connect")
    def on_connect(auth: Any = None) -> None:
        hub.metrics.add_gauge("visualiser_socket_clients", 1)
        emit("vhosts", [{"name": name} for name in hub.vhosts()])
        emit("hello", {"mode": current_app.config["VISUALISER_SETTINGS"].mode,
                       "statuses": {k: v.to_json() for k, v in hub.statuses().items()}})

    @socketio.on("disconnect")
    def on_disconnect(*_args: Any) -> None:
        hub.metrics.add_gauge("visualiser_socket_clients", -1)
        subscriptions.pop(request.sid, None)

    @socketio.on("subscribe")
    def on_subscribe(data: Any) -> None:
        vhost = valid_vhost(data)
        if vhost is None:
            return
        previous = subscriptions.get(request.sid)
        if previous is not None and previous != vhost:
            leave_room(room_for(previous))
        subscriptions[request.sid] = vhost
        join_room(room_for(vhost))
        send_snapshot(vhost)

    @socketio.on("resync")
    def on_resync(data: Any) -> None:
        vhost = valid_vhost(data)
        if vhost is not None:
            send_snapshot(vhost)
