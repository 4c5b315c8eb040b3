"""Attacker-controlled text never reaches a terminal, a log or a CI report as anything but text.

SIP scanners hit every public SBC, and every byte of a SIP message is theirs to choose. What they
put in headers here: ANSI CSI sequences (``ESC [ 2 J`` clears the screen), OSC sequences (window
title, OSC 8 hyperlinks), other C0 controls, C1 controls (as UTF-8 and as raw bytes), rich markup
(``[bold red]``, ``[link=...]``), invalid UTF-8, bidirectional overrides and isolates (Trojan
Source), zero-width characters, and a 1 MB header line.

Checked, each with exact output:

* the terminal renderer, rendering into ``Console(file=StringIO(), width=100,
  color_system=None)``: every control and format character is shown as an escape, markup is
  printed as the characters it is, long values are cut with an ellipsis;
* ``sipwatch pcap`` on a capture of such messages, through the CLI: the same, end to end;
* ``--format jsonl``: parsing the lines back gives the wire text exactly (as decoded, invalid
  UTF-8 as U+FFFD), while the output itself is pure ASCII with no raw ESC or C1 character;
* ``sipwatch check --junit/--markdown``: the XML parses, holds no raw control character, and
  the Markdown shows markup and HTML as text.
"""

from __future__ import annotations

import functools
import io
import json
import re
import struct
import sys
import unicodedata
import xml.etree.ElementTree as ET
from functools import cache
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rich.console import Console
from typer.testing import CliRunner

from sipwatch.cli import app
from sipwatch.records import FindingRecord, MalformedRecord, MessageRecord, Summary
from sipwatch.render.safe import inert, inert_bytes
from sipwatch.render.terminal import TerminalRenderer
from sipwatch.sip.message import Malformed, SipMessage
from sipwatch.sip.parser import parse_message
from tests import build_frames as bf
from tests.fuzzing import ip_frame, udp_frame


def _unsafe() -> re.Pattern[str]:
    """Every Cc (but newline), Cf, Zl and Zp character, from the Unicode database."""
    chars = [
        chr(c)
        for c in range(sys.maxunicode + 1)
        if c != 10 and unicodedata.category(chr(c)) in ("Cc", "Cf", "Zl", "Zp")
    ]
    return re.compile("[" + "".join(re.escape(c) for c in chars) + "]")


UNSAFE = _unsafe()
A, B = ("192.0.2.1", 5060), ("192.0.2.2", 5060)


def sip(start: bytes, *headers: bytes, body: bytes = b"") -> bytes:
    lines = b"".join(h + b"\r\n" for h in headers)
    return start + b"\r\n" + lines + b"Content-Length: %d\r\n\r\n" % len(body) + body


def parsed(data: bytes) -> SipMessage:
    msg = parse_message(data)
    assert isinstance(msg, SipMessage), msg
    return msg


# -- inert() ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("\x1b[2J\x1b[31mred\x1b[0m", "\\x1b[2J\\x1b[31mred\\x1b[0m"),  # CSI
        ("\x1b]0;owned\x07", "\\x1b]0;owned\\x07"),  # OSC window title
        (
            "\x1b]8;;http://e/\x1b\\link\x1b]8;;\x1b\\",
            "\\x1b]8;;http://e/\\x1b\\link\\x1b]8;;\\x1b\\",
        ),
        ("a\x00b\x08c\td\re\nf\x7f", "a\\x00b\\x08c\\x09d\\x0de\\x0af\\x7f"),  # C0 and DEL
        ("\x9b31m \x85 \x90", "\\x9b31m \\x85 \\x90"),  # C1: CSI, NEL, DCS
        ("\u202eevil\u202c", "\\u202eevil\\u202c"),  # right-to-left override
        ("\u2066\u2067\u2068x\u2069", "\\u2066\\u2067\\u2068x\\u2069"),  # isolates
        ("\u200e\u200f\u061c", "\\u200e\\u200f\\u061c"),  # marks, the Arabic one included
        ("a\u200bb\u200dc\u2060d\ufeff", "a\\u200bb\\u200dc\\u2060d\\ufeff"),  # zero width, BOM
        ("x\U000e0041\U000e007f", "x\\U000e0041\\U000e007f"),  # tag characters (hidden text)
        ("line\u2028para\u2029", "line\\u2028para\\u2029"),
        ("soft\xadhyphen", "soft\\xadhyphen"),
        ("[bold red]x[/] [link=http://e]y[/link]", "[bold red]x[/] [link=http://e]y[/link]"),
        ("café 東京 😀 \\x1b", "café 東京 😀 \\x1b"),  # ordinary text is left alone
    ],
)
def test_inert_shows_every_control_and_format_character(text: str, shown: str) -> None:
    assert inert(text) == shown


def test_inert_cuts_before_escaping_and_marks_the_cut() -> None:
    assert inert("\x1b" * 10, 3) == "\\x1b\\x1b\\x1b…"
    assert inert("A" * 1_000_000, 60) == "A" * 60 + "…"
    assert inert_bytes(b"\xff\xc3\x28\x1b[1m" + b"x" * 500, 8) == "\ufffd\ufffd(\\x1b[1mx…"


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=200), st.one_of(st.none(), st.integers(0, 300)))
def test_inert_output_never_holds_an_unsafe_character(text: str, limit: int | None) -> None:
    out = inert(text, limit)
    assert UNSAFE.search(out) is None
    if UNSAFE.search(text) is None and "\n" not in text and (limit is None or len(text) <= limit):
        assert out == text


# -- the terminal renderer, exact output -----------------------------------------------------------

REASON = b"[bold red]x[/] \xe2\x80\xaeevil\xe2\x80\xac \xc2\x9b31m \x9b31m \xff"
CALL_ID = b"\x1b]0;t\x07call-1"
FROM = b'From: "\x1b[2J" <sip:a@h>;tag=1'
VIA = b"Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK-1"


def render(*records: MessageRecord | MalformedRecord | FindingRecord, summary: Summary) -> str:
    out = io.StringIO()
    renderer = TerminalRenderer(Console(file=out, width=100, color_system=None))
    for record in records:
        renderer.record(record)
    renderer.summary(summary)
    return out.getvalue()


def test_renderer_exact_output_for_hostile_records() -> None:
    response = parsed(
        sip(
            b"SIP/2.0 503 " + REASON,
            VIA,
            FROM,
            b"To: <sip:b@h>;tag=2",
            b"Call-ID: " + CALL_ID,
            b"CSeq: 1 [link=http://evil.example]INVITE[/link]",
        )
    )
    request = parsed(
        sip(
            b"OPTIONS sip:x@h SIP/2.0",
            VIA,
            b"Max-Forwards: 70",
            FROM,
            b"To: <sip:b@h>",
            b"Call-ID: c\xe2\x80\x8bd",
            b"CSeq: 7 OPTIONS",
        )
    )
    # The parser makes a start line with a control character malformed; the renderer must be
    # safe on its own all the same (defence in depth), so the URI is set behind its back.
    request.uri = "sip:\x1b]8;;http://evil.example/\x07x@h"
    long_uri = parsed(
        sip(
            b"OPTIONS sip:" + b"\xe2\x80\xae" * 30 + b"u" * 60_000 + b"@h SIP/2.0",
            VIA,
            b"Max-Forwards: 70",
            FROM,
            b"To: <sip:b@h>",
            b"Call-ID: long",
            b"CSeq: 8 OPTIONS",
        )
    )
    huge = parse_message(
        b"INVITE sip:x@h SIP/2.0\r\nX-Big: \x1b[31m" + b"A" * 1_000_000 + b"\r\n\r\n"
    )
    assert isinstance(huge, Malformed)
    summary = Summary(source="evil\x1b[31m.pcap", messages=3, shown=3)
    summary.requests_by_method.update({"OPTIONS": 2})
    summary.responses_by_status.update({503: 1})
    summary.malformed.update({"oversized": 1})
    summary.problems.append("record 9: \x1b]0;t\x07 \u202e")
    text = render(
        MessageRecord(
            1.5,
            1,
            "192.0.2.2:5060",
            "192.0.2.1:5060",
            "udp",
            response,
            notes=["Refer-To <sip:c@h>\x1b]8;;http://evil.example/\x1b\\ [link=x]y[/link] \u2066z"],
        ),
        MessageRecord(2.0, 2, "192.0.2.1:5060", "192.0.2.2:5060", "udp", request),
        MessageRecord(2.5, 3, "192.0.2.1:5060", "192.0.2.2:5060", "udp", long_uri),
        MalformedRecord(3.0, 4, "192.0.2.1:5060", "192.0.2.2:5060", "tcp", huge.reason, huge.raw),
        FindingRecord(
            {
                "kind": "transfer",
                "severity": "error",
                "outcome": "failed\x1b[0m",
                "text": "Transfer to <sip:\x1b[31mx@h> [bold]failed[/]",
                "remedy": "Check \x9b the \u2066target\u2069.",
            }
        ),
        summary=summary,
    )
    assert text == EXPECTED_RENDER
    assert UNSAFE.search(text) is None


EXPECTED_RENDER = (
    "     1 1970-01-01 00:00:01.500 192.0.2.2:5060 → 192.0.2.1:5060 UDP  503 [bold red]x[/] "
    "\\u202eevil\\u202c"
    " \\x9b31m \ufffd31m \ufffd  [\\x1b]0;t\\x07ca] 1 [link=http://evil.example]INVITE…\n"
    "         ↳ Refer-To <sip:c@h>\\x1b]8;;http://evil.example/\\x1b\\ [link=x]y[/link] \\u2066z\n"
    "     2 00:00:02.000 192.0.2.1:5060 → 192.0.2.2:5060 UDP  OPTIONS"
    " sip:\\x1b]8;;http://evil.example/\\x07x@h  [c\\u200bd] 7 OPTIONS\n"
    "     3 00:00:02.500 192.0.2.1:5060 → 192.0.2.2:5060 UDP  OPTIONS sip:"
    + "\\u202e" * 30
    + "u" * 26
    + "…  [long] 8 OPTIONS\n"
    "     4 00:00:03.000 192.0.2.1:5060 → 192.0.2.2:5060 TCP  MALFORMED oversized: a header line"
    " of 1000012 bytes (limit 65536)\n"
    "         ↳ INVITE sip:x@h SIP/2.0\\x0d\\x0aX-Big:\n"
    "         \\x1b[31mAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA…\n"
    "       ◆ ERROR transfer (failed\\x1b[0m): Transfer to <sip:\\x1b[31mx@h> [bold]failed[/]\n"
    "           fix: Check \\x9b the \\u2066target\\u2069.\n"
    "\n"
    "Summary of evil\\x1b[31m.pcap\n"
    "frames            0\n"
    "SIP messages      3\n"
    "calls (Call-IDs)  0\n"
    "requests          OPTIONS 2\n"
    "responses         503 1\n"
    "malformed         oversized 1\n"
    "problem           record 9: \\x1b]0;t\\x07 \\u202e\n"
)


# -- end to end: a capture of hostile messages through the CLI -------------------------------------

RCALL = b"Call-ID: refer\xe2\x80\x8bcall"
REFER_TO = (
    b"Refer-To: <sip:carol@h>\x1b]8;;http://evil.example/\x1b\\"
    b"[link=http://evil.example]click[/link]\x1b]8;;\x1b\\"
)
SIPFRAG = b"SIP/2.0 603 \x1b[5mDecline\r\n"


@cache
def hostile_messages() -> tuple[tuple[tuple[str, int], tuple[str, int], bytes], ...]:
    call = b"Call-ID: " + CALL_ID
    to2 = b"To: <sip:b@h>;tag=2"
    via2 = b"Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK-2"
    via3 = b"Via: SIP/2.0/UDP 192.0.2.2:5060;branch=z9hG4bK-3"
    ends = (b"From: <sip:a@h>;tag=r1", b"To: <sip:b@h>;tag=r2")
    back = (b"From: <sip:b@h>;tag=r2", b"To: <sip:a@h>;tag=r1")
    return (
        (A, B, sip(b"INVITE sip:bob@h SIP/2.0", VIA, b"Max-Forwards: 70", FROM, b"To: <sip:b@h>",
                   call, b"CSeq: 1 INVITE")),
        (B, A, sip(b"SIP/2.0 503 " + REASON, VIA, FROM, to2, call, b"CSeq: 1 INVITE",
                   b'Warning: 399 h "\x1b[31mred\x1b[0m"',
                   b'Reason: Q.850;cause=34;text="\x1b]8;;http://evil.example/\x07link"')),
        (A, B, sip(b"ACK sip:bob@h SIP/2.0", VIA, b"Max-Forwards: 70", FROM, to2, call,
                   b"CSeq: 1 ACK")),
        (A, B, sip(b"REFER sip:bob@h SIP/2.0", via2, b"Max-Forwards: 70", *ends, RCALL,
                   b"CSeq: 2 REFER", REFER_TO)),
        (B, A, sip(b"SIP/2.0 202 Accepted", via2, *ends, RCALL, b"CSeq: 2 REFER")),
        (B, A, sip(b"NOTIFY sip:a@h SIP/2.0", via3, b"Max-Forwards: 70", *back, RCALL,
                   b"CSeq: 1 NOTIFY", b"Event: refer",
                   b"Subscription-State: terminated;reason=noresource",
                   b"Content-Type: message/sipfrag", body=SIPFRAG)),
        (A, B, sip(b"SIP/2.0 200 OK", via3, *back, RCALL, b"CSeq: 1 NOTIFY")),
        (A, B, sip(b"OPTIONS sip:\xe2\x81\xa6[link=http://evil.example]x[/link]\xe2\x81\xa9@h"
                   b" SIP/2.0",
                   b"Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK-4", b"Max-Forwards: 70",
                   b"From: <sip:a@h>;tag=o1", b"To: <sip:b@h>", b"Call-ID: \xc2\x9bopt",
                   b"CSeq: 5 OPTIONS")),
    )  # fmt: skip


@pytest.fixture
def hostile_capture(tmp_path: Path) -> Path:
    records = [
        (1_700_000_000.0 + n * 0.1, udp_frame(src, dst, data))
        for n, (src, dst, data) in enumerate(hostile_messages())
    ]
    path = tmp_path / "hostile.pcap"
    path.write_bytes(bf.pcap_bytes(records, 1))
    return path


EXPECTED_MESSAGE_LINES = [
    "     1 2023-11-14 22:13:20.000 192.0.2.1:5060 → 192.0.2.2:5060 UDP  INVITE sip:bob@h  "
    "[\\x1b]0;t\\x07ca]"
    " 1 INVITE",
    "     2 22:13:20.100 192.0.2.2:5060 → 192.0.2.1:5060 UDP  503 [bold red]x[/] \\u202eevil\\u202c"
    " \\x9b31m \ufffd31m \ufffd  [\\x1b]0;t\\x07ca] 1 INVITE",
    "     3 22:13:20.200 192.0.2.1:5060 → 192.0.2.2:5060 UDP  ACK sip:bob@h  [\\x1b]0;t\\x07ca]"
    " 1 ACK",
    "     4 22:13:20.300 192.0.2.1:5060 → 192.0.2.2:5060 UDP  REFER sip:bob@h  [refer\\u200bca]"
    " 2 REFER",
    "     5 22:13:20.400 192.0.2.2:5060 → 192.0.2.1:5060 UDP  202 Accepted  [refer\\u200bca]"
    " 2 REFER",
    "     6 22:13:20.500 192.0.2.2:5060 → 192.0.2.1:5060 UDP  NOTIFY sip:a@h  [refer\\u200bca]"
    " 1 NOTIFY",
    "     7 22:13:20.600 192.0.2.1:5060 → 192.0.2.2:5060 UDP  200 OK  [refer\\u200bca] 1 NOTIFY",
    "     8 22:13:20.700 192.0.2.1:5060 → 192.0.2.2:5060 UDP  OPTIONS"
    " sip:\\u2066[link=http://evil.example]x[/link]\\u2069@h  [\\x9bopt] 5 OPTIONS",
]


def test_cli_text_output(hostile_capture: Path) -> None:
    result = CliRunner().invoke(app, ["pcap", str(hostile_capture), "--no-color"])
    assert result.exit_code == 0, result.stderr
    out = result.stdout
    assert UNSAFE.search(out) is None
    lines = out.splitlines()
    assert [line for line in lines if re.match(r" {5}\d ", line)] == EXPECTED_MESSAGE_LINES
    # Notes and findings that quote the wire quote it escaped.
    joined = " ".join(line.strip() for line in lines)
    assert (
        "↳ transfer progress: 603 \\x1b[5mDecline (REFER CSeq 2, frame 4, subscription"
        " terminated)" in joined
    )
    assert 'carries Warning: 399 h "\\x1b[31mred\\x1b[0m"' in joined
    assert 'text="\\x1b]8;;http://evil.example/\\x07link"' in joined
    refer_to = "<sip:carol@h>\\x1b]8;;http://evil.example/\\x1b\\[link=http://evil.example]click"
    assert refer_to in "".join(line.strip() for line in lines)  # wrapped inside the value


def test_cli_colour_output_carries_only_sipwatch_styles(hostile_capture: Path) -> None:
    """With colour forced on, the only escape sequences are SGR styles sipwatch chose itself:
    no OSC, no cursor movement, no screen clearing, and nothing from the wire."""
    result = CliRunner().invoke(app, ["pcap", str(hostile_capture), "--color"])
    assert result.exit_code == 0
    sequences = set(re.findall(r"\x1b[^m]*m?", result.stdout))
    assert sequences
    assert all(re.fullmatch(r"\x1b\[[0-9;]*m", seq) for seq in sequences), sequences
    plain = re.sub(r"\x1b\[[0-9;]*m", "", result.stdout)
    assert UNSAFE.search(plain) is None


def test_cli_jsonl_round_trips_the_wire_text(hostile_capture: Path) -> None:
    result = CliRunner().invoke(app, ["pcap", str(hostile_capture), "--format", "jsonl"])
    assert result.exit_code == 0
    out = result.stdout
    assert out.isascii()
    assert "\x1b" not in out and UNSAFE.search(out.replace("\n", "")) is None
    objects = [json.loads(line) for line in out.splitlines()]
    messages = [o for o in objects if o["type"] == "message"]
    assert len(messages) == 8
    assert messages[0]["call_id"] == "\x1b]0;t\x07call-1"
    assert messages[1]["reason"] == "[bold red]x[/] \u202eevil\u202c \x9b31m \ufffd31m \ufffd"
    assert messages[3]["call_id"] == "refer\u200bcall"
    assert messages[7]["call_id"] == "\x9bopt"
    findings = {o["kind"]: o for o in objects if o["type"] == "finding"}
    transfer = findings["transfer"]
    assert transfer["outcome"] == "failed"
    assert transfer["refer_to"] == REFER_TO.split(b": ", 1)[1].decode()
    assert transfer["notifies"][0]["sipfrag_status"] == 603
    assert "603 \x1b[5mDecline" in transfer["text"]
    assert 'Warning: 399 h "\x1b[31mred\x1b[0m"' in findings["warning-header"]["text"]


def test_check_reports_keep_wire_text_inert(hostile_capture: Path, tmp_path: Path) -> None:
    junit, markdown = tmp_path / "report.xml", tmp_path / "report.md"
    result = CliRunner().invoke(
        app,
        ["check", str(hostile_capture), "--junit", str(junit), "--markdown", str(markdown)],
    )
    assert result.exit_code == 1  # the 503 and the failed transfer break the default rules
    assert UNSAFE.search(result.stdout) is None

    raw = junit.read_bytes()
    assert b"\x1b" not in raw and b"\x07" not in raw
    assert UNSAFE.search(raw.decode("utf-8").replace("\n", "")) is None
    root = ET.fromstring(raw)
    failures = {f.get("type"): f for f in root.iter("failure")}
    assert "603 \\x1b[5mDecline" in (failures["failed-transfer"].text or "")
    assert "[bold red]x[/] \\u202eevil\\u202c \\x9b31m" in (
        failures["server-or-global-failure"].get("message") or ""
    )

    report = markdown.read_text(encoding="utf-8")
    assert UNSAFE.search(report.replace("\n", "")) is None
    assert "\\[bold red\\]x\\[/\\] \\\\u202eevil\\\\u202c \\\\x9b31m" in report
    assert "603 \\\\x1b\\[5mDecline" in report
    # Markup and HTML come out escaped, never live: the only tags left are the report's own
    # collapsible warnings block.
    body = report.split("\n### ", 1)[1]
    own = ("<details>", "<summary>", "</summary>", "</details>")
    assert (
        re.search(r"(?<!\\)[\[<]", functools.reduce(lambda t, tag: t.replace(tag, ""), own, body))
        is None
    )


def test_a_1_mb_header_line_over_tcp_prints_a_bounded_report(tmp_path: Path) -> None:
    """The stream framer refuses the header block at 64 KiB: nothing of the megabyte is printed,
    the refusal is counted, and the message after it on the same connection is shown."""
    huge = b"INVITE sip:x@h SIP/2.0\r\nX-Big: \x1b]0;t\x07" + b"A" * 1_000_000 + b"\r\n\r\n"
    after = sip(b"OPTIONS sip:y@h SIP/2.0", VIA, b"Max-Forwards: 70", FROM, b"To: <sip:b@h>",
                b"Call-ID: after", b"CSeq: 1 OPTIONS")  # fmt: skip
    stream = huge + after
    records = []
    for n, start in enumerate(range(0, len(stream), 1400)):
        tcp = struct.pack("!HHIIBBHHH", 40000, 5060, 1000 + start, 0, 0x50, 0x18, 65535, 0, 0)
        records.append(
            (
                1_700_000_000.0 + n * 1e-4,
                ip_frame(A[0], B[0], 6, tcp + stream[start : start + 1400]),
            )
        )
    path = tmp_path / "huge.pcap"
    path.write_bytes(bf.pcap_bytes(records, 1))
    result = CliRunner().invoke(app, ["pcap", str(path), "--no-color"])
    assert result.exit_code == 0
    assert UNSAFE.search(result.stdout) is None
    assert len(result.stdout) < 4000
    shown = [
        line
        for line in result.stdout.splitlines()
        if re.match(r" +\d+ (\d{4}-\d\d-\d\d )?\d\d:", line)
    ]
    assert len(shown) == 1 and "OPTIONS sip:y@h" in shown[0]
    assert "tcp-oversize-headers 1" in result.stdout


# -- a start line with a control character: malformed, shown escaped, counted --------------------


def _control_capture(tmp_path: Path) -> Path:
    via = b"Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK-c1"
    dialog = (b"From: <sip:a@h>;tag=1", b"Call-ID: c1", b"CSeq: 1 INVITE")
    messages = [
        (A, B, sip(b"INVITE sip:bob@h SIP/2.0", via, b"Max-Forwards: 70", b"To: <sip:bob@h>",
                   *dialog, b"Require: foo")),
        (B, A, sip(b"SIP/2.0 420 Bad \x1b[31mExtension", via, b"To: <sip:bob@h>;tag=2", *dialog,
                   b"Unsupported: foo")),
        (A, B, sip(b"OPTIONS sip:x\x00y@h SIP/2.0", via, b"To: <sip:x@h>", *dialog)),
    ]  # fmt: skip
    records = [
        (1_700_000_000.0 + n * 0.1, udp_frame(src, dst, data))
        for n, (src, dst, data) in enumerate(messages)
    ]
    path = tmp_path / "control.pcap"
    path.write_bytes(bf.pcap_bytes(records, 1))
    return path


def test_control_character_in_start_line_is_malformed_in_the_terminal(tmp_path: Path) -> None:
    """Not dropped as ``non-sip-udp`` (the 420 would vanish): a MALFORMED line, escaped."""
    result = CliRunner().invoke(app, ["pcap", str(_control_capture(tmp_path)), "--no-color"])
    assert result.exit_code == 0, result.stderr
    assert UNSAFE.search(result.stdout) is None
    lines = result.stdout.splitlines()
    assert lines[2:4] == [
        "     2 22:13:20.100 192.0.2.2:5060 → 192.0.2.1:5060 UDP  MALFORMED control character in"
        " the start line",
        "         ↳ SIP/2.0 420 Bad \\x1b[31mExtension\\x0d\\x0aVia: SIP/2.0/UDP",
    ]
    assert "         ↳ OPTIONS sip:x\\x00y@h SIP/2.0\\x0d\\x0aVia: SIP/2.0/UDP" in lines
    assert "malformed         control character in the start line 2" in lines
    assert "skipped" not in result.stdout


def test_control_character_in_start_line_is_malformed_in_json_lines(tmp_path: Path) -> None:
    path = _control_capture(tmp_path)
    result = CliRunner().invoke(app, ["pcap", str(path), "--format", "jsonl"])
    assert result.exit_code == 0, result.stderr
    assert result.stdout.isascii() and "\x1b" not in result.stdout
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    malformed = [line for line in lines if line["type"] == "malformed"]
    assert [(m["frame"], m["reason"]) for m in malformed] == [
        (2, "control character in the start line"),
        (3, "control character in the start line"),
    ]
    assert malformed[0]["excerpt"].startswith("SIP/2.0 420 Bad \\x1b[31mExtension\\x0d\\x0a")
    assert malformed[1]["excerpt"].startswith("OPTIONS sip:x\\x00y@h SIP/2.0\\x0d\\x0a")
    summary = lines[-1]
    assert (summary["messages"], summary["malformed"], summary["skipped"]) == (
        1,
        {"control character in the start line": 2},
        {},
    )
