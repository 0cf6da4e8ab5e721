"""Recent failures grouped by exception: which errors, how often, when last, on which tasks.

Celery reports a failure's exception as its repr (``ValueError('card declined')``). Two
failures belong together when their exception type and message are the same; the groups
are read from the failed tasks the state still keeps, most recent failure first.
"""

from __future__ import annotations

import ast
import functools
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

MAX_GROUPS = 100
TASKS_PER_GROUP = 10
NAMES_PER_GROUP = 10
UNKNOWN_TYPE = "unknown"  # a failure that carried no exception

# `Type(args)`, the type possibly dotted (module.Type); the args are a Python literal or anything.
_REPR = re.compile(r"^\s*([A-Za-z_][\w.]*)\((.*)\)\s*$", re.DOTALL)


class FailedTask(Protocol):
    uuid: str
    name: str | None
    worker: str | None
    exception: str | None
    updated: float | None


@functools.lru_cache(maxsize=4096)  # failures repeat: each distinct repr is read once
def split_exception(exception: str | None) -> tuple[str, str]:
    """(type, message) of an exception's repr: ``KeyError('sku-1')`` → ("KeyError", "sku-1").
    A repr of another shape is all message; no exception at all is of type "unknown"."""
    if not exception:
        return UNKNOWN_TYPE, ""
    found = _REPR.match(exception)
    if found is None:
        return UNKNOWN_TYPE, exception.strip()
    kind, args = found.group(1), found.group(2).strip()
    return kind, _message_of(args)


def _message_of(args: str) -> str:
    """The message inside a repr's parentheses: one string literal unquoted, else as written."""
    if not args or len(args) > 2000:
        return args
    try:
        value = ast.literal_eval(args)
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        return args
    if isinstance(value, str):
        return value
    if isinstance(value, tuple) and len(value) == 1 and isinstance(value[0], str):
        return value[0]
    return args


@dataclass
class FailureGroup:
    type: str
    message: str
    exception: str  # the most recent one's repr, as Celery reported it
    count: int = 0
    first_seen: float | None = None
    last_seen: float | None = None
    names: list[str] = field(default_factory=list)
    workers: list[str] = field(default_factory=list)
    tasks: list[str] = field(default_factory=list)  # task ids, most recent first

    def add(self, task: FailedTask) -> None:
        self.count += 1
        if task.updated is not None:
            self.last_seen = task.updated if self.last_seen is None else max(self.last_seen, task.updated)
            self.first_seen = task.updated if self.first_seen is None else min(self.first_seen, task.updated)
        if task.name and task.name not in self.names and len(self.names) < NAMES_PER_GROUP:
            self.names.append(task.name)
        if task.worker and task.worker not in self.workers and len(self.workers) < NAMES_PER_GROUP:
            self.workers.append(task.worker)
        if len(self.tasks) < TASKS_PER_GROUP:
            self.tasks.append(task.uuid)

    def to_json(self) -> dict[str, Any]:
        return {
            "type": self.type,
            "message": self.message,
            "exception": self.exception,
            "count": self.count,
            "first_seen": self.first_seen,
            "last_seen": self.last_seen,
            "names": sorted(self.names),
            "workers": sorted(self.workers),
            "tasks": list(self.tasks),
        }


def group_failures(failed: Iterable[FailedTask], limit: int) -> dict[str, Any]:
    """Failed tasks (most recent first) grouped by exception type and message; the `limit`
    groups failing most recently, and how many failures there were in all."""
    groups: dict[tuple[str, str], FailureGroup] = {}
    total = 0
    for task in failed:
        total += 1
        key = split_exception(task.exception)
        group = groups.get(key)
        if group is None:
            group = groups[key] = FailureGroup(key[0], key[1], task.exception or "")
        group.add(task)
    ordered = sorted(groups.values(), key=lambda g: -(g.last_seen or 0.0))
    return {"failed": total, "groups_total": len(groups), "groups": [g.to_json() for g in ordered[:limit]]}
