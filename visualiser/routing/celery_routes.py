"""Where Celery would send a task: the user's app asked through Celery's own router.

``--celery-app module:attribute`` names the user's app, imported from the working
directory. For a task name we do what ``app.send_task`` / ``Task.apply_async`` do before
publishing: the task's own options (``@task(queue=...)``) as defaults, then
``app.amqp.router.route`` (task_routes as dict, glob, regex, router functions and classes;
task_queues; task_default_queue), then the exchange and routing-key choice of
``send_task_message`` (a direct queue with no explicit exchange goes through the default
exchange, keyed by the queue's name). Only then does the simulator take over.
"""

from __future__ import annotations

import importlib
import logging
import os
import sys
from dataclasses import asdict, dataclass
from typing import Any

log = logging.getLogger(__name__)

BUILTIN_PREFIX = "celery."


class CeleryAppError(RuntimeError):
    """The configured app could not be imported or is not a Celery app."""


@dataclass
class TaskRoute:
    task: str
    registered: bool
    queue: str | None = None  # the queue Celery names (and declares when it sends)
    exchange: str | None = None  # where the message is published
    exchange_type: str | None = None
    routing_key: str | None = None
    error: str | None = None

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


def load_app(spec: str) -> Any:
    """Import ``module:attribute`` the way ``celery -A`` does, from the working directory."""
    module_name, _, attribute = spec.partition(":")
    if not module_name:
        raise CeleryAppError("--celery-app must look like module:attribute")
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        module = importlib.import_module(module_name)
        app = getattr(module, attribute or "app")
    except Exception as exc:  # noqa: BLE001 - user code can raise anything on import
        raise CeleryAppError(f"could not load the Celery app {spec!r}: {type(exc).__name__}: {exc}") from None
    if not hasattr(app, "amqp") or not hasattr(app, "tasks"):
        raise CeleryAppError(f"{spec!r} is not a Celery app")
    try:
        app.loader.import_default_modules()  # the modules in `include` / `imports` register tasks
    except Exception as exc:  # noqa: BLE001
        log.warning("importing the Celery app's task modules failed: %s", type(exc).__name__)
    return app


def task_names(app: Any) -> list[str]:
    return sorted(name for name in app.tasks if not name.startswith(BUILTIN_PREFIX))


def resolve(app: Any, name: str) -> TaskRoute:
    task = app.tasks.get(name)
    result = TaskRoute(name, registered=task is not None)
    try:
        options = app.amqp.router.route(_task_options(task), name, (), {}, task)
        _publish_target(app, options, result)
    except Exception as exc:  # noqa: BLE001 - router functions are user code
        result.error = f"{type(exc).__name__}: {exc}"
    return result


def _task_options(task: Any) -> dict[str, Any]:
    """@task(queue=..., exchange=..., routing_key=...): defaults under task_routes, as in send_task."""
    get_options = getattr(task, "_get_exec_options", None)
    options = get_options() if callable(get_options) else {}
    return {k: v for k, v in options.items() if v is not None and k in ("queue", "exchange", "routing_key",
                                                                          "exchange_type")}


def _name(thing: Any) -> str | None:
    return None if thing is None else str(getattr(thing, "name", thing))


def _publish_target(app: Any, options: dict[str, Any], result: TaskRoute) -> None:
    """The exchange and routing key send_task_message publishes with (celery/app/amqp.py)."""
    queue, exchange = options.get("queue"), options.get("exchange")
    routing_key, exchange_type = options.get("routing_key"), options.get("exchange_type")
    if queue is None and exchange is None:
        queue = app.amqp.default_queue
    if isinstance(queue, str):
        queue = app.amqp.queues[queue]
    result.queue = _name(queue)
    if exchange_type is None:
        exchange_type = getattr(getattr(queue, "exchange", None), "type", None) or "direct"
    if (not exchange or not routing_key) and exchange_type == "direct":
        exchange, routing_key = "", result.queue
    elif exchange is None:
        exchange = _name(queue.exchange) or app.conf.task_default_exchange
        routing_key = routing_key or queue.routing_key or app.conf.task_default_routing_key
    result.exchange, result.exchange_type = _name(exchange), exchange_type
    result.routing_key = routing_key if isinstance(routing_key, str) else _name(routing_key)


def broker_vhost(app: Any) -> str | None:
    """The vhost of the app's broker URL (never the URL itself: it holds credentials)."""
    from kombu.utils.url import url_to_parts

    url = app.conf.broker_url
    if not isinstance(url, str) or "://" not in url:
        return None
    try:
        return url_to_parts(url).path or "/"
    except Exception:  # noqa: BLE001 - a malformed URL just means 'unknown'
        return None
