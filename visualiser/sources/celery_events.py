"""Consumes Celery events from the broker and posts normalised batches to the hub.

A kombu consumer thread binds its own queue to Celery's `celeryev` topic exchange. It never
touches state: it decodes and validates each event (visualiser.celery.events), counts and
drops the malformed ones one by one, and hands batches to a sink that the hub runs on its
own thread. Nothing is ever sent to the workers from here.

The queues are built so that a slow moment or a reconnect does not lose events silently,
and so that RabbitMQ 4.3, which refuses transient non-exclusive queues, accepts them:

* Durable, with ``x-expires`` 120 s: the queue outlives a dropped connection, so a quick
  reconnect resumes without loss, and the broker removes it two minutes after the service
  has gone (on a clean stop the service deletes it at once). An exclusive queue would be
  accepted too, but it dies with the connection and everything sent during a reconnect
  would be lost.
* ``x-message-ttl`` 60 s (Celery's own receivers use 5 s): a pause of the hub or a burst is
  absorbed instead of expiring.
* ``x-max-length`` 200,000 messages with ``drop-head``: broker memory stays bounded (a
  Celery event is ~0.5 KB, so at most ~100 MB) and the newest events win.
* What the broker drops by TTL or length is dead-lettered to a small side queue that we
  count and discard, so the page shows "N events lost (expired / over limit)".
* Celery publishes events as transient messages, which a broker restart discards even from
  a durable queue. A third small queue holds one transient marker message: if it is empty
  after a reconnect, the broker restarted and whatever was queued then is counted as a gap;
  if the events queue itself is gone (expired, deleted), that is counted too.

Nothing else is declared except Celery's own ``celeryev`` topic exchange, and only when it
does not exist yet, exactly as a Celery worker declares it (durable, not auto-delete), so
that the two never disagree. It is left in place, even when the service created it: an
auto-delete declaration would make every worker's own declaration fail (RabbitMQ refuses
an inequivalent redeclare), and deleting it on stop could break a worker that started
meanwhile, since publishing to a missing exchange closes the publisher's channel and
RabbitMQ's ``if-unused`` only looks at bindings, not publishers. An exchange holds no
messages; the status says whether the service created it (``declared_exchange``).

The permissions this needs, for a dedicated user, are in docs/deployment.md; a refusal is
reported as "unauthorised" with the permission and resource the broker named.

A failover list (``amqp://u:A@h1/v;amqp://u:B@h2/v``, or ``,`` between URLs) is handed to
kombu as a list; every password in it is redacted from the status and scrubbed from errors.

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

from kombu import Connection, Consumer, Exchange, Queue

from ..celery.events import DropSummary, events_of
from ..urls import check_url_list, passwords_in, redact_url, scrub
from .quoting import broker_text
from .refusals import Step, explain, login_refused
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
# Unreadable messages are logged in full at most this often; the rest are counted.
UNREADABLE_LOG_SECONDS = 60.0
PERMISSIONS_HINT = "docs/deployment.md lists the permissions the Celery events consumer needs"
LOGIN_HINT = "check the user name and password in --broker-url"
# AMQP replies that mean "not allowed", not "not there": refused login, vhost or resource access.
REFUSALS = ("ACCESS_REFUSED", "NOT_ALLOWED", "(403)", "(530)")

Sink = Callable[[list[dict[str, Any]]], None]


class Gaps:
    """Where the event stream has holes. Written by the consumer thread, read anywhere.

    ``reconnects`` alone loses nothing (the queue kept collecting); ``queue_lost`` (our queue
    was gone on reconnect) and ``broker_restarted`` (the broker discarded transient messages)
    mean events of unknown number are missing around ``last_gap``; ``expired`` and
    ``over_limit`` are exact counts of events the broker dropped.
    """

    KINDS = ("reconnects", "queue_lost", "broker_restarted", "expired", "over_limit")

    def __init__(self) -> None:
        self.counts = dict.fromkeys(self.KINDS, 0)
        self.last_gap: float | None = None

    def note(self, kind: str, amount: int = 1) -> None:
        self.counts[kind] += amount
        self.last_gap = time.time()

    def to_json(self) -> dict[str, Any]:
        return {**self.counts, "last_gap": self.last_gap}


class CeleryEventsSource:
    def __init__(self, broker_url: str, hub: Hub, sink: Sink, backoff_cap: float = 30.0, queue_name: str | None = None):
        self.broker_url, self.hub, self.sink = broker_url, hub, sink
        # Refused before anything runs: a URL read wrongly could show part of a password.
        self._urls = check_url_list(broker_url)
        self._secrets = passwords_in(broker_url)
        self.backoff = Backoff(base=0.5, cap=backoff_cap)
        self.gaps = Gaps()
        name = queue_name or f"celeryev.visualiser.{uuid.uuid4().hex[:12]}"
        # Declared exactly as Celery's workers declare it, so that neither side's declaration fails.
        self.exchange = Exchange("celeryev", type="topic", durable=True, auto_delete=False)
        self.gap_queue = Queue(
            name + ".gaps",
            durable=True,
            auto_delete=False,
            queue_arguments={"x-expires": QUEUE_EXPIRES_MS, "x-max-length": 100_000},
        )
        self.marker_queue = Queue(
            name + ".marker",
            durable=True,
            auto_delete=False,
            queue_arguments={"x-expires": QUEUE_EXPIRES_MS, "x-max-length": 1},
        )
        self.queue = Queue(
            name,
            exchange=self.exchange,
            routing_key="#",
            durable=True,
            auto_delete=False,
            queue_arguments={
                "x-message-ttl": MESSAGE_TTL_MS,
                "x-max-length": MAX_LENGTH,
                "x-overflow": "drop-head",
                "x-expires": QUEUE_EXPIRES_MS,
                "x-dead-letter-exchange": "",
                "x-dead-letter-routing-key": self.gap_queue.name,
            },
        )
        self.declared_exchange = False  # True once we had to create celeryev ourselves
        self._stop = threading.Event()
        self._in_flight = threading.Semaphore(MAX_BATCHES_IN_FLIGHT)
        self._thread = threading.Thread(target=self._run, name="celery-events", daemon=True)
        self._status = SourceStatus(SOURCE, detail=redact_url(broker_url))
        self._connected_before = False
        self._step = Step("connecting to the broker")  # what we last asked the broker, for refusals
        self._batch: list[dict[str, Any]] = []
        self._types: Counter[str] = Counter()
        self._drops: Counter[str] = Counter()
        self._last_message: Any = None
        self._unreadable_logged_at = float("-inf")
        self._unreadable_unlogged = 0
        self._drop_summary = DropSummary(UNREADABLE_LOG_SECONDS)

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
        """Error text with every password of every failover URL taken out, as written or decoded."""
        return scrub(text, self._secrets)

    def _on_connection_error(self, exc: Exception) -> None:
        # Events read but not yet handed over were not acked either: if our queue survives,
        # the broker delivers them again; if not, they are part of the counted gap.
        self._batch.clear()
        self._types.clear()
        self._drops.clear()
        self._last_message = None
        delay = self.backoff.next_delay()
        text = broker_text(self._scrub(f"{type(exc).__name__}: {exc}"), 300)  # the broker's reply text, quoted
        state = "unauthorised" if any(word in str(exc) for word in REFUSALS) else "unreachable"
        if state == "unauthorised":
            reason = self._scrub(explain(self._step, str(exc)))
            hint = LOGIN_HINT if login_refused(str(exc)) else PERMISSIONS_HINT
            text = f"{broker_text(reason, 300)}: {hint}. The broker said: {text}"
        log.warning("celery events: %s; retrying in %.1fs", text, delay)
        self._report(state, text)
        self._stop.wait(delay)

    # ---- one connection's life --------------------------------------------------------------
    # The order matters for refusals: each step before the events queue needs one kind of
    # permission on one resource, so a missing permission is named exactly (see refusals.py).
    def _consume_once(self) -> None:
        self._step = Step("connecting to the broker")
        with Connection(
            self._urls, heartbeat=10, connect_timeout=5, transport_options={"confirm_publish": False}
        ) as conn:
            conn.ensure_connection(max_retries=1)
            self._count_reconnect_gaps(conn)
            channel = conn.channel()
            self._declare_side_queues(conn, channel)
            gaps = Consumer(
                conn.channel(),
                queues=[self.gap_queue],
                on_message=self._on_dead_letter,
                no_ack=True,
                auto_declare=False,
            )
            self._step = self._reading(self.gap_queue)
            with gaps:
                self._declare_events_queue(channel)
                events = Consumer(
                    channel,
                    queues=[self.queue],
                    on_message=self._on_event,
                    no_ack=False,
                    prefetch_count=PREFETCH,
                    auto_declare=False,
                )
                self._step = self._reading(self.queue)
                with events:
                    self.backoff.reset()
                    self._report("ok", None)
                    self._drain(conn)
            if self._stop.is_set():
                self._delete_queues(conn)

    def _count_reconnect_gaps(self, conn: Connection) -> None:
        """After a reconnect, count what the outage lost (passive checks need no permission)."""
        if self._connected_before:
            self.gaps.note("reconnects")
            if self._passive_count(conn, self.queue) is None:
                self.gaps.note("queue_lost")
            elif not self._passive_count(conn, self.marker_queue):
                self.gaps.note("broker_restarted")  # the transient marker went with the restart
        self._connected_before = True

    def _declare_side_queues(self, conn: Connection, channel: Any) -> None:
        """celeryev if missing, the gaps and marker queues, and the marker message."""
        self._declare_exchange(conn)
        for queue in (self.gap_queue, self.marker_queue):
            self._step = Step(f"declaring queue '{queue.name}'", (("queue", queue.name, "configure"),))
            queue(channel).queue_declare()
        marker = self.marker_queue(channel)
        if not self._passive_count(conn, self.marker_queue):
            self._step = Step(
                f"publishing to queue '{marker.name}' through the default exchange",
                (("exchange", "amq.default", "write"),),
            )
            # Transient on purpose (delivery_mode 1), like Celery's events: a restart drops both.
            conn.Producer(channel, auto_declare=False).publish(
                b"", exchange="", routing_key=marker.name, delivery_mode=1
            )
            marker.queue_declare(passive=True)  # a round trip: a refused publish is reported here

    def _declare_events_queue(self, channel: Any) -> None:
        """Our events queue (dead-lettering to the gaps queue), bound to celeryev for every event."""
        name = self.queue.name
        self._step = Step(
            f"declaring queue '{name}' with dead-lettering to '{self.gap_queue.name}'",
            (("queue", name, "configure and read"), ("exchange", "amq.default", "write")),
        )
        queue = self.queue(channel)
        queue.queue_declare()
        self._step = Step(
            f"binding queue '{name}' to exchange 'celeryev'",
            (("queue", name, "write"), ("exchange", "celeryev", "read")),
        )
        queue.queue_bind()  # kombu's declare() would also declare celeryev, needing configure on it

    @staticmethod
    def _reading(queue: Queue) -> Step:
        return Step(f"consuming from queue '{queue.name}'", (("queue", queue.name, "read"),))

    def _declare_exchange(self, conn: Connection) -> None:
        if self._passive_exchange_exists(conn):
            return
        self._step = Step("declaring exchange 'celeryev'", (("exchange", "celeryev", "configure"),))
        self.exchange(conn.default_channel).declare()
        if not self.declared_exchange:
            log.info("celery events: created Celery's 'celeryev' exchange (no worker had yet); it is left in place")
        self.declared_exchange = True

    def _passive_exchange_exists(self, conn: Connection) -> bool:
        probe = conn.channel()  # a passive declare of a missing object closes its channel
        try:
            self.exchange(probe).declare(passive=True)
        except conn.channel_errors:
            return False
        finally:
            with contextlib.suppress(Exception):
                probe.close()
        return True

    def _passive_count(self, conn: Connection, queue: Queue) -> int | None:
        """Messages in one of our queues, or None when it does not exist."""
        probe = conn.channel()
        try:
            return int(queue(probe).queue_declare(passive=True).message_count)
        except conn.channel_errors:
            return None
        finally:
            with contextlib.suppress(Exception):
                probe.close()

    def _delete_queues(self, conn: Connection) -> None:
        """On a clean stop, leave nothing behind (x-expires covers a crash)."""
        channel = conn.channel()
        for queue in (self.queue, self.gap_queue, self.marker_queue):
            with contextlib.suppress(Exception):
                queue(channel).delete()

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
            self._drops["unreadable"] += 1
            self._log_unreadable()
        if len(self._batch) >= BATCH_SIZE:
            self._flush()

    def _log_unreadable(self) -> None:
        """One traceback a minute at most, then a count: a flood of bad messages must not flood the log."""
        now = time.monotonic()
        if now - self._unreadable_logged_at < UNREADABLE_LOG_SECONDS:
            self._unreadable_unlogged += 1
            return
        skipped, self._unreadable_unlogged = self._unreadable_unlogged, 0
        self._unreadable_logged_at = now
        more = f" ({skipped} more since the last report, not logged)" if skipped else ""
        log.warning(
            "celery events: could not read a message%s; counted in "
            'visualiser_celery_events_dropped_total{reason="unreadable"}',
            more,
            exc_info=True,
        )

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
        summary = self._drop_summary.add(self._drops)
        if summary:
            log.warning(summary)
        self._types.clear()
        self._drops.clear()

    # ---- status ------------------------------------------------------------------------------
    def _report(self, state: str, error: str | None) -> None:
        now = time.time()
        old = self._status
        self._status = SourceStatus(
            SOURCE,
            state=state,
            detail=old.detail,
            last_success=now if state == "ok" else old.last_success,
            last_error=error or old.last_error,
            since=old.since if old.state == state else now,
            extra={"queue": self.queue.name, "gaps": self.gaps.to_json(), "declared_exchange": self.declared_exchange},
        )
        self.hub.publish_status(self._status)
