"""SIP quoted in an ICMP error is evidence that a message was not delivered, not a retransmission.

private-test-sip.pcapng frame 2 is an ICMP port unreachable from 172.16.98.102 quoting the
REGISTER of frame 1 (tshark: ``icmp.type == 3 && icmp.code == 3``); frames 150 and 152 quote two
responses the registrar sent to a UAC that had gone away.
"""

from __future__ import annotations

import io
import json
from typing import Any

from rich.console import Console

from sipwatch.capture.readers import open_capture
from sipwatch.commands.pcap import run_pcap
from sipwatch.pipeline import Pipeline, PipelineOptions
from sipwatch.render.terminal import TerminalRenderer
from tests.conftest import public_capture

NAME = "private-test-sip.pcapng"


def lines() -> list[dict[str, Any]]:
    out = io.StringIO()
    run_pcap([str(public_capture(NAME))], PipelineOptions(), "jsonl", out)
    return [json.loads(line) for line in out.getvalue().splitlines()]


def test_quoted_register_is_marked_not_a_retransmission() -> None:
    records = lines()
    messages = {m["frame"]: m for m in records if m["type"] == "message"}
    assert messages[2]["retransmission"] is False
    assert messages[2]["icmp"] == {"type": 3, "code": 3, "from": "172.16.98.102"}
    assert messages[1]["icmp"] is None
    assert [f for f, m in messages.items() if m["icmp"]] == [2, 150, 152]
    assert list(messages[1])[-2:] == ["agent", "icmp"]  # appended after the other keys


def test_icmp_error_finding_says_what_the_error_means() -> None:
    findings = [r for r in lines() if r["type"] == "finding"]
    icmp = [f for f in findings if f["kind"] == "icmp-error"]
    assert [(f["frames"], f["what"], f["status"]) for f in icmp] == [
        ([1, 2], "request", None),
        ([149, 150], "response", 100),
    ]
    first = icmp[0]
    assert first["severity"] == "error"
    assert first["meaning"] == "nothing listens on 172.16.98.102:5060"
    assert first["message_frame"] == 1
    assert first["icmp"] == {"type": 3, "code": 3, "from": "172.16.98.102"}
    assert first["text"].startswith(
        "REGISTER CSeq 30036 (frame 1) from 172.16.98.181:5060 to 172.16.98.102:5060 was not "
        "delivered: nothing listens on 172.16.98.102:5060 (ICMP port unreachable from "
        "172.16.98.102, frame 2)."
    )
    unanswered = next(f for f in findings if f["kind"] == "no-final-response" and 2 in f["frames"])
    assert unanswered["sent"] == 1  # the quote is not a second send
    assert "retransmission" not in unanswered["text"]
    assert "ICMP port unreachable from 172.16.98.102 (frame 2) says why" in unanswered["text"]
    assert unanswered["remedy"].startswith("Start the SIP service on 172.16.98.102:5060")


def test_terminal_shows_the_quote_as_such() -> None:
    out = io.StringIO()
    renderer = TerminalRenderer(Console(file=out, width=120, color_system=None))
    pipeline = Pipeline(PipelineOptions(), source=NAME)
    with open_capture(public_capture(NAME)) as source:
        for record in pipeline.run(source):
            renderer.record(record)
    text = out.getvalue()
    second = next(line for line in text.splitlines() if line.startswith("     2 "))
    assert second.endswith("(quoted in an ICMP error from 172.16.98.102)")
    assert "retransmission #1 of frame 1 (" not in text
    assert "Copy of frame 1 quoted in an ICMP port unreachable from 172.16.98.102" in text
