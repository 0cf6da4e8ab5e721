"""Offline mode: a definitions export drawn with no broker, hostile names as text."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import run_live, stop_live
from tests.e2e.conftest import open_page
from visualiser.config import Settings

pytestmark = pytest.mark.e2e
FIXTURE = Path(__file__).parents[1] / "fixtures" / "definitions_broker.json"


@pytest.fixture
def offline_server():
    server, _ = run_live(Settings(definitions=str(FIXTURE), management_url="http://127.0.0.1:9"))
    yield server
    stop_live(server)


def test_definitions_export_draws_offline(page, offline_server):
    exported = json.loads(FIXTURE.read_text())
    vhost = exported["vhosts"][0]["name"]
    page.add_init_script("window.alert = () => { throw new Error('alert ran'); };")
    open_page(page, f"{offline_server.url}/?vhost={vhost}")
    assert page.locator("#mode-badge").inner_text() == "OFFLINE DEFINITIONS"
    ids = set(page.evaluate("() => window.visualiser.graph.cy.nodes().map((n) => n.id())"))
    assert {f"queue:{q['name']}" for q in exported["queues"]} <= ids
    assert {f"exchange:{e['name']}" for e in exported["exchanges"]} <= ids
    # Each hostile name comes back as itself, through the details panel's text.
    for name in ["<img src=x onerror=alert(1)>", "emoji 🐇📨", "it's \"quoted\"", "100% / done"]:
        page.evaluate("(id) => { const a = window.visualiser; a.bus.emit('select', a.graph.element(id)); }", f"queue:{name}")
        assert page.locator("#panel-details h2").inner_text() == name
    assert page.locator("img[src=x]").count() == 0
    assert page.locator("#banner").is_hidden()
    assert page.errors == []
