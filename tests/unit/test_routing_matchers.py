"""Table-driven cases for the exchange-type matchers: the hard corners of RabbitMQ's rules."""

from __future__ import annotations

import pytest

from visualiser.routing.matchers import amqp_equal, headers_match, match_headers, topic_matches, topic_words
from visualiser.routing.semantics import semantics_for

# (binding key, routing key, matches?)
TOPIC_CASES = [
    ("#", "", True),
    ("#", "a.b.c", True),
    ("*", "", False),  # the empty key has no words
    ("*", "a", True),
    ("*", "a.b", False),
    ("", "", True),
    ("", "a", False),
    ("*", ".", False),  # '.' is two empty words
    ("*.*", ".", True),
    ("a.", "a.", True),
    ("a.*", "a.", True),  # an empty word is still a word
    ("a.#", "a", True),  # '#' takes zero words
    ("a.#.b", "a.b", True),
    ("a.#.b", "a.x.y.b", True),
    ("a.#.b", "a.b.c", False),
    ("#.#", "", True),
    ("#.#", "a.b", True),
    ("*.#", "", False),
    ("*.#", "a", True),
    ("#.*", "a.b.c", True),
    ("#.a.#", "b.a", True),
    ("#.a.#", "b.c", False),
    ("a..b", "a..b", True),
    ("a.*.b", "a..b", True),
    ("order.*", "order.created", True),
    ("order.*", "order.created.eu", False),
    ("#.#.#.#.#.#.#.#.#.#.x", "a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.y", False),  # no blow-up
]


@pytest.mark.parametrize(("binding", "key", "expected"), TOPIC_CASES)
def test_topic(binding: str, key: str, expected: bool) -> None:
    assert topic_matches(binding, key) is expected


def test_topic_words_split_like_the_broker() -> None:
    assert topic_words("") == ()
    assert topic_words(".") == ("", "")
    assert topic_words("a.") == ("a", "")


# (pattern value, message value, equal?) — Erlang's == on decoded field values.
EQUALITY_CASES = [
    (1, 1, True),
    (1, 1.0, True),
    (2.5, 2.5, True),
    (1, "1", False),
    (True, 1, False),
    (1, True, False),
    (True, True, True),
    (False, 0, False),
    (False, False, True),
    ("a", b"a", True),
    ("é", "é".encode(), True),
    (0, 0.0, True),
    (None, None, True),
    ([1, "a"], [1.0, "a"], True),
]


@pytest.mark.parametrize(("pattern", "value", "expected"), EQUALITY_CASES)
def test_amqp_equal(pattern: object, value: object, expected: bool) -> None:
    assert amqp_equal(pattern, value) is expected


# (binding arguments, message headers, matches?)
HEADERS_CASES = [
    ({}, {}, True),  # no keys, default all: everything
    ({"x-match": "all"}, {"a": 1}, True),
    ({"x-match": "any"}, {"a": 1}, False),  # any over no keys: nothing
    ({"x-match": "any", "x-h": 1}, {"x-h": 1}, False),  # x- keys ignored...
    ({"x-match": "any-with-x", "x-h": 1}, {"x-h": 1}, True),  # ...unless *-with-x
    ({"x-match": "all", "x-h": 1, "a": 1}, {"a": 1}, True),
    ({"x-match": "all-with-x", "x-h": 1, "a": 1}, {"a": 1}, False),
    ({"x-match": "all-with-x", "x-h": 1, "a": 1}, {"a": 1, "x-h": 1}, True),
    ({"x-match": "all-with-x"}, {}, True),  # x-match itself never takes part
    ({"a": 1, "b": "x"}, {"a": 1, "b": "x", "c": 3}, True),  # missing x-match: all
    ({"a": 1, "b": "x"}, {"a": 1}, False),
    ({"x-match": "any", "a": 1, "b": "x"}, {"b": "x"}, True),
    ({"x-match": "any", "a": True}, {"a": 1}, False),
    ({"x-match": "all", "a": 1}, {"a": True}, False),
    ({"x-match": "all", "a": "1"}, {"a": 1}, False),
    ({"x-match": "all", "a": None}, {"a": "anything"}, True),  # void: presence only
    ({"x-match": "all", "a": None}, {}, False),
    ({"x-match": "bogus", "a": 1}, {}, False),  # legacy odd value: all
    ({"X-h": 1}, {"X-h": 1}, True),  # the x- prefix is case-sensitive
]


@pytest.mark.parametrize(("arguments", "headers", "expected"), HEADERS_CASES)
def test_headers(arguments: dict, headers: dict, expected: bool) -> None:
    assert match_headers(arguments, headers).matched is expected


# Where RabbitMQ's versions disagree: up to 3.12 the headers exchange compares values with
# Erlang's '==', from 3.13 on with '=:=' (rabbit_exchange_type_headers, message containers).
# (binding arguments, message headers, matches on 3.10, matches on 3.13 / 4.x)
VERSION_CASES = [
    ({"a": 1}, {"a": 1.0}, True, False),
    ({"a": 1.0}, {"a": 1}, True, False),
    ({"a": 0}, {"a": -0.0}, True, False),
    ({"a": 2.5}, {"a": 2.5}, True, True),
    ({"a": 7}, {"a": 7}, True, True),
    ({"x-match": "any", "a": 1, "b": "x"}, {"a": 1.0, "b": "y"}, True, False),
    ({"x-match": "any", "a": 1, "b": "x"}, {"a": 1.0, "b": "x"}, True, True),
    ({"x-match": "all", "a": True}, {"a": 1}, False, False),  # booleans are atoms in both
    ({"x-match": "all", "a": "1"}, {"a": 1}, False, False),
    ({"x-match": "all", "a": None}, {"a": 1.0}, True, True),  # presence only, in both
    ({"x-match": "all", "a": [1]}, {"a": [1.0]}, True, False),
]


@pytest.mark.parametrize(("arguments", "headers", "on_310", "on_4x"), VERSION_CASES)
@pytest.mark.parametrize(
    ("version", "column"),
    [("3.10.8", 0), ("3.12.14", 0), ("3.13.0", 1), ("4.0.5", 1), ("4.3.0", 1), (None, 1), ("demo", 1)],
)
def test_headers_follow_the_broker_version(arguments, headers, on_310, on_4x, version, column) -> None:
    exact = semantics_for(version).exact_header_values
    expected = (on_310, on_4x)[column]
    assert match_headers(arguments, headers, exact).matched is expected
    assert headers_match(arguments, headers, exact) is expected


def test_a_version_miss_says_why() -> None:
    verdict = match_headers({"priority": 1}, {"priority": 1.0}, exact=True)
    assert not verdict.matched and "an integer and a float never match from RabbitMQ 3.13 on" in verdict.reason


def test_headers_explains_the_miss() -> None:
    verdict = match_headers({"x-match": "all", "region": "eu", "format": "pdf"}, {"region": "us", "format": "pdf"})
    assert not verdict.matched
    assert "region is 'us', not 'eu'" in verdict.reason
    assert "format" not in verdict.reason  # only what failed
