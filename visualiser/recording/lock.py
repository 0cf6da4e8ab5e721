"""One service per recording file: an exclusive lock on ``FILE.lock`` held while recording.

``flock`` locks belong to the open file, so the operating system releases this one when the
process ends, however it ends (kill -9 included): a crashed service never leaves the file
locked. Readers (answers about the past, ``--export``, ``--replay``) take no lock: SQLite's
WAL mode lets them read while the one writer writes.
"""

from __future__ import annotations

import fcntl
import os

from .schema import RecordingError


class FileLock:
    def __init__(self, path: str):
        self.path = path + ".lock"
        self._fd: int | None = None

    def acquire(self, recording: str) -> None:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 32).decode("ascii", "replace").strip()
            os.close(fd)
            who = f" (pid {holder})" if holder.isdigit() else ""
            raise RecordingError(
                f"{recording}: another service is already recording to this file{who}; give each "
                "service its own --record FILE, or start this one with --no-record"
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode("ascii"))
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None
