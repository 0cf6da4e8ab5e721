"""The Celery layer in the browser: worker nodes, live activity on edges, the Tasks panel,
and hostile task names shown as text."""

from __future__ import annotations

import threading
import time

import pytest

from tests.conftest import StaticSource, run_live, snapshot_of, stop_live
from tests.e2e.conftest import open_page
from tests.unit.test_celery_feature import broker_view, mid_run, recorded_batch
from visualiser.config import Settings

pytestmark = pytest.mark.e2e
HOSTILE = "<img src=x onerror=alert(1)>"


@pytest.fixture
def celery_server():
    server, _ = run_live(Settings(management_url="http://127.0.0.1:9"), sources=[])
    StaticSource(server.service.hub, snapshot_of(broker_view())).start()
    feature = server.service.app.extensions["visualiser.celery"]
    ingest(server, recorded_batch(until=mid_run()))
    server.feature = feature  # type: ignore[attr-defined]
    yield server
    stop_live(server)


def ingest(server, batch) -> None:
    feature = server.service.app.extensions["visualiser.celery"]
    server.service.hub.submit(lambda: feature.ingest(batch))
    server.service.hub.drain()


def hostile_task(uuid: str, at: float) -> list[dict]:
    return [
        {"type": "task-sent", "uuid": uuid, "name": HOSTILE, "queue": "payments", "exchange": "", "received": at},
        {"type": "task-received", "uuid": uuid, "hostname": "payments@recorder", "received": at},
        {"type": "task-failed", "uuid": uuid, "hostname": "payments@recorder", "exception": "<b>boom</b>",
         "received": at},
    ]


@pytest.fixture
def heartbeats(celery_server):
    """payments@recorder keeps beating (every second) while the test runs, as a live worker does."""
    stop = threading.Event()

    def beat() -> None:
        while not stop.is_set():
            ingest(celery_server, [{"type": "worker-heartbeat", "hostname": "payments@recorder", "freq": 2.0,
                                    "active": 0, "processed": 20, "received": time.time()}])
            stop.wait(1.0)

    thread = threading.Thread(target=beat, daemon=True)
    thread.start()
    yield
    stop.set()
    thread.join(5)


def test_workers_activity_and_task_panel(page, celery_server, heartbeats):
    open_page(page, f"{celery_server.url}/?vhost=/")
    page.wait_for_function("() => window.visualiser.graph.element('worker:payments@recorder')?.data('online')",
                           timeout=15000)
    ingest(celery_server, [{"type": "worker-offline", "hostname": "misc@recorder", "received": time.time()}])
    page.wait_for_function("() => window.visualiser.graph.element('worker:misc@recorder').data('online') === false",
                           timeout=15000)
    page.wait_for_function("() => window.visualiser.celery", timeout=10000)

    # A task arriving while the page watches: its edge lights up, the failing worker glows.
    edge = "consumes:worker:payments@recorder\\npayments"
    ingest(celery_server, hostile_task("hostile-1", time.time()))
    page.wait_for_function(f"() => window.visualiser.graph.element('{edge}')?.hasClass('celery-active')",
                           timeout=10000)
    page.wait_for_function("() => window.visualiser.graph.element('worker:payments@recorder').hasClass('celery-failed')",
                           timeout=10000)

    page.click("#tab-tasks")
    failed_row = page.locator("#celery-tasks tr[data-uuid='hostile-1']")
    failed_row.wait_for(timeout=10000)
    assert failed_row.locator("td").nth(1).inner_text() == HOSTILE
    assert "sev-critical" in failed_row.get_attribute("class")
    assert "<b>boom</b>" in failed_row.inner_text()
    page.select_option("#celery-filter-state", "failed")
    page.wait_for_function("() => [...document.querySelectorAll('#celery-tasks tr[data-state]')]"
                           ".every((r) => r.dataset.state === 'failed')", timeout=10000)
    assert page.locator("#celery-workers tr[data-worker='payments@recorder']").count() == 1
    assert page.locator("#celery-names").inner_text().count("shop.tasks.charge_card") == 1
    assert page.locator("img[src=x]").count() == 0 and page.locator("#celery-tasks b").count() == 0
    assert page.errors == []
