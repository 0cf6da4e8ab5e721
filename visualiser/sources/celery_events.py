"""Consumes Celery events from the broker and posts normalised batches to the hub.

A kombu consumer thread binds its own queue to Celery's `celeryev` topic exchange. It never
touches state: it decodes and validates each event (visualiser.celery.events), counts and
drops the malformed ones one by one, and hands batches to a sink that the hub runs on its
own thread. Nothing is ever sent to the workers from here.

The queue is built so that a slow moment does not lose events silently:

* ``x-message-ttl`` 60 s (Celery's own receivers use 5 s): a pause of the hub or a burst is
  absorbed instead of expiring.
* ``x-max-length`` 200,000 messages with ``drop-head``: broker memory stays bounded (a
  Celery event is ~0.5 KB, so at most ~100 MB) and the newest events win.
* What the broker drops by TTL or length is dead-lettered to a small side queue that we
  count and discard, so the page shows "N events lost (expired / over limit)".
* ``x-expires`` 120 s and not exclusive: the queue outlives a dropped connection, so a quick
  reconnect resumes without loss; if it is gone (broker restart) the gap is counted.

Acks are batched (``multiple=True``) and at most a few batches wait on the hub at a time:
when the hub is slow, messages stay on the broker (where the limits above apply) rather
than piling up in our memory.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

from kombu import Connection, Consumer, Exchange, Queue

from ..celery.events import events_of
from .management_api import redact_url
from .status import Backoff, SourceStatus

if TYPE_CHECKING:
    from ..hub import Hub

log = logging.getLogger(__name__)
SOURCE = "celery-events"

MESSAGE_TTL_MS = 60_000
MAX_LENGTH = 200_000
QUEUE_EXPIRES_MS = 120_000
PREFETCH = 2000
BATCH_SIZE = 500
BATCH_SECONDS = 0.05
MAX_BATCHES_IN_FLIGHT = 8

Sink = Callable[[list[dict[str, Any]]], None]


class Gaps:
    """Where the event stream has holes. Written by the consumer thread, read anywhere."""

    def __init__(self) -> None:
        self.reconnects = 0
        self.queue_lost = 0
        self.expired = 0
        self.over_limit = 0
        self.last_gap: float | None = None

    def note(self, kind: str, amount: int = 1) -> None:
        setattr(self, kind, getattr(self, kind) + amount)
        self.last_gap = time.time()

    def to_json(self) -> dict[str, Any]:
        return {"reconnects": self.reconnects, "queue_lost": self.queue_lost, "expired": self.expired,
                "over_limit": self.over_limit, "last_gap": self.last_gap}


class CeleryEventsSource:
    def __init__(self, broker_url: str, hub: Hub, sink: Sink, backoff_cap: float = 30.0,
                 queue_name: str | None = None):
        self.broker_url, self.hub, self.sink = broker_url, hub, sink
        self.backoff = Backoff(base=0.5, cap=backoff_cap)
        self.gaps = Gaps()
        name = queue_name or f"celeryev.visualiser.{uuid.uuid4().hex[:12]}"
        self.exchange = Exchange("celeryev", type="topic", durable=True)
        self.gap_queue = Queue(name + ".gaps", durable=False, auto_delete=False,
                               queue_arguments={"x-expires": QUEUE_EXPIRES_MS, "x-max-length": 100_000})
        self.queue = Queue(name, exchange=self.exchange, routing_key="#", durable=False, auto_delete=False,
                           queue_arguments={"x-message-ttl": MESSAGE_TTL_MS, "x-max-length": MAX_LENGTH,
                                            "x-overflow": "drop-head", "x-expires": QUEUE_EXPIRES_MS,
                                            "x-dead-letter-exchange": "",
                                            "x-dead-letter-routing-key": self.gap_queue.name})
        self._stop = threading.Event()
        self._in_flight = threading.Semaphore(MAX_BATCHES_IN_FLIGHT)
        self._thread = threading.Thread(target=self._run, name="celery-events", daemon=True)
        self._status = SourceStatus(SOURCE, detail=redact_url(broker_url))
        self._connected_before = False
        self._batch: list[dict[str, Any]] = []
        self._types: Counter[str] = Counter()
        self._drops: Counter[str] = Counter()
        self._last_message: Any = None

    # ---- lifecycle ------------------------------------------------------------------------
    def start(self) -> None:
        self.hub.publish_status(self._status)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self._consume_once()
            except Exception as exc:  # noqa: BLE001 - the consumer must outlive anything the broker does
                self._on_connection_error(exc)

    def _scrub(self, text: str) -> str:
        """Error text with the broker password taken out, whatever form it appears in."""
        try:
            password = urlsplit(self.broker_url).password
        except ValueError:
            password = None
        for secret in {password, unquote(password or "")} - {None, ""}:
            text = text.replace(secret, "***")  # type: ignore[arg-type]
        return text

    def _on_connection_error(self, exc: Exception) -> None:
        # Events read but not yet handed over were not acked either: if our queue survives,
        # the broker delivers them again; if not, they are part of the counted gap.
        self._batch.clear()
        self._types.clear()
        self._drops.clear()
        self._last_message = None
        delay = self.backoff.next_delay()
        text = self._scrub(f"{type(exc).__name__}: {exc}")[:300]
        state = "unauthorised" if "ACCESS_REFUSED" in str(exc) or "403" in str(exc) else "unreachable"
        log.warning("celery events: %s; retrying in %.1fs", text, delay)
        self._report(state, text)
        self._stop.wait(delay)

    # ---- one connection's life --------------------------------------------------------------
    def _consume_once(self) -> None:
        with Connection(self.broker_url, heartbeat=10, connect_timeout=5,
                        transport_options={"confirm_publish": False}) as conn:
            conn.ensure_connection(max_retries=1)
            channel = self._declare(conn)
            events = Consumer(channel, queues=[self.queue], on_message=self._on_event, no_ack=False,
                              prefetch_count=PREFETCH)
            gaps = Consumer(conn.channel(), queues=[self.gap_queue], on_message=self._on_dead_letter, no_ack=True)
            with events, gaps:
                self.backoff.reset()
                self._report("ok", None)
                self._drain(conn)

    def _declare(self, conn: Connection) -> Any:
        """Declare our queues on a fresh channel; a queue gone after a reconnect means lost events."""
        if self._connected_before:
            self.gaps.note("reconnects")
            if not self._queue_exists(conn):
                self.gaps.note("queue_lost")
        self._connected_before = True
        channel = conn.channel()
        self.gap_queue(channel).declare()
        self.queue(channel).declare()
        return channel

    def _queue_exists(self, conn: Connection) -> bool:
        probe = conn.channel()  # a passive declare of a missing queue closes its channel
        try:
            self.queue(probe).queue_declare(passive=True)
        except conn.channel_errors:
            return False
        finally:
            with contextlib.suppress(Exception):
                probe.close()
        return True

    def _drain(self, conn: Connection) -> None:
        deadline = time.monotonic() + BATCH_SECONDS
        while not self._stop.is_set():
            with contextlib.suppress(TimeoutError):  # socket.timeout: nothing arrived in this slice
                conn.drain_events(timeout=BATCH_SECONDS)
            if time.monotonic() >= deadline:
                self._flush()
                conn.heartbeat_check()  # rate-limited inside; busy or idle, the link stays checked
                deadline = time.monotonic() + BATCH_SECONDS
        self._flush()

    # ---- messages (consumer thread) -----------------------------------------------------------
    def _on_event(self, message: Any) -> None:
        self._last_message = message
        try:
            self._decode(message)
        except Exception:  # noqa: BLE001 - one message we cannot read must not cost the stream
            log.exception("celery events: could not read one message")
            self._drops["unreadable"] += 1
        if len(self._batch) >= BATCH_SIZE:
            self._flush()

    def _decode(self, message: Any) -> None:
        body = message.body
        if isinstance(body, str):
            body = body.encode("utf-8", "surrogatepass")
        received = time.time()
        for event, reason in events_of(body, message.content_type, message.content_encoding, received):
            if event is None:
                self._drops[reason or "unknown"] += 1
            else:
                self._types[event["type"]] += 1
                self._batch.append(event)

    def _on_dead_letter(self, message: Any) -> None:
        deaths = (message.headers or {}).get("x-death") or [{}]
        reason = deaths[0].get("reason") if isinstance(deaths[0], dict) else None
        self.gaps.note("expired" if reason == "expired" else "over_limit")

    def _flush(self) -> None:
        self._count()
        if self._batch:
            batch, self._batch = self._batch, []
            while not self._in_flight.acquire(timeout=0.5):
                if self._stop.is_set():
                    return
            self.hub.submit(lambda: self._deliver(batch))
        if self._last_message is not None:
            message, self._last_message = self._last_message, None
            message.ack(multiple=True)

    def _deliver(self, batch: list[dict[str, Any]]) -> None:
        try:
            self.sink(batch)
        finally:
            self._in_flight.release()

    def _count(self) -> None:
        metrics = self.hub.metrics
        for kind, n in self._types.items():
            metrics.inc("visualiser_celery_events_total", n, type=kind)
        for reason, n in self._drops.items():
            metrics.inc("visualiser_celery_events_dropped_total", n, reason=reason)
        self._types.clear()
        self._drops.clear()

    # ---- status ------------------------------------------------------------------------------
    def _report(self, state: str, error: str | None) -> None:
        now = time.time()
        old = self._status
        self._status = SourceStatus(
            SOURCE, state=state, detail=old.detail,
            last_success=now if state == "ok" else old.last_success,
            last_error=error or old.last_error,
            since=old.since if old.state == state else now,
            extra={"queue": self.queue.name, "gaps": self.gaps.to_json()},
        )
        self.hub.publish_status(self._status)
