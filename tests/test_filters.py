"""Display filters: what --call-id, --method, --status and --port show (and what they keep)."""

from __future__ import annotations

import pytest

from sipwatch.capture.readers import open_capture
from sipwatch.filters import FilterError, MessageFilter, parse_status_filter
from sipwatch.pipeline import Pipeline, PipelineOptions
from sipwatch.records import FindingRecord, MessageRecord
from tests.conftest import CAPTURES


def run(name: str, flt: MessageFilter) -> tuple[list[MessageRecord], list[FindingRecord], int]:
    pipeline = Pipeline(PipelineOptions(filter=flt))
    with open_capture(CAPTURES / name) as source:
        records = list(pipeline.run(source))
    messages = [r for r in records if isinstance(r, MessageRecord)]
    findings = [r for r in records if isinstance(r, FindingRecord)]
    return messages, findings, pipeline.summary.messages


def test_status_spec_parses_codes_and_classes() -> None:
    assert parse_status_filter("4xx, 503") == (frozenset({4}), frozenset({503}))
    with pytest.raises(FilterError, match="bad --status value '4yz'"):
        parse_status_filter("4yz")
    with pytest.raises(FilterError):
        parse_status_filter("700")


def test_status_filter_shows_only_matching_responses_but_counts_everything() -> None:
    messages, findings, total = run("bad-extension-uas.pcap", MessageFilter.build(status="4xx"))
    assert [m.msg.status for m in messages] == [420]
    assert total == 9  # the summary still counts every message
    # The 420 matches 4xx; the finding about the unregistered tag names no status, so it stays.
    assert [f.kind for f in findings] == ["unregistered-option-tag", "bad-extension"]


def test_method_filter_includes_the_responses_of_that_method() -> None:
    messages, findings, _ = run("transfer-succeeded.pcap", MessageFilter.build(methods=["refer"]))
    assert [(m.msg.kind, m.msg.cseq_method) for m in messages] == [
        ("request", "REFER"),
        ("response", "REFER"),
    ]
    # The transfer is a REFER exchange, and the correlator saw the NOTIFYs all the same.
    assert [(f.kind, f.data["outcome"]) for f in findings] == [("transfer", "succeeded")]


def test_method_filter_hides_findings_about_other_methods() -> None:
    _, findings, _ = run("bad-extension-uas.pcap", MessageFilter.build(methods=["BYE,REFER"]))
    assert findings == []


def test_call_id_filter_is_a_prefix_match() -> None:
    everything, _, _ = run("transfer-succeeded.pcap", MessageFilter())
    call_id = everything[0].msg.call_id
    shown, _, _ = run("transfer-succeeded.pcap", MessageFilter.build(call_ids=[call_id[:6]]))
    assert len(shown) == len(everything) == 12
    none, findings, _ = run("transfer-succeeded.pcap", MessageFilter.build(call_ids=["nomatch"]))
    assert none == [] and findings == []


def test_port_filter_matches_either_side() -> None:
    shown, _, _ = run("transfer-succeeded.pcap", MessageFilter.build(ports=[5060]))
    assert len(shown) == 12
    none, _, _ = run("transfer-succeeded.pcap", MessageFilter.build(ports=[5070]))
    assert none == []
