"""Checks real frames against the wire contract's generated JSON Schema (visualiser.contract).

``FrameChecker`` follows a stream of Socket.IO frames the way a page does: it validates each
frame against its event's schema, every node and edge of snapshots and patches against
their kind's schema, and each ``change`` entry's fields against the properties of the
element it changes. Any mismatch is a readable message naming the event and the path.
"""

from __future__ import annotations

from typing import Any

from jsonschema import Draft202012Validator

from visualiser.contract import frames
from visualiser.contract.schema import event_schemas, node_schemas, schema_for


class FrameChecker:
    def __init__(self) -> None:
        everything = event_schemas()
        self.events = {
            name: Draft202012Validator({"$defs": everything["$defs"], **schema})
            for name, schema in everything["events"].items()
        }
        self.nodes = {kind: Draft202012Validator(schema) for kind, schema in node_schemas().items()}
        edge = schema_for(frames.Edge)
        self.edge = Draft202012Validator(edge)
        self.node_properties = {kind: schema for kind, schema in node_schemas().items()}
        self.edge_schema = edge
        self.kinds: dict[str, str] = {}  # node id -> kind, as the page knows them
        self.problems: list[str] = []
        self.seen: dict[str, int] = {}

    def check(self, event: str, data: Any) -> None:
        self.seen[event] = self.seen.get(event, 0) + 1
        validator = self.events.get(event)
        if validator is None:
            self.problems.append(f"{event}: not in the contract")
            return
        self._report(event, validator, data)
        if event == "snapshot" and isinstance(data, dict):
            self.kinds = {}
            self._elements(event, data.get("nodes", []), data.get("edges", []))
        elif event == "patch" and isinstance(data, dict):
            self._elements(event, data["add"]["nodes"], data["add"]["edges"])
            self._changes(event, data["change"]["nodes"], data["change"]["edges"])

    def _elements(self, event: str, nodes: list[dict[str, Any]], edges: list[dict[str, Any]]) -> None:
        for node in nodes:
            kind = node.get("kind")
            validator = self.nodes.get(str(kind))
            if validator is None:
                self.problems.append(f"{event}: node {node.get('id')!r} has unknown kind {kind!r}")
                continue
            self.kinds[node["id"]] = kind
            self._report(f"{event} node {node['id']!r}", validator, node)
        for edge in edges:
            self._report(f"{event} edge {edge.get('id')!r}", self.edge, edge)

    def _changes(self, event: str, nodes: list[dict[str, Any]], edges: list[dict[str, Any]]) -> None:
        for change in nodes:
            kind = self.kinds.get(change.get("id", ""))
            if kind is None:
                continue  # a node this client never saw: the page resyncs, so does the checker
            schema = self.node_properties[kind]
            self._fields(f"{event} change of {change['id']!r}", schema, change)
        for change in edges:
            self._fields(f"{event} change of {change.get('id')!r}", self.edge_schema, change)

    def _fields(self, where: str, schema: dict[str, Any], change: dict[str, Any]) -> None:
        properties = (
            schema["properties"]
            if "properties" in schema
            else schema["$defs"][schema["$ref"].rsplit("/", 1)[1]]["properties"]
        )
        for field, value in change.items():
            if field not in properties:
                self.problems.append(f"{where}: field {field!r} is not in the contract")
                continue
            # A field that disappears is sent as None: allowed for optional fields only.
            validator = Draft202012Validator({"$defs": schema.get("$defs", {}), **properties[field]})
            if value is not None or not _nullable_or_optional(schema, field):
                self._report(f"{where}.{field}", validator, value)

    def _report(self, where: str, validator: Draft202012Validator, data: Any) -> None:
        for error in validator.iter_errors(data):
            path = "/".join(str(p) for p in error.absolute_path)
            self.problems.append(f"{where} at /{path}: {error.message[:300]}")


def _nullable_or_optional(schema: dict[str, Any], field: str) -> bool:
    body = schema["$defs"][schema["$ref"].rsplit("/", 1)[1]] if "$ref" in schema else schema
    return field not in body.get("required", ())
