"""The package's declarations, read from the files themselves: pyproject.toml's dependencies in
step with requirements.txt's pins, the two commands declared, and what `celery -A proj
visualiser` derives from a Celery app's broker URL. (The built and installed package is
tests/integration/test_packaging.py.)"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
from celery import Celery

from visualiser.celery_command import BrokerError, defaults_from, management_url_for

ROOT = Path(__file__).resolve().parents[2]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())


def pins() -> dict[str, str]:
    """requirements.txt: name -> pinned version."""
    found = {}
    for line in (ROOT / "requirements.txt").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, version = line.split("==")
            found[name.strip().lower()] = version.strip()
    return found


def test_every_pinned_requirement_is_a_dependency_from_its_pin_to_the_next_major_version() -> None:
    declared = {}
    for spec in PYPROJECT["project"]["dependencies"]:
        match = re.fullmatch(r"([A-Za-z0-9_.-]+)>=([0-9.]+),<([0-9]+)", spec)
        assert match, f"dependency {spec!r} is not written as name>=pin,<next-major"
        declared[match.group(1).lower()] = (match.group(2), match.group(3))
    assert set(declared) == set(pins())
    for name, pinned in pins().items():
        lowest, below = declared[name]
        assert lowest == pinned, name
        assert int(below) == int(pinned.split(".")[0]) + 1, name


def test_the_console_command_and_the_celery_subcommand_are_declared() -> None:
    assert PYPROJECT["project"]["scripts"] == {"rabbitmq-visualiser": "visualiser.cli:run"}
    assert PYPROJECT["project"]["entry-points"]["celery.commands"] == {
        "visualiser": "visualiser.celery_command:visualiser"
    }


@pytest.mark.parametrize(
    ("broker", "management"),
    [
        ("amqp://guest:guest@localhost:5672//", "http://guest:guest@localhost:15672"),
        ("amqps://app:s%23cret@mq.example.com:5671/prod", "https://app:s%23cret@mq.example.com:15671"),
        ("pyamqp://mq1;amqp://mq2", "http://guest:guest@mq1:15672"),  # failover: the first host
        ("amqp://app@[::1]:5672/", "http://app:@[::1]:15672"),
    ],
)
def test_the_management_api_is_found_beside_the_broker(broker: str, management: str) -> None:
    assert management_url_for(broker) == management


def test_a_broker_that_is_not_rabbitmq_is_refused_with_the_fix() -> None:
    with pytest.raises(BrokerError, match="--broker-url and --management-url"):
        management_url_for("redis://localhost:6379/0")


def test_the_settings_come_from_the_app() -> None:
    app = Celery("proj", broker="amqp://u:p@mq:5672/v", set_as_current=False)
    app.conf.broker_read_url = "amqp://reader:r@mq-read:5672/v"
    assert defaults_from(app) == {
        "broker_url": "amqp://reader:r@mq-read:5672/v",
        "management_url": "http://reader:r@mq-read:15672",
        "celery_app": "proj (celery -A)",
    }
