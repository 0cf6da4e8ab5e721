"""Runs firehose traces: one per vhost at most, started and stopped on request, and stopped
by itself when its time runs out, when the last page watching it closes, when its vhost
goes, and when the service stops -- leaving the broker's tracing flag as it was found.

Threads: ``start`` and ``stop`` run on the caller's thread (an HTTP request, or a short-lived
stopper thread for the automatic stops) because they talk to the broker; the trace
consumer judges copies on its own thread and posts them to the hub (``Run.offer``); the
session, the frames and the findings live on the hub thread. ``_lock`` guards the table of
runs and watchers, nothing else.

A trace's broker side is a ``Backend``: ``visualiser.tracing.firehose.LiveTrace`` on a live
broker; anything with the same methods (a simulated trace of the demo's traffic, say)
can be given to the tracer instead, through ``backends``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

from ..config import Settings
from ..contract.frames import TracingOffer
from ..contract.vocabulary import TRACING_ENABLE_HINT
from ..diagnostics.rules import Context, Issue
from ..hub import Hub, VhostView, room_for
from ..model.entities import VhostSnapshot
from ..model.topology import node_id
from .compare import Judgement, Simulator
from .decode import TraceCopy
from .firehose import AmqpTarget, LiveTrace, QueueLimits, TraceRefused, TracingSwitch, amqp_url_for
from .session import Judged, SessionLimits, TraceSession

log = logging.getLogger(__name__)

FRAME_SECONDS = 0.25  # at most 4 trace-activity frames a second per trace
STATUS_SECONDS = 1.0  # at most one status a second for changed disagreements or unroutable publishers
TICK_SECONDS = 1.0
WATCH_GRACE_SECONDS = 10.0  # a page reloading comes back within this; a closed one does not
VHOST_GONE_SECONDS = 10.0
MAX_TRACES = 4  # vhosts traced at once
MAX_BATCHES_IN_FLIGHT = 4  # batches waiting on the hub before the consumer stops acknowledging
ACTIVE = ("starting", "on")


def trace_room(vhost: str) -> str:
    return "trace:" + vhost


def binding_keys(exchange: str | None, queue: str | None) -> list[str]:
    """The trace queue's bindings on amq.rabbitmq.trace: the publishes of one exchange, the
    deliveries of one queue, both, or everything."""
    keys = []
    if exchange is not None:
        keys.append("publish." + exchange)
    if queue is not None:
        keys.append("deliver." + queue)
    return keys or ["#"]


def wanted(copy: TraceCopy, exchange: str | None, queue: str | None) -> bool:
    """Checked again here: a topic binding reads '*', '#' and '.' in a name as pattern syntax,
    so ``publish.a.*`` also binds the publishes of exchange ``a.b``."""
    if exchange is None and queue is None:
        return True
    if copy.kind == "publish":
        return exchange is not None and copy.exchange == exchange
    return queue is not None and copy.queue == queue


@dataclass(frozen=True)
class TraceRequest:
    vhost: str
    exchange: str | None
    queue: str | None
    minutes: float


class TraceError(Exception):
    """A trace request refused: the HTTP status, and a message naming the fix."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status, self.message = status, message


class Backend(Protocol):
    dropped: int
    dropped_exact: bool

    def start(self) -> None:
        """Raise TraceRefused if the broker will not trace."""

    def stop(self) -> str | None:
        """Leave the broker as it was found; say what could not be undone."""

    def broker_json(self) -> dict[str, Any]: ...


class Sink(Protocol):
    def offer(self, copies: list[TraceCopy], malformed: dict[str, int], timeout: float) -> bool: ...


BackendFactory = Callable[[TraceRequest, list[str], Sink, QueueLimits], Backend]


def tracing_offer(settings: Settings, simulated: bool = False) -> TracingOffer:
    """What the page is told in ``hello``: whether it may offer a Trace control, and if not, why.
    ``simulated``: the demo traces its own synthetic traffic, which changes no broker, so it
    is always allowed there."""
    available = settings.mode == "live" or simulated
    if simulated:
        reason = ""
    elif not settings.allow_tracing:
        reason = "tracing is off: " + TRACING_ENABLE_HINT
    elif not available:
        reason = f"tracing needs a live broker; this service shows {'the demo' if settings.demo else 'a file'}"
    else:
        reason = ""
    return TracingOffer(
        allowed=settings.allow_tracing or simulated,
        available=available,
        reason=reason,
        enable=TRACING_ENABLE_HINT,
        simulated=simulated,
        default_minutes=min(settings.trace_minutes, settings.trace_max_minutes),
        max_minutes=settings.trace_max_minutes,
    )


@dataclass
class Run:
    """One vhost's trace: its request, session (hub thread) and broker side."""

    request: TraceRequest
    bindings: list[str]
    session: TraceSession
    hub: Hub
    simulations_per_second: int
    state: str = "starting"
    started: float | None = None
    until: float | None = None
    stopped: float | None = None
    stop_reason: str | None = None
    watched: bool = False  # a page has watched it: it stops when the last one leaves
    stop_requested: bool = False  # an automatic stop is on its way
    status_shipped: float = 0.0  # when a status last went to its watchers for changed rows
    backend: Backend | None = None
    _in_flight: threading.Semaphore = field(default_factory=lambda: threading.Semaphore(MAX_BATCHES_IN_FLIGHT))
    _simulator: Simulator | None = None

    def offer(self, copies: list[TraceCopy], malformed: dict[str, int], timeout: float) -> bool:
        """The consumer's thread: judge the publishes against the hub's topology and post the
        batch; refuse it while the hub has enough waiting (the consumer then stops acking)."""
        if not self._in_flight.acquire(timeout=timeout):
            return False
        try:
            judged, filtered = self._judge(copies)
        except BaseException:
            self._in_flight.release()
            raise
        session = self.session

        def apply() -> None:
            try:
                session.ingest(judged)
                session.count_malformed(malformed)
                session.count_filtered(filtered)
            finally:
                self._in_flight.release()

        self.hub.submit(apply)
        return True

    def _judge(self, copies: list[TraceCopy]) -> tuple[list[Judged], int]:
        if self._simulator is None:
            self._simulator = Simulator(self.simulations_per_second)
        view = self.hub.view(self.request.vhost)
        entities, version = (view.entities, view.version) if view else (None, None)
        judged, filtered = [], 0
        for copy in copies:
            if not wanted(copy, self.request.exchange, self.request.queue):
                filtered += 1
            elif copy.kind == "publish":
                judged.append(Judged(copy, self._judgement(copy, entities, version), entities))
            else:
                judged.append(Judged(copy))
        return judged, filtered

    def _judgement(self, copy: TraceCopy, entities: VhostSnapshot | None, version: int | None) -> Judgement:
        assert self._simulator is not None
        try:
            return self._simulator.judge(copy, entities, version)
        except Exception:  # noqa: BLE001 - a message the simulator cannot take is counted, never fatal
            log.warning(
                "trace of vhost %r: the simulator failed on a traced publish (counted as not compared)",
                self.request.vhost,
                exc_info=True,
            )
            start = (node_id("exchange", copy.exchange),)
            return Judgement("unchecked", None, "simulator-error", version, start)


class Tracer:
    def __init__(
        self,
        hub: Hub,
        settings: Settings,
        backends: BackendFactory | None,
        queue_limits: QueueLimits | None = None,
        session_limits: SessionLimits | None = None,
        clock: Callable[[], float] = time.time,
    ):
        self.hub, self.settings, self.backends, self.clock = hub, settings, backends, clock
        self.allowed = settings.allow_tracing
        self.simulated = False
        self.queue_limits = queue_limits or QueueLimits()
        self.session_limits = session_limits or SessionLimits()
        self._runs: dict[str, Run] = {}
        self._watchers: dict[str, set[str]] = {}
        self._unwatched_since: dict[str, float] = {}
        self._vhost_missing_since: dict[str, float] = {}
        self._stoppers: list[threading.Thread] = []
        self._lock = threading.Lock()

    def simulate(self, backends: BackendFactory) -> None:
        """Trace a simulation instead of a broker (the demo's synthetic traffic): nothing on a
        broker changes, so it needs no --allow-tracing. Before the service starts."""
        self.backends, self.allowed, self.simulated = backends, True, True

    def offer(self) -> TracingOffer:
        """What the page is told in ``hello``."""
        return tracing_offer(self.settings, self.simulated)

    def attach(self) -> None:
        """On the hub: re-judge pending disagreements on each topology (register before diagnostics,
        so that a disagreement confirmed by a poll is a finding in the same poll), frames, timers."""
        self.hub.add_listener(self.on_topology)
        self.hub.every(FRAME_SECONDS, self.ship_frames)
        self.hub.every(TICK_SECONDS, self.tick)

    # ---- requests (HTTP threads) -----------------------------------------------------------------------
    def check_allowed(self) -> None:
        if not self.allowed:
            raise TraceError(
                403,
                "tracing is off on this service: it changes the broker (a vhost's tracing flag "
                "and a queue of the service's own), so it is allowed only when asked for: " + TRACING_ENABLE_HINT,
            )

    def start(self, request: TraceRequest) -> dict[str, Any]:
        self.check_allowed()
        if self.backends is None:
            raise TraceError(409, tracing_offer(self.settings)["reason"])
        run = self._claim(request)
        if run.state == "on":  # the same trace asked for again: it runs longer
            self._emit_status(request.vhost)
            return self.status(request.vhost)
        self._emit_status(request.vhost)
        try:
            assert run.backend is not None
            run.backend.start()
        except TraceRefused as exc:
            run.state, run.stopped, run.stop_reason = "failed", self.clock(), str(exc)
            self._emit_status(request.vhost)
            raise TraceError(exc.status, str(exc)) from None
        run.state, run.started = "on", self.clock()
        log.info(
            "tracing vhost %r (%s) until %s",
            request.vhost,
            ", ".join(run.bindings),
            time.strftime("%H:%M:%S", time.localtime(run.until)),
        )
        self._emit_status(request.vhost)
        return self.status(request.vhost)

    def _claim(self, request: TraceRequest) -> Run:
        """The run for this request: the running one, extended, or a new one (the table is locked briefly)."""
        assert self.backends is not None
        with self._lock:
            current = self._runs.get(request.vhost)
            if current is not None and current.state in ACTIVE + ("stopping",):
                same = (current.request.exchange, current.request.queue) == (request.exchange, request.queue)
                if same and current.state == "on":
                    current.until = self.clock() + request.minutes * 60
                    return current
                raise TraceError(
                    409,
                    f"vhost {request.vhost!r} is already being traced "
                    f"({', '.join(current.bindings)}, {current.state}): stop that trace first "
                    "(DELETE /api/trace?vhost=…)",
                )
            if sum(1 for r in self._runs.values() if r.state in ACTIVE) >= MAX_TRACES:
                raise TraceError(409, f"at most {MAX_TRACES} vhosts are traced at once: stop one first")
            bindings = binding_keys(request.exchange, request.queue)
            session = TraceSession(request.vhost, self.session_limits, self.hub.metrics)
            run = Run(
                request,
                bindings,
                session,
                self.hub,
                self.session_limits.simulations_per_second,
                until=self.clock() + request.minutes * 60,
                watched=bool(self._watchers.get(request.vhost)),
            )
            run.backend = self.backends(request, bindings, run, self.queue_limits)
            self._runs[request.vhost] = run
            return run

    def stop(self, vhost: str, reason: str) -> dict[str, Any]:
        """Stop a running trace (blocking: it turns the flag off when the service turned it on)."""
        with self._lock:
            run = self._runs.get(vhost)
            if run is None or run.state != "on":
                return self.status(vhost)
            run.state = "stopping"
        self._emit_status(vhost)
        assert run.backend is not None
        problem = run.backend.stop()
        backend = run.backend
        self.hub.submit(lambda: run.session.set_dropped(backend.dropped, backend.dropped_exact))  # the last purge's
        run.state, run.stopped = "off", self.clock()
        run.stop_reason = reason + (f"; {problem}" if problem else "")
        log.info("stopped tracing vhost %r: %s", vhost, run.stop_reason)
        self._emit_status(vhost)
        return self.status(vhost)

    def stop_all(self) -> None:
        """The service is stopping: every trace stops, each broker flag as it was found."""
        for vhost in [v for v, run in list(self._runs.items()) if run.state == "on"]:
            self.stop(vhost, "the service stopped")
        for thread in list(self._stoppers):
            thread.join(timeout=15)

    def _stop_later(self, vhost: str, reason: str) -> None:
        """From the hub thread, which must not wait on the broker."""
        thread = threading.Thread(target=self.stop, args=(vhost, reason), name="trace-stop", daemon=True)
        self._stoppers = [t for t in self._stoppers if t.is_alive()] + [thread]
        thread.start()

    # ---- reading (any thread) ---------------------------------------------------------------------------------
    def status(self, vhost: str, messages: bool = False, bodies: bool = False) -> dict[str, Any]:
        return self.hub.call(lambda: self.status_now(vhost, messages, bodies))

    def status_now(self, vhost: str, messages: bool = False, bodies: bool = False) -> dict[str, Any]:
        """The trace's status (hub thread)."""
        run = self._runs.get(vhost)
        view = self.hub.view(vhost)
        session = run.session if run else TraceSession(vhost, self.session_limits)
        status: dict[str, Any] = {
            "vhost": vhost,
            "allowed": self.allowed,
            "state": run.state if run else "off",
            "exchange": run.request.exchange if run else None,
            "queue": run.request.queue if run else None,
            "started": run.started if run else None,
            "until": run.until if run and run.state in ACTIVE else None,
            "stopped": run.stopped if run else None,
            "stop_reason": run.stop_reason if run else None,
            "watchers": len(self._watchers.get(vhost, ())),
            "counts": session.counts_json(),
            "broker": {**run.backend.broker_json(), "seen_nodes": sorted(session.seen_nodes)}
            if run and run.backend
            else None,
            "limits": {
                **self.queue_limits.as_json(),
                "recent_messages": self.session_limits.recent_messages,
                "simulations_per_second": self.session_limits.simulations_per_second,
            },
            "disagreements": session.disagreements_json(),
            "unroutable": session.unroutable_json(),
            "topology_version": view.version if view else None,
        }
        if messages:
            status["messages"] = session.messages(bodies, view.graph if view else None)
        return status

    def _emit_status(self, vhost: str) -> None:
        self.hub.submit(lambda: self.hub.emit("trace", self.status_now(vhost), to=room_for(vhost)))

    # ---- pages watching (Socket.IO threads) -------------------------------------------------------------------
    def watch(self, sid: str, vhost: str) -> None:
        with self._lock:
            self._drop_watcher(sid)
            self._watchers.setdefault(vhost, set()).add(sid)
            self._unwatched_since.pop(vhost, None)
            run = self._runs.get(vhost)
            if run is not None and run.state in ACTIVE:
                run.watched = True

    def unwatch(self, sid: str) -> None:
        with self._lock:
            self._drop_watcher(sid)

    def _drop_watcher(self, sid: str) -> None:
        for vhost, sids in list(self._watchers.items()):
            if sid in sids:
                sids.discard(sid)
                if not sids:
                    del self._watchers[vhost]
                    self._unwatched_since[vhost] = self.clock()

    # ---- the hub thread ---------------------------------------------------------------------------------------
    def on_topology(self, view: VhostView) -> None:
        run = self._runs.get(view.vhost)
        if run is not None:
            run.session.on_topology(view)

    def rule(self, context: Context) -> Iterable[Issue]:
        """A diagnostics rule: the disagreements of the vhost's trace (running or recently stopped)."""
        run = self._runs.get(context.snapshot.vhost)
        return run.session.issues() if run is not None else ()

    def ship_frames(self) -> None:
        now = self.clock()
        for vhost, run in list(self._runs.items()):
            frame = run.session.take_frame(self.hub.view(vhost))
            if frame is not None:
                self.hub.emit("trace-activity", frame, to=trace_room(vhost))
            # The disagreements and unroutable publishers are in the status, not in activity frames:
            # a status follows when they change, at most once a second.
            if run.session.rows_changed and now - run.status_shipped >= STATUS_SECONDS:
                run.session.rows_changed, run.status_shipped = False, now
                self.hub.emit("trace", self.status_now(vhost), to=trace_room(vhost))

    def tick(self) -> None:
        now = self.clock()
        present = set(self.hub.vhosts())
        with self._lock:
            running = [(vhost, run) for vhost, run in self._runs.items() if run.state == "on"]
            unwatched = dict(self._unwatched_since)
        for vhost, run in running:
            if run.backend is not None:
                run.session.set_dropped(run.backend.dropped, run.backend.dropped_exact)
            reason = self._stop_reason(vhost, run, now, present, unwatched)
            if reason and not run.stop_requested:
                run.stop_requested = True
                self._stop_later(vhost, reason)

    def _stop_reason(
        self, vhost: str, run: Run, now: float, present: set[str], unwatched: dict[str, float]
    ) -> str | None:
        if run.until is not None and now >= run.until:
            return f"its time ran out ({run.request.minutes:g} minute(s))"
        since = unwatched.get(vhost)
        if run.watched and since is not None and now - since >= WATCH_GRACE_SECONDS:
            return "the last page watching it closed"
        if vhost in present:
            self._vhost_missing_since.pop(vhost, None)
        elif now - self._vhost_missing_since.setdefault(vhost, now) >= VHOST_GONE_SECONDS:
            return "the vhost is gone"
        return None


def live_backends(settings: Settings, hub: Hub) -> BackendFactory:
    """Traces on the live broker: the management API for the flag, AMQP for the queue."""
    switch = TracingSwitch(settings.management_url, settings.request_timeout)
    url = amqp_url_for(settings.trace_url, settings.broker_url, settings.management_url)

    def make(request: TraceRequest, bindings: list[str], sink: Sink, limits: QueueLimits) -> Backend:
        return LiveTrace(
            request.vhost, bindings, AmqpTarget.of(url, request.vhost), switch, sink, hub, limits, settings.backoff_cap
        )

    return make
