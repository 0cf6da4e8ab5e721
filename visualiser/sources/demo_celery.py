"""Simulated Celery workers for the demo: the shop's back office, told as Celery events.

Four workers, each on its own queues, run the tasks of the shop's Celery app
(``demo_app``): orders are confirmed and stock reserved, cards charged (a few declined, a
few retried when the payment gateway times out, a malformed one now and then rejected,
captures of cancelled orders revoked), receipts e-mailed, reports written. Two troubles
are part of the story, so that a person finds them on the page:

- ``worker-emails@demo`` is redeployed every few minutes: it stops taking tasks, finishes
  the ones it holds, says goodbye (worker-offline) and stays away for a minute and a half
  while its queue backs up, then comes back and drains it;
- ``worker-reports@demo`` (one process) has been busy with a year-end export since before
  the demo opened; the reports it prefetched wait, unacknowledged, behind it.

And one mistake: ``shop.loyalty.award_points`` is published with a key nothing is bound to,
so the broker drops it and those tasks stay "sent" for ever.

Events are raw Celery events, with the fields a worker or producer puts on the wire, passed
through the same ``normalise`` the events consumer uses: the monitor cannot tell them from
real ones. Workers acknowledge a task when it starts (Celery's default), so a queue's
unacknowledged messages are the tasks its workers hold but have not started. Everything is
drawn from one seeded random generator and the times it is given, so a test replays the
same story.
"""

from __future__ import annotations

import heapq
import json
import math
import random
import uuid
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..celery.events import normalise

PRODUCER = "shop-web@demo"
HEARTBEAT_SECONDS = 2.0
PREFETCH_MULTIPLIER = 4  # Celery's default: each process may hold four tasks more
RETRY_COUNTDOWN = 5.0
RATE_PERIOD = 120.0  # seconds of one swell and lull in the shop's traffic
MAX_CATCH_UP = 5.0  # seconds of traffic one step may make up
SOFTWARE = {"sw_ident": "py-celery", "sw_ver": "5.7.0", "sw_sys": "Linux"}
TRACE_HEAD = (
    "Traceback (most recent call last):\n"
    '  File "/srv/shop/.venv/lib/python3.12/site-packages/celery/app/trace.py", line 453, in trace_task\n'
    "    R = retval = fun(*args, **kwargs)\n"
)


@dataclass(frozen=True)
class Ending:
    """A way a task ends other than success, and the share of its runs that end so."""

    state: str  # "failed" | "retried" | "rejected" | "revoked"
    share: float
    exception: str = ""  # the exception's repr, as Celery reports it
    raised_at: str = ""  # the traceback's last frame and the exception line

    def traceback(self) -> str:
        return TRACE_HEAD + self.raised_at


@dataclass(frozen=True)
class TaskKind:
    """One of the shop's tasks: where Celery publishes it, how often, how long it runs."""

    name: str
    queue: str | None  # the queue Celery names; None when routed by exchange and key only
    exchange: str
    routing_key: str
    rate: float  # sent per second, on average
    runtime: tuple[float, float]  # seconds, drawn uniformly
    args: str  # a template over the task's facts: {order}, {amount}, {address}, {day}
    result: str
    endings: tuple[Ending, ...] = ()


def swell(seconds: float) -> float:
    """How busy the shop is, `seconds` into the demo: traffic rises and falls by half, together
    on every edge, so rates visibly move."""
    return 1.0 + 0.5 * math.sin(2 * math.pi * seconds / RATE_PERIOD)


def _default(queue: str) -> tuple[str, str, str]:
    """Celery publishes to a direct queue through the default exchange, keyed by its name."""
    return queue, "", queue


KINDS: tuple[TaskKind, ...] = (
    TaskKind("shop.orders.confirm", *_default("celery"), 2.0, (0.05, 0.3), "({order},)", "'order {order} confirmed'"),
    TaskKind(
        "shop.orders.reserve_stock",
        *_default("celery"),
        2.0,
        (0.1, 0.6),
        "({order}, 'WAREHOUSE-1')",
        "'reserved stock for order {order}'",
        (
            Ending(
                "retried",
                0.05,
                "Retry(Retry(...), StockServiceDown('WAREHOUSE-1: stock service timed out'), 5)",
                '  File "/srv/shop/shop/orders.py", line 61, in reserve_stock\n'
                '    raise self.retry(exc=StockServiceDown(f"{warehouse}: stock service timed out"), countdown=5)\n'
                "celery.exceptions.Retry: Retry in 5s: StockServiceDown('WAREHOUSE-1: stock service timed out')\n",
            ),
        ),
    ),
    TaskKind(
        "shop.payments.charge",
        *_default("payments"),
        2.5,
        (0.2, 1.2),
        "({order}, {amount})",
        "'charged order {order}: {amount} cents'",
        (
            Ending(
                "failed",
                0.07,
                "CardDeclined('card ending 4242 was declined')",
                '  File "/srv/shop/shop/payments.py", line 42, in charge\n'
                '    raise CardDeclined(f"card ending {card.last4} was declined")\n'
                "shop.payments.CardDeclined: card ending 4242 was declined\n",
            ),
            Ending(
                "retried",
                0.06,
                "Retry(Retry(...), GatewayTimeout('payment gateway did not answer in 10s'), 5)",
                '  File "/srv/shop/shop/payments.py", line 47, in charge\n'
                '    raise self.retry(exc=GatewayTimeout("payment gateway did not answer in 10s"), countdown=5)\n'
                "celery.exceptions.Retry: Retry in 5s: GatewayTimeout('payment gateway did not answer in 10s')\n",
            ),
            Ending("rejected", 0.02),
        ),
    ),  # a malformed order: Reject(requeue=False)
    TaskKind(
        "shop.payments.capture",
        *_default("payments"),
        0.4,
        (0.2, 0.5),
        "({order},)",
        "'captured order {order}'",
        (Ending("revoked", 0.3),),
    ),
    TaskKind("shop.payments.refund", *_default("payments"), 0.3, (0.2, 0.8), "({order},)", "'refunded order {order}'"),
    TaskKind(
        "shop.emails.send_receipt",
        *_default("emails"),
        3.0,
        (0.1, 0.5),
        "({order}, '{address}')",
        "'receipt for {order} sent to {address}'",
        (
            Ending(
                "retried",
                0.03,
                "Retry(Retry(...), SMTPServerDisconnected('Connection unexpectedly closed'), 5)",
                '  File "/srv/shop/shop/emails.py", line 30, in send_receipt\n'
                "    raise self.retry(exc=exc, countdown=5)\n"
                "celery.exceptions.Retry: Retry in 5s: "
                "SMTPServerDisconnected('Connection unexpectedly closed')\n",
            ),
        ),
    ),
    TaskKind(
        "shop.emails.send_shipping_notice",
        *_default("emails"),
        1.0,
        (0.1, 0.4),
        "({order}, '{address}')",
        "'shipping notice for {order} sent to {address}'",
    ),
    TaskKind(
        "shop.reports.daily_summary",
        *_default("reporting"),
        0.05,
        (20.0, 40.0),
        "('{day}',)",
        "'summary for {day} written'",
    ),
    TaskKind(
        "shop.reports.export_sales",
        *_default("reporting"),
        0.0,
        (3600.0, 3600.0),
        "('year-end',)",
        "'sales for year-end exported as xlsx'",
    ),
    TaskKind(
        "shop.loyalty.award_points",
        None,
        "loyalty",
        "loyalty.award",
        0.5,
        (0.05, 0.1),
        "({order}, 120)",
        "'120 points for order {order}'",
    ),
)
KIND = {kind.name: kind for kind in KINDS}
CELERY_QUEUES = ("celery", "payments", "emails", "reporting", "loyalty.points")


@dataclass(frozen=True)
class WorkerPlan:
    hostname: str
    queues: tuple[str, ...]
    concurrency: int
    pid: int
    address: str  # its AMQP connection's peer (a documentation address: plainly not real)
    processed: int  # tasks it ran before the demo opened

    @property
    def prefetch(self) -> int:
        return self.concurrency * PREFETCH_MULTIPLIER


WORKERS: tuple[WorkerPlan, ...] = (
    WorkerPlan("worker-orders@demo", ("celery", "loyalty.points"), 8, 4101, "192.0.2.11:50412", 4210),
    WorkerPlan("worker-payments@demo", ("payments",), 4, 4102, "192.0.2.12:50418", 2733),
    WorkerPlan("worker-emails@demo", ("emails",), 4, 4103, "192.0.2.13:50431", 3120),
    WorkerPlan("worker-reports@demo", ("reporting",), 1, 4104, "192.0.2.14:50447", 41),
)


@dataclass(frozen=True)
class Outage:
    """A worker that leaves at `first` seconds into the story, for `length`, every `every`."""

    hostname: str = "worker-emails@demo"
    first: float = 15.0
    length: float = 90.0
    every: float = 180.0

    def away(self, story: float) -> bool:
        return story >= self.first and (story - self.first) % self.every < self.length


@dataclass(frozen=True)
class Backlog:
    """A worker stuck before the demo opened: one task running for `running_for` seconds and
    tasks it received `waiting` seconds ago, none of them started."""

    hostname: str = "worker-reports@demo"
    running: str = "shop.reports.export_sales"
    running_for: float = 420.0
    waiting: str = "shop.reports.daily_summary"
    waiting_for: tuple[float, ...] = (190.0, 160.0, 130.0, 100.0)


@dataclass(eq=False)
class SimTask:
    uuid: str
    kind: TaskKind
    facts: dict[str, Any]  # what its args and result are made of
    retries: int = 0
    sender: str = PRODUCER  # who publishes it: the shop, or the worker that retries it
    ending: Ending | None = None  # decided when it starts; None: it succeeds
    started: float = 0.0
    ends: float = math.inf

    @property
    def args(self) -> str:
        return self.kind.args.format(**self.facts)


@dataclass(eq=False)
class SimWorker:
    plan: WorkerPlan
    processed: int
    reserved: deque[SimTask] = field(default_factory=deque)  # received, not started: unacked
    running: list[SimTask] = field(default_factory=list)
    online: bool = True
    consuming: bool = True
    next_heartbeat: float = 0.0
    load: float = 0.0
    turn: int = 0  # which of its queues it takes from next


@dataclass
class Flow:
    """What the workers and producers did to the broker since it last looked."""

    published: Counter[str] = field(default_factory=Counter)  # queue -> messages in
    delivered: Counter[str] = field(default_factory=Counter)  # queue -> messages to a worker
    acked: Counter[str] = field(default_factory=Counter)
    exchange_in: Counter[str] = field(default_factory=Counter)
    exchange_out: Counter[str] = field(default_factory=Counter)  # routed to some queue
    events: int = 0  # Celery events published (to the celeryev exchange)


@dataclass(frozen=True)
class Sent:
    """A message the demo puts on its broker, for its simulated firehose trace (tracing/demo.py):
    where it was published and routed, by whom, and what it carries."""

    exchange: str
    routing_key: str
    queues: tuple[str, ...]  # where the broker routes it (empty: dropped)
    sender: str  # who publishes it: one of the shop's applications, or a Celery worker or producer
    headers: dict[str, Any]
    within: float  # seconds of the step it was sent in: the trace spreads the step's messages over them
    properties: dict[str, Any] = field(default_factory=dict)
    body: bytes | None = None  # None: the trace makes one up


@dataclass(frozen=True)
class Taken:
    """A Celery task message delivered to a worker (the shop's other consumers are the trace's to tell)."""

    message: Sent
    queue: str
    worker: str  # hostname


Tap = Callable[[Sent | Taken], None]
EMBED = {"callbacks": None, "errbacks": None, "chain": None, "chord": None}


def task_message(task: SimTask, sender: str, within: float) -> Sent:
    """A task as Celery (message protocol 2) puts it on the broker: headers naming the task,
    its id and retries; the body its arguments."""
    kind = task.kind
    headers = {
        "lang": "py",
        "task": kind.name,
        "id": task.uuid,
        "root_id": task.uuid,
        "parent_id": None,
        "retries": task.retries,
        "origin": sender,
    }
    properties = {
        "content_type": "application/json",
        "content_encoding": "utf-8",
        "correlation_id": task.uuid,
        "delivery_mode": 2,
        "priority": 0,
    }
    body = json.dumps([task.args, {}, EMBED]).encode()
    queues = (kind.queue,) if kind.queue is not None else ()
    return Sent(kind.exchange, kind.routing_key, queues, sender, headers, within, properties, body)


class DemoCelery:
    """The workers, the tasks in flight and the Celery queues' contents; `step` moves them on.
    ``tap``, when set, is told of each task message published and delivered (the demo's trace)."""

    def __init__(self, rng: random.Random, outage: Outage | None = None, backlog: Backlog | None = None):
        self.rng = rng
        self.outage = outage or Outage()
        self.backlog = backlog or Backlog()
        self.queues: dict[str, deque[SimTask]] = {name: deque() for name in CELERY_QUEUES}
        self.workers = {plan.hostname: SimWorker(plan, plan.processed) for plan in WORKERS}
        self.flow = Flow()
        self._owed = dict.fromkeys(KIND, 0.0)  # fractions of a task each kind owes the next step
        self._retries: list[tuple[float, int, SimTask]] = []  # (due, tie-break, task)
        self._raw: list[dict[str, Any]] = []
        self._lamport = 0
        self._order = 10_000
        self._start = 0.0
        self._last = 0.0
        self._seconds = 0.0  # the current step's
        self.tap: Tap | None = None

    # ---- reading (the broker simulation) --------------------------------------------------------
    def take_flow(self) -> Flow:
        flow, self.flow = self.flow, Flow()
        return flow

    def ready(self, queue: str) -> int:
        return len(self.queues[queue])

    def unacked(self, queue: str) -> int:
        return sum(1 for w in self.workers.values() for task in w.reserved if task.kind.queue == queue)

    def consuming(self) -> list[WorkerPlan]:
        """Workers with consumers on the broker right now."""
        return [w.plan for w in self.workers.values() if w.online and w.consuming]

    # ---- time passing ---------------------------------------------------------------------------------
    def begin(self, now: float) -> list[dict[str, Any]]:
        """The events that open the demo: workers already running, the stuck worker's past."""
        self._start = self._last = now
        for worker in self.workers.values():
            self._worker_event("worker-online", worker, now - 900.0)
        self._replay_backlog(now)
        for worker in self.workers.values():
            self._heartbeat(worker, now)
        return self._drain_events()

    def step(self, now: float) -> list[dict[str, Any]]:
        """Advance to `now`; the normalised events of what happened, oldest first."""
        # A stalled thread (a suspended laptop) catches up by a few seconds, not by a flood.
        seconds, self._last = min(max(0.0, now - self._last), MAX_CATCH_UP), now
        self._seconds = seconds
        self._follow_outage(now)
        self._finish(now)
        self._send_due_retries(now)
        self._send_new(now, seconds)
        self._deliver(now)
        self._start_tasks(now)
        for worker in self.workers.values():
            if worker.online and now >= worker.next_heartbeat:
                self._heartbeat(worker, now)
        return self._drain_events()

    # ---- the story ------------------------------------------------------------------------------------
    def _replay_backlog(self, now: float) -> None:
        plan = self.backlog
        worker = self.workers[plan.hostname]
        stuck = self._new_task(KIND[plan.running])
        started = now - plan.running_for
        self._task_event("task-sent", stuck, started - 4.0, PRODUCER, **self._route(stuck))
        self._task_event("task-received", stuck, started - 3.0, worker.plan.hostname, **self._received(stuck))
        self._task_event("task-started", stuck, started, worker.plan.hostname)
        stuck.started = started
        worker.running.append(stuck)
        for age in plan.waiting_for:
            task = self._new_task(KIND[plan.waiting])
            self._task_event("task-sent", task, now - age - 1.0, PRODUCER, **self._route(task))
            self._task_event("task-received", task, now - age, worker.plan.hostname, **self._received(task))
            worker.reserved.append(task)

    def _follow_outage(self, now: float) -> None:
        worker = self.workers.get(self.outage.hostname)
        if worker is None:
            return
        away = self.outage.away(now - self._start)
        if away and worker.online:
            worker.consuming = False  # stops taking tasks, finishes those it holds, then leaves
            if not worker.reserved and not worker.running:
                worker.online = False
                self._worker_event("worker-offline", worker, now)
        elif not away and not worker.online:
            worker.online = worker.consuming = True
            self._worker_event("worker-online", worker, now)
            worker.next_heartbeat = now + HEARTBEAT_SECONDS

    def _send_new(self, now: float, seconds: float) -> None:
        busy = swell(now - self._start)
        for kind in KINDS:
            self._owed[kind.name] += kind.rate * seconds * busy * self.rng.uniform(0.5, 1.5)
            while self._owed[kind.name] >= 1.0:
                self._owed[kind.name] -= 1.0
                self._publish(self._new_task(kind), now, PRODUCER)

    def _send_due_retries(self, now: float) -> None:
        while self._retries and self._retries[0][0] <= now:
            _, _, task = heapq.heappop(self._retries)
            self._publish(task, now, task.sender)

    def _publish(self, task: SimTask, now: float, sender: str) -> None:
        kind = task.kind
        self._task_event("task-sent", task, now, sender, **self._route(task))
        if self.tap is not None:
            self.tap(task_message(task, sender, self._seconds))
        self.flow.exchange_in[kind.exchange] += 1
        if kind.queue is None:
            return  # published with a key nothing is bound to: the broker drops it
        self.flow.exchange_out[kind.exchange] += 1
        self.flow.published[kind.queue] += 1
        self.queues[kind.queue].append(task)

    def _deliver(self, now: float) -> None:
        for worker in self.workers.values():
            if not (worker.online and worker.consuming):
                continue
            queues = worker.plan.queues
            idle_turns = 0
            while len(worker.reserved) < worker.plan.prefetch and idle_turns < len(queues):
                queue = queues[worker.turn % len(queues)]
                worker.turn += 1
                if not self.queues[queue]:
                    idle_turns += 1
                    continue
                idle_turns = 0
                task = self.queues[queue].popleft()
                worker.reserved.append(task)
                self.flow.delivered[queue] += 1
                if self.tap is not None:
                    self.tap(Taken(task_message(task, task.sender, self._seconds), queue, worker.plan.hostname))
                self._task_event("task-received", task, now, worker.plan.hostname, **self._received(task))

    def _start_tasks(self, now: float) -> None:
        for worker in self.workers.values():
            while worker.online and worker.reserved and len(worker.running) < worker.plan.concurrency:
                task = worker.reserved.popleft()
                self.flow.acked[task.kind.queue or ""] += 1
                ending = self._ending(task)
                if ending is not None and ending.state == "revoked":
                    # The order was cancelled: the worker finds the task revoked and skips it.
                    self._task_event("task-revoked", task, now, worker.plan.hostname, terminated=False, expired=False)
                    continue
                task.ending, task.started = ending, now
                task.ends = now + self.rng.uniform(*task.kind.runtime)
                worker.running.append(task)
                worker.processed += 1
                self._task_event("task-started", task, now, worker.plan.hostname)

    def _finish(self, now: float) -> None:
        for worker in self.workers.values():
            done = [task for task in worker.running if task.ends <= now]
            for task in sorted(done, key=lambda t: t.ends):
                worker.running.remove(task)
                self._end(worker, task)

    def _end(self, worker: SimWorker, task: SimTask) -> None:
        ending, task.ending = task.ending, None
        host, at = worker.plan.hostname, task.ends
        if ending is None:
            runtime = round(task.ends - task.started, 6)
            self._task_event(
                "task-succeeded", task, at, host, result=task.kind.result.format(**task.facts), runtime=runtime
            )
        elif ending.state == "rejected":
            self._task_event("task-rejected", task, at, host, requeue=False)
        else:
            self._task_event(
                f"task-{ending.state}", task, at, host, exception=ending.exception, traceback=ending.traceback()
            )
            if ending.state == "retried":
                task.retries += 1
                task.sender = host  # the worker itself publishes the retry
                heapq.heappush(self._retries, (at + RETRY_COUNTDOWN, self._lamport, task))

    def _ending(self, task: SimTask) -> Ending | None:
        if task.retries:
            return None  # the second attempt goes through: the gateway is back
        draw = self.rng.random()
        for ending in task.kind.endings:
            if draw < ending.share:
                return ending
            draw -= ending.share
        return None

    # ---- events -----------------------------------------------------------------------------------------
    def _new_task(self, kind: TaskKind) -> SimTask:
        self._order += 1
        facts = {
            "order": self._order,
            "amount": self.rng.randrange(500, 25_000, 5),
            "address": f"customer{self._order}@example.com",
            "day": "yesterday",
        }
        return SimTask(str(uuid.UUID(int=self.rng.getrandbits(128), version=4)), kind, facts)

    @staticmethod
    def _route(task: SimTask) -> dict[str, Any]:
        kind = task.kind
        return {
            "name": kind.name,
            "args": task.args,
            "kwargs": "{}",
            "retries": task.retries,
            "root_id": task.uuid,
            "parent_id": None,
            "eta": None,
            "expires": None,
            "queue": kind.queue,
            "exchange": kind.exchange,
            "routing_key": kind.routing_key,
        }

    @staticmethod
    def _received(task: SimTask) -> dict[str, Any]:
        return {
            "name": task.kind.name,
            "args": task.args,
            "kwargs": "{}",
            "retries": task.retries,
            "root_id": task.uuid,
            "parent_id": None,
            "eta": None,
            "expires": None,
        }

    def _task_event(self, kind: str, task: SimTask, at: float, hostname: str, **fields: Any) -> None:
        self._emit(
            {
                "type": kind,
                "uuid": task.uuid,
                "hostname": hostname,
                "pid": self._pid(hostname),
                "timestamp": at,
                **fields,
            }
        )

    def _worker_event(self, kind: str, worker: SimWorker, at: float) -> None:
        self._emit(
            {
                "type": kind,
                "hostname": worker.plan.hostname,
                "pid": worker.plan.pid,
                "freq": HEARTBEAT_SECONDS,
                "active": len(worker.running),
                "processed": worker.processed,
                "loadavg": self._loadavg(worker),
                "timestamp": at,
                **SOFTWARE,
            }
        )

    def _heartbeat(self, worker: SimWorker, now: float) -> None:
        worker.next_heartbeat = now + HEARTBEAT_SECONDS
        self._worker_event("worker-heartbeat", worker, now)

    def _loadavg(self, worker: SimWorker) -> list[float]:
        # The one-minute figure follows the pool's business; the longer ones lag behind it.
        worker.load += (len(worker.running) + 0.2 - worker.load) * 0.3
        return [round(worker.load, 2), round(worker.load * 0.8 + 0.1, 2), round(worker.load * 0.6 + 0.1, 2)]

    def _pid(self, hostname: str) -> int:
        worker = self.workers.get(hostname)
        return worker.plan.pid if worker else 3999

    def _emit(self, raw: dict[str, Any]) -> None:
        self._lamport += 1
        self.flow.events += 1
        self._raw.append({"utcoffset": 0, "clock": self._lamport, **raw})

    def _drain_events(self) -> list[dict[str, Any]]:
        """The step's raw events, oldest first, normalised as the events consumer does. Each is
        'received' at its own time: the demo's past is told with the times it happened."""
        raw, self._raw = self._raw, []
        raw.sort(key=lambda event: event["timestamp"])  # stable: a task's events keep their order
        return [normalise(event, event["timestamp"]) for event in raw]
