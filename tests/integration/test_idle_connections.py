"""Connections that never finish their headers, against the production server (gunicorn's
threaded worker, bounded: visualiser/server/serving.py) in its own process.

The attack as reported: about 1,100 TCP connections that send nothing (or a header now and
then) held one server thread and one file descriptor each, until accept() failed with
EMFILE and /healthz stopped answering. The server here runs with a file-descriptor limit
of 256 so that 300 such connections would be enough to do it again, a connection cap far
below that, and short timeouts. It must keep answering, keep its open files bounded, and
close every idle connection once its header deadline passes, while a websocket session,
which legitimately stays open, stays open.
"""

from __future__ import annotations

import contextlib
import os
import select
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
import websocket

from tests.conftest import wait_for

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
DEFINITIONS = ROOT / "tests/fixtures/definitions_vhost.json"
FD_LIMIT = 256

SERVER = r"""
import resource, sys
limit = int(sys.argv[1])
resource.setrlimit(resource.RLIMIT_NOFILE, (limit, resource.getrlimit(resource.RLIMIT_NOFILE)[1]))
from visualiser import create_app, service_of
from visualiser.config import Settings
from visualiser.server.serving import Limits, make_server
service = service_of(create_app(Settings(definitions=sys.argv[2], log_level="ERROR")))
service.start()
limits = Limits(header_timeout=float(sys.argv[3]), read_timeout=float(sys.argv[4]), max_connections=int(sys.argv[5]))
server = make_server(service.app, "127.0.0.1", 0, limits)
print(server.port, flush=True)
server.serve_forever()
"""


@dataclass
class Server:
    process: subprocess.Popen[str]
    port: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def open_files(self) -> int:
        return len(os.listdir(f"/proc/{self.process.pid}/fd"))

    def healthz(self) -> int:
        return requests.get(self.url + "/healthz", timeout=10).status_code


@contextlib.contextmanager
def server(header_timeout: float, read_timeout: float, max_connections: int) -> Iterator[Server]:
    args = [str(FD_LIMIT), str(DEFINITIONS), str(header_timeout), str(read_timeout), str(max_connections)]
    process = subprocess.Popen(
        [sys.executable, "-c", SERVER, *args], cwd=ROOT, text=True, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL
    )
    try:
        assert process.stdout is not None
        port = int(process.stdout.readline())
        running = Server(process, port)
        wait_for(lambda: _answers(running), timeout=30, message="the server to answer")
        yield running
    finally:
        process.kill()
        process.wait(10)


def _answers(running: Server) -> bool:
    try:
        return running.healthz() == 200
    except requests.RequestException:
        return False


def open_idle(port: int, count: int, first_bytes: bytes = b"") -> list[socket.socket]:
    """Connections that start a request (or not) and never finish its headers."""
    socks = []
    for _ in range(count):
        sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        if first_bytes:
            sock.sendall(first_bytes)
        socks.append(sock)
    return socks


def closed_by_server(sock: socket.socket) -> bool:
    try:
        while select.select([sock], [], [], 0)[0]:
            if not sock.recv(4096):
                return True  # EOF (an eviction, a deadline, or after a 503)
        return False
    except OSError:
        return True  # reset


def count_closed(socks: list[socket.socket]) -> int:
    return sum(1 for sock in socks if closed_by_server(sock))


def test_idle_connections_cannot_lock_out_healthz_and_open_files_stay_bounded() -> None:
    cap = 40
    # A long header deadline: whatever is closed here is closed by the cap, not by time.
    with server(header_timeout=120, read_timeout=30, max_connections=cap) as running:
        baseline = running.open_files()
        idle = open_idle(running.port, 150) + open_idle(running.port, 150, b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        try:
            assert running.healthz() == 200  # the newcomer takes an idle connection's place
            assert running.open_files() <= baseline + cap + 5
            # Every idle connection beyond the cap was closed to make room (the healthz
            # request took one more place).
            wait_for(
                lambda: count_closed(idle) >= len(idle) - cap,
                timeout=30,
                message=f"{len(idle) - cap} idle connections closed by the cap",
            )
            for _ in range(20):
                assert running.healthz() == 200
            assert running.open_files() <= baseline + cap + 5
        finally:
            for sock in idle:
                sock.close()


def test_idle_and_slow_connections_are_closed_after_the_header_deadline() -> None:
    with server(header_timeout=2, read_timeout=2, max_connections=200) as running:
        baseline = running.open_files()
        idle = open_idle(running.port, 100) + open_idle(running.port, 50, b"GET / HTTP/1.1\r\n")
        slowloris = open_idle(running.port, 1, b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n")[0]
        slow_body = open_idle(
            running.port,
            1,
            b"POST /api/route HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            b"Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{",
        )[0]
        try:
            deadline = time.monotonic() + 60
            # A header line every half second: each read is quick, the whole is not.
            while not closed_by_server(slowloris):
                assert time.monotonic() < deadline, "a slowloris connection was never closed"
                with contextlib.suppress(OSError):
                    slowloris.sendall(b"X-Padding: 1\r\n")
                time.sleep(0.5)
            wait_for(lambda: count_closed(idle) == len(idle), timeout=60, message="every idle connection closed")
            wait_for(lambda: closed_by_server(slow_body), timeout=60, message="a stalled request body given up")
            assert running.healthz() == 200
            wait_for(
                lambda: running.open_files() <= baseline + 5, timeout=30, message="open files back to the baseline"
            )
        finally:
            for sock in [*idle, slowloris, slow_body]:
                sock.close()


def test_a_websocket_session_outlives_the_header_deadline() -> None:
    with server(header_timeout=1, read_timeout=1, max_connections=50) as running:
        ws = websocket.create_connection(
            f"ws://127.0.0.1:{running.port}/socket.io/?EIO=4&transport=websocket", timeout=30
        )
        idle = open_idle(running.port, 20)
        try:
            assert ws.recv().startswith("0")
            ws.send("40")
            wait_for(lambda: count_closed(idle) == len(idle), timeout=60, message="the idle connections closed")
            ws.send('42["subscribe",{"vhost":"fixtures/vhost"}]')
            assert wait_for(lambda: _next_snapshot(ws), timeout=30, message="a snapshot over the old websocket")
        finally:
            ws.close()
            for sock in idle:
                sock.close()


def _next_snapshot(ws: websocket.WebSocket) -> bool:
    message = ws.recv()
    if message == "2":
        ws.send("3")
    return message.startswith('42["snapshot"')


def test_at_the_cap_with_every_connection_busy_a_newcomer_gets_a_503() -> None:
    with server(header_timeout=30, read_timeout=30, max_connections=4) as running:
        url = f"ws://127.0.0.1:{running.port}/socket.io/?EIO=4&transport=websocket"
        sessions = [websocket.create_connection(url, timeout=30) for _ in range(4)]
        try:
            assert all(ws.recv().startswith("0") for ws in sessions)
            response = requests.get(running.url + "/healthz", timeout=10)
            assert response.status_code == 503 and "too many connections" in response.text
            sessions.pop().close()
            wait_for(lambda: _answers(running), timeout=30, message="a place freed by a closed session")
        finally:
            for ws in sessions:
                ws.close()
