"""RTP/RTCP accounting (sipwatch.media.rtp) and the MOS estimate (sipwatch.media.mos)."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sipwatch.media.mos import mos_estimate, mos_from_r, r_factor
from sipwatch.media.rtp import StreamStats, is_rtcp, is_rtp_v2, rtcp_report_blocks


def _stats(rate: int = 8000) -> StreamStats:
    return StreamStats(ssrc=1, first_ts=100.0, first_frame=1, clock_rate=rate)


def _feed(stats: StreamStats, seqs: list[int], step: float = 0.02, ts_step: int = 160) -> None:
    for i, seq in enumerate(seqs):
        stats.add(100.0 + i * step, i + 1, seq & 0xFFFF, (seq * ts_step) & 0xFFFFFFFF, 0, False)


def test_in_order_stream_has_no_loss_and_no_jitter() -> None:
    stats = _stats()
    _feed(stats, list(range(1000, 1100)))
    assert (stats.packets, stats.expected, stats.lost) == (100, 100, 0)
    assert stats.sequence_errors == stats.duplicates == 0
    assert stats.jitter_max_ms == pytest.approx(0.0, abs=1e-6)
    assert stats.longest_gap == pytest.approx(0.02)


def test_loss_across_the_sequence_wrap() -> None:
    # RFC 3550 A.1: 65534, 65535, 0, 1 is in order; two numbers missing are lost (A.3).
    stats = _stats()
    _feed(stats, [65533, 65534, 65535, 2, 3, 4])
    assert stats.expected == 8 and stats.lost == 2 and stats.packets == 6
    assert stats.sequence_errors == 1


def test_duplicate_and_late_packets() -> None:
    stats = _stats()
    _feed(stats, [10, 11, 13, 12, 13, 14])
    # 12 arrived late (a sequence error, not lost); the second 13 is a duplicate, and RFC 3550
    # A.3 counts it as received, so the loss can go negative.
    assert stats.duplicates == 1
    assert stats.expected == 5 and stats.packets == 6 and stats.lost == -1


def test_jitter_follows_rfc3550_a8() -> None:
    # Every second packet 10 ms late: |D| alternates 80 timestamp units; J -> 80 (10 ms).
    stats = _stats()
    for i in range(400):
        arrival = 100.0 + i * 0.02 + (0.01 if i % 2 else 0.0)
        stats.add(arrival, i + 1, i, i * 160, 0, False)
    assert stats.jitter_max_ms == pytest.approx(10.0, rel=0.01)
    assert 9.0 < stats.jitter_mean_ms < 10.0


def test_marker_comfort_noise_and_events_leave_the_statistics() -> None:
    stats = StreamStats(
        ssrc=1, first_ts=0.0, first_frame=1, clock_rate=8000, events=frozenset({101})
    )
    stats.add(0.0, 1, 0, 0, 0, False)
    stats.add(0.02, 2, 1, 160, 0, False)
    stats.add(2.0, 3, 2, 320, 0, True)  # a talkspurt after silence: the jump is not jitter
    assert stats.jitter_max == 0.0 and stats.jitter_count == 1
    stats.add(2.02, 4, 3, 320, 101, False)  # a DTMF event repeats its start timestamp
    assert stats.jitter_count == 1


def test_rtp_and_rtcp_are_told_apart() -> None:
    rtp = bytes([0x80, 0x00]) + struct.pack("!HII", 1, 2, 3) + b"\xff" * 160
    assert is_rtp_v2(rtp) and not is_rtcp(rtp)
    rr = bytes([0x81, 201]) + struct.pack("!H", 7) + b"\x00" * 28
    assert is_rtcp(rr) and not is_rtp_v2(rr)
    assert not is_rtp_v2(b"INVITE sip:a@b SIP/2.0\r\n")
    assert not is_rtp_v2(bytes([0x8F]) + b"\x00" * 20)  # 15 CSRCs do not fit


def test_receiver_report_blocks() -> None:
    block = struct.pack("!IIIIII", 0xABCDEF01, (64 << 24) | 0xFFFFFE, 1000, 240, 0, 0)
    rr = bytes([0x81, 201]) + struct.pack("!H", 7) + struct.pack("!I", 0x11) + block
    sr_block = struct.pack("!IIIIII", 0x22, (0 << 24) | 12, 5, 80, 0, 0)
    sr = (
        bytes([0x81, 200])
        + struct.pack("!H", 12)
        + struct.pack("!I", 0x33)
        + b"\x00" * 20
        + sr_block
    )
    blocks = rtcp_report_blocks(sr + rr)
    assert [(b.reporter, b.ssrc, b.cumulative_lost, b.jitter) for b in blocks] == [
        (0x33, 0x22, 12, 80),
        (0x11, 0xABCDEF01, -2, 240),
    ]
    assert blocks[1].fraction_lost == 0.25
    # A length field that runs past the datagram ends the walk.
    assert rtcp_report_blocks(rr[:-4]) == []


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200))
def test_rtcp_walk_never_raises(data: bytes) -> None:
    rtcp_report_blocks(data)
    is_rtp_v2(data)
    is_rtcp(data)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 0xFFFF), st.integers(0, 0xFFFFFFFF)), max_size=200))
def test_any_sequence_of_headers_keeps_counts_consistent(headers: list[tuple[int, int]]) -> None:
    stats = _stats()
    for i, (seq, ts) in enumerate(headers):
        stats.add(100.0 + i * 0.02, i + 1, seq, ts, 0, False)
    assert stats.packets == len(headers)
    assert stats.duplicates <= stats.packets
    assert stats.jitter_max >= 0.0


def test_mos_estimate_e_model() -> None:
    # G.107 Annex B: R = 93.2 gives MOS 4.41; G.711 without loss and jitter is just below it.
    assert mos_from_r(93.2) == pytest.approx(4.41, abs=0.01)
    assert mos_estimate("PCMU", 0.0, 0.0) == pytest.approx(4.39, abs=0.01)
    # G.729's equipment impairment (Ie 11) costs about 0.3; loss costs more on G.711 than
    # nothing, and MOS falls with loss.
    assert mos_estimate("G729", 0.0, 0.0) < mos_estimate("PCMA", 0.0, 0.0) - 0.2
    assert mos_estimate("PCMU", 0.05, 0.0) < mos_estimate("PCMU", 0.01, 0.0) < 4.39
    assert mos_estimate("PCMU", 0.643, 0.4) < 1.5
    # Delay beyond 177.3 ms (G.107 §7.3) costs steeply.
    assert r_factor("PCMU", 0.0, 100.0) < r_factor("PCMU", 0.0, 70.0) - 3.0
