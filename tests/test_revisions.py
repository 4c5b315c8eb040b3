"""One verdict per exchange: a later message replaces a verdict a timer drew too early.

aaa.pcap, call 105090259-446faf7a@192.168.1.2: a CANCEL (frame 247) is retransmitted for 32 s
without an answer, the INVITE it cancels is answered 408 (frame 252) 2.65 s after it, and the
CANCEL's own 408 arrives 33 s after it was sent (frame 274), after its Timer F. A file run says
that once (``late-response``: RFC 3261 §9.2's 200 to the CANCEL never came, and the INVITE got
408 instead of 487); a live run says ``no-final-response`` at Timer F and then the revision.
"""

from __future__ import annotations

import io
import json
from typing import Any

from rich.console import Console

from sipwatch.capture.readers import open_capture
from sipwatch.commands.pcap import run_pcap
from sipwatch.pipeline import Pipeline, PipelineOptions
from sipwatch.records import FindingRecord
from sipwatch.render.terminal import TerminalRenderer
from tests.conftest import public_capture

CALL = "105090259-446faf7a@192.168.1.2"


def run(options: PipelineOptions) -> list[dict[str, Any]]:
    out = io.StringIO()
    run_pcap([str(public_capture("aaa.pcap"))], options, "jsonl", out)
    return [json.loads(line) for line in out.getvalue().splitlines()]


def cancel_findings(lines: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        line
        for line in lines
        if line["type"] == "finding"
        and line["call_id"] == CALL
        and line.get("method") == "CANCEL"
        and line["kind"] != "warning-header"
    ]


def test_file_run_tells_the_cancel_story_once() -> None:
    lines = run(PipelineOptions())
    found = cancel_findings(lines)
    assert [f["kind"] for f in found] == ["late-response"]
    late = found[0]
    assert late["severity"] == "error"
    assert late["frames"][0] == 247 and late["frames"][-1] == 274
    assert (late["status"], late["timer"], late["sent"], late["revises"]) == (408, "F", 11, None)
    assert late["invite"] == {"status": 408, "frame": 252, "after_cancel": 2.653785}
    assert "RFC 3261 §9.2: a UAS answers a CANCEL at once with 200 OK" in late["text"]
    assert late["text"].endswith(
        "The INVITE (frame 223) was answered 408 Request Timeout (frame 252, 2.654 s after the "
        "CANCEL) instead of 487."
    )
    assert "got no response at all" not in json.dumps(lines)  # no verdict contradicts it
    assert "id" not in late


def test_live_run_revises_the_timeout_and_counts_only_the_latest() -> None:
    lines = run(PipelineOptions(hold_timeouts=False))
    found = cancel_findings(lines)
    assert [f["kind"] for f in found] == ["no-final-response", "late-response"]
    timeout, late = found
    assert isinstance(timeout["id"], int)
    assert late["revises"] == timeout["id"]
    summary = lines[-1]
    held = run(PipelineOptions())[-1]
    assert summary["findings"] == held["findings"]  # the revised verdict is not counted
    assert summary["findings_by_severity"] == held["findings_by_severity"]


def test_terminal_prints_the_revision_as_a_revision() -> None:
    out = io.StringIO()
    renderer = TerminalRenderer(Console(file=out, width=200, color_system=None))
    pipeline = Pipeline(PipelineOptions(hold_timeouts=False), source="aaa.pcap")
    ids: list[int] = []
    with open_capture(public_capture("aaa.pcap")) as source:
        for record in pipeline.run(source):
            if isinstance(record, FindingRecord) and record.data.get("call_id") == CALL:
                if record.kind == "no-final-response":
                    ids.append(int(record.data["id"]))
                renderer.record(record)
    text = out.getvalue()
    assert len(ids) == 1
    assert f"◆ ERROR no-final-response #{ids[0]}: CANCEL CSeq 1" in text
    assert f"◆ revised (finding #{ids[0]}): ERROR late-response: CANCEL CSeq 1" in text
