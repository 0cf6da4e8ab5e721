"""``celery -A proj visualiser [options]``: the service started from the user's own Celery project.

Registered in Celery's ``celery.commands`` entry-point group (pyproject.toml), as Flower is:
Celery's command line loads the app named with ``-A`` and hands it over. From it the service
takes what would otherwise be flags:

- ``--broker-url``: the app's broker URL (its read URL when it has one), failover list and all;
- ``--celery-app``: the app itself, so that the Route tab knows its tasks, routes and queues;
- ``--management-url``: the management API on the broker's first host, port 15672 (15671 for
  ``amqps``), with the broker URL's user and password, or guest/guest when it has none (as
  AMQP does).

Each is only a default: the same option after ``visualiser``, its ``VISUALISER_*`` variable or
the config file wins. Every other option is the command's own (``celery -A proj visualiser
--help``), and nothing of a password is ever printed.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable
from typing import Any
from urllib.parse import SplitResult

import click
from celery.bin.base import CeleryCommand

from .cli import fail, main
from .urls import UrlError, parse_url, split_urls

PROG = "celery visualiser"
AMQP_SCHEMES = {"amqp": ("http", 15672), "pyamqp": ("http", 15672), "amqps": ("https", 15671)}
GUEST = "guest:guest"


class BrokerError(ValueError):
    """The app's broker is not one the service can read; the message names the fix."""


@click.command(cls=CeleryCommand, context_settings={"ignore_unknown_options": True, "help_option_names": []})
@click.argument("argv", nargs=-1, type=click.UNPROCESSED)
@click.pass_context
def visualiser(ctx: click.Context, argv: tuple[str, ...]) -> None:
    """Live routing visualiser for RabbitMQ and Celery, fed by this app (see: visualiser --help)."""
    app = ctx.obj.app
    try:
        defaults = defaults_from(app)
    except BrokerError as exc:
        if (
            not any(arg.split("=", 1)[0] == "--broker-url" for arg in argv)
            and "VISUALISER_BROKER_URL" not in os.environ
        ):
            ctx.exit(fail(str(exc)))
        defaults = {"celery_app": app_label(app)}  # the RabbitMQ to read is given explicitly
    import_task_modules(app)
    ctx.exit(main(list(argv), prog=PROG, defaults=defaults, celery_app=app))


def import_task_modules(app: Any) -> None:
    """The modules the app names in ``include``/``imports``, where its tasks register (a worker
    imports them at start-up; ``celery -A`` alone does not): the Route tab lists those tasks."""
    try:
        app.loader.import_default_modules()
    except Exception as exc:  # noqa: BLE001 - user code can raise anything on import
        print(
            f"warning: importing the Celery app's task modules failed ({type(exc).__name__}: {exc}); "
            "the Route tab lists only the tasks registered so far",
            file=sys.stderr,
            flush=True,
        )


def defaults_from(app: Any) -> dict[str, str]:
    """Settings read from the Celery app, for the layer below every other."""
    broker = broker_url_of(app)
    return {"broker_url": broker, "management_url": management_url_for(broker), "celery_app": app_label(app)}


def broker_url_of(app: Any) -> str:
    """The URL Celery reads from, as one kombu failover list; the URL of Celery's default when
    the app names none."""
    configured = app.conf.broker_read_url or app.conf.broker_url
    if not configured:
        return str(app.connection_for_read().as_uri(include_password=True))
    if isinstance(configured, str):
        return configured
    return ";".join(str(url) for url in _as_list(configured))


def _as_list(value: Any) -> Iterable[Any]:
    return value if isinstance(value, (list, tuple)) else [value]


def management_url_for(broker_url: str) -> str:
    """The management API beside the broker: its first host, the management port, its credentials."""
    first = split_urls(broker_url)[0]
    try:
        parts = parse_url(first)
    except UrlError as exc:
        raise BrokerError(f"the Celery app's broker URL {exc}") from None
    scheme = parts.scheme.lower()
    if scheme not in AMQP_SCHEMES:
        raise BrokerError(
            f"the Celery app's broker is {scheme}://, not RabbitMQ: the visualiser reads a RabbitMQ "
            "broker (amqp:// or amqps://); give its --broker-url and --management-url"
        )
    web_scheme, port = AMQP_SCHEMES[scheme]
    return f"{web_scheme}://{_user_info(parts)}@{_host(parts)}:{port}"


def _user_info(parts: SplitResult) -> str:
    """user:password as written in the broker URL (percent-encoded as it is there)."""
    if "@" not in parts.netloc:
        return GUEST
    user_info = parts.netloc.rsplit("@", 1)[0]
    return user_info if ":" in user_info else f"{user_info}:"


def _host(parts: SplitResult) -> str:
    host = parts.hostname or "localhost"
    return f"[{host}]" if ":" in host else host


def app_label(app: Any) -> str:
    """What --celery-app reads as when the app came from ``celery -A``."""
    return f"{getattr(app, 'main', None) or 'celery'} (celery -A)"
