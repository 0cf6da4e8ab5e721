"""python-socketio's kombu client manager, fitted for several processes of this service.

Flask-SocketIO fans every emit out through a fanout exchange: each process consumes from a
queue of its own bound to it and delivers to the clients it holds. What changes here:

- **Queues RabbitMQ 4.3 accepts.** python-socketio declares its per-process queue transient
  and not exclusive, which 4.3 refuses by default (``transient_nonexcl_queues``). Here it is
  exclusive: it lives exactly as long as the process's connection (a killed process leaves
  nothing behind), and the exchange is auto-delete: it goes with the last queue.
- **One publisher at a time.** Emits come from many threads (the hub, request handlers, the
  cluster's inbox) and python-socketio shares one AMQP connection between them, which py-amqp
  does not allow; a lock serialises them, which also keeps the leader's frames in the order
  its hub thread emitted them.
- **Local clients stay local.** An emit to clients this process holds (a snapshot for a page
  connected here) is delivered here, without a round trip through the broker to every process.
- **Rooms of a client served elsewhere.** The leader runs a page's handlers for the process
  that holds the page (``Relay``); while it does, ``rooms()`` answers with the rooms that
  process sent along, kept up to date by the handler's own joins and leaves.
- **Versions seen, leaders announced.** Every snapshot and patch that passes is noted, so
  that a process taking over continues after the highest version any page may hold; the
  leader's announcements on the same exchange reach ``on_announcement``.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import uuid
from collections.abc import Callable, Iterator
from typing import Any

from socketio import KombuManager

log = logging.getLogger(__name__)

PREFIX = "rabbitmq-visualiser"
EXCHANGE = PREFIX + ".socketio"
ANNOUNCEMENT = "visualiser-leader"  # the pub/sub method name of a leader's announcement


class ClusterManager(KombuManager):
    def __init__(self, url: str):
        self._publishing = threading.Lock()
        self._versions = threading.Lock()
        self.highest_version = 0
        self.on_announcement: Callable[[dict[str, Any]], None] = lambda _message: None
        self.on_listening: Callable[[], None] = lambda: None  # (re)connected: what was sent meanwhile is lost
        self._forwarded = threading.local()
        super().__init__(
            url,
            channel=EXCHANGE,
            exchange_options={"durable": False, "auto_delete": True},
            queue_options={"durable": False, "exclusive": True, "auto_delete": True, "queue_arguments": {}},
        )

    # ---- queues ------------------------------------------------------------------------------
    def _queue(self) -> Any:
        import kombu

        return kombu.Queue(f"{EXCHANGE}.{uuid.uuid4().hex}", self._exchange(), **self.queue_options)

    def _publish(self, data: Any) -> None:
        with self._publishing:
            super()._publish(data)

    def _connection(self) -> Any:
        # python-socketio makes its publishing connection once, at construction, and a listening
        # connection at every (re)connection of its listener: events sent to this process while
        # it was not listening are lost, which ``on_listening`` hears about.
        made = super()._connection()
        self.on_listening()
        return made

    def _listen(self) -> Iterator[Any]:
        for message in super()._listen():
            data = self._decoded(message)
            if isinstance(data, dict) and data.get("method") == ANNOUNCEMENT:
                self.on_announcement(data)
                continue
            if isinstance(data, dict) and data.get("method") == "emit":
                self._note_version(data.get("event"), data.get("data"))
            yield message

    def _decoded(self, message: Any) -> Any:
        if isinstance(message, (bytes, str)):
            try:
                return self.json.loads(message)
            except ValueError:
                return None
        return message

    # ---- emitting ---------------------------------------------------------------------------------
    def emit(
        self,
        event: str,
        data: Any,
        namespace: str | None = None,
        room: Any = None,
        skip_sid: Any = None,
        callback: Any = None,
        to: Any = None,
        **kwargs: Any,
    ) -> Any:
        recipients = to or room
        self._note_version(event, [data])
        if callback is None and recipients is not None and self._all_here(recipients, namespace or "/"):
            kwargs["ignore_queue"] = True
        return super().emit(
            event, data, namespace=namespace, room=room, skip_sid=skip_sid, callback=callback, to=to, **kwargs
        )

    def _all_here(self, recipients: Any, namespace: str) -> bool:
        """Whether every recipient is a client of this process (a sid; a room name is never one)."""
        sids = recipients if isinstance(recipients, (list, tuple, set)) else [recipients]
        return bool(sids) and all(self.is_connected(sid, namespace) for sid in sids)

    def announce(self, message: dict[str, Any]) -> None:
        """Publish a leader's announcement to every process, this one included."""
        self._publish({**message, "method": ANNOUNCEMENT, "host_id": self.host_id})

    def _note_version(self, event: Any, data: Any) -> None:
        frame = data[0] if isinstance(data, list) and len(data) == 1 else data
        if not isinstance(frame, dict):
            return
        version = frame.get("to") if event == "patch" else frame.get("version") if event == "snapshot" else None
        if isinstance(version, int) and not isinstance(version, bool):
            with self._versions:
                self.highest_version = max(self.highest_version, version)

    # ---- rooms of a client held by another process --------------------------------------------------
    @contextlib.contextmanager
    def forwarded_client(self, sid: str, rooms: list[str]) -> Iterator[None]:
        """While the leader runs a handler for a client another process holds: its rooms."""
        self._forwarded.client = (sid, list(rooms))
        try:
            yield
        finally:
            self._forwarded.client = None

    def _forwarded_rooms(self, sid: str) -> list[str] | None:
        client = getattr(self._forwarded, "client", None)
        return client[1] if client is not None and client[0] == sid else None

    def get_rooms(self, sid: str, namespace: str) -> Any:
        rooms = self._forwarded_rooms(sid)
        return list(rooms) if rooms is not None else super().get_rooms(sid, namespace)

    def enter_room(self, sid: str, namespace: str, room: str, eio_sid: Any = None) -> Any:
        rooms = self._forwarded_rooms(sid)
        if rooms is not None and room not in rooms:
            rooms.append(room)
        return super().enter_room(sid, namespace, room, eio_sid=eio_sid)

    def leave_room(self, sid: str, namespace: str, room: str) -> Any:
        rooms = self._forwarded_rooms(sid)
        if rooms is not None and room in rooms:
            rooms.remove(room)
        return super().leave_room(sid, namespace, room)
