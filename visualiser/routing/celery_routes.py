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
    """Import ``module:attribute`` the way ``celery -A`` does, from the working directory.

    Raises CeleryAppError with one line that names the option, what went wrong and the fix."""
    module_name, _, attribute = spec.partition(":")
    attribute = attribute or "app"
    if not module_name or not attribute.isidentifier():
        raise CeleryAppError(f"--celery-app {spec}: give it as module:attribute (e.g. proj.celery:app)")
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        raise CeleryAppError(_not_found(spec, module_name, exc)) from None
    except Exception as exc:  # noqa: BLE001 - user code can raise anything on import
        raise CeleryAppError(
            f"--celery-app {spec}: importing {module_name} failed ({_one_line(exc)}): "
            "fix that error in your project (python -c 'import "
            f"{module_name}' shows it in full)"
        ) from None
    app = getattr(module, attribute, None)
    if app is None:
        raise CeleryAppError(
            f"--celery-app {spec}: {module_name} has no attribute {attribute!r}: name your Celery "
            "app's variable after the colon"
        )
    if not hasattr(app, "amqp") or not hasattr(app, "tasks"):
        raise CeleryAppError(
            f"--celery-app {spec}: {module_name}.{attribute} is a {type(app).__name__}, not a "
            "Celery app: name your Celery app's variable after the colon"
        )
    try:
        app.loader.import_default_modules()  # the modules in `include` / `imports` register tasks
    except Exception as exc:  # noqa: BLE001
        log.warning("importing the Celery app's task modules failed: %s", type(exc).__name__)
    return app


def _not_found(spec: str, module_name: str, exc: ModuleNotFoundError) -> str:
    missing = exc.name or ""
    if missing and (module_name == missing or module_name.startswith(missing + ".")):
        return (
            f"--celery-app {spec}: cannot import {module_name} ({_one_line(exc)}): run from the directory "
            "that holds your Celery project or set PYTHONPATH"
        )
    return (
        f"--celery-app {spec}: importing {module_name} needs {missing or 'a module'} ({_one_line(exc)}): "
        "install your project's requirements in this Python environment"
    )


def _one_line(exc: BaseException, limit: int = 300) -> str:
    """An exception as one short line (multi-line messages folded); its type unless it is an
    import error, whose message says what it is."""
    text = " ".join(str(exc).split())
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    return text if isinstance(exc, ImportError) else f"{type(exc).__name__}: {text}"


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
    return {
        k: v for k, v in options.items() if v is not None and k in ("queue", "exchange", "routing_key", "exchange_type")
    }


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
    elif exchange is None and queue is not None:
        exchange = _name(queue.exchange) or app.conf.task_default_exchange
        routing_key = routing_key or queue.routing_key or app.conf.task_default_routing_key
    result.exchange, result.exchange_type = _name(exchange), exchange_type
    result.routing_key = routing_key if isinstance(routing_key, str) else _name(routing_key)


@dataclass
class UnusedExchange:
    """An exchange the app declares (for a queue in task_queues) that no task is published through."""

    exchange: str
    type: str
    queues: list[str]
    note: str

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


def unused_exchanges(app: Any, routes: list[TaskRoute]) -> list[UnusedExchange]:
    """Exchanges Celery declares with its queues (task_queues, or the default queue) that none of
    the app's task routes publishes through. The usual case: a direct queue is sent to through
    the default exchange, keyed by its name, so the exchange declared with it only holds an
    unused binding."""
    published = {route.exchange for route in routes if route.exchange is not None}
    declared: dict[str, UnusedExchange] = {}
    for queue in app.amqp.queues.values():
        exchange = getattr(queue, "exchange", None)
        name = _name(exchange)
        if not name or name in published:
            continue
        entry = declared.setdefault(name, UnusedExchange(name, str(getattr(exchange, "type", "direct")), [], ""))
        entry.queues.append(str(queue.name))
    by_default_exchange = {route.queue for route in routes if route.exchange == ""}
    for entry in declared.values():
        entry.queues.sort()
        queues = ", ".join(f"'{q}'" for q in entry.queues)
        head = f"Celery declares exchange '{entry.exchange}' with queue(s) {queues} but publishes no task through it"
        if set(entry.queues) <= by_default_exchange:
            entry.note = (
                f"{head}: tasks for a direct queue go through the default exchange, keyed by the queue's "
                "name, so the binding to this exchange is never used"
            )
        else:
            entry.note = f"{head}: no task route sends to it"
    return sorted(declared.values(), key=lambda e: e.exchange)


def broker_vhost(app: Any) -> str | None:
    """The vhost of the app's broker URL (never the URL itself: it holds credentials)."""
    from kombu.utils.url import url_to_parts

    from ..urls import split_urls

    url = app.conf.broker_url
    if isinstance(url, (list, tuple)) and url:
        url = url[0]
    if not isinstance(url, str) or "://" not in url:
        return None
    try:
        # The first URL of a failover list: the rest of the text would carry its passwords.
        return url_to_parts(split_urls(url)[0]).path or "/"
    except Exception:  # noqa: BLE001 - a malformed URL just means 'unknown'
        return None
