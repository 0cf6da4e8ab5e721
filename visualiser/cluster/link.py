"""The cluster's own AMQP connection: which process leads, and how the others reach it.

**Election.** Every process tries, once a second, to declare the exclusive queue
``rabbitmq-visualiser.leader`` in the message queue's vhost. RabbitMQ lets one connection
hold an exclusive queue: the process whose declaration succeeds leads; the others are told
``RESOURCE_LOCKED`` and follow. When the leader's connection closes (a clean stop, a crash, a
SIGKILL: the kernel closes the socket and the broker notices at once) the queue is deleted
with it, and the next follower to try takes over, within about a second. Nothing outlives
the processes: the queue is exclusive, so it never needs an expiry. No new infrastructure,
no clock: the broker itself decides.

**The leader's inbox.** The same queue carries what followers ask of the leader: the socket
events of the pages they hold (fire and forget) and the HTTP reads they forward (request and
reply, through RabbitMQ's direct reply-to, ``amq.rabbitmq.reply-to``, which declares
nothing). Both are published to the default exchange as ``mandatory``: with no leader, the
broker returns them at once instead of dropping them silently, and a forwarded read tries
again until it is answered or its deadline passes.

One thread owns the connection (py-amqp is not thread-safe): it publishes what other threads
queue, waits for deliveries in short slices, and keeps the heartbeats going. A leader that
loses its connection can no longer be sure it is the only one: ``on_lost`` is told, and the
process stops (a service manager restarts it, as a follower).
"""

from __future__ import annotations

import contextlib
import json
import logging
import queue
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .manager import PREFIX

log = logging.getLogger(__name__)

LEADER_QUEUE = PREFIX + ".leader"
REPLY_TO = "amq.rabbitmq.reply-to"
ELECTION_EVERY = 1.0  # seconds between a follower's attempts to take the lead
SLICE = 0.02  # seconds the link thread waits for deliveries before it publishes what is queued
HEARTBEAT = 10  # seconds; a leader cut off from the broker learns it within two or three of them
RETRY_AFTER_RETURN = 0.25  # seconds before a forwarded read, returned for want of a leader, is sent again

Message = dict[str, Any]
Respond = Callable[[Message], None]


class NoLeader(ConnectionError):
    """No process leads right now (the others are electing one), or this one cannot reach the broker."""


@dataclass
class _Outgoing:
    body: bytes
    routing_key: str
    correlation_id: str | None = None
    reply_to: str | None = None
    mandatory: bool = False


class _Call:
    """A forwarded read waiting for its answer."""

    def __init__(self) -> None:
        self._done = threading.Event()
        self._answer: Message | None = None
        self._error: Exception | None = None

    def resolve(self, answer: Message) -> None:
        self._answer = answer
        self._done.set()

    def fail(self, error: Exception) -> None:
        self._error = error
        self._done.set()

    def wait(self, timeout: float) -> Message:
        if not self._done.wait(timeout):
            raise TimeoutError("no answer in time")
        if self._error is not None:
            raise self._error
        assert self._answer is not None
        return self._answer


class BrokerLink:
    """States: ``connecting`` (no connection), ``follower``, ``elected`` (holds the queue, getting
    ready: the sources start, the first read comes), ``leader`` (its inbox open), ``lost``."""

    def __init__(
        self,
        url: str,
        on_elected: Callable[[], None],
        on_message: Callable[[Message, Respond | None], None],
        on_lost: Callable[[str], None],
    ):
        self.url = url
        self.on_elected, self.on_message, self.on_lost = on_elected, on_message, on_lost
        self.state = "connecting"
        self._outbox: queue.Queue[_Outgoing] = queue.Queue()
        self._calls: dict[str, _Call] = {}
        self._calls_lock = threading.Lock()
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._refusal_logged = ""
        self._thread = threading.Thread(target=self._run, name="cluster-link", daemon=True)

    # ---- any thread ----------------------------------------------------------------------------
    @property
    def is_leader(self) -> bool:
        return self.state == "leader"

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Close the connection: a leader's queue, and with it the lead, goes with it."""
        self._stop.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout=10)

    def ready(self) -> None:
        """The elected process is ready (its first read is in): open its inbox."""
        self._ready.set()

    def send(self, message: Message) -> None:
        """To the leader, fire and forget (dropped by the broker when no process leads)."""
        self._outbox.put(_Outgoing(_encode(message), LEADER_QUEUE, mandatory=True))

    def call(self, message: Message, timeout: float) -> Message:
        """To the leader, and its answer. NoLeader or TimeoutError when none comes in time."""
        deadline = time.monotonic() + timeout
        body = _encode(message)
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError("no process answered in time")
            if self.state == "connecting":
                time.sleep(min(RETRY_AFTER_RETURN, remaining))
                continue
            correlation_id = uuid.uuid4().hex
            call = _Call()
            with self._calls_lock:
                self._calls[correlation_id] = call
            self._outbox.put(_Outgoing(body, LEADER_QUEUE, correlation_id, REPLY_TO, mandatory=True))
            try:
                return call.wait(remaining)
            except NoLeader:
                time.sleep(min(RETRY_AFTER_RETURN, max(0.0, deadline - time.monotonic())))
            finally:
                with self._calls_lock:
                    self._calls.pop(correlation_id, None)

    # ---- the link thread ---------------------------------------------------------------------------
    def _run(self) -> None:
        import kombu

        backoff = 1.0
        while not self._stop.is_set():
            try:
                with kombu.Connection(self.url, heartbeat=HEARTBEAT, connect_timeout=10) as connection:
                    connection.ensure_connection(max_retries=1)
                    backoff = 1.0
                    self._session(connection)
            except Exception as exc:  # noqa: BLE001 - whatever the broker or the network does
                if self.state in ("elected", "leader"):
                    self.state = "lost"
                    self._fail_calls(NoLeader("lost the message queue"))
                    self.on_lost(f"{type(exc).__name__}: {exc}")
                    return
                self.state = "connecting"
                self._fail_calls(NoLeader("cannot reach the message queue"))
                self._drop_outbox()
                log.warning("message queue unreachable (%s); trying again in %gs", type(exc).__name__, backoff)
                self._stop.wait(backoff)
                backoff = min(backoff * 2, 30.0)

    def _session(self, connection: Any) -> None:
        channel = connection.channel()
        channel.events["basic_return"].add(self._returned)
        channel.basic_consume(REPLY_TO, no_ack=True, callback=self._answered)
        self.state = "follower"
        next_try = 0.0
        while not self._stop.is_set():
            if self.state == "follower" and time.monotonic() >= next_try:
                next_try = time.monotonic() + ELECTION_EVERY
                if self._take_the_lead(connection):
                    self.state = "elected"
                    threading.Thread(target=self.on_elected, name="cluster-take-over", daemon=True).start()
            if self.state == "elected" and self._ready.is_set():
                channel.basic_consume(LEADER_QUEUE, no_ack=True, callback=self._asked)
                self.state = "leader"
            self._flush(channel)
            with contextlib.suppress(TimeoutError):  # socket.timeout: nothing came in this slice
                connection.drain_events(timeout=SLICE)
            connection.heartbeat_check()

    def _take_the_lead(self, connection: Any) -> bool:
        from amqp.exceptions import ChannelError, ResourceLocked

        attempt = connection.channel()
        try:
            attempt.queue_declare(queue=LEADER_QUEUE, durable=False, exclusive=True, auto_delete=True)
        except ResourceLocked:
            return False  # another process holds it: it leads
        except ChannelError as exc:
            text = (
                f"cannot declare queue {LEADER_QUEUE!r} ({exc.reply_code} {exc.reply_text}): the message queue's "
                f"user needs configure, write and read permissions on '^{PREFIX}\\.'"
            )
            if text != self._refusal_logged:
                self._refusal_logged = text
                log.error("%s", text)
            return False
        attempt.close()
        log.info("elected to lead: this process reads the broker now")
        return True

    def _flush(self, channel: Any) -> None:
        import amqp

        while True:
            try:
                out = self._outbox.get_nowait()
            except queue.Empty:
                return
            properties: dict[str, Any] = {"content_type": "application/json"}
            if out.correlation_id:
                properties["correlation_id"] = out.correlation_id
            if out.reply_to:
                properties["reply_to"] = out.reply_to
            channel.basic_publish(
                amqp.Message(out.body, **properties), exchange="", routing_key=out.routing_key, mandatory=out.mandatory
            )

    def _answered(self, message: Any) -> None:
        correlation_id = message.properties.get("correlation_id")
        with self._calls_lock:
            call = self._calls.get(correlation_id)
        if call is not None:
            call.resolve(_decode(message.body))

    def _returned(self, _exc: Any, _exchange: str, _routing_key: str, message: Any) -> None:
        correlation_id = message.properties.get("correlation_id")
        with self._calls_lock:
            call = self._calls.get(correlation_id) if correlation_id else None
        if call is not None:
            call.fail(NoLeader("no process leads right now"))

    def _asked(self, message: Any) -> None:
        """Leader: a follower's socket event or read."""
        try:
            payload = _decode(message.body)
        except ValueError:
            log.warning("ignored a message on %s that is not JSON", LEADER_QUEUE)
            return
        reply_to, correlation_id = message.properties.get("reply_to"), message.properties.get("correlation_id")
        respond: Respond | None = None
        if reply_to:

            def respond(answer: Message) -> None:
                self._outbox.put(_Outgoing(_encode(answer), reply_to, correlation_id))

        self.on_message(payload, respond)

    def _fail_calls(self, error: Exception) -> None:
        with self._calls_lock:
            calls = list(self._calls.values())
        for call in calls:
            call.fail(error)

    def _drop_outbox(self) -> None:
        while True:
            try:
                self._outbox.get_nowait()
            except queue.Empty:
                return


def _encode(message: Message) -> bytes:
    return json.dumps(message, separators=(",", ":")).encode("utf-8")


def _decode(body: Any) -> Message:
    text = body.decode("utf-8") if isinstance(body, (bytes, bytearray)) else str(body)
    value = json.loads(text)
    if not isinstance(value, dict):
        raise ValueError("not an object")
    return value
