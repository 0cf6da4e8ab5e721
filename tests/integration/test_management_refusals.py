"""A refused management user is told the right fix, from the broker's own reply, on each broker
version the project supports: a wrong password says to check the credentials (3.10 answers
"Login failed", 4.0 "Not_Authorized"), a user without a management tag says to add the
'monitoring' tag (both answer "Not management user"). Runs against every broker that answers,
whichever one the suite is about."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from urllib.parse import quote

import pytest
import requests

from tests.brokers import BROKER, BROKERS, Broker
from tests.conftest import AUTH, rabbit_available
from visualiser.sources.management_api import ManagementClient, Unauthorised

pytestmark = pytest.mark.integration


@pytest.fixture(params=[BROKER.name])  # each test pass, the broker it is for (both, across the passes)
def broker(request: pytest.FixtureRequest) -> Broker:
    found = BROKERS[request.param]
    if not rabbit_available(found):
        pytest.fail(f"RabbitMQ {found.name} is not answering on {found.management}")
    return found


@pytest.fixture
def untagged_user(broker: Broker) -> Iterator[tuple[str, str]]:
    name, password = f"visualiser-notag-{uuid.uuid4().hex[:8]}", uuid.uuid4().hex
    url = f"{broker.management}/api/users/{quote(name, safe='')}"
    assert requests.put(url, json={"password": password, "tags": ""}, auth=AUTH, timeout=10).status_code < 400
    yield name, password
    requests.delete(url, auth=AUTH, timeout=10)


def refusal(broker: Broker, user: str, password: str) -> str:
    client = ManagementClient(broker.management_url(user, password), timeout=10)
    try:
        with pytest.raises(Unauthorised) as caught:
            client.fetch_broker()
    finally:
        client.close()
    return str(caught.value)


def test_a_wrong_password_is_told_to_check_the_credentials(broker: Broker) -> None:
    wrong = "wrong-" + uuid.uuid4().hex
    message = refusal(broker, "guest", wrong)
    assert "check the credentials in --management-url" in message, message
    assert "'monitoring' tag" not in message
    assert wrong not in message


def test_a_user_without_a_tag_is_told_to_add_the_tag(broker: Broker, untagged_user: tuple[str, str]) -> None:
    user, password = untagged_user
    message = refusal(broker, user, password)
    assert "give it the 'monitoring' tag" in message, message
    assert "check the credentials" not in message
    assert password not in message
