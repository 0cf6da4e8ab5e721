"""Bytes on the wire of the patch for one changed queue, at 100 / 1,000 / 5,000 queues.

Builds a broker of the given size (queues bound to topic exchanges, a consumer per tenth
queue), posts it to a real Hub, then posts it again with one queue changed: first its depth
only, then everything a busy queue changes between two polls (ready, unacked, consumers,
utilisation, four rates). The patch the hub emits is encoded exactly as Socket.IO sends it
(the Engine.IO message frame around a Socket.IO event packet) and measured, next to the
full snapshot a client gets on connect.

    .venv/bin/python benchmarks/patch_size.py [--sizes 100,1000,5000]
"""

from __future__ import annotations

import argparse
import sys
import zlib
from dataclasses import replace
from typing import Any

from socketio import packet

from visualiser.hub import Hub
from visualiser.model.entities import (
    Binding,
    BrokerSnapshot,
    Connection,
    Consumer,
    Exchange,
    Queue,
    VhostSnapshot,
)

VHOST = "/"


def wire_text(event: str, data: Any) -> bytes:
    """One Socket.IO event as sent over a websocket: '4' (Engine.IO message) + packet."""
    encoded = packet.Packet(packet.EVENT, data=[event, data], namespace="/").encode()
    return ("4" + encoded).encode("utf-8")


def wire_bytes(event: str, data: Any) -> int:
    return len(wire_text(event, data))


def deflated_bytes(text: bytes) -> int:
    """The same frame compressed as a compressing proxy (or permessage-deflate) would send it."""
    squeeze = zlib.compressobj(6, zlib.DEFLATED, -15)
    return len(squeeze.compress(text) + squeeze.flush())


def broker(size: int) -> VhostSnapshot:
    exchanges = tuple(Exchange(f"events.{e:02d}", "topic") for e in range(max(1, size // 100)))
    queues = tuple(
        Queue(
            f"service-{q:05d}.work",
            arguments={"x-dead-letter-exchange": "events.00"} if q % 7 == 0 else {},
            messages_ready=q % 13,
            consumers=1 if q % 10 == 0 else 0,
            rates={"publish": 1.0, "deliver_get": 1.0, "ack": 1.0} if q % 10 == 0 else {},
        )
        for q in range(size)
    )
    bindings = tuple(
        Binding(exchanges[q % len(exchanges)].name, queue.name, "queue", f"orders.{q}.#")
        for q, queue in enumerate(queues)
    )
    connections = tuple(
        Connection(
            f"10.0.0.{c}:5{c:04d} -> 10.0.1.1:5672", "app", f"10.0.0.{c}:5{c:04d}", {"connection_name": f"worker-{c}"}
        )
        for c in range(max(1, size // 100))
    )
    consumers = tuple(
        Consumer(
            queue.name,
            f"ctag-{q}",
            f"{connections[q % len(connections)].name} (1)",
            connections[q % len(connections)].name,
            prefetch_count=10,
        )
        for q, queue in enumerate(queues)
        if queue.consumers
    )
    return VhostSnapshot(VHOST, exchanges, queues, bindings, consumers, connections)


def with_changed_queue(vhost: VhostSnapshot, index: int, **changes: Any) -> VhostSnapshot:
    queues = list(vhost.queues)
    queues[index] = replace(queues[index], **changes)
    return replace(vhost, queues=tuple(queues))


def measure(size: int) -> dict[str, int]:
    sent: list[tuple[str, Any]] = []
    hub = Hub(emit=lambda event, data, to=None: sent.append((event, data)))
    hub.start()
    try:
        base = broker(size)
        hub.publish_broker("bench", BrokerSnapshot({VHOST: base}))
        hub.drain()
        snapshot_text = wire_text("snapshot", hub.snapshot_message(VHOST))
        snapshot_size = len(snapshot_text)
        middle = size // 2
        depth_only = with_changed_queue(base, middle, messages_ready=base.queues[middle].messages_ready + 1234)
        busy = with_changed_queue(
            base,
            middle,
            messages_ready=98765,
            messages_unacknowledged=321,
            consumers=3,
            consumer_utilisation=0.87,
            rates={"publish": 1234.5, "deliver_get": 1200.1, "ack": 1199.9, "redeliver": 0.4},
        )
        sizes = {"snapshot": snapshot_size, "deflated": deflated_bytes(snapshot_text)}
        for label, changed in (("depth", depth_only), ("busy", busy)):
            sent.clear()
            hub.publish_broker("bench", BrokerSnapshot({VHOST: changed}))
            hub.drain()
            [patch] = [data for event, data in sent if event == "patch"]
            sizes[label] = wire_bytes("patch", patch)
            hub.publish_broker("bench", BrokerSnapshot({VHOST: base}))  # back, for the next measurement
            hub.drain()
        return sizes
    finally:
        hub.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100,1000,5000")
    args = parser.parse_args()
    print(f"{'queues':>7} {'patch: depth':>13} {'patch: busy queue':>18} {'snapshot on connect':>20} {'deflated':>12}")
    worst = 0
    for size in (int(s) for s in args.sizes.split(",")):
        sizes = measure(size)
        worst = max(worst, sizes["depth"], sizes["busy"])
        print(
            f"{size:>7} {sizes['depth']:>11} B {sizes['busy']:>16} B {sizes['snapshot']:>18,} B "
            f"{sizes['deflated']:>10,} B"
        )
    print(f"largest one-queue patch: {worst} B ({'under' if worst < 1024 else 'OVER'} 1 KB)")
    return 0 if worst < 1024 else 1


if __name__ == "__main__":
    sys.exit(main())
