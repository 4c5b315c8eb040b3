"""The reports of ``sipwatch check``: JUnit XML, Markdown, terminal and JSON lines.

Built from small hand-made verdicts so hostile wire text can be put exactly where it hurts;
the same reports are produced from the bundled captures in test_check_cli.py.
"""

from __future__ import annotations

import io
import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path

from junitparser import Error, Failure, JUnitXml
from rich.console import Console

from sipwatch.check.config import parse_rules
from sipwatch.check.engine import RuleEngine
from sipwatch.check.verdict import CaptureVerdict, error_verdict, judge, verdict_lines
from sipwatch.records import FindingRecord, MalformedRecord, MessageRecord
from sipwatch.render.check_terminal import CheckTerminalReport
from sipwatch.render.jsonl import dumps
from sipwatch.render.junit import BODY_LIMIT, body_text, write_junit, xml_text
from sipwatch.render.markdown_report import markdown_report, md_escape
from sipwatch.sip.message import SipMessage
from sipwatch.sip.parser import parse_message

#: Everything a scanner might put into a header: ANSI/OSC escapes, NUL, XML and HTML markup,
#: Markdown links and emphasis, a bidi override, and a CDATA terminator.
HOSTILE = (
    "\x1b[31mred\x1b]0;title\x07 \x00<script>alert(1)</script> ]]> [x](http://e) **b** \u202e|"
)


def _options() -> SipMessage:
    msg = parse_message(
        b"OPTIONS sip:b SIP/2.0\r\nVia: SIP/2.0/UDP a;branch=z9hG4bK1\r\nFrom: <sip:a>;tag=1\r\n"
        b"To: <sip:b>\r\nCall-ID: c\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
    )
    assert isinstance(msg, SipMessage)
    return msg


RULES = '[[expect]]\ncapture = "ok.pcap"\nkind = "transfer"\noutcome = "failed"\ncount = 1\n'


def _verdicts(strict: bool = False, source: str | None = "rules.toml") -> list[CaptureVerdict]:
    """Three verdicts as ``sipwatch check`` makes them, judged by ``source`` (None: defaults)."""
    verdicts = _judged(strict)
    for verdict in verdicts:
        verdict.rules_source = source
    return verdicts


def _judged(strict: bool) -> list[CaptureVerdict]:
    config = parse_rules(RULES + "\n", "rules.toml")
    bad = RuleEngine(config)
    bad.feed(
        FindingRecord(
            {
                "kind": "transfer",
                "outcome": "failed",
                "call_id": "call<&>",
                "frames": [5, 9],
                "ts": 1.0,
                "text": "Transfer failed: " + HOSTILE,
                "remedy": "Fix " + HOSTILE,
            }
        )
    )
    bad.feed(MalformedRecord(2.0, 12, "1.2.3.4:5060", "5.6.7.8:5060", "udp", "no CSeq", b"X"))
    bad.feed(
        FindingRecord(
            {
                "kind": "retransmissions",
                "call_id": "c2",
                "frames": [20],
                "text": "Slow.",
                "remedy": "",
            }
        )
    )
    ok = RuleEngine(config)
    ok.feed(MessageRecord(1.0, 3, "1.2.3.4:5060", "5.6.7.8:5060", "udp", _options()))
    ok.feed(
        FindingRecord(
            {"kind": "transfer", "outcome": "failed", "call_id": "c", "frames": [4], "text": "t"}
        )
    )
    return [
        judge("caps/bad.pcap", bad.finish(), config, strict=strict, messages=7),
        judge("caps/ok.pcap", ok.finish(), config, strict=strict, messages=3),
        error_verdict("caps/broken.pcap", "caps/broken.pcap: not a capture file: it is empty"),
    ]


def test_junit_report_parses_back_with_junitparser(tmp_path: Path) -> None:
    target = tmp_path / "report.xml"
    write_junit(_verdicts(), str(target))
    xml = JUnitXml.fromfile(str(target))
    suites = {suite.name: suite for suite in xml}
    assert list(suites) == ["caps/bad.pcap", "caps/ok.pcap", "caps/broken.pcap"]

    bad = suites["caps/bad.pcap"]
    cases = {case.name: case for case in bad}
    assert list(cases) == [
        "failed-transfer",
        "extension-retry",
        "server-or-global-failure",
        "no-final-response",
        "malformed-sip",
        "client-failure",
        "retransmission-storm",
        "auth-loop",
        "damaged-capture",
        "no-sip",
        "other-findings",
        "one-way-audio",
    ]
    assert (bad.tests, bad.failures, bad.errors) == (12, 2, 0)
    (failure,) = cases["failed-transfer"].result
    assert isinstance(failure, Failure)
    assert failure.type == "failed-transfer"
    assert failure.message.startswith(
        "Transfer failed: \\x1b[31mred\\x1b]0;title\\x07 \\x00<script>"
    )
    assert "Remedy: Fix " in failure.text and "Call-ID call<&>; frames 5, 9" in failure.text
    assert cases["malformed-sip"].is_failure
    assert cases["retransmission-storm"].is_passed
    assert cases["retransmission-storm"].system_out == "warning: Slow. [Call-ID c2; frame 20]"
    assert all(cases[name].is_passed for name in ("auth-loop", "client-failure"))
    assert cases["failed-transfer"].classname == "caps.bad"

    ok = suites["caps/ok.pcap"]
    ok_cases = {case.name: case for case in ok}
    assert (ok.tests, ok.failures) == (13, 0)
    expect_case = ok_cases["expect transfer outcome=failed count=1"]
    assert expect_case.is_passed
    assert ok_cases["failed-transfer"].system_out.startswith("expected: t")

    broken = suites["caps/broken.pcap"]
    (case,) = list(broken)
    (error,) = case.result
    assert isinstance(error, Error)
    assert error.message == "caps/broken.pcap: not a capture file: it is empty"
    assert (xml.tests, xml.failures, xml.errors) == (26, 2, 1)


def test_junit_is_well_formed_xml_whatever_the_wire_said(tmp_path: Path) -> None:
    target = tmp_path / "report.xml"
    write_junit(_verdicts(), str(target))
    raw = target.read_bytes()
    assert raw.startswith(b"<?xml version='1.0' encoding='utf-8'?>")
    for forbidden in (b"\x1b", b"\x00", b"\x07", b"<script>"):
        assert forbidden not in raw
    root = ET.fromstring(raw)
    assert root.tag == "testsuites"
    properties = root.find("testsuite/properties")
    assert properties is not None
    assert {p.get("name"): p.get("value") for p in properties} == {
        "rules": "rules.toml",
        "messages": "7",
    }


def test_junit_strict_turns_warnings_into_failures(tmp_path: Path) -> None:
    target = tmp_path / "strict.xml"
    write_junit(_verdicts(strict=True, source=None), str(target))
    cases = {case.name: case for case in next(iter(JUnitXml.fromfile(str(target))))}
    assert cases["retransmission-storm"].is_failure
    assert cases["failed-transfer"].is_failure


def test_xml_text_keeps_lines_and_escapes_controls() -> None:
    assert xml_text("a\x1bb\nc\ufffe") == "a\\x1bb\nc\ufffd"


def test_body_text_cuts_after_the_limit_and_counts_the_rest() -> None:
    assert BODY_LIMIT == 65536
    assert body_text("abcde", limit=5) == "abcde"
    # Counted after escaping: "ab\\x1bcdef" is 10 characters, 5 kept.
    assert body_text("ab\x1bcdef", limit=5) == (
        "ab\\x1\n… 5 more characters cut (report bodies stop at 5)"
    )


def test_junit_bodies_of_a_huge_finding_are_capped(tmp_path: Path) -> None:
    """A capture whose finding text is 200 000 characters long gives a report of about 128 KiB."""
    huge = "x" * 200_000
    config = parse_rules("", "rules.toml")
    engine = RuleEngine(config)
    engine.feed(
        FindingRecord(
            {
                "kind": "transfer",
                "outcome": "failed",
                "call_id": "c1",
                "frames": [4],
                "text": "Transfer failed: " + huge,
                "remedy": "Retry.",
            }
        )
    )
    engine.feed(
        FindingRecord(
            {"kind": "retransmissions", "call_id": "c2", "frames": [9], "text": "Slow " + huge}
        )
    )
    target = tmp_path / "report.xml"
    write_junit([judge("caps/huge.pcap", engine.finish(), config, messages=2)], str(target))
    raw = target.read_bytes()
    assert 2 * BODY_LIMIT < len(raw) < 2 * BODY_LIMIT + 4096
    cases = {case.get("name"): case for case in ET.fromstring(raw).iter("testcase")}
    failure = cases["failed-transfer"].find("failure")
    assert failure is not None
    assert failure.get("message") == "Transfer failed: " + "x" * 283 + "…"
    # Whole bodies: "Transfer failed: " + 200 000 x + " [Call-ID c1; frame 4]\n  Remedy: Retry."
    # is 200 056 characters, "warning: Slow " + 200 000 x + " [Call-ID c2; frame 9]" 200 036.
    bodies = {
        ("failed-transfer", "failure"): ("Transfer failed: ", 134_520),
        ("retransmission-storm", "system-out"): ("warning: Slow ", 134_500),
    }
    for (name, tag), (head, cut) in bodies.items():
        element = cases[name].find(tag)
        assert element is not None
        assert element.text == (
            head
            + "x" * (BODY_LIMIT - len(head))
            + f"\n… {cut} more characters cut (report bodies stop at 65536)"
        )


def test_markdown_report_escapes_wire_text() -> None:
    report = markdown_report(_verdicts())
    lines = report.splitlines()
    assert lines[0] == "## ❌ sipwatch check: 1 passed, 1 failed, 1 unreadable"
    assert lines[2] == "Rules: rules.toml"
    assert lines[4:9] == [
        "| | Capture | Failures | Warnings | Expected | Messages |",
        "|---|---|---:|---:|---:|---:|",
        "| ❌ | caps/bad.pcap | 2 | 1 | 0 | 7 |",
        "| ✅ | caps/ok.pcap | 0 | 0 | 1 | 3 |",
        "| ⚠️ | caps/broken.pcap | 0 | 0 | 0 | 0 |",
    ]
    # No tag can open (every "<" escaped), no link or emphasis either; nothing else is touched.
    assert re.search(r"(?<!\\)<(?!/?(details|summary)>)", report) is None and "\x1b" not in report
    assert "\\<script>alert(1)\\</script>" in report
    assert "\\[x\\](http://e) \\*\\*b\\*\\*" in report
    assert "\\u202e\\|" in report
    assert "- **failed-transfer**: Transfer failed: \\\\x1b\\[31mred" in report
    assert "  *Remedy:* Fix " in report
    assert "<details><summary>Warnings (1)</summary>" in report
    assert "### ⚠️ caps/broken.pcap" in report


def test_md_escape() -> None:
    assert md_escape("a|b_c*d`e<f>&g$h@i\nj") == "a\\|b_c\\*d\\`e\\<f>\\&g\\$h@i j"
    # At a word's edge only: emphasis, a mention, an issue reference; never in an address.
    assert md_escape("_x_ @bob #12 a@b.c a_b (see [x](y))") == (
        "\\_x\\_ \\@bob \\#12 a@b.c a_b (see \\[x\\](y))"
    )


def test_terminal_report() -> None:
    out = io.StringIO()
    console = Console(file=out, width=100, color_system=None, markup=False, highlight=False)
    report = CheckTerminalReport(console, strict=False)
    verdicts = _verdicts()
    for verdict in verdicts:
        report.capture(verdict)
    report.finish(verdicts, [parse_rules(RULES, "rules.toml")])
    text = out.getvalue()
    lines = text.splitlines()
    assert lines[:3] == [
        "FAIL   caps/bad.pcap  2 failures, 1 warning (7 messages)",
        "PASS   caps/ok.pcap  1 expected (3 messages)",
        "ERROR  caps/broken.pcap  caps/broken.pcap: not a capture file: it is empty",
    ]
    assert lines[4] == "caps/bad.pcap"
    assert lines[5] == "  ✗ failed-transfer  [call<&>]  frames 5, 9"
    assert lines[6].startswith("    Transfer failed: \\x1b[31mred\\x1b]0;title\\x07 \\x00<script>")
    assert "  ✗ malformed-sip  frame 12" in lines
    assert "  ! retransmission-storm  [c2]  frame 20" in lines
    assert lines[-1] == "3 captures: 1 passed, 1 failed, 1 unreadable (rules: rules.toml)"
    assert "\x1b" not in text


def test_terminal_notes_expectations_that_match_nothing() -> None:
    out = io.StringIO()
    console = Console(file=out, width=100, color_system=None)
    report = CheckTerminalReport(console, strict=True)
    config = parse_rules('[[expect]]\ncapture = "typo.pcap"\nkind = "transfer"\n', "r.toml")
    report.finish([], [config])
    assert "note: [[expect]] #1 (capture 'typo.pcap') matched no checked capture" in out.getvalue()
    assert out.getvalue().rstrip().endswith("(rules: default rules; strict)")


def test_jsonl_lines() -> None:
    bad, ok, broken = _verdicts()
    lines = [json.loads(dumps(line)) for line in verdict_lines(bad)]
    assert [(x["type"], x.get("rule"), x.get("verdict")) for x in lines] == [
        ("finding", "failed-transfer", "fail"),
        ("finding", "malformed-sip", "fail"),
        ("finding", "retransmission-storm", "warn"),
        ("verdict", None, "failed"),
    ]
    transfer, malformed, _, verdict = lines
    assert transfer["schema"] == 1 and transfer["capture"] == "caps/bad.pcap"
    assert transfer["kind"] == "transfer" and transfer["outcome"] == "failed"
    assert malformed["kind"] == "malformed" and malformed["severity"] == "error"
    assert malformed["reason"] == "no CSeq" and malformed["frames"] == [12]
    assert verdict["failures"] == 2 and verdict["warnings"] == 1
    assert verdict["rules"]["failed-transfer"] == "failed"
    assert verdict["rules"]["retransmission-storm"] == "warned"
    ok_lines = [json.loads(dumps(line)) for line in verdict_lines(ok)]
    assert ok_lines[0]["verdict"] == "expected"
    assert ok_lines[1]["expectations"] == [
        {"kind": "transfer", "outcome": "failed", "count": 1, "found": 1, "holds": True}
    ]
    (error_line,) = verdict_lines(broken)
    assert error_line["verdict"] == "error" and error_line["error"].endswith("it is empty")
