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
        2.0, "http://guest:guest@localhost:15672", "live")


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
    result = subprocess.run([sys.executable, "app.py", "--help"], cwd=ROOT, capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0
    assert "--management-url" in result.stdout and "guest:***@" in result.stdout
    assert "guest:guest" not in result.stdout


def test_bad_setting_exits_2_with_one_line():
    result = subprocess.run([sys.executable, "app.py", "--poll-interval", "soon"], cwd=ROOT, capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 2
    assert result.stderr.strip() == "error: command line: bad value for 'poll_interval'"
