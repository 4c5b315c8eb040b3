"""``--strict`` and cut transactions in ``sipwatch check``, end to end on real captures.

Two promises are tested here. ``--strict`` ("warnings fail too") fails on every correlator
finding of severity warning or error, including kinds no rule judges (``other-findings``), in
every report form. And a request that was still waiting for its final response when the capture
ended is a warning of ``no-final-response``, not a failure: only a real Timer B/F/C timeout
fails (RFC 3261 §17.1.1.2, §17.1.2.2, §16.6 step 11).
"""

from __future__ import annotations

import json
import shutil
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from sipwatch.cli import app
from tests.conftest import CAPTURES, REPO, public_capture

PROXY_420 = str(CAPTURES / "bad-extension-proxy.pcap")
FOO_TEXT = "INVITE CSeq 1 (frame 1) from 127.0.0.11:5060 lists 'foo' in Proxy-Require;"
CUT_REASON = (
    "Not a timeout: the capture ended before Timer {timer} (32 s, RFC 3261 {section}) could "
    "fire, so whether a final response would have come cannot be told (a warning, which fails "
    "only under --strict)."
)


@pytest.fixture(autouse=True)
def _outside_the_project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Run where no sipwatch.toml is discovered: the default rules apply. The bundled capture
    is checked as a copy, away from the captures/sipwatch.toml its own folder would find."""
    work = tmp_path / "work"
    work.mkdir()
    (work / "pyproject.toml").write_text('[project]\nname = "elsewhere"\n')
    copy = work / "bad-extension-proxy.pcap"
    shutil.copyfile(CAPTURES / "bad-extension-proxy.pcap", copy)
    monkeypatch.setattr(sys.modules[__name__], "PROXY_420", str(copy))
    monkeypatch.chdir(work)


def run(*args: str) -> Any:
    return CliRunner().invoke(app, ["check", *args, "--no-color"])


def jsonl(*args: str) -> tuple[int, list[dict[str, Any]]]:
    result = run(*args, "--format", "jsonl")
    return result.exit_code, [json.loads(line) for line in result.stdout.splitlines()]


def found(lines: list[dict[str, Any]]) -> list[tuple[str, str, str, str]]:
    """(rule, verdict, level, kind) of each finding line."""
    return [
        (x["rule"], x["verdict"], x["level"], x["kind"]) for x in lines if x["type"] == "finding"
    ]


def verdict_line(lines: list[dict[str, Any]]) -> dict[str, Any]:
    (verdict,) = (x for x in lines if x["type"] == "verdict")
    return verdict


# -- other-findings: warnings no rule judges -------------------------------------------------


def test_unjudged_warning_warns_and_fails_under_strict() -> None:
    code, lines = jsonl(PROXY_420)
    assert code == 0
    assert found(lines) == [("other-findings", "warn", "warn", "unregistered-option-tag")]
    (line,) = (x for x in lines if x["type"] == "finding")
    assert (line["tag"], line["header"], line["severity"], line["frames"]) == (
        "foo",
        "Proxy-Require",
        "warning",
        [1],
    )
    assert verdict_line(lines)["rules"]["other-findings"] == "warned"

    code, lines = jsonl(PROXY_420, "--strict")
    assert code == 1
    assert found(lines) == [("other-findings", "fail", "warn", "unregistered-option-tag")]
    verdict = verdict_line(lines)
    assert (verdict["verdict"], verdict["failures"], verdict["warnings"]) == ("failed", 1, 0)
    assert verdict["rules"]["other-findings"] == "failed"


def test_unjudged_warning_in_terminal_junit_and_markdown(tmp_path: Path) -> None:
    junit, markdown = tmp_path / "r.xml", tmp_path / "r.md"
    result = run(PROXY_420, "--strict", "--junit", str(junit), "--markdown", str(markdown))
    assert result.exit_code == 1
    lines = result.stdout.splitlines()
    assert lines[0] == f"FAIL   {PROXY_420}  1 failure (16 messages)"
    assert lines[3] == "  ✗ other-findings  [1-15872@]  frame 1"
    assert " ".join(line.strip() for line in lines).count(FOO_TEXT) == 1
    assert lines[-1] == "1 capture: 0 passed, 1 failed (rules: default rules; strict)"

    cases = {c.get("name"): c for c in ET.parse(junit).getroot().iter("testcase")}
    failure = cases["other-findings"].find("failure")
    assert failure is not None and failure.get("type") == "other-findings"
    assert (failure.get("message") or "").startswith(FOO_TEXT)
    assert "Remedy: Remove 'foo' from Proxy-Require" in (failure.text or "")
    assert all(c.find("failure") is None for name, c in cases.items() if name != "other-findings")

    text = markdown.read_text()
    assert f"| ❌ | {PROXY_420} | 1 | 0 | 0 | 16 |" in text
    assert "- **other-findings**: INVITE CSeq 1 (frame 1) from 127.0.0.11:5060 lists" in text


def test_expectation_covers_its_exchange_under_strict(monkeypatch: pytest.MonkeyPatch) -> None:
    """The 420 the rules file expects answers the INVITE that carries 'foo': expected, so the
    bundled captures pass with --strict as they do without it."""
    monkeypatch.chdir(REPO)
    code, lines = jsonl("captures/", "--rules", "captures/sipwatch.toml", "--strict")
    assert code == 0
    per_capture = {
        Path(x["capture"]).name: (x["rule"], x["verdict"], x["kind"])
        for x in lines
        if x["type"] == "finding" and x["rule"] == "other-findings"
    }
    assert per_capture == {
        "bad-extension-proxy.pcap": ("other-findings", "expected", "unregistered-option-tag"),
        "bad-extension-uas.pcap": ("other-findings", "expected", "unregistered-option-tag"),
        # The Warning 305 of the expected 488, and the SRTP offer answered in plain RTP.
        "media-codec-488.pcap": ("other-findings", "expected", "warning-header"),
        "media-srtp-mismatch.pcap": ("other-findings", "expected", "srtp-mismatch"),
    }
    result = run("captures/", "--rules", "captures/sipwatch.toml", "--strict")
    assert result.exit_code == 0
    assert result.stdout.splitlines()[-1] == (
        "16 captures: 16 passed, 0 failed (rules: captures/sipwatch.toml; strict)"
    )


def test_other_findings_can_be_turned_off_or_made_to_fail(tmp_path: Path) -> None:
    off = tmp_path / "off.toml"
    off.write_text('[rules]\nother-findings = "off"\n')
    code, lines = jsonl(PROXY_420, "--strict", "--rules", str(off))
    assert code == 0 and found(lines) == []
    assert "other-findings" not in verdict_line(lines)["rules"]
    fail = tmp_path / "fail.toml"
    fail.write_text('[rules]\nother-findings = "fail"\n')
    code, lines = jsonl(PROXY_420, "--rules", str(fail))
    assert code == 1
    assert found(lines) == [("other-findings", "fail", "fail", "unregistered-option-tag")]


def test_unread_findings_of_a_public_capture_fail_only_under_strict() -> None:
    # ipv6frag.pcap: Require carries the misspelt, unregistered 'precondtion' (no rule reads
    # option tags); sip_sctp.pcap: a Reason header beside a 4xx the client-failure rule warns on.
    capture = str(public_capture("ipv6frag.pcap"))
    code, lines = jsonl(capture)
    assert code == 0
    assert found(lines) == [("other-findings", "warn", "warn", "unregistered-option-tag")]
    assert jsonl(capture, "--strict")[0] == 1
    capture = str(public_capture("sip_sctp.pcap"))
    code, lines = jsonl(capture)
    assert code == 0
    assert found(lines) == [
        ("client-failure", "warn", "warn", "request-failed"),
        ("other-findings", "warn", "warn", "reason"),
    ]
    assert jsonl(capture, "--strict")[0] == 1


def test_informational_warning_headers_are_not_problems() -> None:
    # dtmfsipinfo.pcap: 100 Trying responses carry Kamailio's 392 debug Warning: free text on a
    # provisional response rejects nothing (RFC 3261 §20.43), so even --strict passes it.
    capture = str(public_capture("dtmfsipinfo.pcap"))
    assert jsonl(capture, "--strict")[0] == 0


# -- no-final-response: timeouts fail, capture-end cuts warn -----------------------------------


@pytest.mark.parametrize(
    ("name", "cut"),
    [
        # An INVITE, the capture's only frame, 0 ms before the capture ends.
        ("sip_compact_form.pcap", [("INVITE", 1, "B", "§17.1.1.2", 0.0)]),
        # A CANCEL retransmitted for 27 s, then a REGISTER retry in the capture's last frame.
        (
            "voip-extension2downata.pcap",
            [
                ("CANCEL", 44925, "F", "§17.1.2.2", 27.032325),
                ("REGISTER", 200, "F", "§17.1.2.2", 0.0),
            ],
        ),
    ],
)
def test_request_cut_by_the_end_of_the_capture_warns(
    name: str, cut: list[tuple[str, int, str, str, float]]
) -> None:
    capture = str(public_capture(name))
    code, lines = jsonl(capture)
    assert code == 0
    cuts = [x for x in lines if x["type"] == "finding" and x["rule"] == "no-final-response"]
    assert [(x["method"], x["cseq"], x["timer"], x["elapsed"]) for x in cuts] == [
        (method, cseq, timer, elapsed) for method, cseq, timer, _, elapsed in cut
    ]
    assert all(x["timed_out"] is False and x["verdict"] == x["level"] == "warn" for x in cuts)
    verdict = verdict_line(lines)
    assert verdict["rules"]["no-final-response"] == "warned"
    assert verdict["failures"] == 0

    result = run(capture)
    assert result.exit_code == 0
    joined = " ".join(line.strip() for line in result.stdout.splitlines())
    for _, _, timer, section, _ in cut:
        assert CUT_REASON.format(timer=timer, section=section) in joined
    assert joined.count("! no-final-response") == len(cut)
    assert "✗" not in joined

    code, lines = jsonl(capture, "--strict")
    assert code == 1
    assert {x["verdict"] for x in lines if x["type"] == "finding"} == {"fail"}


def test_real_timeouts_still_fail(tmp_path: Path) -> None:
    # gre_sip.pcapng: an OPTIONS retransmitted for 32 s (Timer F) with no response at all.
    capture = str(public_capture("gre_sip.pcapng"))
    code, lines = jsonl(capture)
    assert code == 1
    timeouts = [x for x in lines if x["type"] == "finding"]
    assert [(x["method"], x["timer"], x["timed_out"], x["verdict"]) for x in timeouts] == [
        ("OPTIONS", "F", True, "fail"),
    ]
    assert "Not a timeout" not in run(capture).stdout
    # The level of the rule still rules timeouts: "warn" makes them warnings.
    warn = tmp_path / "warn.toml"
    warn.write_text('[rules]\nno-final-response = "warn"\n')
    assert run(capture, "--rules", str(warn)).exit_code == 0
    assert run(capture, "--rules", str(warn), "--strict").exit_code == 1


def test_clock_jumps_are_not_timeouts() -> None:
    # sip_ipv6_udp.pcap: six records from 2012 to 2092; every request is answered, years later.
    capture = str(public_capture("sip_ipv6_udp.pcap"))
    code, lines = jsonl(capture)
    assert code == 0
    # One warning, for the clock, and no timeout.
    assert [(x["rule"], x["verdict"], x["text"]) for x in lines if x["type"] == "finding"] == [
        (
            "damaged-capture",
            "warn",
            "Capture damaged: record 2: the capture clock jumps 6 years ahead (1328589362.251758 "
            "to 1529707907.251758); no timer is judged across the jump",
        )
    ]


def test_cut_request_in_junit_and_markdown(tmp_path: Path) -> None:
    capture = str(public_capture("sip_compact_form.pcap"))
    junit, markdown = tmp_path / "r.xml", tmp_path / "r.md"
    assert run(capture, "--junit", str(junit), "--markdown", str(markdown)).exit_code == 0
    (case,) = (
        c
        for c in ET.parse(junit).getroot().iter("testcase")
        if c.get("name") == "no-final-response"
    )
    assert case.find("failure") is None
    out = case.findtext("system-out") or ""
    assert out.startswith("warning: INVITE CSeq 1 to sip:97239287044@voip.brujula.net (frame 1)")
    assert CUT_REASON.format(timer="B", section="§17.1.1.2") in out
    text = markdown.read_text()
    assert f"| ✅ | {capture} | 0 | 1 | 0 | 1 |" in text
    assert "Not a timeout: the capture ended before Timer B (32 s, RFC 3261 §17.1.1.2)" in text
