"""The demo, driven by a virtual clock: its Celery workers' events, its broker's figures, and the
findings they make, through the same hub, monitor and diagnostics the app wires together.

Seeded and clocked by the test, so each run replays the same story in well under a second
per simulated minute, and "within the first minute" is measured in the demo's own time at
the default thresholds."""

from __future__ import annotations

import random
from typing import Any

import pytest

from visualiser.celery.events import KNOWN_TYPES, normalise
from visualiser.celery.monitor import CeleryMonitor
from visualiser.celery.state import TASK_STATES, CeleryState
from visualiser.contract.vocabulary import RULES
from visualiser.diagnostics.service import CeleryReader, Diagnostics
from visualiser.diagnostics.service import attach as attach_diagnostics
from visualiser.hub import Hub
from visualiser.routing.celery_routes import load_app, resolve, task_names
from visualiser.sources.demo import CELERY_APP, VHOST, DemoBroker, DemoSource
from visualiser.sources.demo_celery import KINDS, WORKERS, DemoCelery, Outage
from visualiser.tracing.session import RULE as TRACE_RULE

# Every finding but one: a traced message routed otherwise than simulated needs a real broker's
# trace to compare with, and the demo has none (tracing is refused in the demo).
DEMO_RULES = set(RULES) - {TRACE_RULE}
START = 1_800_000_000.0
TICK = 0.25
EMAILS = "worker-emails@demo"


class VirtualDemo:
    """DemoSource on a clock the test moves, posting to a real hub with the Celery monitor and
    diagnostics attached as create_app attaches them."""

    def __init__(self, seed: int = 7, outage: Outage | None = None):
        self.now = START
        clock = self.clock
        self.hub = Hub()
        self.monitor = CeleryMonitor(self.hub, VHOST, CeleryState(clock=clock))
        self.hub.add_decorator(self.monitor.decorate)
        app = load_app(CELERY_APP)
        self.diagnostics = Diagnostics(clock=clock, celery=CeleryReader(self.monitor, lambda: app, clock=clock))
        attach_diagnostics(self.hub, self.diagnostics)
        self.source = DemoSource(self.hub, self.monitor.ingest, seed=seed, clock=clock, outage=outage)
        self.hub.start()
        self.source.begin()
        self.hub.drain()

    def clock(self) -> float:
        return self.now

    def run(self, seconds: float, every_second: Any = None) -> None:
        """Move the story on; `every_second(self)` is called once a simulated second."""
        for tick in range(1, round(seconds / TICK) + 1):
            self.now += TICK
            self.source.advance()
            self.hub.submit(self.monitor.expire_workers)  # a ticker in the app
            self.hub.drain()
            if every_second is not None and tick % round(1 / TICK) == 0:
                every_second(self)

    def rules(self) -> set[str]:
        return {f["rule"] for f in self.diagnostics.findings(VHOST)}

    def graph_nodes(self) -> dict[str, dict[str, Any]]:
        view = self.hub.view(VHOST)
        assert view is not None
        return view.graph.nodes

    def stop(self) -> None:
        self.hub.stop()


@pytest.fixture
def demo():
    virtual = VirtualDemo()
    yield virtual
    virtual.stop()


def drive_celery(seed: int, seconds: float) -> list[dict[str, Any]]:
    celery = DemoCelery(random.Random(seed))
    events = celery.begin(START)
    for tick in range(1, round(seconds / TICK) + 1):
        events += celery.step(START + tick * TICK)
    return events


# ---- the Celery simulator ------------------------------------------------------------------------


def test_the_same_seed_tells_the_same_story() -> None:
    assert drive_celery(3, 30) == drive_celery(3, 30)
    assert drive_celery(3, 30) != drive_celery(4, 30)
    first, second = DemoBroker(3), DemoBroker(3)
    for broker in (first, second):
        broker.celery.begin(START)
        for tick in range(1, 41):
            broker.celery.step(START + tick * TICK)
            if tick % 4 == 0:
                broker.step(1.0)
    assert first.snapshot() == second.snapshot()


def test_every_celery_event_type_comes_as_the_events_consumer_would_pass_it() -> None:
    events = drive_celery(7, 200)
    assert {e["type"] for e in events} == KNOWN_TYPES
    for event in events:
        # Already normalised: validating it again as a raw event changes nothing.
        assert normalise(dict(event), event["received"]) == event
    sent = [e for e in events if e["type"] == "task-sent"]
    assert all("exchange" in e and "routing_key" in e for e in sent)
    assert {e["queue"] for e in sent if "queue" in e} == {"celery", "payments", "emails", "reporting"}
    times = [e["received"] for e in events]
    assert times == sorted(times)


def test_the_simulated_routes_are_the_shop_apps_own() -> None:
    app = load_app(CELERY_APP)
    assert sorted(kind.name for kind in KINDS) == task_names(app)
    for kind in KINDS:
        answer = resolve(app, kind.name)
        assert (answer.queue, answer.exchange, answer.routing_key) == (kind.queue, kind.exchange, kind.routing_key)


def test_failures_carry_their_exception_and_retries_come_back() -> None:
    events = drive_celery(7, 120)
    failed = [e for e in events if e["type"] == "task-failed"]
    assert failed and all(e["exception"] and e["traceback"].startswith("Traceback") for e in failed)
    retried = {e["uuid"] for e in events if e["type"] == "task-retried"}
    assert retried and all(e["traceback"].startswith("Traceback") for e in events if e["type"] == "task-retried")
    again = {e["uuid"] for e in events if e["type"] == "task-sent" and e.get("retries") == 1}
    finished_again = {e["uuid"] for e in events if e["type"] == "task-succeeded"} & again
    assert again <= retried and finished_again


# ---- the whole demo, through the hub ------------------------------------------------------------------


def test_workers_tasks_and_their_states_reach_the_monitor(demo: VirtualDemo) -> None:
    demo.run(40)  # the e-mail worker left at 15 s and is away for 90 s
    workers = {w["hostname"]: w for w in demo.hub.call(demo.monitor.workers_json)}
    assert set(workers) == {plan.hostname for plan in WORKERS}
    assert not workers[EMAILS]["online"] and workers[EMAILS]["offline_since"] is not None
    assert all(w["online"] for name, w in workers.items() if name != EMAILS)
    assert workers["worker-payments@demo"]["failed"] > 0 and workers["worker-payments@demo"]["retried"] > 0
    # Linked to its queues the way a real worker is, through its mailbox's connection: no task
    # ever reaches loyalty.points, so only the broker can say that the worker consumes it.
    assert workers["worker-orders@demo"]["queue_sources"].get("loyalty.points") == "broker"
    assert workers["worker-orders@demo"]["queues"] == ["celery", "loyalty.points"]

    tasks = demo.hub.call(lambda: demo.monitor.state.tasks_json(10_000))
    assert {t["state"] for t in tasks} == set(TASK_STATES)
    failed = [t for t in tasks if t["state"] == "failed"]
    assert all(t["exception"] and t["traceback"] and t["worker"] for t in failed)
    assert any(t["state"] == "succeeded" and t["retries"] == 1 for t in tasks)

    nodes = demo.graph_nodes()
    assert nodes["worker:worker-payments@demo"]["online"]
    assert nodes["queue:emails"]["consumers"] == 0 and nodes["queue:emails"]["messages_ready"] > 0
    assert f"queue:{EMAILS}.celery.pidbox" not in nodes  # its mailbox goes with it

    demo.run(80)  # back at 105 s, and draining its backlog
    workers = {w["hostname"]: w for w in demo.hub.call(demo.monitor.workers_json)}
    assert workers[EMAILS]["online"] and workers[EMAILS]["queues"] == ["emails"]
    assert demo.graph_nodes()["queue:emails"]["consumers"] == 1


def test_every_kind_of_finding_shows_within_the_first_minute_and_stays_to_be_read(demo: VirtualDemo) -> None:
    seen: list[set[str]] = []
    demo.run(150, lambda d: seen.append(d.rules()))
    first = {rule: next((i for i, rules in enumerate(seen) if rule in rules), None) for rule in DEMO_RULES}
    assert {rule for rule, second in first.items() if second is None} == set()
    assert max(first.values()) < 60, first
    for rule in DEMO_RULES:
        longest = _longest_run(rule, seen)
        assert longest >= 20, f"{rule} is on screen for {longest}s at most"


def _longest_run(rule: str, seen: list[set[str]]) -> int:
    longest = run = 0
    for rules in seen:
        run = run + 1 if rule in rules else 0
        longest = max(longest, run)
    return longest


def test_amqp_rates_move_and_differ_from_edge_to_edge(demo: VirtualDemo) -> None:
    samples: list[dict[str, float]] = []

    def read(d: VirtualDemo) -> None:
        nodes = d.graph_nodes()
        samples.append(
            {
                name: nodes[f"exchange:{name}"]["rates"].get("publish_in", 0.0)
                for name in ("events", "shipping", "webhooks", "")
            }
        )

    demo.run(90, read)
    events = [s["events"] for s in samples[5:]]
    assert max(events) > 1.5 * min(events)  # traffic swells and ebbs
    last = samples[-1]
    assert last["events"] > 5 * last["webhooks"] > 0  # busy edges and slow ones
    queue = demo.graph_nodes()["queue:analytics"]["rates"]
    assert queue["publish"] > 0 and queue["deliver_get"] > 0


def test_celery_workers_consume_as_real_ones_do(demo: VirtualDemo) -> None:
    demo.run(2)
    view = demo.hub.view(VHOST)
    assert view is not None
    consumers = view.entities.consumers
    for plan in WORKERS:
        mine = [c for c in consumers if c.queue == f"{plan.hostname}.celery.pidbox"]
        assert len(mine) == 1, plan.hostname
        on_connection = {c.queue for c in consumers if c.connection == mine[0].connection}
        assert on_connection == {*plan.queues, f"{plan.hostname}.celery.pidbox"}
