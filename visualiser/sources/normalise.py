"""Raw JSON (management API listings, definitions exports) to entities.

Both formats are close cousins; the differences live here and nowhere else. Input is
untrusted: a missing or mistyped field falls back to a neutral default instead of failing
the whole listing, and names are kept exactly as given.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from ..model.entities import (
    Binding,
    Connection,
    Consumer,
    Exchange,
    Policy,
    Queue,
    VhostSnapshot,
)
from ..model.policies import resolve_policies

# Every vhost has these; a definitions export leaves them out.
BUILTIN_EXCHANGES = (
    ("", "direct"),
    ("amq.direct", "direct"),
    ("amq.fanout", "fanout"),
    ("amq.headers", "headers"),
    ("amq.match", "headers"),
    ("amq.topic", "topic"),
    ("amq.rabbitmq.trace", "topic"),
)


class MalformedInput(ValueError):
    """The data is not the shape a listing or export should have."""


def _str(value: Any, default: str = "") -> str:
    return value if isinstance(value, str) else default


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _count(value: Any) -> int | None:
    """A figure the source may not have: None (unknown), never a made-up zero."""
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def _names(value: Any) -> tuple[str, ...]:
    return tuple(v for v in value if isinstance(v, str)) if isinstance(value, list) else ()


def _bool(value: Any, default: bool = False) -> bool:
    return value if isinstance(value, bool) else default


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _rate(stats: Any, key: str) -> float | None:
    details = _dict(_dict(stats).get(key))
    rate = details.get("rate")
    return float(rate) if isinstance(rate, (int, float)) and not isinstance(rate, bool) else None


def _rates(stats: Any, keys: dict[str, str]) -> dict[str, float]:
    found = {name: _rate(stats, key) for name, key in keys.items()}
    return {name: rate for name, rate in found.items() if rate is not None}


def require_list(value: Any, what: str) -> list[dict[str, Any]]:
    if not isinstance(value, list):
        raise MalformedInput(f"{what}: expected a JSON list, got {type(value).__name__}")
    return [item for item in value if isinstance(item, dict)]


def exchange_from(raw: dict[str, Any]) -> Exchange:
    return Exchange(
        name=_str(raw.get("name")),
        type=_str(raw.get("type"), "direct"),
        durable=_bool(raw.get("durable"), True),
        auto_delete=_bool(raw.get("auto_delete")),
        internal=_bool(raw.get("internal")),
        arguments=_dict(raw.get("arguments")),
        policy=raw.get("policy") if isinstance(raw.get("policy"), str) else None,
        rates=_rates(
            raw.get("message_stats"), {"publish_in": "publish_in_details", "publish_out": "publish_out_details"}
        ),
    )


def queue_from(raw: dict[str, Any], effective_policy_definition: dict[str, Any] | None = None) -> Queue:
    utilisation = raw.get("consumer_utilisation", raw.get("consumer_capacity"))
    arguments = _dict(raw.get("arguments"))
    return Queue(
        name=_str(raw.get("name")),
        type=_str(raw.get("type"), _str(arguments.get("x-queue-type"), "classic")),
        durable=_bool(raw.get("durable"), True),
        auto_delete=_bool(raw.get("auto_delete")),
        exclusive=_bool(raw.get("exclusive")),
        arguments=arguments,
        policy=raw.get("policy") if isinstance(raw.get("policy"), str) else None,
        effective_policy_definition=(
            effective_policy_definition
            if effective_policy_definition is not None
            else _dict(raw.get("effective_policy_definition"))
        ),
        messages_ready=_count(raw.get("messages_ready")),
        messages_unacknowledged=_count(raw.get("messages_unacknowledged")),
        consumers=_count(raw.get("consumers")),
        consumer_utilisation=float(utilisation) if isinstance(utilisation, (int, float)) else None,
        state=_str(raw.get("state"), "running"),
        node=_str(raw.get("leader")) or _str(raw.get("node")) or None,
        members=_names(raw.get("members")),
        online=_names(raw.get("online")),
        rates=_rates(
            raw.get("message_stats"),
            {
                "publish": "publish_details",
                "deliver_get": "deliver_get_details",
                "ack": "ack_details",
                "redeliver": "redeliver_details",
            },
        ),
    )


def binding_from(raw: dict[str, Any]) -> Binding:
    return Binding(
        source=_str(raw.get("source")),
        destination=_str(raw.get("destination")),
        destination_type="exchange" if raw.get("destination_type") == "exchange" else "queue",
        routing_key=_str(raw.get("routing_key")),
        arguments=_dict(raw.get("arguments")),
    )


def policy_from(raw: dict[str, Any]) -> Policy:
    return Policy(
        name=_str(raw.get("name")),
        pattern=_str(raw.get("pattern")),
        apply_to=_str(raw.get("apply-to"), "all"),
        priority=_int(raw.get("priority")),
        definition=_dict(raw.get("definition")),
    )


def consumer_from(raw: dict[str, Any]) -> Consumer:
    channel = _dict(raw.get("channel_details"))
    return Consumer(
        queue=_str(_dict(raw.get("queue")).get("name")),
        consumer_tag=_str(raw.get("consumer_tag")),
        channel=_str(channel.get("name")),
        connection=_str(channel.get("connection_name")),
        prefetch_count=_int(raw.get("prefetch_count")),
        ack_required=_bool(raw.get("ack_required"), True),
        active=_bool(raw.get("active"), True),
        exclusive=_bool(raw.get("exclusive")),
    )


def connection_from(raw: dict[str, Any]) -> Connection:
    client = _dict(raw.get("client_properties"))
    kept: dict[str, Any] = {
        k: client[k] for k in ("product", "version", "platform", "connection_name", "hostname") if k in client
    }
    host, port = raw.get("peer_host"), raw.get("peer_port")
    return Connection(
        name=_str(raw.get("name")),
        user=_str(raw.get("user")),
        peer=f"{host}:{port}" if host is not None else "",
        client=kept,
    )


def _vhost_of(raw: dict[str, Any], default: str | None) -> str | None:
    if "vhost" in raw:
        return raw["vhost"] if isinstance(raw["vhost"], str) else None
    nested = _dict(raw.get("queue")).get("vhost")  # consumers carry it on their queue
    return nested if isinstance(nested, str) else default


def group_by_vhost(items: Iterable[dict[str, Any]], default: str | None = None) -> dict[str, list[dict[str, Any]]]:
    grouped: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for item in items:
        vhost = _vhost_of(item, default)
        if vhost is not None:
            grouped[vhost].append(item)
    return grouped


def vhost_snapshot(
    vhost: str,
    *,
    exchanges: list[dict[str, Any]],
    queues: list[dict[str, Any]],
    bindings: list[dict[str, Any]],
    policies: list[dict[str, Any]] = (),  # type: ignore[assignment]
    consumers: list[dict[str, Any]] = (),  # type: ignore[assignment]
    connections: list[dict[str, Any]] = (),  # type: ignore[assignment]
    add_builtin_exchanges: bool = False,
    match_policies: bool = False,
    broker_version: str | None = None,
    statistics: bool = True,
) -> VhostSnapshot:
    """One vhost's entities. Policies: live listings name each object's policy and that is kept
    as the broker's word; ``match_policies`` (definitions exports, which name none) attributes
    them by matching patterns instead, in bounded time (model/policies.py)."""
    policy_objs = tuple(policy_from(p) for p in policies)
    exchange_objs = [exchange_from(e) for e in exchanges]
    if add_builtin_exchanges:
        present = {e.name for e in exchange_objs}
        exchange_objs[:0] = [Exchange(name=n, type=t) for n, t in BUILTIN_EXCHANGES if n not in present]
    definitions = {p.name: p.definition for p in policy_objs}

    def queue(raw: dict[str, Any]) -> Queue:
        # The queue-totals listing (statistics off) names the policy but not its definition.
        named = raw.get("policy")
        if "effective_policy_definition" not in raw and isinstance(named, str) and named in definitions:
            return queue_from(raw, dict(definitions[named]))
        return queue_from(raw)

    snapshot = VhostSnapshot(
        vhost=vhost,
        exchanges=tuple(exchange_objs),
        queues=tuple(queue(q) for q in queues),
        bindings=tuple(binding_from(b) for b in bindings),
        consumers=tuple(consumer_from(c) for c in consumers),
        connections=tuple(connection_from(c) for c in connections),
        policies=policy_objs,
        broker_version=broker_version,
        statistics=statistics,
    )
    return resolve_policies(snapshot) if match_policies else snapshot
