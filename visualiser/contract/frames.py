"""Everything that crosses the wire to the page, typed once.

The hub, the Socket.IO namespace and the JSON API build these shapes; the page reads
them. ``schema.py`` turns them into JSON Schema, which the test suite checks real frames
against, so a field added on one side and forgotten on the other fails a test.

Graph elements are dictionaries on purpose: a patch's ``change`` carries only the fields
that changed, keyed exactly as in the full element.
"""

from __future__ import annotations

from typing import Any, Literal, NotRequired, TypedDict

NodeKind = Literal["exchange", "queue", "consumer", "connection", "worker"]
EdgeKind = Literal["binding", "consumes", "dead-letter", "alternate", "publishes"]
SourceState = Literal["starting", "ok", "stale", "unreachable", "unauthorised", "error", "off"]
Severity = Literal["critical", "warning", "info"]
TaskState = Literal["sent", "received", "started", "succeeded", "failed", "retried", "revoked", "rejected"]
RouteStatus = Literal["routed", "unroutable", "internal", "no-such-exchange", "unsupported"]
FigureSource = Literal["management statistics", "queue totals", "prometheus", "prometheus counters", "none"]
TraceState = Literal["off", "starting", "on", "stopping", "failed"]
# How a traced publish's real routing compares with the simulator's answer.
TraceVerdict = Literal["agreed", "disagreed", "pending", "unchecked"]


# ---- graph elements ---------------------------------------------------------------------------
class DeliveryLimit(TypedDict):
    limit: int | None
    source: str
    then: str


class ExchangeNode(TypedDict):
    id: str
    kind: Literal["exchange"]
    name: str
    label: str
    type: str  # direct, fanout, topic, headers, x-local-random, a plugin's type, or "missing"
    arguments: dict[str, Any]
    plumbing: bool
    durable: NotRequired[bool]
    auto_delete: NotRequired[bool]
    internal: NotRequired[bool]
    policy: NotRequired[str | None]
    alternate_exchange: NotRequired[str | None]
    rates: NotRequired[dict[str, float]]
    builtin: NotRequired[bool]
    default: NotRequired[bool]  # the AMQP default exchange
    missing: NotRequired[bool]  # referenced (binding, dead-letter, alternate) but not on the broker
    group: NotRequired[str]  # a big vhost's name group (model/groups.py): the group node's id
    group_name: NotRequired[str]  # … and the name prefix its members share


class QueueNode(TypedDict):
    id: str
    kind: Literal["queue"]
    name: str
    label: str
    type: str  # classic, quorum, stream
    durable: bool
    auto_delete: bool
    exclusive: bool
    arguments: dict[str, Any]
    policy: str | None
    effective_policy_definition: dict[str, Any]
    messages_ready: int | None  # None: the broker did not say (never drawn as 0)
    messages_unacknowledged: int | None
    consumers: int | None
    consumer_utilisation: float | None
    state: str
    rates: dict[str, float]
    plumbing: bool
    node: str | None
    members: list[str]
    online: list[str]
    delivery_limit: DeliveryLimit | None
    default_routed: NotRequired[bool]  # Celery sends to it through the default exchange: draw that binding
    group: NotRequired[str]  # as on ExchangeNode
    group_name: NotRequired[str]


class ConnectionNode(TypedDict):
    id: str
    kind: Literal["connection"]
    name: str
    label: str
    user: str
    peer: str
    client: dict[str, Any]
    plumbing: bool


class ConsumerNode(TypedDict):
    id: str
    kind: Literal["consumer"]
    name: str
    label: str
    queue: str
    channel: str
    connection: str
    parent: str
    prefetch_count: int
    ack_required: bool
    active: bool
    exclusive: bool
    plumbing: bool
    group: NotRequired[str]  # its queue's name group: folded with it
    group_name: NotRequired[str]


class WorkerConsumer(TypedDict):
    """One of a Celery worker's consumers, folded into its worker node."""

    queue: str
    consumer_tag: str
    channel: str
    prefetch_count: int
    ack_required: bool
    active: bool


class WorkerNode(TypedDict):
    id: str
    kind: Literal["worker"]
    name: str
    label: str
    online: bool
    pid: int | None
    pool: int | None
    active: int
    processed: int
    succeeded: int
    failed: int
    retried: int
    loadavg: list[float]
    freq: float
    sw_ident: str
    sw_ver: str
    offline_since: float | None
    queues: list[str]
    plumbing: bool
    connection: NotRequired[str | None]  # the AMQP connection it consumes on, when the broker shows it
    consumers: NotRequired[list[WorkerConsumer]]


Node = ExchangeNode | QueueNode | ConnectionNode | ConsumerNode | WorkerNode


class Edge(TypedDict):
    id: str
    kind: EdgeKind
    source: str
    target: str
    routing_key: str | None
    arguments: dict[str, Any]
    destination_type: NotRequired[Literal["queue", "exchange"]]
    implicit: NotRequired[bool]
    worker: NotRequired[bool]  # queue -> Celery worker
    learned: NotRequired[str]  # how the service knows that worker consumes that queue


class ElementLists(TypedDict):
    nodes: list[dict[str, Any]]
    edges: list[dict[str, Any]]


# ---- sources and the broker ----------------------------------------------------------------------
class Status(TypedDict):
    source: str
    state: SourceState
    detail: str
    last_success: float | None
    last_error: str | None
    since: float
    extra: dict[str, Any]


class MissingNote(TypedDict):
    what: str
    why: str


class Figures(TypedDict):
    depths: FigureSource
    consumer_counts: FigureSource
    rates: FigureSource
    consumer_details: FigureSource  # "none": no consumer is drawn, and none is counted


class BrokerInfo(TypedDict, total=False):
    rabbitmq_version: str
    cluster_name: str
    product_name: str
    node: str
    statistics: bool
    figures: Figures
    missing: list[MissingNote]
    prometheus_nodes: list[str]
    vhosts_without_access: list[str]
    definitions_file: str


# ---- Socket.IO frames ---------------------------------------------------------------------------------
class VhostEntry(TypedDict):
    name: str


class TracingOffer(TypedDict):
    """Whether this service may trace (firehose) and how a user turns that on."""

    allowed: bool  # started with --allow-tracing
    available: bool  # this mode has a broker to trace (live mode)
    reason: str  # why tracing cannot start here, or "" when it can
    enable: str  # how to turn it on, for the page to show when it is off
    simulated: bool  # the demo's own trace of its synthetic traffic: no broker is involved
    default_minutes: float
    max_minutes: float


class Hello(TypedDict):
    mode: Literal["live", "definitions", "demo", "replay"]
    statuses: dict[str, Status]
    topology_source: str | None  # which of the statuses is the graph's own source
    default_vhost: str | None  # where the page opens when the URL does not say
    tracing: TracingOffer


class StatusFrame(TypedDict):
    source: str
    status: Status
    topology: bool  # True for the source the graph comes from


class Snapshot(TypedDict):
    vhost: str
    version: int
    nodes: list[dict[str, Any]]
    edges: list[dict[str, Any]]
    status: Status | None
    broker: BrokerInfo


class PatchRemovals(TypedDict):
    nodes: list[str]
    edges: list[str]


# "from" is a Python keyword, so this one is declared in the functional form.
Patch = TypedDict(
    "Patch",
    {
        "vhost": str,
        "from": int,  # the version the patch applies to; a client at another version resyncs
        "to": int,
        "add": ElementLists,  # whole elements
        "remove": PatchRemovals,  # ids
        "change": ElementLists,  # {"id", <changed fields only>}
        "routing": bool,  # it can change where messages go (exchanges, queues, bindings): route answers are asked again
    },
)


class VhostRemoved(TypedDict):
    vhost: str


class ErrorFrame(TypedDict):
    message: str
    vhost: NotRequired[str]


class Finding(TypedDict):
    rule: str
    severity: Severity
    node: str
    message: str
    since: float


class FindingKey(TypedDict):
    """What names a finding: its rule and its node (never its message, whose figures move)."""

    rule: str
    node: str


class FindingsFrame(TypedDict):
    """A vhost's findings as a diff from the previous frame: the live service sends only what
    came, went or changed (its severity, or its message's words: figures alone never count).
    A recording replayed sends the whole list in ``findings`` instead, which replaces it."""

    vhost: str
    added: NotRequired[list[Finding]]
    removed: NotRequired[list[FindingKey]]
    changed: NotRequired[list[Finding]]
    findings: NotRequired[list[Finding]]


class ActivityFigures(TypedDict):
    count: int
    rate: float
    states: dict[str, int]


class TaskSample(TypedDict):
    uuid: str
    name: str | None
    state: TaskState
    queue: str | None
    exchange: str | None
    worker: str | None
    runtime: float | None
    path: list[str]


class Gaps(TypedDict):
    reconnects: int
    queue_lost: int
    broker_restarted: int
    expired: int
    over_limit: int
    last_gap: float | None


class ActivityFrame(TypedDict):
    vhost: str
    interval: float
    at: float
    events: int
    edges: dict[str, ActivityFigures]
    nodes: dict[str, ActivityFigures]
    samples: list[TaskSample]
    gaps: Gaps | None


# ---- firehose tracing (GET /api/trace, the `trace` and `trace-activity` frames) ----------------------------
class TraceCounts(TypedDict):
    traced: int  # trace messages received: publish and deliver copies
    publishes: int
    deliveries: int
    agreed: int  # publishes the broker routed as the simulator said
    disagreed: int  # … routed otherwise, confirmed on a newer topology (a finding on the exchange)
    pending: int  # … routed otherwise on the topology at hand: judged again on the next polls
    unchecked: int  # … not compared (see unchecked_reasons)
    unchecked_reasons: dict[str, int]
    unroutable: int  # publishes the broker routed to no queue
    dropped: int  # trace messages the broker dropped from the service's bounded trace queue
    dropped_exact: bool  # False: more were dropped than could be counted (a lower bound)
    malformed: int  # trace messages whose headers could not be read (see malformed_reasons)
    malformed_reasons: dict[str, int]
    filtered: int  # outside the exchange or queue asked for
    non_utf8: int  # carried names that are not UTF-8 (shown with \xNN escapes)
    unknown_exchange: int  # published to an exchange the current topology does not have


class TracePublisher(TypedDict):
    connection: str | None
    channel: int | None
    user: str | None
    node: str | None  # the broker node that traced it


class TraceDelivery(TypedDict):
    queue: str
    time: float
    connection: str | None
    channel: int | None
    user: str | None
    redelivered: bool
    consumer: str | None  # the consumer's node id, when the graph has it


class TraceMessage(TypedDict):
    id: int  # increases with each message of a trace; the page updates a row by it
    time: float
    exchange: str
    routing_key: str
    routing_keys: list[str]  # with the CC and BCC keys, as the broker routed it
    headers: dict[str, Any]
    properties: dict[str, Any]
    size: int  # body bytes
    published: bool  # its publish copy was seen (False: only deliveries)
    routed_queues: list[str] | None  # the broker's answer
    simulated_queues: list[str] | None  # the simulator's, on topology_version
    verdict: TraceVerdict | None
    verdict_reason: str | None
    topology_version: int | None
    unroutable: bool
    publisher: TracePublisher | None
    delivered_to: list[TraceDelivery]
    redelivered: bool
    path: list[str]  # graph element ids it went along, publisher side first
    body: NotRequired[str]  # only with ?bodies=1: the start of the body, as text
    body_truncated: NotRequired[bool]


class TraceDisagreement(TypedDict):
    exchange: str
    routing_key: str
    routing_keys: list[str]
    headers: dict[str, Any]
    routed_queues: list[str]
    simulated_queues: list[str]
    topology_version: int | None
    count: int
    time: float
    publisher: TracePublisher | None


class TraceUnroutable(TypedDict):
    exchange: str
    connection: str | None
    user: str | None
    count: int
    last: float


class TraceFaults(TypedDict):
    reconnects: int  # the consumer's connection was lost and made again (what was queued for it was lost)
    queue_lost: int  # the trace queue was deleted under the service (declared again)
    tracing_found_off: int  # the vhost's tracing flag was found off mid-trace (a broker restart clears it)
    tracing_reenabled: int
    last_fault: float | None


class TraceBroker(TypedDict):
    tracing: bool | None  # the vhost's flag as last read through the management API
    was_on: bool | None  # already on when the trace started: left on when it stops
    node: str | None  # the node whose management API turned it on
    nodes: list[str]  # the nodes running the vhost
    untraced_nodes: list[str]  # nodes whose channels are not traced (see note)
    seen_nodes: list[str]  # nodes that sent trace messages
    note: str
    queue: str | None  # the service's own trace queue
    bindings: list[str]  # its binding keys on amq.rabbitmq.trace
    consumer: SourceState
    last_error: str | None
    faults: TraceFaults


class TraceLimits(TypedDict):
    max_length: int
    max_length_bytes: int
    message_ttl_ms: int
    prefetch: int
    body_bytes: int  # bodies are cut to this many bytes when read
    recent_messages: int
    simulations_per_second: int


class TraceStatus(TypedDict):
    vhost: str
    allowed: bool
    state: TraceState
    exchange: str | None  # the filter asked for, if any
    queue: str | None
    started: float | None
    until: float | None  # when it stops by itself
    stopped: float | None
    stop_reason: str | None
    watchers: int  # pages watching it; it stops soon after the last one closes
    counts: TraceCounts
    broker: TraceBroker | None
    limits: TraceLimits
    disagreements: list[TraceDisagreement]
    unroutable: list[TraceUnroutable]
    topology_version: int | None
    messages: NotRequired[list[TraceMessage]]  # GET /api/trace only, newest last


class TraceFigures(TypedDict):
    count: int
    rate: float


class TracePublisherFigures(TypedDict):
    connection: str | None
    user: str | None
    label: str
    node: str | None  # its connection node id, when the graph has it
    exchange: str  # the exchange node id it published to
    count: int
    unroutable: int


class TraceConsumerFigures(TypedDict):
    queue: str  # queue node id
    consumer: str | None  # consumer node id when the graph has it (None: basic.get, or not polled yet)
    edge: str | None  # the consumes edge id
    connection: str | None
    channel: int | None
    user: str | None
    count: int
    redelivered: int


class TraceUnexplained(TypedDict):
    """Routed by the broker where the simulator finds no path: drawn as a direct hop."""

    source: str
    target: str
    count: int


class TraceSample(TypedDict):
    id: int
    kind: Literal["publish", "deliver"]
    exchange: str
    routing_key: str
    path: list[str]
    queues: list[str]
    verdict: TraceVerdict | None
    unroutable: bool
    redelivered: bool
    publisher: TracePublisher | None
    consumer: str | None


class TraceActivity(TypedDict):
    vhost: str
    interval: float
    at: float
    events: int  # trace messages in this interval
    counts: TraceCounts  # since the trace started
    edges: dict[str, TraceFigures]  # graph edge id -> messages along it in this interval
    nodes: dict[str, TraceFigures]  # exchange and queue node ids
    publishers: list[TracePublisherFigures]
    consumers: list[TraceConsumerFigures]
    unexplained: list[TraceUnexplained]
    samples: list[TraceSample]  # a few messages of this interval, to animate one by one
    messages: list[TraceMessage]  # recent messages added or changed in this interval (no bodies), newest last
    more_messages: int  # … and how many more there were than sent


# ---- JSON API -------------------------------------------------------------------------------------------
class Task(TypedDict):
    uuid: str
    name: str | None
    state: TaskState | None
    args: str | None
    kwargs: str | None
    result: str | None
    exception: str | None
    worker: str | None
    queue: str | None
    exchange: str | None
    routing_key: str | None
    retries: int | None
    runtime: float | None
    sent: float | None
    received: float | None
    started: float | None
    finished: float | None
    updated: float | None
    parent_id: str | None
    root_id: str | None
    traceback: NotRequired[str | None]
    timeline: NotRequired[list[TaskStep]]  # GET /api/tasks/<uuid> only


class TaskStep(TypedDict):
    """One state change of a task, at the time its event says (the sender's clock)."""

    state: TaskState
    time: float


class TaskRow(TypedDict):
    """A task as a row of the Tasks tab's list: no args, kwargs, result or traceback."""

    uuid: str
    name: str | None
    state: TaskState | None
    worker: str | None
    queue: str | None
    exchange: str | None
    routing_key: str | None
    retries: int | None
    runtime: float | None
    exception: str | None
    sent: float | None
    received: float | None
    started: float | None
    finished: float | None
    updated: float | None


class FailureGroup(TypedDict):
    """Failed tasks with the same exception type and message."""

    type: str  # "ValueError", or "unknown" when the failure carried no exception
    message: str
    exception: str  # the most recent one, as Celery reported it
    count: int
    first_seen: float | None
    last_seen: float | None
    names: list[str]  # task names (up to 10)
    workers: list[str]  # (up to 10)
    tasks: list[str]  # task ids, most recent first (up to 10)


class Failures(TypedDict):
    """GET /api/failures: groups failing most recently first, over the tasks still kept."""

    failed: int  # failed tasks among those kept
    groups_total: int
    groups: list[FailureGroup]
    tasks_kept: int
    tasks_limit: int


class Worker(TypedDict):
    hostname: str
    first_seen: float
    pid: int | None
    freq: float
    sw_ident: str
    sw_ver: str
    sw_sys: str
    active: int
    processed: int
    succeeded: int
    failed: int
    retried: int
    loadavg: list[float]
    pool: int | None
    online: bool
    last_heartbeat: float | None
    offline_since: float | None
    queues: list[str]
    queue_sources: dict[str, str]  # queue -> how the service knows: "broker", "tasks" or "inspect"


class RecentTasks(TypedDict):
    window: int  # seconds
    counts: dict[str, int]  # task events by state over the window: "failed" is the Tasks tab's number


class TaskNameFigures(TypedDict):
    counts: dict[str, int]
    rates: dict[str, float]
    runtime: dict[str, float] | None


class CelerySummary(TypedDict):
    """GET /api/celery; with ?include=tasks,workers,failures, everything the Tasks tab shows."""

    vhost: str
    enabled: bool
    source: Status | None
    gaps: Gaps | None
    recent: RecentTasks
    task_names: dict[str, TaskNameFigures]
    queues: dict[str, dict[str, int]]
    events_applied: int
    tasks_kept: int
    tasks_limit: int
    tasks: NotRequired[list[TaskRow]]
    workers: NotRequired[list[Worker]]
    failures: NotRequired[Failures]


class Semantics(TypedDict):
    version: str
    exact_header_values: bool
    local_random: bool
    description: str


RouteVerdict = Literal["matched", "missed", "taken", "not-taken", "not-evaluated", "candidate"]


class EdgeVerdict(TypedDict):
    verdict: RouteVerdict
    reason: str


class EdgeExplanation(TypedDict):
    """Why one edge the page can click did or did not carry the message."""

    edge: str  # the graph edge's id: a binding, an implicit default-exchange binding, an alternate edge
    matched: bool  # it carried the message
    verdict: RouteVerdict
    reason: str
    # Evaluated bindings also name what they bind:
    source: NotRequired[str]
    destination: NotRequired[str]
    destination_type: NotRequired[str]
    routing_key: NotRequired[str]


class RouteAnswer(TypedDict):
    queues: list[str]
    unroutable: bool
    status: RouteStatus
    message: str
    hops: list[dict[str, Any]]
    reasons: dict[str, list[str]]
    bindings: list[EdgeExplanation]
    exchanges: list[dict[str, Any]]
    unsupported: list[str]
    routing_keys: list[str]
    one_of: dict[str, list[str]]
    semantics: Semantics | None
    otherwise: dict[str, EdgeVerdict]  # exchange node id -> the verdict for its edges not in ``bindings``
    path: list[str]  # ids of the graph elements the message passes, for the page to light up


# ---- time travel (the recording: docs/recording.md) -------------------------------------------------------
# "from" is a Python keyword: these are declared in the functional form.
RecordingWindow = TypedDict("RecordingWindow", {"from": float, "to": float})


class TopologyAnswer(TypedDict):
    """GET /api/topology; with ?at=, the graph as the page showed it then."""

    vhost: str
    version: int
    source: Status | None
    broker: BrokerInfo
    nodes: list[dict[str, Any]]
    edges: list[dict[str, Any]]
    at: NotRequired[float]  # the moment asked for
    recorded_at: NotRequired[float]  # the last change recorded at or before it


class DiagnosticsAnswer(TypedDict):
    """GET /api/diagnostics; with ?at=, the findings the page showed then."""

    vhost: str
    findings: list[Finding]
    at: NotRequired[float]


class OutsideRecording(TypedDict):
    """The 404 for a moment that was not recorded: what was (null when the service does not record)."""

    error: str
    status: int
    window: RecordingWindow | None


class RecordingInfo(TypedDict):
    """GET /api/recording."""

    mode: Literal["recording", "replay", "off"]
    state: Literal["starting", "recording", "paused", "stopped", "replay", "off"]
    message: str  # why it is paused (a full disk), else ""
    file: str | None  # the file's name (never its directory)
    window: RecordingWindow | None  # the first and last moments held
    spans: list[RecordingWindow]  # stretches recorded (the service running), the last 100
    spans_total: int
    max_hours: float | None
    max_mb: float | None
    used_bytes: int | None
    dropped: int  # frames the hub could not queue for the writer (the queue was full)
    lost_while_paused: int


MarkKind = Literal["finding-appeared", "finding-cleared", "source-down", "source-up"]


class TimelineMark(TypedDict):
    t: float
    kind: MarkKind
    # finding-appeared / finding-cleared:
    vhost: NotRequired[str]
    rule: NotRequired[str]
    severity: NotRequired[Severity]
    node: NotRequired[str]
    message: NotRequired[str]
    since: NotRequired[float]  # a finding: when it began; source-up: when the outage began
    # source-down / source-up:
    source: NotRequired[str]
    state: NotRequired[str]
    detail: NotRequired[str]
    last_error: NotRequired[str | None]


Timeline = TypedDict(
    "Timeline",
    {
        "vhost": str,
        "from": float,
        "to": float,
        "window": RecordingWindow,
        "spans": list[RecordingWindow],
        "marks": list[TimelineMark],  # in time order
        "more": bool,  # more marks than sent: ask for a shorter range
    },
)


class HistoryPoint(TypedDict):
    t: float
    messages_ready: int | None
    messages_unacknowledged: int | None
    consumers: int | None
    rates: dict[str, float]


NodeHistory = TypedDict(
    "NodeHistory",
    {
        "vhost": str,
        "node": str,
        "from": float,
        "to": float,
        "step": float | None,  # seconds per point when downsampled, else null (every change)
        "points": list[HistoryPoint],  # each holds until the next
        "window": RecordingWindow,
    },
)


class RecordedFrame(TypedDict):
    t: float
    event: Literal["snapshot", "patch", "findings", "activity", "status", "vhost-removed"]
    data: Snapshot | Patch | FindingsFrame | ActivityFrame | StatusFrame | VhostRemoved


RecordedFrames = TypedDict(
    "RecordedFrames",
    {
        "vhost": str,
        "from": float,
        "to": float,
        "frames": list[RecordedFrame],  # in the order they were sent
        "next": float | None,  # cut short: ask again with from=next
        "window": RecordingWindow,
    },
)


# ---- GET /api/cluster: one process of several (--message-queue) ----------------------------------
ClusterRole = Literal["leader", "starting", "follower", "connecting"]


class ClusterAnswer(TypedDict):
    role: ClusterRole  # this process: leads (reads the broker), is taking over, follows, or has no broker
    process: str  # this process, as host:pid
    leader: str | None  # the process that leads, as last announced (None: not known yet)
    pages: int  # pages (Socket.IO clients) this process holds


# Frames by Socket.IO event name: what schema.py describes and the tests check.
SOCKET_EVENTS: dict[str, Any] = {
    "hello": Hello,
    "vhosts": list[VhostEntry],
    "status": StatusFrame,
    "snapshot": Snapshot,
    "patch": Patch,
    "vhost-removed": VhostRemoved,
    "error": ErrorFrame,
    "findings": FindingsFrame,
    "activity": ActivityFrame,
    "trace": TraceStatus,
    "trace-activity": TraceActivity,
}
