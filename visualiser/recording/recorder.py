"""Always-on recording of what the page shows, at no cost to the hub beyond an enqueue.

The hub is left as it is: the recorder wraps the hub's emitter (``tap``), which sees every
frame the page is sent (patches, findings, activity, statuses, vhost removals), and listens
to topology changes (``on_view``) for the keyframes: every ``KEYFRAME_SECONDS`` per vhost, or
sooner when the writer asks (after a gap). Both run on the hub thread and only put the frame
(a reference: frames and graphs are never changed once sent) on a bounded queue; when the
queue is full the item is dropped and counted, and the next view of each vhost is a keyframe
so the recording heals. One writer thread takes batches off the queue (at most
``BATCH_SECONDS`` apart, so a crash loses under a second) and writes each in one transaction.

A write that fails (the disk is full, the file went away) pauses the recording: its status
says why (``/healthz``, the page), the live view goes on, and the writer tries again every
``RETRY_SECONDS``, then starts a new span of the recording.
"""

from __future__ import annotations

import contextlib
import logging
import os
import queue
import sqlite3
import threading
import time
from collections.abc import Callable
from typing import Any, Protocol

from ..hub import Emitter, VhostView
from ..metrics import Metrics
from ..sources.status import SourceStatus
from .lock import FileLock
from .schema import RecordingError
from .store import Store, is_disk_full
from .writer import Item, Writer

log = logging.getLogger(__name__)

SOURCE = "recording"
RECORDED_EVENTS = frozenset({"patch", "findings", "activity", "status", "vhost-removed"})
QUEUE_ITEMS = 5000  # about 15 minutes of a busy vhost's frames: room for a slow disk, not for a stuck one
BATCH_SECONDS = 0.25
BATCH_ITEMS = 2000
HEARTBEAT_SECONDS = 2.0  # an idle recording still marks itself alive this often
KEYFRAME_SECONDS = 300.0
RETAIN_SECONDS = 60.0  # retention runs this often (and at start)
RETRY_SECONDS = 15.0
STATUS_SECONDS = 60.0
_STOP = object()


class HubSide(Protocol):
    """What the recorder uses of the hub: its figures and its status door."""

    @property
    def metrics(self) -> Metrics: ...

    def broker_info(self) -> Any: ...

    @property
    def topology_source(self) -> str | None: ...

    def publish_status(self, status: SourceStatus) -> None: ...


class Recorder:
    def __init__(
        self,
        path: str,
        hub: HubSide,
        *,
        mode: str,
        max_hours: float = 24.0,
        max_mb: float = 500.0,
        queue_items: int = QUEUE_ITEMS,
        clock: Callable[[], float] = time.time,
    ):
        self.path, self.hub, self.clock = path, hub, clock
        self.max_age, self.max_bytes = max_hours * 3600.0, int(max_mb * 1024 * 1024)
        self._lock = FileLock(path)
        try:
            os.makedirs(os.path.dirname(os.path.abspath(path)), mode=0o700, exist_ok=True)
            self._lock.acquire(path)
        except OSError as exc:
            raise RecordingError(
                f"{path}: cannot record there ({exc.strerror or exc}); give --record a file in a "
                "directory this user can write, or --no-record"
            ) from None
        try:
            self.store = Store(path)
        except OSError as exc:
            self._lock.release()
            raise RecordingError(
                f"{path}: cannot record there ({exc.strerror or exc}); give --record a file in a "
                "directory this user can write, or --no-record"
            ) from None
        except BaseException:
            self._lock.release()
            raise
        self.writer = Writer(self.store, mode, self._want_keyframe, skip_sources=(SOURCE,))
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=queue_items)
        self._keyframe_due: dict[str, float] = {}
        self._wanted: set[str] = set()
        self.dropped = 0  # items the hub could not enqueue (the queue was full)
        self.lost_while_paused = 0
        self.state, self.message = "starting", ""
        self.committed: float | None = None  # time of the last item committed
        self.used_bytes = 0
        self._since = clock()
        self._next_retry = 0.0
        self._thread = threading.Thread(target=self._run, name="recorder", daemon=True)
        self._stopping = threading.Event()

    # ---- the hub thread ---------------------------------------------------------------------------
    def tap(self, emit: Emitter) -> Emitter:
        """The hub's emitter, recording what it sends."""

        def tapped(event: str, data: Any, to: str | None = None) -> None:
            if event in RECORDED_EVENTS and isinstance(data, dict):
                self._record_frame(event, data)
            emit(event, data, to=to)

        return tapped

    def _record_frame(self, event: str, data: dict[str, Any]) -> None:
        scope = data.get("source") if event == "status" else data.get("vhost")
        if not isinstance(scope, str) or scope == SOURCE:
            return
        if event == "vhost-removed":
            self._keyframe_due.pop(scope, None)
        self._put((self.clock(), event, scope, data))

    def on_view(self, view: VhostView) -> None:
        """After each topology change: a keyframe's graph when one is due for this vhost."""
        now = time.monotonic()
        due = self._keyframe_due.get(view.vhost)
        if due is not None and now < due and view.vhost not in self._wanted:
            return
        if self._put(
            (
                self.clock(),
                "view",
                view.vhost,
                (view.version, view.graph, self.hub.broker_info(), self.hub.topology_source),
            )
        ):
            self._keyframe_due[view.vhost] = now + KEYFRAME_SECONDS
            self._wanted.discard(view.vhost)

    def _put(self, item: Item) -> bool:
        try:
            self._queue.put_nowait(item)
            return True
        except queue.Full:
            self.dropped += 1
            self.hub.metrics.inc("visualiser_recording_dropped_total")
            self._keyframe_due.clear()  # the chain is broken: every vhost starts again from a keyframe
            return False

    def _want_keyframe(self, vhost: str) -> None:
        self._wanted.add(vhost)

    # ---- lifecycle -------------------------------------------------------------------------------
    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Write what is queued, close the span, release the file."""
        if self._thread.is_alive():
            self._stopping.set()
            with contextlib.suppress(queue.Full):  # the writer sees _stopping after its current batch
                self._queue.put(_STOP, timeout=timeout)
            self._thread.join(timeout)
        if not self._thread.is_alive():
            self.store.close()
            self._lock.release()
            self.state = "stopped"

    def sync(self, timeout: float = 10.0) -> bool:
        """Wait until everything queued so far is committed (or given up, when paused)."""
        done = threading.Event()
        try:
            self._queue.put((self.clock(), "sync", "", done), timeout=timeout)
        except queue.Full:
            return False
        return done.wait(timeout)

    def info(self) -> dict[str, Any]:
        return {
            "state": self.state,
            "message": self.message,
            "file": os.path.basename(self.path),
            "max_hours": self.max_age / 3600.0,
            "max_mb": self.max_bytes / (1024 * 1024),
            "used_bytes": self.used_bytes,
            "dropped": self.dropped,
            "lost_while_paused": self.lost_while_paused,
            "queued": self._queue.qsize(),
            "committed": self.committed,
        }

    # ---- the writer thread ------------------------------------------------------------------------
    def _run(self) -> None:
        self._open_span()
        next_retention = 0.0
        next_status = time.monotonic() + STATUS_SECONDS
        while True:
            batch, stopping = self._take_batch()
            if self.state == "paused":
                self.lost_while_paused += sum(1 for item in batch if item[1] != "sync")
                self._retry()
            else:
                self._write(batch)
            for _t, kind, _scope, done in batch:
                if kind == "sync":
                    done.set()
            if time.monotonic() >= next_retention and self.state == "recording":
                next_retention = time.monotonic() + RETAIN_SECONDS
                self._retain()
            if time.monotonic() >= next_status:
                next_status = time.monotonic() + STATUS_SECONDS
                self._publish_status()
            if stopping or (self._stopping.is_set() and self._queue.empty()):
                break
        self._close_span()

    def _take_batch(self) -> tuple[list[Item], bool]:
        items: list[Item] = []
        try:
            first = self._queue.get(timeout=HEARTBEAT_SECONDS)
        except queue.Empty:
            return items, False
        if first is _STOP:
            return items, True
        items.append(first)
        deadline = time.monotonic() + BATCH_SECONDS
        while len(items) < BATCH_ITEMS:
            try:
                item = self._queue.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                break
            if item is _STOP:
                return items, True
            items.append(item)
        return items, False

    def _write(self, batch: list[Item]) -> None:
        started = time.perf_counter()
        now = self.clock()
        try:
            with self.store.transaction():
                self.writer.write(batch)
                self.writer.flush(now)
                assert self.writer.session is not None
                self.store.touch_session(self.writer.session, now, min((item[0] for item in batch), default=None))
        except (sqlite3.Error, OSError) as exc:
            self._pause(exc, len(batch))
            return
        if batch:
            self.committed = batch[-1][0]
            self.hub.metrics.observe("visualiser_recording_batch_seconds", time.perf_counter() - started)
            self.hub.metrics.inc("visualiser_recording_items_total", len(batch))

    def _open_span(self) -> None:
        try:
            with self.store.transaction():
                self.writer.begin(self.clock())
            self.used_bytes = self.store.used_bytes()
        except (sqlite3.Error, OSError) as exc:
            self._pause(exc, 0)
            return
        self.state, self.message, self._since = "recording", "", self.clock()
        self._keyframe_due.clear()
        self._publish_status()

    def _close_span(self) -> None:
        if self.state != "recording":
            return
        try:
            with self.store.transaction():
                self.writer.end(self.clock())
        except (sqlite3.Error, OSError) as exc:
            log.warning("recording: the last second was not written: %s", exc)

    def _pause(self, exc: BaseException, lost: int) -> None:
        self.lost_while_paused += lost
        if is_disk_full(exc):
            self.message = (
                f"recording paused: the disk holding {os.path.basename(self.path)} is full (free some "
                f"space or lower --record-max-mb); the live view goes on"
            )
        else:
            self.message = f"recording paused: {exc}; the live view goes on"
        if self.state != "paused":
            log.error("%s", self.message)
            self.state = "paused"
            self._since = self.clock()
            self._next_retry = time.monotonic() + RETRY_SECONDS
            self._publish_status()

    def _retry(self) -> None:
        if time.monotonic() < self._next_retry:
            return
        self._next_retry = time.monotonic() + RETRY_SECONDS
        self._retain()  # deleting old moments may make the room
        self._open_span()
        if self.state == "recording":
            log.info("recording resumed: a new span begins")

    def _retain(self) -> None:
        try:
            retained = self.store.retain(self.clock(), self.max_age, self.max_bytes)
        except (sqlite3.Error, OSError) as exc:
            if self.state == "recording":
                self._pause(exc, 0)
            return
        self.used_bytes = retained.used_bytes
        self.hub.metrics.set_gauge("visualiser_recording_bytes", retained.used_bytes)

    def _publish_status(self) -> None:
        detail = (
            f"recording to {os.path.basename(self.path)} (keeps {self.max_age / 3600:g} h, "
            f"{self.max_bytes / (1024 * 1024):g} MB)"
        )
        state = "ok" if self.state == "recording" else "error"
        extra = {"dropped": self.dropped, "lost_while_paused": self.lost_while_paused, "used_bytes": self.used_bytes}
        self.hub.publish_status(
            SourceStatus(SOURCE, state, detail, self.committed, self.message or None, self._since, extra)
        )
