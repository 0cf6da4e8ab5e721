"""Counters and summaries, rendered in the Prometheus text format for GET /metrics.

Small on purpose: a handful of series, no client library. Safe to update from any thread.
"""

from __future__ import annotations

import json
import math
import threading
from collections import defaultdict
from collections.abc import Mapping
from typing import Any

_HELP = {
    "visualiser_celery_events_total": ("counter", "Celery events ingested, by event type."),
    "visualiser_celery_events_dropped_total": ("counter", "Celery events dropped as malformed, by reason."),
    "visualiser_poll_duration_seconds": ("summary", "Duration of one management API poll cycle."),
    "visualiser_patch_bytes": ("summary", "Size in bytes of topology patches sent to browsers."),
    "visualiser_socket_clients": ("gauge", "Connected Socket.IO clients."),
    "visualiser_trace_messages_total": ("counter", "Firehose trace messages read, by kind (publish, deliver)."),
    "visualiser_trace_dropped_total": ("counter", "Trace messages the broker dropped from the bounded trace queue."),
    "visualiser_trace_disagreements_total": ("counter", "Traced publishes routed otherwise than simulated."),
    "visualiser_recording_items_total": ("counter", "Frames and views written to the recording."),
    "visualiser_recording_dropped_total": ("counter", "Frames the hub could not queue for the recording (queue full)."),
    "visualiser_recording_batch_seconds": ("summary", "Time to write one batch of the recording (one transaction)."),
    "visualiser_recording_bytes": ("gauge", "Bytes the recording file uses (after its last retention pass)."),
}

LabelKey = tuple[tuple[str, str], ...]


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(key: LabelKey) -> str:
    if not key:
        return ""
    return "{" + ",".join(f'{k}="{_escape(v)}"' for k, v in key) + "}"


class Metrics:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counters: dict[str, dict[LabelKey, float]] = defaultdict(lambda: defaultdict(float))
        self._gauges: dict[str, dict[LabelKey, float]] = defaultdict(dict)
        self._summaries: dict[str, dict[LabelKey, list[float]]] = defaultdict(dict)  # [count, sum, max]

    def inc(self, name: str, amount: float = 1, **labels: str) -> None:
        key = tuple(sorted(labels.items()))
        with self._lock:
            self._counters[name][key] += amount

    def set_gauge(self, name: str, value: float, **labels: str) -> None:
        with self._lock:
            self._gauges[name][tuple(sorted(labels.items()))] = value

    def add_gauge(self, name: str, delta: float, **labels: str) -> None:
        key = tuple(sorted(labels.items()))
        with self._lock:
            self._gauges[name][key] = self._gauges[name].get(key, 0) + delta

    def observe(self, name: str, value: float, **labels: str) -> None:
        key = tuple(sorted(labels.items()))
        with self._lock:
            count, total, peak = self._summaries[name].get(key, [0, 0.0, -math.inf])
            self._summaries[name][key] = [count + 1, total + value, max(peak, value)]

    def observe_patch(self, message: Mapping[str, Any]) -> None:
        size = len(json.dumps(message, separators=(",", ":"), default=str))
        self.observe("visualiser_patch_bytes", size)

    def counter(self, name: str, **labels: str) -> float:
        with self._lock:
            if labels:
                return self._counters[name].get(tuple(sorted(labels.items())), 0)
            return sum(self._counters[name].values())

    def render(self) -> str:
        lines: list[str] = []
        with self._lock:
            for name in sorted(set(_HELP) | set(self._counters) | set(self._gauges) | set(self._summaries)):
                kind, text = _HELP.get(name, ("untyped", name))
                lines += [f"# HELP {name} {text}", f"# TYPE {name} {kind}"]
                series = self._counters.get(name) or self._gauges.get(name)
                if series:
                    lines += [f"{name}{_labels(k)} {v:g}" for k, v in sorted(series.items())]
                elif name in self._summaries:
                    for key, (count, total, _peak) in sorted(self._summaries[name].items()):
                        lines += [f"{name}_count{_labels(key)} {count}", f"{name}_sum{_labels(key)} {total:g}"]
                elif kind in ("counter", "gauge"):
                    lines.append(f"{name} 0")
        return "\n".join(lines) + "\n"
