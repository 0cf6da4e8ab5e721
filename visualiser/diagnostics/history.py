"""Bounded per-queue depth history over the last 15 minutes, fed by each poll.

Each queue keeps a short list of ``(time, ready, unacked)`` points. Memory stays bounded
on a large broker: points are spaced at least ``window / max_points`` apart (the newest
point is overwritten until the spacing is reached, so the last point is always current),
and a flat run keeps only its two ends. Lists are replaced, never mutated in place, so a
reader on another thread always sees a whole series.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from ..model.entities import Queue

Point = tuple[float, int, int]  # (unix time, messages_ready, messages_unacknowledged)

WINDOW_SECONDS = 15 * 60.0
MAX_POINTS = 180


@dataclass(frozen=True)
class Trend:
    """Depth change over a window: messages a second (positive = growing)."""

    slope: float
    span: float  # seconds actually covered by the points used
    start_ready: int
    end_ready: int


def time_to_drain(ready: int, slope: float) -> float | None:
    """Seconds until the backlog is gone at the current net rate; None means never."""
    if ready <= 0:
        return 0.0
    if slope >= 0:
        return None
    return ready / -slope


class QueueHistory:
    """One vhost's queue depth series."""

    def __init__(self, window: float = WINDOW_SECONDS, max_points: int = MAX_POINTS):
        self.window = window
        self.spacing = window / max_points
        self._series: dict[str, list[Point]] = {}

    def record(self, at: float, queues: Iterable[Queue]) -> None:
        """Add one poll's depths; queues that are gone lose their history."""
        seen = set()
        for queue in queues:
            if queue.messages_ready is None or queue.messages_unacknowledged is None:
                continue  # unknown depths are not history; the queue's old points age out
            seen.add(queue.name)
            old = self._series.get(queue.name, [])
            self._series[queue.name] = self._appended(old, (at, queue.messages_ready, queue.messages_unacknowledged))
        for name in [name for name in self._series if name not in seen]:
            del self._series[name]

    def _appended(self, points: list[Point], point: Point) -> list[Point]:
        horizon = point[0] - self.window
        kept = [p for p in points if p[0] >= horizon] if points and points[0][0] < horizon else list(points)
        if len(kept) >= 2 and (
            self._same(kept[-1], point) and self._same(kept[-2], point) or kept[-1][0] - kept[-2][0] < self.spacing
        ):
            kept[-1] = point  # extend a flat run, or keep the newest point current until spaced
        else:
            kept.append(point)
        return kept

    @staticmethod
    def _same(a: Point, b: Point) -> bool:
        return a[1:] == b[1:]

    def series(self, queue: str) -> list[Point]:
        return list(self._series.get(queue, ()))

    def queues(self) -> list[str]:
        return list(self._series)

    def trend(self, queue: str, seconds: float) -> Trend | None:
        """Depth change over the last `seconds`, from the point in force at the window's start."""
        points = self._series.get(queue)
        if not points or len(points) < 2:
            return None
        end = points[-1]
        start_at = end[0] - seconds
        start = points[0]
        for point in points:
            if point[0] > start_at:
                break
            start = point
        span = end[0] - start[0]
        if span <= 0:
            return None
        return Trend((end[1] - start[1]) / span, span, start[1], end[1])


class HistoryStore:
    """Every vhost's history, for the one thread that records it."""

    def __init__(self, window: float = WINDOW_SECONDS, max_points: int = MAX_POINTS):
        self.window, self.max_points = window, max_points
        self._vhosts: dict[str, QueueHistory] = {}

    def of(self, vhost: str) -> QueueHistory:
        history = self._vhosts.get(vhost)
        if history is None:
            history = self._vhosts[vhost] = QueueHistory(self.window, self.max_points)
        return history

    def get(self, vhost: str) -> QueueHistory | None:
        return self._vhosts.get(vhost)

    def forget_except(self, vhosts: Iterable[str]) -> None:
        keep = set(vhosts)
        for vhost in [v for v in self._vhosts if v not in keep]:
            del self._vhosts[vhost]
