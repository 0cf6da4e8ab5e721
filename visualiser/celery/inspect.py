"""Opt-in (--inspect): ask the workers which queues they consume and how big their pools are.

This is the only part of the service that sends anything to Celery workers: a broadcast
`inspect active_queues` and `inspect stats` every 30 s. Without --inspect it is never built.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from ..hub import Hub
from ..urls import split_urls

log = logging.getLogger(__name__)

# What the answers teach: queues per worker, pool size per worker (applied on the hub thread).
Learn = Callable[[dict[str, list[str]], dict[str, int]], None]
INSPECT_SECONDS = 30.0


class InspectPoller:
    def __init__(self, broker_url: str, hub: Hub, learn: Learn, interval: float = INSPECT_SECONDS):
        self.broker_url, self.hub, self.learn, self.interval = broker_url, hub, learn, interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="celery-inspect", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        from celery import Celery

        # A failover list with ',' between URLs becomes the ';' form that Celery and kombu read.
        app = Celery("visualiser-inspect", broker=";".join(split_urls(self.broker_url)), set_as_current=False)
        while not self._stop.is_set():
            try:
                self.poll(app)
            except Exception as exc:  # noqa: BLE001 - workers or broker away: try again later
                log.info("celery inspect failed: %s", type(exc).__name__)
            self._stop.wait(self.interval)

    def poll(self, app: Any) -> None:
        inspector = app.control.inspect(timeout=2.0)
        queues: dict[str, list[str]] = {
            str(host): [str(q["name"]) for q in found if isinstance(q, dict) and isinstance(q.get("name"), str)]
            for host, found in (inspector.active_queues() or {}).items()
            if isinstance(found, list)
        }
        pools: dict[str, int] = {}
        for host, stats in (inspector.stats() or {}).items():
            size = (stats or {}).get("pool", {}).get("max-concurrency") if isinstance(stats, dict) else None
            if isinstance(size, int):
                pools[host] = size
        self.hub.call(lambda: self.learn(queues, pools))
