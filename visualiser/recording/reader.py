"""Answers about the past, read from a recording file (the one being recorded, or a replay).

Any moment is rebuilt from the last keyframe of its vhost at or before it, plus the patches
stored since, in order: keyframes are at most a few minutes apart, so a moment costs one
keyframe and a few hundred small patches. Each request opens its own read-only connection:
SQLite's WAL mode lets it read while the recorder writes.

Everything read back goes through ``codec``'s checks, so a hand-edited file cannot put
malformed elements on the page; a body that cannot be read is skipped.
"""

from __future__ import annotations

import heapq
import json
import logging
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from . import codec, schema
from .codec import Damaged
from .schema import RecordingError

log = logging.getLogger(__name__)

SLACK_SECONDS = 5.0  # a moment this soon after the last write of a span still belongs to it
MAX_POINTS = 2000
DEFAULT_POINTS = 500
MAX_MARKS = 5000
MAX_FRAMES = 5000
DEFAULT_FRAMES = 1000
VHOST_FRAME_KINDS = ("keyframe", "patch", "findings", "activity", "vhost-removed")


def clock_text(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


@dataclass(frozen=True)
class Window:
    start: float
    end: float

    def to_json(self) -> dict[str, float]:
        return {"from": self.start, "to": self.end}

    def text(self) -> str:
        return f"{clock_text(self.start)} to {clock_text(self.end)}"


class OutsideWindow(LookupError):
    """Nothing was recorded at that moment; carries the window that was."""

    def __init__(self, message: str, window: Window | None):
        super().__init__(message)
        self.window = window


class NotThere(LookupError):
    """The moment was recorded, but what was asked for was not on the graph then."""


@dataclass
class Moment:
    vhost: str
    at: float
    recorded_at: float  # the last change at or before ``at``
    session: int
    version: int
    nodes: dict[str, dict[str, Any]]
    edges: dict[str, dict[str, Any]]
    broker: dict[str, Any]
    findings: list[dict[str, Any]]
    statuses: dict[str, dict[str, Any]]
    topology_source: str | None

    @property
    def status(self) -> dict[str, Any] | None:
        return self.statuses.get(self.topology_source or "")

    def snapshot(self) -> dict[str, Any]:
        """As the socket's snapshot frame."""
        return {
            "vhost": self.vhost,
            "version": self.version,
            "nodes": list(self.nodes.values()),
            "edges": list(self.edges.values()),
            "status": self.status,
            "broker": self.broker,
        }


class RecordingReader:
    def __init__(self, path: str):
        self.path = path

    @contextmanager
    def connect(self) -> Iterator[sqlite3.Connection]:
        try:
            conn = schema.connect_read_only(self.path)
        except sqlite3.Error as exc:
            raise RecordingError(f"{self.path}: cannot open: {schema.describe(exc)}") from None
        try:
            conn.execute("PRAGMA busy_timeout = 5000")
            yield conn
        except sqlite3.DatabaseError as exc:
            raise RecordingError(f"{self.path}: cannot be read: {schema.describe(exc)}") from None
        finally:
            conn.close()

    # ---- the window ------------------------------------------------------------------------------
    def window(self) -> Window | None:
        with self.connect() as conn:
            return window_of(conn)

    def spans(self, start: float | None = None, end: float | None = None) -> list[dict[str, float]]:
        with self.connect() as conn:
            rows = conn.execute(
                "SELECT started, last FROM sessions WHERE last >= ? AND started <= ? ORDER BY started",
                (start if start is not None else -1e18, end if end is not None else 1e18),
            ).fetchall()
        return [{"from": float(a), "to": float(b)} for a, b in rows]

    def _session_at(self, conn: sqlite3.Connection, at: float) -> int:
        row = conn.execute(
            "SELECT id FROM sessions WHERE started <= ? AND last >= ? ORDER BY id DESC LIMIT 1",
            (at, at - SLACK_SECONDS),
        ).fetchone()
        if row is None:
            window = window_of(conn)
            where = f"the recording holds {window.text()}" if window else "the recording is empty"
            gap = " (the service was not recording then)" if window and window.start <= at <= window.end else ""
            raise OutsideWindow(f"nothing recorded at {clock_text(at)}{gap}: {where}", window)
        return int(row[0])

    # ---- a moment --------------------------------------------------------------------------------
    def moment(self, vhost: str, at: float) -> Moment:
        with self.connect() as conn:
            return self.moment_in(conn, vhost, at, self._session_at(conn, at))

    def moment_in(self, conn: sqlite3.Connection, vhost: str, at: float, session: int) -> Moment:
        keyframe = conn.execute(
            "SELECT id, t, version, body FROM frames WHERE scope = ? AND kind = 'keyframe' AND session = ? AND t <= ? "
            "ORDER BY t DESC, id DESC LIMIT 1",
            (vhost, session, at),
        ).fetchone()
        if keyframe is None:
            raise NotThere(f"no vhost named {vhost!r} on the graph at {clock_text(at)}")
        kf_id, kf_t, version, blob = keyframe
        if conn.execute(
            "SELECT 1 FROM frames WHERE scope = ? AND kind = 'vhost-removed' AND session = ? AND id > ? "
            "AND t <= ? LIMIT 1",
            (vhost, session, kf_id, at),
        ).fetchone():
            raise NotThere(f"no vhost named {vhost!r} on the graph at {clock_text(at)}")
        body = _decoded(blob)
        if not isinstance(body, dict):
            raise NotThere(f"the recording of vhost {vhost!r} at {clock_text(at)} is damaged")
        nodes, edges = codec.graph_elements(body.get("nodes"), body.get("edges"))
        moment = Moment(
            vhost,
            at,
            kf_t,
            session,
            int(version or 0),
            nodes,
            edges,
            body["broker"] if isinstance(body.get("broker"), dict) else {},
            codec.findings(body.get("findings")),
            _statuses(body.get("statuses")),
            body.get("topology_source") if isinstance(body.get("topology_source"), str) else None,
        )
        self._apply_since(conn, moment, kf_id, kf_t)
        return moment

    def _apply_since(self, conn: sqlite3.Connection, moment: Moment, kf_id: int, kf_t: float) -> None:
        rows = conn.execute(
            "SELECT t, kind, scope, version, base, body FROM frames WHERE session = ? AND t >= ? AND t <= ? AND id > ? "
            "AND ((scope = ? AND kind IN ('patch', 'findings')) OR kind = 'status') ORDER BY id",
            (moment.session, kf_t, moment.at, kf_id, moment.vhost),
        )
        for t, kind, scope, version, base, blob in rows:
            body = _decoded(blob)
            if kind == "patch" and base == moment.version and codec.apply_patch(moment.nodes, moment.edges, body):
                moment.version, moment.recorded_at = int(version), t
            elif kind == "findings" and isinstance(body, dict):
                moment.findings = codec.findings(body.get("findings"))
            elif kind == "status" and isinstance(body, dict):
                status = codec.status(body.get("status"))
                if status is not None:
                    moment.statuses[scope] = status

    def findings(self, vhost: str, at: float) -> list[dict[str, Any]]:
        """The findings the page showed at that moment (without rebuilding the graph)."""
        with self.connect() as conn:
            session = self._session_at(conn, at)
            keyframe = conn.execute(
                "SELECT id FROM frames WHERE scope = ? AND kind = 'keyframe' AND session = ? "
                "AND t <= ? ORDER BY t DESC, id DESC LIMIT 1",
                (vhost, session, at),
            ).fetchone()
            if (
                keyframe is None
                or conn.execute(
                    "SELECT 1 FROM frames WHERE scope = ? AND kind = 'vhost-removed' AND session = ? AND id > ? "
                    "AND t <= ? LIMIT 1",
                    (vhost, session, keyframe[0], at),
                ).fetchone()
            ):
                raise NotThere(f"no vhost named {vhost!r} on the graph at {clock_text(at)}")
            row = conn.execute(
                "SELECT body FROM frames WHERE scope = ? AND kind = 'findings' AND session = ? "
                "AND t <= ? ORDER BY t DESC, id DESC LIMIT 1",
                (vhost, session, at),
            ).fetchone()
        body = _decoded(row[0]) if row else None
        return codec.findings(body.get("findings")) if isinstance(body, dict) else []

    def vhosts_at(self, at: float) -> list[str]:
        with self.connect() as conn:
            return self.vhosts_in(conn, self._session_at(conn, at), at)

    @staticmethod
    def vhosts_in(conn: sqlite3.Connection, session: int, at: float) -> list[str]:
        latest = conn.execute(
            "SELECT scope, MAX(id) FROM frames WHERE session = ? AND kind = 'keyframe' AND t <= ? GROUP BY scope",
            (session, at),
        ).fetchall()
        return sorted(
            scope
            for scope, kf_id in latest
            if not conn.execute(
                "SELECT 1 FROM frames WHERE scope = ? AND kind = 'vhost-removed' AND session = ? AND id > ? AND t <= ? "
                "LIMIT 1",
                (scope, session, kf_id, at),
            ).fetchone()
        )

    # ---- a node's figures over time -----------------------------------------------------------------
    def history(
        self,
        vhost: str,
        node: str,
        start: float | None,
        end: float | None,
        points: int = DEFAULT_POINTS,
        *,
        on_graph: bool = False,
    ) -> dict[str, Any]:
        """``on_graph``: the node is on the live graph, so nothing recorded for it yet (the
        recorder follows by a flush) is an empty history, not NotThere."""
        with self.connect() as conn:
            window = window_of(conn)
            if window is None:
                raise OutsideWindow("the recording is empty", None)
            start, end = _clamp(window, start, end)
            ref = conn.execute("SELECT ref FROM nodes WHERE vhost = ? AND node = ?", (vhost, node)).fetchone()
            if ref is None and on_graph:
                return {
                    "vhost": vhost, "node": node, "from": start, "to": end, "step": None,
                    "points": [], "window": window.to_json(),
                }  # fmt: skip
            if ref is None:
                raise NotThere(f"no figures recorded for node {node!r} in vhost {vhost!r}")
            before = conn.execute(
                "SELECT t, ready, unacked, consumers, rates FROM series WHERE ref = ? AND t <= ? "
                "ORDER BY t DESC LIMIT 1",
                (ref[0], start),
            ).fetchall()
            rows = (
                before
                + conn.execute(
                    "SELECT t, ready, unacked, consumers, rates FROM series WHERE ref = ? "
                    "AND t > ? AND t <= ? ORDER BY t",
                    (ref[0], start, end),
                ).fetchall()
            )
        step = (end - start) / points if len(rows) > points else None
        found = [_point(row) for row in rows] if step is None else _downsample(rows, start, step)
        if found and found[0]["t"] < start:
            found[0]["t"] = start  # the value in force when the range begins
        return {
            "vhost": vhost,
            "node": node,
            "from": start,
            "to": end,
            "step": step,
            "points": found,
            "window": window.to_json(),
        }

    # ---- the timeline ------------------------------------------------------------------------------
    def timeline(self, vhost: str, start: float | None, end: float | None) -> dict[str, Any]:
        with self.connect() as conn:
            window = window_of(conn)
            if window is None:
                raise OutsideWindow("the recording is empty", None)
            start, end = _clamp(window, start, end)
            rows = conn.execute(
                "SELECT t, kind, scope, body FROM marks WHERE t >= ? AND t <= ? AND (scope = ? OR kind IN "
                "('source-down', 'source-up')) ORDER BY t, id LIMIT ?",
                (start, end, vhost, MAX_MARKS + 1),
            ).fetchall()
        marks = [mark for mark in (_mark(*row) for row in rows[:MAX_MARKS]) if mark is not None]
        return {
            "vhost": vhost,
            "from": start,
            "to": end,
            "window": window.to_json(),
            "spans": self.spans(start, end),
            "marks": marks,
            "more": len(rows) > MAX_MARKS,
        }

    # ---- frames between two moments, for playing them -----------------------------------------------
    def frames(self, vhost: str, start: float, end: float, limit: int = DEFAULT_FRAMES) -> dict[str, Any]:
        with self.connect() as conn:
            window = window_of(conn)
            if window is None or end < window.start or start > window.end:
                where = f"the recording holds {window.text()}" if window else "the recording is empty"
                raise OutsideWindow(
                    f"nothing recorded between {clock_text(start)} and {clock_text(end)}: {where}", window
                )
            chain = conn.execute(
                "SELECT session, version FROM frames WHERE scope = ? AND kind IN ('keyframe', 'patch') "
                "AND t <= ? ORDER BY t DESC, id DESC LIMIT 1",
                (vhost, start),
            ).fetchone()
            kinds = ",".join("?" * len(VHOST_FRAME_KINDS))
            own = conn.execute(
                f"SELECT id, session, t, kind, scope, version, base, body FROM frames WHERE scope = ? "
                f"AND kind IN ({kinds}) AND t > ? AND t <= ? ORDER BY id",
                (vhost, *VHOST_FRAME_KINDS, start, end),
            )
            statuses = conn.execute(
                "SELECT id, session, t, kind, scope, version, base, body FROM frames "
                "WHERE kind = 'status' AND t > ? AND t <= ? ORDER BY id",
                (start, end),
            )
            player = _Player(vhost, tuple(chain) if chain else None)
            events, more_at = player.play(heapq.merge(own, statuses), limit)
        return {"vhost": vhost, "from": start, "to": end, "frames": events, "next": more_at, "window": window.to_json()}


class _Player:
    """Turns stored frames into the events the page applies, keeping the patch chain whole:
    a patch that does not follow the last version is left out, and a keyframe that does not
    continue the chain (a new span, or after a gap) is sent as a snapshot."""

    def __init__(self, vhost: str, chain: tuple[int, int] | None):
        self.vhost, self.chain = vhost, chain

    def play(self, rows: Iterator[tuple[Any, ...]], limit: int) -> tuple[list[dict[str, Any]], float | None]:
        events: list[dict[str, Any]] = []
        last_t: float | None = None
        for _id, session, t, kind, scope, version, base, blob in rows:
            if len(events) >= limit and t != last_t:
                return events, last_t  # cut between two moments, never inside one
            body = _decoded(blob)
            events.extend(
                {"t": t, "event": name, "data": data}
                for name, data in self._events(session, kind, scope, version, base, body)
            )
            last_t = t
        return events, None

    def _events(self, session: int, kind: str, scope: str, version: Any, base: Any, body: Any) -> list[tuple[str, Any]]:
        if not isinstance(body, dict):
            return []
        if kind == "keyframe":
            if self.chain == (session, version):
                return []
            self.chain = (session, version)
            nodes, edges = codec.graph_elements(body.get("nodes"), body.get("edges"))
            statuses = _statuses(body.get("statuses"))
            source = body.get("topology_source")
            snapshot = {
                "vhost": self.vhost,
                "version": version,
                "nodes": list(nodes.values()),
                "edges": list(edges.values()),
                "status": statuses.get(source) if isinstance(source, str) else None,
                "broker": body["broker"] if isinstance(body.get("broker"), dict) else {},
            }
            return [
                ("snapshot", snapshot),
                ("findings", {"vhost": self.vhost, "findings": codec.findings(body.get("findings"))}),
            ]
        if kind == "patch":
            if self.chain != (session, base):
                return []
            self.chain = (session, version)
            return [("patch", body)]
        if kind == "findings":
            return [("findings", {"vhost": self.vhost, "findings": codec.findings(body.get("findings"))})]
        if kind == "activity":
            frame = codec.activity(body)
            return [("activity", frame)] if frame is not None else []
        if kind == "vhost-removed":
            self.chain = None
            return [("vhost-removed", {"vhost": self.vhost})]
        status = codec.status(body.get("status"))
        return (
            [("status", {"source": scope, "status": status, "topology": bool(body.get("topology"))})] if status else []
        )


# ---- helpers ---------------------------------------------------------------------------------------


def window_of(conn: sqlite3.Connection) -> Window | None:
    row = conn.execute("SELECT MIN(started), MAX(last) FROM sessions").fetchone()
    return Window(float(row[0]), float(row[1])) if row[0] is not None else None


def _clamp(window: Window, start: float | None, end: float | None) -> tuple[float, float]:
    start = window.start if start is None else max(start, window.start)
    end = window.end if end is None else min(end, window.end)
    if start >= end:
        raise OutsideWindow(f"nothing recorded in that range: the recording holds {window.text()}", window)
    return start, end


def _decoded(blob: Any) -> Any:
    try:
        return codec.decode(blob)
    except Damaged as exc:
        log.warning("recording: a frame was skipped: %s", exc)
        return None


def _statuses(value: Any) -> dict[str, dict[str, Any]]:
    if not isinstance(value, dict):
        return {}
    found = {source: codec.status(status) for source, status in value.items() if isinstance(source, str)}
    return {source: status for source, status in found.items() if status is not None}


def _rates(text: Any) -> dict[str, float]:
    try:
        value = json.loads(text) if isinstance(text, str) else {}
    except (ValueError, RecursionError):
        return {}
    if not isinstance(value, dict):
        return {}
    found = {k: codec.finite(v) for k, v in value.items() if isinstance(k, str)}
    return {k: v for k, v in found.items() if v is not None}


def _count(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _point(row: tuple[Any, ...]) -> dict[str, Any]:
    t, ready, unacked, consumers, rates = row
    return {
        "t": float(t),
        "messages_ready": _count(ready),
        "messages_unacknowledged": _count(unacked),
        "consumers": _count(consumers),
        "rates": _rates(rates),
    }


def _downsample(rows: list[tuple[Any, ...]], start: float, step: float) -> list[dict[str, Any]]:
    """One point per bucket of ``step`` seconds that saw a change: the bucket's first moment,
    with the largest depths and rates in it and the fewest consumers (the backlog's peak and
    the consumers' low are what a person looks for; neither is averaged away)."""
    points: list[dict[str, Any]] = []
    bucket: int | None = None
    for row in rows:
        point = _point(row)
        index = int((point["t"] - start) // step)
        if points and index == bucket:
            _merge_point(points[-1], point)
        else:
            points.append(point)
            bucket = index
    return points


def _merge_point(into: dict[str, Any], point: dict[str, Any]) -> None:
    for key, pick in (("messages_ready", max), ("messages_unacknowledged", max), ("consumers", min)):
        values = [v for v in (into[key], point[key]) if v is not None]
        into[key] = pick(values) if values else None
    for name, rate in point["rates"].items():
        into["rates"][name] = max(rate, into["rates"].get(name, rate))


def _mark(t: float, kind: str, scope: str, text: str) -> dict[str, Any] | None:
    try:
        body = json.loads(text)
    except (ValueError, RecursionError, TypeError):
        return None
    if not isinstance(body, dict):
        return None
    if kind in ("finding-appeared", "finding-cleared"):
        found = codec.findings([body])
        return {"t": t, "kind": kind, "vhost": scope, **found[0]} if found else None
    if kind in ("source-down", "source-up"):
        status = codec.status({**body, "since": body.get("since", t) if codec.finite(body.get("since")) else t})
        if status is None:
            return None
        return {
            "t": t,
            "kind": kind,
            "source": scope,
            "state": status["state"],
            "detail": status["detail"],
            "last_error": status["last_error"],
            "since": status["since"],
        }
    return None
