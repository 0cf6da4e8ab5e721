"""Malformed Celery events: a nesting past the parser's limit is a named drop, not a crash,
and drops reach the log as one summary line per period, never one line per message."""

from __future__ import annotations

import json

from visualiser.celery.events import DropSummary, events_of

DEEP = 100_000


def deep_body() -> bytes:
    return ('{"type": "task-sent", "uuid": "u", "args": ' + "[" * DEEP + "]" * DEEP + "}").encode()


def test_an_event_nested_past_the_parsers_limit_is_dropped_as_too_deep() -> None:
    assert list(events_of(deep_body(), "application/json", "utf-8", 0.0)) == [(None, "too_deep")]


def test_nesting_just_under_the_parsers_limit_is_dropped_too_never_raised() -> None:
    """Parsed, but too deep to write back out (args are kept as JSON text): the same named drop."""
    for depth in range(1, 1100):  # every depth: the window where reading works and writing fails is narrow
        body = json.dumps({"type": "task-sent", "uuid": "u"})[:-1] + ', "args": ' + "[" * depth + "]" * depth + "}"
        outcome = list(events_of(body.encode(), "application/json", "utf-8", 0.0))
        assert len(outcome) == 1 and (outcome[0][1] in (None, "too_deep")), depth


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_drops_are_summarised_once_a_period_with_counts_by_reason() -> None:
    clock = Clock()
    summary = DropSummary(period=60.0, clock=clock)
    first = summary.add({"too_deep": 1})
    assert first is not None and "dropped 1 malformed event " in first and "too_deep 1" in first
    lines = [summary.add({"too_deep": 1}) for _ in range(199)]
    assert lines == [None] * 199  # within the period: counted, not logged
    assert summary.add({}) is None
    clock.now += 60.0
    later = summary.add({"not_json": 2})
    assert later is not None and "dropped 201 malformed events" in later and "not_json 2, too_deep 199" in later
    clock.now += 600.0
    assert summary.add({}) is None  # nothing new: nothing to say
