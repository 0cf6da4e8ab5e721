"""The broker side of a firehose trace: the vhost's tracing flag, and the consumer of the
service's own bounded trace queue.

**The flag.** ``PUT /api/vhosts/<vhost>`` with ``{"tracing": true}`` turns tracing on. That
call also sets the vhost's description, tags and default queue type, to empty when left
out (rabbit_mgmt_wm_vhost:accept_content → rabbit_vhost:put_vhost/6, 3.10 to 4.x), so the
switch reads them first and sends them back unchanged. It needs the management user's
``administrator`` tag (the handler's is_authorized_admin). RabbitMQ keeps the flag per
node: rabbit_trace:start/1 sets the running node's application environment and refreshes
that node's channels only, and GET answers for the node that serves it. So the management
API switches tracing on the node behind it; on a cluster, channels on the other nodes are
not traced, and the status names them. The flag is not persisted: a restart clears it.

**The queue.** Exclusive (gone with the service's connection; RabbitMQ 4.3 accepts
exclusive transient queues), classic, with ``x-max-length``, ``x-max-length-bytes``,
``drop-head`` overflow and a short ``x-message-ttl``: the broker never holds more than a
bounded backlog for a slow service. What it drops (over a limit, or expired) is
dead-lettered into a second exclusive queue that is purged every second: the purge's
count is the exact number dropped (a lower bound if even that queue overflowed, which the
status says). Prefetch is bounded and acks are batched; when the hub is behind, the
consumer stops acknowledging and the broker's limits take over, counted.

**Names.** py-amqp refuses a delivery whose routing key is not UTF-8 (a queue or exchange
name of bytes, which RabbitMQ allows) and drops the connection; the channel here reads
such a delivery with ``\\xNN`` escapes instead, as the management client shows those names.

**Faults.** The consumer reconnects with capped backoff (whatever its queue held is then
lost: counted as a reconnect); a cancelled consumer (the queue deleted under it) is counted
and the queue declared again; after each reconnect, and every half minute, the flag is read
again: found off (a broker restart clears it) it is counted, reported and turned back on.
"""

from __future__ import annotations

import contextlib
import json
import logging
import struct
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import quote

import requests
from amqp import spec
from amqp.exceptions import ConsumerCancelled
from kombu import Connection, Consumer, Queue
from kombu.transport import pyamqp
from kombu.utils.url import url_to_parts

from ..sources.management_api import broker_reason, split_credentials
from ..sources.quoting import broker_text
from ..sources.refusals import Step, explain
from ..sources.sink import Sink
from ..sources.status import Backoff, SourceStatus
from ..urls import parse_url, passwords_in, redact_url, scrub, split_urls
from .decode import Bounds, Malformed, TraceCopy, decode_copy, name_text

log = logging.getLogger(__name__)

TRACE_EXCHANGE = "amq.rabbitmq.trace"
SOURCE_PREFIX = "trace:"
MIB = 1024 * 1024
BATCH_SECONDS = 0.05
PURGE_SECONDS = 1.0
FLAG_CHECK_SECONDS = 30.0
READY_SECONDS = 15.0
MAX_ANSWER_BYTES = 1 * MIB  # a vhost object or the overview's node: small
REFUSALS = ("ACCESS_REFUSED", "NOT_ALLOWED", "(403)", "(530)")
PERMISSIONS_HINT = "docs/tracing.md lists what the trace needs"


@dataclass(frozen=True)
class QueueLimits:
    """The trace queue's bounds: what the broker may hold for the service, whatever the rate."""

    max_length: int = 20_000
    max_length_bytes: int = 32 * MIB
    message_ttl_ms: int = 30_000
    prefetch: int = 500
    body_bytes: int = 2048
    dropped_max_length: int = 200_000
    dropped_max_length_bytes: int = 64 * MIB

    def as_json(self) -> dict[str, int]:
        return {
            "max_length": self.max_length,
            "max_length_bytes": self.max_length_bytes,
            "message_ttl_ms": self.message_ttl_ms,
            "prefetch": self.prefetch,
            "body_bytes": self.body_bytes,
        }


class TraceRefused(Exception):
    """The broker would not let the trace start, or cannot be reached: a message for the user.
    ``status`` is the HTTP status that fits (502: it refused; 503: it did not answer; 404: no vhost)."""

    def __init__(self, message: str, status: int = 502):
        super().__init__(message)
        self.status = status


# ---- the flag ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class VhostTracing:
    tracing: bool
    description: str
    tags: tuple[str, ...]
    default_queue_type: str | None
    nodes: tuple[str, ...]


class TracingSwitch:
    """Reads and sets a vhost's tracing flag through the management API, leaving the rest of
    the vhost's settings as they were."""

    def __init__(self, management_url: str, timeout: float = 5.0):
        self.base_url, user, password = split_credentials(management_url)
        self.timeout = timeout
        self._session = requests.Session()
        self._session.auth = (user, password)
        self._lock = threading.Lock()  # requests.Session is not thread-safe

    def _path(self, vhost: str) -> str:
        return "/api/vhosts/" + quote(vhost, safe="")

    def _call(self, method: str, path: str, body: Any = None) -> tuple[int, bytes]:
        try:
            with (
                self._lock,
                self._session.request(
                    method, self.base_url + path, json=body, timeout=self.timeout, stream=True
                ) as response,
            ):
                content = response.raw.read(MAX_ANSWER_BYTES + 1, decode_content=True) or b""
                return response.status_code, content[:MAX_ANSWER_BYTES]
        except requests.RequestException as exc:
            raise TraceRefused(f"management API at {self.base_url} unreachable ({type(exc).__name__})", 503) from None

    def _check(self, status: int, content: bytes, doing: str, vhost: str) -> None:
        if status < 400:
            return
        reason = broker_reason(content)
        said = f" ({status}" + (f", '{reason}'" if reason else "") + ")"
        # RabbitMQ answers 401 "Not administrator user" to a good login without the tag.
        if status == 401 and "administrator" not in reason.lower():
            raise TraceRefused(f"the management API refused the user name or password{said}: check --management-url")
        if status in (401, 403):
            raise TraceRefused(
                f"the management user may not {doing}{said}: turning a vhost's tracing on or off "
                "needs the 'administrator' tag (rabbitmqctl set_user_tags USER administrator); " + PERMISSIONS_HINT
            )
        if status == 404:
            raise TraceRefused(f"no vhost named {name_text(vhost, Bounds())!r} on the broker{said}", 404)
        raise TraceRefused(f"the management API answered {status} when asked to {doing}{said}")

    def read(self, vhost: str) -> VhostTracing:
        status, content = self._call("GET", self._path(vhost))
        self._check(status, content, f"read vhost {vhost!r}", vhost)
        try:
            body = json.loads(content)
        except ValueError:
            raise TraceRefused("the management API answered a vhost with something that is not JSON") from None
        if not isinstance(body, dict) or not isinstance(body.get("tracing"), bool):
            raise TraceRefused("the management API's vhost object has no 'tracing' flag")
        tags = body.get("tags")
        queue_type = body.get("default_queue_type")
        cluster = body.get("cluster_state")
        return VhostTracing(
            tracing=body["tracing"],
            description=str(body.get("description") or ""),
            tags=tuple(str(t) for t in tags) if isinstance(tags, list) else (),
            default_queue_type=queue_type
            if isinstance(queue_type, str) and queue_type not in ("", "undefined")
            else None,
            nodes=tuple(sorted(str(n) for n in cluster)) if isinstance(cluster, dict) else (),
        )

    def set(self, vhost: str, on: bool) -> VhostTracing:
        """Turn the flag on or off, sending the vhost's description, tags and default queue type
        back as they are (the call would otherwise clear them). Returns the state read before."""
        before = self.read(vhost)
        body: dict[str, Any] = {"tracing": on, "description": before.description, "tags": ",".join(before.tags)}
        if before.default_queue_type:
            body["default_queue_type"] = before.default_queue_type
        status, content = self._call("PUT", self._path(vhost), body)
        self._check(status, content, f"turn tracing {'on' if on else 'off'} for vhost {vhost!r}", vhost)
        return before

    def node(self) -> str | None:
        """The node whose management API answers: the one whose flag it sets."""
        status, content = self._call("GET", "/api/overview?columns=node")
        if status >= 400:
            return None
        try:
            node = json.loads(content).get("node")
        except (ValueError, AttributeError):
            return None
        return node if isinstance(node, str) else None


# ---- reading deliveries whose names are not UTF-8 --------------------------------------------------------


def _short_string(payload: bytes, offset: int) -> tuple[str, int]:
    length = payload[offset]
    raw = payload[offset + 1 : offset + 1 + length]
    return raw.decode("utf-8", "backslashreplace"), offset + 1 + length


def tolerant_deliver_args(payload: bytes) -> tuple[str, int, bool, str, str]:
    """basic.deliver's arguments (consumer tag, delivery tag, redelivered, exchange, routing
    key), with names that are not UTF-8 shown as ``\\xNN`` escapes."""
    consumer_tag, offset = _short_string(payload, 0)
    (delivery_tag,) = struct.unpack_from(">Q", payload, offset)
    redelivered = bool(payload[offset + 8] & 1)
    exchange, offset = _short_string(payload, offset + 9)
    routing_key, _ = _short_string(payload, offset)
    return consumer_tag, delivery_tag, redelivered, exchange, routing_key


class TolerantChannel(pyamqp.Channel):  # type: ignore[misc]
    def __init__(self, *args: Any, **kwargs: Any):
        kwargs["auto_decode"] = False  # bodies stay bytes, whatever content_encoding a publisher claimed
        super().__init__(*args, **kwargs)

    def dispatch_method(self, method_sig: Any, payload: bytes, content: Any) -> None:
        try:
            super().dispatch_method(method_sig, payload, content)
        except UnicodeDecodeError:
            if method_sig != spec.Basic.Deliver or method_sig not in self._callbacks:
                raise
            self._callbacks[method_sig](*tolerant_deliver_args(payload), content)


class TolerantConnection(pyamqp.Connection):  # type: ignore[misc]
    Channel = TolerantChannel


class TraceTransport(pyamqp.Transport):  # type: ignore[misc]
    Connection = TolerantConnection


# ---- where the copies go ----------------------------------------------------------------------------------


class TraceSink(Protocol):
    """What the consumer hands its copies to (the tracer's run)."""

    def offer(self, copies: list[TraceCopy], malformed: dict[str, int], timeout: float) -> bool:
        """Take the batch (True) or, when the hub is behind, refuse it for now (False)."""


@dataclass
class Faults:
    reconnects: int = 0
    queue_lost: int = 0
    tracing_found_off: int = 0
    tracing_reenabled: int = 0
    last_fault: float | None = None

    def note(self, kind: str) -> None:
        setattr(self, kind, getattr(self, kind) + 1)
        self.last_fault = time.time()

    def as_json(self) -> dict[str, Any]:
        return {
            "reconnects": self.reconnects,
            "queue_lost": self.queue_lost,
            "tracing_found_off": self.tracing_found_off,
            "tracing_reenabled": self.tracing_reenabled,
            "last_fault": self.last_fault,
        }


@dataclass(frozen=True)
class AmqpTarget:
    """Where the trace consumer connects: a broker URL's host, port, user and TLS, in the traced vhost."""

    url: str  # the URL given (for the status, redacted)
    params: dict[str, Any] = field(repr=False)

    @classmethod
    def of(cls, url: str, vhost: str) -> AmqpTarget:
        first = split_urls(url)[0]
        transport, host, port, user, password, _vhost, query = url_to_parts(first)
        params = {
            "hostname": host or "localhost",
            "port": port or None,
            "userid": user,
            "password": password,
            "virtual_host": vhost,
            "ssl": transport == "amqps" or bool(query.get("ssl")),
        }
        return cls(first, params)


def amqp_url_for(trace_url: str | None, broker_url: str | None, management_url: str) -> str:
    """--trace-url; else --broker-url; else the management host on AMQP's port with the management user."""
    if trace_url:
        return trace_url
    if broker_url:
        return split_urls(broker_url)[0]
    _base, user, password = split_credentials(management_url)
    host = parse_url(management_url).hostname or "localhost"
    host = f"[{host}]" if ":" in host else host
    return f"amqp://{quote(user, safe='')}:{quote(password, safe='')}@{host}:5672/"


class LiveTrace:
    """One vhost's trace on the live broker: its queue, its consumer thread and the flag."""

    def __init__(
        self,
        vhost: str,
        bindings: list[str],
        target: AmqpTarget,
        switch: TracingSwitch,
        sink: TraceSink,
        hub: Sink,
        limits: QueueLimits | None = None,
        backoff_cap: float = 30.0,
    ):
        self.vhost, self.bindings, self.target, self.switch = vhost, bindings, target, switch
        self.sink, self.hub, self.limits = sink, hub, limits or QueueLimits()
        self.backoff = Backoff(base=0.5, cap=backoff_cap)
        self.faults = Faults()
        self.dropped = 0
        self.dropped_exact = True
        self.flag: VhostTracing | None = None
        self.was_on: bool | None = None
        self.owned = False  # the service turned the flag on, so it turns it off again
        self.node: str | None = None
        self.last_error: str | None = None
        name = f"visualiser.trace.{uuid.uuid4().hex[:12]}"
        self.dropped_queue = Queue(
            name + ".dropped",
            exclusive=True,
            durable=False,
            auto_delete=False,
            queue_arguments={
                "x-queue-type": "classic",
                "x-max-length": self.limits.dropped_max_length,
                "x-max-length-bytes": self.limits.dropped_max_length_bytes,
                "x-overflow": "drop-head",
            },
        )
        self.queue = Queue(
            name,
            exclusive=True,
            durable=False,
            auto_delete=False,
            queue_arguments={
                "x-queue-type": "classic",
                "x-max-length": self.limits.max_length,
                "x-max-length-bytes": self.limits.max_length_bytes,
                "x-overflow": "drop-head",
                "x-message-ttl": self.limits.message_ttl_ms,
                "x-dead-letter-exchange": "",
                "x-dead-letter-routing-key": self.dropped_queue.name,
            },
        )
        self._secrets = passwords_in(target.url)
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._failed: TraceRefused | None = None
        self._thread = threading.Thread(target=self._run, name=f"trace:{vhost[:40]}", daemon=True)
        self._connected_before = False
        self._step = Step("connecting to the broker")
        self._batch: list[TraceCopy] = []
        self._malformed: Counter[str] = Counter()
        self._last_message: Any = None
        self._unreadable_logged_at = float("-inf")
        self._status = SourceStatus(SOURCE_PREFIX + vhost, detail=self._detail())

    def _detail(self) -> str:
        return f"vhost {self.vhost!r} through {redact_url(self.target.url)}"

    # ---- lifecycle (the tracer's threads) ------------------------------------------------------------------
    def start(self) -> None:
        """Consume first, then turn the flag on (so nothing traced is missed); TraceRefused if the broker says no."""
        self.flag = self.switch.read(self.vhost)
        self.was_on = self.flag.tracing
        self._thread.start()
        if not self._ready.wait(READY_SECONDS) or self._failed is not None:
            failure = self._failed or TraceRefused(
                f"the trace consumer did not start within {READY_SECONDS:g}s: "
                f"{self.last_error or 'no answer from the broker'}",
                503,
            )
            self._halt()
            raise failure
        if not self.flag.tracing:
            try:
                self.switch.set(self.vhost, True)
            except TraceRefused as exc:
                self._halt()  # the flag is as it was; the queues go with the connection
                self._report("ok", str(exc), detail=self._detail() + " (not started)")
                raise
            self.owned = True
        self.node = self.switch.node()
        with contextlib.suppress(TraceRefused):  # it is on; reading it back is for the status only
            self.flag = self.switch.read(self.vhost)

    def stop(self) -> str | None:
        """Leave the broker as it was found: the flag off again if the service turned it on; the
        queues go with the consumer's connection. Returns what could not be undone, if anything."""
        problem = None
        ran = self._failed is None and self._ready.is_set()
        if self.owned:
            try:
                self.switch.set(self.vhost, False)
                self.owned = False
            except TraceRefused as exc:
                problem = f"tracing could not be turned off again: {exc}"
                log.warning("trace of vhost %r: %s", self.vhost, problem)
        with contextlib.suppress(TraceRefused):
            self.flag = self.switch.read(self.vhost)
        self._halt()
        if ran:
            self._report("ok", problem, detail=self._detail() + " (stopped)")
        return problem

    def _halt(self) -> None:
        self._stop.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout=10)

    def broker_json(self) -> dict[str, Any]:
        nodes = list(self.flag.nodes) if self.flag else []
        untraced = [n for n in nodes if n != self.node] if self.node else []
        return {
            "tracing": self.flag.tracing if self.flag else None,
            "was_on": self.was_on,
            "node": self.node,
            "nodes": nodes,
            "untraced_nodes": untraced,
            "note": cluster_note(self.vhost, self.node, nodes),
            "queue": self.queue.name,
            "bindings": list(self.bindings),
            "consumer": self._status.state,
            "last_error": self.last_error,
            "faults": self.faults.as_json(),
        }

    # ---- the consumer thread ----------------------------------------------------------------------------------
    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self._consume_once()
            except Exception as exc:  # noqa: BLE001 - the consumer must outlive anything the broker does
                self._on_error(exc)

    def _on_error(self, exc: Exception) -> None:
        self._batch.clear()
        self._malformed.clear()
        self._last_message = None
        if isinstance(exc, ConsumerCancelled):
            self.faults.note("queue_lost")  # deleted under us: declared again on the next connection
            text = "the trace queue was deleted by someone else; declaring it again"
            self._report("stale", text)
            return
        text = broker_text(scrub(f"{type(exc).__name__}: {exc}", self._secrets), 300)
        refused = any(word in str(exc) for word in REFUSALS)
        if refused:
            text = (
                f"{broker_text(scrub(explain(self._step, str(exc)), self._secrets), 300)}; {PERMISSIONS_HINT}. "
                f"The broker said: {text}"
            )
        if not self._ready.is_set():
            # Said in the answer to the request; a trace that never ran leaves no source status
            # behind (it would mark the service degraded for good).
            self.last_error = text
            self._failed = TraceRefused(f"the trace consumer could not start: {text}", 502 if refused else 503)
            self._ready.set()
            self._stop.set()
            return
        delay = self.backoff.next_delay()
        log.warning("trace of vhost %r: %s; retrying in %.1fs", self.vhost, text, delay)
        self._report("unauthorised" if refused else "unreachable", text)
        self._stop.wait(delay)

    def _consume_once(self) -> None:
        self._step = Step("connecting to the broker")
        with Connection(transport=TraceTransport, heartbeat=10, connect_timeout=5, **self.target.params) as conn:
            conn.ensure_connection(max_retries=1)
            if self._connected_before:
                self.faults.note("reconnects")  # an exclusive queue goes with its connection: what it held is lost
            channel = conn.channel()
            self._declare(channel)
            consumer = Consumer(
                channel,
                queues=[self.queue],
                on_message=self._on_message,
                no_ack=False,
                prefetch_count=self.limits.prefetch,
                auto_declare=False,
            )
            self._step = Step(f"consuming from queue '{self.queue.name}'", (("queue", self.queue.name, "read"),))
            with consumer:
                reconnected = self._connected_before
                self._connected_before = True
                self.backoff.reset()
                self._report("ok", None)
                self._ready.set()
                if reconnected:
                    self._check_flag()
                self._drain(conn, channel)

    def _declare(self, channel: Any) -> None:
        dropped = self.dropped_queue.name
        self._step = Step(f"declaring queue '{dropped}'", (("queue", dropped, "configure"),))
        self.dropped_queue(channel).queue_declare()
        name = self.queue.name
        self._step = Step(
            f"declaring queue '{name}' with dead-lettering to '{dropped}'",
            (("queue", name, "configure and read"), ("exchange", "amq.default", "write")),
        )
        queue = self.queue(channel)
        queue.queue_declare()
        for key in self.bindings:
            self._step = Step(
                f"binding queue '{name}' to exchange '{TRACE_EXCHANGE}'",
                (("queue", name, "write"), ("exchange", TRACE_EXCHANGE, "read")),
            )
            channel.queue_bind(name, TRACE_EXCHANGE, key)

    def _drain(self, conn: Connection, channel: Any) -> None:
        now = time.monotonic()
        flush_at, purge_at, check_at = now + BATCH_SECONDS, now + PURGE_SECONDS, now + FLAG_CHECK_SECONDS
        while not self._stop.is_set():
            with contextlib.suppress(TimeoutError):
                conn.drain_events(timeout=BATCH_SECONDS)
            now = time.monotonic()
            if now >= flush_at:
                self._flush(conn, channel)
                conn.heartbeat_check()
                flush_at = time.monotonic() + BATCH_SECONDS
            if now >= purge_at:
                self._count_dropped(channel)
                purge_at = now + PURGE_SECONDS
            if now >= check_at:
                self._check_flag()
                check_at = time.monotonic() + FLAG_CHECK_SECONDS
        self._flush(conn, channel)

    def _on_message(self, message: Any) -> None:
        self._last_message = message
        try:
            body = message.body if message.body is not None else b""
            self._batch.append(
                decode_copy(
                    message.delivery_info.get("routing_key", ""),
                    message.headers,
                    body,
                    time.time(),
                    self.limits.body_bytes,
                )
            )
        except Malformed as exc:
            self._malformed[exc.reason] += 1
        except Exception:  # noqa: BLE001 - one unreadable message must not cost the trace
            self._malformed["unreadable"] += 1
            self._log_unreadable()

    def _log_unreadable(self) -> None:
        """At most once a minute, and never the message: only that one could not be read."""
        now = time.monotonic()
        if now - self._unreadable_logged_at >= 60:
            self._unreadable_logged_at = now
            log.warning("trace of vhost %r: a trace message could not be read (counted as malformed)", self.vhost)

    def _flush(self, conn: Connection, channel: Any) -> None:
        """Hand the batch over (at most a prefetch's worth) and acknowledge it; while the hub is
        behind, keep counting drops and the connection alive, acknowledging nothing."""
        if self._batch or self._malformed:
            batch, malformed = self._batch, dict(self._malformed)
            self._batch, self._malformed = [], Counter()
            while not self.sink.offer(batch, malformed, timeout=0.5):
                if self._stop.is_set():
                    return  # unacknowledged: they go with the queue
                self._count_dropped(channel)
                conn.heartbeat_check()
        if self._last_message is not None:
            message, self._last_message = self._last_message, None
            message.ack(multiple=True)

    def _count_dropped(self, channel: Any) -> None:
        """Purge the dead-letter queue: its count is what the broker dropped since the last purge."""
        purged = channel.queue_purge(self.dropped_queue.name) or 0
        if purged:
            self.dropped += purged
            self.hub.metrics.inc("visualiser_trace_dropped_total", purged)
            if purged >= self.limits.dropped_max_length:
                self.dropped_exact = False

    def _check_flag(self) -> None:
        """Is tracing still on? A broker restart (or someone else) turns it off: count, report, turn back on."""
        try:
            self.flag = self.switch.read(self.vhost)
            if self.flag.tracing:
                return
            self.faults.note("tracing_found_off")
            log.warning(
                "trace of vhost %r: tracing was found off on the broker (restarted?); turning it on again", self.vhost
            )
            self.switch.set(self.vhost, True)
            self.owned = True  # whoever had it on before, the service turned it on now, so it turns it off
            self.faults.note("tracing_reenabled")
            self.flag = self.switch.read(self.vhost)
        except TraceRefused as exc:
            self.last_error = str(exc)
            self._report(self._status.state, str(exc))

    def _report(self, state: str, error: str | None, detail: str | None = None) -> None:
        if error:
            self.last_error = error
        now = time.time()
        old = self._status
        self._status = SourceStatus(
            old.source,
            state=state,
            detail=detail or old.detail,
            last_success=now if state == "ok" else old.last_success,
            last_error=error or old.last_error,
            since=old.since if old.state == state else now,
            extra={"queue": self.queue.name, "dropped": self.dropped, "faults": self.faults.as_json()},
        )
        self.hub.publish_status(self._status)


def cluster_note(vhost: str, node: str | None, nodes: list[str]) -> str:
    if not nodes or node is None:
        return "the broker did not say which nodes run the vhost"
    if len(nodes) == 1:
        return f"one node ({node}): every channel of the vhost is traced"
    others = [n for n in nodes if n != node]
    return (
        f"RabbitMQ keeps the tracing flag per node: it is on for {node} only, the node whose management API "
        f"the service asked. Messages published or consumed through connections on {', '.join(others)} are "
        f"not traced; to trace them too, run rabbitmqctl trace_on -p {vhost!r} on each of them"
    )
