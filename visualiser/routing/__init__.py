"""Where a message goes: RabbitMQ's routing, simulated over a VhostSnapshot."""

from .engine import RouteResult, route

__all__ = ["RouteResult", "route"]
