"""Diff two graphs into a patch that carries only what changed.

A patch is ``{"add": [...], "remove": [...], "change": [...]}`` where ``add`` holds whole
nodes and edges, ``remove`` holds ids, and ``change`` holds ``{"id", <changed fields>}``
only: a depth change on one queue costs a few dozen bytes whatever the graph's size.
"""

from __future__ import annotations

from typing import Any, TypedDict

from .topology import Graph

_MISSING = object()
Element = dict[str, Any]


class ItemDiff(TypedDict):
    add: list[Element]
    remove: list[str]
    change: list[Element]


class Lists(TypedDict):
    nodes: list[Any]
    edges: list[Any]


class GraphDiff(TypedDict):
    """The body of a patch (visualiser.contract.frames.Patch without its versions)."""

    add: Lists
    remove: Lists
    change: Lists


def diff_items(old: dict[str, Element], new: dict[str, Element]) -> ItemDiff:
    added = [item for key, item in new.items() if key not in old]
    removed = [key for key in old if key not in new]
    changed: list[Element] = []
    for key, item in new.items():
        before = old.get(key)
        if before is None or before is item:
            continue
        fields = {f: v for f, v in item.items() if before.get(f, _MISSING) != v}
        # Nodes of one kind keep one shape, so a field that disappears is rare: send it as None.
        fields.update({f: None for f in before if f not in item})
        if fields:
            changed.append({"id": key, **fields})
    return {"add": added, "remove": removed, "change": changed}


def diff_graphs(old: Graph, new: Graph) -> GraphDiff:
    nodes = diff_items(old.nodes, new.nodes)
    edges = diff_items(old.edges, new.edges)
    return {
        "add": {"nodes": nodes["add"], "edges": edges["add"]},
        "remove": {"nodes": nodes["remove"], "edges": edges["remove"]},
        "change": {"nodes": nodes["change"], "edges": edges["change"]},
    }


def is_empty(patch: GraphDiff) -> bool:
    return not any(part["nodes"] or part["edges"] for part in (patch["add"], patch["remove"], patch["change"]))


def apply_patch(graph: Graph, patch: GraphDiff) -> Graph:
    """The inverse of diff_graphs: what a client does with a patch (used to test both ends)."""
    result = Graph(nodes=dict(graph.nodes), edges=dict(graph.edges))
    for items, kind in ((result.nodes, "nodes"), (result.edges, "edges")):
        for key in patch["remove"][kind]:  # type: ignore[literal-required]
            items.pop(key, None)
        for item in patch["add"][kind]:  # type: ignore[literal-required]
            items[item["id"]] = item
        for change in patch["change"][kind]:  # type: ignore[literal-required]
            items[change["id"]] = {**items[change["id"]], **change}
    return result
