"""Settings, layered: defaults, then a TOML file, then VISUALISER_* environment, then CLI.

Every option is declared once in OPTIONS; the CLI flag (--poll-interval), the environment
variable (VISUALISER_POLL_INTERVAL) and the file key (poll_interval) all derive from it.
Secret values are masked in repr so that logging the settings never leaks them.
"""

from __future__ import annotations

import argparse
import math
import os
import tomllib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from typing import Any, NoReturn

from .diagnostics.thresholds import parse_thresholds
from .model.groups import GROUP_ABOVE, GroupPatternError, check_pattern
from .server.hosts import normalise_entry
from .sources.management_api import split_credentials
from .urls import UrlError, check_url_list, redact_url

ENV_PREFIX = "VISUALISER_"


def _bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off", ""):
        return False
    raise ValueError(f"not a boolean: {value!r}")


def _list(value: Any) -> tuple[str, ...]:
    if isinstance(value, (list, tuple)):
        return tuple(str(v) for v in value)
    return tuple(part.strip() for part in str(value).split(",") if part.strip())


class ConfigError(ValueError):
    """A setting is missing or malformed; the message names it."""


# Below these, real clients on a slow link are cut off; a browser page alone opens about
# eight connections at once (its files, Socket.IO's polling and websocket requests).
MIN_TIMEOUT_SECONDS = 1.0
MIN_CONNECTIONS = 8


# A longer wait is a mistake (and overflows the platform's timers): a day.
MAX_SECONDS = 86_400.0
# The broker refreshes its statistics every 5 s: polling faster than this only adds load
# (0 or a negative interval polled in a tight loop: thousands of requests a minute).
MIN_POLL_SECONDS = 1.0
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


def _number(value: Any, what: str) -> float:
    if isinstance(value, bool):
        raise ValueError(f"a boolean is not {what}")
    return float(value)


def _seconds_between(low: float, high: float, why: str = "") -> Callable[[Any], float]:
    """A parser of a number of seconds from low to high; the error says the range (and why)."""

    def parse(value: Any) -> float:
        number = _number(value, "a number of seconds")
        if not math.isfinite(number) or not low <= number <= high:
            raise ConfigError(f"must be a number of seconds, at least {low:g} and at most {high:g}{why}")
        return number

    return parse


_seconds = _seconds_between(MIN_TIMEOUT_SECONDS, MAX_SECONDS)
_poll_seconds = _seconds_between(
    MIN_POLL_SECONDS,
    MAX_SECONDS,
    " (the broker refreshes its statistics every 5 s: polling faster only adds load to it)",
)


def _port(value: Any) -> int:
    if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
        raise ValueError("not a whole number")
    number = int(value)
    if not 0 <= number <= 65535:
        raise ConfigError("must be a port number from 1 to 65535 (0: any free port)")
    return number


def _log_level(value: Any) -> str:
    level = str(value).strip().upper()
    if level not in LOG_LEVELS:
        raise ConfigError(f"must be one of {', '.join(LOG_LEVELS)}")
    return level


def _connections(value: Any) -> int:
    if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
        raise ValueError("not a whole number")
    number = int(value)
    if number < MIN_CONNECTIONS:
        raise ConfigError(f"must be a whole number, at least {MIN_CONNECTIONS}")
    return number


def _group_pattern(value: Any) -> str:
    try:
        return check_pattern(str(value))
    except GroupPatternError as exc:
        raise ConfigError(str(exc)) from None


def _group_above(value: Any) -> int:
    if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
        raise ValueError("not a whole number")
    number = int(value)
    if number < 0:
        raise ConfigError("must be a whole number of queues (0: always group)")
    return number


def _minutes(value: Any) -> float:
    if isinstance(value, bool):
        raise ValueError("a boolean is not a number of minutes")
    number = float(value)
    if not math.isfinite(number) or number <= 0:
        raise ConfigError("must be a number of minutes greater than 0")
    return number


def _positive(what: str) -> Callable[[Any], float]:
    """A parser of a number of hours, megabytes…, greater than 0."""

    def parse(value: Any) -> float:
        if isinstance(value, bool):
            raise ValueError(f"a boolean is not a number of {what}")
        number = float(value)
        if not math.isfinite(number) or number <= 0:
            raise ConfigError(f"must be a number of {what} greater than 0")
        return number

    return parse


def _host_names(value: Any) -> tuple[str, ...]:
    names = _list(value)
    for name in names:
        if normalise_entry(name) is None:
            raise ConfigError(f"{name[:100]!r} is not a host name or IP address")
    return names


def _management_url(value: Any) -> str:
    url = str(value)
    try:
        split_credentials(url)
    except UrlError as exc:  # its message repeats no part of the URL
        raise ConfigError(str(exc)) from None
    return url


def _access_log(value: Any) -> str:
    target = str(value).strip()
    if not target:
        raise ConfigError("give '-' (standard output), a file name, or 'off'")
    return target


def _events_url(value: Any) -> str:
    url = str(value)
    return "off" if url.strip().lower() == "off" else _broker_url(url)


def _broker_url(value: Any) -> str:
    url = str(value)
    try:
        check_url_list(url)
    except UrlError as exc:
        raise ConfigError(str(exc)) from None
    return url


@dataclass(frozen=True)
class Option:
    name: str
    parse: Callable[[Any], Any]
    help: str
    secret: bool = False
    metavar: str | None = None
    shown_default: str | None = None  # what --help says the default is, when not the Settings field's value


OPTIONS: tuple[Option, ...] = (
    Option("host", str, "address to listen on (non-loopback needs authentication)"),
    Option("port", _port, "port to listen on (0: any free port, printed at start-up)"),
    Option("management_url", _management_url, "RabbitMQ management API, e.g. http://user:pass@host:15672", secret=True),
    Option("poll_interval", _poll_seconds, f"seconds between management API polls (at least {MIN_POLL_SECONDS:g})"),
    Option(
        "reconcile_interval",
        _poll_seconds,
        "seconds between full reads while the broker's event exchange pushes every change; depths "
        "are still refreshed every --poll-interval, from the cheapest source the broker offers",
    ),
    Option("request_timeout", _seconds, "seconds before a management API request times out"),
    Option("backoff_cap", _seconds, "longest wait, in seconds, between retries of a failing source"),
    Option(
        "prometheus_url",
        _list,
        "RabbitMQ Prometheus endpoints, one per cluster node, comma separated, for "
        "consumer counts when management statistics are off ('off' never asks; unset tries the management "
        "host on port 15692)",
        metavar="URL,...",
    ),
    Option(
        "events_url",
        _events_url,
        "AMQP URL to read the broker's event exchange (rabbitmq_event_exchange) "
        "with, so that changes show at once and the poll interval only reconciles; 'off' never does; unset: "
        "the management host on the AMQP port its API reports (else 5672, if the same cluster answers there), with "
        "the management user, vhost '/'",
        secret=True,
    ),
    Option(
        "group_by",
        _group_pattern,
        "name pattern for groups on a big vhost, * up to the next literal or separator, e.g. "
        "'service-*.' (unset: common name prefixes)",
        metavar="PATTERN",
    ),
    Option(
        "group_above",
        _group_above,
        f"queues (or exchanges) in a vhost above which they are drawn in name groups (default {GROUP_ABOVE})",
        metavar="N",
    ),
    Option("definitions", str, "show this definitions export offline instead of a live broker", metavar="FILE"),
    Option("demo", _bool, "run the embedded simulated broker (no RabbitMQ needed)"),
    Option(
        "broker_url",
        _broker_url,
        "Celery broker (AMQP) URL: consume Celery events from it; failover URLs separated by ';' as kombu takes them",
        secret=True,
    ),
    Option("celery_app", str, "the user's Celery app as module:attribute, for task routes", metavar="MODULE:ATTR"),
    Option("inspect", _bool, "also ask Celery workers which queues they consume (broadcasts to workers)"),
    Option("auth_users", _list, "user:pbkdf2-hash pairs, comma separated (see --hash-password)", secret=True),
    Option("no_auth", _bool, "allow a non-loopback bind with no authentication (not recommended)"),
    Option("allowed_origins", _list, "extra origins allowed to open a Socket.IO connection, comma separated"),
    Option(
        "public_hosts",
        _host_names,
        "host names and addresses the service answers to besides loopback and "
        "--host, comma separated, any port (others get a 421: a guard against DNS rebinding)",
        metavar="HOST,...",
    ),
    Option("header_timeout", _seconds, "seconds a connection has to send its request line and headers"),
    Option("read_timeout", _seconds, "seconds each later read or write of an HTTP request may take"),
    Option(
        "max_connections",
        _connections,
        "most connections served at once (also bounded by the process's open-file limit)",
    ),
    Option(
        "allow_tracing",
        _bool,
        "allow firehose tracing: the one feature that changes the broker (a vhost's "
        "tracing flag, and a bounded queue of the service's own); see docs/tracing.md",
    ),
    Option("trace_minutes", _minutes, "minutes a trace runs when the request does not say", metavar="MINUTES"),
    Option("trace_max_minutes", _minutes, "longest a trace may be asked to run, in minutes", metavar="MINUTES"),
    Option(
        "trace_url",
        _broker_url,
        "AMQP URL the trace consumer connects with (its vhost is replaced by the "
        "traced one); unset: --broker-url's host and user, else the management host on port 5672 with the "
        "management user",
        secret=True,
    ),
    Option(
        "record",
        str,
        "SQLite file that records what the page shows, for time travel, --export and --replay (see docs/recording.md)",
        metavar="FILE",
        shown_default="$XDG_STATE_HOME/rabbitmq-visualiser/recording-PORT.db, i.e. "
        "~/.local/state/rabbitmq-visualiser/recording-PORT.db: one file per port",
    ),
    Option("no_record", _bool, "do not record (time travel and --export then have nothing to read)"),
    Option(
        "record_max_hours", _positive("hours"), "hours of recording kept; older moments are deleted", metavar="HOURS"
    ),
    Option(
        "record_max_mb",
        _positive("megabytes"),
        "megabytes the recording may use; the oldest moments are deleted to stay under it",
        metavar="MB",
    ),
    Option(
        "replay",
        str,
        "show a recording (or an --export of one) instead of a live broker; no broker needed",
        metavar="FILE",
    ),
    Option("secret_key", str, "session signing key (random per start when unset)", secret=True),
    Option(
        "message_queue",
        _broker_url,
        "AMQP URL of a RabbitMQ through which several processes serve one "
        "deployment: Socket.IO fans out through it and it elects the one process that reads the broker (see "
        "docs/deployment.md); give every process the same settings",
        secret=True,
    ),
    Option(
        "access_log",
        _access_log,
        "where the HTTP access log goes: '-' (standard output), a file, or 'off'; "
        "it never holds query strings, headers or user names",
        metavar="FILE",
    ),
    Option("log_level", _log_level, "logging level: " + ", ".join(LOG_LEVELS)),
    Option(
        "diagnostics",
        parse_thresholds,
        "diagnostics thresholds as key=value pairs, comma separated "
        "(a [diagnostics] table in the file); see docs/diagnostics.md",
        metavar="KEY=VALUE,...",
    ),
)


@dataclass(frozen=True)
class Settings:
    host: str = "127.0.0.1"
    port: int = 8600
    management_url: str = "http://guest:guest@localhost:15672"
    poll_interval: float = 2.0
    reconcile_interval: float = 30.0
    request_timeout: float = 5.0
    backoff_cap: float = 30.0
    prometheus_url: tuple[str, ...] = ()
    events_url: str | None = None
    group_by: str | None = None
    group_above: int = GROUP_ABOVE
    definitions: str | None = None
    demo: bool = False
    broker_url: str | None = None
    celery_app: str | None = None
    inspect: bool = False
    auth_users: tuple[str, ...] = ()
    no_auth: bool = False
    allowed_origins: tuple[str, ...] = ()
    public_hosts: tuple[str, ...] = ()
    header_timeout: float = 10.0
    read_timeout: float = 30.0
    max_connections: int = 256
    allow_tracing: bool = False
    trace_minutes: float = 10.0
    trace_max_minutes: float = 60.0
    trace_url: str | None = None
    record: str | None = None  # None: no recording (app.py fills in the default file, recording/paths.py)
    no_record: bool = False
    record_max_hours: float = 24.0
    record_max_mb: float = 500.0
    replay: str | None = None
    secret_key: str | None = None
    message_queue: str | None = None
    access_log: str = "-"
    log_level: str = "INFO"
    diagnostics: dict[str, float] = field(default_factory=dict, compare=False)
    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    def __repr__(self) -> str:
        shown = []
        for f in fields(self):
            value = getattr(self, f.name)
            option = _OPTIONS_BY_NAME.get(f.name)
            if option and option.secret and value:
                value = redact_url(value) if isinstance(value, str) and "://" in value else "***"
            shown.append(f"{f.name}={value!r}")
        return "Settings(" + ", ".join(shown) + ")"

    __str__ = __repr__

    @property
    def mode(self) -> str:
        if self.replay:
            return "replay"
        if self.demo:
            return "demo"
        if self.definitions:
            return "definitions"
        return "live"


_OPTIONS_BY_NAME = {option.name: option for option in OPTIONS}


def _coerce(source: str, values: Mapping[str, Any]) -> dict[str, Any]:
    coerced = {}
    for name, raw in values.items():
        option = _OPTIONS_BY_NAME.get(name)
        if option is None:
            raise ConfigError(f"{source}: unknown setting '{name}'")
        try:
            coerced[name] = option.parse(raw)
        except ConfigError as exc:  # says what a good value looks like, without repeating a secret
            raise ConfigError(f"{source}: bad value for '{name}': {exc}") from None
        except (TypeError, ValueError):
            raise ConfigError(f"{source}: bad value for '{name}'") from None
    return coerced


def from_file(path: str) -> dict[str, Any]:
    try:
        with open(path, "rb") as handle:
            data = tomllib.load(handle)
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such config file") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc})") from None
    return _coerce(path, data.get("visualiser", data))


def from_env(environ: Mapping[str, str]) -> dict[str, Any]:
    found = {o.name: environ[ENV_PREFIX + o.name.upper()] for o in OPTIONS if ENV_PREFIX + o.name.upper() in environ}
    return _coerce("environment", found)


class _Parser(argparse.ArgumentParser):
    """argparse, whose mistakes (an unknown flag, a missing value) are one ConfigError line
    rather than the usage text and an exit: every start-up error reads the same way."""

    def error(self, message: str) -> NoReturn:
        raise ConfigError(f"command line: {message} (see {self.prog} --help)")


def build_parser(prog: str = "app.py") -> argparse.ArgumentParser:
    parser = _Parser(
        prog=prog,
        description="Live routing visualiser for RabbitMQ and Celery. Every option also reads from "
        "VISUALISER_<OPTION> in the environment (e.g. VISUALISER_POLL_INTERVAL) and from a TOML file "
        "given with --config; the command line wins over the environment, which wins over the file.",
    )
    parser.add_argument("--config", metavar="FILE", help="TOML file of settings (env: VISUALISER_CONFIG)")
    parser.add_argument(
        "--hash-password", metavar="USER", help="read a password on stdin, print a user:hash for --auth-users, exit"
    )
    parser.add_argument(
        "--export",
        nargs=3,
        metavar=("FROM", "TO", "OUT"),
        help="copy the recording (--record FILE, or the default one) from FROM to TO into the new file OUT, for "
        "--replay elsewhere, and exit; times are UNIX seconds, ISO 8601 (2026-03-01T03:12, local time unless it "
        "says), 'now', or relative to now (now-2h, now-90m, now-30s)",
    )
    defaults = Settings()
    for option in OPTIONS:
        flag = "--" + option.name.replace("_", "-")
        env = ENV_PREFIX + option.name.upper()
        default = getattr(defaults, option.name)
        shown = redact_url(default) if isinstance(default, str) and option.secret else default
        shown = option.shown_default or shown
        text = f"{option.help} (env: {env}; default: {shown})"
        if option.parse is _bool:
            parser.add_argument(flag, action="store_const", const=True, default=None, help=text)
        else:
            parser.add_argument(flag, default=None, metavar=option.metavar or option.name.upper(), help=text)
    return parser


def load_settings(
    argv: Sequence[str] | None = None,
    environ: Mapping[str, str] | None = None,
    *,
    prog: str = "app.py",
    defaults: Mapping[str, Any] | None = None,
) -> Settings:
    """``defaults``: values below every layer (the file, the environment, the command line), e.g.
    what ``celery -A proj visualiser`` reads from the user's Celery app."""
    environ = os.environ if environ is None else environ
    args = build_parser(prog).parse_args(argv)
    layered: dict[str, Any] = _coerce("the Celery app", defaults) if defaults else {}
    config_path = args.config or environ.get(ENV_PREFIX + "CONFIG")
    if config_path:
        layered.update(from_file(config_path))
    layered.update(from_env(environ))
    cli = {o.name: getattr(args, o.name) for o in OPTIONS if getattr(args, o.name) is not None}
    layered.update(_coerce("command line", cli))
    settings = replace(Settings(), **layered)
    if settings.demo and settings.definitions:
        raise ConfigError(
            "--demo and --definitions both given: choose one (the demo simulates a broker, "
            "--definitions shows an export offline)"
        )
    extra: dict[str, Any] = {"hash_password": args.hash_password} if args.hash_password else {}
    if args.export:
        extra["export"] = tuple(args.export)
    return replace(settings, extra=extra)
