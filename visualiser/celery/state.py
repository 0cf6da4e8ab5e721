"""Bounded Celery state: workers, recent tasks, per task name and per queue figures.

Like celery.events.state, but bounded whatever the event count: recent tasks, workers,
task names and queues are each kept in an LRU of fixed size, runtimes in a fixed-size
reservoir, rates in a minute of one-second buckets. Only the hub thread calls `apply`
and `expire`; readers get JSON-ready copies made on the hub thread.

Workers are online while their heartbeats arrive: a worker whose last heartbeat is older
than `expire_factor` heartbeat intervals (Celery sends one every 2 s) is offline, as is one
that said goodbye with worker-offline. Times are when *we* received the event, so a
worker's clock skew cannot keep it alive or kill it.
"""

from __future__ import annotations

import time
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, fields
from typing import Any

TASK_STATES = ("sent", "received", "started", "succeeded", "failed", "retried", "revoked", "rejected")
TERMINAL = frozenset({"succeeded", "failed", "revoked", "rejected"})
STATE_OF = {"task-" + state: state for state in TASK_STATES}
DEFAULT_FREQ = 2.0
RATE_WINDOW = 60  # seconds of one-second buckets behind each rate
RUNTIME_SAMPLES = 512
TIMELINE_LENGTH = 16  # state changes kept per task: a few retries' worth
# Fields a row of the task list needs; args, kwargs, result, traceback and the timeline are
# read one task at a time (GET /api/tasks/<uuid>).
SUMMARY_FIELDS = (
    "uuid",
    "name",
    "state",
    "worker",
    "queue",
    "exchange",
    "routing_key",
    "retries",
    "runtime",
    "exception",
    "sent",
    "received",
    "started",
    "finished",
    "updated",
)


class LRU(OrderedDict[Any, Any]):
    """An OrderedDict that forgets its least recently touched entries beyond `limit`."""

    def __init__(self, limit: int, on_evict: Callable[[Any], None] | None = None):
        super().__init__()
        self.limit, self.on_evict = limit, on_evict

    def touch(self, key: Any, make: Callable[..., Any], *args: Any) -> Any:
        """The value for key, made with make(*args) if missing; marks it most recent."""
        value = self.get(key)
        if value is None:
            value = self[key] = make(*args)
            while len(self) > self.limit:
                _, old = self.popitem(last=False)
                if self.on_evict:
                    self.on_evict(old)
        else:
            self.move_to_end(key)
        return value


@dataclass(slots=True, eq=False)
class WorkerState:
    hostname: str
    first_seen: float
    pid: int | None = None
    freq: float = DEFAULT_FREQ
    sw_ident: str = ""
    sw_ver: str = ""
    sw_sys: str = ""
    active: int = 0
    processed: int = 0
    succeeded: int = 0
    failed: int = 0
    retried: int = 0
    loadavg: list[float] = field(default_factory=list)
    pool: int | None = None  # only known from `inspect stats` (opt-in)
    online: bool = False
    last_heartbeat: float | None = None
    offline_since: float | None = None
    queues: dict[str, str] = field(default_factory=dict)  # queue -> how we learned it ("broker", "tasks", "inspect")

    def __post_init__(self) -> None:
        if self.offline_since is None and not self.online:
            self.offline_since = self.first_seen

    def to_json(self) -> dict[str, Any]:
        data = {f.name: getattr(self, f.name) for f in fields(self)}
        data["queues"] = sorted(self.queues)
        data["queue_sources"] = dict(sorted(self.queues.items()))
        return data


@dataclass(slots=True, eq=False)
class TaskRecord:
    """One task as its events told it: every field None until an event says otherwise."""

    uuid: str
    name: str | None = None
    state: str | None = None
    args: str | None = None
    kwargs: str | None = None
    result: str | None = None
    exception: str | None = None
    traceback: str | None = None
    worker: str | None = None
    queue: str | None = None
    exchange: str | None = None
    routing_key: str | None = None
    retries: int | None = None
    runtime: float | None = None
    sent: float | None = None
    received: float | None = None
    started: float | None = None
    finished: float | None = None
    updated: float | None = None
    parent_id: str | None = None
    root_id: str | None = None
    pending_queue: str | None = None  # the queue whose waiting count includes it (internal)
    timeline: list[tuple[str, float]] = field(default_factory=list)  # (state, event time), newest last

    def to_json(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name not in _INTERNAL_FIELDS}

    def summary_json(self) -> dict[str, Any]:
        """What a row of the task list shows."""
        return {name: getattr(self, name) for name in SUMMARY_FIELDS}

    def detail_json(self) -> dict[str, Any]:
        """Everything known of the task, with its state changes in the order they happened
        (by the event's own timestamp; ties in the order Celery goes through them)."""
        ordered = sorted(self.timeline, key=lambda step: (step[1], _STEP_ORDER.get(step[0], 9)))
        return {**self.to_json(), "timeline": [{"state": state, "time": at} for state, at in ordered]}


_INTERNAL_FIELDS = frozenset({"pending_queue", "timeline"})
_STEP_ORDER = {
    "sent": 0,
    "received": 1,
    "started": 2,
    "retried": 3,
    "succeeded": 4,
    "failed": 4,
    "revoked": 4,
    "rejected": 4,
}


class NameStats:
    """Per task name: counts by state since start, a minute of rates, recent runtimes."""

    __slots__ = ("counts", "buckets", "runtimes")

    def __init__(self) -> None:
        self.counts: dict[str, int] = dict.fromkeys(TASK_STATES, 0)
        self.buckets: deque[tuple[int, dict[str, int]]] = deque()
        self.runtimes: deque[float] = deque(maxlen=RUNTIME_SAMPLES)

    def count(self, state: str, now: float) -> None:
        self.counts[state] += 1
        second = int(now)
        if not self.buckets or self.buckets[-1][0] != second:
            self.buckets.append((second, {}))
            while self.buckets[0][0] <= second - RATE_WINDOW:
                self.buckets.popleft()
        bucket = self.buckets[-1][1]
        bucket[state] = bucket.get(state, 0) + 1

    def recent(self, now: float) -> dict[str, int]:
        """Events by state over the last RATE_WINDOW seconds."""
        recent: dict[str, int] = {}
        for second, bucket in self.buckets:
            if second > now - RATE_WINDOW:
                for state, n in bucket.items():
                    recent[state] = recent.get(state, 0) + n
        return recent

    def to_json(self, now: float) -> dict[str, Any]:
        recent = self.recent(now)
        return {
            "counts": dict(self.counts),
            "rates": {state: round(n / RATE_WINDOW, 3) for state, n in recent.items()},
            "runtime": percentiles(self.runtimes),
        }


def percentiles(samples: Iterable[float]) -> dict[str, float] | None:
    ordered = sorted(samples)
    if not ordered:
        return None

    def at(fraction: float) -> float:
        return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]

    return {"p50": at(0.5), "p90": at(0.9), "p99": at(0.99), "max": ordered[-1], "samples": len(ordered)}


class CeleryState:
    def __init__(
        self,
        max_tasks: int = 10_000,
        max_workers: int = 500,
        max_names: int = 1000,
        max_queues: int = 1000,
        expire_factor: float = 2.5,
        clock: Callable[[], float] = time.time,
    ):
        self.tasks: LRU = LRU(max_tasks, on_evict=self._forget_pending)
        self.workers: LRU = LRU(max_workers)
        self.names: LRU = LRU(max_names)
        self.all_tasks = NameStats()  # every task, whatever its name: the last minute's counts
        self.pending: LRU = LRU(max_queues)  # queue -> tasks sent but not yet received
        self.expire_factor = expire_factor
        self.clock = clock
        self.events_applied = 0
        # Queues Celery publishes to through the AMQP default exchange (its usual way when a
        # task is routed by queue name): the graph draws those implicit bindings.
        self.default_routed: LRU = LRU(max_queues)
        self.graph_changed = False  # set when the graph needs a refresh (online/offline, queues)

    # ---- applying events ---------------------------------------------------------------
    def apply(self, event: dict[str, Any]) -> TaskRecord | None:
        """Fold one normalised event in; returns the task it touched, if any."""
        self.events_applied += 1
        kind = event["type"]
        if kind.startswith("worker-"):
            self._apply_worker(event)
            return None
        return self._apply_task(event)

    def _worker(self, hostname: str, now: float) -> WorkerState:
        before = len(self.workers)
        worker: WorkerState = self.workers.touch(hostname, WorkerState, hostname, now)
        if len(self.workers) != before:
            self.graph_changed = True
        return worker

    def _apply_worker(self, event: dict[str, Any]) -> None:
        now = event["received"]
        worker = self._worker(event["hostname"], now)
        for key in ("pid", "freq", "sw_ident", "sw_ver", "sw_sys", "active", "processed", "loadavg"):
            if key in event:
                setattr(worker, key, event[key])
        if not worker.freq or worker.freq <= 0:
            worker.freq = DEFAULT_FREQ
        if event["type"] == "worker-offline":
            self._set_online(worker, False, now)
        else:
            worker.last_heartbeat = now
            self._set_online(worker, True, now)

    def _set_online(self, worker: WorkerState, online: bool, now: float) -> None:
        if worker.online != online:
            worker.online = online
            worker.offline_since = None if online else now
            self.graph_changed = True

    def _apply_task(self, event: dict[str, Any]) -> TaskRecord:
        now = event["received"]
        state = STATE_OF[event["type"]]
        task: TaskRecord = self.tasks.touch(event["uuid"], TaskRecord, event["uuid"])
        self._merge_fields(task, event, state)
        previous = task.state
        if _advances(previous, state):
            task.state = state
        task.updated = now
        self._track_pending(task, state)
        if state == "sent" and task.exchange == "" and task.queue and task.queue not in self.default_routed:
            self.default_routed.touch(task.queue, bool, True)
            self.graph_changed = True
        if state in ("received", "started", "succeeded", "failed", "retried") and "hostname" in event:
            self._credit_worker(task, event, state, now)
        self.all_tasks.count(state, now)
        if task.name:
            stats = self.names.touch(task.name, NameStats)
            stats.count(state, now)
            if state == "succeeded" and task.runtime is not None:
                stats.runtimes.append(task.runtime)
        return task

    def _merge_fields(self, task: TaskRecord, event: dict[str, Any], state: str) -> None:
        for key, value in event.items():  # a handful of keys: cheaper than testing every field
            if key in _TASK_FIELDS:
                setattr(task, key, value)
        stamp = event.get("timestamp", event["received"])
        task.timeline.append((state, stamp))
        if len(task.timeline) > TIMELINE_LENGTH:
            del task.timeline[0]
        if state == "sent":
            task.sent = stamp
        elif state == "received":
            task.received = stamp
        elif state == "started":
            task.started = stamp
        elif state in TERMINAL or state == "retried":
            task.finished = stamp

    def _track_pending(self, task: TaskRecord, state: str) -> None:
        if state == "sent" and task.queue:
            waiting = self.pending.touch(task.queue, int)
            if task.state == "sent" and task.pending_queue is None:
                task.pending_queue = task.queue
                self.pending[task.queue] = waiting + 1
        elif state != "sent":
            self._forget_pending(task)

    def _forget_pending(self, task: TaskRecord) -> None:
        queue, task.pending_queue = task.pending_queue, None
        if queue is not None and queue in self.pending:
            self.pending[queue] = max(0, self.pending[queue] - 1)

    def _credit_worker(self, task: TaskRecord, event: dict[str, Any], state: str, now: float) -> None:
        worker = self._worker(event["hostname"], now)
        task.worker = worker.hostname
        if state == "received" and task.queue and task.queue not in worker.queues:
            worker.queues[task.queue] = "tasks"
            self.graph_changed = True
        if state == "succeeded":
            worker.succeeded += 1
        elif state == "failed":
            worker.failed += 1
        elif state == "retried":
            worker.retried += 1

    # ---- time passing (hub ticker) ---------------------------------------------------------
    def expire(self, now: float | None = None) -> bool:
        """Mark workers whose heartbeats stopped as offline; True when any changed."""
        now = self.clock() if now is None else now
        changed = False
        for worker in self.workers.values():
            heard = worker.last_heartbeat
            if worker.online and heard is not None and now - heard > worker.freq * self.expire_factor:
                worker.online = False
                worker.offline_since = now
                changed = True
        self.graph_changed |= changed
        return changed

    def learn_queues(self, hostname: str, queues: Iterable[str], how: str) -> None:
        worker = self.workers.get(hostname)
        if worker is None:
            return
        for queue in queues:
            if worker.queues.get(queue) != how and worker.queues.get(queue) != "broker":
                worker.queues[queue] = how
                self.graph_changed = True

    # ---- reading (hub thread) -----------------------------------------------------------------
    def workers_json(self) -> list[dict[str, Any]]:
        return [worker.to_json() for worker in sorted(self.workers.values(), key=lambda w: w.hostname)]

    def tasks_json(
        self, limit: int, filters: dict[str, str] | None = None, *, summary: bool = False
    ) -> list[dict[str, Any]]:
        """Most recently updated first, optionally filtered (see TaskQuery); `summary` keeps
        only what a row of the task list shows."""
        query = TaskQuery.of(filters or {})
        found = []
        for task in reversed(self.tasks.values()):
            if query.matches(task):
                found.append(task.summary_json() if summary else task.to_json())
                if len(found) >= limit:
                    break
        return found

    def task_json(self, uuid: str) -> dict[str, Any] | None:
        """One task with everything known of it, or None when it is not (or no longer) kept."""
        task: TaskRecord | None = self.tasks.get(uuid)  # get, not touch: reading does not make it recent
        return task.detail_json() if task is not None else None

    def failed_tasks(self) -> Iterator[TaskRecord]:
        """Failed tasks still kept, most recently updated first."""
        return (task for task in reversed(self.tasks.values()) if task.state == "failed")

    def recent_json(self) -> dict[str, Any]:
        """Task events by state over the last minute (the Tasks tab's count: failed)."""
        return {"window": RATE_WINDOW, "counts": self.all_tasks.recent(self.clock())}

    def stats_json(self) -> dict[str, Any]:
        now = self.clock()
        return {
            "task_names": {name: stats.to_json(now) for name, stats in sorted(self.names.items())},
            "queues": {queue: {"sent_not_received": n} for queue, n in sorted(self.pending.items())},
            "events_applied": self.events_applied,
            "tasks_kept": len(self.tasks),
            "tasks_limit": self.tasks.limit,
        }


@dataclass(frozen=True, slots=True)
class TaskQuery:
    """Which tasks a list asks for: exact name, state, worker and queue; a task id, whole or
    its first characters; or `search`, a task id prefix or part of a task name (any case)."""

    name: str = ""
    state: str = ""
    worker: str = ""
    queue: str = ""
    uuid: str = ""
    uuid_prefix: str = ""
    search: str = ""

    @classmethod
    def of(cls, filters: dict[str, str]) -> TaskQuery:
        known = {f.name for f in fields(cls)}
        return cls(**{key: value for key, value in filters.items() if key in known and value})

    def matches(self, task: TaskRecord) -> bool:
        for key in ("name", "state", "worker", "queue", "uuid"):
            wanted = getattr(self, key)
            if wanted and getattr(task, key) != wanted:
                return False
        if self.uuid_prefix and not task.uuid.startswith(self.uuid_prefix):
            return False
        if self.search:
            needle = self.search.strip().lower()
            in_name = task.name is not None and needle in task.name.lower()
            if not (task.uuid.lower().startswith(needle) or in_name):
                return False
        return True


_TASK_FIELDS = frozenset(
    {
        "name",
        "args",
        "kwargs",
        "queue",
        "exchange",
        "routing_key",
        "retries",
        "runtime",
        "parent_id",
        "root_id",
        "result",
        "exception",
        "traceback",
    }
)
_ORDER = {"sent": 0, "received": 1, "started": 2, "retried": 3}


def _advances(previous: str | None, state: str) -> bool:
    """Events arrive out of order (producer and worker publish separately): never move a
    finished task back, and among unfinished states keep the furthest along, except that a
    retried task is received again."""
    if previous is None:
        return True
    if previous in TERMINAL:
        return False
    if state in TERMINAL:
        return True
    if previous == "retried":
        return state in ("received", "started")
    return _ORDER[state] >= _ORDER[previous]
