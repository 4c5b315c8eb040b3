"""One scripted call per media finding kind, fed to the sans-I/O media tracker.

The examples in docs/findings.md were taken from these; tests/test_media_findings.py checks that
the documented keys are still exactly the ones each kind produces.
"""

from __future__ import annotations

import struct
from typing import Any

from sipwatch.media.model import MediaFinding
from sipwatch.media.thresholds import MediaThresholds
from sipwatch.media.tracker import MediaTracker
from sipwatch.media_records import finding_record
from sipwatch.render.jsonl import finding_json
from tests.helpers import make_request, make_response

CALLER_IP, CALLEE_IP = "81.2.69.142", "85.10.1.20"


def sdp(address: str, port: int, formats: str = "0 8 101", proto: str = "RTP/AVP") -> str:
    return (
        f"v=0\r\no=- 1 1 IN IP4 {address}\r\ns=-\r\nc=IN IP4 {address}\r\nt=0 0\r\n"
        f"m=audio {port} {proto} {formats}\r\na=rtpmap:101 telephone-event/8000\r\n"
    )


def rtp(seq: int, ssrc: int, pt: int = 0) -> bytes:
    return bytes([0x80, pt]) + struct.pack("!HII", seq, seq * 160, ssrc) + b"\xd5" * 160


def send(
    tracker: MediaTracker,
    src: tuple[str, int],
    dst: tuple[str, int],
    ssrc: int,
    start: float,
    count: int,
    first_frame: int,
    skip_every: int = 0,
) -> None:
    """``count`` packets of 20 ms, every ``skip_every``-th one lost on the way."""
    for i in range(count):
        if skip_every and i % skip_every == 0:
            continue
        data = rtp(i, ssrc)
        tracker.packet(
            start + i * 0.02, first_frame + i, src[0], src[1], dst[0], dst[1], data, 0, len(data)
        )


def call(tracker: MediaTracker, offer: str, answer: str) -> list[MediaFinding]:
    """INVITE with ``offer`` (frame 1), 200 with ``answer`` (frame 2), ACK (frame 3)."""
    invite = make_request("INVITE", body=offer)
    found = tracker.sip(1700000000.0, 1, CALLER_IP, invite)
    ok = make_response(200, request=invite, body=answer)
    found += tracker.sip(1700000000.5, 2, CALLEE_IP, ok)
    found += tracker.sip(1700000000.6, 3, CALLER_IP, make_request("ACK"))
    return found


def bye(tracker: MediaTracker, ts: float, frame: int) -> None:
    tracker.sip(ts, frame, CALLER_IP, make_request("BYE", cseq="2 BYE"))


T0 = 1700000000.7


def scenarios() -> dict[str, list[MediaFinding]]:
    """kind -> the findings of the scenario made to show it."""
    out: dict[str, list[MediaFinding]] = {}

    tracker = MediaTracker()
    call(tracker, sdp(CALLER_IP, 4000), sdp(CALLEE_IP, 5000))
    send(tracker, (CALLER_IP, 4000), (CALLEE_IP, 5000), 0x11, T0, 200, 10)
    bye(tracker, T0 + 5, 500)
    out["one-way-audio"] = [f for f in tracker.finish(T0 + 5) if isinstance(f, MediaFinding)]

    tracker = MediaTracker()
    call(tracker, sdp(CALLER_IP, 4000), sdp(CALLEE_IP, 5000))
    send(tracker, ("192.0.2.99", 7000), ("192.0.2.98", 7002), 0x33, T0, 20, 10)
    bye(tracker, T0 + 9, 900)
    out["no-audio"] = [f for f in tracker.finish(T0 + 9) if isinstance(f, MediaFinding)]

    tracker = MediaTracker()
    invite = make_request(
        "INVITE",
        body=sdp("192.168.1.20", 4000),
        via=f"SIP/2.0/UDP 192.168.1.20:5060;branch=z9hG4bK1;received={CALLER_IP};rport=40123",
        contact="<sip:alice@192.168.1.20:5060>",
    )
    out["private-address"] = tracker.sip(1700000000.0, 1, CALLER_IP, invite)
    ok = make_response(200, request=invite, body=sdp(CALLEE_IP, 5000))
    tracker.sip(1700000000.5, 2, CALLEE_IP, ok)
    send(tracker, (CALLER_IP, 40000), (CALLEE_IP, 5000), 0x11, T0, 100, 10)
    send(tracker, (CALLEE_IP, 5000), ("192.168.1.20", 4000), 0x22, T0, 100, 11)
    out["media-address-mismatch"] = [
        f for f in tracker.finish(T0 + 3) if isinstance(f, MediaFinding)
    ]

    tracker = MediaTracker()
    invite = make_request("INVITE", body=sdp(CALLER_IP, 4000, "18 101"))
    tracker.sip(1700000000.0, 1, CALLER_IP, invite)
    reject = make_response(
        488,
        request=invite,
        warning='305 pbx.example.com "Incompatible media format"',
    )
    out["codec-mismatch"] = tracker.sip(1700000000.1, 2, CALLEE_IP, reject)

    tracker = MediaTracker()
    out["srtp-mismatch"] = call(
        tracker, sdp(CALLER_IP, 4000, proto="RTP/SAVP"), sdp(CALLEE_IP, 5000, proto="RTP/AVP")
    )

    tracker = MediaTracker(MediaThresholds(rtp_timeout=5.0, loss_max=0.01))
    call(tracker, sdp(CALLER_IP, 4000), sdp(CALLEE_IP, 5000))
    send(tracker, (CALLER_IP, 4000), (CALLEE_IP, 5000), 0x11, T0, 300, 10, skip_every=10)
    send(tracker, (CALLEE_IP, 5000), (CALLER_IP, 4000), 0x22, T0, 1000, 400)
    bye(tracker, T0 + 20.3, 2000)
    found = [f for f in tracker.finish(T0 + 20.3) if isinstance(f, MediaFinding)]
    out["rtp-timeout"] = [f for f in found if f.kind == "rtp-timeout"]
    out["media-quality"] = [f for f in found if f.kind == "media-quality"]
    return out


def example_json() -> dict[str, dict[str, Any]]:
    """kind -> the JSON object of its first finding, as ``--format jsonl`` writes it."""
    return {
        kind: finding_json(finding_record(found[0])) for kind, found in scenarios().items() if found
    }
