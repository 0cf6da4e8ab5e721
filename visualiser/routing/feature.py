"""Plugs the routing simulator into the service: the /api/route and /api/celery/* blueprint.

The page re-asks POST /api/route whenever a patch arrives for the vhost it shows, so no
socket event of its own is needed: every answer carries the topology version it used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..server import route_api

if TYPE_CHECKING:
    from .. import Wiring


def install(wiring: Wiring) -> None:
    wiring.app.extensions["visualiser.celery_apps"] = route_api.CeleryApps(wiring.settings.celery_app)
    wiring.app.register_blueprint(route_api.bp)
