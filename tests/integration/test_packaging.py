"""The package as a user gets it: a wheel built from this checkout, installed into a fresh
virtual environment, run from a directory that is not the checkout, against the real broker.

How the environment is made, and why: ``python -m venv`` with no access to the checkout's
environment or to the system's packages, then ``pip install`` of the wheel alone, with its
dependencies resolved from the package index (pip's cache makes that quick) and held by
``-c requirements.txt`` to the versions the rest of the suite runs with. That proves what a
shortcut (``--system-site-packages``, or a path to the checkout's environment) cannot: that
the wheel declares every dependency it needs and carries the page's files, and that nothing
finds the checkout by path. The wheel itself is built by pip with build isolation, as
``pip install .`` builds it.

The console command serves the page; ``celery -A shop.app visualiser``, started in the
example project (examples/celery_project) as its users start Flower, takes the broker, the
task routes and the queues from the app, with a real worker of that project started by the
test: the Celery view fills and the Route tab knows the app's routes with no other flag.
"""

from __future__ import annotations

import os
import runpy
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.brokers import BROKER
from tests.celery_support import worker_args
from tests.conftest import MANAGEMENT_URL, Rabbit, free_port, wait_for

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "celery_project"
DEFAULT_MANAGEMENT_PORT = 15672  # what `celery -A proj visualiser` derives from an amqp:// broker URL


class Installed:
    """The fresh environment: its bin/ directory and an environment for its commands."""

    def __init__(self, venv: Path):
        self.bin = venv / "bin"
        # Nothing of the checkout's or the test run's Python setup leaks into the commands.
        self.env = {
            key: value for key, value in os.environ.items() if key not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME")
        }
        self.env["PYTHONUNBUFFERED"] = "1"

    def run(self, *args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(self.bin / args[0]), *args[1:]],
            cwd=cwd,
            env={**self.env, **(env or {})},
            text=True,
            capture_output=True,
            timeout=300,
        )


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Installed:
    work = tmp_path_factory.mktemp("package")
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check"]
    built = subprocess.run(
        [*pip, "wheel", "-q", "--no-deps", "-w", str(work / "dist"), str(ROOT)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert built.returncode == 0, built.stderr[-3000:]
    [wheel] = (work / "dist").glob("rabbitmq_visualiser-*.whl")
    venv = work / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    install = subprocess.run(
        [
            str(venv / "bin" / "pip"),
            "install",
            "-q",
            "--disable-pip-version-check",
            str(wheel),
            "-c",
            str(ROOT / "requirements.txt"),
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert install.returncode == 0, install.stderr[-3000:]
    return Installed(venv)


class Command:
    """A long-running command of the fresh environment, stopped with SIGTERM (killed at worst)."""

    def __init__(self, installed: Installed, args: list[str], cwd: Path, log: Path, env: dict[str, str] | None = None):
        self.log = log
        with log.open("w") as out:
            self.popen = subprocess.Popen(
                [str(installed.bin / args[0]), *args[1:]],
                cwd=cwd,
                env={**installed.env, **(env or {})},
                stdout=out,
                stderr=subprocess.STDOUT,
            )

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self) -> int:
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
        try:
            return self.popen.wait(60)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            self.popen.wait(30)
            raise AssertionError(f"{self.popen.args[0]} did not stop on SIGTERM:\n{self.output()[-3000:]}") from None


@pytest.fixture
def commands() -> Iterator[list[Command]]:
    started: list[Command] = []
    yield started
    for command in reversed(started):
        if command.popen.poll() is None:
            command.popen.kill()
            command.popen.wait(30)


def answering(url: str) -> bool:
    try:
        return requests.get(url + "/healthz", timeout=5).status_code == 200
    except requests.RequestException:
        return False


def test_the_installed_package_is_the_wheel_not_the_checkout(installed: Installed, tmp_path: Path) -> None:
    where = installed.run("python", "-c", "import visualiser; print(visualiser.__file__)", cwd=tmp_path)
    assert where.returncode == 0, where.stderr
    assert Path(where.stdout.strip()).is_relative_to(installed.bin.parent), where.stdout
    listed = installed.run("celery", "--help", cwd=tmp_path)
    assert listed.returncode == 0 and "visualiser" in listed.stdout  # Celery found the subcommand


def test_the_console_command_serves_the_page_from_the_installed_files(
    installed: Installed, rabbit: Rabbit, commands: list[Command], tmp_path: Path
) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    command = Command(
        installed,
        [
            "rabbitmq-visualiser",
            "--port",
            str(port),
            "--management-url",
            MANAGEMENT_URL,
            "--poll-interval",
            "1",
            "--no-record",
        ],
        cwd=tmp_path,
        log=tmp_path / "command.log",
    )
    commands.append(command)
    wait_for(lambda: answering(url), 60, message="the installed command answering")

    page = requests.get(url + "/", timeout=10)
    assert page.status_code == 200 and "text/html" in page.headers["Content-Type"]
    assert 'src="/static/js/main.js"' in page.text or "/static/js/main.js" in page.text
    script = requests.get(url + "/static/js/main.js", timeout=10)
    assert script.status_code == 200 and "import" in script.text
    wait_for(
        lambda: requests.get(url + "/api/topology", params={"vhost": rabbit.vhost}, timeout=10).status_code == 200,
        30,
        message="the vhost read from the real broker",
    )

    assert command.stop() == 0, command.output()[-3000:]
    output = command.output()
    assert "development server" not in output  # served by the production server
    assert "guest:guest" not in output  # the credentials in --management-url are never printed


def example_app() -> Any:
    """The example project's Celery app, read from its source, for what the test expects."""
    return runpy.run_path(str(EXAMPLE / "shop" / "app.py"), run_name="shop.app")["app"]


def test_celery_subcommand_takes_everything_from_the_app(
    installed: Installed, rabbit: Rabbit, commands: list[Command], tmp_path: Path
) -> None:
    env = {"CELERY_BROKER_URL": rabbit.amqp_url()}
    hostname = f"shop-{uuid.uuid4().hex[:6]}@test"
    worker = Command(
        installed,
        ["celery", *worker_args(hostname, "payments,emails,sync,reports")],
        cwd=EXAMPLE,
        log=tmp_path / "worker.log",
        env=env,
    )
    commands.append(worker)

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    args = ["celery", "-A", "shop.app", "visualiser", "--port", str(port), "--poll-interval", "1", "--no-record"]
    if BROKER.http_port != DEFAULT_MANAGEMENT_PORT:
        # A broker whose management API is not on the usual port (the 4.0 node of this test
        # suite): the one flag that the app cannot give.
        args += ["--management-url", MANAGEMENT_URL]
    visualiser = Command(installed, args, cwd=EXAMPLE, log=tmp_path / "visualiser.log", env=env)
    commands.append(visualiser)
    wait_for(lambda: answering(url), 60, message="celery -A shop.app visualiser answering")

    def worker_listed() -> dict[str, Any] | None:
        return next(
            (
                w
                for w in requests.get(url + "/api/workers", timeout=10).json()
                if w["hostname"] == hostname and w["online"]
            ),
            None,
        )

    wait_for(worker_listed, 60, message="the worker on the Celery view")
    produced = installed.run("python", "producer.py", "--count", "3", "--rate", "20", cwd=EXAMPLE, env=env)
    assert produced.returncode == 0, produced.stderr[-3000:]

    def tasks_done() -> list[dict[str, Any]]:
        tasks = requests.get(url + "/api/tasks", timeout=10).json()
        done = [t for t in tasks if t["worker"] == hostname and t["state"] == "succeeded"]
        return done if len(done) >= 6 else []  # three orders: a charge and a receipt each

    done = wait_for(tasks_done, 60, message="the producer's tasks on the Celery view")
    assert {t["name"] for t in done} >= {"shop.tasks.charge_card", "shop.tasks.send_receipt"}
    assert all(t["queue"] in ("payments", "emails") for t in done)

    # The Route tab: every route the app declares, resolved by the app itself and followed on
    # the broker to its queue (the worker declared the queues).
    app = example_app()
    expected = {name: route["queue"] for name, route in app.conf.task_routes.items()}

    def routes() -> dict[str, Any] | None:
        answer = requests.get(url + "/api/celery/tasks", params={"vhost": rabbit.vhost}, timeout=10).json()
        tasks = {t["task"]: t for t in answer.get("tasks", [])}
        return (
            tasks
            if all(
                tasks.get(name, {}).get("queue") == queue and tasks[name]["queues"] == [queue]
                for name, queue in expected.items()
            )
            else None
        )

    tasks = wait_for(routes, 30, message="the app's task routes on the Route tab")
    assert tasks["shop.tasks.send_receipt"]["queue"] == "emails"  # pinned by @app.task(queue=...), not task_routes

    assert visualiser.stop() == 0, visualiser.output()[-3000:]
    assert "guest:guest" not in visualiser.output()
    worker.stop()
