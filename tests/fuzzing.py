"""The fuzzers of the JSON API (every GET route's query parameters, POST /api/route bodies)
and of the definitions loader, seeded: the tests run them briefly, benchmarks/fuzz_api.py at
length. What counts as a failure: a 500, a hang, or an exception other than the documented one."""

from __future__ import annotations

import copy
import json
import random
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

from visualiser.config import Settings
from visualiser.model.topology import build_graph
from visualiser.sources.definitions import DefinitionsError, load_definitions, parse_definitions

ROOT = Path(__file__).resolve().parents[1]
FIXTURE = ROOT / "tests" / "fixtures" / "definitions_broker.json"
REQUEST_TIMEOUT = 10.0  # a request slower than this counts as a hang

HOSTILE = [
    "", " ", "  ", "\t", "/", "%2F", "..", "../../etc/passwd", "\\", "'", '"', "`", "''", "\"'><",
    "<script>alert(1)</script>", "<img src=x onerror=alert(1)>", "javascript:alert(1)", "{{7*7}}", "${7*7}",
    "\u202eevil\u202c", "\u200b", "\ufeff", "🐇📨", "x" * 255, "é" * 128, "x" * 5000, "\x00", "\x1b[31m",
    "null", "true", "-1", "0", "1e309", "NaN", "99999999999999999999999", "%", "%00", "?a=b&c", "#",
    "amq.default", "amq.topic", "orders.#", "*.*", "#", "a.b.c", "\ud800",
]  # fmt: skip
PARAM_NAMES = ["vhost", "limit", "queue", "name", "state", "worker", "task", "exchange", "routing_key", "since"]


# ---- random values ----------------------------------------------------------------------------


def hostile_text(rng: random.Random) -> str:
    choice = rng.random()
    if choice < 0.6:
        return rng.choice(HOSTILE)
    if choice < 0.8:
        return "".join(chr(rng.randrange(0x20, 0x3000)) for _ in range(rng.randrange(0, 40)))
    return rng.choice(HOSTILE) + rng.choice(HOSTILE)


def json_value(rng: random.Random, depth: int = 0) -> Any:
    kinds = ["str", "int", "float", "bool", "null"] + (["list", "dict"] if depth < 4 else [])
    kind = rng.choice(kinds)
    if kind == "str":
        return hostile_text(rng)
    if kind == "int":
        return rng.choice([0, -1, 1, 2**31, -(2**63), 10**30, rng.randrange(-1000, 1000)])
    if kind == "float":
        return rng.choice([0.5, -0.0, 1e308, -1e-308, rng.uniform(-1e6, 1e6)])
    if kind == "bool":
        return rng.random() < 0.5
    if kind == "null":
        return None
    if kind == "list":
        return [json_value(rng, depth + 1) for _ in range(rng.randrange(0, 5))]
    return {hostile_text(rng): json_value(rng, depth + 1) for _ in range(rng.randrange(0, 5))}


def deep_nesting(rng: random.Random) -> str:
    depth = rng.choice([100, 1000, 100000])
    return "[" * depth + "]" * depth if rng.random() < 0.5 else '{"a":' * depth + "1" + "}" * depth


# ---- HTTP cases ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    method: str
    path: str
    params: dict[str, str] = field(default_factory=dict)
    body: bytes | None = None
    content_type: str | None = None

    def describe(self) -> str:
        body = (self.body or b"")[:120]
        return f"{self.method} {self.path} params={self.params!r} type={self.content_type!r} body={body!r}"


def query_case(rng: random.Random, paths: list[str]) -> Case:
    names = rng.sample(PARAM_NAMES, rng.randrange(0, 4)) + ([hostile_text(rng)] if rng.random() < 0.2 else [])
    return Case("GET", rng.choice(paths), {name: hostile_text(rng) for name in names})


def route_body(rng: random.Random, names: dict[str, list[str]]) -> Any:
    body: dict[str, Any] = {
        "vhost": rng.choice(names["vhosts"]),
        "exchange": rng.choice(names["exchanges"]),
        "routing_key": rng.choice(["", "a.b", "order.created", hostile_text(rng)]),
        "headers": {hostile_text(rng): json_value(rng, 3) for _ in range(rng.randrange(0, 4))},
    }
    for _ in range(rng.randrange(0, 3)):  # mutate: drop, retype or add a field
        key = rng.choice([*body, hostile_text(rng)])
        if rng.random() < 0.3:
            body.pop(key, None)
        else:
            body[key] = json_value(rng)
    return body if rng.random() < 0.9 else json_value(rng)


def route_case(rng: random.Random, names: dict[str, list[str]]) -> Case:
    roll = rng.random()
    if roll < 0.8:
        return Case(
            "POST", "/api/route", body=json.dumps(route_body(rng, names)).encode(), content_type="application/json"
        )
    if roll < 0.9:
        raw = rng.choice([deep_nesting(rng).encode(), b"\xff\xfe{", b"{", b"", b'"x"', b"NaN"])
        return Case("POST", "/api/route", body=raw, content_type="application/json")
    return Case("POST", "/api/route", body=json.dumps(route_body(rng, names)).encode(),
                content_type=rng.choice([None, "text/plain", "application/x-www-form-urlencoded", "application/json; charset=latin-1"]))  # fmt: skip


def http_cases(rng: random.Random, paths: list[str], names: dict[str, list[str]], count: int) -> Iterator[Case]:
    for _ in range(count):
        yield route_case(rng, names) if rng.random() < 0.5 else query_case(rng, paths)


def send(base_url: str, case: Case) -> int:
    headers = {"Content-Type": case.content_type} if case.content_type else {}
    # As bytes, so that lone surrogates go out as the invalid UTF-8 a hostile client can send.
    params = {k.encode("utf-8", "surrogatepass"): v.encode("utf-8", "surrogatepass") for k, v in case.params.items()}
    response = requests.request(
        case.method, base_url + case.path, params=params, data=case.body, headers=headers, timeout=REQUEST_TIMEOUT
    )
    return response.status_code


# ---- definitions cases ---------------------------------------------------------------------------


def paths_in(doc: Any, prefix: tuple = ()) -> list[tuple]:
    found = [prefix]
    if isinstance(doc, dict):
        for key, value in doc.items():
            found += paths_in(value, (*prefix, key))
    elif isinstance(doc, list):
        for index, value in enumerate(doc):
            found += paths_in(value, (*prefix, index))
    return found


def mutate(doc: Any, rng: random.Random) -> Any:
    """The document with a few values replaced, deleted or duplicated, anywhere in it."""
    doc = copy.deepcopy(doc)
    for _ in range(rng.randrange(1, 6)):
        path = rng.choice(paths_in(doc))
        if not path:
            return json_value(rng) if rng.random() < 0.3 else doc
        parent = doc
        for step in path[:-1]:
            parent = parent[step]
        last = path[-1]
        action = rng.random()
        if action < 0.25 and isinstance(parent, dict):
            del parent[last]
        elif action < 0.35 and isinstance(parent, list):
            parent.append(copy.deepcopy(parent[last]))
        else:
            parent[last] = json_value(rng)
    return doc


def check_definitions(doc: Any) -> str:
    """Accept or refuse with DefinitionsError; anything else (or a graph that fails) is a bug."""
    try:
        snapshot = parse_definitions(doc)
    except DefinitionsError:
        return "refused"
    for vhost in snapshot.vhosts.values():
        build_graph(vhost)
    return "accepted"


def check_definitions_file(raw: bytes, directory: Path) -> str:
    path = directory / "defs.json"
    path.write_bytes(raw)
    try:
        snapshot = load_definitions(str(path))
    except DefinitionsError:
        return "refused"
    for vhost in snapshot.vhosts.values():
        build_graph(vhost)
    return "accepted"


def raw_definitions(rng: random.Random, base: Any) -> bytes:
    text = json.dumps(mutate(base, rng)).encode()
    roll = rng.random()
    if roll < 0.3:
        cut = rng.randrange(len(text))
        return text[:cut] + bytes([rng.randrange(256)]) + text[cut + 1 :]
    if roll < 0.4:
        return deep_nesting(rng).encode()
    if roll < 0.5:
        return rng.choice([b"", b"\xff\xfe", b"null", b"[]", b'{"queues": {}}', "\ufeff{}".encode()])
    return text


# ---- runners ------------------------------------------------------------------------------------------


@dataclass
class Report:
    name: str
    cases: int = 0
    failures: list[str] = field(default_factory=list)
    statuses: Counter = field(default_factory=Counter)
    slowest: float = 0.0

    def record(self, started: float, status: int | str) -> None:
        self.cases += 1
        self.statuses[status] += 1
        self.slowest = max(self.slowest, time.perf_counter() - started)

    def line(self) -> str:
        codes = ", ".join(f"{k}: {v}" for k, v in sorted(self.statuses.items(), key=lambda kv: str(kv[0])))
        return (
            f"{self.name}: {self.cases} cases, {len(self.failures)} failures, slowest {self.slowest * 1000:.0f} ms"
            f" [{codes}]"
        )


def fuzz_http(base_url: str, rng: random.Random, iterations: int) -> Report:
    report = Report("http")
    vhosts = [v["name"] for v in requests.get(base_url + "/api/vhosts", timeout=10).json()]
    exchanges = []
    for vhost in vhosts:
        nodes = requests.get(base_url + "/api/topology", params={"vhost": vhost}, timeout=10).json()["nodes"]
        exchanges += [n["name"] for n in nodes if n["kind"] == "exchange"]
    names = {"vhosts": vhosts or ["/"], "exchanges": exchanges or [""]}
    paths = [
        "/api/vhosts",
        "/api/topology",
        "/api/diagnostics",
        "/api/queue-history",
        "/api/workers",
        "/api/tasks",
        "/api/celery",
        "/api/celery/tasks",
        "/api/celery/route",
        "/healthz",
        "/metrics",
        "/",
    ]
    for case in http_cases(rng, paths, names, iterations):
        started = time.perf_counter()
        try:
            status: int | str = send(base_url, case)
        except requests.Timeout:
            status = "hang"
        except requests.RequestException as exc:
            status = type(exc).__name__
        report.record(started, status)
        if not isinstance(status, int) or status >= 500:
            report.failures.append(f"{status}: {case.describe()}")
    return report


def fuzz_definitions(rng: random.Random, iterations: int) -> Report:
    report = Report("definitions")
    base = json.loads(FIXTURE.read_text())
    with tempfile.TemporaryDirectory() as tmp:
        for index in range(iterations):
            started = time.perf_counter()
            as_file = index % 4 == 0
            raw = raw_definitions(rng, base) if as_file else None
            doc = None if as_file else mutate(base, rng)
            try:
                outcome = check_definitions_file(raw, Path(tmp)) if as_file else check_definitions(doc)
                report.record(started, outcome)
            except Exception as exc:  # noqa: BLE001 - any other exception is the finding
                report.record(started, type(exc).__name__)
                shown = repr(raw[:200]) if as_file else json.dumps(doc)[:300]
                report.failures.append(f"{type(exc).__name__}: {exc} <- {shown}")
    return report


def serve(settings: Settings) -> tuple[str, Callable[[], None]]:
    """The real app on a free loopback port, served as the command serves it; returns its URL and
    a stop function that stops it as SIGTERM does (pages told to go, then the server)."""
    from tests.conftest import run_live, stop_live

    server, _ = run_live(settings)
    server.service.hub.drain()
    url = server.url
    for _ in range(200):
        try:
            if requests.get(url + "/api/vhosts", timeout=1).json():
                break
        except requests.RequestException:
            pass
        time.sleep(0.05)
    return url, lambda: stop_live(server)


def fuzz_settings() -> Settings:
    return Settings(definitions=str(FIXTURE), log_level="ERROR")
