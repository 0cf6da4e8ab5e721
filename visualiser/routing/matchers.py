"""Exchange-type matchers with RabbitMQ's exact semantics, and the words that explain them.

Each matcher answers one binding against one message and says why, in a sentence the
page shows next to the binding. The rules follow the broker's own code:
rabbit_exchange_type_topic (trie matching over '.'-separated words) and
rabbit_exchange_type_headers (x-match, x- keys, and the value comparison of the broker's
version: Erlang ``==`` up to 3.12, ``=:=`` from 3.13; see routing/semantics.py).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

X_MATCH_KINDS = ("all", "any", "all-with-x", "any-with-x")


@dataclass(frozen=True, slots=True)
class Verdict:
    matched: bool
    reason: str


# ---- direct -------------------------------------------------------------------------------


def match_direct(binding_key: str, routing_keys: Sequence[str]) -> Verdict:
    if binding_key in routing_keys:
        return Verdict(True, f"binding key {binding_key!r} equals the routing key")
    shown = routing_keys[0] if len(routing_keys) == 1 else list(routing_keys)
    return Verdict(False, f"binding key {binding_key!r} is not the routing key {shown!r} (direct: exact match)")


# ---- topic --------------------------------------------------------------------------------


def topic_words(key: str) -> tuple[str, ...]:
    """Split as the broker does: the empty key has no words; 'a.' is ('a', '')."""
    return () if key == "" else tuple(key.split("."))


@lru_cache(maxsize=8192)
def topic_matches(binding_key: str, routing_key: str) -> bool:
    """'*' is exactly one word, '#' zero or more; every other word must be equal."""
    return _words_match(topic_words(binding_key), topic_words(routing_key))


def _words_match(pattern: tuple[str, ...], words: tuple[str, ...]) -> bool:
    # Dynamic programming over (pattern position, word position): linear in the product,
    # where naive backtracking is exponential on keys like '#.#.#.#.x'.
    reachable = {0}
    for token in pattern:
        if token == "#":
            start = min(reachable) if reachable else None
            reachable = set(range(start, len(words) + 1)) if start is not None else set()
        else:
            reachable = {i + 1 for i in reachable if i < len(words) and (token == "*" or words[i] == token)}
        if not reachable:
            return False
    return len(words) in reachable


def match_topic(binding_key: str, routing_keys: Sequence[str]) -> Verdict:
    for key in routing_keys:
        if topic_matches(binding_key, key):
            return Verdict(True, f"binding key {binding_key!r} matches {key!r}")
    return Verdict(False, _topic_miss(binding_key, routing_keys[0]))


@lru_cache(maxsize=8192)
def _topic_miss(binding_key: str, routing_key: str) -> str:
    pattern, words = topic_words(binding_key), topic_words(routing_key)
    head = f"binding key {binding_key!r} does not match {routing_key!r}"
    if "#" in pattern:
        return head + " ('#' takes any number of words, the other words must line up)"
    if len(pattern) != len(words):
        return head + f" (it needs exactly {len(pattern)} word(s), the key has {len(words)})"
    for token, word in zip(pattern, words, strict=True):
        if token not in ("*", word):
            return head + f" (word {token!r} is not {word!r})"
    return head


# ---- headers ------------------------------------------------------------------------------


def x_match_kind(arguments: Mapping[str, Any]) -> str:
    """The broker validates x-match at bind time; an odd legacy value means 'all'."""
    value = arguments.get("x-match")
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    return value if value in X_MATCH_KINDS else "all"


def _as_bytes(text: str | bytes) -> bytes:
    return text if isinstance(text, bytes) else text.encode("utf-8", "surrogatepass")


def amqp_equal(pattern: Any, value: Any, exact: bool = False) -> bool:
    """Erlang's ``==`` (exact=False) or ``=:=`` (exact=True) on decoded AMQP field values.

    With ``==`` numbers compare across integer and float (1 == 1.0); with ``=:=`` an integer
    never equals a float. Either way booleans are atoms and equal only booleans, strings and
    byte strings are both binaries, and the AMQP type tags (long, signed int…) do not matter.
    """
    if isinstance(pattern, bool) or isinstance(value, bool):
        return isinstance(pattern, bool) and isinstance(value, bool) and pattern is value
    if isinstance(pattern, (int, float)) and isinstance(value, (int, float)):
        if exact and isinstance(pattern, float) != isinstance(value, float):
            return False
        if isinstance(pattern, float) or isinstance(value, float):
            try:
                return float(pattern) == float(value)
            except OverflowError:
                return False
        return pattern == value
    if isinstance(pattern, (str, bytes)) and isinstance(value, (str, bytes)):
        return _as_bytes(pattern) == _as_bytes(value)
    if isinstance(pattern, (list, tuple)) and isinstance(value, (list, tuple)):
        return len(pattern) == len(value) and all(amqp_equal(a, b, exact) for a, b in zip(pattern, value, strict=True))
    if isinstance(pattern, dict) and isinstance(value, dict):
        return pattern.keys() == value.keys() and all(amqp_equal(pattern[k], value[k], exact) for k in pattern)
    return pattern is None and value is None


def headers_keys_considered(arguments: Mapping[str, Any]) -> list[str]:
    """The binding's keys that take part: never x-match; other x- keys only with *-with-x."""
    with_x = x_match_kind(arguments).endswith("-with-x")
    return [k for k in arguments if k != "x-match" and (with_x or not k.startswith("x-"))]


def _key_result(key: str, expected: Any, headers: Mapping[str, Any], exact: bool) -> tuple[bool, str]:
    if key not in headers:
        return False, f"{key} is missing"
    if expected is None:  # a void value in the binding asks only for presence
        return True, f"{key} is present"
    if amqp_equal(expected, headers[key], exact):
        return True, f"{key}={_show(expected)} matched"
    if exact and amqp_equal(expected, headers[key], exact=False):
        return False, (
            f"{key} is {_show(headers[key])}, not {_show(expected)}: "
            "an integer and a float never match from RabbitMQ 3.13 on"
        )
    return False, f"{key} is {_show(headers[key])}, not {_show(expected)}"


def _show(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (str, bytes)):
        return repr(value)
    return str(value)


def headers_match(arguments: Mapping[str, Any], headers: Mapping[str, Any], exact: bool = True) -> bool:
    """The verdict alone, without the words: for the fast path."""
    kind = x_match_kind(arguments)
    results = (
        key in headers and (arguments[key] is None or amqp_equal(arguments[key], headers[key], exact))
        for key in headers_keys_considered(arguments)
    )
    return all(results) if kind.startswith("all") else any(results)


def match_headers(arguments: Mapping[str, Any], headers: Mapping[str, Any], exact: bool = True) -> Verdict:
    kind = x_match_kind(arguments)
    keys = headers_keys_considered(arguments)
    results = [_key_result(key, arguments[key], headers, exact) for key in keys]
    if kind.startswith("all"):
        matched = all(ok for ok, _ in results)
        shown = [text for ok, text in results if not ok] or [text for _, text in results]
    else:
        matched = any(ok for ok, _ in results)
        shown = [text for ok, text in results if ok] or [text for _, text in results]
    if not keys:
        detail = "no keys to compare, so it " + ("matches every message" if matched else "matches nothing")
    else:
        detail = "; ".join(shown)
    return Verdict(matched, f"x-match={kind}: {detail}")
