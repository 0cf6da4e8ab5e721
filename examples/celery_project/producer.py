"""Sends a steady trickle of orders, like a web front end would.

Usage: python producer.py [--rate N] [--count N]   (CELERY_BROKER_URL picks the broker)
"""

from __future__ import annotations

import argparse
import itertools
import time

from shop.tasks import charge_card, nightly_report, send_receipt, sync_stock


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rate", type=float, default=2.0, help="orders a second")
    parser.add_argument("--count", type=int, default=0, help="stop after this many orders (0: never)")
    args = parser.parse_args()
    orders = itertools.count(1) if args.count == 0 else range(1, args.count + 1)
    for order in orders:
        charge_card.delay(order, 1999 + order)
        send_receipt.delay(order, f"customer{order}@example.com")
        if order % 5 == 0:
            sync_stock.delay(f"WAREHOUSE-{order % 3}")
        if order % 20 == 0:
            nightly_report.delay()
        time.sleep(1 / args.rate)


if __name__ == "__main__":
    main()
