"""Turns what passed through the hub into rows of the recording, one batch at a time.

Items arrive in the order the hub produced them: ``(t, kind, scope, payload)`` with kind one
of ``patch``, ``view`` (a keyframe's graph), ``findings``, ``activity``, ``status`` and
``vhost-removed``. The writer keeps just enough state to write compactly:

- each vhost's version, so that a patch is stored only when it follows the last one stored
  (after a gap it asks for a keyframe instead: the recording never holds a broken chain);
- each queue's and exchange's figures, so that a series row is written for a node only when
  one of its figures changed, whole (a patch carries only the changed field);
- each vhost's findings, to mark them appearing and clearing; the findings list itself is
  stored when the set changes, with each keyframe, and otherwise at most every
  ``FINDINGS_EVERY`` seconds (the messages carry live figures that change every poll);
- each source's last status, stored when its state or message changes (and every
  ``STATUS_EVERY`` seconds), with a mark when it goes down and when it comes back;
- one-second buckets of Celery activity: the page's frames (up to 4 a second) summed.

Pure of threads: the recorder calls it on its writer thread, the benchmarks directly.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from ..contract.vocabulary import HEALTHY_STATES
from ..model.topology import Graph
from .codec import apply_findings
from .store import SeriesRow, Store

Item = tuple[float, str, str, Any]  # (time, kind, scope, payload)
Figures = tuple[int | None, int | None, int | None, str | None]  # ready, unacked, consumers, rates as JSON
# A keyframe's content: the version, the graph (never changed once published), broker facts, the graph's source.
KeyframeSource = tuple[int, Graph, dict[str, Any], str | None]

FIGURE_FIELDS = ("messages_ready", "messages_unacknowledged", "consumers", "rates")
FIGURE_KINDS = ("queue", "exchange")
KEYFRAME_PATCHES = 300  # a keyframe at least every this many patches (and every KEYFRAME_SECONDS)
FINDINGS_EVERY = 30.0
STATUS_EVERY = 60.0
MAX_ACTIVITY_SAMPLES = 12


@dataclass
class VhostTrack:
    version: int
    patches: int = 0
    figures: dict[str, Figures] = field(default_factory=dict)


@dataclass
class FindingsTrack:
    current: dict[tuple[str, str, str], dict[str, Any]] = field(default_factory=dict)
    latest: list[dict[str, Any]] = field(default_factory=list)
    stored_at: float = -math.inf
    pending: bool = False


def figures_of(node: dict[str, Any]) -> Figures:
    rates = node.get("rates")
    rates_json = json.dumps(rates, sort_keys=True, separators=(",", ":")) if isinstance(rates, dict) and rates else None

    def count(key: str) -> int | None:
        value = node.get(key)
        return value if isinstance(value, int) and not isinstance(value, bool) else None

    return count("messages_ready"), count("messages_unacknowledged"), count("consumers"), rates_json


def _key(finding: dict[str, Any]) -> tuple[str, str, str]:
    return str(finding.get("rule")), str(finding.get("node")), str(finding.get("severity"))


def _status_signature(status: dict[str, Any]) -> tuple[Any, ...]:
    return status.get("state"), status.get("detail"), status.get("last_error")


class Writer:
    def __init__(
        self,
        store: Store,
        mode: str,
        want_keyframe: Callable[[str], None] = lambda vhost: None,
        skip_sources: Iterable[str] = (),
    ):
        self.store, self.mode, self.want_keyframe = store, mode, want_keyframe
        self.skip_sources = frozenset(skip_sources)
        self.session: int | None = None
        self.written: dict[str, int] = {}  # frames by kind, for metrics
        self._forget()

    def _forget(self) -> None:
        self.vhosts: dict[str, VhostTrack] = {}
        self.findings: dict[str, FindingsTrack] = {}
        self.statuses: dict[str, dict[str, Any]] = {}
        self._status_stored: dict[str, tuple[tuple[Any, ...], float]] = {}
        self._activity: dict[str, tuple[int, float, dict[str, Any]]] = {}  # vhost -> (second, t, sum)

    # ---- sessions (inside the caller's transaction) ------------------------------------------
    def begin(self, t: float) -> None:
        """A new span of recording: nothing before it is continued (every vhost starts with a keyframe)."""
        statuses = dict(self.statuses)
        self._forget()
        self.statuses = statuses  # still true; they go in the new span's keyframes
        self.session = self.store.begin_session(t, self.mode)

    def end(self, t: float) -> None:
        if self.session is not None:
            self.flush(math.inf)
            self.store.touch_session(self.session, t)

    # ---- items ---------------------------------------------------------------------------------
    def write(self, items: Iterable[Item]) -> None:
        assert self.session is not None, "begin() first"
        handlers: dict[str, Callable[[float, str, Any], None]] = {
            "patch": self._patch,
            "view": self._keyframe,
            "findings": self._findings,
            "activity": self._activity_frame,
            "status": self._status,
            "vhost-removed": self._removed,
        }
        for t, kind, scope, payload in items:
            handler = handlers.get(kind)
            if handler is not None:
                handler(t, scope, payload)

    def flush(self, now: float) -> None:
        """Store what waits: activity seconds that are over, findings held back for their figures."""
        over = math.floor(now) if math.isfinite(now) else math.inf  # inf: the end, everything is over
        for vhost, (second, _t, _sum) in list(self._activity.items()):
            if second < over:
                self._store_activity(vhost)
        for vhost, track in self.findings.items():
            if track.pending and now - track.stored_at >= FINDINGS_EVERY:
                self._store_findings(now if math.isfinite(now) else track.stored_at, vhost, track)

    def _frame(
        self, t: float, kind: str, scope: str, body: Any, version: int | None = None, base: int | None = None
    ) -> None:
        assert self.session is not None
        self.store.add_frame(self.session, t, kind, scope, body, version, base)
        self.written[kind] = self.written.get(kind, 0) + 1

    # ---- topology ------------------------------------------------------------------------------
    def _keyframe(self, t: float, vhost: str, payload: KeyframeSource) -> None:
        version, graph, broker, topology_source = payload
        lists = graph.as_lists()
        track = self.findings.get(vhost)
        body = {
            "vhost": vhost,
            "version": version,
            "nodes": lists["nodes"],
            "edges": lists["edges"],
            "broker": broker,
            "topology_source": topology_source,
            "findings": track.latest if track else [],
            "statuses": dict(self.statuses),
        }
        self._frame(t, "keyframe", vhost, body, version=version)
        # Findings again, small and on their own: a moment's findings are read without its graph.
        self._store_findings(t, vhost, self.findings.setdefault(vhost, FindingsTrack()))
        figures = {node["id"]: figures_of(node) for node in lists["nodes"] if node.get("kind") in FIGURE_KINDS}
        self.vhosts[vhost] = VhostTrack(version, 0, figures)
        self._series(t, vhost, figures.items())

    def _patch(self, t: float, vhost: str, patch: dict[str, Any]) -> None:
        track = self.vhosts.get(vhost)
        if track is None or patch.get("from") != track.version:
            self.want_keyframe(vhost)  # a gap (dropped items, a pause): the next view starts afresh
            return
        self._frame(t, "patch", vhost, patch, version=patch["to"], base=patch["from"])
        track.version, track.patches = patch["to"], track.patches + 1
        self._series(t, vhost, self._changed_figures(track, patch))
        if track.patches >= KEYFRAME_PATCHES:
            self.want_keyframe(vhost)

    @staticmethod
    def _changed_figures(track: VhostTrack, patch: dict[str, Any]) -> list[tuple[str, Figures]]:
        changed: list[tuple[str, Figures]] = []
        for node_id in patch["remove"]["nodes"]:
            track.figures.pop(node_id, None)
        for node in patch["add"]["nodes"]:
            if node.get("kind") in FIGURE_KINDS:
                track.figures[node["id"]] = figures_of(node)
                changed.append((node["id"], track.figures[node["id"]]))
        for change in patch["change"]["nodes"]:
            before = track.figures.get(change["id"])
            if before is None or not any(f in change for f in FIGURE_FIELDS):
                continue
            after = figures_of(change)
            merged = tuple(after[i] if FIGURE_FIELDS[i] in change else before[i] for i in range(4))
            track.figures[change["id"]] = merged  # type: ignore[assignment]
            changed.append((change["id"], track.figures[change["id"]]))
        return changed

    def _series(self, t: float, vhost: str, figures: Iterable[tuple[str, Figures]]) -> None:
        rows: list[SeriesRow] = [(self.store.node_ref(vhost, node_id), t, *values) for node_id, values in figures]
        if rows:
            self.store.add_series(rows)

    def _removed(self, t: float, vhost: str, _payload: Any) -> None:
        if self.vhosts.pop(vhost, None) is not None:
            self._frame(t, "vhost-removed", vhost, {"vhost": vhost})
        self._activity.pop(vhost, None)
        track = self.findings.pop(vhost, None)
        for finding in track.current.values() if track else ():
            self.store.add_mark(self._session(), t, "finding-cleared", vhost, finding)

    def _session(self) -> int:
        assert self.session is not None
        return self.session

    # ---- findings ------------------------------------------------------------------------------
    def _findings(self, t: float, vhost: str, frame: dict[str, Any]) -> None:
        track = self.findings.setdefault(vhost, FindingsTrack())
        # The page is sent diffs; the recording keeps whole lists, so that any moment reads alone.
        findings = apply_findings(track.latest, frame)
        now = {_key(f): f for f in findings}
        for key, finding in now.items():
            if key not in track.current:
                self.store.add_mark(self._session(), t, "finding-appeared", vhost, finding)
        for key, finding in track.current.items():
            if key not in now:
                self.store.add_mark(self._session(), t, "finding-cleared", vhost, finding)
        changed = now.keys() != track.current.keys()
        track.current, track.latest = now, findings
        if changed or t - track.stored_at >= FINDINGS_EVERY:
            self._store_findings(t, vhost, track)
        else:
            track.pending = True

    def _store_findings(self, t: float, vhost: str, track: FindingsTrack) -> None:
        self._frame(t, "findings", vhost, {"vhost": vhost, "findings": track.latest})
        track.stored_at, track.pending = t, False

    # ---- sources --------------------------------------------------------------------------------
    def _status(self, t: float, source: str, frame: dict[str, Any]) -> None:
        status = frame.get("status")
        if source in self.skip_sources or not isinstance(status, dict):
            return
        before = self.statuses.get(source)
        self.statuses[source] = status
        was_healthy = before is None or before.get("state") in HEALTHY_STATES
        healthy = status.get("state") in HEALTHY_STATES
        if was_healthy and not healthy:
            self.store.add_mark(self._session(), t, "source-down", source, status)
        elif healthy and not was_healthy and before is not None:
            self.store.add_mark(self._session(), t, "source-up", source, {**status, "since": before.get("since")})
        signature = _status_signature(status)
        stored = self._status_stored.get(source)
        if stored is None or stored[0] != signature or t - stored[1] >= STATUS_EVERY:
            self._frame(t, "status", source, frame)
            self._status_stored[source] = (signature, t)

    # ---- Celery activity ------------------------------------------------------------------------
    def _activity_frame(self, t: float, vhost: str, frame: dict[str, Any]) -> None:
        second = math.floor(t)
        held = self._activity.get(vhost)
        if held is not None and held[0] != second:
            self._store_activity(vhost)
            held = None
        total = (
            held[2]
            if held is not None
            else {
                "vhost": vhost,
                "interval": 0.0,
                "at": t,
                "events": 0,
                "edges": {},
                "nodes": {},
                "samples": [],
                "gaps": None,
            }
        )
        _add_activity(total, frame)
        self._activity[vhost] = (second, t, total)

    def _store_activity(self, vhost: str) -> None:
        _second, t, total = self._activity.pop(vhost)
        interval = max(total["interval"], 1e-3)
        for part in ("edges", "nodes"):
            for figures in total[part].values():
                figures["rate"] = round(figures["count"] / interval, 2)
        total["interval"] = round(interval, 3)
        self._frame(t, "activity", vhost, total)


def _add_activity(total: dict[str, Any], frame: dict[str, Any]) -> None:
    total["interval"] += float(frame.get("interval") or 0.0)
    total["events"] += int(frame.get("events") or 0)
    total["at"] = frame.get("at", total["at"])
    total["gaps"] = frame.get("gaps", total["gaps"])
    for part in ("edges", "nodes"):
        for element, figures in (frame.get(part) or {}).items():
            summed = total[part].setdefault(element, {"count": 0, "rate": 0.0, "states": {}})
            summed["count"] += figures.get("count", 0)
            for state, count in (figures.get("states") or {}).items():
                summed["states"][state] = summed["states"].get(state, 0) + count
    room = MAX_ACTIVITY_SAMPLES - len(total["samples"])
    if room > 0:
        total["samples"].extend(frame.get("samples", [])[:room])
