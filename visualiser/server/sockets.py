"""The Socket.IO side: a snapshot on subscribe, then the hub's patches via rooms.

A client joins one vhost's room at a time. It joins before reading the snapshot, so a
patch emitted in between is either already in the snapshot (its `to` is not newer, and
the client drops it) or follows it; a client that sees a `from` that is not its version
asks for a fresh snapshot with `resync`.
"""

from __future__ import annotations

from typing import Any

from flask import current_app, request
from flask_socketio import SocketIO, emit, join_room, leave_room

from ..hub import Hub, room_for

MAX_VHOST_BYTES = 255


def register(socketio: SocketIO, hub: Hub) -> None:
    subscriptions: dict[str, str] = {}  # sid -> vhost

    def send_snapshot(vhost: str) -> None:
        message = hub.snapshot_message(vhost)
        if message is None:
            emit("error", {"message": f"no vhost named {vhost!r}", "vhost": vhost})
        else:
            emit("snapshot", message)

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
