"""Snapshots for Socket.IO clients: coalesced, paced and shared.

A snapshot of a large vhost is the most expensive thing the hub does for a client (about
1.2 MB of JSON for 2,000 queues), and a client can ask for one with a message of a few
bytes. So:

- **Coalesced**: a connection has at most one snapshot pending; asking again while one is
  pending only changes which vhost it is for (the latest request wins).
- **Paced**: a connection gets at most one snapshot per ``PER_CLIENT_INTERVAL``; a request
  that comes sooner waits, and is served by the hub's ticker when its turn comes.
- **Shared**: the hub serves everything due at once, building and encoding each vhost's
  snapshot once for every client waiting for it, at most once per ``BUILD_INTERVAL``.

Snapshots are sent from the hub thread, which also emits patches: a client gets its
snapshot after any patch it already holds and before any patch that follows it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from ..hub import Hub

PER_CLIENT_INTERVAL = 1.0  # seconds between two snapshots to one connection
BUILD_INTERVAL = 0.25  # seconds between two rounds of snapshot building
TICK = 0.25

Send = Callable[[str, Any, list[str]], None]  # event, data, recipient sids


class SnapshotScheduler:
    def __init__(self, hub: Hub, send: Send, clock: Callable[[], float] = time.monotonic):
        self.hub, self.send, self.clock = hub, send, clock
        self._pending: dict[str, str] = {}  # sid -> vhost
        self._last_sent: dict[str, float] = {}  # sid -> when its last snapshot went
        self._last_round = float("-inf")
        self._round_queued = False
        self._lock = threading.Lock()
        hub.every(TICK, self.serve)

    def request(self, sid: str, vhost: str) -> None:
        """Any thread: this connection wants vhost's snapshot."""
        with self._lock:
            self._pending[sid] = vhost
            queue_round = not self._round_queued and self.clock() - self._last_round >= BUILD_INTERVAL
            self._round_queued = self._round_queued or queue_round
        if queue_round:
            self.hub.submit(self.serve)

    def forget(self, sid: str) -> None:
        """The connection is gone: nothing is sent to it any more."""
        with self._lock:
            self._pending.pop(sid, None)
            self._last_sent.pop(sid, None)

    def pending(self) -> int:
        with self._lock:
            return len(self._pending)

    def serve(self) -> None:
        """Hub thread: send every due snapshot, one build per vhost."""
        due = self._take_due()
        for vhost, sids in due.items():
            message = self.hub.snapshot_message(vhost)
            if message is None:
                self.send("error", {"message": f"no vhost named {vhost!r}", "vhost": vhost}, sids)
            else:
                self.send("snapshot", message, sids)

    def _take_due(self) -> dict[str, list[str]]:
        now = self.clock()
        with self._lock:
            self._round_queued = False
            if now - self._last_round < BUILD_INTERVAL:
                return {}
            due: dict[str, list[str]] = {}
            for sid, vhost in list(self._pending.items()):
                if now - self._last_sent.get(sid, float("-inf")) >= PER_CLIENT_INTERVAL:
                    del self._pending[sid]
                    self._last_sent[sid] = now
                    due.setdefault(vhost, []).append(sid)
            if due:
                self._last_round = now
            # Pacing only needs recent sends; pruning them also forgets a connection whose
            # last request raced its disconnect (served once to nobody, then gone).
            self._last_sent = {sid: t for sid, t in self._last_sent.items() if now - t < PER_CLIENT_INTERVAL}
            return due
