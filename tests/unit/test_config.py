"""Settings layering (defaults, TOML file, VISUALISER_* env, CLI) and secret masking."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from visualiser.config import OPTIONS, ConfigError, Settings, build_parser, load_settings

ROOT = Path(__file__).resolve().parents[2]


def write_toml(tmp_path: Path, text: str) -> str:
    path = tmp_path / "visualiser.toml"
    path.write_text(text, encoding="utf-8")
    return str(path)


def test_defaults():
    settings = load_settings([], {})
    assert settings == Settings()
    assert (settings.poll_interval, settings.management_url, settings.mode) == (
        2.0,
        "http://guest:guest@localhost:15672",
        "live",
    )


def test_each_layer_overrides_the_one_below(tmp_path):
    config = write_toml(tmp_path, '[visualiser]\npoll_interval = 7\nport = 9000\nbackoff_cap = 11\nhost = "0.0.0.0"\n')
    env = {"VISUALISER_POLL_INTERVAL": "5", "VISUALISER_PORT": "9100", "VISUALISER_CONFIG": config}
    settings = load_settings(["--poll-interval", "3"], env)
    assert settings.poll_interval == 3.0  # CLI over env over file
    assert settings.port == 9100  # env over file
    assert settings.backoff_cap == 11.0 and settings.host == "0.0.0.0"  # file over defaults
    assert settings.request_timeout == Settings().request_timeout


def test_config_flag_and_a_file_without_a_table(tmp_path):
    config = write_toml(tmp_path, "demo = true\nallowed_origins = ['https://a.example', 'https://b.example']\n")
    settings = load_settings(["--config", config], {})
    assert settings.demo is True and settings.mode == "demo"
    assert settings.allowed_origins == ("https://a.example", "https://b.example")


def test_env_booleans_and_lists():
    settings = load_settings([], {"VISUALISER_DEMO": "yes", "VISUALISER_ALLOWED_ORIGINS": " https://a , https://b ,"})
    assert settings.demo is True and settings.allowed_origins == ("https://a", "https://b")
    assert load_settings([], {"VISUALISER_DEMO": "off"}).demo is False


def test_cli_flag_for_a_boolean_needs_no_value():
    assert load_settings(["--demo"], {"VISUALISER_DEMO": "false"}).demo is True


@pytest.mark.parametrize(
    ("argv", "env", "message"),
    [
        ([], {"VISUALISER_POLL_INTERVAL": "often"}, "environment: bad value for 'poll_interval'"),
        ([], {"VISUALISER_DEMO": "perhaps"}, "environment: bad value for 'demo'"),
        (["--port", "eighty"], {}, "command line: bad value for 'port'"),
    ],
)
def test_bad_values_name_the_setting(argv, env, message):
    with pytest.raises(ConfigError, match=message):
        load_settings(argv, env)


def test_file_errors_name_the_file(tmp_path):
    with pytest.raises(ConfigError, match="no such config file"):
        load_settings(["--config", str(tmp_path / "missing.toml")], {})
    broken = write_toml(tmp_path, "poll_interval = = 2")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_settings(["--config", broken], {})
    unknown = write_toml(tmp_path, "polling = 2")
    with pytest.raises(ConfigError, match=r"visualiser.toml: unknown setting 'polling'"):
        load_settings(["--config", unknown], {})


def test_secrets_are_masked_in_repr():
    settings = load_settings(
        ["--management-url", "http://watcher:hunter2@broker:15672", "--secret-key", "sekrit-key"],
        {"VISUALISER_BROKER_URL": "amqp://app:amqp-pass@broker:5672//", "VISUALISER_AUTH_USERS": "ann:pbkdf2$abc"},
    )
    shown = repr(settings) + str(settings)
    for secret in ("hunter2", "sekrit-key", "amqp-pass", "pbkdf2$abc"):
        assert secret not in shown
    assert "http://watcher:***@broker:15672" in shown and "amqp://app:***@broker:5672//" in shown
    assert settings.management_url == "http://watcher:hunter2@broker:15672"  # the value itself is intact


def test_every_option_has_a_flag_and_an_env_name_in_help():
    help_text = build_parser().format_help()
    for option in OPTIONS:
        assert "--" + option.name.replace("_", "-") in help_text
        assert "VISUALISER_" + option.name.upper() in help_text.replace("\n", "").replace(" ", "")


def test_help_runs_and_shows_no_default_password():
    result = subprocess.run([sys.executable, "app.py", "--help"], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0
    assert "--management-url" in result.stdout and "guest:***@" in result.stdout
    assert "guest:guest" not in result.stdout


def test_bad_setting_exits_2_with_one_line():
    result = subprocess.run(
        [sys.executable, "app.py", "--poll-interval", "soon"], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2
    assert result.stderr.strip() == "error: command line: bad value for 'poll_interval'"


# ---- serving limits and public host names ---------------------------------------------------


def test_serving_limits_and_public_hosts_from_each_layer(tmp_path):
    config = write_toml(tmp_path, "header_timeout = 4\nmax_connections = 64\npublic_hosts = ['vis.example.com']\n")
    settings = load_settings(
        ["--config", config, "--read-timeout", "12.5"],
        {"VISUALISER_PUBLIC_HOSTS": "vis.example.com, 10.0.0.5", "VISUALISER_MAX_CONNECTIONS": "90"},
    )
    assert (settings.header_timeout, settings.read_timeout, settings.max_connections) == (4.0, 12.5, 90)
    assert settings.public_hosts == ("vis.example.com", "10.0.0.5")


def test_the_server_and_the_host_gate_use_those_settings():
    from visualiser.server.hosts import HostAllowlist
    from visualiser.server.serving import Limits

    settings = load_settings(
        [
            "--header-timeout",
            "3",
            "--read-timeout",
            "7",
            "--max-connections",
            "40",
            "--public-hosts",
            "vis.example.com",
        ],
        {},
    )
    assert Limits.from_settings(settings) == Limits(header_timeout=3.0, read_timeout=7.0, max_connections=40)
    assert Limits.from_settings(Settings()) == Limits()  # one set of defaults
    assert HostAllowlist.from_settings(settings).allows("vis.example.com:8600")
    assert not HostAllowlist.from_settings(Settings()).allows("vis.example.com:8600")


@pytest.mark.parametrize(
    ("argv", "env", "message"),
    [
        (
            ["--header-timeout", "0.2"],
            {},
            "command line: bad value for 'header_timeout': must be a number of seconds, at least 1",
        ),
        (["--read-timeout", "-5"], {}, "command line: bad value for 'read_timeout': must be a number of seconds"),
        (["--read-timeout", "nan"], {}, "command line: bad value for 'read_timeout'"),
        (["--header-timeout", "inf"], {}, "command line: bad value for 'header_timeout'"),
        (["--header-timeout", "soon"], {}, "command line: bad value for 'header_timeout'"),
        (
            [],
            {"VISUALISER_MAX_CONNECTIONS": "0"},
            "environment: bad value for 'max_connections': must be a whole number, at least",
        ),
        ([], {"VISUALISER_MAX_CONNECTIONS": "12.5"}, "environment: bad value for 'max_connections'"),
        ([], {"VISUALISER_MAX_CONNECTIONS": "many"}, "environment: bad value for 'max_connections'"),
        (
            ["--public-hosts", "vis.example.com,[::1"],
            {},
            "command line: bad value for 'public_hosts': '\\[::1' is not a host name or IP address",
        ),
        (["--public-hosts", "vis.example.com:http"], {}, "command line: bad value for 'public_hosts'"),
    ],
)
def test_bad_limits_and_host_names_are_one_line_errors_naming_the_option(argv, env, message):
    with pytest.raises(ConfigError, match=message) as caught:
        load_settings(argv, env)
    assert "\n" not in str(caught.value)


def test_a_bad_limit_in_the_file_names_the_file_and_the_option(tmp_path):
    config = write_toml(tmp_path, "max_connections = 3\n")
    with pytest.raises(ConfigError, match=r"visualiser.toml: bad value for 'max_connections'"):
        load_settings(["--config", config], {})
    boolean = write_toml(tmp_path, "header_timeout = true\n")
    with pytest.raises(ConfigError, match=r"visualiser.toml: bad value for 'header_timeout'"):
        load_settings(["--config", boolean], {})


# ---- URLs with credentials ------------------------------------------------------------------

RESERVED_PASSWORD = "p@ss:w/rd#?%"


def test_failover_broker_urls_are_masked_in_repr():
    urls = (
        "amqp://app:first-pass@h1:5672/v;amqp://app:second-pass@h2:5672/v",
        "amqp://app:first-pass@h1:5672/v,amqp://app:second-pass@h2:5672/v",
    )
    for url in urls:
        shown = repr(load_settings(["--broker-url", url], {}))
        assert "first-pass" not in shown and "second-pass" not in shown
        assert "amqp://app:***@h1:5672/v" in shown and "amqp://app:***@h2:5672/v" in shown


@pytest.mark.parametrize("option", ["--management-url", "--broker-url"])
@pytest.mark.parametrize(
    "template", ["{scheme}://watcher:{password}@mq-host:{port}/", "{scheme}://watcher:12/{password}@mq-host:{port}/"]
)
def test_a_password_with_unencoded_reserved_characters_is_refused_without_echoing_it(option, template):
    scheme, port = ("http", 15672) if option == "--management-url" else ("amqp", 5672)
    url = template.format(scheme=scheme, password=RESERVED_PASSWORD, port=port)
    with pytest.raises(ConfigError) as caught:
        load_settings([option, url], {})
    message = str(caught.value)
    name = option[2:].replace("-", "_")
    assert message.startswith(f"command line: bad value for '{name}': ") and "\n" not in message
    assert "percent-encode" in message and "%23" in message
    for fragment in ("p@ss", "ss:w", "w/rd", "rd#", "12/", "watcher", "mq-host"):
        assert fragment not in message, fragment


@pytest.mark.parametrize("option", ["--management-url", "--broker-url"])
def test_a_percent_encoded_password_is_accepted(option):
    from urllib.parse import quote

    scheme, port = ("http", 15672) if option == "--management-url" else ("amqp", 5672)
    url = f"{scheme}://watcher:{quote(RESERVED_PASSWORD, safe='')}@broker:{port}/"
    settings = load_settings([option, url], {})
    assert quote(RESERVED_PASSWORD, safe="") not in repr(settings) and RESERVED_PASSWORD not in repr(settings)
