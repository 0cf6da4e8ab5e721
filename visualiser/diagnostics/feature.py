"""Plugs diagnostics into the service: history and findings per poll, the JSON API, sockets.

On the hub thread, after each vhost's graph is applied, the depth history is recorded and
the rules run; when a vhost's findings change, browsers in that vhost's room get a
``findings`` frame. Readers (HTTP views) see whole lists the hub thread swaps in.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from flask import Blueprint, Response, abort, current_app, jsonify, request

from ..hub import Hub, VhostView, room_for
from ..model.entities import VhostSnapshot
from ..server.views import hub as current_hub
from ..server.views import json_error, vhost_arg
from .celery_rules import CELERY_RULES, CeleryView, InFlight, TaskTarget, remember_worker_queues
from .history import HistoryStore, time_to_drain
from .rules import TOPOLOGY_RULES, Context, Rule, evaluate
from .thresholds import Thresholds
from .tracker import FindingTracker

if TYPE_CHECKING:
    from .. import Wiring

EXTENSION = "visualiser.diagnostics"
MAX_NAME_BYTES = 255
ALL_RULES: tuple[Rule, ...] = TOPOLOGY_RULES + CELERY_RULES
IN_FLIGHT = ("received", "started")
FIGURES_EVERY = 5.0  # seconds between frames that only update figures: the broker's stats interval


class Diagnostics:
    """Findings and depth history for every vhost. `observe` runs on the hub thread only."""

    def __init__(self, thresholds: Thresholds | None = None, clock: Callable[[], float] = time.time,
                 rules: tuple[Rule, ...] = ALL_RULES, celery: Callable[[str], CeleryView | None] | None = None):
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
        return {"vhost": vhost, "queue": queue, "window": self.history.window,
                "points": [list(p) for p in points], "slope": slope,
                "time_to_drain": time_to_drain(points[-1][1], slope) if trend else None}

    def forget_except(self, vhosts: list[str]) -> None:
        keep = set(vhosts)
        self.history.forget_except(keep)
        for table in (self._trackers, self._recorded, self._findings, self._worker_queues):
            for vhost in [v for v in table if v not in keep]:
                del table[vhost]


# ---- Celery --------------------------------------------------------------------------------------------


class CeleryReader:
    """Copies what the Celery feature and the user's app know into a CeleryView (hub thread).

    Both are optional: without a Celery feature there are no in-flight tasks, without
    --celery-app no task routes. The app's routes are resolved once: they are its config.
    """

    def __init__(self, extensions: dict[str, Any], clock: Callable[[], float] = time.time):
        self.extensions, self.clock = extensions, clock
        self._targets: tuple[str | None, tuple[TaskTarget, ...]] | None = None

    def __call__(self, vhost: str) -> CeleryView | None:
        feature = self.extensions.get("visualiser.celery")
        in_flight = self._in_flight(feature) if feature is not None and feature.vhost == vhost else ()
        target_vhost, targets = self._task_targets(feature)
        if not in_flight and target_vhost != vhost:
            return None
        return CeleryView(self.clock(), in_flight, targets if target_vhost == vhost else ())

    @staticmethod
    def _in_flight(feature: Any) -> tuple[InFlight, ...]:
        return tuple(InFlight(t.state, t.name or "?", t.worker, t.updated)
                     for t in feature.state.tasks.values()
                     if t.state in IN_FLIGHT and t.worker and t.updated is not None)

    def _task_targets(self, feature: Any) -> tuple[str | None, tuple[TaskTarget, ...]]:
        if self._targets is None:
            self._targets = self._resolve_targets(feature)
        return self._targets

    def _resolve_targets(self, feature: Any) -> tuple[str | None, tuple[TaskTarget, ...]]:
        apps = self.extensions.get("visualiser.celery_apps")
        if apps is None or not getattr(apps, "spec", None):
            return None, ()
        from ..routing.celery_routes import broker_vhost, resolve, task_names

        try:
            app = apps.get()
        except Exception:  # noqa: BLE001 - the routing API reports why; here it only means "no routes"
            return None, ()
        routes = [resolve(app, name) for name in task_names(app)]
        targets = tuple(TaskTarget(r.task, r.exchange, r.routing_key or "") for r in routes
                        if r.error is None and r.exchange is not None)
        vhost = broker_vhost(app) or (feature.vhost if feature is not None else "/")
        return vhost, targets


# ---- HTTP ---------------------------------------------------------------------------------------------

bp = Blueprint("diagnostics", __name__)


def diagnostics() -> Diagnostics:
    return current_app.extensions[EXTENSION]


def known_vhost() -> str:
    vhost = vhost_arg()
    if current_hub().view(vhost) is None:
        abort(404, f"no vhost named {vhost!r} (see /api/vhosts)")
    return vhost


@bp.get("/api/diagnostics")
def findings_view() -> Response:
    vhost = known_vhost()
    return jsonify({"vhost": vhost, "findings": diagnostics().findings(vhost)})


@bp.get("/api/queue-history")
def queue_history_view() -> Response:
    vhost = known_vhost()
    queue = request.args.get("queue")
    if queue is None:
        return json_error(400, "give ?queue=NAME")
    if len(queue.encode("utf-8", "surrogatepass")) > MAX_NAME_BYTES:
        return json_error(400, "queue names are at most 255 bytes")
    body = diagnostics().queue_history(vhost, queue)
    if body is None:
        return json_error(404, f"no history for queue {queue!r} in vhost {vhost!r}")
    return jsonify(body)


class FindingsPusher:
    """Sends `findings` frames: at once when findings come or go, else at most every few seconds.

    Messages carry live figures (depths, slopes) that change every poll; a large broker
    would otherwise resend its whole list each poll for a changed digit.
    """

    def __init__(self, hub: Hub, figures_every: float = FIGURES_EVERY, clock: Callable[[], float] = time.monotonic):
        self.hub, self.figures_every, self.clock = hub, figures_every, clock
        self._sent: dict[str, tuple[set[tuple[str, str, str]], float]] = {}
        self._pending: dict[str, list[dict[str, Any]]] = {}

    def changed(self, vhost: str, findings: list[dict[str, Any]]) -> None:
        keys = {(f["rule"], f["node"], f["severity"]) for f in findings}
        sent = self._sent.get(vhost)
        if sent is None or sent[0] != keys or self.clock() - sent[1] >= self.figures_every:
            self._send(vhost, findings, keys)
        else:
            self._pending[vhost] = findings

    def flush(self, vhost: str) -> None:
        findings = self._pending.get(vhost)
        sent = self._sent.get(vhost)
        if findings is not None and sent is not None and self.clock() - sent[1] >= self.figures_every:
            self._send(vhost, findings, sent[0])

    def forget_except(self, vhosts: list[str]) -> None:
        for table in (self._sent, self._pending):
            for vhost in [v for v in table if v not in vhosts]:
                del table[vhost]

    def _send(self, vhost: str, findings: list[dict[str, Any]], keys: set[tuple[str, str, str]]) -> None:
        self._pending.pop(vhost, None)
        self._sent[vhost] = (keys, self.clock())
        self.hub.emit("findings", {"vhost": vhost, "findings": findings}, to=room_for(vhost))


# ---- wiring --------------------------------------------------------------------------------------------


def install(wiring: Wiring) -> None:
    thresholds = Thresholds.from_mapping(getattr(wiring.settings, "diagnostics", None) or {})
    engine = Diagnostics(thresholds, celery=CeleryReader(wiring.app.extensions))
    hub: Hub = wiring.hub

    pusher = FindingsPusher(hub)

    def on_view(view: VhostView) -> None:
        changed = engine.observe(view)
        if changed is not None:
            pusher.changed(view.vhost, changed)
        else:
            pusher.flush(view.vhost)

    hub.add_listener(on_view)
    def forget_gone_vhosts() -> None:
        engine.forget_except(hub.vhosts())
        pusher.forget_except(hub.vhosts())

    hub.every(30.0, forget_gone_vhosts)
    wiring.app.extensions[EXTENSION] = engine
    wiring.app.register_blueprint(bp)
