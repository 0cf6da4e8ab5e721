"""URLs that carry credentials: strict reading, failover lists, redaction that fails closed."""

from __future__ import annotations

from types import SimpleNamespace
from urllib.parse import quote

import pytest

from visualiser.celery.monitor import vhost_of
from visualiser.hub import Hub
from visualiser.routing.celery_routes import broker_vhost
from visualiser.sources.celery_events import CeleryEventsSource
from visualiser.sources.management_api import split_credentials
from visualiser.urls import UNPARSEABLE, UrlError, check_url_list, passwords_in, redact_url, split_urls

FIRST, SECOND = "first-Pa55", "second-Pa55"
RESERVED = "p@ss:w/rd#?%"


@pytest.mark.parametrize("separator", [";", ",", " ; ", ", "])
def test_every_url_of_a_failover_list_is_redacted(separator: str) -> None:
    url = f"amqp://app:{FIRST}@h1:5672/v{separator}amqp://app:{SECOND}@h2:5672/v"
    shown = redact_url(url)
    assert FIRST not in shown and SECOND not in shown
    assert shown == f"amqp://app:***@h1:5672/v{separator}amqp://app:***@h2:5672/v"
    assert split_urls(url) == [f"amqp://app:{FIRST}@h1:5672/v", f"amqp://app:{SECOND}@h2:5672/v"]
    assert passwords_in(url) == {FIRST, SECOND}


def test_a_comma_inside_a_password_does_not_split_the_url() -> None:
    url = "amqp://app:a,b@h1:5672/v"
    assert split_urls(url) == [url] and redact_url(url) == "amqp://app:***@h1:5672/v"


def test_a_shared_scheme_list_keeps_its_bare_hosts() -> None:
    assert redact_url(f"amqp://app:{FIRST}@h1;h2:5673") == "amqp://app:***@h1;h2:5673"
    assert check_url_list(f"amqp://app:{FIRST}@h1;h2:5673") == [f"amqp://app:{FIRST}@h1", "h2:5673"]


@pytest.mark.parametrize(
    "url",
    [
        f"http://watcher:{RESERVED}@broker.example:15672",  # '/' cuts the authority: 'w' read as a port
        "http://watcher:12/se#cret@broker.example:15672",  # a valid port, then the rest of the password
        "http://watcher:sec?ret@broker.example:15672",
        "amqp://app:pa;ss@h1/v",  # ';' splits the list inside the password
        f"amqp://app:{FIRST}@h1/v;other:{SECOND}@h2",  # user info without a scheme
    ],
)
def test_what_cannot_be_read_strictly_is_never_shown(url: str) -> None:
    assert redact_url(url) == UNPARSEABLE
    with pytest.raises(UrlError) as caught:
        check_url_list(url)
    message = str(caught.value)
    assert "percent-encode" in message and "%23" in message
    for fragment in (
        "12/",
        "se#",
        "cret",
        "sec?",
        "pa;",
        ";ss",
        FIRST,
        SECOND,
        "w/rd",
        "p@ss",
        "watcher",
        "broker.example",
        "other:",
        "h1",
        "h2",
    ):
        assert fragment not in message, fragment


def test_split_credentials_decodes_percent_encoding() -> None:
    url = f"http://{quote('ops:team', safe='')}:{quote(RESERVED, safe='')}@broker.example:15672/"
    assert split_credentials(url) == ("http://broker.example:15672", "ops:team", RESERVED)
    assert redact_url(url) == "http://ops%3Ateam:***@broker.example:15672/"
    assert passwords_in(url) == {quote(RESERVED, safe=""), RESERVED}


def test_split_credentials_refuses_an_unencoded_reserved_character_without_echoing_it() -> None:
    with pytest.raises(UrlError) as caught:
        split_credentials(f"http://watcher:{RESERVED}@broker.example:15672")
    for fragment in ("p@ss", "ss:w", "w/rd", "rd#", "watcher", "broker.example"):
        assert fragment not in str(caught.value), fragment


def test_the_vhost_of_a_failover_url_is_the_first_urls_not_the_rest_of_the_text() -> None:
    url = f"amqp://app:{FIRST}@h1:5672/orders;amqp://app:{SECOND}@h2:5672/orders"
    assert vhost_of(url) == "orders"
    assert vhost_of(url.replace(";", ",")) == "orders"
    app = SimpleNamespace(conf=SimpleNamespace(broker_url=url))
    assert broker_vhost(app) == "orders"  # type: ignore[arg-type]


def test_events_source_status_and_errors_hide_every_password() -> None:
    url = f"amqp://app:{FIRST}@127.0.0.1:1/v;amqp://app:{quote(RESERVED, safe='')}@127.0.0.1:2/v"
    source = CeleryEventsSource(url, Hub(), sink=lambda batch: None)
    status = source._status.to_json()
    assert FIRST not in str(status) and quote(RESERVED, safe="") not in str(status)
    assert status["detail"] == "amqp://app:***@127.0.0.1:1/v;amqp://app:***@127.0.0.1:2/v"
    scrubbed = source._scrub(f"refused {FIRST} and {quote(RESERVED, safe='')} and {RESERVED}")
    assert scrubbed == "refused *** and *** and ***"


def test_events_source_refuses_a_url_it_cannot_read_without_echoing_it() -> None:
    with pytest.raises(UrlError) as caught:
        CeleryEventsSource(f"amqp://app:{FIRST}@h1/v;amqp://app:{RESERVED}@h2/v", Hub(), sink=lambda batch: None)
    assert "URL 2 of 2" in str(caught.value) and RESERVED not in str(caught.value) and FIRST not in str(caught.value)
