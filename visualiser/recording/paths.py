"""Where app.py records when not told: one file per port under the user's state directory.

The XDG state directory ($XDG_STATE_HOME, else ~/.local/state) is where a program keeps what
should survive a restart but is not the user's own data: a history is exactly that. The
working directory is not used because a service is often started from a checkout or a
container's read-only work directory. The port is in the name because two services on one
host cannot share a port: their default files never collide (the second would otherwise
refuse to start), and the same service restarted keeps adding to its own recording.
"""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

from ..config import Settings

DIRECTORY = "rabbitmq-visualiser"


def state_directory() -> Path:
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / DIRECTORY


def default_path(port: int) -> str:
    return str(state_directory() / f"recording-{port}.db")


def with_default_path(settings: Settings) -> Settings:
    """The settings app.py runs with: a recording file unless --no-record, --record or --replay says otherwise."""
    if settings.record or settings.no_record or settings.replay:
        return settings
    return replace(settings, record=default_path(settings.port))
