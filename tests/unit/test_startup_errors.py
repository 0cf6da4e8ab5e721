"""Start-up errors, as an operator meets them: app.py run as its own process. Each mistake ends
the process with exit code 2 and one line on stderr that names the option and the fix, before
anything else is printed (no address banner, no warning) and before any source starts."""

from __future__ import annotations

import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import free_port

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples" / "celery_project"


def run_app(*args: str, cwd: Path = ROOT, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(ROOT / "app.py"), *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env=env,
    )


def one_error_line(result: subprocess.CompletedProcess[str]) -> str:
    """The single line the process printed, after checking how it ended."""
    assert result.returncode == 2, (result.returncode, result.stderr)
    assert result.stdout == "", result.stdout  # no banner
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert "Traceback" not in result.stderr
    return lines[0]


@pytest.mark.parametrize("interval", ["0", "-1", "0.2", "nan", "inf"])
def test_a_poll_interval_below_a_second_is_refused(interval: str) -> None:
    line = one_error_line(run_app("--demo", "--poll-interval", interval, "--port", str(free_port())))
    assert "'poll_interval'" in line and "at least 1" in line and "statistics every 5 s" in line


def test_a_poll_interval_from_the_environment_is_checked_too() -> None:
    env = {"PATH": "/usr/bin:/bin", "VISUALISER_POLL_INTERVAL": "0"}
    line = one_error_line(run_app("--demo", env=env))
    assert line.startswith("error: environment: bad value for 'poll_interval'") and "at least 1" in line


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("--request-timeout", "0"),
        ("--request-timeout", "-3"),
        ("--backoff-cap", "0"),
        ("--backoff-cap", "1e300"),
        ("--read-timeout", "nan"),
    ],
)
def test_nonsense_timeouts_are_refused(option: str, value: str) -> None:
    line = one_error_line(run_app(option, value))
    assert f"'{option[2:].replace('-', '_')}'" in line and "must be a number of seconds, at least 1 and at most" in line


@pytest.mark.parametrize("port", ["-1", "65536", "http", "80.5"])
def test_a_port_that_cannot_be_is_refused(port: str) -> None:
    line = one_error_line(run_app("--demo", "--port", port))
    assert "'port'" in line


def test_an_unknown_log_level_names_the_levels() -> None:
    line = one_error_line(run_app("--demo", "--log-level", "loud"))
    assert "'log_level'" in line and "DEBUG" in line and "WARNING" in line


def test_argument_mistakes_are_one_line_too() -> None:
    assert "unrecognized arguments: --frobnicate" in one_error_line(run_app("--frobnicate"))
    assert "--port: expected one argument" in one_error_line(run_app("--port"))
    assert "choose one" in one_error_line(run_app("--demo", "--definitions", "broker.json"))


def test_a_celery_app_outside_the_path_shows_the_import_error_and_the_fix() -> None:
    line = one_error_line(run_app("--demo", "--celery-app", "shop.app:app", "--port", str(free_port())))
    assert line == (
        "error: --celery-app shop.app:app: cannot import shop.app (No module named 'shop'): run from "
        "the directory that holds your Celery project or set PYTHONPATH"
    )


def test_a_celery_app_with_a_wrong_attribute_or_a_missing_dependency(tmp_path: Path) -> None:
    assert "shop.app has no attribute 'nope'" in one_error_line(
        run_app("--demo", "--celery-app", "shop.app:nope", cwd=EXAMPLES)
    )
    assert "is a str, not a Celery app" in one_error_line(
        run_app("--demo", "--celery-app", "shop.app:BROKER_URL", cwd=EXAMPLES)
    )
    (tmp_path / "needs.py").write_text("import no_such_dependency_here\n")
    line = one_error_line(run_app("--demo", "--celery-app", "needs:app", cwd=tmp_path))
    assert "needs no_such_dependency_here" in line and "install your project's requirements" in line
    (tmp_path / "broken.py").write_text("def oops(:\n    pass\n")
    line = one_error_line(run_app("--demo", "--celery-app", "broken:app", cwd=tmp_path))
    assert "importing broken failed (SyntaxError" in line and "fix that error" in line


@pytest.fixture
def occupied() -> Iterator[int]:
    """A port something else listens on."""
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        yield holder.getsockname()[1]


def test_a_port_in_use_is_named_with_the_port_flag_before_any_banner(occupied: int) -> None:
    line = one_error_line(run_app("--demo", "--port", str(occupied)))
    assert line == f"error: port {occupied} on 127.0.0.1 is in use: choose another with --port"


def test_a_port_in_use_comes_before_the_no_auth_warning() -> None:
    with socket.socket() as holder:
        holder.bind(("0.0.0.0", 0))
        holder.listen()
        port = holder.getsockname()[1]
        line = one_error_line(run_app("--demo", "--host", "0.0.0.0", "--no-auth", "--port", str(port)))
    assert line == f"error: port {port} on 0.0.0.0 is in use: choose another with --port"


def test_a_host_that_is_not_this_machine() -> None:
    line = one_error_line(run_app("--demo", "--host", "192.0.2.1", "--no-auth", "--port", str(free_port())))
    assert line.startswith("error: --host 192.0.2.1 is not an address of this machine")
    line = one_error_line(run_app("--demo", "--host", "no-such-host.invalid", "--no-auth"))
    assert line.startswith("error: --host no-such-host.invalid: cannot listen there")


def test_an_exposed_bind_without_authentication_is_one_line() -> None:
    line = one_error_line(run_app("--demo", "--host", "0.0.0.0"))
    assert "--hash-password" in line and "--auth-users" in line and "--no-auth" in line


def test_a_missing_definitions_file() -> None:
    line = one_error_line(run_app("--definitions", "/no/such/export.json", "--port", str(free_port())))
    assert "/no/such/export.json" in line
