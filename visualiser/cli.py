"""The command line: settings in, the service built, served until SIGTERM, stopped cleanly.

``rabbitmq-visualiser`` (the installed command), ``python app.py`` (a checkout) and
``celery -A proj visualiser`` (``visualiser.celery_command``) all run ``main``.
"""

from __future__ import annotations

import getpass
import logging
import os
import signal
import socket
import sys
import threading
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any

from . import Service, create_app, service_of
from .config import ConfigError, Settings, load_settings
from .recording.export import run_export
from .recording.paths import with_default_path
from .routing.celery_routes import CeleryAppError, load_app
from .server.auth import bind_problem, no_auth_warning, user_entry
from .server.backpressure import abort_transport
from .server.serving import Limits, ListenError, listen, serve
from .sources.definitions import DefinitionsError

PROG = "rabbitmq-visualiser"
log = logging.getLogger("visualiser")


def run() -> None:
    """The console command's entry point."""
    sys.exit(main())


def main(
    argv: list[str] | None = None,
    *,
    prog: str = PROG,
    defaults: Mapping[str, Any] | None = None,
    celery_app: Any = None,
) -> int:
    """Every start-up error is one line on stderr and exit code 2, printed before anything else
    (the no-authentication warning, the address banner) and before any source starts.

    ``defaults`` and ``celery_app`` come from ``celery -A proj visualiser``: settings read from
    the user's Celery app (below every other layer) and the app itself, for the task routes."""
    try:
        settings = load_settings(argv, prog=prog, defaults=defaults)
    except ConfigError as exc:
        return fail(str(exc))
    if settings.extra.get("hash_password"):
        return print_user_entry(settings.extra["hash_password"])
    settings = with_default_path(settings)  # always-on recording unless --no-record (docs/recording.md)
    if settings.extra.get("export"):
        return export_recording(settings, settings.extra["export"])
    problem = bind_problem(settings)
    if problem:
        return fail(problem)
    if celery_app is not None and settings.celery_app == (defaults or {}).get("celery_app"):
        # The app from `celery -A`, unless --celery-app named another one.
        settings = replace(settings, extra={**settings.extra, "celery_app": celery_app})
    elif settings.celery_app:
        try:
            load_app(settings.celery_app)  # route_api imports it again from the module cache
        except CeleryAppError as exc:
            return fail(str(exc))
    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        listener = listen(settings.host, settings.port)  # first: a port in use is named before anything is opened
    except ListenError as exc:
        return fail(str(exc))
    try:
        service = service_of(create_app(settings))
    except (DefinitionsError, ConfigError, ValueError, OSError) as exc:
        listener.close()
        return fail(" ".join(str(exc).split()))
    warn_without_auth(settings)
    log.info("starting %r", settings)
    lifecycle = Lifecycle.of(service)
    lifecycle.start()
    port = listener.getsockname()[1]  # the one chosen when --port 0 asked for any free port
    print(f"Routing visualiser ({settings.mode}) on http://{settings.host}:{port}/", flush=True)
    serve(
        service.app,
        settings.host,
        port,
        Limits.from_settings(settings),
        listener,
        access_log=None if settings.access_log.lower() == "off" else settings.access_log,
        on_stop=lifecycle.stop_hooks(),
    )
    log.info("stopped")
    return lifecycle.exit_code()


class Lifecycle:
    """Starting and stopping the service: alone, or as one process of several (--message-queue),
    where only the elected one runs the sources."""

    def __init__(self, service: Service, cluster: Any = None):
        self.service, self.cluster = service, cluster

    @classmethod
    def of(cls, service: Service) -> Lifecycle:
        if not service.settings.message_queue:
            return cls(service)
        from .cluster import Cluster

        # Leading without the message queue, this process cannot be sure it is the only one
        # reading: it stops, as SIGTERM would (its service manager starts it again, following).
        return cls(
            service,
            Cluster(service.settings.message_queue, service, on_lost=lambda: os.kill(os.getpid(), signal.SIGTERM)),
        )

    def start(self) -> None:
        if self.cluster is not None:
            self.cluster.start()
        else:
            self.service.start()

    def stop_hooks(self) -> list[Callable[[], None]]:
        """What SIGTERM runs, in order: pages told to go (they reconnect, to another process when
        there is one), then the sources stopped (tracing put back as found, Celery's event queues
        deleted), and, in a cluster, the leadership released."""
        return [
            lambda: disconnect_clients(self.service),
            self.cluster.stop if self.cluster is not None else self.service.stop,
        ]

    def exit_code(self) -> int:
        return self.cluster.exit_code if self.cluster is not None else 0


CLOSE_SECONDS = 5.0  # how long stopping waits for the pages' close frames to go out


def disconnect_clients(service: Service, timeout: float = CLOSE_SECONDS) -> None:
    """Every page told to go (a close frame), then a bounded wait for those frames to be sent.
    Engine.IO's own ``disconnect`` waits for each connection's queue without end, and a queue
    whose writer ended first (its client gone at that very moment) never empties."""
    eio = service.socketio.server.eio
    sockets = list(eio.sockets.values())
    for sock in sockets:
        sock.close(wait=False, reason=eio.reason.SERVER_DISCONNECT)
    eio.sockets = {}
    waiter = threading.Thread(target=lambda: [sock.queue.join() for sock in sockets], name="close-pages", daemon=True)
    waiter.start()
    waiter.join(timeout)
    if waiter.is_alive():
        log.info("stopping without waiting longer for every page's close frame")
    # Then each connection cut: a client that never closes its side would otherwise keep its
    # websocket's reader waiting for good, and with it the thread serving it and the process.
    for sock in sockets:
        transport = getattr(sock.queue, "transport", None)
        if isinstance(transport, socket.socket):
            abort_transport(transport)


def fail(message: str) -> int:
    print(f"error: {message}", file=sys.stderr, flush=True)
    return 2


def export_recording(settings: Settings, arguments: tuple[str, str, str]) -> int:
    """--export FROM TO OUT: a window of the recording into a file of its own, for --replay."""
    try:
        print(run_export(settings, arguments).text())
    except (LookupError, ValueError) as exc:  # RecordingError and OutsideWindow say what is wrong in one line
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


def read_password() -> str:
    """Typed at a terminal, or the first line of standard input read as UTF-8 whatever the
    locale: browsers send passwords as UTF-8, so that is what gets hashed."""
    if sys.stdin.isatty():
        return getpass.getpass("password: ")
    return sys.stdin.buffer.readline().decode("utf-8").rstrip("\r\n")


def print_user_entry(user: str) -> int:
    """--hash-password USER: a password on stdin in, a user:hash line for --auth-users out."""
    try:
        print(user_entry(user, read_password()))
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except UnicodeDecodeError:  # nothing of the password is shown, not even the offending byte
        print("error: the password is not valid UTF-8; give it as UTF-8 text (browsers send it so)", file=sys.stderr)
        return 2
    return 0


def warn_without_auth(settings: Settings) -> None:
    warning = no_auth_warning(settings)
    if warning:
        print("\n" + "!" * 78 + "\n" + warning + "\n" + "!" * 78 + "\n", file=sys.stderr, flush=True)
