"""Opt-in (--inspect): ask the workers which queues they consume and how big their pools are.

This is the only part of the service that sends anything to Celery workers: a broadcast
`inspect active_queues` and `inspect stats` every 30 s. Without --inspect it is never built.
"""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING, Any

from .feature import on_hub

if TYPE_CHECKING:
    from .feature import CeleryFeature

log = logging.getLogger(__name__)


class InspectPoller:
    def __init__(self, broker_url: str, feature: CeleryFeature, interval: float):
        self.broker_url, self.feature, self.interval = broker_url, feature, interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="celery-inspect", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        from celery import Celery

        app = Celery("visualiser-inspect", broker=self.broker_url, set_as_current=False)
        while not self._stop.is_set():
            try:
                self.poll(app)
            except Exception as exc:  # noqa: BLE001 - workers or broker away: try again later
                log.info("celery inspect failed: %s", type(exc).__name__)
            self._stop.wait(self.interval)

    def poll(self, app: Any) -> None:
        inspector = app.control.inspect(timeout=2.0)
        queues = {host: [q.get("name") for q in found if isinstance(q, dict) and isinstance(q.get("name"), str)]
                  for host, found in (inspector.active_queues() or {}).items() if isinstance(found, list)}
        pools: dict[str, int] = {}
        for host, stats in (inspector.stats() or {}).items():
            size = (stats or {}).get("pool", {}).get("max-concurrency") if isinstance(stats, dict) else None
            if isinstance(size, int):
                pools[host] = size
        on_hub(self.feature.hub, lambda: self.feature.learn_from_inspect(queues, pools))
