"""Per-connection limits for Socket.IO clients, so one client cannot hurt the others.

Engine.IO (threading mode) gives each connection an unbounded queue of outgoing packets,
drained by a writer thread that blocks in ``send`` when the client stops reading. A client
that asks for snapshot after snapshot and never reads makes that queue, and the server's
memory, grow without end. Three limits, installed on the Engine.IO server by ``install``:

- ``Outbox``: the connection's outgoing queue, bounded in bytes. When a client's backlog
  passes ``MAX_BACKLOG_BYTES`` its pending frames are discarded and the connection is
  dropped; a page reconnects by itself and subscribes again, which gets it a fresh
  snapshot. A frame is always accepted while the backlog is under the limit, so a snapshot
  larger than the limit still reaches a client that keeps up.
- ``MessageLimiter``: a token bucket per connection on client messages. Messages over the
  rate are ignored; a client that keeps flooding past a second allowance is dropped.
- ``BoundedWebSocketWSGI``: the websocket transport, told the message size limit, and
  able to cut its TCP connection, which is the only way to unblock a writer stuck in
  ``send`` to a client that does not read.

Hooks used: ``Server.create_queue`` (public; Engine.IO creates every socket's queue with
it), ``Server.on`` for the connect/message/disconnect handlers (wrapping the ones
Socket.IO registered), and the async driver table's ``websocket`` entry (no public hook
exists for the transport class).
"""

from __future__ import annotations

import collections
import contextlib
import logging
import queue
import socket
import threading
import time
from collections.abc import Callable
from functools import partial
from typing import Any

from engineio.async_drivers._websocket_wsgi import SimpleWebSocketWSGI

log = logging.getLogger(__name__)

# A few snapshots of a 2,000-queue vhost (about 1.2 MB each), or hours of patches.
MAX_BACKLOG_BYTES = 4 * 1024 * 1024
# A page sends one message per user action (subscribe, resync): far below these.
MESSAGE_RATE = 10.0  # per second, sustained
MESSAGE_BURST = 30
# Messages refused beyond this allowance (refilled at MESSAGE_RATE) drop the connection.
FLOOD_ALLOWANCE = 100
UNSIZED_PACKET_BYTES = 64  # control packets (open, ping): tiny, but counted


def packet_bytes(item: Any) -> int:
    data = getattr(item, "data", None)
    return len(data) if isinstance(data, (str, bytes)) else UNSIZED_PACKET_BYTES


class Outbox:
    """An Engine.IO socket's outgoing queue, bounded in bytes; drops the client on overflow.

    Implements what Engine.IO uses of ``queue.Queue`` (put, get with block/timeout,
    task_done, join) and raises ``queue.Empty`` as it expects. ``None``, Engine.IO's
    "stop" sentinel, is always accepted, so a closing socket always ends its writer.
    """

    def __init__(self, limit: int = MAX_BACKLOG_BYTES):
        self.limit = limit
        self._items: collections.deque[Any] = collections.deque()
        self._pending = 0  # bytes queued, not yet taken by the writer
        self._unfinished = 0
        self._cond = threading.Condition()
        self._dropped = False
        self.owner: Any = None  # the engineio Socket, attached on connect
        self.transport: socket.socket | None = None  # the websocket's TCP socket, once upgraded

    @property
    def pending_bytes(self) -> int:
        return self._pending

    @property
    def dropped(self) -> bool:
        return self._dropped

    def put(self, item: Any, block: bool = True, timeout: float | None = None) -> None:
        with self._cond:
            if item is not None and self._dropped:
                return  # the connection is going away: nothing more is worth holding
            if item is not None and self._pending > self.limit:
                overflow = True
            else:
                overflow = False
                self._append(item)
        if overflow:
            self.drop(f"more than {self.limit // 1024} KiB waiting to be sent: the client does not keep up")

    def _append(self, item: Any) -> None:
        self._items.append(item)
        self._pending += 0 if item is None else packet_bytes(item)
        self._unfinished += 1
        self._cond.notify()

    def get(self, block: bool = True, timeout: float | None = None) -> Any:
        with self._cond:
            if block:
                if not self._cond.wait_for(lambda: self._items, timeout):
                    raise queue.Empty
            elif not self._items:
                raise queue.Empty
            item = self._items.popleft()
            self._pending -= 0 if item is None else packet_bytes(item)
            return item

    def task_done(self) -> None:
        with self._cond:
            self._unfinished = max(0, self._unfinished - 1)
            if self._unfinished == 0:
                self._cond.notify_all()

    def join(self) -> None:
        with self._cond:
            self._cond.wait_for(lambda: self._unfinished == 0)

    def qsize(self) -> int:
        return len(self._items)

    def empty(self) -> bool:
        return not self._items

    def drop(self, reason: str) -> None:
        """Discard what is pending and cut the connection. Safe from any thread, idempotent."""
        with self._cond:
            if self._dropped:
                return
            self._dropped = True
            kept = [item for item in self._items if item is None]  # a writer may be waiting for its stop
            self._unfinished -= len(self._items) - len(kept)
            self._items = collections.deque(kept)
            self._pending = 0
            self._cond.notify_all()
        log.warning("dropping Socket.IO client %s: %s", getattr(self.owner, "sid", "?"), reason)
        if self.transport is not None:
            # Engine.IO notices the dead transport and closes the session on its own thread.
            abort_transport(self.transport)
        elif self.owner is not None:
            # Long-polling: no socket to cut. Close the session off this thread: drop() may
            # run inside an emit, and closing runs the disconnect handlers.
            threading.Thread(
                target=self.owner.close, kwargs={"wait": False, "abort": True}, name="outbox-drop", daemon=True
            ).start()


def abort_transport(sock: socket.socket) -> None:
    """Shut the TCP connection both ways: wakes any thread blocked in send or recv on it."""
    with contextlib.suppress(OSError):  # already closed
        sock.shutdown(socket.SHUT_RDWR)


class TokenBucket:
    def __init__(self, rate: float, burst: float):
        self.rate, self.burst = rate, burst
        self.tokens = burst
        self.stamp = time.monotonic()

    def take(self) -> bool:
        now = time.monotonic()
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens >= 1:
            self.tokens -= 1
            return True
        return False


class MessageLimiter:
    """Client messages per connection: a rate, and an allowance for refused ones."""

    def __init__(self, rate: float = MESSAGE_RATE, burst: int = MESSAGE_BURST, flood: int = FLOOD_ALLOWANCE):
        self.rate, self.burst, self.flood = rate, burst, flood
        self._buckets: dict[str, tuple[TokenBucket, TokenBucket]] = {}
        self._lock = threading.Lock()

    def check(self, sid: str) -> str:
        """'ok' to handle the message, 'ignore' to drop it, 'flood' to drop the client."""
        with self._lock:
            buckets = self._buckets.get(sid)
            if buckets is None:
                buckets = self._buckets[sid] = (TokenBucket(self.rate, self.burst), TokenBucket(self.rate, self.flood))
            allowed, refusals = buckets
            if allowed.take():
                return "ok"
            return "ignore" if refusals.take() else "flood"

    def forget(self, sid: str) -> None:
        with self._lock:
            self._buckets.pop(sid, None)


class BoundedWebSocketWSGI(SimpleWebSocketWSGI):
    """simple-websocket's transport, with the message size limit and a cuttable TCP connection.

    The transport registers its TCP socket with the connection's Outbox, so that dropping
    the client unblocks a writer stuck in send. When the session ends it also shuts the TCP
    connection: otherwise a client that stays silent keeps simple-websocket's reader thread
    (and its file descriptor) waiting in recv for good.
    """

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        self.transport = environ.get("werkzeug.socket") or environ.get("gunicorn.socket")
        # Engine.IO passes its socket's bound method ``_websocket_handler`` as the handler:
        # its ``__self__`` is the engineio Socket that owns the Outbox.
        outbox = getattr(getattr(self.app, "__self__", None), "queue", None)
        if isinstance(outbox, Outbox) and isinstance(self.transport, socket.socket):
            outbox.transport = self.transport
            if outbox.dropped:  # dropped before the upgrade finished
                abort_transport(self.transport)
        return super().__call__(environ, start_response)

    def close(self) -> None:
        try:
            super().close()
        except OSError:
            pass  # the peer is already gone
        finally:
            transport = getattr(self, "transport", None)
            if isinstance(transport, socket.socket):
                abort_transport(transport)


def _wrap_handler(eio: Any, event: str, make: Callable[[Callable[..., Any]], Callable[..., Any]]) -> None:
    """Replace the handler Socket.IO registered for an Engine.IO event with a wrapper of it."""
    original = eio.handlers[event]
    eio.on(event, make(original))


def _outbox_of(eio: Any, sid: str) -> Outbox | None:
    outbox = getattr(eio.sockets.get(sid), "queue", None)
    return outbox if isinstance(outbox, Outbox) else None


def install(
    eio: Any, max_message_size: int, backlog: int = MAX_BACKLOG_BYTES, limiter: MessageLimiter | None = None
) -> MessageLimiter:
    """Bound outgoing queues, rate-limit client messages, and use the bounded websocket transport."""
    limiter = limiter or MessageLimiter()
    eio.create_queue = lambda *args, **kwargs: Outbox(backlog)
    # A copy of the driver table: the module's dict is shared by every server in the process.
    eio._async = {**eio._async, "websocket": partial(BoundedWebSocketWSGI, max_message_size=max_message_size)}

    def on_connect(original: Callable[..., Any]) -> Callable[..., Any]:
        def handler(sid: str, *args: Any) -> Any:
            outbox = _outbox_of(eio, sid)
            if outbox is not None:
                outbox.owner = eio.sockets.get(sid)
            return original(sid, *args)

        return handler

    def on_message(original: Callable[..., Any]) -> Callable[..., Any]:
        # Runs on the connection's reading thread (Socket.IO sets Engine.IO's handlers to
        # run synchronously), so an ignored message costs no thread.
        def handler(sid: str, data: Any) -> Any:
            verdict = limiter.check(sid)
            if verdict == "ok":
                return original(sid, data)
            if verdict == "flood":
                outbox = _outbox_of(eio, sid)
                if outbox is not None:
                    outbox.drop(f"more than {limiter.rate:g} messages a second, sustained")
            return None

        return handler

    def on_disconnect(original: Callable[..., Any]) -> Callable[..., Any]:
        def handler(sid: str, *args: Any) -> Any:
            limiter.forget(sid)
            return original(sid, *args)

        return handler

    _wrap_handler(eio, "connect", on_connect)
    _wrap_handler(eio, "message", on_message)
    _wrap_handler(eio, "disconnect", on_disconnect)
    return limiter
