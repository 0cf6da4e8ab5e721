"""Loads a RabbitMQ definitions export and shows it offline, with no broker at all.

Accepts both forms the broker writes: the whole-broker export (management UI,
``rabbitmqctl export_definitions``, ``GET /api/definitions``) whose objects name their
vhost, and the single-vhost export (``GET /api/definitions/<vhost>``) whose objects do not.
"""

from __future__ import annotations

import json
import os
import time
from typing import Any

from ..model.entities import BrokerSnapshot
from .normalise import group_by_vhost, vhost_snapshot
from .sink import Sink
from .status import SourceStatus

SOURCE = "definitions"
_SECTIONS = ("exchanges", "queues", "bindings", "policies")


class DefinitionsError(ValueError):
    """The file cannot be shown; the message names it and says what is wrong."""


def parse_definitions(data: Any, *, single_vhost_name: str = "/") -> BrokerSnapshot:
    if not isinstance(data, dict):
        raise DefinitionsError(f"not a definitions export: the top level is a JSON {type(data).__name__}")
    if not any(key in data for key in _SECTIONS):
        raise DefinitionsError("not a definitions export: no exchanges, queues, bindings or policies")
    for key in (*_SECTIONS, "vhosts"):
        if key in data and not isinstance(data[key], list):
            raise DefinitionsError(f"not a definitions export: '{key}' is not a list")
    sections = {key: [item for item in data.get(key, []) if isinstance(item, dict)] for key in _SECTIONS}
    default = None if "vhosts" in data else _single_vhost_name(sections, single_vhost_name)
    grouped = {key: group_by_vhost(items, default) for key, items in sections.items()}
    names = {v["name"] for v in data.get("vhosts", []) if isinstance(v, dict) and isinstance(v.get("name"), str)}
    names |= {vhost for by_vhost in grouped.values() for vhost in by_vhost}
    if not names:
        names = {single_vhost_name}
    version = data.get("rabbitmq_version") or data.get("rabbit_version")
    version = version if isinstance(version, str) else None
    vhosts = {
        name: vhost_snapshot(
            name,
            exchanges=grouped["exchanges"].get(name, []),
            queues=grouped["queues"].get(name, []),
            bindings=grouped["bindings"].get(name, []),
            policies=grouped["policies"].get(name, []),
            add_builtin_exchanges=True,
            match_policies=True,
            broker_version=version,
            statistics=False,
        )
        for name in sorted(names)
    }
    # A definitions file has no depths, consumers or rates: say so rather than show zeros.
    broker: dict[str, Any] = {
        "figures": {"depths": "none", "consumer_counts": "none", "rates": "none", "consumer_details": "none"},
        "missing": [{"what": "queue depths, consumers and rates", "why": "a definitions file describes topology only"}],
    }
    if version:
        broker["rabbitmq_version"] = version
    return BrokerSnapshot(vhosts=vhosts, broker=broker)


def _single_vhost_name(sections: dict[str, list[dict[str, Any]]], fallback: str) -> str:
    """The vhost of a single-vhost export: objects there carry no vhost, but policies still
    name theirs (RabbitMQ 3.10 writes it), which is the only hint of which vhost it was."""
    named = {item["vhost"] for items in sections.values() for item in items if isinstance(item.get("vhost"), str)}
    return named.pop() if len(named) == 1 else fallback


def load_definitions(path: str) -> BrokerSnapshot:
    try:
        with open(path, encoding="utf-8") as handle:
            data = json.load(handle)
    except FileNotFoundError:
        raise DefinitionsError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise DefinitionsError(f"{path}: is a directory, not a definitions file") from None
    except PermissionError:
        raise DefinitionsError(f"{path}: permission denied") from None
    except UnicodeDecodeError:
        raise DefinitionsError(f"{path}: not UTF-8 text") from None
    except json.JSONDecodeError as exc:
        raise DefinitionsError(f"{path}: not JSON ({exc.msg} at line {exc.lineno})") from None
    except RecursionError:
        raise DefinitionsError(f"{path}: not JSON (nested too deeply)") from None
    try:
        return parse_definitions(data)
    except DefinitionsError as exc:
        raise DefinitionsError(f"{path}: {exc}") from None


class DefinitionsSource:
    """A static source: load once (the caller validated it at start-up), post once."""

    def __init__(self, path: str, hub: Sink):
        self.path, self.hub = path, hub
        self.snapshot = load_definitions(path)

    def start(self) -> None:
        now = time.time()
        self.hub.publish_broker(SOURCE, self.snapshot)
        # The status bar reads "definitions file: shop.json, exported from RabbitMQ 3.13.7".
        version = self.snapshot.broker.get("rabbitmq_version")
        exported = f"exported from RabbitMQ {version}" if version else "RabbitMQ version not stated in the export"
        detail = f"{os.path.basename(self.path)}, {exported}"
        self.hub.publish_status(SourceStatus(SOURCE, state="ok", detail=detail, last_success=now, since=now))

    def stop(self) -> None:
        pass
