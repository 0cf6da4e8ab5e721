"""Command-line entry point: parse settings, build the service, serve it."""

from __future__ import annotations

import getpass
import logging
import sys

from visualiser import create_app
from visualiser.config import ConfigError, Settings, load_settings
from visualiser.server.auth import bind_problem, no_auth_warning, user_entry
from visualiser.sources.definitions import DefinitionsError


def main(argv: list[str] | None = None) -> int:
    try:
        settings = load_settings(argv)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if settings.extra.get("hash_password"):
        return print_user_entry(settings.extra["hash_password"])
    if not bind_allowed(settings):
        return 2
    logging.basicConfig(level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        service = create_app(settings)
    except (DefinitionsError, ConfigError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    logging.getLogger("visualiser").info("starting %r", settings)
    service.start()
    print(f"Routing visualiser ({settings.mode}) on http://{settings.host}:{settings.port}/", flush=True)
    service.socketio.run(
        service.app, host=settings.host, port=settings.port, allow_unsafe_werkzeug=True, log_output=False
    )
    service.stop()
    return 0


def read_password() -> str:
    if sys.stdin.isatty():
        return getpass.getpass("password: ")
    return sys.stdin.readline().rstrip("\r\n")


def print_user_entry(user: str) -> int:
    """--hash-password USER: a password on stdin in, a user:hash line for --auth-users out."""
    try:
        print(user_entry(user, read_password()))
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


def bind_allowed(settings: Settings) -> bool:
    problem = bind_problem(settings)
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        return False
    warning = no_auth_warning(settings)
    if warning:
        print("\n" + "!" * 78 + "\n" + warning + "\n" + "!" * 78 + "\n", file=sys.stderr, flush=True)
    return True


if __name__ == "__main__":
    sys.exit(main())
