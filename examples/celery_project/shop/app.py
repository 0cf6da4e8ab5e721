"""The Celery app, configured the way a production deployment usually is.

Each kind of work has its own queue (and its own worker), so a flood of e-mails never
delays a payment. Routing is declared once, in task_routes, except where a task pins its
queue itself with @app.task(queue=...).
"""

from __future__ import annotations

import os

from celery import Celery
from kombu import Exchange, Queue

BROKER_URL = os.environ.get("CELERY_BROKER_URL", "amqp://guest:guest@localhost:5672//")

app = Celery("shop", broker=BROKER_URL, include=["shop.tasks"])

app.conf.update(
    # One direct exchange per queue, as Celery creates by default, declared explicitly.
    task_queues=[
        Queue("payments", Exchange("payments", type="direct"), routing_key="payments"),
        Queue("emails", Exchange("emails", type="direct"), routing_key="emails"),
        Queue("sync", Exchange("sync", type="direct"), routing_key="sync"),
        Queue("reports", Exchange("reports", type="direct"), routing_key="reports"),
    ],
    task_default_queue="payments",
    task_routes={
        "shop.tasks.charge_card": {"queue": "payments"},
        "shop.tasks.refund": {"queue": "payments"},
        "shop.tasks.sync_stock": {"queue": "sync"},
        "shop.tasks.nightly_report": {"queue": "reports"},
    },
    # Events: workers send them with -E; the producer side adds task-sent (with queue,
    # exchange and routing key) so the visualiser can draw a task before a worker takes it.
    task_send_sent_event=True,
    worker_send_task_events=True,
    task_acks_late=True,
    worker_prefetch_multiplier=1,
    result_backend=None,
    task_ignore_result=True,
    broker_connection_retry_on_startup=True,
    beat_schedule={
        "stock-every-10s": {"task": "shop.tasks.sync_stock", "schedule": 10.0, "args": ("WAREHOUSE-1",)},
        "report-every-30s": {"task": "shop.tasks.nightly_report", "schedule": 30.0},
    },
)
