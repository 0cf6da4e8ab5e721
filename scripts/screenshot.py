"""Screenshot the page in headless Chromium: `python scripts/screenshot.py URL OUT.png [--wait S]`."""

from __future__ import annotations

import argparse
import time

from playwright.sync_api import sync_playwright

ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("out")
    parser.add_argument("--wait", type=float, default=3.0)
    parser.add_argument("--width", type=int, default=1600)
    parser.add_argument("--height", type=int, default=950)
    parser.add_argument("--click", help="a node id to select before the shot")
    args = parser.parse_args()
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
        page = browser.new_page(viewport={"width": args.width, "height": args.height})
        page.on("console", lambda m: print("console:", m.type, m.text))
        page.on("pageerror", lambda e: print("pageerror:", e))
        page.goto(args.url)
        page.evaluate("async () => { window.__app = await (await import('/static/js/main.js')).ready; }")
        time.sleep(args.wait)
        if args.click:
            page.evaluate("(id) => { const a = window.__app; a.bus.emit('select', a.graph.element(id)); }", args.click)
            time.sleep(0.5)
        page.screenshot(path=args.out)
        browser.close()


if __name__ == "__main__":
    main()
