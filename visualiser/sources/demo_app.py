"""The demo shop's Celery app: its queues and task routes, as a real deployment declares them.

The demo never runs these tasks; its simulated workers (``demo_celery``) tell their story as
Celery events. The app is here so that the demo answers "where does this task go?" with
Celery's own router, as ``--celery-app`` does for a real deployment, and so that a wrong
route is found the way it would be in one: ``shop.loyalty.*`` is published to the loyalty
exchange with the key ``loyalty.award``, while the queue there is bound with ``points.award``.

Routing by queue name sends through the AMQP default exchange (Celery's way with direct
queues); ``emails`` is not declared in ``task_queues``, so Celery creates it on first use
with a direct exchange of the same name that nothing ever publishes through.
"""

from __future__ import annotations

from typing import Any

from celery import Celery
from kombu import Exchange, Queue

# No password and a reserved domain: nothing ever connects with it, and it says so.
BROKER_URL = "amqp://shop@broker.demo.invalid:5672//"

app = Celery("shop", broker=BROKER_URL, set_as_current=False)

_celery = Exchange("celery", type="direct")
app.conf.update(
    task_queues=[
        Queue("celery", _celery, routing_key="celery"),
        Queue("payments", _celery, routing_key="payments"),
        Queue("reporting", _celery, routing_key="reporting"),
        Queue("loyalty.points", Exchange("loyalty", type="direct"), routing_key="points.award"),
    ],
    task_default_queue="celery",
    task_routes={
        "shop.payments.*": {"queue": "payments"},
        "shop.emails.*": {"queue": "emails"},
        "shop.reports.*": {"queue": "reporting"},
        "shop.loyalty.*": {"exchange": "loyalty", "routing_key": "loyalty.award"},
    },
    task_send_sent_event=True,
    worker_send_task_events=True,
    worker_prefetch_multiplier=4,
)


TASK_NAMES = (
    "shop.orders.confirm",
    "shop.orders.reserve_stock",
    "shop.payments.charge",
    "shop.payments.capture",
    "shop.payments.refund",
    "shop.emails.send_receipt",
    "shop.emails.send_shipping_notice",
    "shop.reports.daily_summary",
    "shop.reports.export_sales",
    "shop.loyalty.award_points",
)


def _never_run(*args: Any, **kwargs: Any) -> None:
    """The demo's workers are simulated: no task body ever runs."""
    raise RuntimeError("the demo's tasks are simulated and never run")


# Registered by name, which is all Celery's router needs.
for _name in TASK_NAMES:
    app.task(name=_name, shared=False)(_never_run)  # shared tasks would join every app in the process
# Finalized now, with its own tasks only: an app finalized later takes in every task another
# app in the process declared as shared (Celery's default), which would put them on the demo.
app.finalize()
