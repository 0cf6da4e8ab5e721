"""Shared pieces of the Celery benchmarks: a throwaway vhost, the service and Flower as
subprocesses, a publisher using Celery's own event dispatcher, and counters read back."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path
from urllib.parse import quote

import requests
from amqp.exceptions import AMQPError
from celery import Celery
from kombu.exceptions import OperationalError

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
MANAGEMENT = "http://127.0.0.1:15672"
AUTH = ("guest", "guest")
TASK_NAMES = [f"shop.tasks.task_{n}" for n in range(200)]


class Vhost:
    def __init__(self) -> None:
        self.name = f"bench-{uuid.uuid4().hex[:8]}"
        self.url = f"amqp://guest:guest@127.0.0.1:5672/{quote(self.name, safe='')}"

    def __enter__(self) -> Vhost:
        api = f"{MANAGEMENT}/api/vhosts/{quote(self.name, safe='')}"
        requests.put(api, auth=AUTH, timeout=10).raise_for_status()
        requests.put(
            f"{MANAGEMENT}/api/permissions/{quote(self.name, safe='')}/guest",
            auth=AUTH,
            timeout=10,
            json={"configure": ".*", "write": ".*", "read": ".*"},
        ).raise_for_status()
        return self

    def __exit__(self, *exc: object) -> None:
        requests.delete(f"{MANAGEMENT}/api/vhosts/{quote(self.name, safe='')}", auth=AUTH, timeout=10)

    def event_consumers(self) -> int:
        queues = requests.get(f"{MANAGEMENT}/api/queues/{quote(self.name, safe='')}", auth=AUTH, timeout=10).json()
        return sum(q.get("consumers", 0) for q in queues if q["name"].startswith("celeryev."))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_service(broker_url: str) -> tuple[subprocess.Popen, str]:
    port = free_port()
    proc = subprocess.Popen(
        [
            str(BIN / "python"),
            "app.py",
            "--broker-url",
            broker_url,
            "--port",
            str(port),
            "--management-url",
            "http://guest:guest@127.0.0.1:15672",
            "--log-level",
            "WARNING",
        ],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    return proc, f"http://127.0.0.1:{port}"


def start_flower(broker_url: str) -> tuple[subprocess.Popen, str]:
    port = free_port()
    proc = subprocess.Popen(
        [
            str(BIN / "celery"),
            "--broker",
            broker_url,
            "flower",
            "--address=127.0.0.1",
            f"--port={port}",
            "--inspect=False",
            "--enable_events=False",
            "--logging=warning",
        ],
        cwd="/tmp",
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=dict(os.environ),
    )
    return proc, f"http://127.0.0.1:{port}"


def wait_until(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if predicate():
                return
        except requests.RequestException:
            pass
        time.sleep(0.2)
    raise SystemExit(f"gave up waiting for {what}")


def counter_sum(base_url: str, name: str) -> float:
    text = requests.get(base_url + "/metrics", timeout=10).text
    pattern = re.compile(rf"^{name}(?:{{[^}}]*}})? ([0-9.e+]+)$", re.M)
    return sum(float(value) for value in pattern.findall(text))


def rss_mb(pid: int) -> tuple[float, float]:
    """(current, peak) resident set size of a process, in MB."""
    fields = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line)
    return int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024


def task_event(n: int, first_task: int = 0) -> tuple[str, dict]:
    """The n-th event of a stream of task lifecycles: sent, received, started, succeeded."""
    kind = ("task-sent", "task-received", "task-started", "task-succeeded")[n % 4]
    task = first_task + n // 4
    fields = {"uuid": f"{task:08d}-bench", "name": TASK_NAMES[task % len(TASK_NAMES)]}
    if kind == "task-sent":
        fields.update(queue="payments", exchange="", routing_key="payments", args="(1, 2)", kwargs="{}")
    elif kind == "task-succeeded":
        fields.update(runtime=0.01, result="'ok'")
    return kind, fields


def publish_task_events(broker_url: str, count: int, first_task: int = 0) -> float:
    """Publish `count` task events with Celery's own EventDispatcher, as fast as this one
    process can (reconnecting if the broker drops us); returns the seconds taken."""
    app = Celery("bench", broker=broker_url, set_as_current=False)
    app.conf.broker_transport_options = {"confirm_publish": False}  # fire and forget, like a busy worker
    started = time.perf_counter()
    n = 0
    while n < count:
        try:
            with app.connection_for_write() as conn:
                dispatcher = app.events.Dispatcher(
                    conn, hostname="bench@publisher", enabled=True, buffer_while_offline=False
                )
                while n < count:
                    kind, fields = task_event(n, first_task)
                    dispatcher.send(kind, **fields)
                    n += 1
                dispatcher.close()
        except (OSError, AMQPError, OperationalError) as exc:
            print(f"  (publisher reconnecting after {type(exc).__name__} at event {n:,})", flush=True)
            time.sleep(1)
    return time.perf_counter() - started


def wait_settled(read, timeout: float, quiet: float = 3.0) -> float:
    """Poll a counter until it stops moving for `quiet` seconds (or `timeout`); its last value."""
    deadline = time.monotonic() + timeout
    last, last_change = read(), time.monotonic()
    while time.monotonic() < deadline:
        time.sleep(0.5)
        value = read()
        if value != last:
            last, last_change = value, time.monotonic()
        elif time.monotonic() - last_change >= quiet:
            break
    return last
