"""Which Host names the service answers to: a guard against DNS rebinding.

A page on another site can point its own name at 127.0.0.1 ("rebinding") and then read
this service with same-origin requests: the browser thinks it is talking to that site.
What gives it away is the Host header, which carries the attacker's name. So every
request, pages, JSON, /healthz and the Socket.IO handshake alike, must name a host on an
allowlist: loopback names and addresses (any port), the address the service is bound to,
and the names the operator configured (``public_hosts``, and the hosts of
``allowed_origins``). One WSGI gate in front of the whole application enforces it.

An IP literal is only allowed when it is loopback, the bound address or listed: strict on
purpose, so that the list an operator writes down is the whole list.
"""

from __future__ import annotations

import ipaddress
import logging
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

log = logging.getLogger(__name__)

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]

LOOPBACK_NAMES = frozenset({"localhost"})
WILDCARD_BINDS = frozenset({"", "0.0.0.0", "::", "[::]", "*"})
SETTING = "public_hosts"
SETTING_HINT = "--public-hosts, VISUALISER_PUBLIC_HOSTS or public_hosts in the config file"
# Remember this many refused names for the log, so a flood of requests logs each name once.
LOGGED_NAMES = 64


def host_name(value: str) -> str | None:
    """The host part of a Host header value, normalised; None if it is not well formed.

    ``Example.COM.:8600`` -> ``example.com``; ``[::1]:8600`` -> ``::1``. IPv6 needs its
    brackets and a port must be digits, as in a URL.
    """
    value = value.strip().lower()
    if value.startswith("["):
        end = value.find("]")
        if end < 0 or not _is_port_suffix(value[end + 1 :]):
            return None
        try:
            return str(ipaddress.IPv6Address(value[1:end]))
        except ValueError:
            return None
    host, sep, port = value.partition(":")
    if sep and not _is_port_suffix(sep + port):
        return None
    host = host[:-1] if host.endswith(".") else host
    return host or None


def _is_port_suffix(rest: str) -> bool:
    return rest == "" or (rest.startswith(":") and rest[1:].isdigit() and len(rest) <= 6)


def normalise_entry(entry: str) -> str | None:
    """A configured name, bound address or origin host, in host_name's form; None if malformed."""
    entry = entry.strip()
    if "://" in entry:
        try:
            entry = urlsplit(entry).netloc
        except ValueError:
            return None
    elif entry.count(":") > 1 and not entry.startswith("["):
        entry = f"[{entry}]"  # a bare IPv6 address, as --host takes it
    return host_name(entry)


def is_loopback(host: str) -> bool:
    """Only this machine can reach it: the name ``localhost``, or an address in 127.0.0.0/8 or ::1.

    All of 127.0.0.0/8 counts, as the kernel routes the whole block to the loopback
    interface (``--host 127.0.0.2`` is as private as 127.0.0.1). Any other name counts as
    exposed, whatever it resolves to here: /etc/hosts or DNS can point it anywhere. The
    same rule decides which binds need authentication (visualiser.server.auth).
    """
    host = host.strip().lower()
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class HostAllowlist:
    """Loopback, plus exact names; any port."""

    names: frozenset[str]

    @classmethod
    def build(
        cls, bound_host: str = "127.0.0.1", public_hosts: Iterable[str] = (), allowed_origins: Iterable[str] = ()
    ) -> HostAllowlist:
        entries = [*public_hosts, *allowed_origins]
        if bound_host.strip().lower() not in WILDCARD_BINDS:
            entries.append(bound_host)
        names = {name for name in map(normalise_entry, entries) if name}
        return cls(frozenset(names))

    @classmethod
    def from_settings(cls, settings: Any) -> HostAllowlist:
        """From Settings (visualiser.config): ``host``, ``public_hosts`` and ``allowed_origins``."""
        if settings is None:
            return cls.build()
        return cls.build(settings.host, settings.public_hosts, settings.allowed_origins)

    def allows_name(self, host: str) -> bool:
        """For an already normalised host (no port)."""
        return is_loopback(host) or host in self.names

    def allows(self, header: str | None) -> bool:
        """For a Host header value (with or without a port)."""
        host = host_name(header) if header else None
        return host is not None and self.allows_name(host)


def refusal_text(header: str | None) -> str:
    if not header:
        return "This service needs a Host header naming it.\n"
    shown = repr(header[:100])
    return (
        f"This service does not answer to the host name {shown}.\n"
        "It refuses names it does not know so that another web site cannot reach it through "
        "its own name pointed at this address (DNS rebinding).\n"
        f"If {shown} is how you reach it, add that name to the {SETTING} setting ({SETTING_HINT}).\n"
    )


class HostGate:
    """WSGI gate in front of everything: a Host not on the allowlist gets a plain-text 421."""

    def __init__(self, wrapped: WSGIApp, allowlist: HostAllowlist):
        self.wrapped, self.allowlist = wrapped, allowlist
        self._logged: set[str] = set()
        self._lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        header = environ.get("HTTP_HOST")
        if self.allowlist.allows(header):
            return self.wrapped(environ, start_response)
        self._log_once(header)
        body = refusal_text(header).encode("utf-8", "backslashreplace")
        # 421 Misdirected Request: "this server is not the one for that name"; 400 when there is no name.
        status = "421 Misdirected Request" if header else "400 Bad Request"
        start_response(
            status,
            [
                ("Content-Type", "text/plain; charset=utf-8"),
                ("Content-Length", str(len(body))),
                ("X-Content-Type-Options", "nosniff"),
                ("Cache-Control", "no-store"),
                ("Connection", "close"),
            ],
        )
        return [body]

    def _log_once(self, header: str | None) -> None:
        name = (header or "")[:100]
        with self._lock:
            if name in self._logged or len(self._logged) >= LOGGED_NAMES:
                return
            self._logged.add(name)
        log.warning("refused a request for host %r (not in %s)", name, SETTING)


def install(app: Any, settings: Any) -> HostAllowlist:
    """Put the gate in front of the whole WSGI app (call it last, so it wraps every other gate)."""
    allowlist = HostAllowlist.from_settings(settings)
    app.wsgi_app = HostGate(app.wsgi_app, allowlist)
    return allowlist
