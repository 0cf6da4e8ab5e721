"""A Celery worker's AMQP connection folds into its worker node when the graph is built:
queue → worker, one edge, the consumer details in the worker node; other applications'
consumers keep their connection box, labelled by the client, each consumer by its tag."""

from __future__ import annotations

from visualiser.celery.monitor import CeleryMonitor
from visualiser.celery.state import CeleryState
from visualiser.model.entities import Binding, Connection, Consumer, Exchange, Queue, VhostSnapshot
from visualiser.model.topology import build_graph

WORKER = "payments@host-1"
WORKER_CONN = "10.0.0.7:40112 -> 10.0.0.2:5672"
OTHER_CONN = "10.0.0.9:51000 -> 10.0.0.2:5672"


def broker() -> VhostSnapshot:
    """A worker consuming two task queues and its pidbox on one connection, and another
    application consuming one of those queues on its own connection."""
    return VhostSnapshot(
        "/",
        exchanges=(Exchange(""), Exchange("celery.pidbox", "fanout")),
        queues=(Queue("payments"), Queue("refunds"), Queue(f"{WORKER}.celery.pidbox")),
        bindings=(Binding("celery.pidbox", f"{WORKER}.celery.pidbox", "queue"),),
        consumers=(
            Consumer("payments", "None4", "ch-1", WORKER_CONN, prefetch_count=8, ack_required=True),
            Consumer("refunds", "None5", "ch-1", WORKER_CONN, prefetch_count=8, ack_required=True),
            Consumer(f"{WORKER}.celery.pidbox", "None6", "ch-2", WORKER_CONN, prefetch_count=0, ack_required=False),
            Consumer("refunds", "amq.ctag-audit", "ch-9", OTHER_CONN, prefetch_count=50),
        ),
        connections=(
            Connection(WORKER_CONN, "guest", "10.0.0.7:40112", {"product": "py-amqp"}),
            Connection(OTHER_CONN, "audit", "10.0.0.9:51000", {"connection_name": "audit-service", "product": "Pika"}),
        ),
    )


class NoHub:
    """The monitor's hub, unused by graph decoration."""


def decorated(known_workers: list[str]) -> dict:
    monitor = CeleryMonitor(NoHub(), "/", CeleryState())  # type: ignore[arg-type]
    for hostname in known_workers:
        monitor.state.apply({"type": "worker-heartbeat", "hostname": hostname, "freq": 2.0, "received": 1e9})
    graph = build_graph(broker())
    monitor.decorate("/", broker(), graph)
    return {"nodes": graph.nodes, "edges": graph.edges, "monitor": monitor}


def test_a_workers_connection_and_consumers_fold_into_its_node():
    graph = decorated([WORKER])
    nodes, edges = graph["nodes"], graph["edges"]
    assert f"connection:{WORKER_CONN}" not in nodes
    assert not [n for n in nodes.values() if n["kind"] == "consumer" and n["connection"] == f"connection:{WORKER_CONN}"]
    worker = nodes[f"worker:{WORKER}"]
    assert worker["connection"] == WORKER_CONN
    assert [
        (c["queue"], c["consumer_tag"], c["channel"], c["prefetch_count"], c["ack_required"])
        for c in worker["consumers"]
    ] == [
        ("payments", "None4", "ch-1", 8, True),
        (f"{WORKER}.celery.pidbox", "None6", "ch-2", 0, False),
        ("refunds", "None5", "ch-1", 8, True),
    ]
    # One edge per task queue, straight from the queue to the worker; none to the pidbox.
    into_worker = sorted(e["source"] for e in edges.values() if e["target"] == f"worker:{WORKER}")
    assert into_worker == ["queue:payments", "queue:refunds"]
    assert not [e for e in edges.values() if e["target"] not in nodes or e["source"] not in nodes]
    assert graph["monitor"].broker_queues == {WORKER: {"payments", "refunds"}}


def test_other_applications_keep_their_connection_labelled_by_client_and_consumer_by_tag():
    nodes = decorated([WORKER])["nodes"]
    connection = nodes[f"connection:{OTHER_CONN}"]
    assert connection["label"] == "audit-service"
    [consumer] = [n for n in nodes.values() if n["kind"] == "consumer"]
    assert consumer["label"] == "amq.ctag-audit" and consumer["parent"] == connection["id"]
    assert consumer["queue"] == "refunds"


def test_without_a_known_worker_nothing_is_folded():
    """No Celery events from that worker: there is no worker node to fold into."""
    nodes = decorated([])["nodes"]
    assert f"connection:{WORKER_CONN}" in nodes
    assert len([n for n in nodes.values() if n["kind"] == "consumer"]) == 4
    assert not [n for n in nodes.values() if n["kind"] == "worker"]


def test_a_worker_whose_pidbox_is_not_consumed_keeps_nothing_folded():
    """Another worker's events do not claim this connection: only its own pidbox does."""
    nodes = decorated(["other@host-2"])["nodes"]
    assert f"connection:{WORKER_CONN}" in nodes
    assert "consumers" in nodes["worker:other@host-2"] and nodes["worker:other@host-2"]["consumers"] == []
