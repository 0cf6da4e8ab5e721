"""A Celery task's route on the graph: the example shop (examples/celery_project) given with
--celery-app, its queues and exchanges declared on the real broker as Celery declares them.
A person picks a task in the Route tab; the path Celery's message takes lights up, through the
default exchange as Celery sends to a direct queue; the exchanges Celery declares but never
publishes through are pointed out, and a click shows one on the graph."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from celery import _state as celery_state
from kombu import Connection

from tests.conftest import MANAGEMENT_URL, Rabbit, run_live, stop_live
from tests.e2e.conftest import details_shown, open_page
from visualiser.config import Settings
from visualiser.contract.vocabulary import IMPLICIT_BINDING_PREFIX

pytestmark = [pytest.mark.e2e, pytest.mark.integration]
PROJECT = Path(__file__).resolve().parents[2] / "examples" / "celery_project"
HIGHLIGHTED = "() => window.__app.graph.cy.elements('.highlight').map((e) => e.id()).sort()"


@pytest.fixture
def shop(rabbit: Rabbit, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.syspath_prepend(str(PROJECT))  # as running the service from the project's directory
    # The example's tasks are shared (Celery's default): they would join every Celery app this
    # test process finalizes later. What they add to Celery's global state goes with them.
    monkeypatch.setattr(celery_state, "_on_app_finalizers", set(celery_state._on_app_finalizers))
    from shop.app import app  # noqa: PLC0415 - importable only with the project on the path

    with Connection(rabbit.amqp_url()) as conn:
        for queue in app.amqp.queues.values():  # what a worker declares when it starts
            queue(conn.default_channel).declare()
    server, _ = run_live(Settings(management_url=MANAGEMENT_URL, poll_interval=1.0, celery_app="shop.app:app"))
    yield server, rabbit, app
    stop_live(server)
    for name in [n for n in sys.modules if n == "shop" or n.startswith("shop.")]:
        del sys.modules[name]  # the example's modules go with its directory on the path


def test_a_picked_task_lights_up_the_path_celery_sends_it_on(page, shop) -> None:
    server, rabbit, app = shop
    open_page(
        page, f"{server.url}/?vhost={rabbit.vhost}", "() => window.__app && window.__app.graph.element('queue:emails')"
    )
    page.click("#tab-route")
    page.wait_for_function(
        "() => [...document.querySelectorAll('#route-task option')].some((o) => o.value === 'shop.tasks.send_receipt')",
        timeout=30000,
    )
    page.select_option("#route-task", "shop.tasks.send_receipt")
    page.wait_for_function("() => document.querySelectorAll('#route-queues li').length === 1", timeout=30000)

    summary = page.inner_text("#route-summary")
    assert "Task shop.tasks.send_receipt is published to exchange (AMQP default) with routing key emails" in summary
    assert page.eval_on_selector_all("#route-queues li", "(items) => items.map((li) => li.dataset.queue)") == ["emails"]
    lit = page.evaluate(HIGHLIGHTED)
    implicit = f"{IMPLICIT_BINDING_PREFIX}queue:emails"
    assert {"exchange:", implicit, "queue:emails"} <= set(lit), lit
    assert "queue:payments" not in lit and "exchange:emails" not in lit
    shown = page.evaluate("(id) => window.__app.graph.element(id).visible()", implicit)  # drawn for this route
    assert shown

    # Celery declares each queue's own exchange with it (emails for emails...) and, sending by
    # queue name through the default exchange, never publishes through any of them.
    declared = sorted({queue.exchange.name for queue in app.amqp.queues.values()} - {""})
    assert "emails" in declared
    summary = page.locator(".route-notes-box summary")
    assert summary.inner_text() == f"{len(declared)} exchanges Celery declares but never publishes through"
    summary.click()
    notes = page.inner_text("#route-task-notes")
    for exchange in declared:
        assert f"Celery declares exchange '{exchange}'" in notes, notes
    assert "default exchange" in notes
    page.locator("#route-task-notes li", has_text="exchange 'emails'").locator("button.link").click()
    page.click("#tab-details")  # the exchange pointed out is the one selected
    assert details_shown(page)["kind"].endswith("exchange") and page.inner_text("#panel-details h2") == "emails"
    page.click("#tab-route")

    page.click("#route-clear")
    assert page.evaluate(HIGHLIGHTED) == [] and page.input_value("#route-task") == ""
    assert page.errors == []
