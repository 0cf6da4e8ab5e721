"""Turns each poll's issues into findings with a stable ``since``.

A finding's ``since`` is when its condition was first seen, and it stays put while the
condition holds; the finding goes the first poll its condition is gone. An issue with a
``hold`` is reported only once its condition has lasted that long (a consumer idle for a
moment is normal; idle for half a minute on a backlog is not), one with ``polls`` only once
seen in that many consecutive polls, with ``since`` still the moment it began.
"""

from __future__ import annotations

from collections.abc import Iterable

from .rules import SEVERITIES, Finding, Issue


class FindingTracker:
    def __init__(self) -> None:
        self._first_seen: dict[tuple[str, str], tuple[float, int]] = {}  # key -> (since, polls seen)

    def update(self, now: float, issues: Iterable[Issue], new_poll: bool = True) -> list[Finding]:
        """`new_poll` is False when the same data is judged again (a graph refresh): not a poll more."""
        current = {issue.key: issue for issue in issues}
        self._first_seen = {key: self._seen_again(key, now, new_poll) for key in current}
        findings = []
        for key, issue in current.items():
            since, polls = self._first_seen[key]
            if now - since >= issue.hold and polls >= issue.polls:
                findings.append(Finding(issue.rule, issue.severity, issue.node, issue.message, since))
        return sort_findings(findings)

    def _seen_again(self, key: tuple[str, str], now: float, new_poll: bool) -> tuple[float, int]:
        since, polls = self._first_seen.get(key, (now, 0))
        return since, polls + 1 if new_poll or polls == 0 else polls


def sort_findings(findings: Iterable[Finding]) -> list[Finding]:
    """Most severe first, then oldest, then by node for a stable order."""
    return sorted(findings, key=lambda f: (SEVERITIES.index(f.severity), f.since, f.node, f.rule))
