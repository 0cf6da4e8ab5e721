"""The single owner of the model.

Sources post plain data to the hub's inbox from their own threads; one hub thread applies
it, builds each vhost's graph, diffs it against what browsers have, bumps the version and
emits a patch. Nothing else writes the model, so no locks spread through the code. Readers
(HTTP views, socket handlers) read immutable views that the hub swaps in whole.

Versions come from one hub-wide counter, so a version number is never reused, even when a
vhost disappears and comes back.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from .contract.frames import BrokerInfo, Patch, Snapshot, StatusFrame
from .metrics import Metrics
from .model.diff import GraphDiff, diff_graphs, is_empty
from .model.entities import BrokerSnapshot, VhostSnapshot
from .model.topology import Graph, build_graph
from .routing.changes import changes_routing
from .sources.status import SourceStatus

log = logging.getLogger(__name__)

# Adds to a vhost's graph what is not in the broker's listings (Celery workers, findings).
GraphDecorator = Callable[[str, VhostSnapshot, Graph], None]
# Told after each topology change, on the hub thread.
TopologyListener = Callable[["VhostView"], None]
T = TypeVar("T")


class Emitter(Protocol):
    def __call__(self, event: str, data: Any, to: str | None = None) -> None: ...


@dataclass(frozen=True)
class VhostView:
    vhost: str
    version: int
    graph: Graph  # never mutated once published
    entities: VhostSnapshot
    source: str


def room_for(vhost: str) -> str:
    return "vhost:" + vhost


class Hub:
    def __init__(self, emit: Emitter | None = None, metrics: Metrics | None = None, tick: float = 0.25):
        self._emit: Emitter = emit or (lambda event, data, to=None: None)
        self.metrics = metrics or Metrics()
        self._inbox: queue.Queue[Callable[[], None] | None] = queue.Queue()
        self._views: dict[str, VhostView] = {}
        self._statuses: dict[str, SourceStatus] = {}
        self._broker: dict[str, Any] = {}
        self._topology_source: str | None = None
        self._version = 0
        self._decorators: list[GraphDecorator] = []
        self._listeners: list[TopologyListener] = []
        self._prebuilt: set[str] = set()  # vhosts whose graph was given whole (a replay): never rebuilt
        self._tickers: list[tuple[float, Callable[[], None], list[float]]] = []
        self._tick = tick
        self._thread = threading.Thread(target=self._run, name="hub", daemon=True)
        self._running = False

    # ---- wiring (before start) -------------------------------------------------------
    def set_emitter(self, emit: Emitter) -> None:
        self._emit = emit

    def set_topology_source(self, name: str) -> None:
        """Name the source the graph comes from before it first reports (otherwise learned
        from the first snapshot posted)."""
        self._topology_source = name

    def add_decorator(self, decorator: GraphDecorator) -> None:
        self._decorators.append(decorator)

    def add_listener(self, listener: TopologyListener) -> None:
        self._listeners.append(listener)

    def every(self, seconds: float, fn: Callable[[], None]) -> None:
        """Run fn on the hub thread every `seconds` (throttled cameras, expiry)."""
        self._tickers.append((seconds, fn, [time.monotonic() + seconds]))

    # ---- lifecycle ----------------------------------------------------------------------
    def start(self) -> None:
        self._running = True
        self._thread.start()

    def stop(self) -> None:
        if self._running:
            self._running = False
            self._inbox.put(None)
            self._thread.join(timeout=5)

    def drain(self, timeout: float = 5.0) -> None:
        """Wait until everything posted so far has been applied (tests, start-up)."""
        done = threading.Event()
        self.submit(done.set)
        if not done.wait(timeout):
            raise TimeoutError("hub did not drain")

    # ---- posting (any thread) ------------------------------------------------------------
    def submit(self, fn: Callable[[], None]) -> None:
        """Run fn on the hub thread: the only way to change the model."""
        self._inbox.put(fn)

    def publish_broker(self, source: str, snapshot: BrokerSnapshot) -> None:
        self.submit(lambda: self._apply_broker(source, snapshot))

    def publish_status(self, status: SourceStatus) -> None:
        self.submit(lambda: self._apply_status(status))

    def publish_graphs(
        self, source: str, graphs: Mapping[str, tuple[VhostSnapshot, Graph]], broker: Mapping[str, Any]
    ) -> None:
        """Graphs built elsewhere (a recording replayed), shown as they are: no decorator runs
        on them and refresh() leaves them alone. The entities serve routing questions."""
        self.submit(lambda: self._apply_graphs(source, graphs, broker))

    def record_poll_duration(self, source: str, seconds: float) -> None:
        self.metrics.observe("visualiser_poll_duration_seconds", seconds, source=source)

    def refresh(self) -> None:
        """Rebuild every vhost's graph (a decorator's input changed). Hub thread only."""
        for view in list(self._views.values()):
            if view.vhost not in self._prebuilt:
                self._apply_vhost(view.source, view.entities)

    def emit(self, event: str, data: Any, to: str | None = None) -> None:
        self._emit(event, data, to=to)

    def call(self, fn: Callable[[], T], timeout: float = 5.0) -> T:
        """Run fn on the hub thread and return its result: how other threads read state the
        hub owns (Celery's tasks and workers) without a lock. TimeoutError when it is busy."""
        done = threading.Event()
        box: list[T] = []

        def job() -> None:
            try:
                box.append(fn())
            finally:
                done.set()

        self.submit(job)
        if not done.wait(timeout) or not box:
            raise TimeoutError("hub busy")
        return box[0]

    # ---- reading (any thread) -------------------------------------------------------------
    def vhosts(self) -> list[str]:
        return sorted(self._views)

    def view(self, vhost: str) -> VhostView | None:
        return self._views.get(vhost)

    def statuses(self) -> dict[str, SourceStatus]:
        return dict(self._statuses)

    def broker_info(self) -> BrokerInfo:
        info: BrokerInfo = dict(self._broker)  # type: ignore[assignment]  # checked against the contract in tests
        return info

    @property
    def topology_source(self) -> str | None:
        """The name of the source the graph comes from (its status is the graph's status)."""
        return self._topology_source

    def topology_status(self) -> dict[str, Any] | None:
        status = self._statuses.get(self._topology_source or "")
        return status.to_json() if status else None

    def snapshot_message(self, vhost: str) -> Snapshot | None:
        view = self._views.get(vhost)
        if view is None:
            return None
        lists = view.graph.as_lists()
        return Snapshot(
            vhost=vhost,
            version=view.version,
            nodes=lists["nodes"],
            edges=lists["edges"],
            status=self.topology_status(),  # type: ignore[typeddict-item]
            broker=self.broker_info(),
        )

    # ---- the hub thread ----------------------------------------------------------------------
    def _run(self) -> None:
        while True:
            try:
                job = self._inbox.get(timeout=self._tick)
            except queue.Empty:
                job = None
                if not self._running:
                    return
            else:
                if job is None and not self._running:
                    return
            if job is not None:
                self._safely(job)
            self._run_tickers()

    def _run_tickers(self) -> None:
        now = time.monotonic()
        for interval, fn, due in self._tickers:
            if now >= due[0]:
                due[0] = now + interval
                self._safely(fn)

    def _safely(self, fn: Callable[[], None]) -> None:
        try:
            fn()
        except Exception:  # noqa: BLE001 - one bad job must not stop the owner of the model
            log.exception("hub job failed")

    def continue_versions_after(self, version: int) -> None:
        """Number the next versions after ``version``. A process that takes over the sources from
        another (docs/deployment.md) continues that one's versions, so that no page holding an old
        version mistakes a new patch for one it already has. Hub thread, or before start."""
        self._version = max(self._version, version)

    def _next_version(self) -> int:
        self._version += 1
        return self._version

    def _apply_status(self, status: SourceStatus) -> None:
        self._statuses[status.source] = status
        frame = StatusFrame(
            source=status.source,
            status=status.to_json(),  # type: ignore[typeddict-item]
            topology=status.source == self._topology_source,
        )
        self.emit("status", frame)

    def _apply_broker(self, source: str, snapshot: BrokerSnapshot) -> None:
        self._topology_source = source
        self._broker = dict(snapshot.broker)
        before = set(self._views)
        for vhost in [v for v in self._views if v not in snapshot.vhosts]:
            del self._views[vhost]
            self.emit("vhost-removed", {"vhost": vhost}, to=room_for(vhost))
        for vhost_snapshot in snapshot.vhosts.values():
            self._apply_vhost(source, vhost_snapshot)
        if set(self._views) != before:
            self.emit("vhosts", [{"name": name} for name in self.vhosts()])

    def _apply_graphs(
        self, source: str, graphs: Mapping[str, tuple[VhostSnapshot, Graph]], broker: Mapping[str, Any]
    ) -> None:
        self._topology_source = source
        self._broker = dict(broker)
        before = set(self._views)
        for vhost, (entities, graph) in graphs.items():
            self._prebuilt.add(vhost)
            self._apply_graph(source, entities, graph)
        if set(self._views) != before:
            self.emit("vhosts", [{"name": name} for name in self.vhosts()])

    def _apply_vhost(self, source: str, entities: VhostSnapshot) -> None:
        graph = build_graph(entities)
        for decorate in self._decorators:
            decorate(entities.vhost, entities, graph)
        self._apply_graph(source, entities, graph)

    def _apply_graph(self, source: str, entities: VhostSnapshot, graph: Graph) -> None:
        old = self._views.get(entities.vhost)
        if old is None:
            view = VhostView(entities.vhost, self._next_version(), graph, entities, source)
            self._views[entities.vhost] = view
        else:
            patch = diff_graphs(old.graph, graph)
            if is_empty(patch):
                # Same graph; keep the entities fresh for routing and diagnostics.
                view = VhostView(old.vhost, old.version, old.graph, entities, source)
                self._views[entities.vhost] = view
            else:
                view = VhostView(entities.vhost, self._next_version(), graph, entities, source)
                self._views[entities.vhost] = view
                self._emit_patch(old, view, patch)
        for listener in self._listeners:
            listener(view)

    def _emit_patch(self, old: VhostView, view: VhostView, patch: GraphDiff) -> None:
        message: Patch = {
            "vhost": view.vhost,
            "from": old.version,
            "to": view.version,
            "add": patch["add"],
            "remove": patch["remove"],
            "change": patch["change"],
            "routing": changes_routing(old.graph, patch),
        }
        self.metrics.observe_patch(message)
        self.emit("patch", message, to=room_for(view.vhost))
