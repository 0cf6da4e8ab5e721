"""Diagnostics without a broker: history on recorded depth series, each rule on plain
entities, the tracker's `since`, thresholds parsing and the HTTP API's answers."""

from __future__ import annotations

from dataclasses import replace

import pytest

from tests.conftest import snapshot_of
from visualiser.config import ConfigError, load_settings
from visualiser.diagnostics.celery_rules import CELERY_RULES, CeleryView, InFlight, TaskTarget
from visualiser.diagnostics.history import HistoryStore, QueueHistory, time_to_drain
from visualiser.diagnostics.rules import Context, Issue, evaluate
from visualiser.diagnostics.service import Diagnostics, FindingsPusher
from visualiser.diagnostics.thresholds import Thresholds, parse_thresholds
from visualiser.diagnostics.tracker import FindingTracker
from visualiser.hub import Hub, VhostView
from visualiser.model.entities import Binding, Consumer, Exchange, Policy, Queue, VhostSnapshot
from visualiser.model.policies import resolve_policies
from visualiser.model.topology import build_graph

# messages_ready of a queue fed 2 msg/s with no consumer, sampled every second from the
# real broker (its statistics refresh every 5 s, hence the steps), then drained at t=26.
RECORDED_GROWTH = [
    (0.0, 0), (1.0, 0), (2.0, 0), (3.0, 0), (4.0, 0), (5.0, 0), (6.0, 10), (7.0, 10), (8.0, 10), (9.0, 10),
    (10.0, 10), (11.0, 20), (12.0, 20), (13.0, 20), (14.0, 20), (15.0, 20), (16.0, 30), (17.1, 30), (18.1, 30),
    (19.1, 30), (20.1, 30), (21.1, 40), (22.1, 40), (23.1, 40), (24.4, 40), (25.4, 40), (26.4, 0), (27.4, 0),
    (28.4, 0), (29.4, 0), (30.4, 0), (31.5, 0), (32.5, 0), (33.5, 0), (34.5, 0), (35.5, 0),
]  # fmt: skip
T0 = 1_800_000_000.0


def replay(series, queue: str = "work", history: QueueHistory | None = None, **queue_fields):
    """Feed a recorded series through the history, yielding after each sample."""
    history = history or QueueHistory()
    for at, ready in series:
        q = Queue(queue, messages_ready=ready, **queue_fields)
        history.record(T0 + at, [q])
        yield at, history, q


def context(snapshot: VhostSnapshot, history: QueueHistory | None = None, **limits) -> Context:
    return Context(snapshot, build_graph(snapshot), history or QueueHistory(), Thresholds(**limits))


def issues(snapshot: VhostSnapshot, history: QueueHistory | None = None, **limits) -> dict[tuple[str, str], Issue]:
    return {i.key: i for i in evaluate(context(snapshot, history, **limits))}


def vhost(*queues: Queue, exchanges=(), bindings=(), consumers=(), policies=()) -> VhostSnapshot:
    base = (Exchange("", "direct"),)
    return VhostSnapshot(
        "/", base + tuple(exchanges), tuple(queues), tuple(bindings), tuple(consumers), policies=tuple(policies)
    )


# ---- history ----------------------------------------------------------------------------------


def test_recorded_growth_gives_the_feed_rate_and_never_drains() -> None:
    slopes = {at: h.trend("work", 60) for at, h, _ in replay(RECORDED_GROWTH)}
    assert slopes[0.0] is None  # one point: no trend yet
    assert slopes[6.0].slope == pytest.approx(10 / 6)
    assert slopes[25.4].slope == pytest.approx(40 / 25.4)  # ~2 msg/s from steps every 5 s
    assert slopes[35.5].slope == 0  # back where it started a minute ago
    last_ten = {at: h.trend("work", 10) for at, h, _ in replay(RECORDED_GROWTH)}
    assert last_ten[30.4].slope < 0
    assert time_to_drain(40, slopes[25.4].slope) is None
    assert time_to_drain(40, -2.0) == 20.0
    assert time_to_drain(0, 1.0) == 0.0


def test_growth_rule_follows_the_recorded_series_and_clears_after_the_drain() -> None:
    growing = {}
    for at, history, queue in replay(RECORDED_GROWTH):
        found = issues(vhost(queue), history, growth_window=10, min_growth_messages=5)
        growing[at] = ("backlog-growing", "queue:work") in found
    assert not growing[5.0] and growing[6.0] and growing[25.4]
    assert not growing[26.4]  # drained: the condition is gone at once


def test_history_is_bounded_and_trimmed_to_its_window() -> None:
    history = QueueHistory(window=100, max_points=10)
    for second in range(1000):
        history.record(T0 + second, [Queue("busy", messages_ready=second % 7)])
    points = history.series("busy")
    assert len(points) <= 12
    assert points[-1] == (T0 + 999, 999 % 7, 0)  # the newest point is always current
    assert points[0][0] >= T0 + 999 - 100


def test_a_flat_run_keeps_two_points_and_gone_queues_lose_history() -> None:
    history = QueueHistory()
    for second in range(50):
        history.record(T0 + second * 10, [Queue("idle", messages_ready=3), Queue("other")])
    assert [p[0] for p in history.series("idle")] == [T0, T0 + 490]
    history.record(T0 + 500, [Queue("other")])
    assert history.series("idle") == [] and history.queues() == ["other"]
    store = HistoryStore()
    store.of("a"), store.of("b")
    store.forget_except(["b"])
    assert store.get("a") is None and store.get("b") is not None


# ---- rules ------------------------------------------------------------------------------------


def test_backlog_without_consumers_ignores_celery_plumbing() -> None:
    found = issues(vhost(Queue("jobs", messages_ready=5), Queue("celeryev.abc", messages_ready=50)))
    assert found[("no-consumers", "queue:jobs")].severity == "warning"
    assert not any(node == "queue:celeryev.abc" for _, node in found)


def test_with_statistics_off_not_consuming_is_judged_only_where_prometheus_gave_a_rate() -> None:
    """RabbitMQ 4.x with statistics off: rates come from Prometheus's counters where it counts
    messages; a queue with no delivery rate known is no evidence of anything."""
    counted = Queue("counted", messages_ready=4, consumers=1, rates={"deliver_get": 0.0, "ack": 0.0})
    unknown = Queue("unknown", messages_ready=4, consumers=1)
    snapshot = replace(vhost(counted, unknown), statistics=False)
    found = issues(snapshot)
    assert ("not-consuming", "queue:counted") in found
    assert ("not-consuming", "queue:unknown") not in found


def test_not_consuming_and_unacked_stuck_are_told_apart() -> None:
    idle = Queue("idle", messages_ready=4, consumers=1)
    stuck = Queue("stuck", messages_ready=4, messages_unacknowledged=2, consumers=1)
    moving = Queue("moving", messages_ready=4, consumers=1, rates={"deliver_get": 3.0})
    consumers = [
        Consumer("idle", "c1", "ch1", "conn", prefetch_count=10),
        Consumer("stuck", "c2", "ch2", "conn", prefetch_count=2),
        Consumer("moving", "c3", "ch3", "conn", prefetch_count=2),
    ]
    found = issues(vhost(idle, stuck, moving, consumers=consumers))
    assert found[("not-consuming", "queue:idle")].hold == Thresholds().stall_seconds
    assert ("not-consuming", "queue:stuck") not in found
    unacked = found[("unacked-stuck", "queue:stuck")]
    assert unacked.severity == "critical" and "prefetch 2" in unacked.message and "'c2'" in unacked.message
    assert not any(node == "queue:moving" and rule != "default-exchange-only" for rule, node in found)
    acking = replace(stuck, rates={"ack": 1.0})
    assert ("unacked-stuck", "queue:stuck") not in issues(vhost(acking, consumers=consumers))


def test_unroutable_needs_publishes_in_and_none_out_and_no_alternate() -> None:
    exchanges = [
        Exchange("drops", rates={"publish_in": 2.0}),
        Exchange("routes", rates={"publish_in": 2.0, "publish_out": 2.0}),
        Exchange("has-ae", arguments={"alternate-exchange": "ae"}, rates={"publish_in": 2.0}),
        Exchange("ae", "fanout"),
    ]
    found = issues(vhost(exchanges=exchanges))
    assert found[("unroutable", "exchange:drops")].polls == 2
    assert ("unroutable", "exchange:routes") not in found and ("unroutable", "exchange:has-ae") not in found
    assert found[("routes-nowhere", "exchange:drops")].severity == "info"
    assert ("routes-nowhere", "exchange:has-ae") not in found


def test_alternate_exchange_missing_from_argument_or_policy() -> None:
    policy = Policy("ae", "^by-policy$", "exchanges", 0, {"alternate-exchange": "nowhere"})
    exchanges = [Exchange("by-arg", arguments={"alternate-exchange": "gone"}), Exchange("by-policy")]
    found = issues(resolve_policies(vhost(exchanges=exchanges, policies=[policy])))
    assert "'gone' does not exist" in found[("alternate-missing", "exchange:by-arg")].message
    assert "'nowhere' does not exist" in found[("alternate-missing", "exchange:by-policy")].message


def test_dead_letter_missing_unrouted_cycle_and_filling() -> None:
    queues = [
        Queue("lost", arguments={"x-dead-letter-exchange": "nope"}),
        Queue("unbound", arguments={"x-dead-letter-exchange": "dlx", "x-dead-letter-routing-key": "failed"}),
        Queue("a", arguments={"x-dead-letter-exchange": "to-b"}),
        Queue("b", effective_policy_definition={"dead-letter-exchange": "to-a"}),
        Queue("fed", arguments={"x-dead-letter-exchange": "dlq-ex"}),
        Queue("dlq", messages_ready=7),
    ]
    exchanges = [
        Exchange("dlx", "direct"),
        Exchange("to-a", "fanout"),
        Exchange("to-b", "fanout"),
        Exchange("dlq-ex", "fanout"),
    ]
    bindings = [
        Binding("dlx", "dlq", "queue", "other"),
        Binding("to-a", "a", "queue"),
        Binding("to-b", "b", "queue"),
        Binding("dlq-ex", "dlq", "queue"),
    ]
    found = issues(vhost(*queues, exchanges=exchanges, bindings=bindings))
    assert found[("dlx-missing", "queue:lost")].severity == "critical"
    assert "'failed'" in found[("dlx-unrouted", "queue:unbound")].message
    assert "'a' → 'b' → 'a'" in found[("dlx-cycle", "queue:a")].message
    assert ("dlx-cycle", "queue:b") in found
    assert found[("dlq-filling", "queue:dlq")].severity == "info"  # no history: not seen growing

    history = QueueHistory()
    history.record(T0, [Queue("dlq", messages_ready=2)])
    history.record(T0 + 5, [Queue("dlq", messages_ready=7)])
    grown = issues(vhost(*queues, exchanges=exchanges, bindings=bindings), history)
    assert grown[("dlq-filling", "queue:dlq")].severity == "warning"


def test_default_exchange_only_skips_bound_exclusive_and_server_named_queues() -> None:
    queues = [Queue("lonely"), Queue("bound"), Queue("reply", exclusive=True), Queue("amq.gen-xyz")]
    found = issues(vhost(*queues, exchanges=[Exchange("ex")], bindings=[Binding("ex", "bound", "queue", "k")]))
    assert {node for rule, node in found if rule == "default-exchange-only"} == {"queue:lonely"}


def test_max_length_takes_the_lower_of_argument_and_policy() -> None:
    at_limit = Queue(
        "at",
        messages_ready=10,
        arguments={"x-max-length": 100, "x-overflow": "reject-publish"},
        effective_policy_definition={"max-length": 10},
    )
    near = Queue("near", messages_ready=95, arguments={"x-max-length": 100})
    far = Queue("far", messages_ready=50, arguments={"x-max-length": 100})
    found = issues(vhost(at_limit, near, far))
    assert found[("max-length", "queue:at")].severity == "critical"
    assert "rejecting new publishes" in found[("max-length", "queue:at")].message
    assert found[("max-length", "queue:near")].severity == "warning"
    assert "dropping the oldest" in found[("max-length", "queue:near")].message
    assert ("max-length", "queue:far") not in found


def test_hostile_names_stay_data() -> None:
    name = "<img src=x onerror=alert(1)>\u202e"
    found = issues(vhost(Queue(name, messages_ready=1)))
    assert ("no-consumers", f"queue:{name}") in found


# ---- tracker ----------------------------------------------------------------------------------


def test_since_is_stable_and_findings_clear_with_their_condition() -> None:
    tracker = FindingTracker()
    issue = Issue("no-consumers", "warning", "queue:q", "5 ready")
    first = tracker.update(T0, [issue])
    later = tracker.update(T0 + 10, [replace(issue, message="9 ready")])
    assert first[0].since == later[0].since == T0 and later[0].message == "9 ready"
    assert tracker.update(T0 + 20, []) == []
    assert tracker.update(T0 + 30, [issue])[0].since == T0 + 30  # a new episode


def test_hold_and_polls_delay_a_finding_but_keep_its_since() -> None:
    tracker = FindingTracker()
    held = Issue("not-consuming", "warning", "queue:q", "idle", hold=30)
    flicker = Issue("unroutable", "warning", "exchange:e", "drops", polls=2)
    assert tracker.update(T0, [held, flicker]) == []
    second = tracker.update(T0 + 1, [held, flicker])
    assert [f.rule for f in second] == ["unroutable"]
    third = tracker.update(T0 + 31, [held, flicker])
    assert {f.rule: f.since for f in third} == {"unroutable": T0, "not-consuming": T0}


def test_a_graph_refresh_is_not_counted_as_another_poll() -> None:
    tracker = FindingTracker()
    flicker = Issue("unroutable", "warning", "exchange:e", "drops", polls=2)
    assert tracker.update(T0, [flicker]) == []
    assert tracker.update(T0 + 0.1, [flicker], new_poll=False) == []
    assert [f.rule for f in tracker.update(T0 + 2, [flicker])] == ["unroutable"]


def test_findings_sort_by_severity_then_age() -> None:
    tracker = FindingTracker()
    tracker.update(T0, [Issue("a", "info", "queue:old", "")])
    found = tracker.update(
        T0 + 1,
        [
            Issue("a", "info", "queue:old", ""),
            Issue("b", "critical", "queue:new", ""),
            Issue("c", "warning", "queue:mid", ""),
        ],
    )
    assert [f.severity for f in found] == ["critical", "warning", "info"]


# ---- thresholds -------------------------------------------------------------------------------


def test_thresholds_from_table_string_and_errors() -> None:
    assert Thresholds.from_mapping({"stall_seconds": 5}).stall_seconds == 5.0
    assert parse_thresholds("stall_seconds=5, min_backlog=2") == {"stall_seconds": 5.0, "min_backlog": 2.0}
    for bad in ({"nonsense": 1}, {"stall_seconds": -1}, {"stall_seconds": "soon"}, {"min_backlog": True}, "x"):
        with pytest.raises(ValueError):
            parse_thresholds(bad)
    assert load_settings(["--diagnostics", "growth_window=30"], {}).diagnostics == {"growth_window": 30.0}
    with pytest.raises(ConfigError):
        load_settings(["--diagnostics", "growth_window=-3"], {})


# ---- HTTP -------------------------------------------------------------------------------------


def test_api_serves_findings_and_history_and_refuses_bad_input(service, client) -> None:
    stuck = Queue("invoices.retry", messages_ready=42)
    service.test_source.post(snapshot_of(vhost(stuck)))
    body = client.get("/api/diagnostics?vhost=/").get_json()
    assert {"rule": "no-consumers", "severity": "warning", "node": "queue:invoices.retry"}.items() <= body["findings"][
        0
    ].items()
    assert set(body["findings"][0]) == {"rule", "severity", "node", "message", "since"}
    history = client.get("/api/queue-history", query_string={"vhost": "/", "queue": "invoices.retry"}).get_json()
    assert history["points"][-1][1:] == [42, 0] and history["window"] == 900

    assert client.get("/api/diagnostics?vhost=nope").status_code == 404
    assert client.get("/api/diagnostics", query_string={"vhost": "v" * 300}).status_code == 400
    assert client.get("/api/queue-history?vhost=/").status_code == 400
    assert client.get("/api/queue-history", query_string={"vhost": "/", "queue": "q" * 300}).status_code == 400
    missing = client.get("/api/queue-history?vhost=/&queue=missing")
    assert missing.status_code == 404 and "error" in missing.get_json()
    # On the graph but never sampled (its depth unknown): an empty history, not an error,
    # which the browser would log as a failed load.
    service.test_source.post(snapshot_of(vhost(stuck, Queue("fresh", messages_ready=None))))
    fresh = client.get("/api/queue-history?vhost=/&queue=fresh")
    assert fresh.status_code == 200 and fresh.get_json()["points"] == []

    service.test_source.post(snapshot_of(vhost(replace(stuck, messages_ready=0))))
    rules = [f["rule"] for f in client.get("/api/diagnostics?vhost=/").get_json()["findings"]]
    assert rules == ["default-exchange-only"]  # the backlog is gone, the structure stays


# ---- the engine and the Celery rules ------------------------------------------------------------


def test_observe_reports_changes_only_and_a_refresh_adds_no_history_point() -> None:
    clock = [T0]
    engine = Diagnostics(clock=lambda: clock[0])
    snap = vhost(Queue("q", messages_ready=3))
    view = VhostView("/", 1, build_graph(snap), snap, "test")
    first = engine.observe(view)
    assert first is not None and {f["rule"] for f in first} == {"no-consumers", "default-exchange-only"}
    clock[0] += 1
    assert engine.observe(view) is None  # same data, same findings: nothing to push
    assert len(engine.history.get("/").series("q")) == 1  # a refresh is not a poll
    fixed = vhost(Queue("q", messages_ready=3, consumers=1, rates={"deliver_get": 2.0}))
    changed = engine.observe(VhostView("/", 2, build_graph(fixed), fixed, "test"))
    assert changed is not None and "no-consumers" not in {f["rule"] for f in changed}
    engine.forget_except([])
    assert engine.findings("/") == [] and engine.history.get("/") is None


def celery_context(snapshot: VhostSnapshot, workers: list[dict], view: CeleryView | None, **limits) -> Context:
    graph = build_graph(snapshot)
    for worker in workers:
        graph.nodes[worker["id"]] = {"kind": "worker", **worker}
    return Context(snapshot, graph, QueueHistory(), Thresholds(**limits), view)


def test_worker_offline_only_when_its_queue_is_left_without_consumers() -> None:
    snap = vhost(Queue("payments"), Queue("emails", consumers=1))
    workers = [
        {"id": "worker:a@h", "name": "a@h", "online": False, "queues": ["payments", "emails"]},
        {"id": "worker:b@h", "name": "b@h", "online": False, "queues": ["emails"]},
        {"id": "worker:c@h", "name": "c@h", "online": True, "queues": ["payments"]},
    ]
    found = {i.key: i for i in evaluate(celery_context(snap, workers, None), CELERY_RULES)}
    assert list(found) == [("worker-offline", "worker:a@h")]
    assert "'payments'" in found[("worker-offline", "worker:a@h")].message
    assert "'emails'" not in found[("worker-offline", "worker:a@h")].message


def test_tasks_waiting_and_running_long_group_by_worker() -> None:
    now = T0 + 1000
    view = CeleryView(
        now,
        (
            InFlight("received", "shop.charge", "a@h", now - 120),
            InFlight("received", "shop.charge", "a@h", now - 5),  # recent: fine
            InFlight("started", "shop.report", "b@h", now - 400),
            InFlight("started", "shop.quick", "a@h", now - 2),
        ),
    )
    found = {i.key: i for i in evaluate(celery_context(vhost(), [], view), CELERY_RULES)}
    assert set(found) == {("tasks-not-started", "worker:a@h"), ("tasks-running-long", "worker:b@h")}
    assert "1 task(s) received but not started" in found[("tasks-not-started", "worker:a@h")].message
    assert "'shop.report'" in found[("tasks-running-long", "worker:b@h")].message


def test_task_routes_reaching_no_queue() -> None:
    snap = vhost(
        Queue("payments"),
        exchanges=[Exchange("shop", "direct")],
        bindings=[Binding("shop", "payments", "queue", "pay")],
    )
    view = CeleryView(
        T0,
        targets=(
            TaskTarget("shop.charge", "shop", "pay"),
            TaskTarget("shop.lost", "shop", "nope"),
            TaskTarget("shop.mail", "", "emails"),
            TaskTarget("shop.direct", "", "payments"),
        ),
    )
    found = {i.key: i for i in evaluate(celery_context(snap, [], view), CELERY_RULES)}
    assert set(found) == {("task-route-unroutable", "exchange:shop"), ("task-route-unroutable", "exchange:")}
    assert "'shop.lost' (key 'nope')" in found[("task-route-unroutable", "exchange:shop")].message
    assert "'shop.charge'" not in found[("task-route-unroutable", "exchange:shop")].message


def test_frames_carry_only_what_came_went_or_changed_and_figures_never_count() -> None:
    sent: list[tuple[str, dict, str | None]] = []
    hub = Hub(emit=lambda event, data, to=None: sent.append((event, data, to)))
    pusher = FindingsPusher(hub)
    one = {"rule": "no-consumers", "node": "queue:q", "severity": "warning", "message": "3 messages ready", "since": T0}
    two = {**one, "rule": "backlog-growing", "message": "growing 1.5/s for 2 min"}
    pusher.changed("/", [one])
    assert sent == [("findings", {"vhost": "/", "added": [one]}, "vhost:/")]
    pusher.changed("/", [{**one, "message": "4,000 messages ready"}])  # only a figure: no frame
    pusher.changed("/", [{**one, "message": "12 messages ready"}, two])
    assert len(sent) == 2 and sent[1][1] == {"vhost": "/", "added": [two]}
    pusher.changed(
        "/",
        [
            {**one, "severity": "critical", "message": "900 messages ready"},
            {**two, "message": "growing 9.25/s for 12 min"},
        ],
    )
    assert len(sent) == 3 and sent[2][1]["changed"] == [
        {**one, "severity": "critical", "message": "900 messages ready"}
    ]
    pusher.changed("/", [{**two, "message": "growing, and no consumer"}])  # words changed: a change
    frame = sent[3][1]
    assert frame["removed"] == [{"rule": "no-consumers", "node": "queue:q"}]
    assert frame["changed"] == [{**two, "message": "growing, and no consumer"}] and "added" not in frame
    pusher.changed("/", [{**two, "message": "growing, and no consumer"}])
    assert len(sent) == 4
    # A frame of each kind is what the contract says a findings frame is.
    for _, body, _ in sent:
        assert set(body) <= {"vhost", "added", "removed", "changed"}


def test_a_dead_worker_is_remembered_by_the_queues_it_consumed() -> None:
    clock = [T0]
    engine = Diagnostics(clock=lambda: clock[0])

    def poll(online: bool, queues: list[str], consumers: int) -> list[dict]:
        snap = vhost(Queue("slow", consumers=consumers))
        graph = build_graph(snap)
        graph.nodes["worker:w@h"] = {
            "id": "worker:w@h",
            "kind": "worker",
            "name": "w@h",
            "online": online,
            "queues": queues,
        }
        clock[0] += 2
        engine.observe(VhostView("/", int(clock[0]), graph, snap, "test"))
        return [f for f in engine.findings("/") if f["rule"] == "worker-offline"]

    assert poll(True, ["slow"], 1) == []
    # Its consumers died with it, so the graph no longer links it to 'slow'.
    found = poll(False, [], 0)
    assert [f["node"] for f in found] == ["worker:w@h"] and "'slow'" in found[0]["message"]
    assert poll(True, ["slow"], 1) == []
