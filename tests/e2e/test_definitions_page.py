"""Offline mode: a definitions export drawn with no broker, hostile names as text."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.conftest import run_live, stop_live
from tests.e2e.conftest import click_on_graph, graph_ids, open_page, select_by_search
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
    assert page.locator("#mode-badge").inner_text().lower() == "definitions file"
    ids = set(graph_ids(page))
    assert {f"queue:{q['name']}" for q in exported["queues"]} <= ids
    assert {f"exchange:{e['name']}" for e in exported["exchanges"]} <= ids
    # Each hostile name, searched for, comes back as itself in the details panel's text.
    for name in ["<img src=x onerror=alert(1)>", "emoji 🐇📨", 'it\'s "quoted"', "100% / done"]:
        select_by_search(page, name, kind="queue")
        assert page.locator("#panel-details h2").inner_text() == name
    assert page.locator("img[src=x]").count() == 0
    assert page.locator("#banner").is_hidden()
    assert page.errors == []


def test_offline_mode_says_definitions_file_and_shows_no_depth_it_does_not_have(page, offline_server):
    """A definitions file is not a live broker: the page says which file it shows and from which
    RabbitMQ, shows no depth where the file has none (unknown, never 0), and offers nothing that
    needs a live broker (no Tasks tab)."""
    exported = json.loads(FIXTURE.read_text())
    vhost = exported["vhosts"][0]["name"]
    open_page(page, f"{offline_server.url}/?vhost={vhost}")

    assert page.locator("#mode-badge").inner_text().lower() == "definitions file"
    page.wait_for_function("() => document.getElementById('status-source').innerText !== 'connecting…'", timeout=30000)
    status = f"{page.inner_text('#status-source')} {page.inner_text('#status-detail')}"
    assert status == f"definitions file: {FIXTURE.name}, exported from RabbitMQ {exported['rabbitmq_version']}"
    assert page.inner_text("#status-socket") != "live"
    assert "queue" in page.inner_text("#status-counts") and "consumer" not in page.inner_text("#status-counts")
    assert page.locator("#tab-tasks").count() == 0 or page.locator("#tab-tasks").is_hidden()

    queue = "queue:notify"
    label = page.evaluate("(id) => window.__app.graph.element(id).pstyle('label').strValue", queue)  # drawn
    assert "?" in label and " 0" not in label, label
    click_on_graph(page, queue)
    page.wait_for_function("() => document.querySelector('#panel-details h2')?.innerText === 'notify'", timeout=10000)
    details = page.inner_text("#panel-details")
    ready = re.search(r"^Ready\s*(.*)$", details, re.MULTILINE)
    assert ready is not None and ready.group(1).strip() not in ("0", ""), details
    assert page.errors == []
