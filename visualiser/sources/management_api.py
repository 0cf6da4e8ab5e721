"""A read-only client for the RabbitMQ management HTTP API.

It asks only for the columns the graph needs and pages through large listings, which
keeps a 5,000-queue broker's poll small. Every failure becomes a typed SourceError with a
message fit to show a user; credentials never appear in one (the URL we report is
redacted, and requests' own exception text, which may carry the URL, is not passed on).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

import requests

from ..model.entities import BrokerSnapshot
from .normalise import MalformedInput, group_by_vhost, require_list, vhost_snapshot

# Only the columns the graph needs. The broker still builds each queue's full row before it
# filters columns, so paging (below) is what bounds a request's cost; the statistics listing
# is kept because `disable_stats=true&enable_queue_totals=true`, which looks cheaper, asks
# every queue process for its totals and measured three times slower at 5,000 queues
# (docs/performance.md).
QUEUE_COLUMNS = ",".join(
    [
        "name", "vhost", "type", "durable", "auto_delete", "exclusive", "arguments", "policy",
        "effective_policy_definition", "messages_ready", "messages_unacknowledged", "consumers",
        "consumer_utilisation", "consumer_capacity", "state",
        "message_stats.publish_details.rate", "message_stats.deliver_get_details.rate",
        "message_stats.ack_details.rate", "message_stats.redeliver_details.rate",
    ]
)  # fmt: skip
EXCHANGE_COLUMNS = ",".join(
    [
        "name", "vhost", "type", "durable", "auto_delete", "internal", "arguments", "policy",
        "message_stats.publish_in_details.rate", "message_stats.publish_out_details.rate",
    ]
)  # fmt: skip
BINDING_COLUMNS = "source,vhost,destination,destination_type,routing_key,arguments"
CONNECTION_COLUMNS = "name,vhost,user,peer_host,peer_port,client_properties"
CONSUMER_COLUMNS = "consumer_tag,queue,channel_details,prefetch_count,ack_required,active,exclusive"


class SourceError(Exception):
    """A failure to read a source, with a message safe to show anyone."""

    state = "error"


class Unreachable(SourceError):
    state = "unreachable"


class Unauthorised(SourceError):
    state = "unauthorised"


class BadResponse(SourceError):
    state = "error"


def split_credentials(url: str, default_user: str = "guest", default_password: str = "guest") -> tuple[str, str, str]:
    """('http://host:15672', user, password) from a URL that may carry credentials."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"not an http(s) URL: {redact_url(url)}")
    user = parts.username if parts.username is not None else default_user
    password = parts.password if parts.password is not None else default_password
    host = parts.hostname if ":" not in parts.hostname else f"[{parts.hostname}]"
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path.rstrip("/"), "", "")), user, password


def redact_url(url: str) -> str:
    """The URL with any password replaced, for logs and pages."""
    try:
        parts = urlsplit(url)
        if parts.password is None:
            return url
        netloc = parts.netloc.rsplit("@", 1)[1]
        user = parts.username or ""
        return urlunsplit((parts.scheme, f"{user}:***@{netloc}", parts.path, parts.query, ""))
    except ValueError:
        return "(unparseable URL)"


class ManagementClient:
    """Reads the whole broker: its listings in parallel, and a large listing's pages in parallel."""

    def __init__(self, url: str, timeout: float = 5.0, page_size: int = 500):
        self.base_url, user, password = split_credentials(url)
        self.timeout = timeout
        self.page_size = page_size
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
        url = self.base_url + path
        try:
            response = self._session().get(url, params=params, timeout=self.timeout)
        except requests.Timeout:
            raise Unreachable(f"management API at {self.base_url} timed out after {self.timeout:g}s") from None
        except requests.RequestException as exc:
            reason = type(exc).__name__
            raise Unreachable(f"management API at {self.base_url} unreachable ({reason})") from None
        if response.status_code in (401, 403):
            raise Unauthorised(
                f"management API refused the credentials ({response.status_code}) for {path}: "
                "the user needs the 'monitoring' tag"
            )
        if response.status_code == 404:
            raise BadResponse(f"management API has no {path} (404): is the management plugin enabled?")
        if response.status_code == 400 and "page_out_of_range" in response.text:
            raise PageOutOfRange(path)
        if response.status_code >= 400:
            hint = " (one object with a non-UTF-8 name can break a whole listing)" if response.status_code == 500 else ""
            raise BadResponse(f"management API answered {response.status_code} for {path}{hint}")
        try:
            return response.json()
        except (ValueError, json.JSONDecodeError):
            kind = response.headers.get("Content-Type", "unknown type")
            raise BadResponse(f"management API answered non-JSON ({kind}) for {path}") from None

    def get_list(self, path: str, columns: str) -> list[dict[str, Any]]:
        try:
            return require_list(self.get(path, {"columns": columns}), path)
        except MalformedInput as exc:
            raise BadResponse(str(exc)) from None

    def _page(self, path: str, page: int, params: dict[str, Any]) -> tuple[list[dict[str, Any]], int]:
        """(items, page_count) of one page."""
        body = self.get(path, {**params, "page": page, "page_size": self.page_size})
        if not isinstance(body, dict) or not isinstance(body.get("items"), list):
            raise BadResponse(f"{path}: expected a paginated object with 'items'")
        page_count = body.get("page_count")
        items = [item for item in body["items"] if isinstance(item, dict)]
        return items, page_count if isinstance(page_count, int) else page

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
        body = self.get("/api/overview", {"columns": "rabbitmq_version,management_version,cluster_name,product_name"})
        if not isinstance(body, dict):
            raise BadResponse("/api/overview: expected a JSON object")
        return {k: body[k] for k in ("rabbitmq_version", "cluster_name", "product_name") if isinstance(body.get(k), str)}

    def fetch_broker(self) -> BrokerSnapshot:
        """Everything the graph needs, across all vhosts, in one consistent-enough read."""
        calls: dict[str, Callable[[], Any]] = {
            "overview": self.overview,
            "vhosts": lambda: self.get_list("/api/vhosts", "name"),
            "exchanges": lambda: self.get_paginated("/api/exchanges", EXCHANGE_COLUMNS),
            "queues": lambda: self.get_paginated("/api/queues", QUEUE_COLUMNS),
            "bindings": lambda: self.get_list("/api/bindings", BINDING_COLUMNS),
            "consumers": lambda: self.get_list("/api/consumers", CONSUMER_COLUMNS),
            "connections": lambda: self.get_paginated("/api/connections", CONNECTION_COLUMNS),
            "policies": lambda: self.get_list("/api/policies", "name,vhost,pattern,apply-to,priority,definition"),
        }
        futures = {name: self._calls.submit(call) for name, call in calls.items()}
        return build_broker_snapshot({name: future.result() for name, future in futures.items()})


class PageOutOfRange(BadResponse):
    """A later page of a listing no longer exists: objects went away between pages."""


def build_broker_snapshot(results: dict[str, Any]) -> BrokerSnapshot:
    """Group management API listings by vhost into a BrokerSnapshot."""
    grouped = {
        key: group_by_vhost(results.get(key, []))
        for key in ("exchanges", "queues", "bindings", "consumers", "connections", "policies")
    }
    listed = [v["name"] for v in results.get("vhosts", []) if isinstance(v.get("name"), str)]
    # Every vhost a user may read has at least the default exchange. The 'monitoring' tag lists
    # every vhost but shows queues, exchanges and bindings only where the user has permissions:
    # a listed vhost with no exchanges is one of those, reported rather than drawn empty.
    names = [name for name in listed if name in grouped["exchanges"]]
    broker = dict(results.get("overview", {}))
    without_access = sorted(set(listed) - set(names))
    if without_access:
        broker["vhosts_without_access"] = without_access
    vhosts = {
        name: vhost_snapshot(
            name,
            exchanges=grouped["exchanges"].get(name, []),
            queues=grouped["queues"].get(name, []),
            bindings=grouped["bindings"].get(name, []),
            policies=grouped["policies"].get(name, []),
            consumers=grouped["consumers"].get(name, []),
            connections=grouped["connections"].get(name, []),
        )
        for name in names
    }
    return BrokerSnapshot(vhosts=vhosts, broker=broker)


def vhost_path(vhost: str) -> str:
    return quote(vhost, safe="")
