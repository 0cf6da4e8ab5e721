"""Authentication: hashed secrets, exact-match users, the WSGI gate over pages, API and
Socket.IO alike, and the refusal to listen on an exposed address without it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import requests
import socketio
from werkzeug.security import check_password_hash

import app as entry
from tests.conftest import run_live, stop_live
from visualiser import create_app
from visualiser.config import ConfigError, Settings
from visualiser.server.auth import (
    Authenticator,
    basic_credentials,
    bind_problem,
    is_loopback,
    no_auth_warning,
    parse_users,
    user_entry,
)

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "correct horse battery staple"


@pytest.fixture(scope="module")
def alice() -> str:
    return user_entry("alice", PASSWORD)


# ---- pure parts ---------------------------------------------------------------------------


def test_user_entry_is_a_salted_pbkdf2_hash(alice: str) -> None:
    user, _, hashed = alice.partition(":")
    assert user == "alice" and hashed.startswith("pbkdf2:sha256:")
    assert PASSWORD not in alice
    assert check_password_hash(hashed, PASSWORD)
    assert user_entry("alice", PASSWORD) != alice  # salted


@pytest.mark.parametrize("user", ["", "a:b", "a,b", " alice"])
def test_user_entry_refuses_names_that_cannot_round_trip(user: str) -> None:
    with pytest.raises(ConfigError):
        user_entry(user, PASSWORD)


def test_parse_users_refuses_plain_text_secrets(alice: str) -> None:
    assert parse_users([alice]) == {"alice": alice.partition(":")[2]}
    for bad in ["alice:hunter2", "alice", ":pbkdf2:sha256:1$a$b", "alice:pbkdf2:sha256:1"]:
        with pytest.raises(ConfigError) as info:
            parse_users([bad])
        assert "hunter2" not in str(info.value)


def test_authenticator_matches_users_exactly(alice: str) -> None:
    auth = Authenticator(parse_users([alice]))
    assert auth.check("alice", PASSWORD)
    assert auth.check("alice", PASSWORD)  # remembered: same answer
    assert not auth.check("alice", PASSWORD + " ")
    assert not auth.check("Alice", PASSWORD)
    assert not auth.check("alice ", PASSWORD)
    assert not auth.check("bob", PASSWORD)
    assert not auth.check("", "")


# Cheap parameters keep the test fast; what matters is that the prices differ.
PRICES = {
    "alice": "pbkdf2:sha256:1000",
    "bob": "scrypt:1024:8:1",
    "carol": "pbkdf2:sha256:2000",
    "dave": "pbkdf2:sha256:1000",
}


def test_every_name_runs_the_same_hashes(monkeypatch: pytest.MonkeyPatch) -> None:
    """Known or not, right password or not: one hash of each configured price, in the same order."""
    from werkzeug.security import generate_password_hash

    from visualiser.server import auth as auth_module

    users = {name: generate_password_hash(f"{name}-pw", method=price) for name, price in PRICES.items()}
    authenticator = Authenticator(users)
    evaluated: list[str] = []
    real_check = auth_module.check_password_hash

    def counting_check(stored: str, password: str) -> bool:
        evaluated.append(stored.split("$", 1)[0])
        return real_check(stored, password)

    monkeypatch.setattr(auth_module, "check_password_hash", counting_check)
    runs: dict[tuple[str, str], list[str]] = {}
    for user, password in [
        ("alice", "alice-pw"),
        ("bob", "bob-pw"),
        ("carol", "wrong"),
        ("dave", "dave-pw"),
        ("mallory", "alice-pw"),
        ("", ""),
        ("Alice", "alice-pw"),
        ("zz" * 40, "x"),
    ]:
        evaluated.clear()
        outcome = authenticator.check(user, password)
        assert outcome is (user in users and password == f"{user}-pw")
        runs[(user, password)] = list(evaluated)
    expected = sorted(set(PRICES.values()))
    assert all(run == expected for run in runs.values()), runs


def test_a_hash_this_system_cannot_compute_stops_start_up_without_echoing_it() -> None:
    with pytest.raises(ConfigError) as caught:
        Authenticator({"alice": "pbkdf2:nosuchdigest:1000$salt$0123abcd"})
    assert "'alice'" in str(caught.value) and "0123abcd" not in str(caught.value)


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("Basic YWxpY2U6cHc=", ("alice", "pw")),
        ("basic YWxpY2U6cDpx", ("alice", "p:q")),  # only the first colon splits
        ("Basic !!!", None),
        ("Basic YWxpY2U=", None),  # no colon
        ("Bearer abc", None),
        ("Basic //79", None),  # not UTF-8
        (None, None),
    ],
)
def test_basic_credentials_parsing(header: str | None, expected: tuple[str, str] | None) -> None:
    assert basic_credentials(header) == expected


# All of 127.0.0.0/8 is loopback (the kernel routes the block to the loopback interface);
# of names, only "localhost": any other name can resolve anywhere.
LOOPBACK_BINDS = [
    "127.0.0.1",
    "127.0.0.2",
    "127.255.255.254",
    "::1",
    "[::1]",
    "0:0:0:0:0:0:0:1",
    "localhost",
    "LocalHost",
]
EXPOSED_BINDS = [
    "0.0.0.0",
    "::",
    "10.1.2.3",
    "example.internal",
    "126.255.255.255",
    "128.0.0.1",
    "::ffff:127.0.0.1",
    "localhost.localdomain",
    "ip6-localhost",
    "127.0.0.1.nip.io",
    "localhost.example",
]


@pytest.mark.parametrize("host", LOOPBACK_BINDS)
def test_loopback_hosts(host: str) -> None:
    assert is_loopback(host)
    assert bind_problem(Settings(host=host)) is None


@pytest.mark.parametrize("host", LOOPBACK_BINDS)
def test_a_loopback_bind_is_also_a_host_name_the_page_answers_to(host: str) -> None:
    from visualiser.server.hosts import HostAllowlist

    name = host if host.startswith("[") or ":" not in host else f"[{host}]"
    assert HostAllowlist.build().allows(f"{name}:8600")  # no setting needed: the same rule as the bind


@pytest.mark.parametrize("host", EXPOSED_BINDS)
def test_just_outside_loopback_needs_auth(host: str) -> None:
    assert not is_loopback(host)
    assert bind_problem(Settings(host=host)) is not None


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "10.1.2.3", "example.internal"])
def test_exposed_bind_needs_auth_or_an_explicit_no_auth(host: str, alice: str) -> None:
    problem = bind_problem(Settings(host=host))
    assert problem and "--hash-password" in problem and "--auth-users" in problem and "--no-auth" in problem
    assert bind_problem(Settings(host=host, auth_users=(alice,))) is None
    assert bind_problem(Settings(host=host, no_auth=True)) is None
    warning = no_auth_warning(Settings(host=host, no_auth=True))
    assert warning and "NO AUTHENTICATION" in warning


# ---- the entry point ---------------------------------------------------------------------


def test_app_refuses_an_exposed_bind_with_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert entry.main(["--host", "0.0.0.0", "--demo"]) == 2
    assert "--hash-password" in capsys.readouterr().err


def test_hash_password_reads_stdin_and_prints_a_usable_entry() -> None:
    result = subprocess.run(
        [sys.executable, "app.py", "--hash-password", "alice"],
        input=PASSWORD + "\n",
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
        check=True,
    )
    line = result.stdout.strip()
    assert PASSWORD not in result.stdout + result.stderr
    assert Authenticator(parse_users([line])).check("alice", PASSWORD)


def test_malformed_auth_users_stop_start_up() -> None:
    with pytest.raises(ConfigError):
        create_app(Settings(auth_users=("alice:plaintext",)), sources=[])


# ---- the gate, on a real server --------------------------------------------------------------


@pytest.fixture(scope="module")
def guarded(alice: str):
    server, _ = run_live(Settings(auth_users=(alice,)), sources=[])
    yield server
    stop_live(server)


PROTECTED = [
    "/",
    "/api/vhosts",
    "/api/topology?vhost=/",
    "/metrics",
    "/static/vendor/cytoscape-3.34.4/LICENSE",
    "/socket.io/?EIO=4&transport=polling",
    "/nowhere",
]


@pytest.mark.parametrize("path", PROTECTED)
def test_everything_but_healthz_needs_credentials(guarded, path: str) -> None:
    response = guarded.get(path)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Basic ")
    assert response.json() == {"error": "authentication required", "status": 401}
    assert guarded.get(path, auth=("alice", "wrong")).status_code == 401
    assert guarded.get(path, auth=("alice", PASSWORD)).status_code != 401


def test_healthz_stays_open(guarded) -> None:
    response = guarded.get("/healthz")
    assert response.status_code == 200 and "status" in response.json()


def _socket_connects(url: str, headers: dict[str, str]) -> bool:
    client = socketio.Client(reconnection=False)
    try:
        client.connect(url, headers=headers, transports=["websocket"], wait_timeout=10)
    except socketio.exceptions.ConnectionError:
        return False
    client.disconnect()
    return True


def test_socketio_connect_needs_credentials(guarded) -> None:
    good = requests.auth._basic_auth_str("alice", PASSWORD)
    bad = requests.auth._basic_auth_str("alice", "nope")
    assert _socket_connects(guarded.url, {"Authorization": good})
    assert not _socket_connects(guarded.url, {"Authorization": bad})
    assert not _socket_connects(guarded.url, {})
