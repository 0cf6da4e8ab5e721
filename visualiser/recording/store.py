"""The recording file's writer side: one connection, used by one thread.

Everything is written in the caller's transactions (``transaction()``), so the writer thread
commits a batch at a time. WAL mode with ``synchronous=NORMAL``: a commit is in the WAL as
soon as it returns, so a crash or kill -9 of the process loses nothing committed (only a
power cut can lose the last commits), and readers on other connections read while it writes.

Retention deletes whole stretches: a session that ended before the cutoff, and within the
session that spans it, each vhost's frames before its last keyframe at or before the
cutoff, so that every moment after the cutoff can still be rebuilt.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from . import schema
from .codec import encode
from .schema import RecordingError

BUSY_TIMEOUT_MS = 5000
WAL_LIMIT_BYTES = 16 * 1024 * 1024  # the WAL is cut back to this after each checkpoint
SeriesRow = tuple[int, float, int | None, int | None, int | None, str | None]


def is_disk_full(exc: BaseException) -> bool:
    code = getattr(exc, "sqlite_errorcode", None)
    return code == sqlite3.SQLITE_FULL or "disk is full" in str(exc) or getattr(exc, "errno", None) == 28


@dataclass(frozen=True)
class Retained:
    """What a retention pass did."""

    cutoff: float | None  # the earliest moment kept, when anything was deleted
    frames: int
    used_bytes: int


class Store:
    def __init__(self, path: str, *, journal: str = "WAL"):
        self.path = path
        self.conn = self._open(path, journal)
        self._refs: dict[tuple[str, str], int] = {}

    # ---- opening ---------------------------------------------------------------------------
    @staticmethod
    def _open(path: str, journal: str) -> sqlite3.Connection:
        """Open a recording to add to, or lay out a new one; never take over another file."""
        directory = os.path.dirname(os.path.abspath(path))
        os.makedirs(directory, mode=0o700, exist_ok=True)
        if os.path.isdir(path):
            raise RecordingError(f"{path}: is a directory, not a recording")
        new = not os.path.exists(path) or os.path.getsize(path) == 0
        if new:  # private: a recording shows the broker's topology (SQLite gives its WAL the same mode)
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))
        else:
            schema.check_file(path)
        try:
            conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        except sqlite3.Error as exc:
            raise RecordingError(f"{path}: cannot open: {schema.describe(exc)}") from None
        try:
            conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            if new:
                schema.create(conn)
            else:
                schema.check_identity(conn, path)
                schema.check_tables(conn, path)
            conn.execute(f"PRAGMA journal_mode = {journal}")
            conn.execute("PRAGMA synchronous = NORMAL")
            conn.execute(f"PRAGMA journal_size_limit = {WAL_LIMIT_BYTES}")
        except sqlite3.Error as exc:
            conn.close()
            raise RecordingError(f"{path}: {schema.describe(exc)}") from None
        except RecordingError:
            conn.close()
            raise
        return conn

    def close(self) -> None:
        with contextlib.suppress(sqlite3.Error):  # a full disk: the WAL stays, replayed on the next open
            self.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        self.conn.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            yield self.conn
            self.conn.execute("COMMIT")
        except BaseException:
            # SQLite has already rolled back after some errors (a full disk): keep the first error.
            if self.conn.in_transaction:
                with contextlib.suppress(sqlite3.Error):
                    self.conn.execute("ROLLBACK")
            raise

    # ---- writing (inside a transaction) ---------------------------------------------------
    def begin_session(self, started: float, mode: str) -> int:
        cursor = self.conn.execute(
            "INSERT INTO sessions (started, last, mode) VALUES (?, ?, ?)", (started, started, mode)
        )
        assert cursor.lastrowid is not None
        return cursor.lastrowid

    def touch_session(self, session: int, last: float, first: float | None = None) -> None:
        """The span reaches ``last``; ``first``: an item older than its start (queued before it began)."""
        self.conn.execute(
            "UPDATE sessions SET last = MAX(last, ?), started = MIN(started, ?) WHERE id = ?",
            (last, first if first is not None else last, session),
        )

    def add_frame(
        self,
        session: int,
        t: float,
        kind: str,
        scope: str,
        body: Any,
        version: int | None = None,
        base: int | None = None,
    ) -> int:
        return self.add_encoded(session, t, kind, scope, encode(body), version, base)

    def add_encoded(
        self,
        session: int,
        t: float,
        kind: str,
        scope: str,
        blob: bytes,
        version: int | None = None,
        base: int | None = None,
    ) -> int:
        cursor = self.conn.execute(
            "INSERT INTO frames (session, t, kind, scope, version, base, body) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (session, t, kind, scope, version, base, blob),
        )
        assert cursor.lastrowid is not None
        return cursor.lastrowid

    def add_mark(self, session: int, t: float, kind: str, scope: str, body: dict[str, Any]) -> None:
        self.conn.execute(
            "INSERT INTO marks (session, t, kind, scope, body) VALUES (?, ?, ?, ?, ?)",
            (session, t, kind, scope, json.dumps(body, separators=(",", ":"), default=str)),
        )

    def node_ref(self, vhost: str, node: str) -> int:
        key = (vhost, node)
        ref = self._refs.get(key)
        if ref is None:
            self.conn.execute("INSERT OR IGNORE INTO nodes (vhost, node) VALUES (?, ?)", key)
            ref = int(self.conn.execute("SELECT ref FROM nodes WHERE vhost = ? AND node = ?", key).fetchone()[0])
            self._refs[key] = ref
        return ref

    def add_series(self, rows: Iterable[SeriesRow]) -> None:
        self.conn.executemany(
            "INSERT OR REPLACE INTO series (ref, t, ready, unacked, consumers, rates) VALUES (?, ?, ?, ?, ?, ?)", rows
        )

    def set_meta(self, key: str, value: str) -> None:
        self.conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))

    # ---- size and retention ---------------------------------------------------------------
    def used_bytes(self) -> int:
        pages = self.conn.execute("PRAGMA page_count").fetchone()[0]
        free = self.conn.execute("PRAGMA freelist_count").fetchone()[0]
        size = self.conn.execute("PRAGMA page_size").fetchone()[0]
        return int((pages - free) * size)

    def retain(self, now: float, max_age: float, max_bytes: int) -> Retained:
        """Delete what is older than max_age, then the oldest until under max_bytes."""
        deleted = self._delete_before(now - max_age)
        cutoff = now - max_age if deleted else None
        used = self.used_bytes()
        # Each step gives up a share of what is left (a tenth at least): a few steps free enough
        # however the bytes are spread over time. Frames go a keyframe interval at a time, so a
        # step may free nothing; the newest keyframe and what follows it always stay.
        for _ in range(40):
            oldest, newest = self._span()
            if used <= max_bytes or oldest is None or newest is None or newest - oldest < 1.0:
                break
            step_cutoff = oldest + (newest - oldest) * max(0.1, 1 - max_bytes * 0.9 / used)
            deleted += self._delete_before(step_cutoff)
            cutoff = step_cutoff
            used = self.used_bytes()
        if deleted:
            # Freed pages back to the file system. Each step of this pragma frees one page and it
            # returns no rows, so execute() would stop after one: executescript runs it to the end.
            self.conn.executescript("PRAGMA incremental_vacuum;")
            used = self.used_bytes()
        return Retained(cutoff, deleted, used)

    def _span(self) -> tuple[float | None, float | None]:
        row = self.conn.execute("SELECT MIN(started), MAX(last) FROM sessions").fetchone()
        return row[0], row[1]

    def _delete_before(self, cutoff: float) -> int:
        with self.transaction() as conn:
            deleted = 0
            ended = [row[0] for row in conn.execute("SELECT id FROM sessions WHERE last < ?", (cutoff,))]
            for session in ended:
                deleted += conn.execute("DELETE FROM frames WHERE session = ?", (session,)).rowcount
                conn.execute("DELETE FROM marks WHERE session = ?", (session,))
                conn.execute("DELETE FROM sessions WHERE id = ?", (session,))
            spanning = conn.execute("SELECT id FROM sessions WHERE started < ? ORDER BY id", (cutoff,)).fetchall()
            for (session,) in spanning:
                deleted += self._trim_session(conn, session, cutoff)
                conn.execute("UPDATE sessions SET started = ? WHERE id = ?", (cutoff, session))
            conn.execute("DELETE FROM marks WHERE t < ?", (cutoff,))
            # Series from the oldest keyframe kept: it wrote every node's figures, so each node
            # still has a value in force at the start of the window.
            oldest_keyframe = conn.execute("SELECT MIN(t) FROM frames WHERE kind = 'keyframe'").fetchone()[0]
            conn.execute(
                "DELETE FROM series WHERE ref IN (SELECT ref FROM nodes) AND t < ?",
                (min(cutoff, oldest_keyframe) if oldest_keyframe is not None else cutoff,),
            )
            return deleted

    @staticmethod
    def _trim_session(conn: sqlite3.Connection, session: int, cutoff: float) -> int:
        deleted = 0
        scopes = [
            row[0]
            for row in conn.execute(
                "SELECT DISTINCT scope FROM frames WHERE session = ? AND kind = 'keyframe'", (session,)
            )
        ]
        for scope in scopes:
            keep = conn.execute(
                "SELECT MAX(id) FROM frames WHERE session = ? AND scope = ? AND kind = 'keyframe' AND t <= ?",
                (session, scope, cutoff),
            ).fetchone()[0]
            if keep is not None:
                deleted += conn.execute(
                    "DELETE FROM frames WHERE session = ? AND scope = ? AND id < ?", (session, scope, keep)
                ).rowcount
        # Statuses: keyframes carry every source's status, so older ones are not needed.
        deleted += conn.execute(
            "DELETE FROM frames WHERE session = ? AND kind = 'status' AND t < ?", (session, cutoff)
        ).rowcount
        return deleted
