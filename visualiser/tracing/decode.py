"""Reading one firehose copy: the trace message's routing key and headers into a ``TraceCopy``.

What RabbitMQ puts on a copy (rabbit_trace.erl, 3.10 to 4.x): the routing key is
``publish.<exchange>`` or ``deliver.<queue>``; the headers carry ``exchange_name``,
``routing_keys`` (the routing key, then the CC and BCC keys), ``properties`` (the
message's own basic properties, its headers inside, BCC removed), ``node``, ``vhost``,
``connection``, ``channel`` and ``user``; a publish copy adds ``routed_queues`` (empty:
unroutable), a deliver copy ``redelivered`` (0 or 1). The body is the message's body.

Everything on a copy is the broker's (and so a publisher's) and is treated as hostile:

* names that are not UTF-8 (py-amqp hands them over as bytes) become text with ``\\xNN``
  escapes, the form the management client gives such names, so they still match the graph;
* headers and properties become JSON-safe values, bounded in keys, depth and length, and a
  copy whose headers had to be cut is not compared with the simulator (the cut could
  change the answer);
* the body is cut to a few KB at once and kept as text: the page shows it only when asked,
  and it is never logged (``repr`` leaves it out);
* a copy missing what it must carry raises ``Malformed`` with a short, fixed reason.

The correlation key ties a delivery to its publish: a digest of the exchange, routing
keys, the properties that identify a message (headers without those the broker adds on
the way: x-death, x-delivery-count, …) and the whole body.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any, Literal

PUBLISH_PREFIX = "publish."
DELIVER_PREFIX = "deliver."

MAX_KEYS = 64  # per table
MAX_ITEMS = 64  # per array
MAX_DEPTH = 4
MAX_TEXT = 1024  # characters of one string value
MAX_NAME = 1024  # characters of a name (AMQP short strings are 255 bytes; escapes make them longer)
# Headers the broker adds or changes between a publish and its deliveries: left out of the
# correlation key so that a redelivery or a dead-lettered copy still finds its publish.
VOLATILE_HEADERS = frozenset(
    {
        "x-death",
        "x-delivery-count",
        "x-first-death-exchange",
        "x-first-death-queue",
        "x-first-death-reason",
        "x-last-death-exchange",
        "x-last-death-queue",
        "x-last-death-reason",
    }
)

Kind = Literal["publish", "deliver"]


class Malformed(ValueError):
    """A trace message without what every trace message carries. The reason is short and fixed
    (it becomes a counter's key), never a value taken from the message."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


@dataclass
class Bounds:
    """How much of a copy is kept; counts what was cut."""

    truncated: bool = False
    non_utf8: bool = False


def name_text(value: Any, bounds: Bounds) -> str:
    """A name as text: bytes that are not UTF-8 become ``\\xNN`` escapes, as the management
    client shows them; anything else that is not text becomes its repr."""
    if type(value) is str and len(value) <= MAX_NAME:
        return value  # the common case, first: py-amqp decoded it as UTF-8
    if isinstance(value, bytes | bytearray):
        try:
            text = bytes(value).decode("utf-8")
        except UnicodeDecodeError:
            bounds.non_utf8 = True
            text = bytes(value).decode("utf-8", "backslashreplace")
    elif isinstance(value, str):
        text = value
    else:
        text = repr(value)
    if len(text) > MAX_NAME:
        bounds.truncated = True
        text = text[:MAX_NAME]
    return text


def json_safe(value: Any, bounds: Bounds, depth: int = 0) -> Any:
    """A header or property value as JSON-safe data, types kept where JSON has them (an
    integer stays an integer: the headers exchange tells 1 from 1.0), bounded."""
    kind = type(value)
    if value is None or kind is bool or kind is int or (kind is str and len(value) <= MAX_TEXT):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else repr(value)
    if isinstance(value, str | bytes | bytearray):
        text = name_text(value, bounds)
        if len(text) > MAX_TEXT:
            bounds.truncated = True
            return text[:MAX_TEXT]
        return text
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime):
        return value.timestamp()
    if depth >= MAX_DEPTH:
        bounds.truncated = True
        return "…"
    if kind is dict or isinstance(value, Mapping):
        items = list(value.items())
        if len(items) > MAX_KEYS:
            bounds.truncated = True
            items = items[:MAX_KEYS]
        return {name_text(k, bounds): json_safe(v, bounds, depth + 1) for k, v in items}
    if isinstance(value, list | tuple):
        if len(value) > MAX_ITEMS:
            bounds.truncated = True
            value = value[:MAX_ITEMS]
        return [json_safe(v, bounds, depth + 1) for v in value]
    return name_text(repr(value), bounds)


@dataclass(frozen=True, slots=True)
class TraceCopy:
    """One copy from the firehose, read and bounded."""

    kind: Kind
    exchange: str
    routing_keys: tuple[str, ...]
    headers: dict[str, Any]  # the message's own headers (JSON-safe)
    properties: dict[str, Any]  # its other basic properties (JSON-safe)
    node: str | None
    connection: str | None
    channel: int | None
    user: str | None
    routed_queues: tuple[str, ...] | None  # publish copies
    queue: str | None  # deliver copies: the queue it was delivered from
    redelivered: bool
    size: int
    received: float
    key: bytes = field(repr=False)  # correlation digest
    body_start: bytes = field(repr=False, default=b"")  # the first body_bytes of the body; never logged
    body_truncated: bool = False
    headers_truncated: bool = False
    non_utf8: bool = False

    @property
    def routing_key(self) -> str:
        return self.routing_keys[0] if self.routing_keys else ""

    @property
    def body(self) -> str:
        """The start of the body as text (bytes that are not UTF-8 as \\xNN), made only when shown."""
        return self.body_start.decode("utf-8", "backslashreplace")


def decode_copy(
    routing_key: str, headers: Mapping[str, Any] | None, body: bytes | str, received: float, body_bytes: int
) -> TraceCopy:
    """Read one trace message; raises Malformed when it is not one."""
    bounds = Bounds()
    kind, subject = _kind(name_text(routing_key, bounds))
    table = headers if type(headers) is dict or isinstance(headers, Mapping) else {}
    if "exchange_name" not in table:
        raise Malformed("no exchange_name header")
    exchange = name_text(table["exchange_name"], bounds)
    routing_keys = _name_list(table.get("routing_keys"), "routing_keys", bounds)
    properties, message_headers, headers_cut = _properties(table.get("properties"), bounds)
    raw = body.encode("utf-8", "surrogatepass") if isinstance(body, str) else bytes(body or b"")
    # Sorted, as the simulator's answer is: the broker's order means nothing (and differs by version).
    routed = (
        tuple(sorted(_name_list(table.get("routed_queues"), "routed_queues", bounds))) if kind == "publish" else None
    )
    queue = subject if kind == "deliver" else None
    return TraceCopy(
        kind=kind,
        exchange=exchange,
        routing_keys=routing_keys,
        headers=message_headers,
        properties=properties,
        node=_optional_name(table.get("node"), bounds),
        connection=_optional_name(table.get("connection"), bounds),
        channel=_optional_int(table.get("channel")),
        user=_optional_name(table.get("user"), bounds),
        routed_queues=routed,
        queue=queue,
        redelivered=_optional_int(table.get("redelivered")) == 1,
        size=len(raw),
        received=received,
        key=correlation_key(exchange, routing_keys, properties, message_headers, raw),
        body_start=raw[:body_bytes],
        body_truncated=len(raw) > body_bytes,
        headers_truncated=headers_cut,
        non_utf8=bounds.non_utf8,
    )


def _kind(routing_key: str) -> tuple[Kind, str]:
    if routing_key.startswith(PUBLISH_PREFIX):
        return "publish", routing_key[len(PUBLISH_PREFIX) :]
    if routing_key.startswith(DELIVER_PREFIX):
        return "deliver", routing_key[len(DELIVER_PREFIX) :]
    raise Malformed("routing key is neither publish.* nor deliver.*")


def _name_list(value: Any, header: str, bounds: Bounds) -> tuple[str, ...]:
    if value is None:
        raise Malformed(f"no {header} header")
    if not isinstance(value, list | tuple):
        raise Malformed(f"{header} is not an array")
    if len(value) > 4 * MAX_ITEMS:  # routing keys and queues: each one matters, but not thousands
        raise Malformed(f"{header} is too long")
    return tuple(name_text(v, bounds) for v in value)


def _properties(value: Any, bounds: Bounds) -> tuple[dict[str, Any], dict[str, Any], bool]:
    """(properties without headers, headers, whether the headers were cut)."""
    if value is None:
        return {}, {}, False
    if type(value) is not dict and not isinstance(value, Mapping):
        raise Malformed("properties is not a table")
    raw_headers = value.get("headers")
    header_bounds = Bounds()
    headers = (
        json_safe(raw_headers, header_bounds, 1)
        if type(raw_headers) is dict or isinstance(raw_headers, Mapping)
        else {}
    )
    bounds.non_utf8 = bounds.non_utf8 or header_bounds.non_utf8
    bounds.truncated = bounds.truncated or header_bounds.truncated
    rest = json_safe({k: v for k, v in value.items() if k != "headers"}, bounds)
    return rest, headers, header_bounds.truncated


def _optional_name(value: Any, bounds: Bounds) -> str | None:
    return None if value is None else name_text(value, bounds)


def _optional_int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def correlation_key(
    exchange: str, routing_keys: tuple[str, ...], properties: Mapping[str, Any], headers: Mapping[str, Any], body: bytes
) -> bytes:
    """The same for a message's publish copy and each of its delivery copies.

    Two messages with the same exchange, keys, properties, headers and body get the same
    key: they cannot be told apart, and either may be matched (their paths are the same).
    """
    stable = sorted((k, v) for k, v in headers.items() if k not in VOLATILE_HEADERS)
    # repr, not JSON: several times cheaper, and both copies of a message carry the same values.
    text = repr((exchange, routing_keys, sorted(properties.items()), stable))
    digest = hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16)
    digest.update(body)
    return digest.digest()
