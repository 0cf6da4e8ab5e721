"""Which permission an AMQP refusal was about, said so that an operator can grant it.

RabbitMQ 4.x names the permission it refused ("configure access to queue 'q' in vhost 'v'
refused for user 'u'"); 3.x names only the resource ("access to queue 'q' ..."). A client
knows what it was doing when refused, so each step it takes carries the permission every
resource it touches needs (RabbitMQ's access-control table), and the refusal is explained
from the step when the broker leaves the permission out.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_RESOURCE = re.compile(r"(?:\b(configure|write|read) )?access to (queue|exchange) '((?:[^'\\]|\\.)*)' in vhost")
_VHOST = re.compile(r"access to vhost '((?:[^'\\]|\\.)*)' refused")


@dataclass(frozen=True)
class Step:
    """One request to the broker, and what it needs: (kind, name, permission) per resource."""

    action: str
    needs: tuple[tuple[str, str, str], ...] = ()


def login_refused(message: str) -> bool:
    """The broker refused the user name or password (not a permission)."""
    return "Login was refused" in message or "ACCESS_REFUSED - Login" in message


def explain(step: Step, message: str) -> str:
    """What the user lacks, in a few words, from the broker's refusal text and the step refused."""
    if login_refused(message):
        return "the broker refused the user name or password"
    vhost = _VHOST.search(message)
    if vhost:
        return f"the user has no permissions on vhost '{vhost.group(1)}'"
    resource = _RESOURCE.search(message)
    if not resource:
        return f"the broker refused {step.action}"
    permission, kind, name = resource.groups()
    if permission is None:
        permission = next((p for k, n, p in step.needs if (k, n) == (kind, name)), None)
    if permission is None:
        return f"the broker refused access to {kind} '{name}' ({step.action})"
    return f"the user lacks {permission} permission on {kind} '{name}' (needed for {step.action})"
