"""Several processes, one service (``--message-queue URL``): behind a load balancer, a restart or a
crash of one process leaves the pages served.

- **Fan-out** (``manager``): Flask-SocketIO's message queue through the user's own RabbitMQ; every
  emit reaches the pages of every process.
- **One reader** (``link``): the processes elect one leader through the broker itself (an
  exclusive queue); only the leader runs the sources (the management API poller, the Celery
  events consumer, traces). When it dies another takes over within about a second.
- **One model** (``relay``): followers hold no model; the leader answers for every page, through
  the message queue, so that versions are the leader's everywhere. A new leader numbers its
  versions after the highest any process has seen (and after the time in milliseconds), and every
  process sends it what its pages last asked for: each page gets a fresh snapshot and goes on.

``Cluster`` starts and stops all of it; ``GET /api/cluster`` tells which process answers and
which leads.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from flask import Blueprint, Response, jsonify

from .. import Service
from ..contract.frames import ClusterAnswer
from .link import BrokerLink, Message, Respond
from .manager import ClusterManager
from .relay import Relay

log = logging.getLogger(__name__)

FIRST_READ_SECONDS = 10.0  # an elected process waits at most this long for its sources' first report
ANNOUNCE_EVERY = 3.0  # seconds between a leader's announcements (a process that missed one hears the next)
FORWARDED_READS_AT_ONCE = 8


class Cluster:
    def __init__(self, url: str, service: Service, on_lost: Callable[[], None] | None = None):
        self.service = service
        self.process = f"{socket.gethostname()}:{os.getpid()}"
        manager = service.socketio.server.manager
        if not isinstance(manager, ClusterManager):
            raise TypeError("the app was built without --message-queue")
        self.manager = manager
        self.link = BrokerLink(url, on_elected=self._take_over, on_message=self._asked, on_lost=self._lost)
        self.relay = Relay(service.app, service.socketio, manager, self.link)
        self.on_lost = on_lost
        self.exit_code = 0
        self.term: str | None = None  # this process's, while it leads
        self.leader: str | None = None  # the process that leads, as last announced
        self._heard_term: str | None = None
        self._stopping = threading.Event()
        self._socket_events = ThreadPoolExecutor(1, thread_name_prefix="cluster-events")  # one page's in order
        self._reads = ThreadPoolExecutor(FORWARDED_READS_AT_ONCE, thread_name_prefix="cluster-reads")
        service.socketio.relay = self.relay
        service.app.before_request_funcs.setdefault(None, []).insert(0, self.relay.forward_reads)
        service.app.register_blueprint(self._blueprint())
        manager.on_announcement = self._announced
        manager.on_listening = self._forget_leader

    @property
    def role(self) -> str:
        state = self.link.state
        return {"leader": "leader", "elected": "starting", "follower": "follower"}.get(state, "connecting")

    # ---- lifecycle ------------------------------------------------------------------------------------
    def start(self) -> None:
        """Everything but the sources, which start when this process is elected."""
        self.service.start(sources=False)
        server = self.service.socketio.server
        if not server.manager_initialized:  # listen now: announcements and versions come before any page
            server.manager_initialized = True
            self.manager.initialize()
        self.link.start()

    def stop(self) -> None:
        """The sources stopped first (tracing put back as found, Celery's queues deleted), then the
        lead released: the next leader never reads while this one still does."""
        self._stopping.set()
        self.service.stop()
        self.link.stop()
        self._socket_events.shutdown(wait=False, cancel_futures=True)
        self._reads.shutdown(wait=False, cancel_futures=True)

    # ---- leading ----------------------------------------------------------------------------------------
    def _take_over(self) -> None:
        """Elected (its own thread): continue the versions, start the sources, wait for their first
        report, then open the inbox and tell every process."""
        hub = self.service.hub
        after = max(int(time.time() * 1000), self.manager.highest_version)
        hub.submit(lambda: hub.continue_versions_after(after))
        self.service.start_sources()
        deadline = time.monotonic() + FIRST_READ_SECONDS
        while hub.topology_status() is None and time.monotonic() < deadline and not self._stopping.is_set():
            time.sleep(0.05)
        self.term = f"{self.process}/{uuid.uuid4().hex[:8]}"
        self.link.ready()
        while not self.link.is_leader and not self._stopping.is_set() and self.link.state == "elected":
            time.sleep(0.01)
        log.info("leading (versions continue after %d)", after)
        threading.Thread(target=self._announce, name="cluster-announce", daemon=True).start()

    def _announce(self) -> None:
        while self.link.is_leader and not self._stopping.is_set():
            try:
                self.manager.announce({"term": self.term, "process": self.process})
            except Exception:  # noqa: BLE001 - the next one may get through
                log.warning("could not announce the lead", exc_info=True)
            self._stopping.wait(ANNOUNCE_EVERY)

    def _asked(self, message: Message, respond: Respond | None) -> None:
        """Leader (link thread): hand the work to a thread of its own, never block the link."""
        kind = message.get("kind")
        if kind == "socket":
            self._socket_events.submit(self._safely, self.relay.run_socket_event, message)
        elif kind == "http" and respond is not None:
            self._reads.submit(self._safely, lambda: respond(self.relay.run_request(message)))

    @staticmethod
    def _safely(fn: Callable[..., Any], *args: Any) -> None:
        try:
            fn(*args)
        except Exception:  # noqa: BLE001 - one bad request must not stop the others
            log.exception("forwarded request failed")

    def _lost(self, reason: str) -> None:
        self.exit_code = 3
        log.error(
            "lost the message queue while leading (%s): stopping, so that one process only reads the "
            "broker; started again (by systemd, say), it follows",
            reason,
        )
        if self.on_lost is not None:
            self.on_lost()

    # ---- following ----------------------------------------------------------------------------------
    def _announced(self, message: dict[str, Any]) -> None:
        term, process = message.get("term"), message.get("process")
        if not isinstance(term, str) or term == self._heard_term:
            return
        self._heard_term, self.leader = term, process if isinstance(process, str) else None
        log.info("%s leads", self.leader)
        threading.Thread(target=self.relay.replay, name="cluster-replay", daemon=True).start()

    def _forget_leader(self) -> None:
        """Listening anew: frames sent here meanwhile are lost; the next announcement replays."""
        self._heard_term = None

    # ---- GET /api/cluster ---------------------------------------------------------------------------------
    def _blueprint(self) -> Blueprint:
        bp = Blueprint("cluster", __name__)

        @bp.get("/api/cluster")
        def cluster() -> Response:
            answer = ClusterAnswer(
                role=self.role,  # type: ignore[typeddict-item]
                process=self.process,
                leader=self.process if self.link.is_leader else self.leader,
                pages=len(self.relay.book),
            )
            return jsonify(answer)

        return bp
