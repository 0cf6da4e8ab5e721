"""How fast the page shows a past moment, and exports the graph, in headless Chromium.

Runs the real app on the embedded demo, recording to a temporary file for --seconds, opens the
page in Debian's Chromium, then shows --moments moments spread over the recorded window, one
after the other, as a click on the timeline does (the topology, findings and task counts of
that moment fetched and drawn), and times each from the click's request to the graph drawn.
Then times the PNG and SVG exports of the view.

    .venv/bin/python benchmarks/timeline_page.py [--seconds 60 --moments 20]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from playwright.sync_api import sync_playwright  # noqa: E402

from tests.conftest import run_live, stop_live  # noqa: E402
from tests.e2e.conftest import CHROMIUM, CHROMIUM_ARGS, EXPOSE_APP, GRAPH_DRAWN  # noqa: E402
from visualiser.config import Settings  # noqa: E402

SHOW = """async (t) => {
  const start = performance.now();
  const shown = await window.__app.timeline.showMoment(t);
  return {shown, ms: performance.now() - start, nodes: window.__app.graph.cy.nodes().length};
}"""

EXPORTS = """async () => {
  const { pngOf, svgOf } = await import('/static/js/export.js');
  const cy = window.__app.graph.cy;
  let start = performance.now();
  const png = await pngOf(cy);
  const pngMs = performance.now() - start;
  start = performance.now();
  const svg = svgOf(cy, 'benchmark');
  return {pngMs, pngBytes: png.size, svgMs: performance.now() - start, svgBytes: svg.length};
}"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="how long the demo records first")
    parser.add_argument("--moments", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as directory:
        server, _ = run_live(Settings(demo=True, record=os.path.join(directory, "bench.db")))
        try:
            time.sleep(args.seconds)
            window = server.get("/api/recording").json()["window"]
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
                page = browser.new_page(viewport={"width": 1600, "height": 950})
                page.goto(server.url + "/?vhost=%2F")
                page.evaluate(EXPOSE_APP)
                page.wait_for_function(GRAPH_DRAWN, timeout=30000)
                page.wait_for_function("() => window.__app.timeline.window", timeout=30000)
                span = window["to"] - window["from"]
                times, nodes = [], 0
                for i in range(args.moments):
                    t = window["from"] + span * (i + 0.5) / args.moments
                    result = page.evaluate(SHOW, t)
                    assert result["shown"], f"moment {t} not shown"
                    times.append(result["ms"])
                    nodes = result["nodes"]
                exports = page.evaluate(EXPORTS)
                browser.close()
        finally:
            stop_live(server)
    times.sort()
    p95 = times[max(0, round(0.95 * len(times)) - 1)]
    print(f"recorded {span:.0f} s of the demo ({nodes} nodes on the graph); load average {os.getloadavg()[0]:.1f}")
    print(
        f"show a past moment ({len(times)} moments): median {statistics.median(times):.0f} ms, "
        f"p95 {p95:.0f} ms, max {times[-1]:.0f} ms"
    )
    print(
        f"export PNG {exports['pngMs']:.0f} ms ({exports['pngBytes'] / 1024:.0f} KiB), "
        f"SVG {exports['svgMs']:.0f} ms ({exports['svgBytes'] / 1024:.0f} KiB)"
    )


if __name__ == "__main__":
    main()
