"""Seeded, bounded fuzzing of the JSON API on the real app: no 500s, no hangs.

The full run is ``benchmarks/fuzz_api.py``; this is the same generator, small enough for CI.
"""

from __future__ import annotations

import random

import pytest
import requests

from tests.fuzzing import fuzz_http, fuzz_settings, serve


@pytest.fixture(scope="module")
def base_url():
    url, stop = serve(fuzz_settings())
    yield url
    stop()


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_fuzzed_requests_never_fail_the_server(base_url: str, seed: int) -> None:
    report = fuzz_http(base_url, random.Random(seed), 300)
    assert report.failures == []
    assert report.cases == 300
    assert report.statuses[200] and report.statuses[400]  # both paths were exercised


def test_deeply_nested_json_is_a_400(base_url: str) -> None:
    body = "[" * 100_000 + "]" * 100_000
    response = requests.post(
        base_url + "/api/route", data=body, headers={"Content-Type": "application/json"}, timeout=10
    )
    assert response.status_code == 400
    assert response.json()["error"] == "input nested too deeply"
