"""Seeded, bounded fuzzing of the definitions loader: every input is either shown or
refused with a DefinitionsError that says why; nothing else escapes."""

from __future__ import annotations

import random

import pytest

from tests.fuzzing import fuzz_definitions


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_mutated_definitions_are_shown_or_refused(seed: int) -> None:
    report = fuzz_definitions(random.Random(seed), 400)
    assert report.failures == []
    assert report.statuses["accepted"] and report.statuses["refused"]  # both outcomes were reached
