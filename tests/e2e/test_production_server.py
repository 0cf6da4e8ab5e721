"""The browser tests' server is the production one the command runs (tests/conftest.py
``run_live``): the page is served by gunicorn's threaded worker, not Werkzeug's development
server, and its live updates come over a real websocket."""

from __future__ import annotations

import pytest

from tests.e2e.conftest import open_page

pytestmark = pytest.mark.e2e


def test_the_page_is_served_by_the_production_server_over_a_websocket(page, demo_server) -> None:
    sockets = []
    page.on("websocket", lambda ws: sockets.append(ws))
    response = page.goto(demo_server.url + "/")
    assert response is not None and response.ok
    assert response.headers.get("server") == "gunicorn"  # Werkzeug names itself "Werkzeug/x.y"
    open_page(page, demo_server.url + "/")  # the graph drawn from the snapshot the socket brought
    assert any("/socket.io/" in ws.url and "transport=websocket" in ws.url for ws in sockets), [
        ws.url for ws in sockets
    ]
    assert page.errors == []
