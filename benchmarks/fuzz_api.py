"""Fuzzes the JSON API (every GET route's query parameters, POST /api/route bodies) and
the definitions loader: no 500s, no hangs, no exception other than the documented one.

The app runs for real (Werkzeug on a loopback port, offline definitions mode over the
hostile-names fixture) and is driven over HTTP, so a hang shows up as a client timeout.
Inputs are seeded, so any failure it prints can be replayed with the same --seed.

    .venv/bin/python -m benchmarks.fuzz_api --seed 1 --iterations 20000
"""

from __future__ import annotations

import argparse
import random
import sys
import time

from tests.fuzzing import fuzz_definitions, fuzz_http, fuzz_settings, serve


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--iterations", type=int, default=5000, help="cases per target")
    args = parser.parse_args(argv)
    import logging

    logging.basicConfig(level=logging.ERROR)
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    url, stop = serve(fuzz_settings())
    started = time.perf_counter()
    reports = [
        fuzz_http(url, random.Random(args.seed), args.iterations),
        fuzz_definitions(random.Random(args.seed), args.iterations),
    ]
    stop()
    print(f"seed {args.seed}, {args.iterations} cases per target, {time.perf_counter() - started:.1f} s")
    for report in reports:
        print(report.line())
        for failure in report.failures[:10]:
            print("  FAIL", failure)
    return 1 if any(r.failures for r in reports) else 0


if __name__ == "__main__":
    sys.exit(main())
