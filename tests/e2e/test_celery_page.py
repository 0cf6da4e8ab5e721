"""The Celery layer in the browser: worker nodes, live activity on edges, the Tasks panel,
and hostile task names shown as text."""

from __future__ import annotations

import threading
import time

import pytest

from tests.celery_support import broker_view, celery_events, ingest, mid_run
from tests.conftest import snapshot_of, static_live
from tests.e2e.conftest import open_page
from visualiser.config import Settings

pytestmark = pytest.mark.e2e
HOSTILE = "<img src=x onerror=alert(1)>"


@pytest.fixture
def celery_server():
    with static_live(snapshot_of(broker_view()), Settings(management_url="http://127.0.0.1:9")) as (server, _):
        ingest(server.service, celery_events(until=mid_run()))
        yield server


def hostile_task(uuid: str, at: float) -> list[dict]:
    return [
        {"type": "task-sent", "uuid": uuid, "name": HOSTILE, "queue": "payments", "exchange": "", "received": at},
        {"type": "task-received", "uuid": uuid, "hostname": "payments@recorder", "received": at},
        {
            "type": "task-failed",
            "uuid": uuid,
            "hostname": "payments@recorder",
            "exception": "<b>boom</b>",
            "received": at,
        },
    ]


@pytest.fixture
def heartbeats(celery_server):
    """payments@recorder keeps beating (every second) while the test runs, as a live worker does."""
    stop = threading.Event()

    def beat() -> None:
        while not stop.is_set():
            ingest(
                celery_server.service,
                [
                    {
                        "type": "worker-heartbeat",
                        "hostname": "payments@recorder",
                        "freq": 2.0,
                        "active": 0,
                        "processed": 20,
                        "received": time.time(),
                    }
                ],
            )
            stop.wait(1.0)

    thread = threading.Thread(target=beat, daemon=True)
    thread.start()
    yield
    stop.set()
    thread.join(5)


def test_workers_activity_and_task_panel(page, celery_server, heartbeats):
    open_page(page, f"{celery_server.url}/?vhost=/")
    page.wait_for_function(
        "() => window.__app.graph.element('worker:payments@recorder')?.data('online')", timeout=15000
    )
    ingest(celery_server.service, [{"type": "worker-offline", "hostname": "misc@recorder", "received": time.time()}])
    page.wait_for_function(
        "() => window.__app.graph.element('worker:misc@recorder').data('online') === false", timeout=15000
    )
    page.wait_for_function("() => window.__app.celery", timeout=10000)

    # A task arriving while the page watches: its edge lights up, the failing worker glows.
    edge = "consumes:worker:payments@recorder\\npayments"
    ingest(celery_server.service, hostile_task("hostile-1", time.time()))
    page.wait_for_function(f"() => window.__app.graph.element('{edge}')?.hasClass('celery-active')", timeout=10000)
    page.wait_for_function(
        "() => window.__app.graph.element('worker:payments@recorder').hasClass('celery-failed')", timeout=10000
    )

    page.click("#tab-tasks")
    failed_row = page.locator("#celery-tasks tr[data-uuid='hostile-1']")
    failed_row.wait_for(timeout=10000)
    assert failed_row.locator("td").nth(1).inner_text() == HOSTILE
    assert failed_row.locator(".col-state").inner_text() == "failed"
    assert "<b>boom</b>" in failed_row.inner_text()
    # The number on the tab is the tasks failed in the last minute, and says so.
    recent = celery_server.get("/api/celery").json()["recent"]["counts"]["failed"]
    page.wait_for_function(
        "(n) => document.querySelector('#tab-tasks .count').textContent === String(n)", arg=recent, timeout=10000
    )
    assert (
        page.get_attribute("#tab-tasks", "title")
        == f"{recent} task{'s' if recent != 1 else ''} failed in the last minute"
    )
    page.select_option("#celery-filter-state", "failed")
    page.wait_for_function(
        "() => [...document.querySelectorAll('#celery-tasks tr[data-state]')]"
        ".every((r) => r.dataset.state === 'failed')",
        timeout=10000,
    )
    assert page.locator("#celery-workers tr[data-worker='payments@recorder']").count() == 1
    assert page.locator("#celery-names").inner_text().count("shop.tasks.charge_card") == 1
    assert page.locator("img[src=x]").count() == 0 and page.locator("#celery-tasks b").count() == 0
    assert page.errors == []
