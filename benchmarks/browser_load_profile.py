"""Where the page's main-thread time goes while it draws a big vhost, from Chromium's profiler.

Feeds the real app the synthetic company vhost of ``browser_large_graph.py`` (grouped, the
default), opens the page in Debian's Chromium with the CPU profiler on, stops it once the
graph is drawn, and prints the page's own functions by inclusive time (what each costs with
everything it calls, Cytoscape included) and the heaviest functions by self time.

    .venv/bin/python -m benchmarks.browser_load_profile --queues 20000
"""

from __future__ import annotations

import argparse
import collections
from typing import Any

from playwright.sync_api import sync_playwright

from tests.conftest import run_live, snapshot_of, stop_live
from tests.e2e.conftest import CHROMIUM, CHROMIUM_ARGS
from tests.synthetic import company_vhost
from visualiser.config import Settings

VENDORED = ("cytoscape", "socket.io")


def profile_load(queues: int) -> dict[str, Any]:
    vhost = company_vhost(queues)
    server, _ = run_live(Settings(), sources=[])
    server.service.hub.publish_broker("bench", snapshot_of(vhost))
    server.service.hub.drain(120)
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1440, "height": 900})
            cdp = page.context.new_cdp_session(page)
            cdp.send("Profiler.enable")
            cdp.send("Profiler.setSamplingInterval", {"interval": 500})
            cdp.send("Profiler.start")
            page.goto(server.url)
            page.evaluate("async () => { window.__app = await (await import('/static/js/main.js')).ready; }")
            page.wait_for_function(f"() => window.__app.graph.counts().queues >= {len(vhost.queues)}", timeout=180_000)
            page.evaluate("() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)))")
            profile: dict[str, Any] = cdp.send("Profiler.stop")["profile"]
            browser.close()
    finally:
        stop_live(server)
    return profile


def times(profile: dict[str, Any]) -> tuple[collections.Counter[tuple[str, str]], collections.Counter[tuple[str, str]]]:
    """(inclusive, self) milliseconds per (function, file)."""
    nodes = {node["id"]: node for node in profile["nodes"]}
    parent = {child: node["id"] for node in profile["nodes"] for child in node.get("children", [])}
    sampled: collections.Counter[int] = collections.Counter()
    for sample, delta in zip(profile["samples"], profile["timeDeltas"], strict=True):
        sampled[sample] += delta / 1000
    inclusive: collections.Counter[tuple[str, str]] = collections.Counter()
    own: collections.Counter[tuple[str, str]] = collections.Counter()
    for node_id, ms in sampled.items():
        own[where(nodes[node_id])] += ms
        seen: set[tuple[str, str]] = set()
        current: int | None = node_id
        while current is not None:
            key = where(nodes[current])
            if key not in seen:
                inclusive[key] += ms
                seen.add(key)
            current = parent.get(current)
    return inclusive, own


def where(node: dict[str, Any]) -> tuple[str, str]:
    frame = node["callFrame"]
    return frame["functionName"] or "(anonymous)", frame["url"].rsplit("/", 1)[-1]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--queues", type=int, default=20000)
    args = parser.parse_args()
    inclusive, own = times(profile_load(args.queues))
    print(f"page load to graph drawn, {args.queues} queues, grouped: the page's functions, inclusive ms")
    for (name, file), ms in inclusive.most_common():
        if file and not file.startswith(VENDORED) and ms >= 20:
            print(f"  {ms:8.1f}  {name} ({file})")
    print("heaviest self time, ms")
    for (name, file), ms in own.most_common(8):
        print(f"  {ms:8.1f}  {name} ({file or 'native'})")


if __name__ == "__main__":
    main()
