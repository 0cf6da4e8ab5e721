"""Live routing visualiser for RabbitMQ and Celery.

``create_app(settings)`` wires the pieces: a hub (the single owner of the model), the
sources that feed it (management API poller, definitions file or demo simulator), and the
Flask app and Socket.IO server that show it.
"""

from __future__ import annotations

import importlib
import logging
import secrets
from dataclasses import dataclass
from typing import Any

from flask import Flask
from flask_socketio import SocketIO

from .config import Settings
from .hub import Hub
from .metrics import Metrics
from .server import security, sockets, views

log = logging.getLogger(__name__)


@dataclass
class Wiring:
    """What a feature's ``install`` gets to plug itself in with."""

    app: Flask
    socketio: SocketIO
    hub: Hub
    settings: Settings
    sources: list[Any]


# Each feature module exposes ``install(wiring)``: registers its blueprint, socket events,
# hub decorators/listeners/tickers and sources. Order matters only where one reads another.
FEATURES: tuple[str, ...] = (
    ".server.auth",  # auth gate, socket origin and message-size limits
    ".celery.feature",  # Celery events source, worker nodes, activity frames, /api/workers, /api/tasks
    ".diagnostics.feature",  # stuck-queue findings, depth history; after anything that decorates the graph
    ".routing.feature",  # POST /api/route, GET /api/celery/tasks and /api/celery/route
)


class Visualiser:
    """The running service: its app, socket server, hub and sources."""

    def __init__(self, app: Flask, socketio: SocketIO, hub: Hub, sources: list[Any]):
        self.app, self.socketio, self.hub, self.sources = app, socketio, hub, sources

    def start(self) -> None:
        self.hub.start()
        for source in self.sources:
            source.start()

    def stop(self) -> None:
        for source in self.sources:
            source.stop()
        self.hub.stop()


def make_sources(settings: Settings, hub: Hub) -> list[Any]:
    if settings.demo:
        from .sources.demo import DemoSource

        return [DemoSource(hub)]
    if settings.definitions:
        from .sources.definitions import DefinitionsSource

        return [DefinitionsSource(settings.definitions, hub)]
    from .sources.management_api import ManagementClient
    from .sources.poller import ManagementPoller

    client = ManagementClient(settings.management_url, timeout=settings.request_timeout)
    return [ManagementPoller(client, hub, settings.poll_interval, settings.backoff_cap)]


def create_app(settings: Settings | None = None, *, sources: list[Any] | None = None) -> Visualiser:
    """Build the service. Nothing runs until ``.start()``; tests may pass their own sources."""
    settings = settings or Settings()
    app = Flask(__name__, static_folder="../static", template_folder="../templates")
    app.config["VISUALISER_SETTINGS"] = settings
    app.config["SECRET_KEY"] = settings.secret_key or secrets.token_hex(32)
    app.config["MAX_CONTENT_LENGTH"] = 256 * 1024
    app.json.sort_keys = False  # type: ignore[attr-defined]

    socketio = SocketIO(
        app,
        async_mode="threading",
        cors_allowed_origins=list(settings.allowed_origins) or None,  # None: same origin only
        max_http_buffer_size=64 * 1024,
        logger=False,
        engineio_logger=False,
    )
    hub = Hub(metrics=Metrics())
    hub.set_emitter(lambda event, data, to=None: socketio.emit(event, data, to=to))
    app.extensions["visualiser.hub"] = hub

    security.install_security_headers(app)
    app.register_blueprint(views.bp)
    sockets.register(socketio, hub)

    built_sources = sources if sources is not None else make_sources(settings, hub)
    wiring = Wiring(app, socketio, hub, settings, built_sources)
    for feature in FEATURES:
        importlib.import_module(feature, __name__).install(wiring)
    service = Visualiser(app, socketio, hub, built_sources)
    app.extensions["visualiser.service"] = service
    return service
