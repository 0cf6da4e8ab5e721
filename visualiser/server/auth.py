"""Authentication for everything the service exposes, and the rule about where it may listen.

One gate, HTTP basic authentication, sits in front of the whole WSGI app: pages, static
files, the JSON API, /metrics and the Socket.IO handshake (both its polling and websocket
requests) pass through it alike, so no route can be forgotten. Only /healthz stays open,
for load balancers; it shows source states, never credentials.

Users are exact-match names with werkzeug pbkdf2 hashes (``app.py --hash-password USER``;
scrypt and other pbkdf2 parameters are accepted too). Every login attempt, whatever the
name, runs the same hashes: one of each price (method and parameters) among the configured
users, so the time it takes does not tell which names exist. A correct login is remembered
(as a keyed digest, never the password) so that a page's dozens of requests do not each
pay for the slow hash.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import logging
import secrets
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable
from typing import Any

from flask import Flask
from werkzeug.security import check_password_hash, generate_password_hash

from ..config import ConfigError, Settings
from .hosts import is_loopback

log = logging.getLogger(__name__)

HASH_METHOD = "pbkdf2:sha256:600000"
OPEN_PATHS = frozenset({"/healthz"})
REALM = "RabbitMQ routing visualiser"
REMEMBERED_LOGINS = 64
# Each wrong guess costs a full PBKDF2 run; at most this many run at once so that a burst
# of guesses queues up instead of taking every core from the service.
CONCURRENT_HASH_CHECKS = 2

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


def hash_password(password: str) -> str:
    return generate_password_hash(password, method=HASH_METHOD)


def user_entry(user: str, password: str) -> str:
    """The ``user:hash`` line that --auth-users takes."""
    if not user or ":" in user or "," in user or user != user.strip():
        raise ConfigError("a user name must be non-empty, without ':' or ',' or surrounding spaces")
    if not password:
        raise ConfigError("refusing an empty password")
    return f"{user}:{hash_password(password)}"


def parse_users(entries: Iterable[str]) -> dict[str, str]:
    """{user: hash} from ``user:pbkdf2:…`` entries; a plain-text secret is refused."""
    users: dict[str, str] = {}
    for entry in entries:
        user, sep, hashed = entry.partition(":")
        if not sep or not user:
            raise ConfigError("auth_users: each entry is user:hash (make one with --hash-password USER)")
        if not hashed.startswith(("pbkdf2:", "scrypt:")) or hashed.count("$") != 2:
            raise ConfigError(f"auth_users: the secret for {user!r} is not a hash (make one with --hash-password USER)")
        users[user] = hashed
    return users


def bind_problem(settings: Settings) -> str | None:
    """Why the service must not start as configured, or None. An exposed bind needs auth."""
    if is_loopback(settings.host) or settings.auth_users or settings.no_auth:
        return None
    # One line, as every start-up error: what is refused, why, and each way out.
    return (
        f"refusing to listen on {settings.host} without authentication (anyone who can reach it would see your "
        "broker's topology): create a user with 'python app.py --hash-password alice' (reads the password on "
        "stdin) and start with --auth-users 'alice:<the hash it prints>' (or VISUALISER_AUTH_USERS), or with "
        "--no-auth if something in front of it already authenticates"
    )


def no_auth_warning(settings: Settings) -> str | None:
    if settings.no_auth and not settings.auth_users and not is_loopback(settings.host):
        return (
            f"WARNING: listening on {settings.host} with NO AUTHENTICATION (--no-auth). Anyone who can reach "
            "this port can see every vhost, exchange, queue and binding on the broker."
        )
    return None


def hash_price(stored: str) -> str:
    """What checking a hash costs: its method and parameters, e.g. ``pbkdf2:sha256:600000``."""
    return stored.split("$", 1)[0]


def decoy_hashes(users: dict[str, str]) -> dict[str, str]:
    """{price: a hash of a random password at that price}, one per price among the users."""
    decoys: dict[str, str] = {}
    for user, stored in users.items():
        price = hash_price(stored)
        if price in decoys:
            continue
        salt_length = len(stored.split("$")[1]) or 16
        try:
            decoys[price] = generate_password_hash(secrets.token_urlsafe(16), method=price, salt_length=salt_length)
        except (ValueError, TypeError, MemoryError):
            raise ConfigError(
                f"auth_users: the hash for {user!r} uses a method or parameters this system cannot "
                "compute (make one with --hash-password USER)"
            ) from None
    return decoys


class Authenticator:
    """Checks basic-auth credentials against hashed secrets; every name costs the same.

    Each attempt runs one hash of each price among the configured users, in the same order:
    the user's own hash where the name is known, a decoy of the same price for the others.
    A decoy for an unknown name alone would cost one fixed price while a known name costs
    its own; running every user's hash would make each attempt cost as many hashes as there
    are users. With one price (every hash made by --hash-password), an attempt is one hash.
    """

    def __init__(self, users: dict[str, str]):
        self._users = users
        self._key = secrets.token_bytes(32)
        self._remembered: OrderedDict[bytes, None] = OrderedDict()
        self._lock = threading.Lock()
        self._hashing = threading.BoundedSemaphore(CONCURRENT_HASH_CHECKS)
        self._decoys = decoy_hashes(users)
        self._prices = sorted(self._decoys)

    def check(self, user: str, password: str) -> bool:
        token = hmac.new(self._key, f"{user}\0{password}".encode("utf-8", "surrogatepass"), hashlib.sha256).digest()
        with self._lock:
            if token in self._remembered:
                self._remembered.move_to_end(token)
                return True
        if not self._verify(user, password):
            return False
        with self._lock:
            self._remembered[token] = None
            while len(self._remembered) > REMEMBERED_LOGINS:
                self._remembered.popitem(last=False)
        return True

    def _verify(self, user: str, password: str) -> bool:
        own: str | None = None
        encoded = user.encode("utf-8", "surrogatepass")
        for name, hashed in self._users.items():  # no early exit: every name is compared
            if hmac.compare_digest(name.encode("utf-8", "surrogatepass"), encoded):
                own = hashed
        own_price = hash_price(own) if own is not None else None
        matches = False
        with self._hashing:
            for price in self._prices:  # the same prices, in the same order, for every name
                stored = own if own is not None and price == own_price else self._decoys[price]
                # werkzeug compares digests with hmac.compare_digest
                matched = check_password_hash(stored, password)
                if stored is own:
                    matches = matched
        return matches


def basic_credentials(header: str | None) -> tuple[str, str] | None:
    if not header or header[:6].lower() != "basic ":
        return None
    try:
        decoded = base64.b64decode(header[6:].strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
    user, sep, password = decoded.partition(":")
    return (user, password) if sep else None


def unauthorised(start_response: Callable[..., Any]) -> list[bytes]:
    body = json.dumps({"error": "authentication required", "status": 401}).encode()
    start_response(
        "401 UNAUTHORIZED",
        [
            ("Content-Type", "application/json"),
            ("Content-Length", str(len(body))),
            ("WWW-Authenticate", f'Basic realm="{REALM}", charset="UTF-8"'),
            ("X-Content-Type-Options", "nosniff"),
            ("Cache-Control", "no-store"),
        ],
    )
    return [body]


class BasicAuthMiddleware:
    """WSGI gate in front of Flask and the Socket.IO middleware alike."""

    def __init__(self, wrapped: WSGIApp, authenticator: Authenticator):
        self.wrapped, self.authenticator = wrapped, authenticator

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("PATH_INFO", "") in OPEN_PATHS:
            return self.wrapped(environ, start_response)
        credentials = basic_credentials(environ.get("HTTP_AUTHORIZATION"))
        if credentials is None or not self.authenticator.check(*credentials):
            if credentials is not None:
                # The name only, and repr'd so a hostile one cannot forge log lines.
                log.warning("rejected credentials for user %r from %s", credentials[0][:64], environ.get("REMOTE_ADDR"))
            return unauthorised(start_response)
        environ["REMOTE_USER"] = credentials[0]
        return self.wrapped(environ, start_response)


def install(app: Flask, settings: Settings) -> None:
    """Put the authentication gate in front of the whole app when users are configured."""
    users = parse_users(settings.auth_users)
    if users:
        app.wsgi_app = BasicAuthMiddleware(app.wsgi_app, Authenticator(users))  # type: ignore[method-assign]
