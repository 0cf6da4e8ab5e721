"""Decode and validate raw Celery event messages into small, trusted dicts.

Everything here is pure: bytes and headers in, normalised events (or a drop reason) out
(DropSummary, which words the log line about drops, is given its clock).
Every field comes from the network and is treated as hostile: wrong types, oversized
strings, lone surrogates and unknown event types are rejected one event at a time, so a
single bad event never costs the ones around it. A message body may be one event (a JSON
object) or a batch (a JSON list of objects), as Celery's own receiver accepts.
"""

from __future__ import annotations

import json
import math
import re
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from typing import Any

TASK_TYPES = frozenset(
    {
        "task-sent",
        "task-received",
        "task-started",
        "task-succeeded",
        "task-failed",
        "task-retried",
        "task-revoked",
        "task-rejected",
    }
)
WORKER_TYPES = frozenset({"worker-online", "worker-heartbeat", "worker-offline"})
KNOWN_TYPES = TASK_TYPES | WORKER_TYPES

MAX_BODY_BYTES = 1024 * 1024  # a batch of a few hundred events; anything bigger is not Celery
MAX_BATCH = 5000
# Celery itself trims argsrepr/kwargsrepr to 1024 characters; 64 KiB means someone else sent it.
MAX_FIELD_CHARS = 64 * 1024
KEPT_CHARS = 1000  # what we store of args, kwargs, result, exception
MAX_NAME_CHARS = 255

JSON_TYPES = frozenset({"application/json", "application/x-json"})
_ESCAPED_SURROGATE = re.compile(rb"\\u[dD][89a-fA-F]")

_TEXT_FIELDS = ("name", "queue", "exchange", "routing_key", "parent_id", "root_id", "sw_ident", "sw_ver", "sw_sys")
_LONG_TEXT_FIELDS = ("args", "kwargs", "result", "exception", "traceback")
_NUMBER_FIELDS = ("timestamp", "runtime", "freq", "eta_ts")
_INT_FIELDS = ("active", "processed", "retries", "pid")


class Dropped(Exception):
    """One event (or a whole message) is not usable; `reason` labels the drop counter."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def decode_body(body: bytes, content_type: str | None, content_encoding: str | None) -> list[Any]:
    """The raw JSON items of one message: one for an object, several for a batch."""
    if content_type != "application/json" and (content_type or "").split(";")[0].strip().lower() not in JSON_TYPES:
        raise Dropped("content_type")
    if len(body) > MAX_BODY_BYTES:
        raise Dropped("oversized")
    if content_encoding and content_encoding.lower() not in ("utf-8", "utf8", "binary"):
        raise Dropped("content_type")
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise Dropped("not_json") from None
    except RecursionError:  # nested past the parser's limit: malformed, not a fault of ours
        raise Dropped("too_deep") from None
    if _ESCAPED_SURROGATE.search(body) and _has_lone_surrogate(data):
        raise Dropped("surrogates")
    if isinstance(data, dict):
        return [data]
    if isinstance(data, list):
        if len(data) > MAX_BATCH:
            raise Dropped("oversized")
        return data
    raise Dropped("not_object")


def _has_lone_surrogate(data: Any) -> bool:
    try:
        json.dumps(data, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return True
    except RecursionError:  # parsed just under the limit, too deep to write back: same drop as above
        raise Dropped("too_deep") from None
    return False


def normalise(raw: Any, received: float) -> dict[str, Any]:
    """A validated event with only the fields we use, or Dropped."""
    if not isinstance(raw, dict):
        raise Dropped("not_object")
    kind = raw.get("type")
    if not isinstance(kind, str):
        raise Dropped("missing_field")
    if kind not in KNOWN_TYPES:
        raise Dropped("unknown_type")
    event: dict[str, Any] = {"type": kind, "received": received}
    _copy_identity(raw, kind, event)
    _copy_fields(raw, event)
    return event


def _copy_identity(raw: dict[str, Any], kind: str, event: dict[str, Any]) -> None:
    hostname = raw.get("hostname")
    if hostname is not None:
        event["hostname"] = _short_text(hostname)
    if kind in TASK_TYPES:
        uuid = raw.get("uuid")
        if uuid is None:
            raise Dropped("missing_field")
        event["uuid"] = _short_text(uuid)
    elif hostname is None:
        raise Dropped("missing_field")


def _copy_fields(raw: dict[str, Any], event: dict[str, Any]) -> None:
    # Walk the event's own keys (about a dozen) rather than every field we know.
    for key, value in raw.items():
        check = _FIELD_CHECKS.get(key)
        if check is not None and value is not None:
            event[key] = check(value)


def _loadavg(value: Any) -> list[float]:
    if not isinstance(value, (list, tuple)) or len(value) > 3:
        raise Dropped("bad_field")
    return [_number(v) for v in value]


def _short_text(value: Any) -> str:
    if not isinstance(value, str):
        raise Dropped("bad_field")
    if len(value) > MAX_NAME_CHARS:
        raise Dropped("oversized")
    return value


def _long_text(value: Any) -> str:
    # Celery sends reprs (strings); other JSON is shown as JSON rather than refused.
    try:
        text = value if isinstance(value, str) else json.dumps(value, default=str)[: MAX_FIELD_CHARS + 1]
    except RecursionError:
        raise Dropped("too_deep") from None
    if len(text) > MAX_FIELD_CHARS:
        raise Dropped("oversized")
    return text if len(text) <= KEPT_CHARS else text[:KEPT_CHARS] + "…"


def _number(value: Any) -> float:
    # bool is an int subclass in Python, but `"active": true` is not a count.
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or value != value
        or value in (float("inf"), float("-inf"))
    ):
        raise Dropped("bad_field")
    return value


def _integer(value: Any) -> int:
    number = _number(value)
    if isinstance(number, float) and not number.is_integer():
        raise Dropped("bad_field")
    return int(number)


_FIELD_CHECKS: dict[str, Callable[[Any], Any]] = {
    **dict.fromkeys(_TEXT_FIELDS, _short_text),
    **dict.fromkeys(_LONG_TEXT_FIELDS, _long_text),
    **dict.fromkeys(_NUMBER_FIELDS, _number),
    **dict.fromkeys(_INT_FIELDS, _integer),
    "loadavg": _loadavg,
}


def events_of(
    body: bytes, content_type: str | None, content_encoding: str | None, received: float
) -> Iterator[tuple[dict[str, Any] | None, str | None]]:
    """(event, None) for each usable event of a message, (None, reason) for each dropped one."""
    try:
        items = decode_body(body, content_type, content_encoding)
    except Dropped as exc:
        yield None, exc.reason
        return
    for raw in items:
        try:
            yield normalise(raw, received), None
        except Dropped as exc:
            yield None, exc.reason


class DropSummary:
    """Dropped events, summarised in the log: one line per period at most, with counts by
    reason, so that a flood of bad messages (200 deeply nested ones, say) is one line, not
    one traceback each. Every drop is counted in visualiser_celery_events_dropped_total anyway."""

    def __init__(self, period: float = 60.0, clock: Callable[[], float] = time.monotonic):
        self.period, self.clock = period, clock
        self.pending: Counter[str] = Counter()
        self.last = -math.inf

    def add(self, drops: Mapping[str, int]) -> str | None:
        """Record drops; the line to log when one is due (the first drop, then once a period)."""
        self.pending.update({reason: n for reason, n in drops.items() if n})
        now = self.clock()
        if not self.pending or now - self.last < self.period:
            return None
        self.last = now
        total = sum(self.pending.values())
        reasons = ", ".join(f"{reason} {n}" for reason, n in sorted(self.pending.items()))
        self.pending.clear()
        return (
            f"celery events: dropped {total} malformed event{'s' if total != 1 else ''} ({reasons}); "
            f"at most one such line every {self.period:g}s, all counted in visualiser_celery_events_dropped_total"
        )
