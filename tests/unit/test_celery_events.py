"""Decoding and validation of Celery event messages: recorded real ones, then hostile ones."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from visualiser.celery.events import KNOWN_TYPES, MAX_BODY_BYTES, Dropped, decode_body, events_of

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
RECORDED = json.loads((FIXTURES / "celery_events.json").read_text())
MALFORMED = json.loads((FIXTURES / "celery_events_malformed.json").read_text())


def replay(message: dict) -> list[tuple[dict | None, str | None]]:
    return list(
        events_of(
            message["body"].encode("utf-8", "surrogatepass"),
            message["content_type"],
            message["content_encoding"],
            received=1.0,
        )
    )


def test_every_recorded_event_is_accepted_and_batches_are_unpacked():
    results = [pair for message in RECORDED for pair in replay(message)]
    assert [reason for _, reason in results if reason] == []
    kinds = {event["type"] for event, _ in results}
    assert (
        {
            "worker-online",
            "worker-heartbeat",
            "worker-offline",
            "task-sent",
            "task-received",
            "task-started",
            "task-succeeded",
            "task-failed",
            "task-retried",
        }
        <= kinds
        <= KNOWN_TYPES
    )
    batches = [m for m in RECORDED if m["body"].startswith("[")]
    assert batches, "the recording should include Celery's batched task events"
    assert len(results) > len(RECORDED)


def test_normalised_events_keep_only_what_is_used():
    sent = next(e for m in RECORDED for e, _ in replay(m) if e and e["type"] == "task-sent")
    assert {"uuid", "name", "queue", "exchange", "routing_key", "args", "received"} <= set(sent)
    assert "clock" not in sent and "utcoffset" not in sent


@pytest.mark.parametrize("case", MALFORMED, ids=[c["note"] for c in MALFORMED])
def test_malformed_events_are_dropped_one_by_one_with_a_reason(case):
    results = replay(case)
    assert [reason for _, reason in results] == case["expect"]
    for event, reason in results:
        assert (event is None) == (reason is not None)


def test_oversized_body_is_refused_before_parsing():
    body = b'{"type": "worker-heartbeat", "hostname": "' + b"x" * MAX_BODY_BYTES + b'"}'
    with pytest.raises(Dropped) as caught:
        decode_body(body, "application/json", "utf-8")
    assert caught.value.reason == "oversized"


def test_invalid_utf8_is_not_json():
    assert replay({"body": "", "content_type": "application/json", "content_encoding": "utf-8"})[0][1] == "not_json"
    results = list(events_of(b'{"type": "\xff"}', "application/json", "utf-8", 1.0))
    assert results == [(None, "not_json")]


def test_long_args_are_trimmed_for_storage_not_refused():
    body = json.dumps({"type": "task-sent", "uuid": "u", "args": "a" * 5000}).encode()
    [(event, reason)] = list(events_of(body, "application/json", None, 1.0))
    assert reason is None and len(event["args"]) == 1001 and event["args"].endswith("…")
