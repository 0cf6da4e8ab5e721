"""Frame bodies on disk (zlib'd JSON), and the checks applied to everything read back.

A recording may come from anywhere (an attachment to a ticket) and may have been edited by
hand, so nothing read from one reaches the page unchecked: graph elements must have the
shape the page relies on (string ids, a known kind, edges between nodes that exist), lists
must be lists, and a body that does not decompress or parse is skipped, never a 500. Names
are kept exactly as recorded: the page renders every string as text.
"""

from __future__ import annotations

import json
import math
import zlib
from typing import Any, get_args

from ..contract.frames import EdgeKind, NodeKind, Severity
from ..contract.vocabulary import SEVERITIES as SEVERITY_ORDER

MAX_BODY_BYTES = 64 * 1024 * 1024  # a decompressed frame larger than this is refused (a zip bomb)
NODE_KINDS = frozenset(get_args(NodeKind))
EDGE_KINDS = frozenset(get_args(EdgeKind))
SEVERITIES = frozenset(get_args(Severity))


class Damaged(ValueError):
    """A frame body that cannot be read back."""


def encode(value: Any) -> bytes:
    text = json.dumps(value, separators=(",", ":"), default=str)
    return zlib.compress(text.encode("utf-8"), 6)


def decode(blob: Any) -> Any:
    if not isinstance(blob, bytes):
        raise Damaged("a frame body is not binary")
    inflater = zlib.decompressobj()
    try:
        raw = inflater.decompress(blob, MAX_BODY_BYTES)
    except zlib.error as exc:
        raise Damaged(f"a frame body does not decompress ({exc})") from None
    if inflater.unconsumed_tail:
        raise Damaged(f"a frame body is larger than {MAX_BODY_BYTES // (1024 * 1024)} MB")
    try:
        return json.loads(raw)
    except (ValueError, RecursionError):
        raise Damaged("a frame body is not JSON") from None


def finite(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


# Elements come straight from json.loads, owned by nobody else: checked in place, not copied
# (a moment of a 2,000-queue graph checks 6,000 of them).
def _node(value: Any) -> dict[str, Any] | None:
    if not isinstance(value, dict) or not isinstance(value.get("id"), str) or value.get("kind") not in NODE_KINDS:
        return None
    if not isinstance(value.get("name"), str):
        value["name"] = str(value["id"])
    if not isinstance(value.get("label"), str):
        value["label"] = value["name"]
    return value


def _edge(value: Any, nodes: dict[str, dict[str, Any]]) -> dict[str, Any] | None:
    if not isinstance(value, dict) or value.get("kind") not in EDGE_KINDS or not isinstance(value.get("id"), str):
        return None
    source, target = value.get("source"), value.get("target")
    if not isinstance(source, str) or not isinstance(target, str) or source not in nodes or target not in nodes:
        return None  # the page cannot draw an edge to nothing
    return value


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def graph_elements(nodes: Any, edges: Any) -> tuple[dict[str, dict[str, Any]], dict[str, dict[str, Any]]]:
    """Nodes and edges by id, keeping only well-formed elements."""
    by_id: dict[str, dict[str, Any]] = {}
    for value in _list(nodes):
        node = _node(value)
        if node is not None:
            by_id[node["id"]] = node
    edge_by_id: dict[str, dict[str, Any]] = {}
    for value in _list(edges):
        edge = _edge(value, by_id)
        if edge is not None:
            edge_by_id[edge["id"]] = edge
    return by_id, edge_by_id


def apply_patch(nodes: dict[str, dict[str, Any]], edges: dict[str, dict[str, Any]], patch: Any) -> bool:
    """Apply a recorded patch in place, checking each part; False when it is not a patch."""
    if not isinstance(patch, dict):
        return False
    add, remove, change = (_dict(patch.get(key)) for key in ("add", "remove", "change"))
    removed_nodes = False
    for items, kind in ((nodes, "nodes"), (edges, "edges")):
        for key in _list(remove.get(kind)):
            if isinstance(key, str) and items.pop(key, None) is not None:
                removed_nodes = removed_nodes or kind == "nodes"
    for value in _list(add.get("nodes")):
        node = _node(value)
        if node is not None:
            nodes[node["id"]] = node
    for value in _list(add.get("edges")):
        edge = _edge(value, nodes)
        if edge is not None:
            edges[edge["id"]] = edge
    for items, kind in ((nodes, "nodes"), (edges, "edges")):
        for value in _list(change.get(kind)):
            if isinstance(value, dict) and isinstance(value.get("id"), str) and value["id"] in items:
                fields = {k: v for k, v in value.items() if k not in ("id", "kind", "source", "target")}
                items[value["id"]] = {**items[value["id"]], **fields}
    if removed_nodes:  # their edges go with them
        for key in [k for k, e in edges.items() if e["source"] not in nodes or e["target"] not in nodes]:
            del edges[key]
    return True


def findings(value: Any) -> list[dict[str, Any]]:
    """A recorded findings list, keeping only findings of the contract's shape."""
    kept = []
    for item in _list(value):
        if (
            isinstance(item, dict)
            and all(isinstance(item.get(k), str) for k in ("rule", "node", "message"))
            and item.get("severity") in SEVERITIES
            and finite(item.get("since")) is not None
        ):
            kept.append(
                {
                    "rule": item["rule"],
                    "severity": item["severity"],
                    "node": item["node"],
                    "message": item["message"],
                    "since": item["since"],
                }
            )
    return kept


def findings_frame(value: Any) -> dict[str, Any]:
    """A recorded ``findings`` frame's body, of the contract's shape: a whole list (``findings``)
    or a diff (``added``, ``removed``, ``changed``)."""
    body = value if isinstance(value, dict) else {}
    if "findings" in body:
        return {"findings": findings(body["findings"])}
    removed = [
        {"rule": k["rule"], "node": k["node"]}
        for k in _list(body.get("removed"))
        if isinstance(k, dict) and isinstance(k.get("rule"), str) and isinstance(k.get("node"), str)
    ]
    return {"added": findings(body.get("added")), "removed": removed, "changed": findings(body.get("changed"))}


def apply_findings(current: list[dict[str, Any]], value: Any) -> list[dict[str, Any]]:
    """The findings after one recorded frame, in the service's order (most severe, then oldest)."""
    frame = findings_frame(value)
    if "findings" in frame:
        return list(frame["findings"])
    by_key = {(f["rule"], f["node"]): f for f in current}
    for gone in frame["removed"]:
        by_key.pop((gone["rule"], gone["node"]), None)
    for finding in frame["changed"] + frame["added"]:
        by_key[(finding["rule"], finding["node"])] = finding
    return sorted(
        by_key.values(), key=lambda f: (SEVERITY_ORDER.index(f["severity"]), f["since"], f["node"], f["rule"])
    )


def status(value: Any) -> dict[str, Any] | None:
    """A recorded source status of the contract's shape, or None."""
    if not isinstance(value, dict) or not isinstance(value.get("source"), str):
        return None
    if not isinstance(value.get("state"), str) or finite(value.get("since")) is None:
        return None
    return {
        "source": value["source"],
        "state": value["state"],
        "detail": str(value.get("detail") or ""),
        "last_success": finite(value.get("last_success")),
        "last_error": value["last_error"] if isinstance(value.get("last_error"), str) else None,
        "since": value["since"],
        "extra": value["extra"] if isinstance(value.get("extra"), dict) else {},
    }


def _figures(value: Any) -> dict[str, Any] | None:
    if not isinstance(value, dict):
        return None
    count, rate = value.get("count"), finite(value.get("rate"))
    states = _dict(value.get("states"))
    if not isinstance(count, int) or isinstance(count, bool) or rate is None:
        return None
    return {
        "count": count,
        "rate": rate,
        "states": {k: v for k, v in states.items() if isinstance(v, int) and not isinstance(v, bool)},
    }


def activity(value: Any) -> dict[str, Any] | None:
    """A recorded activity frame with the contract's top-level shape, or None."""
    if not isinstance(value, dict) or not isinstance(value.get("vhost"), str):
        return None
    interval, at, events = finite(value.get("interval")), finite(value.get("at")), value.get("events")
    if interval is None or at is None or not isinstance(events, int):
        return None
    figures = {}
    for part in ("edges", "nodes"):
        table = _dict(value.get(part))
        figures[part] = {k: f for k, f in ((k, _figures(v)) for k, v in table.items()) if f is not None}
    samples = [
        s
        for s in _list(value.get("samples"))
        if isinstance(s, dict) and isinstance(s.get("uuid"), str) and isinstance(s.get("path"), list)
    ]
    gaps = value.get("gaps") if isinstance(value.get("gaps"), dict) else None
    return {
        "vhost": value["vhost"],
        "interval": interval,
        "at": at,
        "events": events,
        **figures,
        "samples": samples,
        "gaps": gaps,
    }
