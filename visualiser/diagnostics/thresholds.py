"""The diagnostics thresholds: sensible defaults, overridable from settings.

Set them as a ``diagnostics`` table in the TOML config file, or as ``key=value`` pairs,
comma separated, in ``--diagnostics`` / ``VISUALISER_DIAGNOSTICS``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from typing import Any


@dataclass(frozen=True)
class Thresholds:
    # Ready messages that count as a backlog.
    min_backlog: float = 1
    # Depth growth is measured over this many seconds of history...
    growth_window: float = 60.0
    # ...and reported above this many messages a second, once up by at least this many
    # messages (a busy queue's depth jitters by a few).
    min_growth_rate: float = 0.1
    min_growth_messages: float = 10
    # How long consumers may sit idle on a backlog, or hold a full prefetch without acking.
    stall_seconds: float = 30.0
    # Share of max-length at which a queue is "near" its limit.
    near_max_length: float = 0.9
    # Messages in a dead-letter queue worth mentioning.
    dlq_min: float = 1
    # A task received but not started for this long means a saturated worker.
    received_not_started: float = 60.0
    # A task started but not finished for this long is reported as long-running.
    started_not_finished: float = 300.0

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> Thresholds:
        return replace(cls(), **parse_thresholds(values))


_NAMES = {f.name for f in fields(Thresholds)}


def _number(name: str, raw: Any) -> float:
    if isinstance(raw, bool):
        raise ValueError(f"diagnostics.{name}: expected a number")
    try:
        value = float(raw)
    except (TypeError, ValueError):
        raise ValueError(f"diagnostics.{name}: expected a number, got {raw!r}") from None
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"diagnostics.{name}: must be a finite number >= 0")
    return value


def parse_thresholds(value: Any) -> dict[str, float]:
    """Validated overrides from a TOML table or a ``key=value,key=value`` string."""
    if isinstance(value, str):
        pairs = [part.split("=", 1) for part in value.split(",") if part.strip()]
        if any(len(pair) != 2 for pair in pairs):
            raise ValueError("diagnostics: expected key=value pairs, comma separated")
        value = {key.strip(): raw.strip() for key, raw in pairs}
    if not isinstance(value, Mapping):
        raise ValueError("diagnostics: expected a table of thresholds")
    unknown = sorted(set(value) - _NAMES)
    if unknown:
        raise ValueError(
            f"diagnostics: unknown threshold(s) {', '.join(map(str, unknown))}; known: {', '.join(sorted(_NAMES))}"
        )
    return {name: _number(name, raw) for name, raw in value.items()}
