"""Per-connection Socket.IO limits, piece by piece: the bounded outbox, the message limiter,
and the snapshot scheduler (coalesced, paced, shared)."""

from __future__ import annotations

import queue
import socket
import threading
from typing import Any

import pytest
from engineio import packet

from visualiser.hub import Hub
from visualiser.server.backpressure import MessageLimiter, Outbox
from visualiser.server.snapshots import PER_CLIENT_INTERVAL, SnapshotScheduler


def frame(size: int) -> packet.Packet:
    return packet.Packet(packet.MESSAGE, data="x" * size)


class FakeOwner:
    sid = "abc"

    def __init__(self) -> None:
        self.closed = threading.Event()

    def close(self, wait: bool = True, abort: bool = False) -> None:
        self.closed.set()


# ---- Outbox -------------------------------------------------------------------------------------


def test_outbox_is_a_fifo_queue_as_engineio_uses_it() -> None:
    box = Outbox(limit=1000)
    box.put(frame(10))
    box.put(None)
    assert box.get(timeout=1).data == "x" * 10
    box.task_done()
    assert box.get(block=False) is None
    box.task_done()
    with pytest.raises(queue.Empty):
        box.get(block=False)
    with pytest.raises(queue.Empty):
        box.get(timeout=0.01)
    box.join()  # nothing unfinished: returns


def test_a_backlog_over_the_limit_discards_pending_frames_and_cuts_the_transport() -> None:
    box = Outbox(limit=1000)
    ours, theirs = socket.socketpair()
    box.transport, box.owner = ours, FakeOwner()
    for _ in range(5):
        box.put(frame(300))  # 1,500 bytes: the writer is not taking anything
    assert box.dropped
    assert box.pending_bytes == 0 and box.empty()
    assert theirs.recv(10) == b""  # the TCP connection was shut down
    box.put(frame(10))
    assert box.empty()  # nothing more is held for a dropped client
    box.put(None)
    assert box.get(block=False) is None  # but the writer's stop always gets through
    ours.close()
    theirs.close()


def test_a_frame_bigger_than_the_limit_still_goes_to_a_client_that_keeps_up() -> None:
    box = Outbox(limit=1000)
    box.put(frame(5000))
    assert not box.dropped
    assert len(box.get(timeout=1).data) == 5000
    box.task_done()
    box.put(frame(5000))
    assert not box.dropped


def test_a_dropped_polling_client_is_closed_off_the_emitting_thread() -> None:
    box = Outbox(limit=10)
    box.owner = FakeOwner()
    box.put(frame(100))
    box.put(frame(100))
    assert box.owner.closed.wait(5)


def test_drop_releases_a_join_waiting_on_discarded_frames() -> None:
    box = Outbox(limit=10)
    box.put(frame(100))
    box.put(frame(100))
    assert box.dropped
    done = threading.Event()
    threading.Thread(target=lambda: (box.join(), done.set()), daemon=True).start()
    assert done.wait(5)


# ---- MessageLimiter -------------------------------------------------------------------------------


def test_limiter_allows_a_burst_then_ignores_then_drops_a_flood() -> None:
    limiter = MessageLimiter(rate=0.001, burst=5, flood=10)
    verdicts = [limiter.check("a") for _ in range(20)]
    assert verdicts[:5] == ["ok"] * 5
    assert verdicts[5:15] == ["ignore"] * 10
    assert set(verdicts[15:]) == {"flood"}
    assert limiter.check("b") == "ok"  # per connection
    limiter.forget("a")
    assert limiter.check("a") == "ok"


# ---- SnapshotScheduler ------------------------------------------------------------------------------


class FakeHub(Hub):
    def __init__(self) -> None:
        super().__init__()
        self.jobs: list[Any] = []
        self.built = 0

    def submit(self, fn: Any) -> None:
        self.jobs.append(fn)

    def run_jobs(self) -> None:
        while self.jobs:
            self.jobs.pop(0)()

    def snapshot_message(self, vhost: str) -> dict[str, Any] | None:
        self.built += 1
        return {"vhost": vhost, "version": 1} if vhost != "missing" else None


@pytest.fixture
def clocked():
    now = [100.0]
    hub = FakeHub()
    sent: list[tuple[str, Any, list[str]]] = []
    scheduler = SnapshotScheduler(
        hub, lambda event, data, sids: sent.append((event, data, sorted(sids))), clock=lambda: now[0]
    )
    return scheduler, hub, sent, now


def test_requests_from_one_connection_coalesce_into_one_snapshot(clocked) -> None:
    scheduler, hub, sent, now = clocked
    for _ in range(500):
        scheduler.request("s1", "/")
    hub.run_jobs()
    assert sent == [("snapshot", {"vhost": "/", "version": 1}, ["s1"])]
    assert hub.built == 1


def test_the_latest_vhost_requested_wins(clocked) -> None:
    scheduler, hub, sent, now = clocked
    scheduler.request("s1", "a")
    scheduler.request("s1", "b")
    hub.run_jobs()
    assert [(e, d["vhost"], s) for e, d, s in sent] == [("snapshot", "b", ["s1"])]


def test_a_connection_gets_at_most_one_snapshot_per_interval(clocked) -> None:
    scheduler, hub, sent, now = clocked
    scheduler.request("s1", "/")
    hub.run_jobs()
    scheduler.request("s1", "/")
    now[0] += PER_CLIENT_INTERVAL / 2
    scheduler.serve()
    assert len(sent) == 1 and scheduler.pending() == 1  # waits its turn, not dropped
    now[0] += PER_CLIENT_INTERVAL
    scheduler.serve()
    assert len(sent) == 2 and scheduler.pending() == 0


def test_clients_waiting_for_one_vhost_share_one_build(clocked) -> None:
    scheduler, hub, sent, now = clocked
    for sid in ("s1", "s2", "s3"):
        scheduler.request(sid, "/")
    scheduler.request("s4", "missing")
    hub.run_jobs()
    assert hub.built == 2
    assert ("snapshot", {"vhost": "/", "version": 1}, ["s1", "s2", "s3"]) in sent
    assert any(e == "error" and s == ["s4"] for e, _, s in sent)


def test_a_forgotten_connection_gets_nothing(clocked) -> None:
    scheduler, hub, sent, now = clocked
    scheduler.request("s1", "/")
    scheduler.forget("s1")
    hub.run_jobs()
    assert sent == []
