"""One abusive Socket.IO client against the real app on a 2,000-queue topology.

The attack as reported: a raw websocket that sends ``resync`` again and again and never
reads. Before the limits, every request queued another 1.2 MB snapshot for a client that
never took it (the server grew by about a gigabyte a minute and kept it) and the hub spent
its time building them (another client got 2 patches in 30 s instead of 15). Now the
client is dropped, the server's memory stays bounded, and a well-behaved client keeps
getting its patches.
"""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator

import pytest
import websocket

from tests.conftest import LiveServer, run_live, stop_live, wait_for
from tests.raw_socketio import GoodClient, open_raw_socketio, ws_frame
from tests.synthetic import VHOST, SyntheticBroker, SyntheticSource, rss_mb
from visualiser.config import Settings

pytestmark = pytest.mark.integration

# Generous: the limits hold the abuser's share to a few MB. Without them it was ~45 MB/s.
RSS_CEILING_MB = 250
RESYNC = ws_frame(f'42["resync",{{"vhost":"{VHOST}"}}]')


@pytest.fixture(scope="module")
def live() -> Iterator[LiveServer]:
    server, _ = run_live(Settings(log_level="ERROR"), sources=[])
    source = SyntheticSource(server.service.hub, SyntheticBroker(2000, 40), interval=1.0, changes=50)
    source.start()
    wait_for(lambda: server.service.hub.view(VHOST), timeout=30, message="the synthetic vhost")
    yield server
    source.stop()
    stop_live(server)


def flood_until_dropped(sock: socket.socket, per_second: float, ceiling: float, baseline: float) -> float:
    """Send resync at `per_second`, never reading, until the server cuts us; the max RSS seen."""
    deadline = time.monotonic() + ceiling
    highest = rss_mb()
    try:
        while time.monotonic() < deadline:
            sock.sendall(RESYNC)
            highest = max(highest, rss_mb())
            assert highest - baseline < RSS_CEILING_MB, f"server grew by {highest - baseline:.0f} MB"
            time.sleep(1.0 / per_second)
    except OSError:
        return highest  # dropped
    raise AssertionError(f"the server still held a client that never reads after {ceiling}s")


def test_a_client_that_never_reads_is_dropped_when_its_backlog_passes_the_limit(live) -> None:
    # 30 a second: over the message rate (so some are ignored) but not a flood, so what
    # drops it is the bounded outgoing queue: paced snapshots pile up unread.
    baseline = rss_mb()
    sock = open_raw_socketio(live.port)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # a slow reader: the server's writer blocks early
    with sock:
        flood_until_dropped(sock, per_second=30, ceiling=90, baseline=baseline)


def test_a_resync_flood_is_dropped(live) -> None:
    baseline = rss_mb()
    with open_raw_socketio(live.port) as sock:
        flood_until_dropped(sock, per_second=450, ceiling=60, baseline=baseline)


def test_a_good_client_keeps_getting_patches_while_an_abuser_keeps_coming_back(live) -> None:
    good = GoodClient(live.url)
    try:
        wait_for(lambda: good.version is not None, timeout=60, message="the good client's snapshot")
        baseline, start_patches, drops = rss_mb(), good.patches, 0
        deadline = time.monotonic() + 120
        while good.patches < start_patches + 8:  # 8 polls' worth, each applied in order
            assert time.monotonic() < deadline, f"good client applied {good.patches - start_patches} patches"
            try:
                with open_raw_socketio(live.port) as sock:
                    flood_until_dropped(sock, per_second=450, ceiling=60, baseline=baseline)
            except OSError:
                pass  # refused while reconnecting: try again
            drops += 1
        assert drops >= 1
        hub_version = live.service.hub.view(VHOST).version
        wait_for(
            lambda: good.version is not None and good.version >= hub_version,
            timeout=30,
            message="the good client at the hub's version",
        )
    finally:
        good.sio.disconnect()


def test_resyncs_are_coalesced_and_rate_limited_for_a_client_that_reads(live) -> None:
    ws = websocket.create_connection(f"ws://127.0.0.1:{live.port}/socket.io/?EIO=4&transport=websocket", timeout=30)
    try:
        assert ws.recv().startswith("0")
        ws.send("40")
        for _ in range(100):  # over the burst: the rest is ignored, and not enough to count as a flood
            ws.send(f'42["resync",{{"vhost":"{VHOST}"}}]')
        snapshots = count_snapshots_until_quiet(ws)
        assert 1 <= snapshots <= 3, f"{snapshots} snapshots for one client's burst of 100 resyncs"
        ws.send(f'42["resync",{{"vhost":"{VHOST}"}}]')  # still connected, still served
        assert count_snapshots_until_quiet(ws) == 1
    finally:
        ws.close()


def count_snapshots_until_quiet(ws: websocket.WebSocket, quiet: float = 4.0) -> int:
    """Snapshots received until none has come for `quiet` seconds (patches keep flowing)."""
    count, last = 0, time.monotonic()
    ws.settimeout(1.0)
    while time.monotonic() - last < quiet:
        try:
            message = ws.recv()
        except websocket.WebSocketTimeoutException:
            continue
        if message == "2":
            ws.send("3")  # Engine.IO ping
        elif message.startswith('42["snapshot"'):
            assert json.loads(message[2:])[1]["vhost"] == VHOST
            count, last = count + 1, time.monotonic()
    return count
