"""Polls the management API on a cadence and posts what it reads to the hub.

It never touches the model: a fresh BrokerSnapshot on success, a status on every change
of health. On failure the hub keeps the last good graph (marked stale) while the poller
backs off, capped and jittered, and it recovers by itself when the broker answers again.

When the broker's event exchange is on (broker_events.py), events ask for reads between
polls: the vhosts they name are read again at once (vhost_refresh.py), or everything when
an event cannot say what changed. The poll then is the reconcile: it seeds the graph,
catches what lost events hid, and counts what it found different. All reads run on this
one thread, one at a time, so a slow read is never overtaken by an older one.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable
from dataclasses import replace
from typing import Any

from ..model.entities import BrokerSnapshot
from .figures import (
    RATES_SECONDS,
    Figures,
    RateMeter,
    exchange_keys,
    prometheus_figures,
    queue_keys,
    read_figures,
    with_figures,
)
from .management_api import ManagementClient, SourceError
from .prometheus import PROMETHEUS_SOURCES, PrometheusClient, Scrape, with_prometheus_figures
from .quoting import broker_text
from .sink import Sink
from .status import Backoff, SourceStatus
from .vhost_refresh import ConsumerEvent, RecentConsumers, differences, read_vhosts

log = logging.getLogger(__name__)
SOURCE = "management-api"
# Events of one change (a queue declared and bound) arrive within milliseconds: read once for all.
COALESCE_SECONDS = 0.05
# RabbitMQ 3.x lists a new consumer only when it next emits statistics (every 5 s by default).
CONSUMER_LISTING_SECONDS = 6.0


class ManagementPoller:
    def __init__(
        self,
        client: ManagementClient,
        hub: Sink,
        interval: float = 2.0,
        backoff_cap: float = 30.0,
        prometheus: PrometheusClient | None = None,
        reconcile_interval: float | None = None,
    ):
        self.client, self.hub, self.interval = client, hub, interval
        # While events push every change, full reads (the reconcile) only run this often; the
        # figures are refreshed every interval from the cheapest source (figures.py).
        self.reconcile_interval = max(interval, reconcile_interval if reconcile_interval is not None else interval)
        self.prometheus = prometheus
        self.backoff = Backoff(base=interval, cap=max(backoff_cap, interval))
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="management-poller", daemon=True)
        self._status = SourceStatus(SOURCE, detail=client.base_url)
        self._detail, self._extra = client.base_url, dict[str, Any]()
        self.last_duration: float | None = None
        self._started = time.time()
        self._overdue_of: SourceStatus | None = None
        self._requests = _Requests()
        self._applied = 0  # the last request whose read the hub has applied
        self._last_read: BrokerSnapshot | None = None  # as read, before consumer events are laid over it
        self._consumers = RecentConsumers()
        self.full_reads = 0
        self.polls = 0  # full reads run because the interval was up (the others were asked for by events)
        self.refreshes = 0  # reads of some vhosts, asked for by events
        self.figure_refreshes = 0  # figures-only reads between reconciles (figures.py)
        self._rates_read = 0.0  # monotonic time rates were last read
        self._meter = RateMeter()  # rates from Prometheus's counters, where the broker counts
        self._read_ok_at: float | None = None  # monotonic time the last full read succeeded
        self.figures_read: dict[str, dict[str, Any]] = {}  # figure -> {"source", "at"}: shown with each figure
        self.reconcile = {"reads": 0, "differences": 0, "last_differences": None}
        self._events_reason: str | None = None  # why events do not flow; None: no events consumer at all
        self._note_changed = False
        self.reading = False  # a read is under way (the thread is not waiting for work)
        self._events_since: float | None = None  # monotonic time since when events have been flowing
        self._last_full_started: float | None = None
        # Checked on the hub's thread, not ours: a poll that hangs cannot hide that it hangs.
        hub.every(1.0, self.check_overdue)

    @property
    def overdue_after(self) -> float:
        """Seconds without a successful read after which the graph is stale, whatever else is said."""
        return 3 * self.interval + 2 * self.client.timeout

    def check_overdue(self) -> None:
        status = self._status
        last = status.last_success or self._started
        silent = time.time() - last
        if status.state in ("ok", "starting") and silent > self.overdue_after and status is not self._overdue_of:
            self._overdue_of = status  # said once per status; the poller's next report replaces it
            self.hub.publish_status(
                replace(
                    status,
                    state="stale",
                    since=time.time(),
                    last_error=f"no successful read for {silent:.0f}s (the current poll has not finished)",
                )
            )

    def start(self) -> None:
        self.hub.publish_status(self._status)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._requests.wake.set()
        self._thread.join(timeout=self.client.timeout + 2)
        self.client.close()
        if self.prometheus is not None:
            self.prometheus.close()

    # ---- asked by the broker's events (any thread) ----------------------------------------------
    def request(self, vhosts: Iterable[str] | None, consumers: Iterable[ConsumerEvent] = ()) -> int:
        """Read these vhosts again soon (None: everything); returns a ticket for ``applied``."""
        return self._requests.add(vhosts, list(consumers))

    @property
    def idle(self) -> bool:
        """Nothing being read, nothing asked for (consumer events' later reads aside)."""
        return not self.reading and not self._requests.pending

    @property
    def applied(self) -> int:
        """Requests up to this ticket are on the graph (the hub has applied their read)."""
        return self._applied

    def events_flowing(self, flowing: bool, reason: str = "") -> None:
        """The events consumer says whether every change now reaches us, or why not (said in
        the status by the poller's own thread, the one that writes it)."""
        before = self.events_note
        self._events_since = (self._events_since or time.monotonic()) if flowing else None
        self._events_reason = "" if flowing else reason
        if self.events_note != before:
            self._note_changed = True
            self._requests.wake.set()

    @property
    def events_note(self) -> str:
        """How changes reach the graph, for the status line."""
        if self._events_reason is None:
            return ""
        if self._events_since is None:
            return f"polled every {self.interval:g} s ({self._events_reason})"
        found = int(self.reconcile["differences"] or 0)
        differed = f", {found} difference{'s' if found != 1 else ''} found" if found else ""
        if self.reconcile_interval > self.interval:
            return (
                f"changes pushed by events, checked every {self.reconcile_interval:g} s{differed}; "
                f"figures every {self.interval:g} s"
            )
        return f"changes pushed by events, checked every {self.interval:g} s{differed}"

    # ---- the poller's thread ------------------------------------------------------------------------
    def _figures_between(self) -> bool:
        """Whether figures are refreshed on their own between full reads (events flowing). Not
        while full reads fail: a figure read that still answers (Prometheus is another port)
        would report the source well while the management API is down."""
        return (
            self._events_since is not None
            and self.reconcile_interval > self.interval
            and self._last_read is not None
            and self.backoff.failures == 0
        )

    def _run(self) -> None:
        next_full = next_figures = time.monotonic()
        read_all = False  # the vhosts asked for could not be read alone
        unread: set[str] = set()  # … and these are they
        while not self._stop.is_set():
            if self._events_since is None and self._read_ok_at is not None and self.backoff.failures == 0:
                # Events stopped (the plugin disabled, a lost connection): the reconcile's wait is
                # no longer safe, so the next read is due one poll interval after the last.
                next_full = min(next_full, self._read_ok_at + self.interval)
            soonest = time.monotonic() if read_all else min(next_full, self._requests.next_due())
            if self._figures_between():
                soonest = min(soonest, next_figures)
            self._requests.wake.wait(max(0.0, soonest - time.monotonic()))
            if self._stop.is_set():
                return
            if self._note_changed:
                self._note_changed = False
                self._report(self._status.state, None, read=False)
            due = time.monotonic() >= next_full
            if not due:
                self._stop.wait(COALESCE_SECONDS)
            if not due and self._figures_between() and time.monotonic() >= next_figures:
                next_figures = time.monotonic() + self.interval
                self.reading = True
                if not self._refresh_figures():
                    next_full = time.monotonic()  # the broker failed a cheap read: a full one says how
                self.reading = False
            # A failing broker is asked again only when its backoff is over, whatever events say.
            taken = self._requests.take(hold=self.backoff.failures > 0 and not due)
            if taken is None:
                continue
            vhosts, full, ticket, consumers = taken
            for event in consumers:
                self._consumers.note(event)
            if not (due or full or read_all or vhosts or consumers):
                continue  # woken to say something, or by nothing
            self.reading = True
            if due or full or read_all or self._last_read is None:
                self.polls += due
                next_full = time.monotonic() + self.poll_once(ticket, unread | vhosts)
                next_figures = time.monotonic() + self.interval
                read_all, unread = False, set()
            else:
                read_all = not self._refresh(vhosts, ticket)
                unread = set(vhosts) if read_all else set()
            self.reading = False

    def _refresh(self, vhosts: set[str], ticket: int) -> bool:
        """Read these vhosts again (an empty set: only lay consumer events over the last read)."""
        assert self._last_read is not None
        try:
            read = read_vhosts(self.client, vhosts, self._last_read) if vhosts else self._last_read
            if read is None:
                return False
            if vhosts:
                read = self._with_prometheus(read)
        except SourceError as exc:
            log.info("reading %d vhost(s) again failed (%s); reading everything", len(vhosts), exc)
            return False
        self._last_read = read
        if vhosts:
            self.refreshes += 1
        self._publish(read, ticket)
        if vhosts:
            self._report("ok", None)
        return True

    def _refresh_figures(self) -> bool:
        """Depths, consumer counts and rates only, laid over the last full read; False on failure."""
        assert self._last_read is not None
        statistics = self._last_read.broker.get("statistics", True) is not False
        rates_due = time.monotonic() - self._rates_read >= RATES_SECONDS
        try:
            figures = read_figures(
                self.client,
                self.prometheus,
                statistics,
                rates=rates_due,
                expected=queue_keys(self._last_read),
                cluster=self._last_read.broker.get("cluster_name"),
                meter=self._meter,
                exchanges=exchange_keys(self._last_read),
            )
        except SourceError as exc:
            log.info("refreshing figures failed (%s); reading everything", exc)
            return False
        self._last_read = with_figures(self._last_read, figures)
        self.figure_refreshes += 1
        if "rates" in figures.sources:
            self._rates_read = time.monotonic()
        for figure, source in figures.sources.items():
            self.figures_read[figure] = {"source": source, "at": figures.read_at}
        self._publish(self._last_read, None)
        self._report("ok", None)
        return True

    def _note_full_read(self, snapshot: BrokerSnapshot) -> None:
        """Where each figure of a full read came from, and when."""
        now = time.time()
        sources = {**snapshot.broker.get("figures", {})}
        nodes = snapshot.broker.get("prometheus_nodes") or []
        for figure, source in sources.items():
            if source == "none":
                self.figures_read.pop(figure, None)
                continue
            shown = (
                f"{PROMETHEUS_SOURCES[source]} ({', '.join(nodes)})"
                if source in PROMETHEUS_SOURCES and nodes
                else source
            )
            self.figures_read[figure] = {"source": shown, "at": now}
        self.figures_read["topology"] = {"source": "full read of the management API", "at": now}

    def _publish(self, read: BrokerSnapshot, ticket: int | None) -> None:
        self.hub.publish_broker(SOURCE, self._consumers.overlay(read))
        if ticket is not None:
            self.hub.submit(lambda: self._mark_applied(ticket))

    def _mark_applied(self, ticket: int) -> None:  # hub thread: the read before it is on the graph
        self._applied = max(self._applied, ticket)

    def _count_differences(self, read: BrokerSnapshot, ticket: int, started: float, unread: set[str]) -> None:
        """A poll while events flowed is a reconcile: count what it found that events did not say.
        ``unread``: vhosts events named that no read has shown yet (their changes were said)."""
        previous, self._last_full_started = self._last_full_started, started
        since = self._events_since
        if since is None or previous is None or previous < since or self._last_read is None:
            return  # events were not flowing since the last full read: nothing they should have said
        changed = self._requests.changed_since(ticket)
        if changed is None:
            return  # something asked for a full read meanwhile: either may be the newer
        self.reconcile["reads"] = int(self.reconcile["reads"] or 0) + 1
        found = differences(self._consumers.overlay(self._last_read), self._consumers.overlay(read), changed | unread)
        self.reconcile["last_differences"] = found
        self.reconcile["differences"] = int(self.reconcile["differences"] or 0) + found
        if found:
            log.info("reconcile: %d object(s) differed from what the broker's events said", found)

    def poll_once(self, ticket: int | None = None, unread: set[str] | frozenset[str] = frozenset()) -> float:
        """One poll; returns how long to wait before the next."""
        started = time.perf_counter()
        read_started = time.monotonic()
        try:
            snapshot = self._with_prometheus(self.client.fetch_broker())
        except SourceError as exc:
            self._report(exc.state, str(exc))
            delay = self.backoff.next_delay()
            log.warning("%s; retrying in %.1fs", exc, delay)
            return delay
        except Exception as exc:  # noqa: BLE001 - a source must survive anything and say so
            log.exception("unexpected failure polling %s", self.client.base_url)
            self._report("error", f"unexpected {type(exc).__name__} while polling")
            return self.backoff.next_delay()
        self.last_duration = time.perf_counter() - started
        self.hub.record_poll_duration(SOURCE, self.last_duration)
        self.backoff.reset()
        self._count_differences(
            snapshot, ticket if ticket is not None else self._requests.ticket, read_started, set(unread)
        )
        snapshot, laid_over = self._with_scraped_depths(snapshot)
        self._last_read = snapshot
        self._rates_read = self._read_ok_at = time.monotonic()
        self.full_reads += 1
        self._note_full_read(snapshot)
        for figures in laid_over:
            for figure, source in figures.sources.items():
                self.figures_read[figure] = {"source": source, "at": figures.read_at}
        self._publish(snapshot, ticket)
        version = broker_text(snapshot.broker.get("rabbitmq_version", ""), 40)
        hidden = snapshot.broker.get("vhosts_without_access", [])
        extra: dict[str, Any] = {"vhosts_without_access": hidden} if hidden else {}
        detail = f"{self.client.base_url} (RabbitMQ {version})" if version else self.client.base_url
        invalid = self.client.last_invalid_utf8_answers
        if invalid:  # the graph is current, but not every name is exactly the broker's: said here too
            extra["invalid_utf8_answers"] = invalid
            detail += (
                f"; the broker sent invalid UTF-8 in {invalid} answer{'s' if invalid != 1 else ''} (shown as \\xNN)"
            )
        self._report("ok", None, detail=detail, extra=extra)
        return self.reconcile_interval if self._events_since is not None else self.interval

    def _status_extra(self) -> dict[str, Any]:
        return {
            "full_reads": self.full_reads,
            "polls": self.polls,
            "refreshes": self.refreshes,
            "figure_refreshes": self.figure_refreshes,
            "reconcile_interval": self.reconcile_interval,
            "figures": {figure: dict(read) for figure, read in self.figures_read.items()},
            "events": self._events_since is not None,
            "reconcile": dict(self.reconcile),
        }

    def _with_scraped_depths(self, snapshot: BrokerSnapshot) -> tuple[BrokerSnapshot, list[Figures]]:
        """While refreshes take depths from Prometheus (statistics on, events flowing), a full
        read takes them from there too: the statistics listing lags the scrape, and the two in
        turn would make depths flap (figures.py). So with rates, where Prometheus counts messages.
        Returns the read and the figures laid over it."""
        statistics = snapshot.broker.get("statistics", True) is not False
        if not (statistics and self.prometheus is not None and self._figures_between()):
            return snapshot, []
        scraped = prometheus_figures(
            self.prometheus,
            queue_keys(snapshot),
            snapshot.broker.get("cluster_name"),
            self._meter,
            exchange_keys(snapshot),
        )
        if scraped is None:
            return snapshot, []
        laid_over = [scraped]
        if "rates" not in scraped.sources and self._meter.latest is not None:
            laid_over.insert(0, self._meter.latest)  # a scrape too soon for rates: the last ones, as old as they are
        for figures in laid_over:
            snapshot = with_figures(snapshot, figures)
        return snapshot, laid_over

    def _with_prometheus(self, snapshot: BrokerSnapshot) -> BrokerSnapshot:
        """Consumer counts (and depths, if missing) from Prometheus where the management API has
        none, and rates from its counters where the broker counts messages."""
        if snapshot.broker.get("figures", {}).get("consumer_counts") != "none":
            return snapshot
        scrape = self.prometheus.scrape() if self.prometheus else None
        return self._with_prometheus_rates(with_prometheus_figures(snapshot, scrape), scrape)

    def _with_prometheus_rates(self, read: BrokerSnapshot, scrape: Scrape | None) -> BrokerSnapshot:
        """A statistics-off read with rates from this scrape's counters, where they are this
        cluster's (a scrape too soon for new rates: the last ones)."""
        if scrape is not None and scrape.nodes and scrape.of_cluster(read.broker.get("cluster_name")):
            self._meter.rates(scrape, queue_keys(read), exchange_keys(read))
        else:
            self._meter = RateMeter()  # no answer, another cluster's, or none asked: no rates at all
        latest = self._meter.latest
        return with_figures(read, latest) if latest is not None else read

    def _report(
        self,
        state: str,
        error: str | None,
        detail: str | None = None,
        extra: dict[str, Any] | None = None,
        *,
        read: bool = True,
    ) -> None:
        """``read``: this report follows a successful read (not only news of the events consumer)."""
        now = time.time()
        old = self._status
        self._detail = detail or self._detail
        if extra is not None or state != "ok":
            self._extra = extra or {}
        self._status = SourceStatus(
            SOURCE,
            state=state,
            detail=self._detail + (f"; {self.events_note}" if self.events_note else ""),
            last_success=now if state == "ok" and read else old.last_success,
            last_error=error if error else old.last_error,
            since=old.since if old.state == state else now,
            extra={"poll_interval": self.interval, **self._extra, **self._status_extra()},
        )
        self.hub.publish_status(self._status)  # small, and it carries "last successful poll"


class _Requests:
    """What events asked the poller to read, gathered between reads (any thread adds, the poller takes).

    Each request gets a ticket, in order; a read covers every ticket taken before it began.
    """

    def __init__(self) -> None:
        self.wake = threading.Event()
        self.ticket = 0
        self._lock = threading.Lock()
        self._vhosts: set[str] = set()
        self._full = False
        self._later: dict[str, float] = {}  # vhost -> when to read it again (monotonic): after its last consumer event
        self._consumers: list[ConsumerEvent] = []
        self._changed: dict[str, int] = {}  # vhost -> the last ticket that named it
        self._full_ticket = 0

    def add(self, vhosts: Iterable[str] | None, consumers: list[ConsumerEvent]) -> int:
        with self._lock:
            self.ticket += 1
            if vhosts is None:
                self._full, self._full_ticket = True, self.ticket
            else:
                names = set(vhosts)
                self._vhosts |= names
                for name in names:
                    self._changed[name] = self.ticket
            later = time.monotonic() + CONSUMER_LISTING_SECONDS
            self._later.update((event.vhost, later) for event in consumers)
            self._consumers.extend(consumers)
            self.wake.set()
            return self.ticket

    @property
    def pending(self) -> bool:
        """Something was asked for that no read has taken yet."""
        with self._lock:
            return bool(self._vhosts or self._full or self._consumers)

    def next_due(self) -> float:
        with self._lock:
            return min(self._later.values(), default=float("inf"))

    def take(self, hold: bool = False) -> tuple[set[str], bool, int, list[ConsumerEvent]] | None:
        """(vhosts to read, whether everything must be read, the last ticket covered, consumer
        events); None with ``hold``: leave the requests for later."""
        with self._lock:
            self.wake.clear()
            if hold:
                return None
            now = time.monotonic()
            due = {vhost for vhost, at in self._later.items() if at <= now}
            self._later = {vhost: at for vhost, at in self._later.items() if at > now}
            vhosts, full, consumers = self._vhosts | due, self._full, self._consumers
            self._vhosts, self._full, self._consumers = set(), False, []
            return vhosts, full, self.ticket, consumers

    def changed_since(self, ticket: int) -> set[str] | None:
        """The vhosts events named after ``ticket``; None when one asked for a full read."""
        with self._lock:
            if self._full_ticket > ticket:
                return None
            changed = {vhost for vhost, last in self._changed.items() if last > ticket}
            self._changed = {vhost: last for vhost, last in self._changed.items() if last > ticket}
            return changed
