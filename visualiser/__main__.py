"""``python -m visualiser``: the same as the ``rabbitmq-visualiser`` command."""

from .cli import run

run()
