"""Polls the management API on a cadence and posts what it reads to the hub.

It never touches the model: a fresh BrokerSnapshot on success, a status on every change
of health. On failure the hub keeps the last good graph (marked stale) while the poller
backs off, capped and jittered, and it recovers by itself when the broker answers again.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import TYPE_CHECKING, Any

from .management_api import ManagementClient, SourceError
from .status import Backoff, SourceStatus

if TYPE_CHECKING:
    from ..hub import Hub

log = logging.getLogger(__name__)
SOURCE = "management-api"


class ManagementPoller:
    def __init__(self, client: ManagementClient, hub: Hub, interval: float = 2.0, backoff_cap: float = 30.0):
        self.client, self.hub, self.interval = client, hub, interval
        self.backoff = Backoff(base=interval, cap=max(backoff_cap, interval))
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="management-poller", daemon=True)
        self._status = SourceStatus(SOURCE, detail=client.base_url)
        self.last_duration: float | None = None

    def start(self) -> None:
        self.hub.publish_status(self._status)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=self.client.timeout + 2)
        self.client.close()

    def _run(self) -> None:
        while not self._stop.is_set():
            self._stop.wait(self.poll_once())

    def poll_once(self) -> float:
        """One poll; returns how long to wait before the next."""
        started = time.perf_counter()
        try:
            snapshot = self.client.fetch_broker()
        except SourceError as exc:
            self._report(exc.state, str(exc))
            delay = self.backoff.next_delay()
            log.warning("%s; retrying in %.1fs", exc, delay)
            return delay
        except Exception as exc:  # noqa: BLE001 - a source must survive anything and say so
            log.exception("unexpected failure polling %s", self.client.base_url)
            self._report("error", f"unexpected {type(exc).__name__} while polling")
            return self.backoff.next_delay()
        self.last_duration = time.perf_counter() - started
        self.hub.record_poll_duration(SOURCE, self.last_duration)
        self.backoff.reset()
        self.hub.publish_broker(SOURCE, snapshot)
        version = snapshot.broker.get("rabbitmq_version", "")
        hidden = snapshot.broker.get("vhosts_without_access", [])
        self._report("ok", None, detail=f"{self.client.base_url} (RabbitMQ {version})" if version else None,
                     extra={"vhosts_without_access": hidden} if hidden else {})
        return self.interval

    def _report(
        self, state: str, error: str | None, detail: str | None = None, extra: dict[str, Any] | None = None
    ) -> None:
        now = time.time()
        old = self._status
        self._status = SourceStatus(
            SOURCE,
            state=state,
            detail=detail or old.detail,
            last_success=now if state == "ok" else old.last_success,
            last_error=error if error else old.last_error,
            since=old.since if old.state == state else now,
            extra={"poll_interval": self.interval, **(extra or {})},
        )
        self.hub.publish_status(self._status)  # small, and it carries "last successful poll"
