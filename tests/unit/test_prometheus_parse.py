"""Reading RabbitMQ's Prometheus text (visualiser/sources/prometheus.py): queue names may hold
any character, the lines RabbitMQ writes take a fast path, and anything else the full grammar."""

from __future__ import annotations

import random

from visualiser.model.entities import BrokerSnapshot, Exchange, Queue, VhostSnapshot
from visualiser.sources.prometheus import Scrape, parse_counters, parse_scrape, samples, with_prometheus_figures

IDENTITY = (
    'rabbitmq_identity_info{rabbitmq_node="rabbit@a",rabbitmq_cluster="prod",rabbitmq_cluster_permanent_id="x"} 1'
)


def line(metric: str, vhost: str, queue: str, value: str, extra: str = "") -> str:
    def quoted(text: str) -> str:
        return text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")

    return f'rabbitmq_detailed_queue_{metric}{{vhost="{quoted(vhost)}",queue="{quoted(queue)}"{extra}}} {value}'


def scrape(*lines: str) -> str:
    return "\n".join(["# TYPE rabbitmq_identity_info untyped", IDENTITY, "# HELP x y", *lines]) + "\n"


def test_plain_lines_give_depths_consumers_node_and_cluster() -> None:
    text = scrape(
        line("messages_ready", "/", "orders", "12"),
        line("messages_unacked", "/", "orders", "3"),
        line("messages", "/", "orders", "15"),  # not asked for: ignored
        line("consumers", "/", "orders", "2"),
        line("messages_ready", "v2", "other", "0"),
    )
    figures, node, cluster = parse_scrape(text)
    assert figures == {
        ("/", "orders"): {"messages_ready": 12, "messages_unacknowledged": 3, "consumers": 2},
        ("v2", "other"): {"messages_ready": 0},
    }
    assert (node, cluster) == ("rabbit@a", "prod")


def test_escaped_names_are_read_as_themselves_with_their_plain_neighbours() -> None:
    hostile = 'q "quoted" \\ back\nslash ",queue="forged'
    text = scrape(
        line("messages_ready", "/", "plain", "1"),
        line("messages_ready", "/", hostile, "7"),
        line("messages_ready", "/", "q\u202e", "4"),
    )
    figures, _, _ = parse_scrape(text)
    assert figures == {
        ("/", "plain"): {"messages_ready": 1},
        ("/", hostile): {"messages_ready": 7},
        ("/", "q\u202e"): {"messages_ready": 4},
    }


def test_timestamps_extra_labels_and_garbage() -> None:
    text = scrape(
        line("messages_ready", "/", "stamped", "5") + " 1700000000000",
        line("messages_ready", "/", "labelled", "6", extra=',node="x"'),
        'rabbitmq_detailed_queue_messages_ready{vhost="/",queue="broken} 9',  # unterminated: skipped
        line("messages_ready", "/", "negative", "-1"),
        line("messages_ready", "/", "fraction", "1.5"),
        line("messages_ready", "/", "nan", "NaN"),
        line("messages_ready", "/", "word", "many"),
        line("consumers", "/", "stamped", "1e3"),
    )
    figures, _, _ = parse_scrape(text)
    assert figures == {
        ("/", "stamped"): {"messages_ready": 5, "consumers": 1000},
        ("/", "labelled"): {"messages_ready": 6},
    }


def test_no_identity_means_no_node() -> None:
    figures, node, cluster = parse_scrape(line("messages_ready", "/", "q", "1") + "\n")
    assert figures == {("/", "q"): {"messages_ready": 1}} and node is None and cluster is None


def test_the_fast_path_reads_what_the_full_grammar_reads() -> None:
    rng = random.Random(7)
    alphabet = 'ab.-_ "\\\n\u00e9/'
    for _ in range(200):
        names = ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 8))) for _ in range(5)]
        lines = [line("messages_ready", "/", name, str(rng.randint(0, 9))) for name in names]
        figures, _, _ = parse_scrape(scrape(*lines))
        expected = {
            (labels["vhost"], labels["queue"]): {"messages_ready": int(value)}
            for _, labels, value in samples("\n".join(lines), ["rabbitmq_detailed_queue_messages_ready"])
        }
        assert figures == expected


# ---- laying a scrape over a full read of a broker with statistics off ------------------------------------


def stats_off_read(cluster: str) -> BrokerSnapshot:
    queue = Queue("orders", messages_ready=4, messages_unacknowledged=0, consumers=None)
    return BrokerSnapshot(
        {"/": VhostSnapshot("/", exchanges=(Exchange(""),), queues=(queue,), statistics=False)},
        broker={
            "cluster_name": cluster,
            "statistics": False,
            "figures": {"depths": "queue totals", "consumer_counts": "none"},
        },
    )


def scrape_of(cluster: str) -> Scrape:
    return Scrape(
        figures={("/", "orders"): {"messages_ready": 4, "consumers": 2}}, nodes=["rabbit@a"], clusters={cluster}
    )


def test_a_scrape_of_this_cluster_gives_the_consumer_counts() -> None:
    shown = with_prometheus_figures(stats_off_read("prod"), scrape_of("prod"))
    assert shown.vhosts["/"].queues[0].consumers == 2
    assert shown.broker["figures"]["consumer_counts"] == "prometheus"


def test_a_scrape_of_another_cluster_is_not_taken_and_the_page_says_why() -> None:
    """The default guess (the management host, port 15692) may reach another broker on the
    same host, whose queues in '/' may share names with this one's."""
    shown = with_prometheus_figures(stats_off_read("prod"), scrape_of("test-broker"))
    assert shown.vhosts["/"].queues[0].consumers is None  # unknown, not another broker's figure
    assert shown.broker["figures"]["consumer_counts"] == "none"
    why = shown.broker["missing"][0]["why"]
    assert "another cluster" in why and "'prod'" in why and "--prometheus-url" in why


COUNTING_HEADER = "# TYPE rabbitmq_detailed_queue_messages_acked_total counter"


def counter(metric: str, labels: str, value: str) -> str:
    return f"rabbitmq_detailed_{metric}{{{labels}}} {value}"


def test_counters_add_up_per_queue_and_per_exchange() -> None:
    text = scrape(
        COUNTING_HEADER,
        counter("queue_messages_delivered_ack_total", 'vhost="/",queue="orders"', "70"),
        counter("queue_get_total", 'vhost="/",queue="orders"', "5"),
        counter("queue_messages_acked_total", 'vhost="/",queue="orders"', "60"),
        counter("queue_messages_redelivered_total", 'vhost="/",queue="orders"', "2"),
        counter("queue_get_empty_total", 'vhost="/",queue="orders"', "999"),  # not a delivery
        counter("queue_exchange_messages_published_total", 'vhost="/",exchange="in",queue="orders"', "50"),
        counter("queue_exchange_messages_published_total", 'vhost="/",exchange="in",queue="audit"', "50"),
        counter("queue_exchange_messages_published_total", 'vhost="/",exchange="",queue="orders"', "25"),
        counter("exchange_messages_published_total", 'vhost="/",exchange="in"', "50"),
    )
    counters = parse_counters(text)
    assert counters is not None
    assert counters.queues[("/", "orders")] == {"deliver_get": 75, "ack": 60, "redeliver": 2, "publish": 75}
    assert counters.queues[("/", "audit")] == {"publish": 50}
    assert counters.exchanges[("/", "in")] == {"publish_in": 50, "publish_out": 100}
    assert counters.exchanges[("/", "")] == {"publish_out": 25}


def test_a_node_without_the_counter_families_does_not_count_and_an_idle_one_does() -> None:
    assert parse_counters(scrape(line("messages_ready", "/", "q", "1"))) is None  # RabbitMQ before 3.13
    idle = parse_counters(scrape(COUNTING_HEADER))
    assert idle is not None and idle.queues == {} and idle.exchanges == {}


def test_counters_with_escaped_names_and_garbage_values() -> None:
    hostile = 'q "x",queue="forged'
    text = scrape(
        COUNTING_HEADER,
        counter("queue_messages_acked_total", 'vhost="/",queue="q \\"x\\",queue=\\"forged"', "4"),
        counter("queue_messages_acked_total", 'vhost="/",queue="plain"', "NaN"),
        counter("queue_messages_acked_total", 'vhost="/",queue="neg"', "-3"),
        counter(
            "queue_exchange_messages_published_total",
            'vhost="/",exchange="e\\\\",queue="q \\"x\\",queue=\\"forged"',
            "9",
        ),
    )
    counters = parse_counters(text)
    assert counters is not None
    assert counters.queues == {("/", hostile): {"ack": 4, "publish": 9}}
    assert counters.exchanges == {("/", "e\\"): {"publish_out": 9}}
