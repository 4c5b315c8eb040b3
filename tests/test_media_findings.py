"""Media findings (sipwatch.media.tracker/findings, words in sipwatch.media_records).

The tracker is sans-I/O, so each scenario is fed as SIP messages and RTP packets with capture
timestamps; the public captures then show the same findings on real traffic.
"""

from __future__ import annotations

import struct

import pytest

from sipwatch.media.model import MEDIA_FINDING_KINDS, MediaFinding, StreamReport
from sipwatch.media.thresholds import MediaThresholds
from sipwatch.media.tracker import MediaTracker
from sipwatch.media_records import finding_record
from sipwatch.sip.message import SipMessage
from tests.conftest import public_capture
from tests.helpers import make_request, make_response
from tests.media_scenarios import example_json
from tests.test_correlate_docs import _sections

CALLER_IP, CALLEE_IP = "81.2.69.142", "85.10.1.20"


def sdp(address: str, port: int, formats: str = "0 8 101", proto: str = "RTP/AVP") -> str:
    return (
        f"v=0\r\no=- 1 1 IN IP4 {address}\r\ns=-\r\nc=IN IP4 {address}\r\nt=0 0\r\n"
        f"m=audio {port} {proto} {formats}\r\na=rtpmap:101 telephone-event/8000\r\n"
    )


def rtp(seq: int, ssrc: int, pt: int = 0) -> bytes:
    return bytes([0x80, pt]) + struct.pack("!HII", seq, seq * 160, ssrc) + b"\xd5" * 160


def _invite(offer: str, **headers: str) -> SipMessage:
    return make_request("INVITE", body=offer, **headers)


def _call(
    tracker: MediaTracker, offer: str, answer: str, *, caller_from: str = CALLER_IP
) -> list[MediaFinding]:
    invite = _invite(offer)
    found = tracker.sip(0.0, 1, caller_from, invite)
    found += tracker.sip(0.5, 2, CALLEE_IP, make_response(200, request=invite, body=answer))
    found += tracker.sip(0.6, 3, caller_from, make_request("ACK"))
    return found


def _stream(
    tracker: MediaTracker,
    src: tuple[str, int],
    dst: tuple[str, int],
    ssrc: int,
    start: float,
    count: int,
    first_frame: int,
) -> None:
    for i in range(count):
        data = rtp(i, ssrc)
        tracker.packet(
            start + i * 0.02, first_frame + i, src[0], src[1], dst[0], dst[1], data, 0, len(data)
        )


def _kinds(items: list[object]) -> list[str]:
    return [item.kind for item in items if isinstance(item, MediaFinding)]


def test_two_way_call_gives_two_streams_and_no_finding() -> None:
    tracker = MediaTracker()
    assert _call(tracker, sdp(CALLER_IP, 4000), sdp(CALLEE_IP, 5000)) == []
    _stream(tracker, (CALLER_IP, 4000), (CALLEE_IP, 5000), 0x11, 0.7, 200, 10)
    _stream(tracker, (CALLEE_IP, 5000), (CALLER_IP, 4000), 0x22, 0.7, 200, 11)
    tracker.sip(5.0, 500, CALLER_IP, make_request("BYE", cseq="2 BYE"))
    out = tracker.finish(5.0)
    streams = [item for item in out if isinstance(item, StreamReport)]
    assert [(s.src, s.dst, s.codec, s.packets, s.lost) for s in streams] == [
        (f"{CALLER_IP}:4000", f"{CALLEE_IP}:5000", "PCMU/8000", 200, 0),
        (f"{CALLEE_IP}:5000", f"{CALLER_IP}:4000", "PCMU/8000", 200, 0),
    ]
    assert all(s.origin == "sdp" and s.call_id == "test-call-1@192.0.2.10" for s in streams)
    assert streams[0].mos_estimate == 4.39
    assert _kinds(out) == []


def test_one_way_audio_names_the_deaf_party_and_its_sdp_line() -> None:
    tracker = MediaTracker()
    _call(tracker, sdp(CALLER_IP, 4000), sdp(CALLEE_IP, 5000))
    _stream(tracker, (CALLER_IP, 4000), (CALLEE_IP, 5000), 0x11, 0.7, 200, 10)
    tracker.sip(5.0, 500, CALLER_IP, make_request("BYE", cseq="2 BYE"))
    (finding,) = [f for f in tracker.finish(5.0) if isinstance(f, MediaFinding)]
    assert finding.kind == "one-way-audio" and finding.frames == (1, 10)
    assert finding.details["silent_toward"] == "caller"
    assert finding.details["sdp_line"] == f"c=IN IP4 {CALLER_IP}"
    record = finding_record(finding)
    assert record.data["text"] == (
        f"One-way audio: RTP reaches the callee (200 packets, {CALLER_IP}:4000 -> "
        f"{CALLEE_IP}:5000) but none reaches the caller at {CALLER_IP}:4000, announced in the "
        f"caller's INVITE (frame 1): c=IN IP4 {CALLER_IP} / m=audio 4000 RTP/AVP 0 8 101."
    )


def test_no_audio_only_when_the_capture_has_rtp() -> None:
    # A capture filtered to signalling has no RTP at all: silence there proves nothing.
    quiet = MediaTracker()
    _call(quiet, sdp(CALLER_IP, 4000), sdp(CALLEE_IP, 5000))
    quiet.sip(9.0, 9, CALLER_IP, make_request("BYE", cseq="2 BYE"))
    assert _kinds(list(quiet.finish(9.0))) == []
    tracker = MediaTracker()
    _call(tracker, sdp(CALLER_IP, 4000), sdp(CALLEE_IP, 5000))
    _stream(tracker, ("192.0.2.99", 7000), ("192.0.2.98", 7002), 0x33, 0.7, 20, 10)  # elsewhere
    tracker.sip(9.0, 900, CALLER_IP, make_request("BYE", cseq="2 BYE"))
    assert _kinds(list(tracker.finish(9.0))) == ["no-audio"]


def test_nat_private_sdp_address_and_mismatched_rtp_source() -> None:
    tracker = MediaTracker()
    invite = _invite(
        sdp("192.168.1.20", 4000),
        via="SIP/2.0/UDP 192.168.1.20:5060;branch=z9hG4bK1;received=81.2.69.142;rport=40123",
        contact="<sip:alice@192.168.1.20:5060>",
    )
    found = tracker.sip(0.0, 1, CALLER_IP, invite)
    assert [f.kind for f in found] == ["private-address"]
    details = found[0].details
    assert (details["via_received"], details["via_rport"]) == ("81.2.69.142", "40123")
    assert details["contact"] == "<sip:alice@192.168.1.20:5060>"
    assert (
        finding_record(found[0])
        .data["text"]
        .startswith(
            "The caller signals from the public address 81.2.69.142 but its SDP announces the "
            "private address 192.168.1.20:4000 and its Contact is private"
        )
    )
    tracker.sip(0.5, 2, CALLEE_IP, make_response(200, request=invite, body=sdp(CALLEE_IP, 5000)))
    # The caller's RTP arrives from its NAT's public address, not the announced one.
    _stream(tracker, (CALLER_IP, 40000), (CALLEE_IP, 5000), 0x11, 0.7, 100, 10)
    _stream(tracker, (CALLEE_IP, 5000), ("192.168.1.20", 4000), 0x22, 0.7, 100, 11)
    kinds = _kinds(list(tracker.finish(3.0)))
    assert kinds == ["media-address-mismatch"]


def test_488_is_explained_with_both_codec_lists_and_the_warning() -> None:
    tracker = MediaTracker()
    invite = _invite(sdp(CALLER_IP, 4000, "18 101"))
    tracker.sip(0.0, 1, CALLER_IP, invite)
    reject = make_response(
        488,
        request=invite,
        body=sdp(CALLEE_IP, 5000, "0 8"),
        warning='305 pbx.example.com "Incompatible media format"',
    )
    (finding,) = tracker.sip(0.1, 2, CALLEE_IP, reject)
    assert finding.kind == "codec-mismatch" and finding.frames == (1, 2)
    assert finding.details["offered"] == ["G729/8000", "telephone-event/8000"]
    # RFC 3261 §21.4.26: the 488 may carry what the callee would accept.
    assert finding.details["answered"] == ["PCMU/8000", "PCMA/8000"]
    assert finding.details["warning"] == '305 pbx.example.com "Incompatible media format"'
    assert finding_record(finding).data["text"] == (
        "488 rejected the offer of frame 1: offered G729/8000, telephone-event/8000; the other "
        'side offers PCMU/8000, PCMA/8000. Warning: 305 pbx.example.com "Incompatible media '
        'format".'
    )


def test_srtp_offer_answered_in_plain_rtp() -> None:
    tracker = MediaTracker()
    found = _call(
        tracker, sdp(CALLER_IP, 4000, proto="RTP/SAVP"), sdp(CALLEE_IP, 5000, proto="RTP/AVP")
    )
    assert [f.kind for f in found] == ["srtp-mismatch"]
    assert found[0].details["offered_proto"] == "RTP/SAVP"
    assert found[0].details["answered_proto"] == "RTP/AVP"


def test_rtp_timeout_and_quality_thresholds() -> None:
    tracker = MediaTracker(MediaThresholds(rtp_timeout=5.0, loss_max=0.01))
    _call(tracker, sdp(CALLER_IP, 4000), sdp(CALLEE_IP, 5000))
    for i in range(300):  # every tenth packet lost
        if i % 10 == 0:
            continue
        data = rtp(i, 0x11)
        tracker.packet(0.7 + i * 0.02, 10 + i, CALLER_IP, 4000, CALLEE_IP, 5000, data, 0, 172)
    _stream(tracker, (CALLEE_IP, 5000), (CALLER_IP, 4000), 0x22, 0.7, 1000, 400)
    tracker.sip(21.0, 2000, CALLER_IP, make_request("BYE", cseq="2 BYE"))
    found = [f for f in tracker.finish(21.0) if isinstance(f, MediaFinding)]
    assert [f.kind for f in found] == ["rtp-timeout", "media-quality"]
    assert found[0].details["silence_s"] > 14.0
    assert found[1].details["exceeded"] == ["loss", "mos"]


def test_retransmitted_answer_is_not_a_new_offer() -> None:
    tracker = MediaTracker()
    invite = _invite(sdp(CALLER_IP, 4000))
    ok = make_response(200, request=invite, body=sdp(CALLEE_IP, 5000))
    tracker.sip(0.0, 1, CALLER_IP, invite)
    tracker.sip(0.5, 2, CALLEE_IP, ok)
    tracker.sip(1.0, 3, CALLEE_IP, ok)
    assert tracker.calls["test-call-1@192.0.2.10"].pending_offer is None
    (negotiated,) = tracker.calls["test-call-1@192.0.2.10"].negotiated
    assert negotiated.codec == "PCMU/8000"


def test_guessed_stream_is_labelled_and_noise_is_not_a_stream() -> None:
    tracker = MediaTracker()
    _stream(tracker, ("192.0.2.1", 30000), ("192.0.2.2", 30002), 0x44, 0.0, 50, 1)
    netbios = bytes([0x80, 0x4F]) + b"\x00" * 48
    for i in range(20):
        tracker.packet(float(i), 100 + i, "192.0.2.3", 137, "192.0.2.255", 137, netbios, 0, 50)
    (stream,) = [s for s in tracker.finish(60.0) if isinstance(s, StreamReport)]
    assert (stream.origin, stream.call_id, stream.packets) == ("guess", "", 50)


def test_public_capture_lossy_direction_is_a_quality_finding() -> None:
    from sipwatch.capture.readers import open_capture
    from sipwatch.pipeline import Pipeline, PipelineOptions
    from sipwatch.records import FindingRecord

    path = public_capture("asterisk_zfone_xlite.pcap")
    with open_capture(path) as source:
        records = list(Pipeline(PipelineOptions(), source=path.name).run(source))
    (quality,) = [
        r.data for r in records if isinstance(r, FindingRecord) and r.kind == "media-quality"
    ]
    # tshark -z rtp,streams says the same of this stream: 205 packets, 369 lost (64.3 %).
    assert (quality["src"], quality["dst"]) == ("192.168.10.41:64508", "192.168.10.40:49848")
    assert (quality["lost"], quality["expected"], quality["loss_ratio"]) == (369, 574, 0.6429)
    assert quality["exceeded"] == ["loss", "mos"]


@pytest.mark.parametrize("kind", MEDIA_FINDING_KINDS)
def test_documented_media_keys_match_the_code(kind: str) -> None:
    """docs/findings.md's example of each media kind has exactly the keys, in order, that the
    scripted scenario of tests/media_scenarios.py produces, and the same words."""
    live = example_json()[kind]
    _, documented = _sections()[kind]
    assert list(live) == list(documented)
    assert live["text"] == documented["text"] and live["remedy"] == documented["remedy"]
