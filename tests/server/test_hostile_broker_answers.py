"""What a hostile broker (or something posing as one) puts in its answers, through the real
app: names with bytes that are not UTF-8 show as themselves and are said to be so, and no
broker-supplied string reaches a status, a log line or a page banner whole.

The broker is the recorded management server (a real HTTP server answering with recorded
responses), told to misbehave; the app is the real one, on a free port.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator

import pytest

from tests.conftest import LiveServer, run_live, stop_live, wait_for
from tests.fixtures.management_server import FakeManagement, ManagementServer, Misbehaviour, page_of
from tests.fixtures.recorded import VHOST, raw_results
from visualiser.config import Settings
from visualiser.sources.management_api import ManagementClient, SourceError
from visualiser.sources.quoting import broker_text

PLACEHOLDER = "@@name@@"
INVALID_NAME = b"caf\xe9 \xff"  # Latin-1, not UTF-8: what a buggy client may have declared
SHOWN_AS = "caf\\xe9 \\xff"
# A Content-Type of 6 KB with a terminal escape, a vertical tab and a right-to-left override
# (its UTF-8 bytes: a header travels as Latin-1).
HOSTILE_TYPE = "text/html; charset=" + "x" * 6000 + "\x1b[2J\x0bforged" + "\u202e".encode().decode("latin-1")


def queues_with_name(raw_name: bytes) -> bytes:
    """The recorded queue listing plus one queue whose name holds the given raw bytes."""
    queues = raw_results()["queues"]
    extra = {**queues[0], "name": PLACEHOLDER}
    body = json.dumps(page_of([*queues, extra], 1, 500)).encode()
    return body.replace(PLACEHOLDER.encode(), raw_name)


@pytest.fixture
def broker() -> Iterator[tuple[FakeManagement, ManagementServer]]:
    state = FakeManagement()
    with ManagementServer(state) as server:
        yield state, server


@pytest.fixture
def app(broker) -> Iterator[LiveServer]:
    _, server = broker
    # The recording names the cluster of the broker it was taken from, which may be running on
    # this host: its real events and metrics would be taken for this fake's. Only polling here.
    live, _ = run_live(
        Settings(
            management_url=server.url(),
            poll_interval=0.3,
            request_timeout=2.0,
            prometheus_url=("off",),
            events_url="off",
        )
    )
    yield live
    stop_live(live)


def status_of(app: LiveServer) -> dict:
    return app.get("/healthz").json()["sources"]["management-api"]


def topology(app: LiveServer) -> dict:
    return app.get("/api/topology", params={"vhost": VHOST}).json()


def test_invalid_utf8_names_show_as_themselves_and_the_page_and_healthz_say_so(broker, app) -> None:
    state, _ = broker
    state.overrides["queues"] = Misbehaviour(body=queues_with_name(INVALID_NAME))
    node = f"queue:{SHOWN_AS}"
    shown = wait_for(
        lambda: (t := topology(app)) and node in {n["id"] for n in t.get("nodes", [])} and t,
        timeout=20,
        message="the queue with invalid UTF-8 in the graph",
    )
    assert next(n for n in shown["nodes"] if n["id"] == node)["name"] == SHOWN_AS  # escaped, never replaced
    notes = [note["why"] for note in shown["broker"]["missing"]]
    assert any("not valid UTF-8" in why and "\\xNN" in why for why in notes), notes
    status = wait_for(
        lambda: (s := status_of(app)) and s["extra"].get("invalid_utf8_answers") and s,
        timeout=20,
        message="the status to count invalid UTF-8",
    )
    assert status["state"] == "ok" and "invalid UTF-8" in status["detail"]

    # A clean answer again: the note and the count go, the name with them.
    state.overrides.clear()
    wait_for(
        lambda: node not in {n["id"] for n in topology(app).get("nodes", [])}, timeout=20, message="the clean listing"
    )
    wait_for(lambda: "invalid_utf8_answers" not in status_of(app)["extra"], timeout=20, message="the count to go")
    assert not any("UTF-8" in note["why"] for note in topology(app)["broker"]["missing"])


def test_a_hostile_content_type_reaches_last_error_cut_and_escaped(broker, app, caplog) -> None:
    state, _ = broker
    caplog.set_level(logging.WARNING)
    state.overrides["exchanges"] = Misbehaviour(body=b"<html>portal</html>", content_type=HOSTILE_TYPE)
    status = wait_for(
        lambda: (s := status_of(app)) and s["state"] == "error" and s,
        timeout=20,
        message="the non-JSON answer to be reported",
    )
    error = status["last_error"]
    assert "non-JSON" in error and "text/html; charset=xxx" in error
    assert len(error) < 300, len(error)
    assert "more characters" in error  # says it was cut, and by how much
    logged = "\n".join(r.getMessage() for r in caplog.records if "non-JSON" in r.getMessage())
    for text in (error, logged):
        assert not any(ch in text for ch in "\x1b\x0b\x80\n"), text


def client_error(state: FakeManagement) -> str:
    with ManagementServer(state) as server:
        client = ManagementClient(server.url(), timeout=2.0)
        try:
            with pytest.raises(SourceError) as caught:
                client.fetch_broker()
        finally:
            client.close()
    return str(caught.value)


@pytest.mark.parametrize(("listing", "misbehaviour", "expected"), [
    # The broker's own error reason: 401 and 403 (credentials), 400/404 (a refused listing).
    ("overview", Misbehaviour(status=401, body=json.dumps(
        {"error": "not_authorised", "reason": "Login failed\n" + "y" * 5000 + "\u202e"}).encode()), "Login failed"),
    ("bindings", Misbehaviour(status=400, body=json.dumps(
        {"error": "bad_request", "reason": "\x1b[31m" + "z" * 5000}).encode()), None),
    # A page count no broker could have, 4,000 digits long.
    ("queues", Misbehaviour(body=b'{"items": [], "page": 1, "page_count": 9' + b"9" * 3999 + b"}"), "pages"),
])  # fmt: skip
def test_every_broker_string_in_an_error_is_cut_and_escaped(listing, misbehaviour, expected) -> None:
    state = FakeManagement(overrides={listing: misbehaviour})
    if expected is None:  # a refused listing is no failure: its note carries the reason
        with ManagementServer(state) as server:
            client = ManagementClient(server.url(), timeout=2.0)
            try:
                snapshot = client.fetch_broker()
            finally:
                client.close()
        text = " ".join(note["why"] for note in snapshot.broker["missing"])
    else:
        text = client_error(state)
        assert expected in text
    assert len(text) < 400, len(text)
    assert not any(ch in text for ch in "\x1b\n\u202e"), text


def test_broker_text_cuts_escapes_and_says_how_much_was_left_out() -> None:
    assert broker_text("plain") == "plain"
    assert broker_text("a\nb\u202ec\x1b") == "a\\nb\\u202ec\\x1b"
    assert broker_text("x" * 10, 4) == "xxxx… (6 more characters)"
    assert broker_text(10**5000) == "(a number too long to show)"
