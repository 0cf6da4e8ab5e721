"""Socket.IO clients for abuse tests: a raw websocket that sends and never reads, and a
well-behaved client that keeps its graph as a page does. Shared by the integration tests
and the benchmarks."""

from __future__ import annotations

import base64
import os
import socket
import struct
import threading
import time
from typing import Any

from tests.synthetic import VHOST, InOrderClient
from visualiser.model.diff import apply_patch
from visualiser.model.topology import Graph


def ws_frame(text: str) -> bytes:
    """A masked text frame, as a client must send it."""
    payload = text.encode()
    mask = os.urandom(4)
    header = bytes([0x81])
    if len(payload) < 126:
        header += bytes([0x80 | len(payload)])
    else:
        header += bytes([0x80 | 126]) + struct.pack("!H", len(payload))
    return header + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


def open_raw_socketio(port: int, timeout: float = 10.0) -> socket.socket:
    """TCP, websocket handshake (its 101 is the only thing read), Socket.IO connect and subscribe."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall(
        (
            f"GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
            f"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
            "Sec-WebSocket-Version: 13\r\n\r\n"
        ).encode()
    )
    response = b""
    while b"\r\n\r\n" not in response:
        chunk = sock.recv(1)  # byte by byte: not one byte of the stream after the headers
        if not chunk:
            raise ConnectionError("closed during the handshake")
        response += chunk
    if b" 101 " not in response.split(b"\r\n", 1)[0]:
        raise ConnectionError(response.split(b"\r\n", 1)[0].decode(errors="replace"))
    sock.sendall(ws_frame("40") + ws_frame(f'42["subscribe",{{"vhost":"{VHOST}"}}]'))
    return sock


class GoodClient:
    def __init__(self, url: str):
        self.graph: Graph | None = None
        self.version: int | None = None
        self.patches = self.snapshots = self.resyncs = 0
        self.awaiting_snapshot = False
        self.applied_at: list[float] = []
        self.lock = threading.Lock()
        self.sio = InOrderClient(reconnection=True)
        self.sio.on("snapshot", self.on_snapshot)
        self.sio.on("patch", self.on_patch)
        self.sio.connect(url, transports=["websocket"], wait_timeout=30)
        self.sio.emit("subscribe", {"vhost": VHOST})

    def on_snapshot(self, message: dict[str, Any]) -> None:
        with self.lock:
            self.graph = Graph({n["id"]: n for n in message["nodes"]}, {e["id"]: e for e in message["edges"]})
            self.version, self.awaiting_snapshot = message["version"], False
            self.snapshots += 1

    def on_patch(self, message: dict[str, Any]) -> None:
        with self.lock:
            if self.version is None or self.awaiting_snapshot or message["to"] <= self.version:
                return
            if message["from"] != self.version:
                self.awaiting_snapshot, self.resyncs = True, self.resyncs + 1
                self.sio.emit("resync", {"vhost": VHOST})
                return
            self.graph = apply_patch(self.graph, message)
            self.version = message["to"]
            self.patches += 1
            self.applied_at.append(time.time())
