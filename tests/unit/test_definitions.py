"""Definitions exports (recorded from the real broker, both forms) and bad files."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fixtures.recorded import VHOST, definitions, definitions_path, vhost_snapshot
from visualiser.model.topology import build_graph
from visualiser.sources.definitions import DefinitionsError, load_definitions, parse_definitions

ROOT = Path(__file__).resolve().parents[2]
STRUCTURE = ("binding", "dead-letter", "alternate")


def structure(graph):
    """What a definitions export and a live listing must agree on: no depths, no consumers."""
    nodes = {n["id"]: (n["kind"], n.get("type")) for n in graph.nodes.values() if n["kind"] in ("exchange", "queue")}
    edges = {
        e["id"]: (e["source"], e["target"], e["routing_key"]) for e in graph.edges.values() if e["kind"] in STRUCTURE
    }
    return nodes, edges


@pytest.mark.parametrize("form", ["broker", "vhost"])
def test_both_forms_give_the_live_graph_structure(form):
    snapshot = load_definitions(str(definitions_path(form)))
    assert list(snapshot.vhosts) == [VHOST]
    assert snapshot.broker["rabbitmq_version"] == "3.10.8"
    assert snapshot.vhosts[VHOST].broker_version == "3.10.8"  # the simulator follows that version's rules
    # No depths in a definitions file: unknown, said so, never zero.
    assert snapshot.broker["figures"]["depths"] == "none" and snapshot.broker["missing"]
    assert all(q.messages_ready is None and q.consumers is None for q in snapshot.vhosts[VHOST].queues)
    assert structure(build_graph(snapshot.vhosts[VHOST])) == structure(build_graph(vhost_snapshot()))


@pytest.mark.parametrize("form", ["broker", "vhost"])
def test_queue_policies_are_resolved_like_the_broker(form):
    vhost = load_definitions(str(definitions_path(form))).vhosts[VHOST]
    live = vhost_snapshot()
    for queue in vhost.queues:
        expected = live.queue(queue.name)
        assert (queue.policy, queue.effective_policy_definition) == (
            expected.policy,
            expected.effective_policy_definition,
        ), queue.name


def test_builtin_exchanges_are_added_back():
    data = definitions("vhost")
    assert not any(e["name"].startswith("amq.") for e in data["exchanges"])
    vhost = parse_definitions(data).vhosts[VHOST]
    assert {"", "amq.direct", "amq.topic", "amq.fanout", "amq.headers", "amq.match"} <= {
        e.name for e in vhost.exchanges
    }


def test_single_vhost_export_without_any_vhost_hint_uses_the_given_name():
    data = {"queues": [{"name": "q", "durable": True, "arguments": {}}], "exchanges": [], "bindings": []}
    assert list(parse_definitions(data, single_vhost_name="/").vhosts) == ["/"]


def test_whole_broker_export_lists_empty_vhosts_too():
    data = {"vhosts": [{"name": "a"}, {"name": "b"}], "queues": [{"name": "q", "vhost": "a"}]}
    snapshot = parse_definitions(data)
    assert sorted(snapshot.vhosts) == ["a", "b"]
    assert [q.name for q in snapshot.vhosts["a"].queues] == ["q"] and snapshot.vhosts["b"].queues == ()


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"{not json", "not JSON (Expecting property name enclosed in double quotes at line 1)"),
        (b"[1, 2]", "not a definitions export: the top level is a JSON list"),
        (b'{"users": []}', "not a definitions export: no exchanges, queues, bindings or policies"),
        (b'{"queues": {"name": "q"}}', "not a definitions export: 'queues' is not a list"),
        (b"\xff\xfe junk", "not UTF-8 text"),
        (b"[" * 100000 + b"]" * 100000, "not JSON"),
    ],
)
def test_bad_files_give_one_line_naming_the_file(tmp_path, content, message):
    path = tmp_path / "defs.json"
    path.write_bytes(content)
    with pytest.raises(DefinitionsError) as caught:
        load_definitions(str(path))
    text = str(caught.value)
    assert text.startswith(f"{path}: ") and message in text and "\n" not in text


def test_missing_file_and_directory(tmp_path):
    with pytest.raises(DefinitionsError, match="no such file"):
        load_definitions(str(tmp_path / "nope.json"))
    with pytest.raises(DefinitionsError, match="is a directory"):
        load_definitions(str(tmp_path))


def run_app(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "app.py", *args], cwd=ROOT, capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize(
    ("content", "reason"),
    [(None, "no such file"), ("{oops", "not JSON"), (json.dumps({"users": []}), "not a definitions export")],
)
def test_app_exits_2_with_one_line_for_a_bad_definitions_file(tmp_path, content, reason):
    path = tmp_path / "broken defs.json"
    if content is not None:
        path.write_text(content, encoding="utf-8")
    result = run_app("--definitions", str(path), "--port", "0")
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {path}: ") and reason in lines[0]
    assert result.stdout == ""
