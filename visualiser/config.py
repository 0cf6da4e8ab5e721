"""Settings, layered: defaults, then a TOML file, then VISUALISER_* environment, then CLI.

Every option is declared once in OPTIONS; the CLI flag (--poll-interval), the environment
variable (VISUALISER_POLL_INTERVAL) and the file key (poll_interval) all derive from it.
Secret values are masked in repr so that logging the settings never leaks them.
"""

from __future__ import annotations

import argparse
import os
import tomllib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from typing import Any

from .diagnostics.thresholds import parse_thresholds
from .sources.management_api import redact_url

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


@dataclass(frozen=True)
class Option:
    name: str
    parse: Callable[[Any], Any]
    help: str
    secret: bool = False
    metavar: str | None = None


OPTIONS: tuple[Option, ...] = (
    Option("host", str, "address to listen on (non-loopback needs authentication)"),
    Option("port", int, "port to listen on"),
    Option("management_url", str, "RabbitMQ management API, e.g. http://user:pass@host:15672", secret=True),
    Option("poll_interval", float, "seconds between management API polls"),
    Option("request_timeout", float, "seconds before a management API request times out"),
    Option("backoff_cap", float, "longest wait, in seconds, between retries of a failing source"),
    Option("definitions", str, "show this definitions export offline instead of a live broker", metavar="FILE"),
    Option("demo", _bool, "run the embedded simulated broker (no RabbitMQ needed)"),
    Option("broker_url", str, "Celery broker (AMQP) URL: consume Celery events from it", secret=True),
    Option("celery_app", str, "the user's Celery app as module:attribute, for task routes", metavar="MODULE:ATTR"),
    Option("inspect", _bool, "also ask Celery workers which queues they consume (broadcasts to workers)"),
    Option("auth_users", _list, "user:pbkdf2-hash pairs, comma separated (see --hash-password)", secret=True),
    Option("no_auth", _bool, "allow a non-loopback bind with no authentication (not recommended)"),
    Option("allowed_origins", _list, "extra origins allowed to open a Socket.IO connection, comma separated"),
    Option("secret_key", str, "session signing key (random per start when unset)", secret=True),
    Option("log_level", str, "logging level: DEBUG, INFO, WARNING, ERROR"),
    Option("diagnostics", parse_thresholds, "diagnostics thresholds as key=value pairs, comma separated "
           "(a [diagnostics] table in the file); see docs/diagnostics.md", metavar="KEY=VALUE,..."),
)


@dataclass(frozen=True)
class Settings:
    host: str = "127.0.0.1"
    port: int = 8600
    management_url: str = "http://guest:guest@localhost:15672"
    poll_interval: float = 2.0
    request_timeout: float = 5.0
    backoff_cap: float = 30.0
    definitions: str | None = None
    demo: bool = False
    broker_url: str | None = None
    celery_app: str | None = None
    inspect: bool = False
    auth_users: tuple[str, ...] = ()
    no_auth: bool = False
    allowed_origins: tuple[str, ...] = ()
    secret_key: str | None = None
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
        if self.demo:
            return "demo"
        if self.definitions:
            return "definitions"
        return "live"


_OPTIONS_BY_NAME = {option.name: option for option in OPTIONS}


class ConfigError(ValueError):
    """A setting is missing or malformed; the message names it."""


def _coerce(source: str, values: Mapping[str, Any]) -> dict[str, Any]:
    coerced = {}
    for name, raw in values.items():
        option = _OPTIONS_BY_NAME.get(name)
        if option is None:
            raise ConfigError(f"{source}: unknown setting '{name}'")
        try:
            coerced[name] = option.parse(raw)
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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="app.py",
        description="Live routing visualiser for RabbitMQ and Celery. Every option also reads from "
        "VISUALISER_<OPTION> in the environment (e.g. VISUALISER_POLL_INTERVAL) and from a TOML file "
        "given with --config; the command line wins over the environment, which wins over the file.",
    )
    parser.add_argument("--config", metavar="FILE", help="TOML file of settings (env: VISUALISER_CONFIG)")
    parser.add_argument(
        "--hash-password", metavar="USER", help="read a password on stdin, print a user:hash for --auth-users, exit"
    )
    defaults = Settings()
    for option in OPTIONS:
        flag = "--" + option.name.replace("_", "-")
        env = ENV_PREFIX + option.name.upper()
        default = getattr(defaults, option.name)
        shown = redact_url(default) if isinstance(default, str) and option.secret else default
        text = f"{option.help} (env: {env}; default: {shown})"
        if option.parse is _bool:
            parser.add_argument(flag, action="store_const", const=True, default=None, help=text)
        else:
            parser.add_argument(flag, default=None, metavar=option.metavar or option.name.upper(), help=text)
    return parser


def load_settings(argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None) -> Settings:
    environ = os.environ if environ is None else environ
    args = build_parser().parse_args(argv)
    layered: dict[str, Any] = {}
    config_path = args.config or environ.get(ENV_PREFIX + "CONFIG")
    if config_path:
        layered.update(from_file(config_path))
    layered.update(from_env(environ))
    cli = {o.name: getattr(args, o.name) for o in OPTIONS if getattr(args, o.name) is not None}
    layered.update(_coerce("command line", cli))
    settings = replace(Settings(), **layered)
    extra = {"hash_password": args.hash_password} if args.hash_password else {}
    return replace(settings, extra=extra)
