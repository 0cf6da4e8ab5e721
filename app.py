"""Command-line entry point from a checkout: ``python app.py --help``. The installed package
gives the same as the ``rabbitmq-visualiser`` command; both run ``visualiser.cli.main``."""

from __future__ import annotations

import sys

from visualiser.cli import main as _main


def main(argv: list[str] | None = None) -> int:
    return _main(argv, prog="app.py")


if __name__ == "__main__":
    sys.exit(main())
