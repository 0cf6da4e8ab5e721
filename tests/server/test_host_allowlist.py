"""Host allowlist (DNS rebinding): which Host headers the app answers, in front of everything."""

from __future__ import annotations

import socket
from dataclasses import dataclass

import pytest

from tests.conftest import StaticSource, run_live, snapshot_of, stop_live
from visualiser import create_app, service_of
from visualiser.config import Settings
from visualiser.model.entities import VhostSnapshot
from visualiser.server.auth import user_entry
from visualiser.server.hosts import HostAllowlist, host_name
from visualiser.server.sockets import origin_checker


@dataclass(frozen=True)
class PublicSettings(Settings):
    """Settings with the public_hosts option, whether or not config.py has it yet."""

    public_hosts: tuple[str, ...] = ()


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("localhost", "localhost"),
        ("LocalHost:8600", "localhost"),
        ("localhost.:8600", "localhost"),
        ("127.0.0.1:1", "127.0.0.1"),
        ("[::1]:8600", "::1"),
        ("[0:0:0:0:0:0:0:1]", "::1"),
        ("vis.example.com:443", "vis.example.com"),
        ("::1", None),  # IPv6 needs brackets, as in a URL
        ("[::1", None),
        ("localhost:", None),
        ("localhost:http", None),
        ("localhost:86000000", None),
        ("", None),
    ],
)
def test_host_name_normalises_or_refuses(header: str, expected: str | None) -> None:
    assert host_name(header) == expected


@pytest.mark.parametrize(
    ("header", "allowed"),
    [
        ("localhost:8600", True),
        ("127.0.0.1:8600", True),
        ("127.0.0.1", True),
        ("[::1]:8600", True),
        ("127.9.9.9:1", True),  # all of 127/8 is loopback
        ("rebind.example:8600", False),
        ("localhost.rebind.example:8600", False),
        ("127.0.0.1.nip.io:8600", False),
        ("10.0.0.5:8600", False),
        ("", False),
        (None, False),
    ],
)
def test_default_allowlist_is_loopback_only(header: str | None, allowed: bool) -> None:
    assert HostAllowlist.from_settings(Settings()).allows(header) is allowed


def test_bound_host_public_hosts_and_origin_hosts_are_allowed_with_any_port() -> None:
    allowlist = HostAllowlist.from_settings(
        PublicSettings(
            host="10.0.0.5", public_hosts=("Vis.Example.com", "fe80::1"), allowed_origins=("https://proxy.corp:8443",)
        )
    )
    for header in ["10.0.0.5:8600", "vis.example.com", "VIS.EXAMPLE.COM.:443", "[fe80::1]:1", "proxy.corp:9"]:
        assert allowlist.allows(header), header
    assert not allowlist.allows("other.example.com")
    assert not allowlist.allows("10.0.0.6:8600")


def test_a_wildcard_bind_adds_no_name() -> None:
    assert HostAllowlist.from_settings(Settings(host="0.0.0.0", no_auth=True)).names == frozenset()
    assert HostAllowlist.from_settings(Settings(host="::", no_auth=True)).names == frozenset()


def test_origin_must_be_same_origin_and_on_the_allowlist() -> None:
    check = origin_checker(["https://proxy.corp"], HostAllowlist.build())
    assert check("http://127.0.0.1:8600", {"HTTP_HOST": "127.0.0.1:8600"})
    assert check("http://localhost:8600", {"HTTP_HOST": "localhost:8600"})
    # A rebound page sends its own name in both: equal, but not a name we answer to.
    assert not check("http://rebind.example:8600", {"HTTP_HOST": "rebind.example:8600"})
    assert not check("http://localhost:9999", {"HTTP_HOST": "localhost:8600"})
    assert check("https://proxy.corp", {"HTTP_HOST": "internal:8600"})


# ---- the gate in front of the app ------------------------------------------------------------


@pytest.fixture
def gated():
    svc = service_of(create_app(PublicSettings(public_hosts=("vis.example.com",)), sources=[]))
    svc.sources.append(StaticSource(svc.hub, snapshot_of(VhostSnapshot("/"))))
    svc.start()
    yield svc.app.test_client()
    svc.stop()


PATHS = [
    "/",
    "/healthz",
    "/api/vhosts",
    "/api/topology?vhost=/",
    "/api/tasks",
    "/metrics",
    "/static/js/main.js",
    "/socket.io/?EIO=4&transport=polling",
    "/nowhere",
]


@pytest.mark.parametrize("path", PATHS)
def test_an_unknown_host_is_refused_everywhere_with_a_421_naming_the_setting(gated, path: str) -> None:
    response = gated.get(path, headers={"Host": "rebind.example:8600"})
    assert response.status_code == 421
    assert response.mimetype == "text/plain"
    text = response.get_data(as_text=True)
    assert "'rebind.example:8600'" in text and "public_hosts" in text and "VISUALISER_PUBLIC_HOSTS" in text
    assert response.headers["X-Content-Type-Options"] == "nosniff"


@pytest.mark.parametrize(
    "host", ["localhost", "localhost:8600", "127.0.0.1:8600", "[::1]:8600", "vis.example.com", "vis.example.com:443"]
)
def test_allowed_hosts_get_through(gated, host: str) -> None:
    assert gated.get("/api/vhosts", headers={"Host": host}).status_code == 200
    assert gated.get("/healthz", headers={"Host": host}).status_code == 200


def test_a_request_without_a_host_is_a_400(gated) -> None:
    response = gated.get("/api/vhosts", environ_overrides={"HTTP_HOST": ""})
    assert response.status_code == 400
    assert "Host header" in response.get_data(as_text=True)


def test_the_gate_sits_in_front_of_authentication() -> None:
    svc = service_of(create_app(Settings(auth_users=(user_entry("alice", "a long enough password"),)), sources=[]))
    client = svc.app.test_client()
    assert client.get("/api/vhosts", headers={"Host": "rebind.example"}).status_code == 421
    assert client.get("/api/vhosts").status_code == 401


# ---- on a real server: the Socket.IO handshake, both transports -------------------------------


def handshake_status(port: int, host: str, websocket: bool) -> int:
    """Status of a raw Socket.IO handshake sent with this Host, and Origin equal to it."""
    upgrade = (
        (
            "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
            "Sec-WebSocket-Version: 13\r\n"
        )
        if websocket
        else ""
    )
    transport = "websocket" if websocket else "polling"
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(
            (
                f"GET /socket.io/?EIO=4&transport={transport} HTTP/1.1\r\nHost: {host}\r\n"
                f"Origin: http://{host}\r\n{upgrade}\r\n"
            ).encode()
        )
        return int(sock.recv(4096).split(b" ", 2)[1])


@pytest.mark.parametrize("websocket", [True, False])
def test_a_live_socketio_handshake_is_refused_for_a_rebound_host(websocket: bool) -> None:
    server, _ = run_live(Settings(), sources=[])
    try:
        assert handshake_status(server.port, f"rebind.example:{server.port}", websocket) == 421
        assert handshake_status(server.port, f"127.0.0.1:{server.port}", websocket) == (101 if websocket else 200)
        assert handshake_status(server.port, f"localhost:{server.port}", websocket) == (101 if websocket else 200)
    finally:
        stop_live(server)
