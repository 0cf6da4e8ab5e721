"""Name groups for big vhosts (visualiser/model/groups.py): keys from names alone, bounded
group sizes, a user's pattern, and the graph decorator that marks nodes with their group."""

from __future__ import annotations

import time
from collections import Counter

import pytest

from visualiser.config import ConfigError, Settings, load_settings
from visualiser.model.entities import Binding, Consumer, Queue, VhostSnapshot
from visualiser.model.groups import (
    MAX_GROUP,
    MIN_GROUP,
    GroupPatternError,
    NameGroups,
    check_pattern,
    group_keys,
    grouped,
    pattern_key,
)
from visualiser.model.topology import build_graph


def sizes(keys: dict[str, str]) -> Counter[str]:
    return Counter(keys.values())


def test_services_group_by_their_prefix():
    names = [f"service-{s:04d}.{p}" for s in range(120) for p in ("orders", "audit", "email", "retry")]
    keys = group_keys(names)
    assert keys["service-0042.audit"] == "service-0042."
    assert set(sizes(keys).values()) == {4}
    assert len(sizes(keys)) == 120


def test_too_many_groups_merge_with_their_neighbours_within_the_limit():
    """2,000 services are too many groups to read: neighbouring services merge (svc-0042.*
    and svc-0043.* into svc-004*), and no merged group passes MAX_GROUP."""
    purposes = ("orders", "audit", "email", "retry", "billing", "events", "search", "sms", "push", "cache")
    names = [f"svc-{s:04d}.{p}" for s in range(2000) for p in purposes]
    keys = group_keys(names)
    assert len(sizes(keys)) == 200 and set(sizes(keys).values()) == {100}
    assert keys["svc-0042.audit"] == keys["svc-0049.sms"] == "svc-004"
    assert keys["svc-0050.audit"] == "svc-005"
    assert len(sizes(group_keys(names[: 150 * 10]))) == 150  # at the limit: one group a service
    assert all(name.startswith(key) for name, key in keys.items())


def test_a_users_pattern_is_never_merged():
    names = [f"svc-{s:04d}.{p}" for s in range(400) for p in ("orders", "audit", "email")]
    keys = group_keys(names, pattern="svc-*.")
    assert len(sizes(keys)) == 400 and keys["svc-0042.audit"] == "svc-0042."


@pytest.mark.parametrize(
    "names",
    [
        [f"q{i:06d}" for i in range(20000)],  # no separator at all
        [f"svc.q{i}" for i in range(20000)],  # one prefix, then numbers
        ["a" * 200 + str(i) for i in range(20000)],  # a long shared prefix
    ],
)
def test_no_group_is_larger_than_the_limit_and_none_is_a_single_name(names):
    keys = group_keys(names)
    assert max(sizes(keys).values()) <= MAX_GROUP
    assert min(sizes(keys).values()) >= MIN_GROUP
    assert all(name.startswith(key) for name, key in keys.items())


def test_keys_depend_on_the_names_only():
    names = [f"svc-{s}.{p}" for s in range(50) for p in "abcdefg"]
    assert group_keys(names) == group_keys(list(reversed(names)))


def test_a_hostile_name_does_not_make_grouping_slow():
    names = ["." * 255, "-" * 255, "a." * 127, *(f"x{'.' * (i % 200)}{i}" for i in range(20000))]
    started = time.process_time()
    group_keys(names)
    assert time.process_time() - started < 20  # generous: measured ~0.1 s; the point is no blow-up


def test_small_vhosts_are_not_grouped():
    assert grouped([f"svc-1.{i}" for i in range(50)], above=300) == {}
    assert grouped([f"svc-1.{i}" for i in range(50)], above=10) != {}


@pytest.mark.parametrize(
    ("pattern", "name", "key"),
    [
        ("service-*.", "service-0042.orders", "service-0042."),
        ("service-*", "service-0042.orders", "service-0042"),
        ("svc-*.", "service-1.x", None),
        ("*.orders", "eu.orders.high", "eu.orders"),
        ("a*b*c", "axxbyyc-rest", "axxbyyc"),
        ("a*", "a", None),  # a * takes at least one character
    ],
)
def test_a_pattern_covers_the_start_of_a_name(pattern, name, key):
    assert pattern_key(pattern, name) == key


def test_a_users_pattern_comes_first_and_the_rest_group_by_prefix():
    names = [f"team-{t}.svc-{s}.q" for t in "ab" for s in range(5)] + [f"other.{i}" for i in range(5)]
    keys = group_keys(names, pattern="team-*.")
    assert keys["team-a.svc-3.q"] == "team-a."
    assert keys["other.3"] == "other."


@pytest.mark.parametrize("pattern", ["", "*", "**", "a**b", "x" * 300])
def test_unusable_patterns_are_refused_with_what_to_write(pattern):
    with pytest.raises(GroupPatternError):
        check_pattern(pattern)


def test_the_option_is_checked_at_start_up():
    with pytest.raises(ConfigError, match="group pattern"):
        load_settings(["--group-by", "*"], environ={})
    assert load_settings(["--group-by", "svc-*."], environ={}).group_by == "svc-*."
    assert Settings().group_above == 300


def test_the_decorator_marks_grouped_queues_their_consumers_and_exchanges():
    queues = tuple(Queue(f"svc-{s}.{p}") for s in range(3) for p in ("a", "b", "c", "d"))
    consumer = Consumer("svc-1.a", "ctag", "ch", "conn")
    vhost = VhostSnapshot("/", (), queues, (Binding("amq.direct", "svc-1.a", "queue", "k"),), consumers=(consumer,))
    graph = build_graph(vhost)
    NameGroups(above=5).decorate("/", vhost, graph)
    node = graph.nodes["queue:svc-1.b"]
    assert (node["group"], node["group_name"]) == ("group:queue:svc-1.", "svc-1.")
    consumers = [n for n in graph.nodes.values() if n["kind"] == "consumer"]
    assert [n["group"] for n in consumers] == ["group:queue:svc-1."]
    assert "group" not in graph.nodes["exchange:amq.direct"]  # built-in exchanges stand alone

    small = build_graph(vhost)
    NameGroups(above=300).decorate("/", vhost, small)
    assert not any("group" in n for n in small.nodes.values())
