"""Diagnostics on the hub: depth history and findings per poll, pushed to the page.

On the hub thread, after each vhost's graph is applied, the depth history is recorded and
the rules run; when a vhost's findings change, browsers in that vhost's room get a
``findings`` frame holding only the findings that came, went or changed. Readers (HTTP
views) see whole lists the hub thread swaps in.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable
from typing import Any, Protocol

from ..hub import Hub, VhostView, room_for
from ..model.entities import VhostSnapshot
from ..routing.celery_routes import broker_vhost, resolve, task_names
from .celery_rules import CELERY_RULES, CeleryView, InFlight, TaskTarget, remember_worker_queues
from .history import HistoryStore, time_to_drain
from .rules import TOPOLOGY_RULES, Context, Rule, evaluate
from .thresholds import Thresholds
from .tracker import FindingTracker

ALL_RULES: tuple[Rule, ...] = TOPOLOGY_RULES + CELERY_RULES
IN_FLIGHT = ("received", "started")
# A message's figures ("3 messages ready", "growing 1.5/s", "12:04"): live, never a change.
FIGURES = re.compile(r"\d[\d,.:]*")


class Diagnostics:
    """Findings and depth history for every vhost. `observe` runs on the hub thread only."""

    def __init__(
        self,
        thresholds: Thresholds | None = None,
        clock: Callable[[], float] = time.time,
        rules: tuple[Rule, ...] = ALL_RULES,
        celery: Callable[[str], CeleryView | None] | None = None,
    ):
        self.thresholds = thresholds or Thresholds()
        self.clock, self.rules, self.celery = clock, rules, celery
        self.history = HistoryStore()
        self._trackers: dict[str, FindingTracker] = {}
        self._recorded: dict[str, VhostSnapshot] = {}
        self._findings: dict[str, list[dict[str, Any]]] = {}
        self._worker_queues: dict[str, dict[str, set[str]]] = {}

    def observe(self, view: VhostView) -> list[dict[str, Any]] | None:
        """Record and evaluate one vhost; returns its findings when they changed, else None."""
        now = self.clock()
        history = self.history.of(view.vhost)
        # A graph refresh re-applies the same entities: not a new poll, so no new history point.
        new_poll = self._recorded.get(view.vhost) is not view.entities
        if new_poll:
            history.record(now, view.entities.queues)
            self._recorded[view.vhost] = view.entities
        celery = self.celery(view.vhost) if self.celery else None
        worker_queues = self._worker_queues.setdefault(view.vhost, {})
        remember_worker_queues(view.graph.nodes, worker_queues)
        context = Context(view.entities, view.graph, history, self.thresholds, celery, worker_queues)
        tracker = self._trackers.setdefault(view.vhost, FindingTracker())
        findings = [f.to_json() for f in tracker.update(now, evaluate(context, self.rules), new_poll)]
        if findings == self._findings.get(view.vhost):
            return None
        self._findings[view.vhost] = findings
        return findings

    def findings(self, vhost: str) -> list[dict[str, Any]]:
        return list(self._findings.get(vhost, ()))

    def queue_history(self, vhost: str, queue: str) -> dict[str, Any] | None:
        history = self.history.get(vhost)
        points = history.series(queue) if history else []
        if not points:
            return None
        trend = history.trend(queue, self.thresholds.growth_window) if history else None
        slope = trend.slope if trend else 0.0
        return {
            "vhost": vhost,
            "queue": queue,
            "window": self.history.window,
            "points": [list(p) for p in points],
            "slope": slope,
            "time_to_drain": time_to_drain(points[-1][1], slope) if trend else None,
        }

    def forget_except(self, vhosts: list[str]) -> None:
        keep = set(vhosts)
        self.history.forget_except(keep)
        for table in (self._trackers, self._recorded, self._findings, self._worker_queues):
            for vhost in [v for v in table if v not in keep]:
                del table[vhost]


# ---- Celery --------------------------------------------------------------------------------------------


class InFlightTask(Protocol):
    state: str | None
    name: str | None
    worker: str | None
    updated: float | None


class CeleryTasks(Protocol):
    """What diagnostics reads of the Celery monitor: its vhost and its unfinished tasks."""

    vhost: str

    def in_flight_tasks(self) -> Iterable[InFlightTask]: ...


class CeleryReader:
    """Copies what the Celery monitor and the user's app know into a CeleryView (hub thread).

    Both are optional: without a Celery monitor there are no in-flight tasks, without
    --celery-app no task routes. The app's routes are resolved once: they are its config.
    """

    def __init__(
        self, tasks: CeleryTasks | None, celery_app: Callable[[], Any] | None, clock: Callable[[], float] = time.time
    ):
        self.tasks, self.celery_app, self.clock = tasks, celery_app, clock
        self._targets: tuple[str | None, tuple[TaskTarget, ...]] | None = None

    def __call__(self, vhost: str) -> CeleryView | None:
        in_flight = self._in_flight() if self.tasks is not None and self.tasks.vhost == vhost else ()
        target_vhost, targets = self._task_targets()
        if not in_flight and target_vhost != vhost:
            return None
        return CeleryView(self.clock(), in_flight, targets if target_vhost == vhost else ())

    def _in_flight(self) -> tuple[InFlight, ...]:
        assert self.tasks is not None
        return tuple(
            InFlight(t.state, t.name or "?", t.worker, t.updated)
            for t in self.tasks.in_flight_tasks()
            if t.state in IN_FLIGHT and t.worker and t.updated is not None
        )

    def _task_targets(self) -> tuple[str | None, tuple[TaskTarget, ...]]:
        if self._targets is None:
            self._targets = self._resolve_targets()
        return self._targets

    def _resolve_targets(self) -> tuple[str | None, tuple[TaskTarget, ...]]:
        app = self.celery_app() if self.celery_app is not None else None
        if app is None:
            return None, ()
        routes = [resolve(app, name) for name in task_names(app)]
        targets = tuple(
            TaskTarget(r.task, r.exchange, r.routing_key or "")
            for r in routes
            if r.error is None and r.exchange is not None
        )
        vhost = broker_vhost(app) or (self.tasks.vhost if self.tasks is not None else "/")
        return vhost, targets


def finding_key(finding: dict[str, Any]) -> tuple[str, str]:
    return finding["rule"], finding["node"]


def finding_shape(finding: dict[str, Any]) -> tuple[str, str]:
    """What makes a finding "changed": its severity and its message's words, not its figures."""
    return finding["severity"], FIGURES.sub("#", finding["message"])


def findings_diff(before: dict[tuple[str, str], dict[str, Any]], after: list[dict[str, Any]]) -> dict[str, list[Any]]:
    """{"added", "removed", "changed"} from the findings last sent to the current ones."""
    now = {finding_key(f): f for f in after}
    return {
        "added": [f for key, f in now.items() if key not in before],
        "removed": [{"rule": rule, "node": node} for rule, node in before if (rule, node) not in now],
        "changed": [f for key, f in now.items() if key in before and finding_shape(before[key]) != finding_shape(f)],
    }


class FindingsPusher:
    """Sends `findings` frames as diffs: a finding that came, went or changed its severity or
    words. Messages carry live figures (depths, slopes) that move every poll; those alone never
    make a frame, so a broker with many findings costs nothing between real changes (the page
    reads live figures from the graph, and each finding's full text from /api/diagnostics)."""

    def __init__(self, hub: Hub):
        self.hub = hub
        self._sent: dict[str, dict[tuple[str, str], dict[str, Any]]] = {}

    def changed(self, vhost: str, findings: list[dict[str, Any]]) -> None:
        before = self._sent.get(vhost, {})
        diff = findings_diff(before, findings)
        if not any(diff.values()):
            return
        current = {finding_key(g) for g in findings}
        kept = {key: f for key, f in before.items() if key in current}
        kept.update((finding_key(f), f) for f in diff["added"] + diff["changed"])
        self._sent[vhost] = kept
        self.hub.emit("findings", {"vhost": vhost, **{k: v for k, v in diff.items() if v}}, to=room_for(vhost))

    def forget_except(self, vhosts: list[str]) -> None:
        for vhost in [v for v in self._sent if v not in vhosts]:
            del self._sent[vhost]


def attach(hub: Hub, engine: Diagnostics) -> None:
    """Run the rules after every topology change, push findings, forget vhosts that went."""
    pusher = FindingsPusher(hub)

    def on_view(view: VhostView) -> None:
        changed = engine.observe(view)
        if changed is not None:
            pusher.changed(view.vhost, changed)

    def forget_gone_vhosts() -> None:
        engine.forget_except(hub.vhosts())
        pusher.forget_except(hub.vhosts())

    hub.add_listener(on_view)
    hub.every(30.0, forget_gone_vhosts)
