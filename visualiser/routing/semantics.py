"""Which RabbitMQ version's routing rules the simulator applies, and how to say so.

The routing rules changed once in a way a user can observe: RabbitMQ 3.13's message
containers rewrote the headers exchange. Up to 3.12 it compared a binding's value with the
message's header using Erlang's ``==`` (1 equals 1.0); from 3.13 on (4.x included) it uses
``=:=`` on the decoded values (an integer never equals a float). Both versions skip the
binding's ``x-`` keys unless x-match ends in ``-with-x``, and treat a void binding value as
"present". RabbitMQ 4.0 also added the ``x-local-random`` exchange type.

The version comes from the broker (``/api/overview`` in live mode, ``rabbit_version`` in a
definitions file); without one (the demo, an unreadable version) the newest rules apply.
"""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class Semantics:
    version: str  # as the broker reported it, or "" when unknown
    exact_header_values: bool  # 3.13+: '=:=' on header values; before: '=='
    local_random: bool  # 4.0+: the x-local-random exchange type exists

    def describe(self) -> str:
        """One sentence for the page: whose rules, and the one that differs between versions."""
        who = f"RabbitMQ {self.version}" if self.version else "the newest RabbitMQ (no broker version known)"
        if self.exact_header_values:
            rule = "headers exchanges compare values by type and value (the integer 1 does not match 1.0)"
        else:
            rule = "headers exchanges compare numbers by value (the integer 1 matches 1.0)"
        return f"Routing rules of {who}: {rule}."

    def as_json(self) -> dict[str, object]:
        return {
            "version": self.version,
            "exact_header_values": self.exact_header_values,
            "local_random": self.local_random,
            "description": self.describe(),
        }


NEWEST = Semantics("", exact_header_values=True, local_random=True)


def parse_version(text: str | None) -> tuple[int, int] | None:
    match = re.match(r"\s*(\d+)\.(\d+)", text or "")
    return (int(match.group(1)), int(match.group(2))) if match else None


def semantics_for(version: str | None) -> Semantics:
    """The rules of the broker version given; the newest when it is missing or unreadable."""
    parsed = parse_version(version)
    if parsed is None:
        return NEWEST
    return Semantics(str(version), exact_header_values=parsed >= (3, 13), local_random=parsed >= (4, 0))
