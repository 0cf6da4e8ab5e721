"""Name-based groups, so that a vhost with thousands of queues stays readable.

A company broker names its queues by service and purpose (``service-0042.orders``,
``service-0042.audit``, …). Above a size (``GROUP_ABOVE`` names of one kind in a vhost),
every queue and exchange is given a group key, and the page draws each group as one node
(its member count, total depth and worst finding) that expands on click.

Keys come from the names alone, so they are the same on every poll and on every page:

- **Automatic**: the shortest prefix ending at a separator (``.``, ``-``, ``_``, ``:``,
  ``/``) that its names share. A group of more than ``MAX_GROUP`` names is split at its
  next separator, or, where its names have none left, by their next characters, so that
  expanding a group never draws thousands of nodes at once. Fewer than ``MIN_GROUP`` names
  under a prefix are not a group of their own. More than ``MAX_GROUPS`` groups are too
  many to read: neighbouring groups merge on the longest prefix they share, within
  ``MAX_GROUP`` names.
- **A pattern the user gives** (``--group-by``, e.g. ``service-*.``): literal text with
  ``*`` wildcards. A ``*`` takes one or more characters, up to the first occurrence of the
  literal that follows it (or up to the next separator when it ends the pattern). The key
  is the part of the name the pattern covers; names it does not cover fall back to the
  automatic keys. Matching is one left-to-right pass: no backtracking, so no name can make
  it slow (a broker's names are not trusted).
"""

from __future__ import annotations

import os
from collections import Counter, defaultdict
from collections.abc import Iterable

from .topology import Graph

SEPARATORS = frozenset(".-_:/")
GROUP_ABOVE = 300  # names of one kind in one vhost before groups are formed
MIN_GROUP = 3
MAX_GROUP = 200
MAX_GROUPS = 150  # automatic groups of one kind in a vhost before neighbouring groups merge


class GroupPatternError(ValueError):
    """A --group-by pattern that cannot be used, with what to write instead."""


def check_pattern(pattern: str) -> str:
    if not pattern or pattern.strip("*") == "":
        raise GroupPatternError("a group pattern needs literal text, e.g. 'service-*.' (a * alone matches anything)")
    if "**" in pattern:
        raise GroupPatternError(f"{pattern!r}: write one * between literal parts, not **")
    if len(pattern) > 255:
        raise GroupPatternError("a group pattern is at most 255 characters, as a queue name is")
    return pattern


def pattern_key(pattern: str, name: str) -> str | None:
    """The start of ``name`` that ``pattern`` covers, or None when it does not cover one."""
    at = 0
    parts = pattern.split("*")
    for index, literal in enumerate(parts):
        if index > 0:  # a wildcard before this literal: one or more characters up to it
            if literal:
                found = name.find(literal, at + 1)
                if found < 0:
                    return None
                at = found
            else:  # the pattern ends with *: up to the next separator, or the end
                end = at
                while end < len(name) and name[end] not in SEPARATORS:
                    end += 1
                return name[:end] if end > at else None
        if not name.startswith(literal, at):
            return None
        at += len(literal)
    return name[:at]


def _next_prefix(name: str, start: int, by_separator: bool) -> str | None:
    """The name up to and including its first separator at or after ``start`` (by_separator),
    or one character longer than ``start``; None where the name has no such thing."""
    if not by_separator:
        return name[: start + 1] if len(name) > start else None
    for position in range(max(start, 1), len(name)):
        if name[position] in SEPARATORS:
            return name[: position + 1]
    return None


def _assign(names: list[str], key: str, keys: dict[str, str]) -> None:
    """Keys for names that all start with ``key`` ("" at the top: not a group of its own)."""
    if key and len(names) <= MAX_GROUP:
        keys.update(dict.fromkeys(names, key))
        return
    common = os.path.commonprefix(names)
    if len(common) > len(key) + 1:  # one step to what they all share, not a step per character
        key = common
    remainder = _divide(names, key, keys, by_separator=True)
    if len(remainder) > MAX_GROUP:  # names with no separator left to split at: split by characters
        remainder = _divide(remainder, key, keys, by_separator=False)
    if key and len(remainder) >= MIN_GROUP:  # a name or two left over stand alone
        keys.update(dict.fromkeys(remainder, key))


def _divide(names: list[str], key: str, keys: dict[str, str], *, by_separator: bool) -> list[str]:
    """Give each longer shared prefix with enough names its own group; the names left over."""
    buckets: dict[str, list[str]] = defaultdict(list)
    rest: list[str] = []
    for name in names:
        longer = _next_prefix(name, len(key), by_separator)
        (buckets[longer] if longer is not None else rest).append(name)
    for longer, members in buckets.items():
        if len(members) >= MIN_GROUP:
            _assign(members, longer, keys)  # each step lengthens the key: this ends
        else:
            rest.extend(members)
    return rest


def group_keys(names: Iterable[str], pattern: str | None = None) -> dict[str, str]:
    """A group key for each name that belongs to a group (names not in the answer stand alone)."""
    names = list(names)
    keys: dict[str, str] = {}
    unmatched = names
    if pattern:
        by_pattern: dict[str, list[str]] = defaultdict(list)
        unmatched = []
        for name in names:
            key = pattern_key(pattern, name)
            if key is None:
                unmatched.append(name)
            else:
                by_pattern[key].append(name)
        for key, members in by_pattern.items():
            if len(members) >= MIN_GROUP:
                keys.update(dict.fromkeys(members, key))
            else:
                unmatched.extend(members)
    automatic: dict[str, str] = {}
    _assign(unmatched, "", automatic)
    keys.update(_coarsened(automatic))
    return keys


def _coarsened(keys: dict[str, str]) -> dict[str, str]:
    """Fewer, larger groups while there are more than ``MAX_GROUPS``: each group merges with
    the groups whose keys share the longest prefix with its own (``svc-0042.`` and
    ``svc-0043.`` become ``svc-004``), as long as the merged group stays within
    ``MAX_GROUP`` names. 20,000 queues of 2,000 services are then 200 groups, not 2,000."""
    while len(set(keys.values())) > MAX_GROUPS:
        sizes = Counter(keys.values())
        ordered = sorted(sizes)
        parent: dict[str, str] = {}
        for index, key in enumerate(ordered):
            neighbours = ordered[max(0, index - 1) : index] + ordered[index + 1 : index + 2]
            shared = max(len(os.path.commonprefix([key, other])) for other in neighbours)
            parent[key] = key[:shared]
        totals: Counter[str] = Counter()
        for key, size in sizes.items():
            totals[parent[key]] += size
        merged = {
            key: parent[key] for key in sizes if parent[key] and parent[key] != key and totals[parent[key]] <= MAX_GROUP
        }
        if not merged:
            return keys
        keys = {name: merged.get(key, key) for name, key in keys.items()}
    return keys


def grouped(names: Iterable[str], pattern: str | None = None, above: int = GROUP_ABOVE) -> dict[str, str]:
    """``group_keys`` for a vhost that has more than ``above`` of these names; else no groups."""
    names = list(names)
    return group_keys(names, pattern) if len(names) > above else {}


GROUPED_KINDS = ("queue", "exchange")


def group_id(kind: str, key: str) -> str:
    return f"group:{kind}:{key}"


class NameGroups:
    """The graph decorator that marks each grouped queue and exchange with its group.

    A node in a group carries ``group`` (the group node's id) and ``group_name`` (the
    shared prefix, shown as the group's label). Keys are worked out again only when a
    vhost's names change, not on every poll.
    """

    def __init__(self, pattern: str | None = None, above: int = GROUP_ABOVE):
        self.pattern, self.above = pattern, above
        self._last: dict[tuple[str, str], tuple[frozenset[str], dict[str, str]]] = {}

    def keys_for(self, vhost: str, kind: str, names: Iterable[str]) -> dict[str, str]:
        names = frozenset(names)
        cached = self._last.get((vhost, kind))
        if cached is not None and cached[0] == names:
            return cached[1]
        keys = grouped(sorted(names), self.pattern, self.above)
        self._last[(vhost, kind)] = (names, keys)
        return keys

    def decorate(self, vhost: str, entities: object, graph: Graph) -> None:
        queue_keys: dict[str, str] = {}
        for kind in GROUPED_KINDS:
            nodes = [n for n in graph.nodes.values() if n["kind"] == kind and not n.get("builtin")]
            keys = self.keys_for(vhost, kind, (n["name"] for n in nodes))
            queue_keys = keys if kind == "queue" else queue_keys
            for node in nodes:
                key = keys.get(node["name"])
                if key is not None:
                    node["group"], node["group_name"] = group_id(kind, key), key
        if not queue_keys:
            return
        for node in graph.nodes.values():  # a grouped queue's consumers fold into its group with it
            key = queue_keys.get(node.get("queue", "")) if node["kind"] == "consumer" else None
            if key is not None:
                node["group"], node["group_name"] = group_id("queue", key), key
