"""Whether a graph patch can change where a message goes.

A route answer depends on the exchanges (their type, whether they are internal, their
alternate exchange), the queues that exist and the bindings between them; it does not
depend on depths, rates, consumers or Celery workers. Patches carry ``routing: true`` only
when they touch the former, so that the page asks its routing question again only then.
"""

from __future__ import annotations

from ..model.diff import GraphDiff
from ..model.topology import Graph

ROUTING_NODE_KINDS = frozenset({"exchange", "queue"})
ROUTING_EDGE_KINDS = frozenset({"binding", "alternate"})
# Exchange fields a route depends on; a change to any other (rates, policy name alone) leaves answers as they are.
ROUTING_EXCHANGE_FIELDS = frozenset({"type", "internal", "arguments", "alternate_exchange", "missing"})


def changes_routing(old: Graph, patch: GraphDiff) -> bool:
    """True when applying `patch` to `old` can change a route answer."""
    if any(node.get("kind") in ROUTING_NODE_KINDS for node in patch["add"]["nodes"]):
        return True
    if any(edge.get("kind") in ROUTING_EDGE_KINDS for edge in patch["add"]["edges"]):
        return True
    if any(old.nodes.get(node_id, {}).get("kind") in ROUTING_NODE_KINDS for node_id in patch["remove"]["nodes"]):
        return True
    if any(old.edges.get(edge_id, {}).get("kind") in ROUTING_EDGE_KINDS for edge_id in patch["remove"]["edges"]):
        return True
    for change in patch["change"]["nodes"]:
        if old.nodes.get(change["id"], {}).get("kind") == "exchange" and ROUTING_EXCHANGE_FIELDS & change.keys():
            return True
    return any(old.edges.get(change["id"], {}).get("kind") in ROUTING_EDGE_KINDS for change in patch["change"]["edges"])
