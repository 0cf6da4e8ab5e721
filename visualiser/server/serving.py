"""Serving the app over HTTP and websocket: gunicorn's threaded worker, bounded, in this process.

Why gunicorn's ``gthread`` worker: Flask-SocketIO's threading mode (which the hub, kombu and
requests need: they block) is served with real websockets by Werkzeug's development server
or by gunicorn's threaded worker with simple-websocket, and only the latter is a production
server: a hardened HTTP/1.1 parser with request-line and header limits, keep-alive, an
access log and graceful shutdown. Flask-SocketIO serves one worker process only (a Socket.IO
session lives in one process's memory), and the service's threads (the hub, the sources) must
live in the process that serves, so gunicorn's arbiter, which forks workers, adds nothing:
the worker runs here, in the service's own process, configured through gunicorn's
``BaseApplication``. Restarting a process that dies is the service manager's job (systemd).

gunicorn's worker alone hands each connection to a pool thread that reads the request
headers with no deadline, so a few hundred connections that never finish their headers
would take every thread (and, unbounded, every file descriptor). ``BoundedThreadWorker``
keeps the protections this service has always had:

- **Header deadline**: the request line and headers must be complete within
  ``header_timeout`` seconds of the connection's arrival (or of its last response, on a
  kept-alive connection), however slowly they trickle in; a reaper cuts connections that
  miss it.
- **Read timeout**: each later read or write of a plain HTTP request (body, response) gives
  up after ``read_timeout`` seconds. A websocket's socket is left blocking: its liveness is
  Engine.IO's ping/pong, and simple-websocket's ``send`` is not safe on a socket with a
  timeout (it could write part of a frame).
- **Connection cap**: at most ``max_connections`` at once (and never more than the process's
  file-descriptor limit leaves room for), each with a thread of its own. At the cap a new
  connection takes the place of the oldest one still waiting for its headers, so idle
  connections cannot lock out a real request; when every connection is busy, the newcomer
  gets a 503.

The access log never carries credentials: no query string, no header, no user name
(``CredentialFreeLogger``). SIGTERM and SIGINT stop gracefully: no new connection is taken,
the ``on_stop`` hooks run (the service stops its sources and puts tracing back as it found
it, Socket.IO clients are told to go), and requests in flight get ``GRACEFUL_SECONDS`` to end.

Everything lives in this module: moving to another server means replacing ``ProductionServer``.
``ServingSocketIO`` routes Flask-SocketIO's ``run`` here, so ``socketio.run(app, ...)`` serves
through the same server.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import math
import os
import resource
import select
import signal
import socket
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from flask_socketio import SocketIO
from gunicorn.app.base import BaseApplication
from gunicorn.glogging import Logger as GunicornLogger
from gunicorn.sock import create_sockets
from gunicorn.workers.gthread import TConn, ThreadWorker

from ..config import Settings

log = logging.getLogger(__name__)

# File descriptors kept out of the connection budget: logs, the broker's connections,
# the listening socket, pipes, and the short-lived socket of a connection being refused.
FD_RESERVE = 64
REAP_EVERY = 0.5  # seconds between two sweeps for connections past their header deadline
LISTEN_QUEUE = 128
GRACEFUL_SECONDS = 10.0  # after the stop hooks, what requests in flight get to finish
REFUSAL = (
    b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\nContent-Length: 40\r\n"
    b"Connection: close\r\n\r\ntoo many connections, try again shortly\n"
)
# Combined log format, less what could carry a credential: the query string (tokens in
# URLs), the user name and every header but the user agent; the referrer without its query.
ACCESS_LOG_FORMAT = '%(h)s - - %(t)s "%(r)s" %(s)s %(b)s "%(f)s" "%(a)s" %(L)s'
ACCESS_ATOMS = ("h", "t", "s", "b", "B", "a", "m", "U", "H", "T", "D", "M", "L", "p")


@dataclass(frozen=True)
class Limits:
    """The three bounds; the defaults are the settings' (--header-timeout, --read-timeout, --max-connections)."""

    header_timeout: float = Settings.header_timeout
    read_timeout: float = Settings.read_timeout
    max_connections: int = Settings.max_connections

    @classmethod
    def from_settings(cls, settings: Settings | None) -> Limits:
        if settings is None:
            return cls()
        return cls(settings.header_timeout, settings.read_timeout, settings.max_connections)


def connection_budget(wanted: int) -> int:
    """The cap, lowered if the process may not open that many files besides its own."""
    soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return max(1, wanted)
    return max(1, min(wanted, soft - FD_RESERVE))


class ConnectionTable:
    """Connections being served; those waiting for their headers, oldest first, with deadlines."""

    def __init__(self, cap: int, header_timeout: float):
        self.cap, self.header_timeout = cap, header_timeout
        self._open: set[socket.socket] = set()
        self._reading: OrderedDict[socket.socket, float] = OrderedDict()  # sock -> header deadline
        self._lock = threading.Lock()

    def admit(self, sock: socket.socket) -> bool:
        """Room for one more? At the cap, evict the oldest connection still waiting for headers."""
        with self._lock:
            evicted = None
            if len(self._open) >= self.cap:
                if not self._reading:
                    return False
                evicted, _ = self._reading.popitem(last=False)
                self._open.discard(evicted)  # its thread ends as soon as its read fails
            self._open.add(sock)
            self._reading[sock] = time.monotonic() + self.header_timeout
        if evicted is not None:
            _cut(evicted)
        return True

    def awaiting_request(self, sock: socket.socket) -> None:
        """A kept-alive connection, answered, now waits for its next request's headers."""
        with self._lock:
            if sock in self._open:
                self._reading[sock] = time.monotonic() + self.header_timeout

    def headers_done(self, sock: socket.socket) -> bool:
        """False if the connection was cut (evicted or late) while its headers came in."""
        with self._lock:
            return self._reading.pop(sock, None) is not None

    def release(self, sock: socket.socket) -> None:
        with self._lock:
            self._open.discard(sock)
            self._reading.pop(sock, None)

    def reap(self) -> int:
        """Cut connections past their header deadline; how many."""
        now = time.monotonic()
        with self._lock:
            late = [sock for sock, deadline in self._reading.items() if deadline <= now]
            for sock in late:
                del self._reading[sock]
                self._open.discard(sock)
        for sock in late:
            _cut(sock)
        return len(late)

    def counts(self) -> tuple[int, int]:
        """(open, waiting for headers)."""
        with self._lock:
            return len(self._open), len(self._reading)


def _cut(sock: socket.socket) -> None:
    """Shut a connection both ways: its handler thread's blocked read returns at once, and a
    connection idle in the worker's poller becomes readable (at EOF) and is closed there."""
    with contextlib.suppress(OSError):  # already closed
        sock.shutdown(socket.SHUT_RDWR)


def _refuse(sock: socket.socket) -> None:
    """A short 503 for a connection beyond the cap, without ever blocking the accept loop."""
    try:
        sock.setblocking(False)
        sock.send(REFUSAL)
    except OSError:
        pass
    finally:
        sock.close()


class CredentialFreeLogger(GunicornLogger):
    """gunicorn's logger whose access log holds nothing that can carry a credential, whatever
    the format asks for: the request line and referrer lose their query strings, and no
    header, environment variable or user name is offered to the format. Error messages go
    to the service's own logging, in its format."""

    def setup(self, cfg: Any) -> None:
        super().setup(cfg)
        for handler in list(self.error_log.handlers):
            self.error_log.removeHandler(handler)
        self.error_log.propagate = True

    def atoms(self, resp: Any, req: Any, environ: dict[str, Any], request_time: Any) -> dict[str, Any]:
        everything = super().atoms(resp, req, environ, request_time)
        atoms = {key: everything.get(key, "-") for key in ACCESS_ATOMS}
        atoms["s"] = atoms["s"] if atoms["s"] not in (None, "None") else "-"  # a websocket: no HTTP status
        atoms["r"] = (
            f"{environ.get('REQUEST_METHOD', '-')} {environ.get('PATH_INFO', '-')} "
            f"{environ.get('SERVER_PROTOCOL', '-')}"
        )
        atoms["f"] = without_query(environ.get("HTTP_REFERER", "-"))
        atoms.update(u="-", l="-", q="-")
        return atoms


def without_query(url: str) -> str:
    """A URL as far as its path: no query string, no fragment, no user information."""
    url = url.split("?", 1)[0].split("#", 1)[0]
    scheme, sep, rest = url.partition("://")
    if sep and "@" in rest.split("/", 1)[0]:
        rest = rest.split("@", 1)[1]
    return f"{scheme}{sep}{rest}"


class TrackedConn(TConn):
    """A gunicorn connection that leaves the connection table when it is closed, however it ends,
    and waits for its first bytes without a file descriptor of its own."""

    table: ConnectionTable
    data_ready: bool

    def close(self, graceful: bool = False) -> None:
        self.table.release(self.sock)
        super().close(graceful)

    def wait_for_data(self, timeout: float) -> bool:
        # gunicorn waits with a selector object, an epoll descriptor per waiting connection:
        # twice the descriptors the connection budget counts. poll() needs none.
        if self.data_ready:
            return True
        poller = select.poll()
        try:
            poller.register(self.sock, select.POLLIN)
            ready = bool(poller.poll(timeout * 1000))
        except (OSError, ValueError):  # closed meanwhile
            return False
        self.data_ready = ready
        return ready


class BoundedThreadWorker(ThreadWorker):
    """gunicorn's threaded worker with a header deadline and a connection cap (see the module doc),
    run in the calling process by ``ProductionServer`` rather than forked by gunicorn's arbiter."""

    limits: Limits
    table: ConnectionTable
    stop_hooks: Sequence[Callable[[], None]] = ()

    def init_process(self) -> None:
        self._stopping = threading.Event()
        self._stopper: threading.Thread | None = None
        threading.Thread(target=self._reap, name="http-reaper", daemon=True).start()
        super().init_process()

    def _reap(self) -> None:
        while not self._stopping.wait(REAP_EVERY):
            self.table.reap()

    # ---- in-process running: no arbiter, no forking, signals only in the main thread ----------
    def init_signals(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return  # served from a thread (tests, benchmarks): whoever started it stops it
        signal.signal(signal.SIGTERM, self.handle_exit)
        signal.signal(signal.SIGINT, self.handle_exit)
        signal.signal(signal.SIGUSR1, self.handle_usr1)  # reopen log files (logrotate)
        signal.siginterrupt(signal.SIGTERM, False)
        signal.siginterrupt(signal.SIGUSR1, False)

    def is_parent_alive(self) -> bool:
        return True  # no arbiter to outlive: a service started from a shell outlives the shell

    def notify(self) -> None:
        pass  # no arbiter watching for a heartbeat

    def handle_exit(self, sig: Any = None, frame: Any = None) -> None:
        """Stop: take no new connection, run the stop hooks (off the signal handler), let the
        requests in flight finish."""
        if self._stopper is not None:
            return
        self._stopper = threading.Thread(target=self._run_stop_hooks, name="server-stop")
        self._stopper.start()
        super().handle_exit(sig, frame)

    def _run_stop_hooks(self) -> None:
        for hook in self.stop_hooks:
            try:
                hook()
            except Exception:  # noqa: BLE001 - every hook gets its turn
                log.exception("stopping: %s failed", getattr(hook, "__qualname__", hook))

    def wait_stopped(self) -> None:
        self._stopping.set()
        if self._stopper is not None:
            self._stopper.join()

    # ---- the bounds ------------------------------------------------------------------------------
    def accept(self, listener: Any) -> None:
        try:
            client, address = listener.accept()
        except OSError as exc:
            if exc.errno in (errno.EMFILE, errno.ENFILE):
                self._out_of_files()
                return
            if exc.errno not in (errno.EAGAIN, errno.ECONNABORTED, errno.EWOULDBLOCK):
                raise
            return
        if not self.table.admit(client):
            _refuse(client)
            return
        self.nr_conns += 1
        client.setblocking(True)
        conn = TrackedConn(self.cfg, client, address, listener.getsockname())
        conn.table = self.table
        self.enqueue_req(conn)

    def _out_of_files(self) -> None:
        """The process ran out of descriptors (the cap leaves room for them, but other parts of the
        process use some too): the connection waits in the listen queue until one is freed."""
        now = time.monotonic()
        if now >= getattr(self, "_files_warned", 0.0):
            self._files_warned = now + 10.0
            log.warning(
                "out of file descriptors: new connections wait; lower --max-connections or raise "
                "the open-file limit (ulimit -n, LimitNOFILE=)"
            )
        time.sleep(0.1)  # instead of spinning on a listener that stays readable

    def handle_request(self, req: Any, conn: Any) -> bool:
        if not self.table.headers_done(conn.sock):
            # Cut mid-headers (evicted, or past the deadline): what was read so far ended at
            # EOF and may parse as a complete request. It is not one.
            return False
        websocket = any(name == "UPGRADE" and value.strip().lower() == "websocket" for name, value in req.headers)
        conn.sock.settimeout(None if websocket else self.limits.read_timeout)
        return bool(super().handle_request(req, conn))

    def finish_request(self, conn: Any, fs: Any) -> None:
        super().finish_request(conn, fs)
        if conn in self.keepalived_conns:  # answered and kept alive: its next headers are due in time
            self.table.awaiting_request(conn.sock)


class _Configuration(BaseApplication):
    """gunicorn's configuration for the one app served here (``load`` returns it as it is)."""

    def __init__(self, app: Any, options: dict[str, Any]):
        self._app, self._options = app, options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self._options.items():
            self.cfg.set(key, value)

    def load(self) -> Any:
        return self._app


class ProductionServer:
    """The app served by ``BoundedThreadWorker`` on a listening socket: ``serve_forever()`` runs it
    until SIGTERM/SIGINT (in the main thread) or ``shutdown()`` (from any thread)."""

    def __init__(
        self,
        app: Any,
        listener: socket.socket,
        limits: Limits,
        access_log: str | None = None,
        log_level: str = "INFO",
        on_stop: Sequence[Callable[[], None]] = (),
    ):
        self.limits = limits
        cap = connection_budget(limits.max_connections)
        options = {
            "threads": cap,  # a thread for every connection admitted: none waits behind another
            # Above the cap: the worker must keep accepting at the cap, for the table to evict or refuse.
            "worker_connections": cap + FD_RESERVE,
            # An idle kept-alive connection is reaped by the header deadline; this is gunicorn's own bound.
            "keepalive": math.ceil(limits.header_timeout),
            "graceful_timeout": math.ceil(GRACEFUL_SECONDS),
            "accesslog": access_log,
            "access_log_format": ACCESS_LOG_FORMAT,
            "loglevel": log_level.lower(),
            "errorlog": "-",
            "proc_name": "rabbitmq-visualiser",
        }
        configuration = _Configuration(app, options)
        cfg = configuration.cfg
        self.logger = CredentialFreeLogger(cfg)
        sockets = create_sockets(cfg, self.logger, fds=[listener.detach()])  # gunicorn's from now on
        self.port: int = sockets[0].getsockname()[1]
        self.table = ConnectionTable(cap, limits.header_timeout)
        self.worker = BoundedThreadWorker(1, os.getppid(), sockets, configuration, cfg.timeout, cfg, self.logger)
        self.worker.limits, self.worker.table, self.worker.stop_hooks = limits, self.table, list(on_stop)
        self._lock = threading.Lock()
        self._running = self._stop_asked = False
        cfg.set("post_worker_init", self._running_now)

    def _running_now(self, worker: BoundedThreadWorker) -> None:
        """gunicorn's hook, once the worker is ready to run: from here on it can be told to stop."""
        with self._lock:
            self._running = True
            stop = self._stop_asked
        if stop:
            worker.handle_exit()

    def serve_forever(self) -> None:
        log.info(
            "serving on port %s: at most %d connections, %gs for headers, %gs per read",
            self.port,
            self.table.cap,
            self.limits.header_timeout,
            self.limits.read_timeout,
        )
        self.worker.init_process()  # returns once stopped and the requests in flight are done
        self.worker.wait_stopped()

    def shutdown(self) -> None:
        """Stop as SIGTERM does; returns at once (``serve_forever`` returns when it is done)."""
        with self._lock:
            self._stop_asked = True
            running = self._running
        if running:
            self.worker.handle_exit()


def make_server(
    app: Any,
    host: str,
    port: int,
    limits: Limits | None = None,
    listener: socket.socket | None = None,
    access_log: str | None = None,
    on_stop: Sequence[Callable[[], None]] = (),
) -> ProductionServer:
    """The production server, bound and listening; ``serve_forever()`` runs it, ``shutdown()`` stops it.
    ``listener``: a socket already listening on host:port (see ``listen``); the server takes it over."""
    settings = getattr(app, "config", {}).get("VISUALISER_SETTINGS")
    if limits is None:
        limits = Limits.from_settings(settings)
    log_level = settings.log_level if isinstance(settings, Settings) else "INFO"
    return ProductionServer(app, listener or listen(host, port), limits, access_log, log_level, on_stop)


def serve(
    app: Any,
    host: str,
    port: int,
    limits: Limits | None = None,
    listener: socket.socket | None = None,
    access_log: str | None = None,
    on_stop: Sequence[Callable[[], None]] = (),
) -> None:
    """Serve until SIGTERM or SIGINT, then run ``on_stop`` and return."""
    make_server(app, host, port, limits, listener, access_log, on_stop).serve_forever()


class ListenError(OSError):
    """The service cannot listen where it was asked to; the message names the option to change."""


def listen(host: str, port: int) -> socket.socket:
    """A socket listening on host:port as the server would open it, or a ListenError that says
    which option to change. Opened before anything is printed or started, so that a port in use
    is the one line the operator sees."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        address = socket.getaddrinfo(host, port, family, socket.SOCK_STREAM, socket.IPPROTO_TCP, socket.AI_PASSIVE)[0][
            4
        ]
    except (socket.gaierror, UnicodeError) as exc:
        reason = exc.strerror if isinstance(exc, socket.gaierror) else "not a host name"
        raise ListenError(
            f"--host {host}: cannot listen there ({reason}): give an address of this machine, e.g. 127.0.0.1"
        ) from None
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as gunicorn does: restarts rebind at once
        sock.bind(address)
        sock.listen(LISTEN_QUEUE)
    except OSError as exc:
        sock.close()
        raise ListenError(_listen_problem(host, port, exc)) from None
    return sock


def _listen_problem(host: str, port: int, exc: OSError) -> str:
    if exc.errno == errno.EADDRINUSE:
        return f"port {port} on {host} is in use: choose another with --port"
    if exc.errno == errno.EACCES:
        return f"port {port} on {host} needs privileges this process does not have: choose one above 1023 with --port"
    if exc.errno == errno.EADDRNOTAVAIL:
        return f"--host {host} is not an address of this machine: choose one it has (127.0.0.1: this machine only)"
    return f"cannot listen on {host} port {port} ({exc.strerror}): choose another --host or --port"


class ServingSocketIO(SocketIO):
    """Flask-SocketIO whose ``run`` serves with the production server above (threading mode).

    With ``--message-queue`` it fans out through ``ClusterManager`` (queues RabbitMQ 4.3 accepts),
    and each event handler goes through ``relay`` once one is set: a process that does not lead
    sends its pages' events to the one that does (visualiser/cluster)."""

    def __init__(self, app: Any = None, **kwargs: Any):
        settings = app.config.get("VISUALISER_SETTINGS") if app is not None else None
        if isinstance(settings, Settings) and settings.message_queue and "client_manager" not in kwargs:
            from ..cluster.manager import ClusterManager

            kwargs["client_manager"] = ClusterManager(settings.message_queue)
        self.relay: Any = None
        self.event_handlers: dict[str, Callable[..., Any]] = {}
        super().__init__(app, **kwargs)

    def on_event(self, message: str, handler: Callable[..., Any], namespace: str | None = None) -> None:
        self.event_handlers[message] = handler

        def routed(*args: Any) -> Any:
            relay = self.relay
            return handler(*args) if relay is None else relay.local_event(message, handler, args)

        routed.__name__ = getattr(handler, "__name__", message)
        super().on_event(message, routed, namespace)

    def run(self, app: Any, host: str | None = None, port: int | None = None, **_options: Any) -> None:
        # Options for Werkzeug's development server (allow_unsafe_werkzeug, log_output,
        # debug, use_reloader) do not apply here.
        serve(app, host or "127.0.0.1", port or 8600)
