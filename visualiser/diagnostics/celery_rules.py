"""Celery rules: workers gone, tasks waiting or running too long, task routes to nowhere.

They read the graph (worker nodes, which the Celery feature adds) and a ``CeleryView``: a
plain copy of what the Celery state knows about in-flight tasks and where the user's app
sends each task, taken on the hub thread so the rules stay pure.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from ..model.topology import node_id
from ..routing import route
from .rules import Context, Issue, duration, exchange_label


@dataclass(frozen=True)
class InFlight:
    """A task received or started by a worker; `since` is when we heard of that state."""

    state: str  # "received" | "started"
    name: str
    worker: str
    since: float


@dataclass(frozen=True)
class TaskTarget:
    """Where the user's Celery app publishes a task."""

    task: str
    exchange: str
    routing_key: str


@dataclass(frozen=True)
class CeleryView:
    now: float
    in_flight: tuple[InFlight, ...] = ()
    targets: tuple[TaskTarget, ...] = ()


def worker_offline(ctx: Context) -> Iterator[Issue]:
    for node in ctx.graph.nodes.values():
        if node.get("kind") != "worker" or node.get("online"):
            continue
        queues = set(node.get("queues", ())) | ctx.worker_queues.get(node["id"], set())
        orphaned = [q for q in sorted(queues) if ctx.graph.nodes.get(ctx.queue_node(q), {}).get("consumers", 1) == 0]
        if orphaned:
            shown = ", ".join(repr(q) for q in orphaned[:5]) + (" …" if len(orphaned) > 5 else "")
            yield Issue(
                "worker-offline",
                "critical",
                node["id"],
                f"worker {node.get('name')!r} is offline and nobody consumes {shown}",
            )


def remember_worker_queues(graph_nodes: dict[str, dict[str, Any]], memory: dict[str, set[str]]) -> None:
    """Keep, per worker node, the queues it consumed while online (updated in place)."""
    workers = {nid: node for nid, node in graph_nodes.items() if node.get("kind") == "worker"}
    for gone in [nid for nid in memory if nid not in workers]:
        del memory[gone]
    for nid, node in workers.items():
        queues = set(node.get("queues", ()))
        if node.get("online") and queues:
            memory[nid] = queues
        else:
            memory.setdefault(nid, set()).update(queues)


def _stale(ctx: Context, state: str, limit: float) -> dict[str, list[InFlight]]:
    by_worker: dict[str, list[InFlight]] = defaultdict(list)
    view: CeleryView | None = ctx.celery
    if view is None:
        return by_worker
    for task in view.in_flight:
        if task.state == state and view.now - task.since >= limit:
            by_worker[task.worker].append(task)
    return by_worker


def _oldest(view: CeleryView, tasks: list[InFlight]) -> str:
    oldest = min(tasks, key=lambda t: t.since)
    return f"oldest {oldest.name!r}, {duration(view.now - oldest.since)}"


def tasks_waiting_to_start(ctx: Context) -> Iterator[Issue]:
    limit = ctx.thresholds.received_not_started
    for worker, tasks in sorted(_stale(ctx, "received", limit).items()):
        yield Issue(
            "tasks-not-started",
            "warning",
            node_id("worker", worker),
            f"{len(tasks)} task(s) received but not started for over {duration(limit)} "
            f"({_oldest(ctx.celery, tasks)}): the worker is saturated",
        )


def tasks_running_long(ctx: Context) -> Iterator[Issue]:
    limit = ctx.thresholds.started_not_finished
    for worker, tasks in sorted(_stale(ctx, "started", limit).items()):
        yield Issue(
            "tasks-running-long",
            "warning",
            node_id("worker", worker),
            f"{len(tasks)} task(s) started but not finished for over {duration(limit)} ({_oldest(ctx.celery, tasks)})",
        )


def task_routes_to_nowhere(ctx: Context) -> Iterator[Issue]:
    view: CeleryView | None = ctx.celery
    if view is None:
        return
    lost: dict[str, list[TaskTarget]] = defaultdict(list)
    for target in view.targets:
        if not route(ctx.snapshot, target.exchange, target.routing_key).queues:
            lost[target.exchange].append(target)
    for exchange, targets in sorted(lost.items()):
        shown = ", ".join(f"{t.task!r} (key {t.routing_key!r})" for t in targets[:3]) + (
            " …" if len(targets) > 3 else ""
        )
        yield Issue(
            "task-route-unroutable",
            "warning",
            node_id("exchange", exchange),
            f"Celery sends {shown} to {exchange_label(exchange)}, which routes it to no queue",
        )


CELERY_RULES = (worker_offline, tasks_waiting_to_start, tasks_running_long, task_routes_to_nowhere)
