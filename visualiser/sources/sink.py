"""What a source may do with the hub: the one narrow door into the model.

Sources run on their own threads and only post: a fresh snapshot, a status, a job to run
on the hub's thread. Typing them against this protocol rather than the Hub class keeps
the sources below the hub: they cannot reach into the model, and they import nothing of it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from ..metrics import Metrics
from ..model.entities import BrokerSnapshot
from .status import SourceStatus


class Sink(Protocol):
    @property
    def metrics(self) -> Metrics: ...

    def submit(self, fn: Callable[[], None]) -> None:
        """Run fn on the hub's thread."""

    def publish_broker(self, source: str, snapshot: BrokerSnapshot) -> None: ...

    def publish_status(self, status: SourceStatus) -> None: ...

    def record_poll_duration(self, source: str, seconds: float) -> None: ...

    def every(self, seconds: float, fn: Callable[[], None]) -> None:
        """Run fn on the hub's thread every `seconds` (for checks that must not depend on the source's own thread)."""


class Source(Protocol):
    """Anything create_app can start and stop with the service."""

    def start(self) -> None: ...

    def stop(self) -> None: ...
