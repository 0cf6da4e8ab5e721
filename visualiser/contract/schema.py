"""JSON Schema for the wire contract, generated from the TypedDicts in ``frames``.

Nothing is written by hand: each TypedDict becomes an object schema whose required keys
are its required fields, and which allows no others, so a field the server starts sending
without declaring it here fails the contract tests, as does a declared field that goes
missing. ``python -m visualiser.contract.schema`` prints the whole schema.
"""

from __future__ import annotations

import json
import types
import typing
from typing import Any, Literal, NotRequired, Required, Union, get_args, get_origin, get_type_hints

from . import frames

_PRIMITIVES: dict[Any, dict[str, Any]] = {
    str: {"type": "string"},
    int: {"type": "integer"},
    float: {"type": "number"},
    bool: {"type": "boolean"},
    type(None): {"type": "null"},
    Any: {},
}


def _is_typeddict(tp: Any) -> bool:
    return isinstance(tp, type) and typing.is_typeddict(tp)


def _required(tp: type, hint: Any) -> bool:
    """Worked out from the hints: Python 3.11's __required_keys__ misses NotRequired when
    annotations are strings (``from __future__ import annotations``)."""
    origin = get_origin(hint)
    if origin is NotRequired:
        return False
    if origin is Required:
        return True
    return bool(getattr(tp, "__total__", True))


class SchemaBuilder:
    """Turns annotations into JSON Schema, collecting each TypedDict once under ``$defs``."""

    def __init__(self) -> None:
        self.defs: dict[str, dict[str, Any]] = {}

    def of(self, tp: Any) -> dict[str, Any]:
        if tp in _PRIMITIVES:
            return dict(_PRIMITIVES[tp])
        if _is_typeddict(tp):
            return self._typeddict(tp)
        origin, args = get_origin(tp), get_args(tp)
        if origin in (NotRequired, Required):
            return self.of(args[0])
        if origin is Literal:
            return {"enum": list(args)}
        if origin in (Union, types.UnionType):
            return {"anyOf": [self.of(arg) for arg in args]}
        if origin is list:
            return {"type": "array", "items": self.of(args[0]) if args else {}}
        if origin is dict:
            return {"type": "object", "additionalProperties": self.of(args[1]) if args else {}}
        if tp is list:
            return {"type": "array"}
        if tp is dict:
            return {"type": "object"}
        raise TypeError(f"no JSON Schema for {tp!r}")

    def _typeddict(self, tp: type) -> dict[str, Any]:
        name = tp.__name__
        if name not in self.defs:
            self.defs[name] = {}  # placeholder: a recursive reference finds it
            hints = get_type_hints(tp, include_extras=True)
            required = sorted(key for key, hint in hints.items() if _required(tp, hint))
            self.defs[name] = {
                "type": "object",
                "properties": {key: self.of(hint) for key, hint in hints.items()},
                "required": required,
                "additionalProperties": False,
            }
        return {"$ref": f"#/$defs/{name}"}


def event_schemas() -> dict[str, Any]:
    """{"$defs": {...}, "events": {event name: schema}} for every Socket.IO event."""
    builder = SchemaBuilder()
    events = {name: builder.of(tp) for name, tp in frames.SOCKET_EVENTS.items()}
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", "$defs": builder.defs, "events": events}


def schema_for(tp: Any) -> dict[str, Any]:
    """A standalone schema for one type (its definitions included)."""
    builder = SchemaBuilder()
    root = builder.of(tp)
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", "$defs": builder.defs, **root}


def node_schemas() -> dict[str, dict[str, Any]]:
    """Schema of each node kind, for checking the elements of snapshots and patches."""
    kinds = {
        "exchange": frames.ExchangeNode,
        "queue": frames.QueueNode,
        "connection": frames.ConnectionNode,
        "consumer": frames.ConsumerNode,
        "worker": frames.WorkerNode,
    }
    return {kind: schema_for(tp) for kind, tp in kinds.items()}


if __name__ == "__main__":
    print(json.dumps(event_schemas(), indent=2))
