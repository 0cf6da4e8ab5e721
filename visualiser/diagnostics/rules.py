"""Pure rules: one vhost's entities, graph and depth history in, issues out.

Each rule looks at one kind of trouble and yields an ``Issue`` per affected node. Rules
know nothing of time passing beyond the history they are given: how long a condition has
held (``since``) and whether it has held long enough is the tracker's business. Node ids
are the graph's, so the browser can badge and focus them.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from ..contract.vocabulary import DEFAULT_EXCHANGE_LABEL
from ..model.arguments import alternate_exchange_of, dead_letter_of
from ..model.entities import DEFAULT_EXCHANGE, Consumer, Exchange, Queue, VhostSnapshot
from ..model.topology import Graph, is_plumbing_exchange, node_id
from ..routing import route
from .history import QueueHistory, time_to_drain
from .thresholds import Thresholds

SEVERITIES = ("critical", "warning", "info")


@dataclass(frozen=True)
class Issue:
    """A condition seen in one poll."""

    rule: str
    severity: str
    node: str
    message: str
    hold: float = 0.0  # seconds the condition must last before it is reported
    polls: int = 1  # consecutive polls it must be seen in (rates that flicker)

    @property
    def key(self) -> tuple[str, str]:
        return self.rule, self.node


@dataclass(frozen=True)
class Finding:
    rule: str
    severity: str
    node: str
    message: str
    since: float

    def to_json(self) -> dict[str, Any]:
        return {
            "rule": self.rule,
            "severity": self.severity,
            "node": self.node,
            "message": self.message,
            "since": self.since,
        }


@dataclass
class Context:
    snapshot: VhostSnapshot
    graph: Graph
    history: QueueHistory
    thresholds: Thresholds = field(default_factory=Thresholds)
    celery: Any = None  # a CeleryView (see celery_rules) when Celery state is known
    # worker node id -> queues it was last seen consuming: a dead worker's consumers are gone
    # from the broker, so the graph alone no longer says which queues it leaves behind.
    worker_queues: dict[str, set[str]] = field(default_factory=dict)

    def queue_node(self, name: str) -> str:
        return node_id("queue", name)

    @cached_property
    def user_queues(self) -> list[Queue]:
        nodes = self.graph.nodes
        return [
            q
            for q in self.snapshot.queues
            if not nodes.get(self.queue_node(q.name), {"plumbing": True}).get("plumbing")
        ]

    @cached_property
    def consumers_by_queue(self) -> dict[str, list[Consumer]]:
        found: dict[str, list[Consumer]] = defaultdict(list)
        for consumer in self.snapshot.consumers:
            found[consumer.queue].append(consumer)
        return found

    @cached_property
    def dead_letter_routes(self) -> dict[str, tuple[str, list[str], set[str]]]:
        """Shared by the dead-letter rules: routing every DLX once per poll is enough."""
        return dead_letter_routes(self.snapshot)


Rule = Callable[[Context], Iterable[Issue]]


# ---- helpers --------------------------------------------------------------------------------


def user_queues(ctx: Context) -> list[Queue]:
    """Queues that are the user's, not Celery's event and mailbox plumbing."""
    return ctx.user_queues


def rate(rates: dict[str, float], name: str) -> float:
    """A rate the broker reports; a missing one means nothing happened."""
    return float(rates.get(name) or 0.0)


def prefetch_capacity(consumers: list[Consumer]) -> int | None:
    """Total prefetch of acking consumers; None when any of them is unlimited."""
    if not consumers or any(c.prefetch_count <= 0 or not c.ack_required for c in consumers):
        return None
    return sum(c.prefetch_count for c in consumers)


def exchange_label(name: str) -> str:
    return DEFAULT_EXCHANGE_LABEL if name == DEFAULT_EXCHANGE else repr(name)


def per_second(value: float) -> str:
    return f"{value:+.1f}/s" if abs(value) >= 0.1 else f"{value:+.2f}/s"


def duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f}s"
    if seconds < 90 * 60:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


# ---- queue backlog ------------------------------------------------------------------------------


def known(figure: int | None) -> int:
    """A depth for judging: an unknown one (statistics off, definitions file) is no evidence of a
    backlog, so no rule fires on it; it is never shown as a number."""
    return figure if figure is not None else 0


def backlog_without_consumers(ctx: Context) -> Iterator[Issue]:
    for queue in user_queues(ctx):
        if queue.consumers == 0 and known(queue.messages_ready) >= ctx.thresholds.min_backlog:
            yield Issue(
                "no-consumers",
                "warning",
                ctx.queue_node(queue.name),
                f"{known(queue.messages_ready)} messages ready and no consumer to take them",
            )


def backlog_growing(ctx: Context) -> Iterator[Issue]:
    limits = ctx.thresholds
    for queue in user_queues(ctx):
        trend = ctx.history.trend(queue.name, limits.growth_window)
        if (
            trend is None
            or trend.slope < limits.min_growth_rate
            or known(queue.messages_ready) < limits.min_backlog
            or trend.end_ready - trend.start_ready < limits.min_growth_messages
        ):
            continue
        drain = time_to_drain(known(queue.messages_ready), trend.slope)
        drains = "never drains at this rate" if drain is None else f"drains in {duration(drain)}"
        yield Issue(
            "backlog-growing",
            "warning",
            ctx.queue_node(queue.name),
            f"ready {trend.start_ready} → {trend.end_ready} over {duration(trend.span)} "
            f"({per_second(trend.slope)}); {drains}",
        )


def consumers_not_consuming(ctx: Context) -> Iterator[Issue]:
    for queue in user_queues(ctx):
        if not queue.consumers or known(queue.messages_ready) < ctx.thresholds.min_backlog:
            continue
        if not ctx.snapshot.statistics and "deliver_get" not in queue.rates:
            continue  # no delivery rate (statistics off, Prometheus not counting): cannot be told
        # Not consumer utilisation: the broker keeps its last average when deliveries stop.
        if rate(queue.rates, "deliver_get") > 0:
            continue
        capacity = prefetch_capacity(ctx.consumers_by_queue.get(queue.name, []))
        if capacity is not None and known(queue.messages_unacknowledged) >= capacity:
            continue  # prefetch exhausted: the unacked rule says it better
        yield Issue(
            "not-consuming",
            "warning",
            ctx.queue_node(queue.name),
            f"{queue.consumers} consumer(s) but nothing delivered while {known(queue.messages_ready)} messages wait",
            hold=ctx.thresholds.stall_seconds,
        )


def unacked_piling_up(ctx: Context) -> Iterator[Issue]:
    for queue in user_queues(ctx):
        consumers = ctx.consumers_by_queue.get(queue.name, [])
        capacity = prefetch_capacity(consumers)
        if capacity is None or known(queue.messages_unacknowledged) < capacity or rate(queue.rates, "ack") > 0:
            continue
        tags = ", ".join(sorted(repr(c.consumer_tag) for c in consumers)[:3])
        yield Issue(
            "unacked-stuck",
            "critical" if known(queue.messages_ready) else "warning",
            ctx.queue_node(queue.name),
            f"{known(queue.messages_unacknowledged)} unacked = prefetch {capacity} across {len(consumers)} "
            f"consumer(s) ({tags}) and no acks: a stuck consumer",
            hold=ctx.thresholds.stall_seconds,
        )


# ---- routing --------------------------------------------------------------------------------------


def unroutable_publishes(ctx: Context) -> Iterator[Issue]:
    names = {e.name for e in ctx.snapshot.exchanges}
    for exchange in ctx.snapshot.exchanges:
        incoming = rate(exchange.rates, "publish_in")
        if incoming <= 0 or rate(exchange.rates, "publish_out") > 0:
            continue
        alternate = alternate_exchange_of(exchange, ctx.snapshot)
        if alternate is not None and alternate in names:
            continue  # the alternate exchange takes them: its own rates tell
        yield Issue(
            "unroutable",
            "warning",
            node_id("exchange", exchange.name),
            f"{exchange_label(exchange.name)} receives {incoming:.1f} msg/s and routes none of them: they are dropped",
            polls=2,
        )


def routes_nowhere(ctx: Context) -> Iterator[Issue]:
    sources = {b.source for b in ctx.snapshot.bindings}
    for exchange in ctx.snapshot.exchanges:
        if not _user_exchange(exchange) or exchange.name in sources:
            continue
        if alternate_exchange_of(exchange, ctx.snapshot) is not None:
            continue
        yield Issue(
            "routes-nowhere",
            "info",
            node_id("exchange", exchange.name),
            f"{exchange_label(exchange.name)} has no bindings: anything published to it is dropped",
        )


def _user_exchange(exchange: Exchange) -> bool:
    name = exchange.name
    return name != DEFAULT_EXCHANGE and not name.startswith("amq.") and not is_plumbing_exchange(name)


def alternate_missing(ctx: Context) -> Iterator[Issue]:
    names = {e.name for e in ctx.snapshot.exchanges}
    for exchange in ctx.snapshot.exchanges:
        alternate = alternate_exchange_of(exchange, ctx.snapshot)
        if alternate is not None and alternate not in names:
            yield Issue(
                "alternate-missing",
                "warning",
                node_id("exchange", exchange.name),
                f"alternate exchange {exchange_label(alternate)} does not exist: unroutable messages are dropped",
            )


def only_default_exchange(ctx: Context) -> Iterator[Issue]:
    bound = {
        b.destination for b in ctx.snapshot.bindings if b.destination_type == "queue" and b.source != DEFAULT_EXCHANGE
    }
    for queue in user_queues(ctx):
        if queue.name in bound or queue.exclusive or queue.auto_delete or queue.name.startswith("amq.gen-"):
            continue
        yield Issue(
            "default-exchange-only",
            "info",
            ctx.queue_node(queue.name),
            "no exchange routes here: only publishes to the default exchange by queue name reach it",
        )


# ---- dead letters ----------------------------------------------------------------------------------


def keys_into_queues(snapshot: VhostSnapshot) -> dict[str, set[str]]:
    """queue -> routing keys of the bindings that lead into it (one pass over the bindings)."""
    found: dict[str, set[str]] = defaultdict(set)
    for binding in snapshot.bindings:
        if binding.destination_type == "queue":
            found[binding.destination].add(binding.routing_key)
    return found


def dead_letter_keys(queue: Queue, key: str | None, received: set[str]) -> list[str]:
    """Routing keys dead letters from `queue` carry: the configured one, else those it received."""
    if key is not None:
        return [key]
    return sorted(received | {queue.name})


def dead_letter_routes(snapshot: VhostSnapshot) -> dict[str, tuple[str, list[str], set[str]]]:
    """queue -> (its DLX, the keys tried, the queues its dead letters reach) for queues whose DLX exists.

    The routing engine follows alternate exchanges as the broker does.
    """
    exchanges = {e.name for e in snapshot.exchanges}
    incoming = keys_into_queues(snapshot)
    routes = {}
    for queue in snapshot.queues:
        dead_letter = dead_letter_of(queue)
        if dead_letter is None or dead_letter[0] not in exchanges:
            continue
        exchange, key = dead_letter
        keys = dead_letter_keys(queue, key, incoming.get(queue.name, set()))
        reached: set[str] = set()
        for routing_key in keys:
            reached.update(route(snapshot, exchange, routing_key).queues)
        routes[queue.name] = (exchange, keys, reached)
    return routes


def dead_letter_exchange_missing(ctx: Context) -> Iterator[Issue]:
    names = {e.name for e in ctx.snapshot.exchanges}
    for queue in ctx.snapshot.queues:
        dead_letter = dead_letter_of(queue)
        if dead_letter is not None and dead_letter[0] not in names:
            yield Issue(
                "dlx-missing",
                "critical",
                ctx.queue_node(queue.name),
                f"dead-letter exchange {exchange_label(dead_letter[0])} does not exist: "
                "rejected and expired messages are dropped",
            )


def dead_letter_unrouted(ctx: Context) -> Iterator[Issue]:
    exchanges = {e.name: e for e in ctx.snapshot.exchanges}
    for queue_name, (exchange, keys, reached) in ctx.dead_letter_routes.items():
        if reached or exchanges[exchange].type == "headers" and _has_bindings(ctx.snapshot, exchange):
            continue  # a headers DLX routes on message headers we cannot know
        shown = ", ".join(repr(k) for k in keys[:3]) + (" …" if len(keys) > 3 else "")
        yield Issue(
            "dlx-unrouted",
            "warning",
            ctx.queue_node(queue_name),
            f"dead-letter exchange {exchange_label(exchange)} has no binding for routing key {shown}: "
            "dead letters are dropped",
        )


def _has_bindings(snapshot: VhostSnapshot, exchange: str) -> bool:
    return any(b.source == exchange for b in snapshot.bindings)


def dead_letter_cycles(ctx: Context) -> Iterator[Issue]:
    reach = {name: targets for name, (_, _, targets) in ctx.dead_letter_routes.items()}
    for start in sorted(reach):
        path = _cycle_from(start, reach)
        if path:
            yield Issue(
                "dlx-cycle",
                "warning",
                ctx.queue_node(start),
                "dead letters go round in a cycle: "
                + " → ".join(repr(q) for q in path)
                + " (RabbitMQ drops a message that cycles back without being rejected)",
            )


def _cycle_from(start: str, reach: dict[str, set[str]]) -> list[str] | None:
    """Shortest dead-letter path from `start` back to itself, or None."""
    frontier: list[list[str]] = [[start]]
    seen = {start}
    while frontier:
        path = frontier.pop(0)
        for nxt in sorted(reach.get(path[-1], ())):
            if nxt == start:
                return [*path, start]
            if nxt not in seen:
                seen.add(nxt)
                frontier.append([*path, nxt])
    return None


def dead_letter_queue_filling(ctx: Context) -> Iterator[Issue]:
    targets = set().union(*(t for _, _, t in ctx.dead_letter_routes.values()))
    limits = ctx.thresholds
    for queue in ctx.snapshot.queues:
        if queue.name not in targets or known(queue.messages_ready) < max(limits.dlq_min, 1):
            continue
        trend = ctx.history.trend(queue.name, limits.growth_window)
        if trend is not None and trend.slope > 0:
            yield Issue(
                "dlq-filling",
                "warning",
                ctx.queue_node(queue.name),
                f"dead-letter queue filling: {known(queue.messages_ready)} messages ({per_second(trend.slope)})",
            )
        else:
            yield Issue(
                "dlq-filling",
                "info",
                ctx.queue_node(queue.name),
                f"dead-letter queue holds {known(queue.messages_ready)} messages",
            )


# ---- limits ------------------------------------------------------------------------------------------------

_OVERFLOW = {
    "drop-head": "dropping the oldest messages",
    "reject-publish": "rejecting new publishes",
    "reject-publish-dlx": "rejecting new publishes (and dead-lettering them)",
}


def max_length_of(queue: Queue) -> tuple[int, str] | None:
    """(max ready messages, overflow behaviour): the lower of argument and policy, as on the broker."""
    limits = [
        v
        for v in (queue.arguments.get("x-max-length"), queue.effective_policy_definition.get("max-length"))
        if isinstance(v, int) and not isinstance(v, bool) and v >= 0
    ]
    if not limits:
        return None
    overflow = queue.arguments.get("x-overflow", queue.effective_policy_definition.get("overflow", "drop-head"))
    return min(limits), str(overflow)


def near_max_length(ctx: Context) -> Iterator[Issue]:
    for queue in ctx.snapshot.queues:
        limit = max_length_of(queue)
        if limit is None:
            continue
        maximum, overflow = limit
        if known(queue.messages_ready) >= maximum:
            behaviour = _OVERFLOW.get(overflow, f"overflow {overflow!r}")
            yield Issue(
                "max-length",
                "critical",
                ctx.queue_node(queue.name),
                f"at max-length ({known(queue.messages_ready)}/{maximum}): {behaviour}",
            )
        elif maximum and known(queue.messages_ready) >= ctx.thresholds.near_max_length * maximum:
            yield Issue(
                "max-length",
                "warning",
                ctx.queue_node(queue.name),
                f"near max-length ({known(queue.messages_ready)}/{maximum}); then {_OVERFLOW.get(overflow, overflow)}",
            )


# ---- replicated queues ----------------------------------------------------------------------------------


def replicas_lost(ctx: Context) -> Iterator[Issue]:
    """A quorum queue or stream with replicas down; without a majority it cannot take or give messages."""
    for queue in ctx.snapshot.queues:
        members = set(queue.members)
        if queue.type not in ("quorum", "stream") or not members:
            continue
        up = members & set(queue.online)
        down = sorted(members - up)
        if not down:
            continue
        majority = len(members) // 2 + 1
        names = ", ".join(down[:3]) + (f" and {len(down) - 3} more" if len(down) > 3 else "")
        if len(up) < majority:
            yield Issue(
                "replicas-lost",
                "critical",
                ctx.queue_node(queue.name),
                f"{queue.type} queue has lost its majority: {len(up)} of {len(members)} replicas online "
                f"(needs {majority}); it is unavailable until {names} return",
            )
        else:
            yield Issue(
                "replicas-lost",
                "warning",
                ctx.queue_node(queue.name),
                f"{len(down)} of {len(members)} replicas offline ({names}); "
                f"{len(up) - majority} more can fail before it is unavailable",
            )


# ---- policies the service could not evaluate ------------------------------------------------------


def policy_undecided(ctx: Context) -> Iterator[Issue]:
    """A policy pattern that could not be matched against a name within bounds (definitions
    files, where the service attributes policies itself): said, never guessed."""
    objects = [("exchange", e.name, e.policy, e.policy_undecided) for e in ctx.snapshot.exchanges]
    objects += [("queue", q.name, q.policy, q.policy_undecided) for q in ctx.snapshot.queues]
    for kind, name, chosen, undecided in objects:
        if not undecided:
            continue
        first = undecided[0]
        shown = f"policy {chosen!r} is shown" if chosen else "no policy is shown"
        more = f" ({len(undecided) - 1} more such policies)" if len(undecided) > 1 else ""
        yield Issue(
            "policy-undecided",
            "warning",
            node_id(kind, name),
            f"could not tell whether policy {first.policy!r} (pattern {first.pattern!r}) applies: "
            f"{first.reason}. It is treated as not applying, so {shown}{more}; the broker's own answer "
            "may differ",
        )


TOPOLOGY_RULES: tuple[Rule, ...] = (
    replicas_lost,
    backlog_without_consumers,
    backlog_growing,
    consumers_not_consuming,
    unacked_piling_up,
    unroutable_publishes,
    routes_nowhere,
    alternate_missing,
    only_default_exchange,
    dead_letter_exchange_missing,
    dead_letter_unrouted,
    dead_letter_cycles,
    dead_letter_queue_filling,
    near_max_length,
    policy_undecided,
)


def evaluate(ctx: Context, rules: Iterable[Rule] = TOPOLOGY_RULES) -> list[Issue]:
    """Every rule's issues; one per (rule, node), the most severe winning."""
    found: dict[tuple[str, str], Issue] = {}
    for rule in rules:
        for issue in rule(ctx):
            old = found.get(issue.key)
            if old is None or SEVERITIES.index(issue.severity) < SEVERITIES.index(old.severity):
                found[issue.key] = issue
    return list(found.values())
