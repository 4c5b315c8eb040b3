"""The media rules of ``sipwatch check``: ``one-way-audio`` and ``mos-below`` (``mos_below``)."""

from __future__ import annotations

import pytest

from sipwatch.errors import RulesError
from sipwatch.media.model import StreamReport
from sipwatch.records import FindingRecord, StreamRecord
from tests.test_check_rules import evaluate, finding, rules_of


def stream(mos: float | None, **fields: object) -> StreamRecord:
    values: dict[str, object] = {
        "call_id": "call-1",
        "origin": "sdp",
        "src": "192.0.2.1:4000",
        "dst": "192.0.2.2:5000",
        "ssrc": 0x1234,
        "payload_type": 0,
        "codec": "PCMU/8000",
        "clock_rate": 8000,
        "packets": 900,
        "expected": 1000,
        "lost": 100,
        "duplicates": 0,
        "sequence_errors": 3,
        "jitter_max_ms": 12.5,
        "jitter_mean_ms": 4.25,
        "longest_gap_ms": 200.0,
        "mos_estimate": mos,
        "first_ts": 10.0,
        "last_ts": 30.0,
        "first_frame": 7,
        "last_frame": 1900,
    }
    values.update(fields)
    return StreamRecord(StreamReport(**values))  # type: ignore[arg-type]


def test_one_way_and_no_audio_fail_by_default() -> None:
    for kind in ("one-way-audio", "no-audio"):
        evaluation = evaluate([FindingRecord(finding(kind))])
        assert rules_of(evaluation) == [("one-way-audio", "fail")], kind
        (problem,) = evaluation.problems
        assert problem.text == f"{kind} text" and problem.frames == (5, 6)
    relaxed = evaluate(
        [FindingRecord(finding("one-way-audio"))], '[rules]\n"one-way-audio" = "warn"\n'
    )
    assert rules_of(relaxed) == [("one-way-audio", "warn")]


def test_mos_below_judges_streams_only_when_configured() -> None:
    assert rules_of(evaluate([stream(2.9)])) == []
    evaluation = evaluate(
        [stream(2.9), stream(4.2, ssrc=7), stream(None, ssrc=8)], "mos_below = 3.5\n"
    )
    (problem,) = evaluation.problems
    assert (problem.rule, problem.level, problem.frames) == ("mos-below", "fail", (7, 1900))
    assert problem.text == (
        "RTP 192.0.2.1:4000 -> 192.0.2.2:5000 (PCMU/8000, SSRC 0x00001234) has a MOS estimate "
        "of 2.90; the limit is 3.5 (100 of 1000 packets lost, mean jitter 4.25 ms)."
    )
    ignored = evaluate([stream(2.9)], 'mos_below = 3.5\nignore_call_ids = ["call-1"]\n')
    assert ignored.problems == []


@pytest.mark.parametrize("value", ["0.5", "5", '"low"', "true"])
def test_mos_below_must_be_on_the_mos_scale(value: str) -> None:
    with pytest.raises(RulesError, match=r"mos_below: must be a MOS between 1 and 4\.5"):
        evaluate([], f"mos_below = {value}\n")
