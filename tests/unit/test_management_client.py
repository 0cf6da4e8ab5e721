"""ManagementClient against a real local HTTP server answering with recorded broker responses."""

from __future__ import annotations

import base64
import json

import pytest

from tests.conftest import free_port
from tests.fixtures.management_server import FakeManagement, ManagementServer, Misbehaviour
from tests.fixtures.recorded import LONG_NAME, VHOST, XSS, broker_snapshot, management_calls
from visualiser.sources.management_api import (
    BadResponse,
    ManagementClient,
    SourceError,
    Unauthorised,
    Unreachable,
    redact_url,
    split_credentials,
)

PASSWORD = "s3cret-Pa55"


def fetch(state: FakeManagement, timeout: float = 5.0, page_size: int = 500):
    with ManagementServer(state) as server:
        client = ManagementClient(server.url("watcher", PASSWORD), timeout=timeout, page_size=page_size)
        try:
            return client.fetch_broker()
        finally:
            client.close()


def failure(state: FakeManagement, timeout: float = 5.0) -> SourceError:
    with pytest.raises(SourceError) as caught:
        fetch(state, timeout)
    assert PASSWORD not in str(caught.value)
    assert "watcher:" not in str(caught.value)
    return caught.value


def test_fetch_broker_reads_the_recorded_broker_exactly():
    snapshot = fetch(FakeManagement())
    assert snapshot == broker_snapshot()
    vhost = snapshot.vhosts[VHOST]
    assert {q.name for q in vhost.queues} >= {LONG_NAME, XSS, "shared", "100% / done"}
    assert snapshot.broker["rabbitmq_version"] == "3.10.8"


def test_client_asks_every_listing_for_its_columns_only_with_the_credentials():
    state = FakeManagement()
    fetch(state)
    expected_auth = "Basic " + base64.b64encode(f"watcher:{PASSWORD}".encode()).decode()
    asked = {s.path: s.query for s in state.seen}
    assert set(asked) == {call["path"] for call in management_calls().values()}
    assert all(query.get("columns") for query in asked.values())  # never the full, expensive rows
    assert {s.authorization for s in state.seen} == {expected_auth}


def test_listings_are_paged_until_the_last_page():
    state = FakeManagement()
    snapshot = fetch(state, page_size=4)
    assert snapshot == broker_snapshot()
    pages = sorted(int(s.query["page"]) for s in state.seen if s.path == "/api/queues")
    assert pages == list(range(1, -(-len(state.results["queues"]) // 4) + 1))


def test_a_listing_that_shrinks_between_pages_is_not_an_error():
    state = FakeManagement()
    first_page_only = dict(state.results)
    with ManagementServer(state) as server:
        client = ManagementClient(server.url(), page_size=4)
        state.results = first_page_only
        real_page = client._page

        def shrinking(path, page, params):
            items, count = real_page(path, page, params)
            if page == 1 and path == "/api/queues":
                state.results = {**first_page_only, "queues": first_page_only["queues"][:4]}
            return items, count

        client._page = shrinking
        snapshot = client.fetch_broker()
        client.close()
    assert len(snapshot.vhosts[VHOST].queues) == 4


@pytest.mark.parametrize(
    ("reason", "fix"), [("Not management user", "'monitoring' tag"), ("Login failed", "check the credentials")]
)
def test_refused_credentials_say_which_fix_the_broker_asks_for(reason, fix):
    body = json.dumps({"error": "not_authorised", "reason": reason}).encode()
    error = failure(FakeManagement(overrides={"queues": Misbehaviour(status=401, body=body)}))
    assert isinstance(error, Unauthorised) and error.state == "unauthorised"
    assert "401" in str(error) and fix in str(error)
    other = "check the credentials" if "monitoring" in fix else "'monitoring' tag"
    assert other not in str(error)


@pytest.mark.parametrize("status", [400, 404, 405])
def test_a_refused_listing_leaves_out_only_what_depends_on_it(status):
    body = json.dumps({"error": "bad_request", "reason": "not <b>here</b>"}).encode()
    snapshot = fetch(FakeManagement(overrides={"bindings": Misbehaviour(status=status, body=body)}))
    vhost = snapshot.vhosts[VHOST]
    full = broker_snapshot().vhosts[VHOST]
    assert vhost.bindings == () and vhost.queues == full.queues and vhost.exchanges == full.exchanges
    missing = {note["what"]: note["why"] for note in snapshot.broker["missing"]}
    assert missing == {"bindings": f"management API answered {status} for /api/bindings: not <b>here</b>"}


def test_500_mentions_the_non_utf8_name_cause():
    error = failure(FakeManagement(overrides={"queues": Misbehaviour(status=500)}))
    assert isinstance(error, BadResponse)
    assert "500" in str(error) and "non-UTF-8" in str(error)


def test_non_json_body_is_a_clear_error():
    body = b"<html><body>502 Bad Gateway</body></html>"
    error = failure(FakeManagement(overrides={"exchanges": Misbehaviour(body=body, content_type="text/html")}))
    assert isinstance(error, BadResponse)
    assert "non-JSON" in str(error) and "text/html" in str(error)


def test_paginated_object_where_a_list_was_expected():
    paged = json.dumps({"items": [], "page": 1, "page_count": 1}).encode()
    error = failure(FakeManagement(overrides={"bindings": Misbehaviour(body=paged)}))
    assert isinstance(error, BadResponse)
    assert "/api/bindings" in str(error) and "expected a JSON list" in str(error)


def test_list_where_a_paginated_object_was_expected():
    error = failure(FakeManagement(overrides={"queues": Misbehaviour(body=b"[]")}))
    assert isinstance(error, BadResponse)
    assert "paginated" in str(error)


def test_timeout_is_unreachable_and_says_how_long():
    error = failure(FakeManagement(overrides={"overview": Misbehaviour(delay=1.5)}), timeout=0.3)
    assert isinstance(error, Unreachable)
    assert "did not answer /api/overview within 0.3s" in str(error)


def test_nothing_listening_is_unreachable_without_the_url_credentials():
    client = ManagementClient(f"http://watcher:{PASSWORD}@127.0.0.1:{free_port()}", timeout=2)
    with pytest.raises(Unreachable) as caught:
        client.fetch_broker()
    assert PASSWORD not in str(caught.value) and "unreachable" in str(caught.value)
    assert PASSWORD not in repr(client)


def test_redact_and_split_credentials():
    url = f"http://watcher:{PASSWORD}@broker.example:15672/prefix/"
    assert redact_url(url) == "http://watcher:***@broker.example:15672/prefix/"
    assert split_credentials(url) == ("http://broker.example:15672/prefix", "watcher", PASSWORD)
    assert split_credentials("http://broker.example:15672") == ("http://broker.example:15672", "guest", "guest")
    with pytest.raises(ValueError) as caught:
        split_credentials(f"ftp://watcher:{PASSWORD}@broker.example")
    assert PASSWORD not in str(caught.value)


def test_a_listed_vhost_without_exchanges_is_reported_not_drawn_empty():
    state = FakeManagement()
    state.results["vhosts"] = [*state.results["vhosts"], {"name": "no-permissions-here"}]
    snapshot = fetch(state)
    assert list(snapshot.vhosts) == [VHOST]
    assert snapshot.broker["vhosts_without_access"] == ["no-permissions-here"]
    assert "vhosts_without_access" not in broker_snapshot().broker
