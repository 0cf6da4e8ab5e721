"""A window of a recording copied to a file of its own, to attach to a ticket or replay offline.

The export is a recording like any other (``--replay`` opens both), in one file (no WAL
beside it): for each span of the source that overlaps the window, a keyframe of every vhost
rebuilt at the window's start (with its findings, its sources' statuses and marks for the
findings and outages already open then), then the frames, series and marks recorded inside
the window, byte for byte. It is written under a temporary name and renamed when complete.
"""

from __future__ import annotations

import os
import re
import sqlite3
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ..config import Settings
from ..contract.vocabulary import HEALTHY_STATES
from . import schema
from .paths import default_path
from .reader import Moment, OutsideWindow, RecordingReader, clock_text, window_of
from .schema import RecordingError
from .store import SeriesRow, Store
from .writer import FIGURE_KINDS, figures_of

COPY_CHUNK = 1000
# "now-2h": relative times begin with "now" so that a command line never mistakes them for an option.
_RELATIVE = re.compile(r"^now\s*-\s*(\d+(?:\.\d+)?)([smhd])$", re.IGNORECASE)
_UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


@dataclass(frozen=True)
class Exported:
    path: str
    start: float
    end: float
    frames: int
    bytes: int

    def text(self) -> str:
        return (
            f"exported {clock_text(self.start)} to {clock_text(self.end)} ({self.frames} frames, "
            f"{self.bytes / (1024 * 1024):.1f} MB) to {self.path}"
        )


def parse_moment(text: str, now: float) -> float:
    """UNIX seconds, ISO 8601 (local time unless it says), 'now', or relative to now ('now-2h')."""
    value = text.strip()
    if value.lower() == "now":
        return now
    relative = _RELATIVE.match(value)
    if relative:
        return now - float(relative.group(1)) * _UNITS[relative.group(2)]
    try:
        return float(value)
    except ValueError:
        pass
    try:
        return datetime.fromisoformat(value).timestamp()
    except ValueError:
        raise ValueError(
            f"{text[:60]!r} is not a time: give UNIX seconds, ISO 8601 (2026-03-01T03:12), 'now' or "
            "a time relative to now (now-2h, now-90m, now-30s)"
        ) from None


def export(source: str, out: str, start: float, end: float) -> Exported:
    """Copy [start, end] of the recording at ``source`` into the new file ``out``."""
    if os.path.exists(out):
        raise RecordingError(f"{out}: exists already; give a new file name")
    if start >= end:
        raise RecordingError(f"the start ({clock_text(start)}) is not before the end ({clock_text(end)})")
    schema.open_for_reading(source, verify=False).close()  # says what is wrong with a file that is not one
    partial = out + ".partial"
    if os.path.exists(partial):
        os.remove(partial)
    reader = RecordingReader(source)
    try:
        with reader.connect() as conn:
            window = window_of(conn)
            if window is None or end < window.start or start > window.end:
                where = f"the recording holds {window.text()}" if window else "the recording is empty"
                raise OutsideWindow(
                    f"nothing recorded between {clock_text(start)} and {clock_text(end)}: {where}", window
                )
            start, end = max(start, window.start), min(end, window.end)
            frames = _copy(reader, conn, partial, start, end)
        os.replace(partial, out)
    finally:
        if os.path.exists(partial):
            os.remove(partial)
    return Exported(out, start, end, frames, os.path.getsize(out))


def _copy(reader: RecordingReader, conn: sqlite3.Connection, partial: str, start: float, end: float) -> int:
    store = Store(partial, journal="DELETE")
    try:
        copied = 0
        sessions = conn.execute(
            "SELECT id, started, last, mode FROM sessions WHERE last >= ? AND started <= ? ORDER BY id", (start, end)
        ).fetchall()
        for session, started, last, mode in sessions:
            first, final = max(started, start), min(last, end)
            with store.transaction():
                target = store.begin_session(first, mode)
                store.touch_session(target, final)
                for vhost in reader.vhosts_in(conn, session, first):
                    _opening(store, target, reader.moment_in(conn, vhost, first, session))
                copied += _copy_frames(store, conn, session, target, first, final)
        with store.transaction():
            _copy_series(store, conn, start, end)
            for key, value in (("exported_from", start), ("exported_to", end), ("exported_at", time.time())):
                store.set_meta(key, repr(value))
        return copied
    finally:
        store.conn.close()


def _opening(store: Store, session: int, moment: Moment) -> None:
    """The state at the start of the export: a keyframe, its nodes' figures, and marks for
    what was already wrong (findings open, sources down), so the timeline shows them."""
    t = moment.at
    body: dict[str, Any] = {
        **moment.snapshot(),
        "topology_source": moment.topology_source,
        "findings": moment.findings,
        "statuses": moment.statuses,
    }
    body.pop("status")
    store.add_frame(session, t, "keyframe", moment.vhost, body, version=moment.version)
    store.add_frame(session, t, "findings", moment.vhost, {"vhost": moment.vhost, "findings": moment.findings})
    rows: list[SeriesRow] = [
        (store.node_ref(moment.vhost, node_id), t, *figures_of(node))
        for node_id, node in moment.nodes.items()
        if node.get("kind") in FIGURE_KINDS
    ]
    store.add_series(rows)
    for finding in moment.findings:
        store.add_mark(session, t, "finding-appeared", moment.vhost, finding)
    for source, status in moment.statuses.items():
        if status.get("state") not in HEALTHY_STATES:
            store.add_mark(session, t, "source-down", source, status)


def _copy_frames(store: Store, conn: sqlite3.Connection, session: int, target: int, first: float, final: float) -> int:
    copied = 0
    rows = conn.execute(
        "SELECT t, kind, scope, version, base, body FROM frames WHERE session = ? AND t > ? AND t <= ? ORDER BY id",
        (session, first, final),
    )
    for t, kind, scope, version, base, body in rows:
        store.add_encoded(target, t, kind, scope, body, version, base)
        copied += 1
    marks = conn.execute(
        "SELECT t, kind, scope, body FROM marks WHERE session = ? AND t > ? AND t <= ? ORDER BY id",
        (session, first, final),
    ).fetchall()
    store.conn.executemany(
        "INSERT INTO marks (session, t, kind, scope, body) VALUES (?, ?, ?, ?, ?)", [(target, *mark) for mark in marks]
    )
    return copied


def _copy_series(store: Store, conn: sqlite3.Connection, start: float, end: float) -> None:
    rows = conn.execute(
        "SELECT n.vhost, n.node, s.t, s.ready, s.unacked, s.consumers, s.rates FROM series s "
        "JOIN nodes n ON n.ref = s.ref WHERE s.t > ? AND s.t <= ?",
        (start, end),
    )
    while True:
        chunk = rows.fetchmany(COPY_CHUNK)
        if not chunk:
            return
        store.add_series(
            (store.node_ref(vhost, node), t, ready, unacked, consumers, rates)
            for vhost, node, t, ready, unacked, consumers, rates in chunk
        )


def run_export(settings: Settings, arguments: tuple[str, str, str], now: float | None = None) -> Exported:
    """``app.py --export FROM TO OUT``: from the file this service records to."""
    moment = time.time() if now is None else now
    start_text, end_text, out = arguments
    start, end = parse_moment(start_text, moment), parse_moment(end_text, moment)
    source = settings.record or default_path(settings.port)
    return export(source, out, start, end)
