"""Command-line entry point: parse settings, build the service, serve it."""

from __future__ import annotations

import logging
import sys

from visualiser import create_app
from visualiser.config import ConfigError, load_settings
from visualiser.sources.definitions import DefinitionsError


def main(argv: list[str] | None = None) -> int:
    try:
        settings = load_settings(argv)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
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


if __name__ == "__main__":
    sys.exit(main())
