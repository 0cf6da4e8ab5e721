"""The shop's tasks: quick ones, one that retries on a flaky dependency, one that fails."""

from __future__ import annotations

import random
import time

from .app import app


class StockServiceDown(Exception):
    """The stock service did not answer (it often does not, in this example)."""


@app.task
def charge_card(order_id: int, amount_cents: int) -> str:
    time.sleep(random.uniform(0.01, 0.05))
    return f"charged order {order_id}: {amount_cents} cents"


@app.task
def refund(order_id: int) -> str:
    time.sleep(0.01)
    return f"refunded order {order_id}"


@app.task(queue="emails")
def send_receipt(order_id: int, address: str) -> str:
    time.sleep(random.uniform(0.005, 0.02))
    return f"receipt for {order_id} sent to {address}"


@app.task(bind=True, max_retries=3, default_retry_delay=1)
def sync_stock(self, warehouse: str, fail_first: int = 1) -> str:
    """Fails its first `fail_first` attempts, then succeeds: shows retries on the graph."""
    if self.request.retries < fail_first:
        raise self.retry(exc=StockServiceDown(f"{warehouse}: stock service timed out"))
    return f"{warehouse} in sync after {self.request.retries} retries"


@app.task
def nightly_report() -> None:
    """Always fails: the report template is missing. Shows failures on the graph."""
    raise FileNotFoundError("templates/nightly.html")
