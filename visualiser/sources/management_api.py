"""A read-only client for the RabbitMQ management HTTP API.

It asks only for the columns the graph needs and pages through large listings, which
keeps a 5,000-queue broker's poll small. Every failure becomes a typed SourceError with a
message fit to show a user; credentials never appear in one (the URL we report is
redacted, and requests' own exception text, which may carry the URL, is not passed on).
"""

from __future__ import annotations

import codecs
import contextlib
import json
import socket
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import quote, urlunsplit

import requests

from ..model.entities import BrokerSnapshot
from ..urls import UrlError, credentials, parse_url
from ..urls import redact_url as redact_url  # re-exported: where callers have long found it
from .normalise import MalformedInput, group_by_vhost, require_list, vhost_snapshot
from .quoting import broker_text

# Only the columns the graph needs. The broker still builds each queue's full row before it
# filters columns, so paging (below) is what bounds a request's cost; the statistics listing
# is kept because `disable_stats=true&enable_queue_totals=true`, which looks cheaper, asks
# every queue process for its totals and measured three times slower at 5,000 queues
# (docs/performance.md).
QUEUE_COLUMNS = ",".join(
    [
        "name", "vhost", "type", "durable", "auto_delete", "exclusive", "arguments", "policy",
        "effective_policy_definition", "messages_ready", "messages_unacknowledged", "consumers",
        "consumer_utilisation", "consumer_capacity", "state", "node", "leader", "members", "online",
        "message_stats.publish_details.rate", "message_stats.deliver_get_details.rate",
        "message_stats.ack_details.rate", "message_stats.redeliver_details.rate",
    ]
)  # fmt: skip
# With management statistics off (RabbitMQ 4.x's recommended setting), the statistics
# listing has no depths; this one asks each queue for its totals instead. It carries no
# consumer counts (those come from Prometheus) and names the policy without its definition
# (looked up in /api/policies by name: the broker's attribution, never re-matched here).
QUEUE_TOTALS_COLUMNS = ",".join(
    [
        "name", "vhost", "type", "durable", "auto_delete", "exclusive", "arguments", "state", "node", "leader",
        "members", "online", "messages_ready", "messages_unacknowledged", "policy",
    ]
)  # fmt: skip
QUEUE_TOTALS_PARAMS = {"disable_stats": "true", "enable_queue_totals": "true"}
# Only names and shape: what a broker that refuses both listings above still answers.
QUEUE_PLAIN_COLUMNS = "name,vhost,type,durable,auto_delete,exclusive,arguments,state,node,leader,members,online,policy"
EXCHANGE_COLUMNS = ",".join(
    [
        "name", "vhost", "type", "durable", "auto_delete", "internal", "arguments", "policy",
        "message_stats.publish_in_details.rate", "message_stats.publish_out_details.rate",
    ]
)  # fmt: skip
BINDING_COLUMNS = "source,vhost,destination,destination_type,routing_key,arguments"
CONNECTION_COLUMNS = "name,vhost,user,peer_host,peer_port,client_properties"
CONSUMER_COLUMNS = "consumer_tag,queue,channel_details,prefetch_count,ack_required,active,exclusive"


# Listings are paged (500 objects, about 1 MB a page) except bindings: 20,000 bindings are
# about 8 MB. A broker (or something posing as one) sending far more is refused, not read.
MIB = 1024 * 1024
MAX_RESPONSE_BYTES = 32 * MIB
CHUNK_BYTES = 64 * 1024
# 400 pages of 500: 200,000 objects of one kind, far beyond a broker this page can draw.
MAX_PAGES = 400


def _json_byte_escapes(error: UnicodeError) -> tuple[str, int]:
    """Each byte that is not UTF-8 becomes the text \\xNN. The bytes sit inside JSON strings
    (names), so the backslash is written escaped: the parsed name holds a visible \\xNN, where
    Python's own backslashreplace would make the whole answer invalid JSON."""
    if not isinstance(error, UnicodeDecodeError):
        raise error
    bad = error.object[error.start : error.end]
    return "".join(f"\\\\x{byte:02x}" for byte in bad), error.end


JSON_BYTE_ESCAPES = "visualiser-json-byte-escapes"
codecs.register_error(JSON_BYTE_ESCAPES, _json_byte_escapes)


class SourceError(Exception):
    """A failure to read a source, with a message safe to show anyone."""

    state = "error"


class Unreachable(SourceError):
    state = "unreachable"


class Unauthorised(SourceError):
    state = "unauthorised"


class BadResponse(SourceError):
    state = "error"


class Refused(BadResponse):
    """The broker refused one listing (400, 404, 405): only what depends on it is missing."""


# Where each missing listing leaves a hole, in the words the page shows.
WITHOUT = {
    "consumers": "consumer details (which connection and channel consume each queue)",
    "connections": "connection names of consumers",
    "policies": "policies (dead-letter and alternate exchanges set by policy are not shown)",
    "bindings": "bindings",
    "exchanges": "exchanges",
    "vhosts": "the vhost list (vhosts are taken from the other listings)",
}


def split_credentials(url: str, default_user: str = "guest", default_password: str = "guest") -> tuple[str, str, str]:
    """('http://host:15672', user, password) from a URL that may carry credentials.

    Percent-encoded user names and passwords are decoded (``p%23ss`` is ``p#ss``); a URL
    that cannot be read strictly (see visualiser.urls) raises UrlError, whose
    message names the fix and repeats no part of the URL.
    """
    parts = parse_url(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UrlError("is not an http(s) URL with a host, e.g. http://user:password@host:15672")
    user, password = credentials(parts)
    host = parts.hostname if ":" not in parts.hostname else f"[{parts.hostname}]"
    netloc = f"{host}:{parts.port}" if parts.port else host
    base = urlunsplit((parts.scheme, netloc, parts.path.rstrip("/"), "", ""))
    return base, default_user if user is None else user, default_password if password is None else password


class ManagementClient:
    """Reads the whole broker: its listings in parallel, and a large listing's pages in parallel."""

    def __init__(
        self, url: str, timeout: float = 5.0, page_size: int = 500, max_response_bytes: int = MAX_RESPONSE_BYTES
    ):
        self.base_url, user, password = split_credentials(url)
        self.timeout = timeout
        self.page_size = page_size
        self.max_response_bytes = max_response_bytes
        self.invalid_utf8_answers = 0  # answers that held bytes which are not UTF-8 (see _decode)
        self._counting = threading.Lock()  # listings and pages are read on several threads
        self.last_invalid_utf8_answers = 0  # … of them in the last fetch_broker(), for the source status
        self._auth = (user, password)
        self._local = threading.local()  # one requests.Session per thread: Session is not thread-safe
        # Separate pools so that a listing's pages never wait behind the listings themselves.
        self._calls = ThreadPoolExecutor(max_workers=4, thread_name_prefix="management-api")
        self._pages = ThreadPoolExecutor(max_workers=3, thread_name_prefix="management-api-pages")

    def __repr__(self) -> str:
        return f"ManagementClient({self.base_url!r})"

    def close(self) -> None:
        for pool in (self._calls, self._pages):
            pool.shutdown(wait=False, cancel_futures=True)

    def _session(self) -> requests.Session:
        session = getattr(self._local, "session", None)
        if session is None:
            session = requests.Session()
            session.auth = self._auth
            session.headers["Accept"] = "application/json"
            self._local.session = session
        return session

    def get(self, path: str, params: dict[str, Any] | None = None) -> Any:
        """One GET, its JSON decoded; bounded in time and size whatever the server does."""
        status, headers, body = self._fetch(path, params)
        if status in (401, 403):
            raise Unauthorised(unauthorised_message(status, path, broker_reason(body)))
        if status == 400 and b"page_out_of_range" in body[:1000]:
            raise PageOutOfRange(path)
        if status in (400, 404, 405):
            reason = broker_reason(body)
            if status == 404 and not reason:
                reason = "not found: is the management plugin enabled?"
            raise Refused(f"management API answered {status} for {path}" + (f": {reason}" if reason else ""))
        if status >= 400:
            hint = " (one object with a non-UTF-8 name can break a whole listing)" if status == 500 else ""
            raise BadResponse(f"management API answered {status} for {path}{hint}")
        try:
            return json.loads(self._decode(body))
        except (ValueError, RecursionError):
            kind = broker_text(headers.get("Content-Type", "unknown type"), 60)
            raise BadResponse(f"management API answered non-JSON ('{kind}') for {path}") from None

    def _fetch(self, path: str, params: dict[str, Any] | None) -> tuple[int, Any, bytes]:
        """(status, headers, body). The timeout bounds the whole answer, not each read: a body
        that trickles in a byte at a time is cut off at the deadline (a timer shuts the socket,
        which is the only way to end a read that keeps receiving a byte before each read
        timeout), and one larger than the cap is refused after the cap, never held whole."""
        cutter = _DeadlineCutter(self.timeout)
        try:
            with self._session().get(
                self.base_url + path, params=params, timeout=self.timeout, stream=True
            ) as response:
                cutter.watch(response)
                body = bytearray()
                for chunk in response.iter_content(CHUNK_BYTES):
                    body += chunk
                    if len(body) > self.max_response_bytes:
                        raise BadResponse(
                            f"management API answer for {path} is larger than "
                            f"{self.max_response_bytes // MIB} MiB: refused"
                        )
                    if cutter.expired:
                        raise requests.Timeout()
                return response.status_code, response.headers, bytes(body)
        except (requests.Timeout, requests.ConnectionError) as exc:
            if cutter.expired or isinstance(exc, requests.Timeout) or _is_read_timeout(exc):
                raise Unreachable(
                    f"management API at {self.base_url} did not answer {path} within {self.timeout:g}s"
                ) from None
            raise Unreachable(f"management API at {self.base_url} unreachable ({type(exc).__name__})") from None
        except requests.RequestException as exc:
            if cutter.expired:  # the cut itself ends the read with a protocol error
                raise Unreachable(
                    f"management API at {self.base_url} did not answer {path} within {self.timeout:g}s"
                ) from None
            reason = type(exc).__name__
            raise Unreachable(f"management API at {self.base_url} unreachable ({reason})") from None
        finally:
            cutter.cancel()

    def _decode(self, body: bytes) -> str:
        """UTF-8, as the broker sends; a name that is not valid UTF-8 is kept visible as \\xNN
        escapes (never silently replaced) and counted, so the page can say so."""
        try:
            return body.decode("utf-8")
        except UnicodeDecodeError:
            with self._counting:
                self.invalid_utf8_answers += 1
            return body.decode("utf-8", JSON_BYTE_ESCAPES)

    def get_list(self, path: str, columns: str) -> list[dict[str, Any]]:
        try:
            return require_list(self.get(path, {"columns": columns}), path)
        except MalformedInput as exc:
            raise BadResponse(str(exc)) from None

    def _page(self, path: str, page: int, params: dict[str, Any]) -> tuple[list[dict[str, Any]], int]:
        """(items, page_count) of one page; a page count the first page cannot back up is refused."""
        body = self.get(path, {**params, "page": page, "page_size": self.page_size})
        if not isinstance(body, dict) or not isinstance(body.get("items"), list):
            raise BadResponse(f"{path}: expected a paginated object with 'items'")
        page_count = body.get("page_count")
        items = [item for item in body["items"] if isinstance(item, dict)]
        if not isinstance(page_count, int) or isinstance(page_count, bool) or page_count < page:
            return items, page
        if page_count > MAX_PAGES:
            raise BadResponse(
                f"{path}: the broker claims {broker_text(page_count, 20)} pages; this service reads "
                f"at most {MAX_PAGES:,} ({MAX_PAGES * self.page_size:,} objects)"
            )
        if page_count > page and len(body["items"]) < self.page_size:
            raise BadResponse(
                f"{path}: page {page} holds {len(body['items'])} of {self.page_size} items "
                f"but the broker claims {broker_text(page_count, 20)} pages"
            )
        return items, page_count

    def _later_page(self, path: str, page: int, params: dict[str, Any]) -> list[dict[str, Any]]:
        try:
            return self._page(path, page, params)[0]
        except PageOutOfRange:
            return []  # the listing shrank since the first page; the next poll settles it

    def get_paginated(self, path: str, columns: str, extra: dict[str, str] | None = None) -> list[dict[str, Any]]:
        """Every page of a listing: the first tells how many there are, the rest go in parallel."""
        params = {"columns": columns, **(extra or {})}
        items, page_count = self._page(path, 1, params)
        rest = self._pages.map(lambda page: self._later_page(path, page, params), range(2, page_count + 1))
        for more in rest:
            items.extend(more)
        return items

    def overview(self) -> dict[str, Any]:
        body = self.get(
            "/api/overview",
            {
                "columns": "rabbitmq_version,management_version,cluster_name,product_name,"
                "disable_stats,enable_queue_totals,node"
            },
        )
        if not isinstance(body, dict):
            raise BadResponse("/api/overview: expected a JSON object")
        found = {
            k: body[k]
            for k in ("rabbitmq_version", "cluster_name", "product_name", "node")
            if isinstance(body.get(k), str)
        }
        found["statistics"] = body.get("disable_stats") is not True
        return found

    def queues(self, statistics: bool) -> tuple[list[dict[str, Any]], str]:
        """(queues, where their depths came from): statistics, queue totals, or nowhere."""
        if statistics:
            try:
                return self.get_paginated("/api/queues", QUEUE_COLUMNS), "management statistics"
            except Refused:
                pass
        try:
            return self.get_paginated("/api/queues", QUEUE_TOTALS_COLUMNS, QUEUE_TOTALS_PARAMS), "queue totals"
        except Refused:
            return self.get_paginated("/api/queues", QUEUE_PLAIN_COLUMNS), "none"

    def fetch_broker(self) -> BrokerSnapshot:
        """Everything the graph needs, across all vhosts, in one consistent-enough read.

        Failing to reach or authenticate fails the whole read (the last graph stays, marked
        stale); a listing the broker refuses only leaves out what depends on it, and says so.
        """
        invalid_before = self.invalid_utf8_answers
        overview = self.overview()
        statistics = overview["statistics"]
        calls: dict[str, Callable[[], Any]] = {
            "vhosts": lambda: self.get_list("/api/vhosts", "name"),
            "exchanges": lambda: self.get_paginated("/api/exchanges", EXCHANGE_COLUMNS),
            "queues": lambda: self.queues(statistics),
            "bindings": lambda: self.get_list("/api/bindings", BINDING_COLUMNS),
            "connections": lambda: self.get_paginated("/api/connections", CONNECTION_COLUMNS),
            "policies": lambda: self.get_list("/api/policies", "name,vhost,pattern,apply-to,priority,definition"),
        }
        if statistics:  # with statistics off the broker refuses it (400); no need to ask every poll
            calls["consumers"] = lambda: self.get_list("/api/consumers", CONSUMER_COLUMNS)
        futures = {name: self._calls.submit(call) for name, call in calls.items()}
        results: dict[str, Any] = {"overview": overview}
        refused: dict[str, str] = {}
        if not statistics:
            refused["consumers"] = "management statistics are off on this broker"
        for name, future in futures.items():
            try:
                results[name] = future.result()
            except Refused as exc:
                refused[name] = str(exc)
        results["queues"], results["depths_from"] = results.get("queues", ([], "none"))
        self.last_invalid_utf8_answers = results["invalid_utf8_answers"] = self.invalid_utf8_answers - invalid_before
        return build_broker_snapshot(results, refused)


class _DeadlineCutter:
    """Shuts a response's socket when the request's overall deadline passes."""

    def __init__(self, seconds: float):
        self.expired = False
        self._response: requests.Response | None = None
        self._lock = threading.Lock()
        self._timer = threading.Timer(seconds, self._cut)
        self._timer.daemon = True
        self._timer.start()

    def watch(self, response: requests.Response) -> None:
        with self._lock:
            self._response = response
            expired = self.expired
        if expired:
            self._shut(response)

    def cancel(self) -> None:
        self._timer.cancel()

    def _cut(self) -> None:
        with self._lock:
            self.expired = True
            response = self._response
        if response is not None:
            self._shut(response)

    @staticmethod
    def _shut(response: requests.Response) -> None:
        sock = getattr(getattr(response.raw, "connection", None), "sock", None)
        if isinstance(sock, socket.socket):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)


def _is_read_timeout(exc: Exception) -> bool:
    """requests reports a read timeout while streaming a body as a ConnectionError."""
    cause: BaseException | None = exc
    while cause is not None:
        if type(cause).__name__ == "ReadTimeoutError":
            return True
        first = cause.args[0] if cause.args else None
        cause = cause.__cause__ or cause.__context__ or (first if isinstance(first, BaseException) else None)
    return False


class PageOutOfRange(BadResponse):
    """A later page of a listing no longer exists: objects went away between pages."""


def build_broker_snapshot(results: dict[str, Any], refused: dict[str, str] | None = None) -> BrokerSnapshot:
    """Group management API listings by vhost into a BrokerSnapshot.

    ``refused`` names the listings the broker would not give, with its reason; what depends
    on them is left out and said so in ``broker["missing"]``, never drawn as empty or zero.
    """
    refused = dict(refused or {})
    grouped = {
        key: group_by_vhost(results.get(key, []))
        for key in ("exchanges", "queues", "bindings", "consumers", "connections", "policies")
    }
    broker = dict(results.get("overview", {}))
    names = _readable_vhosts(results, grouped, refused, broker)
    depths_from = results.get("depths_from", "management statistics")
    statistics = broker.get("statistics", True) is not False
    broker["figures"] = {
        "depths": depths_from,
        "consumer_counts": "management statistics" if statistics and "queues" not in refused else "none",
        "rates": "management statistics" if statistics else "none",
        # each consumer with its channel: what the graph draws consumer nodes from
        "consumer_details": "management statistics" if statistics and "consumers" not in refused else "none",
    }
    broker["missing"] = missing_notes(refused, depths_from, statistics)
    invalid = results.get("invalid_utf8_answers", 0)
    if invalid:
        broker["missing"].append(invalid_utf8_note(invalid))
    vhosts = {
        name: vhost_snapshot(
            name,
            exchanges=grouped["exchanges"].get(name, []),
            queues=grouped["queues"].get(name, []),
            bindings=grouped["bindings"].get(name, []),
            policies=grouped["policies"].get(name, []),
            consumers=grouped["consumers"].get(name, []),
            connections=grouped["connections"].get(name, []),
            broker_version=broker.get("rabbitmq_version"),
            statistics=statistics,
        )
        for name in names
    }
    return BrokerSnapshot(vhosts=vhosts, broker=broker)


def _readable_vhosts(
    results: dict[str, Any], grouped: dict[str, Any], refused: dict[str, str], broker: dict[str, Any]
) -> list[str]:
    listed = [v["name"] for v in results.get("vhosts", []) if isinstance(v.get("name"), str)]
    if "vhosts" in refused:
        listed = sorted(set(grouped["exchanges"]) | set(grouped["queues"]))
    if "exchanges" in refused:
        return listed
    # Every vhost a user may read has at least the default exchange. The 'monitoring' tag lists
    # every vhost but shows queues, exchanges and bindings only where the user has permissions:
    # a listed vhost with no exchanges is one of those, reported rather than drawn empty.
    names = [name for name in listed if name in grouped["exchanges"]]
    without_access = sorted(set(listed) - set(names))
    if without_access:
        broker["vhosts_without_access"] = without_access
    return names


def missing_notes(refused: dict[str, str], depths_from: str, statistics: bool) -> list[dict[str, str]]:
    """What the page cannot show, and why, in plain words: [{"what", "why"}]."""
    notes = []
    if not statistics:
        notes.append(
            {
                "what": "message rates and consumer details",
                "why": "management statistics are off on this broker (RabbitMQ's recommended setting "
                "from 4.x); depths come from queue totals, consumer counts from Prometheus "
                "when it answers",
            }
        )
    if depths_from == "none":
        notes.append({"what": "queue depths", "why": "the broker refused both queue listings that carry them"})
    for listing, reason in sorted(refused.items()):
        if listing == "consumers" and not statistics:
            continue  # said above
        notes.append({"what": WITHOUT.get(listing, listing), "why": reason})
    return notes


def invalid_utf8_note(answers: int) -> dict[str, str]:
    return {
        "what": "some names exactly as the broker holds them",
        "why": f"the broker sent bytes that are not valid UTF-8 ({answers} answer{'s' if answers != 1 else ''} "
        "in the last read); each such byte is shown as a \\xNN escape in the name",
    }


def broker_reason(raw: bytes) -> str:
    """The broker's own explanation of an error ({"error", "reason"}), short and as quotable text."""
    try:
        body = json.loads(raw[:10_000].decode("utf-8", "replace"))
    except (ValueError, RecursionError):
        return ""
    reason = body.get("reason") if isinstance(body, dict) else None
    return broker_text(reason) if isinstance(reason, str) else ""


def unauthorised_message(status: int, path: str, reason: str) -> str:
    """``reason`` comes from broker_reason: already cut and escaped, so it is quoted as it is."""
    if "management user" in reason.lower() or "monitor" in reason.lower():
        return (
            f"the management user may not read {path} ({status}, '{reason}'): "
            "give it the 'monitoring' tag (rabbitmqctl set_user_tags USER monitoring)"
        )
    if "login failed" in reason.lower() or status == 401:
        return (
            f"management API refused the user name or password ({status}"
            + (f", '{reason}'" if reason else "")
            + "): check the credentials in --management-url"
        )
    return f"management API refused {path} ({status}" + (f", '{reason}'" if reason else "") + ")"


def vhost_path(vhost: str) -> str:
    return quote(vhost, safe="")
