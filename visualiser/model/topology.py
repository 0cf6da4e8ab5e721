"""Turn one vhost's entities into the graph the browser draws.

The graph is plain JSON-ready data: ``nodes`` and ``edges`` keyed by id. Ids encode the
kind and the name (``queue:orders``, ``exchange:orders``) so that a queue and an exchange
may share a name, and names may contain any character. The implicit default-exchange
binding of every queue is not sent: it is derivable (every queue, by its own name), and
would double the edge count of a large broker; the browser draws it on request.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from ..contract.vocabulary import DEFAULT_EXCHANGE_LABEL, IMPLICIT_BINDING_PREFIX
from .arguments import alternate_exchange_of, dead_letter_of, delivery_limit_of
from .entities import (
    DEFAULT_EXCHANGE,
    Binding,
    Connection,
    Exchange,
    Queue,
    VhostSnapshot,
)

# Celery's own plumbing: event fan-out, remote-control mailboxes and their replies; and the
# broker's event exchange with this service's queues on it (sources/broker_events.py).
_PLUMBING_QUEUE = re.compile(r"^celeryev\.|\.pidbox$|^celery@.*\.celery\.pidbox$|^visualiser\.events\.")
_PLUMBING_EXCHANGES = {"celeryev", "celery.pidbox", "reply.celery.pidbox", "amq.rabbitmq.event"}


def node_id(kind: str, name: str) -> str:
    return f"{kind}:{name}"


def implicit_binding_id(queue: str) -> str:
    """The id the page gives a queue's implicit default-exchange binding when it draws one."""
    return IMPLICIT_BINDING_PREFIX + node_id("queue", queue)


def alternate_edge_id(exchange: str) -> str:
    """The edge from an exchange to its alternate exchange."""
    return f"alternate:{exchange}"


def binding_id(binding: Binding) -> str:
    key = [binding.source, binding.destination_type, binding.destination, binding.routing_key, binding.arguments]
    return "binding:" + json.dumps(key, sort_keys=True, separators=(",", ":"), default=str)


def is_plumbing_queue(name: str) -> bool:
    return bool(_PLUMBING_QUEUE.search(name))


def is_plumbing_exchange(name: str) -> bool:
    return name in _PLUMBING_EXCHANGES


@dataclass
class Graph:
    nodes: dict[str, dict[str, Any]] = field(default_factory=dict)
    edges: dict[str, dict[str, Any]] = field(default_factory=dict)

    def as_lists(self) -> dict[str, list[dict[str, Any]]]:
        return {"nodes": list(self.nodes.values()), "edges": list(self.edges.values())}


def build_graph(snapshot: VhostSnapshot) -> Graph:
    graph = Graph()
    for exchange in snapshot.exchanges:
        graph.nodes[node_id("exchange", exchange.name)] = _exchange_node(exchange, snapshot)
    for queue in snapshot.queues:
        graph.nodes[node_id("queue", queue.name)] = _queue_node(queue, snapshot.broker_version)
    for binding in snapshot.bindings:
        _add_binding(graph, binding)
    for queue in snapshot.queues:
        _add_dead_letter_edge(graph, queue)
    for exchange in snapshot.exchanges:
        _add_alternate_edge(graph, exchange, snapshot)
    _add_consumers(graph, snapshot)
    return graph


def _exchange_node(exchange: Exchange, snapshot: VhostSnapshot) -> dict[str, Any]:
    is_default = exchange.name == DEFAULT_EXCHANGE
    node = {
        "id": node_id("exchange", exchange.name),
        "kind": "exchange",
        "name": exchange.name,
        "label": DEFAULT_EXCHANGE_LABEL if is_default else exchange.name,
        "type": exchange.type,
        "durable": exchange.durable,
        "auto_delete": exchange.auto_delete,
        "internal": exchange.internal,
        "arguments": exchange.arguments,
        "policy": exchange.policy,
        "alternate_exchange": alternate_exchange_of(exchange, snapshot),
        "rates": exchange.rates,
        "plumbing": is_plumbing_exchange(exchange.name),
        "builtin": is_default or exchange.name.startswith("amq."),
    }
    if is_default:
        node["default"] = True
    return node


def _queue_node(queue: Queue, broker_version: str | None = None) -> dict[str, Any]:
    return {
        "id": node_id("queue", queue.name),
        "kind": "queue",
        "name": queue.name,
        "label": queue.name,
        "type": queue.type,
        "durable": queue.durable,
        "auto_delete": queue.auto_delete,
        "exclusive": queue.exclusive,
        "arguments": queue.arguments,
        "policy": queue.policy,
        "effective_policy_definition": queue.effective_policy_definition,
        "messages_ready": queue.messages_ready,
        "messages_unacknowledged": queue.messages_unacknowledged,
        "consumers": queue.consumers,
        "consumer_utilisation": queue.consumer_utilisation,
        "state": queue.state,
        "rates": queue.rates,
        "plumbing": is_plumbing_queue(queue.name),
        "node": queue.node,
        "members": list(queue.members),
        "online": list(queue.online),
        "delivery_limit": delivery_limit_of(queue, broker_version),
    }


def _ensure_exchange(graph: Graph, name: str) -> str:
    """Id of the named exchange, adding a 'missing' placeholder when it does not exist."""
    nid = node_id("exchange", name)
    if nid not in graph.nodes:
        graph.nodes[nid] = {
            "id": nid,
            "kind": "exchange",
            "name": name,
            "label": name or DEFAULT_EXCHANGE_LABEL,
            "type": "missing",
            "missing": True,
            "arguments": {},
            "plumbing": False,
        }
    return nid


def _add_binding(graph: Graph, binding: Binding) -> None:
    if binding.source == DEFAULT_EXCHANGE:
        return  # implicit: see module docstring
    target = node_id(binding.destination_type, binding.destination)
    if target not in graph.nodes:
        return  # the listing raced a delete; the next poll settles it
    source = _ensure_exchange(graph, binding.source)
    edge_id = binding_id(binding)
    graph.edges[edge_id] = {
        "id": edge_id,
        "kind": "binding",
        "source": source,
        "target": target,
        "routing_key": binding.routing_key,
        "arguments": binding.arguments,
        "destination_type": binding.destination_type,
    }


def _add_dead_letter_edge(graph: Graph, queue: Queue) -> None:
    dead_letter = dead_letter_of(queue)
    if dead_letter is None:
        return
    exchange, key = dead_letter
    source = node_id("queue", queue.name)
    target = _ensure_exchange(graph, exchange)
    edge_id = f"dead-letter:{queue.name}"
    graph.edges[edge_id] = {
        "id": edge_id,
        "kind": "dead-letter",
        "source": source,
        "target": target,
        "routing_key": key,
        "arguments": {},
    }


def _add_alternate_edge(graph: Graph, exchange: Exchange, snapshot: VhostSnapshot) -> None:
    alternate = alternate_exchange_of(exchange, snapshot)
    if alternate is None:
        return
    edge_id = alternate_edge_id(exchange.name)
    graph.edges[edge_id] = {
        "id": edge_id,
        "kind": "alternate",
        "source": node_id("exchange", exchange.name),
        "target": _ensure_exchange(graph, alternate),
        "routing_key": None,
        "arguments": {},
    }


def _connection_fields(connection_name: str, connections: dict[str, Connection]) -> dict[str, Any]:
    conn = connections.get(connection_name)
    client = conn.client if conn else {}
    named = client.get("connection_name")
    product = client.get("product")
    peer = conn.peer if conn else ""
    label = named or (f"{product} @ {peer}" if product and peer else connection_name)
    return {
        "label": str(label),
        "user": conn.user if conn else "",
        "peer": peer,
        "client": client,
    }


def _add_consumers(graph: Graph, snapshot: VhostSnapshot) -> None:
    connections = {c.name: c for c in snapshot.connections}
    for consumer in snapshot.consumers:
        queue_nid = node_id("queue", consumer.queue)
        if queue_nid not in graph.nodes:
            continue
        plumbing = graph.nodes[queue_nid]["plumbing"]
        conn_nid = node_id("connection", consumer.connection)
        if conn_nid not in graph.nodes:
            graph.nodes[conn_nid] = {
                "id": conn_nid,
                "kind": "connection",
                "name": consumer.connection,
                "plumbing": plumbing,
                **_connection_fields(consumer.connection, connections),
            }
        elif not plumbing:
            graph.nodes[conn_nid]["plumbing"] = False
        consumer_nid = node_id("consumer", f"{consumer.channel}\n{consumer.consumer_tag}")
        graph.nodes[consumer_nid] = {
            "id": consumer_nid,
            "kind": "consumer",
            "name": consumer.consumer_tag,
            "label": consumer.consumer_tag,
            "queue": consumer.queue,
            "channel": consumer.channel,
            "connection": conn_nid,
            "parent": conn_nid,
            "prefetch_count": consumer.prefetch_count,
            "ack_required": consumer.ack_required,
            "active": consumer.active,
            "exclusive": consumer.exclusive,
            "plumbing": plumbing,
        }
        edge_id = f"consumes:{consumer_nid}"
        graph.edges[edge_id] = {
            "id": edge_id,
            "kind": "consumes",
            "source": queue_nid,
            "target": consumer_nid,
            "routing_key": None,
            "arguments": {},
        }
