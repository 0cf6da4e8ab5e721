"""Each source's health, as the page, /healthz and the hub see it, and capped backoff."""

from __future__ import annotations

import random
import time
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class SourceStatus:
    source: str  # "management-api" | "definitions" | "demo" | "celery-events" | …
    state: str = "starting"  # "starting" | "ok" | "stale" | "unreachable" | "unauthorised" | "error"
    detail: str = ""  # where it reads from (credentials redacted), broker version…
    last_success: float | None = None
    last_error: str | None = None
    since: float = field(default_factory=time.time)  # when `state` began
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def healthy(self) -> bool:
        return self.state in ("ok", "starting")

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


class Backoff:
    """Exponential backoff, capped, with jitter so that many clients do not retry in step."""

    def __init__(self, base: float, cap: float = 30.0, rng: random.Random | None = None):
        self.base, self.cap = base, cap
        self.failures = 0
        self._rng = rng or random.Random()

    def reset(self) -> None:
        self.failures = 0

    def next_delay(self) -> float:
        self.failures += 1
        ceiling = min(self.cap, self.base * 2 ** min(self.failures - 1, 16))
        return float(ceiling * self._rng.uniform(0.5, 1.0))
