"""The words and orders the page uses, owned here and sent to it.

Labels for kinds, states and severities, the order severities sort in, which source
states are healthy, human labels and units for fields: the page reads all of it from
``vocabulary()`` (embedded in the page as JSON) instead of restating it, so the server and
the page cannot drift apart. Python code uses the same tables.
"""

from __future__ import annotations

from typing import Any, Final

DEFAULT_EXCHANGE_LABEL: Final = "(AMQP default)"
# The page draws a queue's implicit default-exchange binding under this prefix + the queue's node id.
IMPLICIT_BINDING_PREFIX: Final = "implicit:"

NODE_KINDS: Final = {
    "exchange": {"label": "exchange", "plural": "exchanges"},
    "queue": {"label": "queue", "plural": "queues"},
    "consumer": {"label": "consumer", "plural": "consumers"},
    "connection": {"label": "connection", "plural": "connections"},
    "worker": {"label": "Celery worker", "plural": "Celery workers"},
    # Drawn by the page only: a big vhost's name group (model/groups.py), folded into one node.
    "group": {"label": "group", "plural": "groups"},
}

EDGE_KINDS: Final = {
    "binding": {"label": "binding", "legend": "binding (label: its routing key)"},
    "exchange-binding": {"label": "exchange-to-exchange binding", "legend": "exchange → exchange"},
    "dead-letter": {"label": "dead-letter", "legend": "dead-letter (where rejected or expired messages go)"},
    "alternate": {"label": "alternate exchange", "legend": "alternate (where unroutable messages go)"},
    "consumes": {"label": "consumes", "legend": "consumed by"},
    "publishes": {"label": "publishes", "legend": "publishes to"},
}

EXCHANGE_TYPES: Final = {
    "direct": {"label": "direct", "explanation": "to queues whose binding key equals the routing key"},
    "fanout": {"label": "fanout", "explanation": "to every bound queue, whatever the key"},
    "topic": {"label": "topic", "explanation": "to queues whose binding pattern (* one word, # any) matches the key"},
    "headers": {"label": "headers", "explanation": "to queues whose binding's headers match the message's"},
    "x-local-random": {
        "label": "x-local-random",
        "explanation": "to one queue, at random, among those on the publisher's node",
    },
    "missing": {"label": "missing", "explanation": "referenced, but not on the broker"},
}
OTHER_EXCHANGE_TYPE: Final = {"label": "other", "explanation": "a plugin's type: shown by name, not simulated"}

# Source states: what the status bar says, and whether the graph is current.
SOURCE_STATES: Final = {
    "starting": {"label": "starting", "healthy": True},
    "ok": {"label": "ok", "healthy": True},
    "stale": {"label": "stale", "healthy": False},
    "unreachable": {"label": "unreachable", "healthy": False},
    "unauthorised": {"label": "unauthorised", "healthy": False},
    "error": {"label": "failing", "healthy": False},
    "off": {"label": "off", "healthy": True},  # not available on this broker, and nothing is wrong
}
HEALTHY_STATES: Final = frozenset(state for state, info in SOURCE_STATES.items() if info["healthy"])

SOURCES: Final = {
    "management-api": "RabbitMQ management API",
    "definitions": "definitions file",
    "demo": "demo broker",
    "celery-events": "Celery events",
    "broker-events": "RabbitMQ events",
    "trace": "firehose trace",  # one status per traced vhost, named "trace:<vhost>"
    "recording": "recording",
    "replay": "recording replayed",
}
TRACE_SOURCE_PREFIX: Final = "trace:"
# What a source's outage means for what the page shows, said after its error in the banner.
SOURCE_OUTAGES: Final = {
    "management-api": "the graph is the last one read",
    "definitions": "the graph is the last file read",
    "demo": "the graph is the last one simulated",
    "celery-events": "tasks sent meanwhile are missing from the graph (a gap)",
    "broker-events": "changes appear at the next poll",
    "trace": "traced messages meanwhile are missing",
    "recording": "nothing is recorded meanwhile; the live view goes on",
    "replay": "the graph is the recording's last moment",
}

# Most severe first: the order findings sort in and the badge a node shows.
SEVERITIES: Final = ("critical", "warning", "info")
SEVERITY_LABELS: Final = {"critical": "critical", "warning": "warning", "info": "note"}

TASK_STATES: Final = ("sent", "received", "started", "succeeded", "failed", "retried", "revoked", "rejected")
TERMINAL_TASK_STATES: Final = frozenset({"succeeded", "failed", "revoked", "rejected"})
# How a state reads at a glance: good, bad, needs a look, or on its way.
TASK_STATE_TONES: Final = {
    "sent": "pending",
    "received": "pending",
    "started": "running",
    "succeeded": "ok",
    "failed": "bad",
    "retried": "warn",
    "revoked": "warn",
    "rejected": "bad",
}

ROUTE_STATUSES: Final = {
    "routed": {"label": "routed", "tone": "ok"},
    "unroutable": {"label": "unroutable", "tone": "warn"},
    "internal": {"label": "refused: internal exchange", "tone": "bad"},
    "no-such-exchange": {"label": "no such exchange", "tone": "bad"},
    "unsupported": {"label": "cannot simulate", "tone": "warn"},
}

# Why a clicked edge did or did not carry the message asked about (a route answer's
# ``bindings`` and ``otherwise``): the word the page puts before the server's reason.
ROUTE_VERDICTS: Final = {
    "matched": {"label": "Matched", "tone": "ok"},
    "missed": {"label": "Did not match", "tone": "idle"},
    "taken": {"label": "Taken", "tone": "ok"},
    "not-taken": {"label": "Not taken", "tone": "idle"},
    "not-evaluated": {"label": "Not evaluated", "tone": "idle"},
    "candidate": {"label": "One of the candidates", "tone": "pending"},
}

# Finding rules: a short title for lists and tooltips.
RULES: Final = {
    "no-consumers": "Backlog with no consumer",
    "backlog-growing": "Backlog growing",
    "not-consuming": "Consumers not consuming",
    "unacked-stuck": "Unacked messages stuck at prefetch",
    "unroutable": "Unroutable publishes",
    "routes-nowhere": "Exchange with no bindings",
    "dlx-missing": "Dead-letter exchange missing",
    "dlx-unrouted": "Dead-letters routed nowhere",
    "dlx-cycle": "Dead-letter cycle",
    "dlq-filling": "Dead-letter queue filling",
    "alternate-missing": "Alternate exchange missing",
    "default-exchange-only": "Reachable only by the default exchange",
    "max-length": "At its max-length",
    "replicas-lost": "Replicas offline",
    "worker-offline": "Celery worker offline",
    "tasks-not-started": "Tasks received but not started",
    "tasks-running-long": "Tasks running long",
    "task-route-unroutable": "Celery task routed nowhere",
    "policy-undecided": "Policy could not be evaluated",
    "trace-disagrees": "Broker routed a traced message otherwise than simulated",
}

# Firehose tracing: what the Trace control and the message list say.
TRACE_STATES: Final = {
    "off": {"label": "off", "tone": "idle"},
    "starting": {"label": "starting", "tone": "pending"},
    "on": {"label": "tracing", "tone": "ok"},
    "stopping": {"label": "stopping", "tone": "pending"},
    "failed": {"label": "failed", "tone": "bad"},
}
TRACE_VERDICTS: Final = {
    "agreed": {"label": "as simulated", "tone": "ok"},
    "disagreed": {"label": "not as simulated", "tone": "bad"},
    "pending": {"label": "checking against the next poll", "tone": "pending"},
    "unchecked": {"label": "not compared", "tone": "idle"},
}
TRACE_COUNTS: Final = {
    "traced": "trace messages",
    "publishes": "publishes",
    "deliveries": "deliveries",
    "agreed": "routed as simulated",
    "disagreed": "routed otherwise",
    "pending": "being checked",
    "unchecked": "not compared",
    "unroutable": "unroutable",
    "dropped": "dropped by the broker (trace queue full or expired)",
    "malformed": "unreadable",
    "filtered": "outside the filter",
    "non_utf8": "with names not in UTF-8",
    "unknown_exchange": "to an exchange not on the graph",
}
TRACE_UNCHECKED_REASONS: Final = {
    "sampled": "sampled away: more publishes than the simulator is given time for",
    "unsupported": "an exchange type the simulator does not know",
    "local-random": "x-local-random picks by node",
    "no-such-exchange": "the exchange is not on the graph (deleted since, or not polled yet)",
    "no-topology": "no topology for the vhost yet",
    "headers-too-large": "headers too large to compare",
    "overflow": "too many different disagreements waiting to be checked",
    "simulator-error": "the simulator failed on it (logged)",
}
TRACING_ENABLE_HINT: Final = (
    "start the service with --allow-tracing (or VISUALISER_ALLOW_TRACING=1, or "
    "allow_tracing = true in its config file); see docs/tracing.md"
)

# Fields of graph elements as the details panel shows them: label, and how to format the
# value ("count", "rate", "percent", "time", "duration", "yes-no", "list", "json", "rates",
# "delivery-limit", "load", "text"). "kind.field" entries override a field for one kind of
# element (a queue's `online` lists replicas, a worker's is a yes/no).
FIELDS: Final = {
    "name": ("Name", "text"),
    "type": ("Type", "text"),
    "messages_ready": ("Ready", "count"),
    "messages_unacknowledged": ("Unacknowledged", "count"),
    "consumers": ("Consumers", "count"),
    "consumer_utilisation": ("Consumer utilisation", "percent"),
    "state": ("State", "text"),
    "node": ("Node (leader, if replicated)", "text"),
    "members": ("Replicas", "list"),
    "online": ("Replicas online", "list"),
    "delivery_limit": ("Delivery limit", "delivery-limit"),
    "routing_key": ("Routing key", "text"),
    "arguments": ("Arguments", "json"),
    "policy": ("Policy", "text"),
    "effective_policy_definition": ("Policy definition", "json"),
    "alternate_exchange": ("Alternate exchange", "text"),
    "rates": ("Message rates", "rates"),
    "durable": ("Durable", "yes-no"),
    "auto_delete": ("Auto-delete", "yes-no"),
    "exclusive": ("Exclusive", "yes-no"),
    "internal": ("Internal", "yes-no"),
    "destination_type": ("Destination", "text"),
    "user": ("User", "text"),
    "peer": ("Peer", "text"),
    "client": ("Client", "json"),
    "queue": ("Queue", "text"),
    "channel": ("Channel", "text"),
    "connection": ("Connection", "text"),
    "prefetch_count": ("Prefetch", "count"),
    "ack_required": ("Acknowledges", "yes-no"),
    "active": ("Active", "count"),
    "online_state": ("Online", "yes-no"),
    "pid": ("PID", "text"),
    "pool": ("Pool size", "count"),
    "processed": ("Processed", "count"),
    "succeeded": ("Succeeded", "count"),
    "failed": ("Failed", "count"),
    "retried": ("Retried", "count"),
    "loadavg": ("Load average (1, 5, 15 min)", "load"),
    "freq": ("Heartbeat every", "duration"),
    "sw_ident": ("Software", "text"),
    "sw_ver": ("Version", "text"),
    "offline_since": ("Offline since", "time"),
    "queues": ("Queues", "list"),
    "learned": ("Known from", "learned"),
    "default_routed": ("Celery sends through the default exchange", "yes-no"),
    "consumer_tag": ("Consumer tag", "text"),
    "queue.online": ("Replicas online", "list"),
    "queue.state": ("Queue state", "text"),
    "worker.online": ("Online", "yes-no"),
    "worker.active": ("Tasks running", "count"),
    "worker.connection": ("AMQP connection", "text"),
    "consumer.active": ("Active", "yes-no"),
    "edge.kind": ("Kind", "text"),
}
# What a field shows when its value is null: the default for the element's kind, or the
# field's own words ("" hides the row: the field does not apply).
MISSING_VALUES: Final = {
    "default": "unknown (the broker does not report it)",
    "worker": "unknown (the worker has not said)",
}
FIELD_WHEN_MISSING: Final = {
    "policy": "none",
    "alternate_exchange": "none",
    "delivery_limit": "",
    "node": "unknown (the broker does not report it)",
    "worker.pool": "unknown (start the service with --inspect to ask the workers)",
    "worker.offline_since": "",
    "worker.connection": "not seen on the broker",
    "routing_key": "",
}
# How the service knows a worker consumes a queue (a queue → worker edge's `learned`).
WORKER_LINK_SOURCES: Final = {
    "broker": "the broker: consumed on the worker's own connection",
    "tasks": "tasks seen sent to this queue and received by this worker",
    "inspect": "the worker, asked with inspect (--inspect)",
}
# Queue and policy arguments: a human label and a format; the raw key stays in the tooltip.
# A policy's definition uses the same keys without the "x-".
ARGUMENTS: Final = {
    "x-message-ttl": ("Message TTL", "ms"),
    "x-expires": ("Expires when unused for", "ms"),
    "x-max-length": ("Max length", "messages"),
    "x-max-length-bytes": ("Max length", "bytes"),
    "x-overflow": ("When full", "text"),
    "x-dead-letter-exchange": ("Dead-letter exchange", "exchange"),
    "x-dead-letter-routing-key": ("Dead-letter routing key", "text"),
    "x-dead-letter-strategy": ("Dead-letter strategy", "text"),
    "x-queue-type": ("Queue type", "text"),
    "x-queue-mode": ("Queue mode", "text"),
    "x-queue-version": ("Queue version", "text"),
    "x-max-priority": ("Max priority", "text"),
    "x-single-active-consumer": ("Single active consumer", "yes-no"),
    "x-delivery-limit": ("Delivery limit", "count"),
    "x-quorum-initial-group-size": ("Initial replicas", "count"),
    "x-max-age": ("Max age", "text"),
    "x-stream-max-segment-size-bytes": ("Segment size", "bytes"),
    "x-consumer-timeout": ("Consumer timeout", "ms"),
    "alternate-exchange": ("Alternate exchange", "exchange"),
    "x-match": ("Match", "text"),
    "ha-mode": ("Mirroring (ha-mode; ignored since 4.0)", "text"),
    "ha-params": ("Mirrors (ha-params)", "text"),
    "ha-sync-mode": ("Mirror sync (ha-sync-mode)", "text"),
}
RATE_LABELS: Final = {
    "publish": "published",
    "deliver_get": "delivered",
    "ack": "acknowledged",
    "redeliver": "redelivered",
    "publish_in": "published in",
    "publish_out": "routed out",
}


def vocabulary() -> dict[str, Any]:
    """What the page needs to speak: sent once, embedded in the page."""
    return {
        "default_exchange_label": DEFAULT_EXCHANGE_LABEL,
        "implicit_binding_prefix": IMPLICIT_BINDING_PREFIX,
        "node_kinds": NODE_KINDS,
        "edge_kinds": EDGE_KINDS,
        "exchange_types": EXCHANGE_TYPES,
        "other_exchange_type": OTHER_EXCHANGE_TYPE,
        "source_states": SOURCE_STATES,
        "sources": SOURCES,
        "severities": [{"id": s, "label": SEVERITY_LABELS[s], "rank": i} for i, s in enumerate(SEVERITIES)],
        "task_states": [
            {"id": s, "tone": TASK_STATE_TONES[s], "terminal": s in TERMINAL_TASK_STATES} for s in TASK_STATES
        ],
        "route_statuses": ROUTE_STATUSES,
        "route_verdicts": ROUTE_VERDICTS,
        "source_outages": SOURCE_OUTAGES,
        "rules": RULES,
        "fields": {name: {"label": label, "format": kind} for name, (label, kind) in FIELDS.items()},
        "missing_values": MISSING_VALUES,
        "field_when_missing": FIELD_WHEN_MISSING,
        "worker_link_sources": WORKER_LINK_SOURCES,
        "arguments": {key: {"label": label, "format": kind} for key, (label, kind) in ARGUMENTS.items()},
        "rate_labels": RATE_LABELS,
        "trace_source_prefix": TRACE_SOURCE_PREFIX,
        "trace_states": TRACE_STATES,
        "trace_verdicts": TRACE_VERDICTS,
        "trace_counts": TRACE_COUNTS,
        "trace_unchecked_reasons": TRACE_UNCHECKED_REASONS,
        "tracing_enable_hint": TRACING_ENABLE_HINT,
    }
