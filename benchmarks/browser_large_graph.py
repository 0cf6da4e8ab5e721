"""How the page copes with a big vhost in headless Chromium, with name groups and without.

Feeds the real app a synthetic vhost named as a company broker is (``svc-0042.orders``,
``svc-0042.events``, …: N queues, N/10 exchanges, a binding per queue), opens the page in
Debian's Chromium, and measures, for each way of drawing it, side by side in one run:

- load to first draw (the graph on screen, laid out), and the longest main-thread task
  meanwhile (how long the page froze);
- frames per second while a real mouse drags the canvas, and while the wheel zooms it;
- the page's main-thread time for one queue's depth patch (from the frame's arrival to the
  end of the work it causes), median of 30;
- how many nodes Cytoscape holds.

"grouped" is the default (groups above --group-above queues); "every node" turns groups
off, as the page was before them.

    .venv/bin/python -m benchmarks.browser_large_graph --queues 10000
    .venv/bin/python -m benchmarks.browser_large_graph --queues 20000 --only grouped
"""

from __future__ import annotations

import argparse
import statistics
import time
from dataclasses import replace

from playwright.sync_api import sync_playwright

from tests.conftest import run_live, snapshot_of, stop_live
from tests.e2e.conftest import CHROMIUM, CHROMIUM_ARGS
from tests.synthetic import company_vhost
from visualiser.config import Settings
from visualiser.model.entities import VhostSnapshot

DRAW_TIMEOUT_MS = 180_000

# Every main-thread task over 50 ms from the page's start: the longest is how long the page
# froze while it loaded and laid the graph out.
LONG_TASKS = """
window.__longTasks = [];
new PerformanceObserver((list) => list.getEntries().forEach((e) => window.__longTasks.push(e.duration)))
  .observe({ type: 'longtask', buffered: true });
"""

# Wraps the page's patch handling: main-thread time of each patch, from its arrival to the end
# of the work it causes (the graph, then every feature that listens for patches).
PATCH_PROBE = """() => {
  const app = window.__app; const show = app.showPatch; const emit = app.bus.emit;
  window.__patchTimes = [];
  let started = null;
  app.showPatch = (msg) => { started = performance.now(); show(msg); };
  app.bus.emit = (name, ...rest) => {
    const result = emit(name, ...rest);
    if (name === 'patch' && started !== null) { window.__patchTimes.push(performance.now() - started); started = null; }
    return result;
  };
}"""


def frames_while(page, action) -> float:
    page.evaluate(
        "() => { window.__frames = 0; window.__counting = true; const f = () => { window.__frames++; "
        "if (window.__counting) requestAnimationFrame(f); }; requestAnimationFrame(f); }"
    )
    started = time.perf_counter()
    action()
    page.evaluate("() => new Promise((r) => requestAnimationFrame(() => r()))")
    elapsed = time.perf_counter() - started
    return page.evaluate("() => { window.__counting = false; return window.__frames; }") / elapsed


def drag(page) -> None:
    page.mouse.move(600, 450)
    page.mouse.down()
    for i in range(120):
        page.mouse.move(600 + (i % 40) * 8, 450 + (i % 30) * 6)
    page.mouse.up()


def wheel(page) -> None:
    page.mouse.move(600, 450)
    for i in range(40):
        page.mouse.wheel(0, -120 if i % 20 < 10 else 120)


def measure(vhost: VhostSnapshot, group_above: int) -> dict[str, float]:
    server, _ = run_live(Settings(group_above=group_above), sources=[])
    hub = server.service.hub
    hub.publish_broker("bench", snapshot_of(vhost))
    hub.drain(120)
    server_s: list[float] = []
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1440, "height": 900})
            page.add_init_script(LONG_TASKS)
            started = time.perf_counter()
            page.goto(server.url)
            page.evaluate("async () => { window.__app = await (await import('/static/js/main.js')).ready; }")
            page.wait_for_function(
                "() => window.__app.graph.cy.nodes().length > 0 && window.__app.graph.counts().queues >= "
                f"{len(vhost.queues)}",
                timeout=DRAW_TIMEOUT_MS,
            )
            page.evaluate("() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)))")
            drawn = time.perf_counter() - started
            nodes = page.evaluate("() => window.__app.graph.cy.nodes().length")
            longest = page.evaluate("() => Math.max(0, ...window.__longTasks)")
            drag_fps = frames_while(page, lambda: drag(page))
            zoom_fps = frames_while(page, lambda: wheel(page))
            page.evaluate(PATCH_PROBE)
            queues = list(vhost.queues)
            for step in range(30):
                queues[step * 37 % len(queues)] = replace(
                    queues[step * 37 % len(queues)], messages_ready=100_000 + step
                )
                posted = time.perf_counter()
                hub.publish_broker("bench", snapshot_of(replace(vhost, queues=tuple(queues))))
                hub.drain(120)
                page.wait_for_function(f"() => window.__patchTimes.length >= {step + 1}", timeout=60000)
                server_s.append(time.perf_counter() - posted)
            patch_ms = statistics.median(page.evaluate("() => window.__patchTimes"))
            browser.close()
    finally:
        stop_live(server)
    print(f"  (poll applied and patch on the page: {statistics.median(server_s) * 1000:.0f} ms median)")
    return {
        "drawn_s": drawn,
        "longest_ms": longest,
        "nodes": nodes,
        "drag_fps": drag_fps,
        "zoom_fps": zoom_fps,
        "patch_ms": patch_ms,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--queues", type=int, default=10000)
    parser.add_argument("--only", choices=("grouped", "every node"))
    args = parser.parse_args()
    vhost = company_vhost(args.queues)
    ways = {"grouped": Settings().group_above, "every node": 10**9}
    if args.only:
        ways = {args.only: ways[args.only]}
    print(
        f"vhost: {len(vhost.queues)} queues, {len(vhost.exchanges)} exchanges, {len(vhost.bindings)} bindings "
        f"({len(vhost.queues) + len(vhost.exchanges)} nodes); Chromium 1440x900, software rendering"
    )
    for way, above in ways.items():
        m = measure(vhost, above)
        print(
            f"{way:>10}: first draw {m['drawn_s']:6.2f} s (longest main-thread task {m['longest_ms']:5.0f} ms) | "
            f"Cytoscape nodes {m['nodes']:6.0f} | "
            f"drag {m['drag_fps']:5.1f} fps | wheel zoom {m['zoom_fps']:5.1f} fps | "
            f"depth patch {m['patch_ms']:6.2f} ms main thread (median of 30)"
        )


if __name__ == "__main__":
    main()
