"""``sipwatch pcap FILE --frame N``: one message in full, checked against ``tshark -V``."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

from sipwatch.cli import app
from tests.conftest import CAPTURES, public_capture
from tests.hostile_capture import PWN, write_hostile_capture

PLAIN: dict[str, str | None] = {"FORCE_COLOR": None, "TTY_COMPATIBLE": None, "NO_COLOR": None}


def frame_view(path: Path, frame: int, code: int = 0) -> str:
    result = CliRunner().invoke(
        app, ["pcap", str(path), "--frame", str(frame), "--no-color"], env=PLAIN
    )
    assert result.exit_code == code, result.output
    return result.output


def test_a_request_in_full() -> None:
    assert frame_view(CAPTURES / "bad-extension-proxy.pcap", 1) == (
        "Frame 1  23:36:57.378  udp 127.0.0.11:5060 → 127.0.0.12:5060\n"
        "Session Initiation Protocol (INVITE)\n"
        "    Request-Line: INVITE sip:bob@127.0.0.13:5060 SIP/2.0\n"
        "    Message Header\n"
        "        Via: SIP/2.0/UDP 127.0.0.11:5060;branch=z9hG4bK-15872-1-0\n"
        '        From: "Alice" <sip:alice@127.0.0.11:5060>;tag=15872SIPpTag001\n'
        "        To: <sip:bob@127.0.0.13:5060>\n"
        "        Call-ID: 1-15872@127.0.0.11\n"
        "        CSeq: 1 INVITE\n"
        "        Contact: <sip:alice@127.0.0.11:5060>\n"
        "        Max-Forwards: 70\n"
        "        Proxy-Require: foo\n"
        "        Allow: INVITE, ACK, CANCEL, BYE, REFER, NOTIFY, OPTIONS\n"
        "        Content-Type: application/sdp\n"
        "        Content-Length:   115\n"
        "    Message Body (application/sdp, 115 bytes)\n"
        "        v=0\n"
        "        o=alice 1 1 IN IP4 127.0.0.11\n"
        "        s=-\n"
        "        c=IN IP4 127.0.0.11\n"
        "        t=0 0\n"
        "        m=audio 6000 RTP/AVP 0\n"
        "        a=rtpmap:0 PCMU/8000\n"
    )


_TRUNCATED = "         [truncated]"


def _same(ours: list[str], theirs: list[str]) -> bool:
    if len(ours) != len(theirs):
        return False
    for mine, line in zip(ours, theirs, strict=True):
        if line.startswith(_TRUNCATED):
            if not mine.startswith(line[len(_TRUNCATED) :]):
                return False
        elif mine != line:
            return False
    return True


def _tshark_sip(path: Path) -> dict[int, list[str]]:
    """Frame -> the start line and header lines ``tshark -V`` shows for its SIP part."""
    out = subprocess.run(
        ["tshark", "-r", str(path), "-V", "-O", "sip", "-Y", "sip"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    frames: dict[int, list[str]] = {}
    current: list[str] = []
    in_header = False
    for line in out.splitlines():
        if line.startswith("Frame "):
            current = frames.setdefault(int(line.split()[1].rstrip(":")), [])
            in_header = False
        elif line.startswith(("    Request-Line: ", "    Status-Line: ")):
            current.append(line)
        elif line == "    Message Header":
            in_header = True
        elif line.startswith("    ") and not line.startswith("     "):
            in_header = False
        elif in_header and line.startswith("        ") and line[8] not in " [":
            current.append(line)
        elif in_header and line.startswith(_TRUNCATED):
            # tshark cuts lines longer than its display limit: the start must match.
            current.append(_TRUNCATED + "        " + line[len(_TRUNCATED) :])
    return frames


@pytest.mark.tshark
@pytest.mark.parametrize(
    "name", ["bad-extension-proxy.pcap", "transfer-succeeded.pcap", "blind_transfer.pcap"]
)
def test_start_line_and_headers_equal_tshark(name: str) -> None:
    if shutil.which("tshark") is None:
        pytest.skip("tshark is not installed")
    path = CAPTURES / name if (CAPTURES / name).exists() else public_capture(name)
    expected = _tshark_sip(path)
    assert expected
    for frame, lines in expected.items():
        ours = frame_view(path, frame).splitlines()
        start = next(i for i, line in enumerate(ours) if line.endswith("Message Header"))
        end = next((i for i, line in enumerate(ours) if line.startswith("    Message Body")), None)
        assert _same([ours[start - 1], *ours[start + 1 : end]], lines), (frame, ours, lines)


def test_frame_without_sip_is_an_operator_error() -> None:
    out = frame_view(CAPTURES / "bad-extension-proxy.pcap", 500, code=2)
    assert "frame 500 holds no SIP message" in out


def test_hostile_message_is_shown_inert(tmp_path: Path) -> None:
    out = frame_view(write_hostile_capture(tmp_path), 1)
    assert "\x1b" not in out and "\x07" not in out
    assert f"User-Agent: X</svg>{PWN.format(2)}\\x07" in out
    assert f"        s={PWN.format(3)}\n" in out
    assert "From: " in out and "e\\x1b[31mvil</svg>" in out


def test_frame_as_a_json_line_is_the_golden_message_line() -> None:
    result = CliRunner().invoke(
        app,
        ["pcap", str(CAPTURES / "bad-extension-proxy.pcap"), "--frame", "2", "-f", "jsonl"],
        env=PLAIN,
    )
    assert result.exit_code == 0, result.output
    golden = (CAPTURES / "bad-extension-proxy.golden.jsonl").read_text().splitlines()
    line = result.output.rstrip("\n")
    # The very line the timeline's JSON lines hold for that frame, annotation included.
    assert line == next(g for g in golden if '"frame":2,' in g)


def test_a_retransmission_is_said() -> None:
    out = frame_view(CAPTURES / "invite-unanswered.pcap", 2)
    assert out.startswith(
        "Frame 2  23:37:03.057  udp 127.0.0.11:5060 → 127.0.0.13:5060  (retransmission)\n"
    )
