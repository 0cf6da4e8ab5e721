"""Live routing visualiser for RabbitMQ and Celery.

``create_app(settings)`` builds the Flask app and wires every part explicitly, in the
order data flows: the sources that read the outside world, the hub that owns the model,
the Celery monitor and diagnostics that run on the hub's thread, and the HTTP and
Socket.IO layer that shows it. ``service_of(app)`` gives the running parts to whoever
starts and stops them (``app.py``, the tests).
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from flask import Flask
from flask_socketio import SocketIO

from .celery.inspect import InspectPoller
from .celery.monitor import CeleryMonitor, vhost_of
from .config import Settings
from .diagnostics.service import ALL_RULES, CeleryReader, Diagnostics
from .diagnostics.service import attach as attach_diagnostics
from .diagnostics.thresholds import Thresholds
from .hub import Hub
from .metrics import Metrics
from .model.groups import NameGroups
from .recording import Recording
from .recording import build as build_recording
from .server import (
    auth,
    celery_api,
    diagnostics_api,
    errors,
    hosts,
    recording_api,
    route_api,
    security,
    sockets,
    trace_api,
    views,
)
from .sources.celery_events import CeleryEventsSource
from .sources.sink import Source
from .tracing.tracer import BackendFactory, Tracer, live_backends

log = logging.getLogger(__name__)
EXTENSION = "visualiser"
MAX_REQUEST_BYTES = 256 * 1024


@dataclass
class Service:
    """The running service's parts: what create_app built, for whoever starts and stops it."""

    app: Flask
    socketio: SocketIO
    hub: Hub
    settings: Settings
    celery: CeleryMonitor
    diagnostics: Diagnostics
    sources: list[Source] = field(default_factory=list)
    tracer: Tracer | None = None
    recording: Recording = field(default_factory=Recording)

    sources_started: bool = False

    def start(self, sources: bool = True) -> None:
        """Everything; ``sources=False``: all but the sources, for a process of several that only
        reads the broker once elected to (``start_sources``, docs/deployment.md)."""
        self.hub.start()
        self.recording.start()  # before the sources: their first frames are recorded
        if sources:
            self.start_sources()

    def start_sources(self) -> None:
        self.sources_started = True
        for source in self.sources:
            source.start()

    def stop(self) -> None:
        if self.tracer is not None:
            self.tracer.stop_all()  # first: each vhost's tracing flag back as it was found
        if self.sources_started:
            for source in self.sources:
                source.stop()
        self.recording.stop()  # writes what is queued, then releases the file
        self.hub.stop()


def asset_folder(name: str) -> str:
    """The page's files (static/, templates/): inside the package when installed from a wheel,
    which carries them there; beside it in a checkout (and an editable install of one)."""
    package = Path(__file__).resolve().parent
    installed = package / name
    return str(installed if installed.is_dir() else package.parent / name)


def service_of(app: Flask) -> Service:
    """The parts behind an app made by create_app."""
    service = app.extensions[EXTENSION]
    assert isinstance(service, Service)
    return service


def topology_sources(settings: Settings, hub: Hub, monitor: CeleryMonitor) -> list[Source]:
    """The one source the graph comes from: the demo, a definitions file, or the live broker."""
    if settings.demo:
        from .sources.demo import SOURCE, DemoSource

        hub.set_topology_source(SOURCE)
        monitor.enabled = True  # the demo simulates Celery workers too, feeding the monitor their events
        return [DemoSource(hub, monitor.ingest)]
    if settings.definitions:
        from .sources.definitions import SOURCE, DefinitionsSource

        hub.set_topology_source(SOURCE)
        return [DefinitionsSource(settings.definitions, hub)]
    from .sources.management_api import ManagementClient
    from .sources.poller import SOURCE, ManagementPoller
    from .sources.prometheus import PrometheusClient, default_url

    client = ManagementClient(settings.management_url, timeout=settings.request_timeout)
    urls = (
        [u for u in settings.prometheus_url if u.lower() != "off"]
        if settings.prometheus_url
        else [default_url(client.base_url)]
    )
    prometheus = PrometheusClient(urls, timeout=settings.request_timeout) if urls else None
    hub.set_topology_source(SOURCE)
    poller = ManagementPoller(
        client,
        hub,
        settings.poll_interval,
        settings.backoff_cap,
        prometheus=prometheus,
        reconcile_interval=settings.reconcile_interval,
    )
    if settings.events_url == "off":
        return [poller]
    from .sources.broker_events import BrokerEventsSource

    return [
        poller,
        BrokerEventsSource(poller, hub, settings.management_url, settings.events_url, backoff_cap=settings.backoff_cap),
    ]


def demo_celery_app(settings: Settings) -> str | None:
    """In the demo, the shop's own Celery app answers for task routes (as --celery-app would)."""
    if not settings.demo:
        return None
    from .sources.demo import CELERY_APP

    return CELERY_APP


def simulated_traces(settings: Settings, sources: Sequence[Source]) -> BackendFactory | None:
    """In the demo, traces of its own synthetic traffic: nothing on a broker changes."""
    if not settings.demo:
        return None
    from .sources.demo import DemoSource

    demo = next((source for source in sources if isinstance(source, DemoSource)), None)
    if demo is None:
        return None
    from .tracing.demo import demo_backends

    return demo_backends(demo.broker)


def celery_sources(settings: Settings, hub: Hub, monitor: CeleryMonitor) -> list[Source]:
    """With --broker-url, the events consumer (and, opt-in, the inspect poller) feeding the monitor."""
    if not settings.broker_url:
        return []
    events = CeleryEventsSource(settings.broker_url, hub, monitor.ingest, settings.backoff_cap)
    monitor.enabled, monitor.gap_counter = True, events.gaps
    found: list[Source] = [events]
    if settings.inspect:
        found.append(InspectPoller(settings.broker_url, hub, monitor.learn_from_inspect))
    return found


def create_app(settings: Settings | None = None, *, sources: Sequence[Source] | None = None) -> Flask:
    """Build the service. Nothing runs until ``service_of(app).start()``.

    ``sources`` replaces the topology source (tests post their own snapshots); the Celery
    sources still come from the settings.
    """
    settings = settings or Settings()
    app = Flask(__name__, static_folder=asset_folder("static"), template_folder=asset_folder("templates"))
    app.config["VISUALISER_SETTINGS"] = settings
    app.config["SECRET_KEY"] = settings.secret_key or secrets.token_hex(32)
    app.config["MAX_CONTENT_LENGTH"] = MAX_REQUEST_BYTES
    app.json.sort_keys = False  # type: ignore[attr-defined]

    hub = Hub(metrics=Metrics())
    recording = build_recording(settings, hub)  # a locked, damaged or foreign file is refused here
    tracer = Tracer(
        hub, settings, live_backends(settings, hub) if settings.mode == "live" and settings.allow_tracing else None
    )
    socketio = sockets.make_socketio(app, settings, hub, on_disconnect=[tracer.unwatch], tracing=tracer.offer)
    hub.set_emitter(recording.tap(lambda event, data, to=None: socketio.emit(event, data, to=to)))
    trace_api.register_socket(socketio, tracer)

    hub.add_decorator(NameGroups(settings.group_by, settings.group_above).decorate)
    monitor = CeleryMonitor(hub, vhost_of(settings.broker_url))
    monitor.attach()
    celery_apps = route_api.CeleryApps(
        settings.celery_app or demo_celery_app(settings), app=settings.extra.get("celery_app")
    )  # the app object, from `celery -A`
    diagnostics = Diagnostics(
        Thresholds.from_mapping(settings.diagnostics or {}),
        celery=CeleryReader(monitor, celery_apps.loaded),
        rules=ALL_RULES + (tracer.rule,),
    )
    tracer.attach()  # before diagnostics: a disagreement a poll confirms is a finding of that same poll
    if recording.replay is None:  # a replay shows the findings it recorded
        attach_diagnostics(hub, diagnostics)  # after the monitor: rules read the worker nodes it adds

    if sources is not None:
        built = list(sources)
    elif recording.replay is not None:
        built = [recording.replay]  # --replay FILE: the recording is the graph's source
    else:
        built = topology_sources(settings, hub, monitor)
    built += celery_sources(settings, hub, monitor)
    simulated = simulated_traces(settings, built)
    if simulated is not None:
        tracer.simulate(simulated)

    errors.install(app)
    app.register_blueprint(views.blueprint(hub, settings, recording.reader))
    app.register_blueprint(celery_api.blueprint(hub, monitor))
    app.register_blueprint(
        diagnostics_api.blueprint(hub, recording.replay_diagnostics or diagnostics, recording.reader)
    )
    app.register_blueprint(recording_api.blueprint(hub, recording))
    app.register_blueprint(route_api.blueprint(hub, celery_apps))
    app.register_blueprint(trace_api.blueprint(hub, tracer, settings))

    # WSGI gates, innermost first: security headers and input limits, then authentication,
    # then (outermost) the Host allowlist, so that a rebound name is refused before anything else.
    security.install_security_headers(app)
    security.refuse_deep_json(app)
    auth.install(app, settings)
    hosts.install(app, settings)

    app.extensions[EXTENSION] = Service(app, socketio, hub, settings, monitor, diagnostics, built, tracer, recording)
    return app
