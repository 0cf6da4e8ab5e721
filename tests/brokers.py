"""The real brokers the tests run against, and the one place that knows their addresses.

``scripts/ensure-rabbitmq`` starts the system's RabbitMQ (3.10 on Debian 12) and
``scripts/ensure-rabbitmq4`` two RabbitMQ 4.0 nodes (Debian 13's package), both configured
the way RabbitMQ 4.3 behaves by default: transient non-exclusive queues refused. One of
them runs with the deprecated management statistics switched off.

``VISUALISER_TEST_BROKER`` picks the broker that the integration suite runs against
(``3.10``, the default, or ``4.0``); the stats-off node is asked for by name.
Ports can be moved with ``VISUALISER_TEST_<NAME>_PORTS=amqp,http,prometheus``.
"""

from __future__ import annotations

import os
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

USER, PASSWORD = "guest", "guest"


@dataclass(frozen=True)
class Broker:
    name: str
    amqp_port: int
    http_port: int
    prometheus_port: int
    statistics: bool = True  # management metrics collection on
    strict: bool = False  # refuses transient non-exclusive queues, as 4.3 does by default
    counts_messages: bool = False  # Prometheus has per-queue message counters (RabbitMQ 3.13 and later)
    host: str = "127.0.0.1"
    node: str = ""  # a node of the Debian 13 tree (scripts/ensure-rabbitmq4); "" for the system broker
    dist_port: int = 0

    @property
    def management(self) -> str:
        """The management API's base URL, without credentials."""
        return f"http://{self.host}:{self.http_port}"

    @property
    def prometheus(self) -> str:
        return f"http://{self.host}:{self.prometheus_port}"

    def management_url(self, user: str = USER, password: str = PASSWORD) -> str:
        return f"http://{quote(user, safe='')}:{quote(password, safe='')}@{self.host}:{self.http_port}"

    def amqp_url(self, vhost: str = "/", user: str = USER, password: str = PASSWORD) -> str:
        return f"amqp://{quote(user, safe='')}:{quote(password, safe='')}@{self.host}:{self.amqp_port}/{quote(vhost, safe='')}"

    @property
    def amqp_host(self) -> str:
        """host:port, as py-amqp's Connection takes it."""
        return f"{self.host}:{self.amqp_port}"


RABBITMQ4_DIR = os.environ.get("VISUALISER_TEST_RABBITMQ4_DIR", "/var/lib/visualiser-test/rabbitmq4")


def rabbitmqctl(broker: Broker, *args: str, timeout: float = 120, tool: str = "rabbitmqctl") -> None:
    """Run rabbitmqctl (or another of RabbitMQ's command-line tools) against this broker's node
    (the system's, or one in the Debian 13 tree)."""
    if not broker.node:
        command = [tool, *args]
    else:
        command = [
            "env", "-i", "PATH=/usr/sbin:/usr/bin:/sbin:/bin", "HOME=/root", "ERL_EPMD_PORT=4370",
            f"RABBITMQ_NODENAME={broker.node}@localhost", f"RABBITMQ_DIST_PORT={broker.dist_port}",
            # rabbitmq-plugins edits the node's own plugins file (scripts/ensure-rabbitmq4 writes it)
            f"RABBITMQ_ENABLED_PLUGINS_FILE=/etc/rabbitmq/{broker.node}.plugins",
            f"RABBITMQ_PLUGINS_DIR={_plugins_dir()}",
            "chroot", RABBITMQ4_DIR, f"/usr/lib/rabbitmq/bin/{tool}", *args,
        ]  # fmt: skip
    subprocess.run(command, check=True, capture_output=True, timeout=timeout)


def _plugins_dir() -> str:
    """The plugins directory of the RabbitMQ in the Debian 13 tree, as seen inside it."""
    found = sorted(Path(RABBITMQ4_DIR, "usr/lib/rabbitmq/lib").glob("rabbitmq_server-*/plugins"))
    return "/" + str(found[-1].relative_to(RABBITMQ4_DIR)) if found else "/usr/lib/rabbitmq/plugins"


def rabbitmq_plugins(broker: Broker, *args: str, timeout: float = 120) -> None:
    rabbitmqctl(broker, *args, timeout=timeout, tool="rabbitmq-plugins")


def start_app(broker: Broker, attempts: int = 3) -> None:
    """``rabbitmqctl start_app``, tried again when it fails. A 4.x node in 4.3's strict mode can
    refuse its first boot after ``stop_app`` ("failed_to_deny_deprecated_features",
    transient_nonexcl_queues) while the queue records of the connections that stop closed are
    still being removed; the next attempt finds them gone."""
    for attempt in range(attempts):
        try:
            rabbitmqctl(broker, "start_app")
            return
        except subprocess.CalledProcessError:
            if attempt == attempts - 1:
                raise
            time.sleep(2.0)


def _ports(name: str, default: tuple[int, int, int]) -> tuple[int, int, int]:
    raw = os.environ.get(f"VISUALISER_TEST_{name.upper().replace('.', '_').replace('-', '_')}_PORTS")
    if not raw:
        return default
    amqp, http, prometheus = (int(part) for part in raw.split(","))
    return amqp, http, prometheus


def _broker(name: str, default_ports: tuple[int, int, int], **kwargs: object) -> Broker:
    amqp, http, prometheus = _ports(name, default_ports)
    return Broker(name, amqp, http, prometheus, **kwargs)  # type: ignore[arg-type]


BROKERS: dict[str, Broker] = {
    "3.10": _broker("3.10", (5672, 15672, 15692)),
    "4.0": _broker("4.0", (5673, 15673, 15695), strict=True, counts_messages=True, node="rabbit4", dist_port=25673),
    "4.0-nostats": _broker(
        "4.0-nostats",
        (5674, 15674, 15696),
        strict=True,
        counts_messages=True,
        statistics=False,
        node="rabbit4nostats",
        dist_port=25674,
    ),
}


def current() -> Broker:
    """The broker this run of the integration suite is about."""
    name = os.environ.get("VISUALISER_TEST_BROKER", "3.10")
    try:
        return BROKERS[name]
    except KeyError:
        raise SystemExit(f"VISUALISER_TEST_BROKER={name!r}: choose one of {', '.join(BROKERS)}") from None


BROKER = current()
