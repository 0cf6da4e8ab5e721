"""The hub: versions, patches to the right room, vhost lifecycle, decorators, tickers."""

from __future__ import annotations

import threading
from dataclasses import replace

import pytest

from tests.conftest import wait_for
from tests.fixtures.recorded import VHOST, broker_snapshot
from visualiser.hub import Hub, room_for
from visualiser.model.diff import apply_patch
from visualiser.model.entities import BrokerSnapshot, Queue, VhostSnapshot
from visualiser.model.topology import Graph
from visualiser.sources.status import SourceStatus


class Recorder:
    def __init__(self):
        self.events: list[tuple[str, object, str | None]] = []

    def __call__(self, event, data, to=None):
        self.events.append((event, data, to))

    def of(self, event):
        return [(data, to) for name, data, to in self.events if name == event]


@pytest.fixture
def hub():
    recorder = Recorder()
    hub = Hub(emit=recorder, tick=0.02)
    hub.recorder = recorder
    hub.start()
    yield hub
    hub.stop()


def post(hub: Hub, snapshot: BrokerSnapshot) -> None:
    hub.publish_broker("test", snapshot)
    hub.drain()


def one_vhost(vhost: str, *queues: Queue) -> BrokerSnapshot:
    return BrokerSnapshot({vhost: VhostSnapshot(vhost, queues=queues)}, {"rabbitmq_version": "x"})


def test_first_snapshot_gets_a_version_and_no_patch(hub):
    post(hub, broker_snapshot())
    view = hub.view(VHOST)
    assert view.version == 1 and hub.vhosts() == [VHOST]
    assert hub.recorder.of("patch") == []
    assert hub.recorder.of("vhosts") == [([{"name": VHOST}], None)]
    message = hub.snapshot_message(VHOST)
    assert message["version"] == 1 and message["broker"]["rabbitmq_version"] == "3.10.8"
    assert {n["id"] for n in message["nodes"]} == set(view.graph.nodes)


def test_same_snapshot_again_keeps_the_version_and_emits_nothing(hub):
    post(hub, broker_snapshot())
    post(hub, broker_snapshot())
    assert hub.view(VHOST).version == 1 and hub.recorder.of("patch") == []


def test_a_change_emits_a_patch_to_the_vhost_room_that_rebuilds_the_graph(hub):
    post(hub, one_vhost("v", Queue("a"), Queue("b")))
    before = hub.view("v").graph
    post(hub, one_vhost("v", Queue("a", messages_ready=4), Queue("c")))
    [(patch, room)] = hub.recorder.of("patch")
    assert room == room_for("v")
    assert (patch["vhost"], patch["from"], patch["to"]) == ("v", 1, 2)
    assert patch["change"]["nodes"] == [{"id": "queue:a", "messages_ready": 4}]
    assert patch["remove"]["nodes"] == ["queue:b"] and [n["id"] for n in patch["add"]["nodes"]] == ["queue:c"]
    assert apply_patch(before, patch) == hub.view("v").graph
    assert hub.metrics.render().count("visualiser_patch_bytes_count 1") == 1


def test_versions_are_hub_wide_and_never_reused(hub):
    post(hub, BrokerSnapshot({"a": VhostSnapshot("a"), "b": VhostSnapshot("b")}))
    versions = {hub.view("a").version, hub.view("b").version}
    post(hub, BrokerSnapshot({"a": VhostSnapshot("a")}))
    assert hub.view("b") is None
    assert hub.recorder.of("vhost-removed") == [({"vhost": "b"}, room_for("b"))]
    assert hub.recorder.of("vhosts")[-1] == ([{"name": "a"}], None)
    post(hub, BrokerSnapshot({"a": VhostSnapshot("a"), "b": VhostSnapshot("b")}))
    assert hub.view("b").version not in versions and hub.view("b").version > max(versions)


def test_status_is_stored_and_emitted(hub):
    status = SourceStatus("test", "unreachable", "somewhere", last_error="refused")
    hub.publish_status(status)
    hub.drain()
    assert hub.statuses()["test"] == status
    assert hub.recorder.of("status") == [({"source": "test", "status": status.to_json(), "topology": False}, None)]


def test_a_status_frame_says_whether_it_is_the_graphs_own_source(hub):
    hub.set_topology_source("management-api")
    hub.publish_status(SourceStatus("management-api", "ok"))
    hub.publish_status(SourceStatus("celery-events", "unreachable"))
    hub.drain()
    assert [(frame["source"], frame["topology"]) for frame, _ in hub.recorder.of("status")] == [
        ("management-api", True),
        ("celery-events", False),
    ]


def test_decorators_add_to_the_graph_and_refresh_rebuilds(hub):
    marks = {"count": 0}

    def decorate(vhost: str, entities: VhostSnapshot, graph: Graph) -> None:
        graph.nodes["worker:w"] = {"id": "worker:w", "kind": "worker", "name": "w", "seen": marks["count"]}

    hub.add_decorator(decorate)
    post(hub, one_vhost("v", Queue("a")))
    assert hub.view("v").graph.nodes["worker:w"]["seen"] == 0
    marks["count"] = 1
    hub.submit(hub.refresh)
    hub.drain()
    [(patch, _)] = hub.recorder.of("patch")
    assert patch["change"]["nodes"] == [{"id": "worker:w", "seen": 1}]


def test_listeners_hear_every_applied_view(hub):
    heard = []
    hub.add_listener(lambda view: heard.append((view.vhost, view.version)))
    post(hub, one_vhost("v", Queue("a")))
    post(hub, one_vhost("v", Queue("a")))
    post(hub, one_vhost("v", Queue("a", consumers=1)))
    assert heard == [("v", 1), ("v", 1), ("v", 2)]


def test_unchanged_graph_still_refreshes_entities(hub):
    post(hub, one_vhost("v", Queue("a")))
    fresh = replace(hub.view("v").entities, policies=())
    hub.publish_broker("test", BrokerSnapshot({"v": fresh}))
    hub.drain()
    assert hub.view("v").entities is fresh


def test_a_failing_job_does_not_stop_the_hub(hub):
    hub.submit(lambda: 1 / 0)
    post(hub, one_vhost("v"))
    assert hub.vhosts() == ["v"]


def test_tickers_run_on_the_hub_thread():
    ran = []
    hub = Hub(tick=0.01)
    hub.every(0.02, lambda: ran.append(threading.current_thread().name))
    hub.start()
    try:
        wait_for(lambda: len(ran) >= 3, message="three ticks")
    finally:
        hub.stop()
    assert set(ran) == {"hub"}


def test_unknown_vhost_has_no_snapshot(hub):
    assert hub.snapshot_message("nope") is None and hub.view("nope") is None
