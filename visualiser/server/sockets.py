"""The Socket.IO side: a snapshot on subscribe, then the hub's patches via rooms.

A client joins one vhost's room at a time. It joins before reading the snapshot, so a
patch emitted in between is either already in the snapshot (its `to` is not newer, and
the client drops it) or follows it; a client that sees a `from` that is not its version
asks for a fresh snapshot with `resync`.

Connections are accepted from the page's own origin when its host is one the service
answers to (plus a configured list, for a proxy that changes the host name), and client
messages are small: a page only ever sends a vhost name, so anything bigger is refused
before it is buffered. Each connection is rate-limited and its outgoing queue bounded
(``backpressure``), and snapshots are coalesced, paced and shared (``snapshots``), so one
client cannot grow the server's memory or starve the others.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any
from urllib.parse import urlsplit

from flask import Flask, request
from flask_socketio import SocketIO, emit, join_room, leave_room

from ..celery.monitor import vhost_of
from ..config import Settings
from ..contract.frames import Hello, TracingOffer
from ..hub import Hub, room_for
from ..tracing.tracer import tracing_offer
from . import backpressure
from .hosts import HostAllowlist, host_name
from .serving import ServingSocketIO
from .snapshots import SnapshotScheduler

MAX_VHOST_BYTES = 255
# A page sends {"vhost": NAME}; a few KB leaves room for features' small requests.
MAX_CLIENT_MESSAGE_BYTES = 16 * 1024


def origin_checker(
    extra_origins: Iterable[str], hosts: HostAllowlist | None = None
) -> Callable[[str | None, dict[str, Any]], bool]:
    """Engine.IO origin policy: the page's own origin on an allowed host, or a configured origin.

    Engine.IO's default also trusts X-Forwarded-Host, which any non-browser client can set;
    here only the Host header the connection arrived with counts, plus the operator's list.
    Origin equal to Host is not enough on its own: a page whose name was rebound to this
    address sends both with its own name, so that host must also be on the allowlist.
    ``hosts=None`` skips that check (for callers whose Host gate already did it); the app
    always passes one.
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
        if not host or parts.scheme not in ("http", "https") or parts.netloc != host:
            return False
        name = host_name(parts.netloc)
        return hosts is None or (name is not None and hosts.allows_name(name))

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
                start_response(
                    "413 Request Entity Too Large", [("Content-Type", "text/plain"), ("Connection", "close")]
                )
                return [b"message too large"]
        return wsgi_app(environ, start_response)

    return guard


def make_socketio(
    app: Flask,
    settings: Settings,
    hub: Hub,
    on_disconnect: Sequence[Callable[[str], None]] = (),
    tracing: Callable[[], TracingOffer] | None = None,
) -> SocketIO:
    """The one place Socket.IO is configured: threading mode, the origin policy, the client
    message limit, per-connection backpressure, and the event handlers. ``on_disconnect``:
    features told the session id of each page that goes (Socket.IO keeps one handler per event)."""
    socketio = ServingSocketIO(
        app,
        async_mode="threading",
        cors_allowed_origins=origin_checker(settings.allowed_origins, HostAllowlist.from_settings(settings)),
        max_http_buffer_size=MAX_CLIENT_MESSAGE_BYTES,
        logger=False,
        engineio_logger=False,
    )
    # Engine.IO checks a websocket message's size only after simple-websocket has buffered
    # all of it; the bounded transport passes the limit down so that it closes the socket
    # (1009) early.
    backpressure.install(socketio.server.eio, max_message_size=MAX_CLIENT_MESSAGE_BYTES)
    app.wsgi_app = refuse_large_polls(app.wsgi_app)  # type: ignore[method-assign]
    register(socketio, hub, settings, on_disconnect, tracing)
    return socketio


def register(
    socketio: SocketIO,
    hub: Hub,
    settings: Settings,
    on_disconnect_hooks: Sequence[Callable[[str], None]] = (),
    tracing: Callable[[], TracingOffer] | None = None,
) -> None:
    offer = tracing or (lambda: tracing_offer(settings))  # the tracer's, when it simulates one
    subscriptions: dict[str, str] = {}  # sid -> vhost
    snapshots = SnapshotScheduler(hub, lambda event, data, sids: socketio.emit(event, data, to=sids))

    def send_snapshot(vhost: str) -> None:
        # Served from the hub thread, which also emits patches: the client then always gets
        # its snapshot before any patch that follows it, and never has to resync on join.
        snapshots.request(sid(), vhost)

    def valid_vhost(data: Any) -> str | None:
        vhost = data.get("vhost") if isinstance(data, dict) else None
        if not isinstance(vhost, str) or len(vhost.encode("utf-8", "surrogatepass")) > MAX_VHOST_BYTES:
            emit("error", {"message": 'subscribe needs {"vhost": NAME}'})
            return None
        return vhost

    def hello() -> Hello:
        return Hello(
            mode=settings.mode,  # type: ignore[typeddict-item]
            statuses={k: v.to_json() for k, v in hub.statuses().items()},  # type: ignore[misc]
            topology_source=hub.topology_source,
            default_vhost=default_vhost(hub, settings),
            tracing=offer(),
        )

    def on_connect(auth: Any = None) -> None:
        hub.metrics.add_gauge("visualiser_socket_clients", 1)
        emit("vhosts", [{"name": name} for name in hub.vhosts()])
        emit("hello", hello())

    announced = [False]

    def announce_default_vhost() -> None:
        """A page that connected before the first read had no vhost to open: once the hub has
        read the broker (tickers run between whole reads), tell every page the suggestion."""
        if not announced[0] and hub.vhosts():
            announced[0] = True
            socketio.emit("hello", hello())

    hub.every(0.5, announce_default_vhost)

    def on_disconnect(*_args: Any) -> None:
        hub.metrics.add_gauge("visualiser_socket_clients", -1)
        subscriptions.pop(sid(), None)
        snapshots.forget(sid())
        for hook in on_disconnect_hooks:
            hook(sid())

    def on_subscribe(data: Any) -> None:
        vhost = valid_vhost(data)
        if vhost is None:
            return
        previous = subscriptions.get(sid())
        if previous is not None and previous != vhost:
            leave_room(room_for(previous))
        subscriptions[sid()] = vhost
        join_room(room_for(vhost))
        send_snapshot(vhost)

    def on_resync(data: Any) -> None:
        vhost = valid_vhost(data)
        if vhost is not None:
            send_snapshot(vhost)

    for event, handler in (
        ("connect", on_connect),
        ("disconnect", on_disconnect),
        ("subscribe", on_subscribe),
        ("resync", on_resync),
    ):
        socketio.on_event(event, handler)


def sid() -> str:
    """The Socket.IO session id of the connection being served (Flask-SocketIO sets it on the request)."""
    return str(getattr(request, "sid"))  # noqa: B009 - not a typed attribute of Flask's Request


def default_vhost(hub: Hub, settings: Settings) -> str | None:
    """Where the page opens when its URL names no vhost (and the user has not chosen one): the
    Celery broker's vhost when it is on the graph, else the busiest (most queues and bindings,
    then most messages), "/" on a tie."""
    vhosts = hub.vhosts()
    if not vhosts:
        return None
    if settings.broker_url and vhost_of(settings.broker_url) in vhosts:
        return vhost_of(settings.broker_url)

    def weight(vhost: str) -> tuple[int, int]:
        view = hub.view(vhost)
        if view is None:
            return (0, 0)
        queues = view.entities.queues
        depth = sum(q.messages_ready or 0 for q in queues)
        return (len(queues) + len(view.entities.bindings), depth)

    return max(vhosts, key=lambda v: (weight(v), v == "/"))
