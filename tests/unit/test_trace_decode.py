"""Reading firehose copies: the headers RabbitMQ 3.10 and 4.0 put on them (recorded from the
real brokers), and what hostile or broken copies become: counted reasons, escaped names,
bounded headers, bodies cut and kept out of repr."""

from __future__ import annotations

import struct

import pytest

from visualiser.tracing.decode import MAX_KEYS, MAX_TEXT, Malformed, correlation_key, decode_copy
from visualiser.tracing.firehose import tolerant_deliver_args

# As py-amqp hands them over from RabbitMQ 3.10.8 (a kombu publish with CC and BCC headers).
PUBLISH_HEADERS = {
    "exchange_name": "orders",
    "routing_keys": ["order.new", "x.y", "order.bcc"],
    "properties": {
        "message_id": "m1",
        "priority": 0,
        "delivery_mode": 2,
        "headers": {"a": 1, "f": 1.5, "CC": ["x.y"]},
        "content_encoding": "binary",
        "content_type": "application/octet-stream",
    },
    "node": "rabbit@localhost",
    "vhost": "v",
    "connection": "127.0.0.1:53190 -> 127.0.0.1:5672",
    "channel": 1,
    "user": "guest",
    "routed_queues": ["q1"],
}
DELIVER_HEADERS = {
    "exchange_name": "orders",
    "routing_keys": ["order.new", "x.y", "order.bcc"],
    "properties": {
        "message_id": "m1",
        "priority": 0,
        "delivery_mode": 2,
        "headers": {"a": 1, "f": 1.5, "CC": ["x.y"]},
        "content_encoding": "binary",
        "content_type": "application/octet-stream",
    },
    "node": "rabbit@localhost",
    "redelivered": 0,
    "vhost": "v",
    "connection": "127.0.0.1:53190 -> 127.0.0.1:5672",
    "channel": 2,
    "user": "guest",
}


def test_a_publish_copy_is_read_with_its_publisher_and_routed_queues() -> None:
    copy = decode_copy("publish.orders", PUBLISH_HEADERS, b"hello \xff body", 1.0, 2048)
    assert copy.kind == "publish" and copy.exchange == "orders" and copy.routing_key == "order.new"
    assert copy.routed_queues == ("q1",) and copy.user == "guest" and copy.channel == 1
    assert copy.headers == {"a": 1, "f": 1.5, "CC": ["x.y"]}
    assert isinstance(copy.headers["a"], int) and isinstance(copy.headers["f"], float)  # headers exchanges care
    assert "headers" not in copy.properties and copy.properties["message_id"] == "m1"
    assert copy.size == len(b"hello \xff body") and copy.body == "hello \\xff body"


def test_a_delivery_has_the_same_correlation_key_as_its_publish_even_after_dead_lettering_headers() -> None:
    publish = decode_copy("publish.orders", PUBLISH_HEADERS, b"body", 1.0, 2048)
    deliver = decode_copy("deliver.q1", DELIVER_HEADERS, b"body", 2.0, 2048)
    assert deliver.kind == "deliver" and deliver.queue == "q1" and deliver.routed_queues is None
    assert deliver.key == publish.key
    redelivered = dict(
        DELIVER_HEADERS,
        redelivered=1,
        properties={
            **DELIVER_HEADERS["properties"],
            "headers": {"a": 1, "f": 1.5, "CC": ["x.y"], "x-delivery-count": 1},
        },
    )
    again = decode_copy("deliver.q1", redelivered, b"body", 3.0, 2048)
    assert again.redelivered and again.key == publish.key
    assert decode_copy("deliver.q1", DELIVER_HEADERS, b"other body", 2.0, 2048).key != publish.key


@pytest.mark.parametrize(
    ("routing_key", "headers", "reason"),
    [
        ("publish.orders", {}, "no exchange_name header"),
        ("publish.orders", None, "no exchange_name header"),
        ("something.else", PUBLISH_HEADERS, "routing key is neither publish.* nor deliver.*"),
        ("publish.orders", {**PUBLISH_HEADERS, "routing_keys": "order.new"}, "routing_keys is not an array"),
        (
            "publish.orders",
            {k: v for k, v in PUBLISH_HEADERS.items() if k != "routed_queues"},
            "no routed_queues header",
        ),
        ("publish.orders", {**PUBLISH_HEADERS, "properties": "x"}, "properties is not a table"),
        ("deliver.q", {k: v for k, v in DELIVER_HEADERS.items() if k != "routing_keys"}, "no routing_keys header"),
    ],
)
def test_malformed_copies_name_a_fixed_reason(routing_key: str, headers, reason: str) -> None:
    with pytest.raises(Malformed) as raised:
        decode_copy(routing_key, headers, b"", 1.0, 2048)
    assert raised.value.reason == reason


def test_names_that_are_not_utf8_are_escaped_and_counted() -> None:
    headers = {
        **PUBLISH_HEADERS,
        "exchange_name": b"ord\xffers",
        "routed_queues": [b"q\xfe"],
        "properties": {"headers": {b"k\xfa": b"v\xfb"}},
    }
    copy = decode_copy("publish.ord\\xffers", headers, b"", 1.0, 2048)
    assert copy.exchange == "ord\\xffers" and copy.routed_queues == ("q\\xfe",)
    assert copy.headers == {"k\\xfa": "v\\xfb"} and copy.non_utf8


def test_huge_and_deep_headers_are_bounded_and_marked_so_they_are_not_compared() -> None:
    many = {f"h{i}": "v" * (MAX_TEXT * 3) for i in range(MAX_KEYS * 3)}
    deep: dict = {}
    node = deep
    for _ in range(50):
        node["d"] = {}
        node = node["d"]
    headers = {**PUBLISH_HEADERS, "properties": {"headers": {**many, "deep": deep}}}
    copy = decode_copy("publish.orders", headers, b"", 1.0, 2048)
    assert len(copy.headers) <= MAX_KEYS
    assert all(len(v) <= MAX_TEXT for v in copy.headers.values() if isinstance(v, str))
    assert copy.headers_truncated


def test_a_huge_body_is_cut_at_decode_and_never_shown_in_repr() -> None:
    body = b"SECRET" + b"x" * 5_000_000
    copy = decode_copy("publish.orders", PUBLISH_HEADERS, body, 1.0, 100)
    assert copy.size == len(body) and len(copy.body) == 100 and copy.body_truncated
    assert "SECRET" not in repr(copy)


def test_the_correlation_key_ignores_header_order() -> None:
    one = correlation_key("x", ("k",), {}, {"a": 1, "b": 2}, b"")
    two = correlation_key("x", ("k",), {}, {"b": 2, "a": 1}, b"")
    assert one == two


def test_a_delivery_whose_routing_key_is_not_utf8_is_read_with_escapes() -> None:
    """py-amqp refuses such a frame outright; the trace channel reads it (basic.deliver 'sLbss')."""

    def short(raw: bytes) -> bytes:
        return bytes([len(raw)]) + raw

    payload = short(b"ctag") + struct.pack(">Q", 7) + b"\x01" + short(b"amq.rabbitmq.trace") + short(b"deliver.q\xff")
    assert tolerant_deliver_args(payload) == ("ctag", 7, True, "amq.rabbitmq.trace", "deliver.q\\xff")


def test_the_trace_channel_hands_such_a_delivery_to_its_consumer() -> None:
    from amqp import Message, spec

    from visualiser.tracing.firehose import TolerantConnection

    def short(raw: bytes) -> bytes:
        return bytes([len(raw)]) + raw

    channel = TolerantConnection(host="127.0.0.1:1").Channel(TolerantConnection(host="127.0.0.1:1"), 1)
    got = []
    channel.callbacks["ctag"] = got.append
    payload = short(b"ctag") + struct.pack(">Q", 7) + b"\x00" + short(b"amq.rabbitmq.trace") + short(b"deliver.q\xff")
    channel.dispatch_method(spec.Basic.Deliver, payload, Message(b"body"))
    assert [m.delivery_info["routing_key"] for m in got] == ["deliver.q\\xff"]
    assert got[0].body == b"body"
