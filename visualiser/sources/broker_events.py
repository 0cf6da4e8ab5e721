"""Topology pushed by the broker: the ``rabbitmq_event_exchange`` plugin's events, consumed.

With the plugin on, RabbitMQ publishes an event to the topic exchange ``amq.rabbitmq.event``
(in vhost ``/``) whenever a queue, exchange, binding, consumer, policy or vhost is created
or deleted. This consumer binds a queue of its own to those events and tells the poller
(poller.py) which vhosts to read again, so that a change is on the page within a second
instead of at the next poll. Events carry no initial state and can be lost, so the poller's
full read still seeds the graph and reconciles it at the poll interval.

The queue is exclusive (RabbitMQ 4.3 refuses transient queues that are not), so it dies
with the connection; after a reconnect a full read covers what the outage missed. It is
bounded (``x-max-length``, oldest dropped first) and what it drops is dead-lettered to a
second exclusive queue, so every lost event is counted; a loss asks for a full read, which
heals it. Events are acknowledged only once the read they asked for is on the graph: when
the management API or the hub is slow, events wait on the broker, within that bound,
rather than in our memory.

Without the plugin (no such exchange: the broker answers 404 NOT_FOUND), the status says
so, the poller goes on polling as before, and the exchange is looked for again now and
then, so that enabling the plugin later is noticed. Nothing on the broker is changed but
the two exclusive queues.

The AMQP address is --events-url, else the management host on the AMQP port that the
management API reports for its node, with the management user. With statistics off the API
reports no listener; the guess is then 5672, followed only if the broker answering there has
the management API's cluster name (two brokers on one host are common in tests and upgrades).
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
import uuid
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from kombu import Connection, Queue
from kombu.mixins import ConsumerMixin

from ..urls import parse_url, passwords_in, redact_url, scrub
from .management_api import ManagementClient, SourceError, split_credentials
from .quoting import broker_text
from .refusals import login_refused
from .sink import Sink
from .status import Backoff, SourceStatus
from .vhost_refresh import ConsumerEvent

if TYPE_CHECKING:
    from .poller import ManagementPoller

log = logging.getLogger(__name__)
SOURCE = "broker-events"

EXCHANGE = "amq.rabbitmq.event"
EVENTS_VHOST = "/"  # where the plugin publishes (its default; --events-url names another)
BINDING_KEYS = ("queue.*", "exchange.*", "binding.*", "consumer.*", "policy.*", "vhost.*")
MAX_LENGTH = 10_000  # events waiting on the broker; an event is ~0.5 KB of headers
LOST_MAX_LENGTH = 100_000  # dead-lettered (lost) events waiting to be counted
PREFETCH = 500
ITERATION_SECONDS = 0.05  # how often, at most, queued events are handed to the poller
RECHECK_SECONDS = 30.0  # how often a broker without the plugin is asked again
STATUS_EVERY = 1.0  # seconds between status reports while counts change
CONNECTION_NAME = "visualiser: broker events"  # what the management UI shows, with the queue's name
REFUSALS = ("ACCESS_REFUSED", "NOT_ALLOWED", "(403)", "(530)")
ENABLE_HINT = "rabbitmq-plugins enable rabbitmq_event_exchange"
PERMISSIONS_HINT = (
    "the user needs, in the events vhost, configure on '^visualiser\\.events\\.', write on "
    "'^(visualiser\\.events\\..*|amq\\.default)$' and read on "
    "'^(visualiser\\.events\\..*|amq\\.rabbitmq\\.event)$' (docs/deployment.md)"
)


class ExchangeAbsent(Exception):
    """The broker has no event exchange: the plugin is off (or publishes to another vhost)."""


class OtherBroker(Exception):
    """The AMQP address guessed for the management API's broker answers as another broker."""


class BrokerEventsSource(ConsumerMixin):  # type: ignore[misc]  # kombu is untyped
    connect_max_retries = 1  # our own loop retries, with backoff, and stops promptly

    def __init__(
        self,
        poller: ManagementPoller,
        hub: Sink,
        management_url: str,
        url: str | None = None,
        *,
        max_length: int = MAX_LENGTH,
        prefetch: int = PREFETCH,
        backoff_cap: float = 30.0,
        recheck: float = RECHECK_SECONDS,
    ):
        self.poller, self.hub, self.management_url, self.url = poller, hub, management_url, url
        self.max_length, self.prefetch, self.recheck = max_length, prefetch, recheck
        self.backoff = Backoff(base=1.0, cap=backoff_cap)
        self._secrets = passwords_in(url) | passwords_in(management_url) if url else passwords_in(management_url)
        name = f"visualiser.events.{uuid.uuid4().hex[:12]}"
        self.lost_queue = Queue(
            name + ".lost",
            exclusive=True,
            durable=False,
            auto_delete=False,
            queue_arguments={"x-queue-type": "classic", "x-max-length": LOST_MAX_LENGTH, "x-overflow": "drop-head"},
        )
        self.queue = Queue(
            name,
            exclusive=True,
            durable=False,
            auto_delete=False,
            queue_arguments={
                "x-queue-type": "classic",
                "x-max-length": max_length,
                "x-overflow": "drop-head",
                "x-dead-letter-exchange": "",
                "x-dead-letter-routing-key": self.lost_queue.name,
            },
        )
        self.connection: Connection | None = None
        self._expected_cluster: str | None = None  # the management API's cluster, when the address is guessed
        self._guessed = ""
        self._channel: Any = None  # the consuming connection's channel, to look for the exchange now and then
        self._checked_at = 0.0
        self.should_stop = False
        self.counts = {"received": 0, "lost": 0, "reconnects": 0, "unreadable": 0}
        self._thread = threading.Thread(target=self._run, name="broker-events", daemon=True)
        self._wake = threading.Event()
        self._status = SourceStatus(SOURCE, detail=redact_url(url) if url else "")
        self._status_at = 0.0
        self._connected_before = False
        # Gathered from messages, handed to the poller as one request (consumer thread only):
        self._vhosts: set[str] = set()
        self._full = False
        self._consumers: list[ConsumerEvent] = []
        self._last: Any = None  # the last message received, acked (multiple) once its read is applied
        self._waiting: tuple[int, Any] | None = None  # (ticket, last message of that request)

    # ---- lifecycle -------------------------------------------------------------------------------
    def start(self) -> None:
        self.hub.publish_status(self._status)
        self.poller.events_flowing(False, "looking for the broker's event exchange")
        self._thread.start()

    def stop(self) -> None:
        self.should_stop = True
        self._wake.set()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        while not self.should_stop:
            delay = self._connect_and_consume()
            self._forget_pending()
            if not self.should_stop:
                self._wake.wait(delay)

    def _connect_and_consume(self) -> float:
        """One connection's life; returns how long to wait before the next."""
        try:
            self.connection = Connection(
                self._amqp_url(),
                heartbeat=10,
                connect_timeout=5,
                transport_options={"client_properties": {"connection_name": f"{CONNECTION_NAME} ({self.queue.name})"}},
            )
            for _ in self.consume(safety_interval=ITERATION_SECONDS):
                pass
            return 0.0
        except ExchangeAbsent as exc:
            self._not_flowing("off", str(exc), "the broker's event exchange is not enabled")
            return self.recheck
        except OtherBroker as exc:
            self._not_flowing("off", str(exc), "no AMQP address known for its events: see --events-url")
            return self.recheck
        except Exception as exc:  # noqa: BLE001 - the consumer must outlive anything the broker does
            if any(word in str(exc) for word in REFUSALS) and not login_refused(str(exc)):
                self._not_flowing(
                    "off",
                    f"{self._quoted(exc)}: {PERMISSIONS_HINT}; changes appear at each poll",
                    "the user may not read the broker's events",
                )
                return self.recheck
            return self._failed(exc)
        finally:
            self._channel = None
            if self.connection is not None:
                with contextlib.suppress(Exception):
                    self.connection.release()

    def _amqp_url(self) -> str:
        """--events-url, else the management host on its node's AMQP port, with the management user."""
        if self.url:
            return self.url
        base, user, password = split_credentials(self.management_url)
        client = ManagementClient(self.management_url, timeout=5.0)
        try:
            overview = client.get("/api/overview", {"columns": "listeners,node,cluster_name"})
        finally:
            client.close()
        port = amqp_port(overview)
        cluster = overview.get("cluster_name") if isinstance(overview, dict) else None
        self._expected_cluster = cluster if isinstance(cluster, str) else None
        host = parse_url(base).hostname or "localhost"
        host = f"[{host}]" if ":" in host else host
        url = f"amqp://{quote(user, safe='')}:{quote(password, safe='')}@{host}:{port}/{quote(EVENTS_VHOST, safe='')}"
        if not self._status.detail:
            self._status = SourceStatus(SOURCE, state=self._status.state, detail=redact_url(url))
        self._guessed = url
        return url

    @property
    def waiting_for(self) -> int | None:
        """The ticket of the read whose arrival on the graph the consumer waits for, if any."""
        waiting = self._waiting
        return waiting[0] if waiting is not None else None

    # ---- ConsumerMixin's hooks (consumer thread) -------------------------------------------------------
    def get_consumers(self, consumer: Any, channel: Any) -> list[Any]:
        self._require_same_broker(channel)
        self._channel, self._checked_at = channel, time.monotonic()
        _require_exchange(channel, self._events_vhost())
        self.lost_queue(channel).declare()
        events = self.queue(channel)
        events.queue_declare()
        for key in BINDING_KEYS:
            channel.queue_bind(self.queue.name, EXCHANGE, key)
        return [
            consumer(queues=[self.lost_queue], on_message=self._on_lost, no_ack=True, auto_declare=False),
            consumer(
                queues=[self.queue],
                on_message=self._on_event,
                no_ack=False,
                prefetch_count=self.prefetch,
                auto_declare=False,
            ),
        ]

    def _require_same_broker(self, channel: Any) -> None:
        """A guessed address (5672 when the management API lists no listeners, as with statistics
        off) may reach another broker on the same host: its cluster name must be the API's."""
        if self.url or self._expected_cluster is None:
            return
        found = (getattr(channel.connection, "server_properties", None) or {}).get("cluster_name")
        if isinstance(found, str) and found != self._expected_cluster:
            where = redact_url(self._guessed)
            raise OtherBroker(
                f"{where} answers as cluster '{broker_text(found, 100)}', not the management API's "
                f"'{broker_text(self._expected_cluster, 100)}' (the API names no AMQP listener of its own, as with "
                "statistics off): give the AMQP URL with --events-url; changes appear at each poll"
            )

    def on_consume_ready(self, connection: Any, channel: Any, consumers: Any, **kwargs: Any) -> None:
        if self._connected_before:
            self.counts["reconnects"] += 1
        self._connected_before = True
        self.backoff.reset()
        # Subscribed first, read second: nothing that changes from now on can be missed.
        self.poller.events_flowing(True)
        self.poller.request(None)
        self._report("ok", None)

    def _events_vhost(self) -> str:
        return str(self.connection.virtual_host) if self.connection is not None else EVENTS_VHOST

    def on_iteration(self) -> None:
        if self._channel is not None and time.monotonic() - self._checked_at >= self.recheck:
            # Disabling the plugin deletes the exchange, and our bindings with it, silently.
            self._checked_at = time.monotonic()
            _require_exchange(self._channel, self._events_vhost())
        waiting = self._waiting
        if waiting is not None and self.poller.applied >= waiting[0]:
            with contextlib.suppress(Exception):  # a closed channel: redelivered, or lost with the queue
                waiting[1].ack(multiple=True)
            self._waiting = None
        if self._waiting is None and self._last is not None:
            vhosts = None if self._full else self._vhosts
            ticket = self.poller.request(vhosts, self._consumers)
            self._waiting = (ticket, self._last)
            self._forget_pending(keep_waiting=True)
        if time.monotonic() - self._status_at >= STATUS_EVERY and self._status.extra != self._extra():
            self._report("ok", None)

    def on_connection_error(self, exc: Exception, interval: float) -> None:
        pass  # reported by _failed once ensure_connection gives up (it retries once)

    def on_decode_error(self, message: Any, exc: Exception) -> None:
        self.counts["unreadable"] += 1
        self._full = True

    # ---- messages --------------------------------------------------------------------------------------
    def _on_event(self, message: Any) -> None:
        self.counts["received"] += 1
        self._last = message
        try:
            self._note(message.delivery_info.get("routing_key", ""), message.headers or {})
        except Exception:  # noqa: BLE001 - an event we cannot read costs a full read, not the stream
            self.counts["unreadable"] += 1
            self._full = True

    def _note(self, key: str, headers: dict[str, Any]) -> None:
        kind, _, action = str(key).partition(".")
        vhost = headers.get("name" if kind == "vhost" else "vhost")
        if not isinstance(vhost, str):
            self._full = True  # an event we cannot place
            return
        if kind == "consumer":
            queue, tag = headers.get("queue"), headers.get("consumer_tag")
            if isinstance(queue, str) and isinstance(tag, str):
                self._consumers.append(ConsumerEvent(vhost, queue, tag, action == "created", time.monotonic()))
                return
        self._vhosts.add(vhost)

    def _on_lost(self, message: Any) -> None:
        """An event the full queue dropped: counted, and a full read will show what it said."""
        self.counts["lost"] += 1
        self._full = True
        if self._last is None:
            self._last = _NoAck()

    def _forget_pending(self, keep_waiting: bool = False) -> None:
        self._vhosts, self._full, self._consumers, self._last = set(), False, [], None
        if not keep_waiting:
            self._waiting = None

    # ---- status --------------------------------------------------------------------------------------
    def _failed(self, exc: Exception) -> float:
        delay = self.backoff.next_delay()
        text = self._quoted(exc)
        if isinstance(exc, SourceError):
            state, text = exc.state, f"could not ask the management API for the AMQP port: {exc}"
        elif login_refused(str(exc)):
            state, text = (
                "unauthorised",
                f"{text}: check the user name and password (--events-url, else --management-url)",
            )
        else:
            state = "unreachable"
        log.warning("broker events: %s; retrying in %.1fs", text, delay)
        self._not_flowing(state, text, "the broker's events cannot be read")
        return delay

    def _quoted(self, exc: Exception) -> str:
        """The broker's reply as quotable text, every password taken out."""
        return broker_text(scrub(f"{type(exc).__name__}: {exc}", self._secrets), 300)

    def _not_flowing(self, state: str, error: str, reason: str) -> None:
        self.poller.events_flowing(False, reason)
        if state != self._status.state or error != self._status.last_error:
            self._report(state, error)

    def _extra(self) -> dict[str, Any]:
        return {"queue": self.queue.name, "exchange": EXCHANGE, "max_length": self.max_length, **self.counts}

    def _report(self, state: str, error: str | None) -> None:
        now = time.time()
        old = self._status
        self._status_at = time.monotonic()
        self._status = SourceStatus(
            SOURCE,
            state=state,
            detail=old.detail,
            last_success=now if state == "ok" else old.last_success,
            last_error=error or old.last_error,
            since=old.since if old.state == state else now,
            extra=self._extra(),
        )
        self.hub.publish_status(self._status)


class _NoAck:
    """Stands for "no event to acknowledge" when only lost events ask for a read."""

    def ack(self, multiple: bool = False) -> None:
        return None


def amqp_port(overview: Any) -> int:
    """The AMQP port of the node that answered /api/overview (5672 when it does not say)."""
    listeners: Iterator[Any] = iter(overview.get("listeners", []) if isinstance(overview, dict) else [])
    node = overview.get("node") if isinstance(overview, dict) else None
    ports: list[tuple[bool, int]] = [
        (item.get("node") != node, item["port"])
        for item in listeners
        if isinstance(item, dict) and item.get("protocol") == "amqp" and isinstance(item.get("port"), int)
    ]
    return min(ports)[1] if ports else 5672


def absent_message(vhost: str) -> str:
    return (
        f"the broker has no exchange '{EXCHANGE}' in vhost '{vhost}': the rabbitmq_event_exchange plugin "
        f"is not enabled ({ENABLE_HINT}); changes appear at each poll"
    )


def _require_exchange(channel: Any, vhost: str) -> None:
    probe = channel.connection.channel()  # a passive declare of a missing exchange closes its channel
    try:
        probe.exchange_declare(EXCHANGE, "topic", passive=True)
    except Exception as exc:
        if "NOT_FOUND" in str(exc) or "404" in str(exc):
            raise ExchangeAbsent(absent_message(vhost)) from None
        raise
    finally:
        with contextlib.suppress(Exception):
            probe.close()
