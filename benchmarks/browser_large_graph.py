"""How the page copes with a 2,000-node graph in headless Chromium.

Feeds the real app a synthetic vhost (400 exchanges, 1,600 queues, 1,600 bindings), opens
the page in Debian's Chromium, and measures: time until the graph is drawn, frames per
second while panning and zooming continuously, and the time to select and focus a node.

    .venv/bin/python -m benchmarks.browser_large_graph [--queues 1600 --exchanges 400]
"""

from __future__ import annotations

import argparse
import time

from playwright.sync_api import sync_playwright

from tests.conftest import StaticSource, run_live, snapshot_of
from tests.e2e.conftest import CHROMIUM, CHROMIUM_ARGS
from visualiser.config import Settings
from visualiser.model.entities import Binding, Exchange, Queue, VhostSnapshot

FPS_PROBE = """async (ms) => {
  const cy = window.__app.graph.cy;
  let frames = 0; const start = performance.now();
  return await new Promise((resolve) => {
    const step = (now) => {
      frames += 1;
      const t = (now - start) / ms;
      cy.viewport({ zoom: 0.15 + 0.6 * Math.abs(Math.sin(t * 3)), pan: { x: 300 * Math.cos(t * 5), y: 200 * Math.sin(t * 5) } });
      if (now - start < ms) requestAnimationFrame(step); else resolve(frames / ((now - start) / 1000));
    };
    requestAnimationFrame(step);
  });
}"""


def mouse_drag_fps(page) -> float:
    """Count animation frames while a real mouse drags the canvas and the wheel zooms it."""
    page.evaluate(
        "() => { window.__frames = 0; const f = () => { window.__frames++; requestAnimationFrame(f); }; requestAnimationFrame(f); }"
    )
    started = time.perf_counter()
    page.mouse.move(600, 450)
    page.mouse.down()
    for i in range(120):
        page.mouse.move(600 + (i % 40) * 8, 450 + (i % 30) * 6)
    page.mouse.up()
    for _ in range(20):
        page.mouse.wheel(0, -120)
    elapsed = time.perf_counter() - started
    return page.evaluate("() => window.__frames") / elapsed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--queues", type=int, default=1600)
    parser.add_argument("--exchanges", type=int, default=400)
    args = parser.parse_args()
    queues = tuple(Queue(f"q.{i:05d}", messages_ready=i * 7 % 5000) for i in range(args.queues))
    exchanges = tuple(Exchange(f"x.{i:04d}", "topic") for i in range(args.exchanges))
    bindings = tuple(Binding(f"x.{i % args.exchanges:04d}", q.name, "queue", f"k.{i}.#") for i, q in enumerate(queues))
    server, _ = run_live(Settings(), sources=[])
    StaticSource(server.service.hub, name="bench").post(snapshot_of(VhostSnapshot("/", exchanges, queues, bindings)))
    total = args.queues + args.exchanges
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1440, "height": 900})
        started = time.perf_counter()
        page.goto(server.url)
        page.evaluate("async () => { window.__app = await (await import('/static/js/main.js')).ready; }")
        page.wait_for_function(f"() => window.__app && window.__app.graph.cy.nodes().length >= {total}", timeout=60000)
        page.evaluate("() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)))")
        drawn = time.perf_counter() - started
        fps = page.evaluate(FPS_PROBE, 3000)
        drag_fps = mouse_drag_fps(page)
        started = time.perf_counter()
        page.evaluate("() => window.__app.graph.focus('queue:q.01234')")
        page.evaluate("() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)))")
        focus = time.perf_counter() - started
        browser.close()
    server.service.stop()
    print(f"nodes: {total} ({args.exchanges} exchanges, {args.queues} queues), edges: {len(bindings)}")
    print(f"page load to graph drawn: {drawn:.2f} s")
    print(f"frames per second, viewport changed by script every frame (worst case): {fps:.1f}")
    print(f"frames per second during a mouse drag (pan) and wheel zoom: {drag_fps:.1f}")
    print(f"select and focus one node: {focus * 1000:.0f} ms")


if __name__ == "__main__":
    main()
