"""Time travel: what the page showed, recorded to an SQLite file, answered for any past moment,
exported to a file of its own and replayed anywhere without a broker.

- ``recorder`` and ``writer``: the hub's side (a tap on its emitter and a topology listener
  that only enqueue) and the writer thread that batches frames into the file;
- ``store`` and ``schema``: the file itself, its retention by age and size;
- ``reader``: any moment rebuilt, a node's figures over time, the timeline's marks, the
  frames between two moments for the page to play;
- ``export`` and ``replay``: a window copied to a new file; such a file shown as the graph.

``build`` gives create_app what the settings ask for: a recorder (live, demo and
definitions modes, unless --no-record), a replay (--replay FILE), or nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from ..config import ConfigError, Settings
from ..hub import Emitter, TopologyListener
from ..metrics import Metrics
from ..model.entities import VhostSnapshot
from ..model.topology import Graph
from ..sources.status import SourceStatus
from .reader import RecordingReader
from .recorder import Recorder
from .replay import SOURCE as REPLAY_SOURCE
from .replay import ReplayDiagnostics, ReplaySource
from .schema import RecordingError

log = logging.getLogger(__name__)
__all__ = ["Recording", "RecordingError", "RecordingReader", "Recorder", "ReplaySource", "build"]


class RecordingHub(Protocol):
    """What recording and replay use of the hub."""

    @property
    def metrics(self) -> Metrics: ...

    @property
    def topology_source(self) -> str | None: ...

    def broker_info(self) -> Any: ...

    def publish_status(self, status: SourceStatus) -> None: ...

    def publish_graphs(
        self, source: str, graphs: Mapping[str, tuple[VhostSnapshot, Graph]], broker: Mapping[str, Any]
    ) -> None: ...

    def add_listener(self, listener: TopologyListener) -> None: ...

    def set_topology_source(self, name: str) -> None: ...


@dataclass
class Recording:
    """The service's time travel: what ``?at=`` reads, and who writes it (or the replay shown)."""

    reader: RecordingReader | None = None  # None: nothing recorded (--no-record)
    recorder: Recorder | None = None
    replay: ReplaySource | None = None

    @property
    def replay_diagnostics(self) -> ReplayDiagnostics | None:
        return ReplayDiagnostics(self.replay) if self.replay is not None else None

    def tap(self, emit: Emitter) -> Emitter:
        return self.recorder.tap(emit) if self.recorder is not None else emit

    def start(self) -> None:
        if self.recorder is not None:
            self.recorder.start()
            # Said on start, not when the file is opened: a start-up error found after opening it
            # stays the one line the operator reads.
            log.info(
                "recording to %s (keeps %g h, %g MB; --no-record turns it off)",
                self.recorder.path,
                self.recorder.max_age / 3600,
                self.recorder.max_bytes / (1024 * 1024),
            )

    def stop(self) -> None:
        if self.recorder is not None:
            self.recorder.stop()


def build(settings: Settings, hub: RecordingHub) -> Recording:
    """Open what the settings name; RecordingError (one line) when the file cannot be used."""
    if settings.replay:
        clash = [
            flag
            for flag, given in (
                ("--demo", settings.demo),
                ("--definitions", settings.definitions),
                ("--broker-url", settings.broker_url),
            )
            if given
        ]
        if clash:
            raise ConfigError(f"--replay shows a recording without any broker: drop {' and '.join(clash)}")
        replay = ReplaySource(settings.replay, hub)
        hub.set_topology_source(REPLAY_SOURCE)
        return Recording(reader=replay.reader, replay=replay)
    if settings.record and not settings.no_record:
        recorder = Recorder(
            settings.record, hub, mode=settings.mode, max_hours=settings.record_max_hours, max_mb=settings.record_max_mb
        )
        hub.add_listener(recorder.on_view)
        return Recording(reader=RecordingReader(settings.record), recorder=recorder)
    return Recording()
