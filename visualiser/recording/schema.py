"""The recording file: an SQLite database of our own, recognised by its application id and
versioned by its schema version, and the checks that say in one line what is wrong with a file
that is not one.

Tables:

- ``sessions``: one row per run of the service (or stretch between two pauses): the spans the
  recording covers. A moment outside every span was not recorded.
- ``frames``: what the page was sent, in order (``id``): per vhost a ``keyframe`` (the whole
  graph, its findings and the sources' statuses) every few minutes and the ``patch`` frames
  between, ``findings``, one-second ``activity`` aggregates, ``vhost-removed``; per source
  its ``status``. ``scope`` is the vhost, or the source for a status. Bodies are zlib'd JSON.
- ``nodes`` and ``series``: each queue's and exchange's figures (depths, consumers, rates) at
  every change, for a node's history over the whole window without replaying patches.
- ``marks``: findings appearing and clearing, sources going down and coming back: the
  timeline's marks.
- ``meta``: when the file was made, and for an export the window it holds.
"""

from __future__ import annotations

import os
import sqlite3
from urllib.parse import quote

APPLICATION_ID = 0x524D5176  # "RMQv": PRAGMA application_id of every recording
SCHEMA_VERSION = 1  # PRAGMA user_version; a file with a higher one was written by a newer version
SQLITE_HEADER = b"SQLite format 3\x00"

DDL = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE sessions (id INTEGER PRIMARY KEY, started REAL NOT NULL, last REAL NOT NULL, mode TEXT NOT NULL);
CREATE TABLE frames (id INTEGER PRIMARY KEY, session INTEGER NOT NULL, t REAL NOT NULL, kind TEXT NOT NULL,
                     scope TEXT NOT NULL, version INTEGER, base INTEGER, body BLOB NOT NULL);
CREATE INDEX frames_by_scope ON frames (scope, kind, t);
CREATE INDEX frames_by_kind ON frames (kind, t);
CREATE TABLE nodes (ref INTEGER PRIMARY KEY, vhost TEXT NOT NULL, node TEXT NOT NULL, UNIQUE (vhost, node));
CREATE TABLE series (ref INTEGER NOT NULL, t REAL NOT NULL, ready INTEGER, unacked INTEGER, consumers INTEGER,
                     rates TEXT, PRIMARY KEY (ref, t)) WITHOUT ROWID;
CREATE TABLE marks (id INTEGER PRIMARY KEY, session INTEGER NOT NULL, t REAL NOT NULL, kind TEXT NOT NULL,
                    scope TEXT NOT NULL, body TEXT NOT NULL);
CREATE INDEX marks_by_time ON marks (t);
"""

# What a reader needs of each table: a hand-edited file missing any of it is refused.
REQUIRED_COLUMNS = {
    "meta": {"key", "value"},
    "sessions": {"id", "started", "last", "mode"},
    "frames": {"id", "session", "t", "kind", "scope", "version", "base", "body"},
    "nodes": {"ref", "vhost", "node"},
    "series": {"ref", "t", "ready", "unacked", "consumers", "rates"},
    "marks": {"id", "session", "t", "kind", "scope", "body"},
}


class RecordingError(ValueError):
    """A recording file cannot be used; the message names the file and says what is wrong."""


def read_only_uri(path: str) -> str:
    return "file:" + quote(os.path.abspath(path)) + "?mode=ro"


def connect_read_only(path: str) -> sqlite3.Connection:
    """A connection that never writes: for answers about the past, exports and replays."""
    conn = sqlite3.connect(read_only_uri(path), uri=True, check_same_thread=False)
    conn.execute("PRAGMA query_only = ON")
    return conn


def describe(exc: sqlite3.Error) -> str:
    """SQLite's complaint, in the words a user can act on."""
    text = str(exc)
    if "not a database" in text:
        return "not a recording (not an SQLite database)"
    if "malformed" in text or "corrupt" in text:
        return "damaged (truncated or corrupted): " + text
    return text


def check_file(path: str) -> None:
    """The file exists and is a regular file (before SQLite makes one up)."""
    if not os.path.exists(path):
        raise RecordingError(f"{path}: no such file")
    if os.path.isdir(path):
        raise RecordingError(f"{path}: is a directory, not a recording")
    if os.path.getsize(path) == 0:
        raise RecordingError(f"{path}: empty file, not a recording")
    try:
        with open(path, "rb") as handle:
            header = handle.read(len(SQLITE_HEADER))
    except PermissionError:
        raise RecordingError(f"{path}: permission denied") from None
    if header != SQLITE_HEADER:
        raise RecordingError(f"{path}: not a recording (not an SQLite database)")


def check_identity(conn: sqlite3.Connection, path: str) -> None:
    """Ours, and a format this version reads."""
    try:
        app_id = conn.execute("PRAGMA application_id").fetchone()[0]
        version = conn.execute("PRAGMA user_version").fetchone()[0]
    except sqlite3.DatabaseError as exc:
        raise RecordingError(f"{path}: {describe(exc)}") from None
    if app_id != APPLICATION_ID:
        raise RecordingError(f"{path}: not a recording (an SQLite database of something else)")
    if version > SCHEMA_VERSION:
        raise RecordingError(
            f"{path}: recorded by a newer version of the visualiser (format {version}; this one "
            f"reads up to {SCHEMA_VERSION}): open it with that version or a newer one"
        )
    if version < 1:
        raise RecordingError(f"{path}: not a recording (no format version)")


def check_tables(conn: sqlite3.Connection, path: str) -> None:
    for table, columns in REQUIRED_COLUMNS.items():
        try:
            found = {row[1] for row in conn.execute(f"PRAGMA table_info({table})")}
        except sqlite3.DatabaseError as exc:
            raise RecordingError(f"{path}: {describe(exc)}") from None
        missing = columns - found
        if missing:
            raise RecordingError(f"{path}: damaged: table {table!r} lacks {', '.join(sorted(missing))}")


def check_integrity(conn: sqlite3.Connection, path: str) -> None:
    """SQLite's own check of every page: a truncated or overwritten file fails here."""
    try:
        rows = conn.execute("PRAGMA quick_check(1)").fetchall()
    except sqlite3.DatabaseError as exc:
        raise RecordingError(f"{path}: {describe(exc)}") from None
    if rows != [("ok",)]:
        problem = " ".join(str(rows[0][0]).split()) if rows else "no answer"  # SQLite's answer spans lines
        raise RecordingError(f"{path}: damaged (truncated or corrupted): {problem[:200]}")


def open_for_reading(path: str, *, verify: bool = True) -> sqlite3.Connection:
    """A read-only connection to a recording, checked; RecordingError in one line otherwise."""
    check_file(path)
    try:
        conn = connect_read_only(path)
    except sqlite3.Error as exc:
        raise RecordingError(f"{path}: cannot open: {describe(exc)}") from None
    try:
        check_identity(conn, path)
        check_tables(conn, path)
        if verify:
            check_integrity(conn, path)
    except RecordingError:
        conn.close()
        raise
    return conn


def create(conn: sqlite3.Connection) -> None:
    """Lay out a new, empty file. auto_vacuum must be set before the first table exists."""
    conn.execute("PRAGMA auto_vacuum = INCREMENTAL")
    conn.executescript(DDL)
    conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
