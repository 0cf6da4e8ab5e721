"""Security headers, no inline script in templates, read-only routes, and the Socket.IO
limits: same-origin connections only (plus a configured list) and small messages only."""

from __future__ import annotations

import json
import re
import threading
from pathlib import Path

import pytest
import requests
import socketio
import websocket

from tests.conftest import StaticSource, run_live, snapshot_of, stop_live, wait_for
from visualiser.config import Settings
from visualiser.model.entities import VhostSnapshot
from visualiser.server.security import CSP
from visualiser.server.sockets import MAX_CLIENT_MESSAGE_BYTES, origin_checker

ROOT = Path(__file__).resolve().parents[2]


def directives() -> dict[str, str]:
    return {part.split()[0]: part.partition(" ")[2] for part in CSP.split("; ")}


def test_csp_allows_no_inline_or_eval_and_no_framing() -> None:
    policy = directives()
    assert policy["script-src"] == "'self'"
    assert policy["frame-ancestors"] == "'none'"
    assert policy["object-src"] == "'none'"
    assert "unsafe" not in CSP and "*" not in CSP


@pytest.mark.parametrize("path", ["/", "/api/vhosts", "/healthz", "/metrics", "/api/nowhere", "/nowhere"])
def test_every_response_carries_the_headers(client, path: str) -> None:
    response = client.get(path)
    assert response.headers["Content-Security-Policy"] == CSP
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.status_code < 500


def test_templates_have_no_inline_script_or_handlers() -> None:
    for template in (ROOT / "templates").rglob("*.html"):
        text = template.read_text()
        for tag in re.findall(r"<script\b[^>]*>", text, re.IGNORECASE):
            # A JSON data block is never run (and the CSP would refuse it if it were).
            data = re.search(r'\btype\s*=\s*"application/json"', tag)
            assert data or re.search(r"\bsrc\s*=", tag), f"{template.name}: inline script {tag}"
        assert not re.search(r"<[^>]+\son[a-z]+\s*=", text, re.IGNORECASE), f"{template.name}: inline handler"
        assert "javascript:" not in text.lower()


# Every route that accepts more than reading, on purpose: the routing question (answers from the
# model, changes nothing) and starting and stopping a trace (the only requests that change the
# broker: --allow-tracing, same-origin and JSON only; see tests/unit/test_trace_api.py).
NOT_READ_ONLY = {("/api/route", "POST"), ("/api/trace", "POST"), ("/api/trace", "DELETE")}


def test_only_the_deliberate_routes_accept_more_than_reading(app) -> None:
    found = set()
    for rule in app.url_map.iter_rules():
        for method in set(rule.methods or ()) - {"GET", "HEAD", "OPTIONS"}:
            assert (rule.rule, method) in NOT_READ_ONLY, f"{rule.rule} accepts {method}"
            found.add((rule.rule, method))
    assert found == NOT_READ_ONLY


@pytest.mark.parametrize(
    ("origin", "host", "accepted"),
    [
        (None, "h:1", True),
        ("http://h:1", "h:1", True),
        ("https://h:1", "h:1", True),
        ("http://evil.example", "h:1", False),
        ("http://h:1.evil.example", "h:1", False),
        ("null", "h:1", False),
        ("http://proxy.corp", "h:1", True),
        ("HTTP://PROXY.CORP/", "h:1", True),
        ("http://h:1", "", False),
    ],
)
def test_origin_policy(origin: str | None, host: str, accepted: bool) -> None:
    check = origin_checker(["http://proxy.corp"])
    assert check(origin, {"HTTP_HOST": host}) is accepted


# ---- on a real server ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def live():
    server, _ = run_live(Settings(allowed_origins=("https://visualiser.example.com",)), sources=[])
    StaticSource(server.service.hub, snapshot_of(VhostSnapshot("/"))).start()
    yield server
    stop_live(server)


def connects(url: str, origin: str, transport: str) -> bool:
    if transport == "websocket":  # websocket-client sets Origin itself: give it ours
        ws_url = url.replace("http://", "ws://") + "/socket.io/?EIO=4&transport=websocket"
        try:
            ws = websocket.create_connection(ws_url, origin=origin, timeout=10)
        except websocket.WebSocketBadStatusException:
            return False
        ws.close()
        return True
    client = socketio.Client(reconnection=False)
    try:
        client.connect(url, headers={"Origin": origin}, transports=["polling"], wait_timeout=10)
    except socketio.exceptions.ConnectionError:
        return False
    client.disconnect()
    return True


@pytest.mark.parametrize("transport", ["websocket", "polling"])
def test_socketio_accepts_same_origin_and_the_configured_list_only(live, transport: str) -> None:
    assert connects(live.url, live.url, transport)
    assert connects(live.url, "https://visualiser.example.com", transport)
    assert not connects(live.url, "http://evil.example", transport)
    assert not connects(live.url, f"http://127.0.0.1:{live.port + 1}", transport)


def test_oversized_websocket_message_closes_the_connection(live) -> None:
    sio_url = f"ws://127.0.0.1:{live.port}/socket.io/?EIO=4&transport=websocket"
    ws = websocket.create_connection(sio_url, timeout=10)
    assert ws.recv().startswith("0")  # engine.io open
    ws.send("40")  # socket.io connect
    wait_for(lambda: ws.recv().startswith("40"), message="socket.io connect ack")
    ws.send('42["subscribe",{"vhost":"/"}]')
    assert "snapshot" in wait_for(lambda: next((m for m in [ws.recv()] if "snapshot" in m), None))
    ws.send('42["subscribe",{"vhost":"' + "x" * (MAX_CLIENT_MESSAGE_BYTES * 4) + '"}]')
    closed = threading.Event()

    def drain() -> None:
        try:
            while ws.recv():
                pass
        except (websocket.WebSocketException, OSError):
            pass
        closed.set()

    threading.Thread(target=drain, daemon=True).start()
    assert closed.wait(15), "the server kept a connection that sent an oversized message"


def test_oversized_polling_post_is_refused_and_the_session_lives_on(live) -> None:
    opened = requests.get(live.url + "/socket.io/?EIO=4&transport=polling", timeout=10)
    sid = re.search(r'"sid":"([^"]+)"', opened.text).group(1)
    url = f"{live.url}/socket.io/?EIO=4&transport=polling&sid={sid}"
    assert requests.post(url, data="40", timeout=10).ok
    assert "\x1e40" in "\x1e" + requests.get(url, timeout=10).text  # connected
    big = '42["subscribe",{"vhost":"' + "x" * (MAX_CLIENT_MESSAGE_BYTES * 4) + '"}]'
    assert requests.post(url, data=big, timeout=10).status_code == 413
    assert requests.post(url, data='42["subscribe",{"vhost":"/"}]', timeout=10).ok
    assert "snapshot" in requests.get(url, timeout=10).text


def test_the_vocabulary_block_cannot_close_its_script_element(monkeypatch) -> None:
    from visualiser.server import views

    monkeypatch.setattr(views, "vocabulary", lambda: {"x": "</script><script>alert(1)</script>&"})
    text = str(views.vocabulary_json())
    assert "<" not in text and ">" not in text and "&" not in text
    assert json.loads(text) == {"x": "</script><script>alert(1)</script>&"}
