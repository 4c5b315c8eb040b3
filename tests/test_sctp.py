"""SctpDecoder: SIP user messages out of SCTP DATA / I-DATA chunks (RFC 4168, RFC 9260)."""

from __future__ import annotations

import json
import struct
import sys
import tracemalloc
from collections import Counter

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scapy.layers.sctp import (
    SCTP,
    SCTPChunkData,
    SCTPChunkIData,
    SCTPChunkSACK,
)

from sipwatch.capture.sctp import SctpDecoder
from sipwatch.capture.tsn_window import TSN_WINDOW, TsnWindow
from sipwatch.capture.types import Segment
from tests.conftest import public_capture

INVITE = (
    b"INVITE sip:bob@example.com SIP/2.0\r\n"
    b"Via: SIP/2.0/SCTP host;branch=z9hG4bK1\r\n"
    b"Call-ID: 1@sctp\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n"
)
TRYING = b"SIP/2.0 100 Trying\r\nCall-ID: 1@sctp\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n"
A, B = "192.0.2.1", "192.0.2.2"


def data(
    tsn: int, payload: bytes, b: int = 1, e: int = 1, u: int = 0, sid: int = 0
) -> SCTPChunkData:
    return SCTPChunkData(
        tsn=tsn,
        stream_id=sid,
        stream_seq=0,
        proto_id=0,
        beginning=b,
        ending=e,
        unordered=u,
        data=payload,
    )


def packet(*chunks: object, tag: int = 0x1234, sport: int = 5060, dport: int = 5060) -> bytes:
    pkt = SCTP(sport=sport, dport=dport, tag=tag)
    for chunk in chunks:
        pkt = pkt / chunk
    return bytes(pkt)


def decoder() -> tuple[SctpDecoder, Counter[str], Counter[str]]:
    skipped: Counter[str] = Counter()
    notes: Counter[str] = Counter()
    return SctpDecoder(skipped, notes), skipped, notes


def test_one_complete_data_chunk() -> None:
    dec, skipped, _ = decoder()
    out = dec.feed(1.5, 7, A, B, packet(data(10, INVITE), sport=40000))
    assert out == [Segment(1.5, 7, (A, 40000), (B, 5060), "sctp", INVITE)]
    assert not skipped


def test_bundled_chunks_with_padding() -> None:
    # INVITE length is not a multiple of 4, so the first chunk carries padding (RFC 9260 §3.2).
    assert len(INVITE) % 4
    dec, _, _ = decoder()
    out = dec.feed(0.0, 1, A, B, packet(data(1, INVITE), SCTPChunkSACK(), data(2, TRYING)))
    assert [s.data for s in out] == [INVITE, TRYING]


def test_fragmented_message_in_order_completes_at_last_fragment() -> None:
    dec, _, notes = decoder()
    parts = [INVITE[:30], INVITE[30:70], INVITE[70:]]
    assert dec.feed(0.0, 1, A, B, packet(data(5, parts[0], b=1, e=0))) == []
    assert dec.feed(0.1, 2, A, B, packet(data(6, parts[1], b=0, e=0))) == []
    out = dec.feed(0.2, 3, A, B, packet(data(7, parts[2], b=0, e=1)))
    assert [(s.frame, s.data) for s in out] == [(3, INVITE)]
    assert notes["sctp-reassembled"] == 1
    assert dec.flush() == []
    assert notes["sctp-incomplete-at-end"] == 0


def test_fragmented_message_out_of_order() -> None:
    dec, _, _ = decoder()
    parts = [INVITE[:30], INVITE[30:70], INVITE[70:]]
    assert dec.feed(0.0, 1, A, B, packet(data(7, parts[2], b=0, e=1))) == []
    assert dec.feed(0.1, 2, A, B, packet(data(5, parts[0], b=1, e=0))) == []
    out = dec.feed(0.2, 3, A, B, packet(data(6, parts[1], b=0, e=0)))
    assert [(s.frame, s.data) for s in out] == [(3, INVITE)]


def test_fragments_across_tsn_wraparound() -> None:
    dec, _, _ = decoder()
    dec.feed(0.0, 1, A, B, packet(data(0xFFFFFFFF, INVITE[:50], b=1, e=0)))
    out = dec.feed(0.1, 2, A, B, packet(data(0, INVITE[50:], b=0, e=1)))
    assert [s.data for s in out] == [INVITE]


def test_fragments_of_other_stream_are_not_mixed() -> None:
    dec, _, _ = decoder()
    dec.feed(0.0, 1, A, B, packet(data(1, INVITE[:50], b=1, e=0, sid=1)))
    assert dec.feed(0.1, 2, A, B, packet(data(2, INVITE[50:], b=0, e=1, sid=2))) == []


def test_retransmitted_chunk_is_not_counted_twice() -> None:
    dec, _, notes = decoder()
    pkt = packet(data(42, INVITE))
    assert len(dec.feed(0.0, 1, A, B, pkt)) == 1
    assert dec.feed(1.0, 2, A, B, pkt) == []
    assert notes["sctp-retransmission"] == 1
    assert dec.retransmissions == 1
    assert dec.messages == 1


def test_retransmitted_fragment_is_ignored() -> None:
    dec, _, notes = decoder()
    first = packet(data(1, INVITE[:40], b=1, e=0))
    dec.feed(0.0, 1, A, B, first)
    dec.feed(0.5, 2, A, B, first)
    out = dec.feed(1.0, 3, A, B, packet(data(2, INVITE[40:], b=0, e=1)))
    assert [s.data for s in out] == [INVITE]
    assert notes["sctp-retransmission"] == 1


def test_new_association_reuses_tsns() -> None:
    dec, _, notes = decoder()
    assert len(dec.feed(0.0, 1, A, B, packet(data(0, INVITE), tag=1))) == 1
    assert len(dec.feed(0.0, 2, A, B, packet(data(0, INVITE), tag=2))) == 1
    assert notes["sctp-retransmission"] == 0


def test_idata_complete_and_fragmented() -> None:
    dec, _, _ = decoder()
    whole = SCTPChunkIData(
        tsn=1, stream_id=0, message_id=0, ppid_fsn=0, beginning=1, ending=1, data=TRYING
    )
    assert [s.data for s in dec.feed(0.0, 1, A, B, packet(whole))] == [TRYING]
    # RFC 8260 §2.1: fragments by MID, ordered by FSN; B carries the PPID (FSN 0).
    frags = [
        SCTPChunkIData(
            tsn=4, stream_id=3, message_id=9, ppid_fsn=2, beginning=0, ending=1, data=INVITE[80:]
        ),
        SCTPChunkIData(
            tsn=2, stream_id=3, message_id=9, ppid_fsn=0, beginning=1, ending=0, data=INVITE[:40]
        ),
        SCTPChunkIData(
            tsn=3, stream_id=3, message_id=9, ppid_fsn=1, beginning=0, ending=0, data=INVITE[40:80]
        ),
    ]
    out: list[Segment] = []
    for i, chunk in enumerate(frags):
        out += dec.feed(0.1 * i, 10 + i, A, B, packet(chunk))
    assert [(s.frame, s.data) for s in out] == [(12, INVITE)]


def test_non_sip_message_and_control_packets_are_counted() -> None:
    dec, skipped, _ = decoder()
    assert dec.feed(0.0, 1, A, B, packet(data(1, b"\x01\x00\x00\x20 diameter"))) == []
    assert dec.feed(0.0, 2, A, B, packet(SCTPChunkSACK())) == []
    assert skipped == Counter({"non-sip-sctp": 1, "sctp-control": 1})


def test_bad_chunk_length_stops_the_packet() -> None:
    dec, skipped, notes = decoder()
    pkt = packet(data(1, INVITE))
    broken = pkt[:14] + b"\x00\x03" + pkt[16:]  # chunk length 3 < 4
    assert dec.feed(0.0, 1, A, B, broken) == []
    assert notes["sctp-bad-chunk"] == 1
    assert dec.feed(0.0, 2, A, B, pkt[:20]) == []  # truncated mid-chunk
    assert notes["sctp-bad-chunk"] == 2
    assert dec.feed(0.0, 3, A, B, b"\x00" * 5) == []
    assert skipped["truncated-sctp"] == 1


def test_pending_fragments_are_bounded() -> None:
    skipped: Counter[str] = Counter()
    notes: Counter[str] = Counter()
    dec = SctpDecoder(skipped, notes, max_pending=1000)
    for tsn in range(0, 40, 2):  # first fragments only: never complete
        dec.feed(0.0, tsn, A, B, packet(data(tsn, b"x" * 100, b=1, e=0)))
    assert notes["sctp-reassembly-overflow"] >= 1
    # Still decodes afterwards.
    assert len(dec.feed(0.0, 99, A, B, packet(data(1000, INVITE)))) == 1


def test_expire_and_flush_count_incomplete_messages() -> None:
    dec, _, notes = decoder()
    dec.feed(0.0, 1, A, B, packet(data(1, INVITE[:40], b=1, e=0)))
    dec.expire(60.0)
    assert notes["sctp-incomplete-expired"] == 0
    dec.expire(500.0)
    assert notes["sctp-incomplete-expired"] == 1
    dec.feed(600.0, 2, A, B, packet(data(5, INVITE[:40], b=1, e=0)))
    assert dec.flush() == []
    assert notes["sctp-incomplete-at-end"] == 1


@pytest.mark.shared
def test_public_capture_matches_tshark() -> None:
    path = public_capture("sip_sctp.pcap")
    from sipwatch.capture.decode import Decoder
    from sipwatch.capture.readers import open_capture

    decoder_ = Decoder()
    sctp = SctpDecoder(decoder_.skipped, decoder_.notes)
    decoder_.sctp = sctp
    segments: list[Segment] = []
    with open_capture(path) as source:
        for frame in source:
            segments += decoder_.feed(frame)
    segments += decoder_.flush()
    oracle = json.loads(path.with_name(path.name + ".oracle.json").read_text())
    assert len(segments) == oracle["sip_messages"]
    assert {s.transport for s in segments} == {"sctp"}
    methods = Counter(
        s.data.split(b" ", 1)[0].decode() for s in segments if not s.data.startswith(b"SIP/")
    )
    statuses = Counter(s.data[8:11].decode() for s in segments if s.data.startswith(b"SIP/"))
    assert dict(methods) == oracle["requests_by_method"]
    assert dict(statuses) == oracle["responses_by_status"]
    # The INVITE is fragmented over frames 1 and 2 and completes in frame 2.
    assert segments[0].frame == 2
    assert decoder_.notes["sctp-reassembled"] == 1


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.lists(st.binary(max_size=300), max_size=10))
def test_random_bytes_never_raise(packets: list[bytes]) -> None:
    dec, _, _ = decoder()
    header = packet()[:12]
    for i, raw in enumerate(packets):
        dec.feed(float(i), i, A, B, raw)
        dec.feed(float(i), i, A, B, header + raw)
    dec.expire(1e6)
    dec.flush()


def test_many_fragments_reassemble_and_release_their_budget() -> None:
    body = b"x" * 60000
    big = b"MESSAGE sip:a@b SIP/2.0\r\nContent-Length: 60000\r\n\r\n" + body
    pieces = [big[i : i + 200] for i in range(0, len(big), 200)]
    dec, _, notes = decoder()
    out: list[Segment] = []
    for _ in range(3):  # the budget is given back after each message
        for i, piece in enumerate(pieces):
            b = 1 if i == 0 else 0
            e = 1 if i == len(pieces) - 1 else 0
            out += dec.feed(0.0, i, A, B, packet(data(len(out) * 1000 + i, piece, b=b, e=e)))
    assert [s.data for s in out] == [big, big, big]
    assert notes["sctp-reassembly-overflow"] == 0
    dec.flush()
    assert notes["sctp-incomplete-at-end"] == 0


# -- retransmission memory: TsnWindow (RFC 9260 §6.3, serial arithmetic per §1.6) --------------

SERIAL = 1 << 32


_TEMPLATES: dict[bytes, bytes] = {}


def tsn_packet(tsn: int, payload: bytes = INVITE) -> bytes:
    """One unfragmented DATA chunk with ``tsn`` (the TSN sits at bytes 16..19 of the packet)."""
    raw = _TEMPLATES.get(payload)
    if raw is None:
        raw = _TEMPLATES[payload] = packet(data(0, payload))
    return raw[:16] + struct.pack("!I", tsn) + raw[20:]


def feed_tsns(dec: SctpDecoder, tsns: list[int]) -> int:
    """Feed one complete SIP message per TSN; return how many came out."""
    return sum(len(dec.feed(0.0, i, A, B, tsn_packet(t))) for i, t in enumerate(tsns))


def test_retransmission_within_the_window_is_dropped() -> None:
    dec, _, notes = decoder()
    top = 1000 + TSN_WINDOW - 1
    assert feed_tsns(dec, list(range(1000, top + 1))) == TSN_WINDOW
    # 1000 is TSN_WINDOW - 1 below the highest: still remembered, as are the others.
    assert feed_tsns(dec, [1000, 1001, top - 1, top]) == 0
    assert notes["sctp-retransmission"] == 4
    assert dec.retransmissions == 4
    assert dec.messages == TSN_WINDOW


def test_retransmission_outside_the_window_is_passed_on() -> None:
    dec, _, notes = decoder()
    top = 1000 + TSN_WINDOW
    assert feed_tsns(dec, list(range(1000, top + 1))) == TSN_WINDOW + 1
    # 1000 is now TSN_WINDOW below the highest: forgotten, so its copy counts as new, and it
    # is not recorded either (as a TSN evicted from a memory of the last TSN_WINDOW TSNs).
    assert feed_tsns(dec, [1000, 1000]) == 2
    assert notes["sctp-retransmission"] == 0
    assert feed_tsns(dec, [1001]) == 0
    assert notes["sctp-retransmission"] == 1


def test_out_of_order_tsns_are_recorded_once() -> None:
    dec, _, notes = decoder()
    assert feed_tsns(dec, [10, 7, 9, 7, 8, 9, 10, 8]) == 4
    assert notes["sctp-retransmission"] == 4


def test_retransmission_across_the_tsn_wraparound() -> None:
    dec, _, notes = decoder()
    tsns = [SERIAL - 3, SERIAL - 2, SERIAL - 1, 0, 1, 2]
    assert feed_tsns(dec, tsns) == 6
    assert notes["sctp-retransmission"] == 0
    # Behind the highest (2) across the wrap: all remembered.
    assert feed_tsns(dec, [SERIAL - 3, SERIAL - 1, 0, 2]) == 0
    assert notes["sctp-retransmission"] == 4
    # A TSN that arrives late from just before the wrap is new once, then remembered.
    assert feed_tsns(dec, [SERIAL - 4, SERIAL - 4]) == 1
    # Exactly TSN_WINDOW below 2 across the wrap: out of reach.
    assert feed_tsns(dec, [(2 - TSN_WINDOW) % SERIAL]) == 1
    assert notes["sctp-retransmission"] == 5


def test_window_slides_across_the_wraparound() -> None:
    window = TsnWindow(16)
    for tsn in range(SERIAL - 20, SERIAL):
        assert not window.seen(tsn)
    for tsn in range(0, 10):
        assert not window.seen(tsn)
    assert window.top == 9
    # Remembered: 9 and the 15 TSNs below it, i.e. 2**32 - 6 .. 9.
    assert [window.seen(t) for t in (SERIAL - 6, SERIAL - 1, 0, 9)] == [True] * 4
    assert not window.seen(SERIAL - 7)


def test_big_forward_jump_clears_the_window() -> None:
    dec, _, notes = decoder()
    assert feed_tsns(dec, [100, 101, 101 + TSN_WINDOW]) == 3
    # A jump of TSN_WINDOW leaves only the new highest TSN remembered.
    assert feed_tsns(dec, [100, 101]) == 2
    assert notes["sctp-retransmission"] == 0
    assert feed_tsns(dec, [101 + TSN_WINDOW]) == 0
    assert notes["sctp-retransmission"] == 1


def test_forward_jump_inside_the_window_keeps_older_tsns() -> None:
    window = TsnWindow()
    assert not window.seen(100)
    assert not window.seen(100 + TSN_WINDOW - 1)
    assert window.seen(100)
    # The TSNs skipped over were cleared: none of them counts as seen.
    assert not any(window.seen(t) for t in (101, 500, 100 + TSN_WINDOW - 2))


def test_tsns_skipped_by_a_forward_jump_are_not_taken_for_older_ones() -> None:
    # The bits are a ring: the slots of the TSNs skipped over held TSNs ``size`` older.
    window = TsnWindow(16)
    assert not any(window.seen(t) for t in range(16))
    assert not window.seen(20)
    assert [window.seen(t) for t in (16, 17, 18, 19)] == [False] * 4
    assert [window.seen(t) for t in (5, 15, 16, 20)] == [True] * 4
    assert not window.seen(4)  # 16 below 20: out of reach
    # The same with the default window, across the end of the ring and whole bytes of it.
    dec, _, notes = decoder()
    top = TSN_WINDOW + 1000
    assert feed_tsns(dec, [*range(5, TSN_WINDOW + 5), top]) == TSN_WINDOW + 1
    assert feed_tsns(dec, list(range(TSN_WINDOW + 5, top))) == top - TSN_WINDOW - 5
    assert notes["sctp-retransmission"] == 0
    assert feed_tsns(dec, [1001, 1005, TSN_WINDOW + 4, top]) == 0
    assert notes["sctp-retransmission"] == 4
    assert feed_tsns(dec, [1000]) == 1


def test_half_the_serial_space_away_is_behind_and_not_recorded() -> None:
    # RFC 1982 leaves a distance of exactly 2**31 undefined; it is taken as far behind.
    window = TsnWindow()
    assert not window.seen(5)
    assert not window.seen(5 + (1 << 31))
    assert not window.seen(5 + (1 << 31))
    assert window.top == 5
    assert window.seen(5)
    # One less than 2**31 ahead is ahead: the window moves there.
    assert not window.seen(4 + (1 << 31))
    assert window.top == 4 + (1 << 31)
    assert not window.seen(5)


@pytest.mark.parametrize("size", [0, 4, 12, 8191, 8193])
def test_window_size_must_be_a_power_of_two(size: int) -> None:
    with pytest.raises(ValueError, match="power of two"):
        TsnWindow(size)


def test_memory_stays_bounded_after_100000_tsns() -> None:
    window = TsnWindow()
    window.seen(SERIAL - 50_000)
    tracemalloc.start()
    try:
        before = tracemalloc.take_snapshot()
        for tsn in range(SERIAL - 49_999, SERIAL + 50_000):
            window.seen(tsn % SERIAL)
        after = tracemalloc.take_snapshot()
    finally:
        tracemalloc.stop()
    # Nothing accumulates: the window is the same 1 KiB after 100,000 TSNs (across the wrap).
    assert sum(stat.size_diff for stat in after.compare_to(before, "filename")) < 1024
    assert window.top == 49_999
    assert window.size == TSN_WINDOW
    assert len(window.ring) == TSN_WINDOW // 8
    assert sys.getsizeof(window) + sys.getsizeof(window.ring) < TSN_WINDOW // 8 + 256

    # The decoder's direction holds one such window (the dict it replaced held ~540 KiB here).
    dec, skipped, notes = decoder()
    for tsn in range(100_000):
        dec.feed(0.0, tsn, A, B, tsn_packet(tsn, b"not sip"))
    assert skipped["non-sip-sctp"] == 100_000
    assert notes["sctp-retransmission"] == 0
    (direction,) = dec._directions.values()
    assert direction.recent.top == 99_999
    assert len(direction.recent.ring) == TSN_WINDOW // 8


class _ModelWindow:
    """The documented semantics spelled out with a set, to check TsnWindow against."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.top: int | None = None
        self.tsns: set[int] = set()

    def seen(self, tsn: int) -> bool:
        if self.top is None:
            self.top, self.tsns = tsn, {tsn}
            return False
        ahead = (tsn - self.top) % SERIAL
        if ahead == 0:
            return True
        if ahead < SERIAL // 2:
            self.top = tsn
            self.tsns = {t for t in self.tsns if (tsn - t) % SERIAL < self.size} | {tsn}
            return False
        if (self.top - tsn) % SERIAL >= self.size:
            return False  # out of reach: not remembered, not recorded
        if tsn in self.tsns:
            return True
        self.tsns.add(tsn)
        return False


@settings(max_examples=300, deadline=None)
@given(
    size=st.sampled_from([8, 16, 64, 256]),
    start=st.one_of(st.integers(0, SERIAL - 1), st.sampled_from([0, SERIAL - 3, (1 << 31) - 2])),
    steps=st.lists(
        st.one_of(
            st.just(1),
            st.integers(-20, 20),
            st.integers(-300, 300),
            st.sampled_from([1 << 31, (1 << 31) - 1, (1 << 31) + 1, 255, 256, 257, -256]),
            st.integers(0, SERIAL - 1),
        ),
        max_size=200,
    ),
)
def test_window_matches_its_documented_semantics(size: int, start: int, steps: list[int]) -> None:
    window, model = TsnWindow(size), _ModelWindow(size)
    tsn = start
    assert window.seen(tsn) is model.seen(tsn) is False
    for step in steps:
        tsn = (tsn + step) % SERIAL
        assert window.seen(tsn) is model.seen(tsn), (size, start, tsn)
        assert window.top == model.top
