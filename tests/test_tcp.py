"""TcpReassembler: TCP streams to one Segment per SIP message.

Small cases are built with scapy (TCP header + payload, as the decoder hands them over); real
behaviour is checked against the public captures and their tshark oracles.
"""

from __future__ import annotations

import json
import random
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scapy.layers.inet import TCP

from sipwatch.capture.decode import Decoder
from sipwatch.capture.readers import open_capture
from sipwatch.capture.sctp import SctpDecoder
from sipwatch.capture.tcp import TcpReassembler
from sipwatch.capture.types import Segment
from tests.conftest import public_capture
from tests.test_websocket import frame as ws_frame

A, B = "198.51.100.1", "198.51.100.2"


def sip(method: str, n: int, body: bytes = b"") -> bytes:
    return (
        f"{method} sip:bob@example.com SIP/2.0\r\n"
        f"Via: SIP/2.0/TCP a.example.com;branch=z9hG4bK{n}\r\n"
        f"Call-ID: {n}@a\r\nCSeq: {n} {method}\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode() + body


def ok(n: int) -> bytes:
    return (
        f"SIP/2.0 200 OK\r\nCall-ID: {n}@a\r\nCSeq: {n} INVITE\r\nContent-Length: 0\r\n\r\n"
    ).encode()


M1 = sip("INVITE", 1, b"v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\n")
M2 = sip("BYE", 2)
M3 = sip("OPTIONS", 3)


def seg(
    seq: int, payload: bytes = b"", flags: str = "PA", sport: int = 5060, dport: int = 40000
) -> bytes:
    return bytes(TCP(sport=sport, dport=dport, seq=seq & 0xFFFFFFFF, ack=1, flags=flags) / payload)


class Run:
    """A reassembler with its counters and a frame counter."""

    def __init__(self, **kwargs: float) -> None:
        self.skipped: Counter[str] = Counter()
        self.notes: Counter[str] = Counter()
        self.tcp = TcpReassembler(self.skipped, self.notes, **kwargs)  # type: ignore[arg-type]
        self.frame = 0

    def feed(
        self, raw: bytes, ts: float | None = None, src: str = A, dst: str = B
    ) -> list[Segment]:
        self.frame += 1
        return self.tcp.feed(float(self.frame) if ts is None else ts, self.frame, src, dst, raw)

    def datas(self, raws: list[bytes]) -> list[bytes]:
        out: list[bytes] = []
        for raw in raws:
            out += [s.data for s in self.feed(raw)]
        return out


def split_stream(data: bytes, isn: int, sizes: list[int]) -> list[bytes]:
    """Cut ``data`` into segments of the given sizes (the last takes the rest)."""
    segs, pos, seq = [], 0, isn
    for size in [*sizes, len(data)]:
        chunk = data[pos : pos + size]
        if not chunk:
            break
        segs.append(seg(seq, chunk))
        pos += len(chunk)
        seq += len(chunk)
    return segs


# -- basic framing through TCP ----------------------------------------------------------------


def test_three_messages_in_one_segment() -> None:
    run = Run()
    out = run.feed(seg(1000, M1 + M2 + M3), ts=5.0)
    assert [s.data for s in out] == [M1, M2, M3]
    assert all(s.frame == 1 and s.ts == 5.0 and s.transport == "tcp" for s in out)
    assert out[0].src == (A, 5060) and out[0].dst == (B, 40000)
    assert out[0].stream is False
    assert run.tcp.messages == 3


def test_one_message_over_five_segments_completes_in_last_frame() -> None:
    run = Run()
    segs = split_stream(M1, 1000, [20, 20, 20, 20])
    assert len(segs) == 5
    outs = [run.feed(s) for s in segs]
    assert outs[:4] == [[], [], [], []]
    assert [(s.frame, s.data) for s in outs[4]] == [(5, M1)]


def test_segment_boundaries_inside_messages_everywhere() -> None:
    data = M1 + M2 + M3
    for cut in range(1, len(data)):
        run = Run()
        assert run.datas(split_stream(data, 7, [cut])) == [M1, M2, M3]


def test_mid_stream_start_without_syn() -> None:
    run = Run()
    assert run.datas([seg(123456, M2), seg(123456 + len(M2), M3)]) == [M2, M3]


def test_capture_starting_mid_message_syncs_on_next_segment_start() -> None:
    run = Run()
    tail = M1[40:]
    out = run.datas([seg(500, tail), seg(500 + len(tail), M2)])
    assert out == [M2]
    assert run.skipped["non-sip-tcp"] == 1


def test_bare_acks_create_no_state() -> None:
    run = Run()
    assert run.feed(seg(1, flags="A")) == []
    assert run.tcp.active_streams == 0


# -- ordering, retransmission, overlap ---------------------------------------------------------


def test_out_of_order_segments_are_buffered_until_the_hole_fills() -> None:
    run = Run()
    s1, s2, s3 = split_stream(M1 + M2, 1, [60, 60])
    assert run.feed(s1) == []
    assert run.feed(s3) == []
    out = run.feed(s2)
    assert [(s.frame, s.data) for s in out] == [(3, M1), (3, M2)]
    assert run.notes["tcp-out-of-order"] == 1
    assert run.tcp.gaps == 0


def test_out_of_order_first_segment_after_syn() -> None:
    run = Run()
    run.feed(seg(99, flags="S"))
    s1, s2 = split_stream(M2 + M3, 100, [len(M2)])
    assert run.feed(s2) == []  # ahead of ISN+1: waits, not classified as junk
    assert [s.data for s in run.feed(s1)] == [M2, M3]
    assert run.skipped["non-sip-tcp"] == 0


def test_exact_retransmission_is_not_counted_twice() -> None:
    run = Run()
    s1, s2 = split_stream(M1 + M2, 1, [len(M1)])
    assert run.datas([s1, s1, s2, s1, s2]) == [M1, M2]
    assert run.tcp.retransmissions == 3
    assert run.notes["tcp-retransmission"] == 3


def test_overlapping_retransmission_with_different_content_first_copy_wins() -> None:
    run = Run()
    first = M1[:50]
    assert run.feed(seg(1, first)) == []
    # Re-sent from byte 30 with different bytes for 30..50, then the real continuation.
    forged = b"X" * 20 + M1[50:]
    out = run.feed(seg(31, forged))
    assert [s.data for s in out] == [M1]
    assert run.notes["tcp-overlap"] == 1


def test_overlapping_buffered_segments_first_copy_wins() -> None:
    run = Run()
    run.feed(seg(0, flags="S"))
    data = M1 + M2
    assert run.feed(seg(1 + 40, data[40:100])) == []
    # A second copy of the same range, longer and with different bytes in the overlap.
    assert run.feed(seg(1 + 40, b"Z" * 60 + data[100:])) == []
    out = run.feed(seg(1, data[:40]))
    assert [s.data for s in out] == [M1, M2]


def test_overlap_across_hole_is_trimmed() -> None:
    run = Run()
    data = M1 + M2
    run.feed(seg(1, data[:30]))
    run.feed(seg(1 + 50, data[50:]))  # waits
    out = run.feed(seg(1 + 25, data[25:70]))  # fills the hole and overlaps both sides
    assert [s.data for s in out] == [M1, M2]


# -- gaps -------------------------------------------------------------------------------------


def test_gap_declared_when_out_of_order_buffer_exceeds_bound() -> None:
    run = Run(max_segments=3)
    msgs = [sip("OPTIONS", n) for n in range(10)]
    segs = split_stream(b"".join(msgs), 1, [len(m) for m in msgs])
    out: list[bytes] = []
    for i, s in enumerate(segs):
        if i == 2:
            continue  # the capture lost this segment
        out += [x.data for x in run.feed(s)]
    assert out == [m for i, m in enumerate(msgs) if i != 2]
    assert run.tcp.gaps == 1
    assert run.notes["tcp-gap"] == 1


def test_gap_declared_after_timeout() -> None:
    run = Run(gap_timeout=2.0)
    segs = split_stream(M1 + M2 + M3, 1, [len(M1), len(M2)])
    assert [s.data for s in run.feed(segs[0], ts=0.0)] == [M1]
    assert run.feed(segs[2], ts=0.5) == []
    out = run.feed(seg(1 + len(M1) + len(M2) + len(M3), M1), ts=3.0)
    assert [s.data for s in out] == [M3, M1]
    assert run.tcp.gaps == 1


def test_gap_inside_a_message_loses_only_that_message() -> None:
    run = Run()
    data = M1 + M2 + M3
    segs = split_stream(data, 1, [40, 30])
    assert run.feed(segs[0]) == []  # the start line made the stream SIP
    # segs[1] (inside M1's header block) never arrives.
    assert run.feed(segs[2]) == []
    out = run.tcp.flush()
    # The framer resynchronises on the next start line after the hole.
    assert [s.data for s in out] == [M2, M3]
    assert run.notes["tcp-gap"] == 1
    assert run.notes["tcp-lost-in-gap"] == 1


def test_start_line_cut_by_first_segment_end_is_held() -> None:
    run = Run()
    segs = split_stream(M1 + M2, 1, [10, 15])
    assert run.feed(segs[0]) == []
    assert run.feed(segs[1]) == []
    assert [s.data for s in run.feed(segs[2])] == [M1, M2]
    assert not run.skipped


def test_held_text_that_is_not_sip_is_counted_per_packet() -> None:
    run = Run()
    run.feed(seg(1, b"EHLO mail"))
    run.feed(seg(10, b".example.com\r\n"))
    assert run.skipped["non-sip-tcp"] == 2


def test_gap_inside_body_keeps_exact_framing() -> None:
    body = b"SIP/2.0 200 OK\r\n" * 10  # a sipfrag-looking body must not be taken as messages
    notify = sip("NOTIFY", 4, body)
    run = Run()
    head_len = notify.index(b"\r\n\r\n") + 4
    segs = split_stream(notify + M2, 1, [head_len + 20, 40])
    run.feed(segs[0])
    run.feed(segs[2])  # segs[1], inside the body, is lost
    out = run.tcp.flush()
    assert [s.data for s in out] == [M2]
    assert run.notes["tcp-lost-in-gap"] == 1


def test_flush_emits_what_follows_a_hole() -> None:
    run = Run()
    run.feed(seg(0, flags="S"))  # the stream starts at sequence number 1
    segs = split_stream(M1 + M2, 1, [len(M1)])
    assert run.feed(segs[1]) == []  # the segment carrying M1 never arrives
    out = run.tcp.flush()
    assert [(s.frame, s.data) for s in out] == [(2, M2)]
    assert run.tcp.gaps == 1


# -- SYN / FIN / RST ------------------------------------------------------------------------------


def test_syn_fin_and_retransmission_after_close() -> None:
    run = Run()
    isn = 5000
    assert run.feed(seg(isn, flags="S")) == []
    s1 = seg(isn + 1, M1)
    assert [s.data for s in run.feed(s1)] == [M1]
    assert [s.data for s in run.feed(seg(isn + 1 + len(M1), M2, flags="FPA"))] == [M2]
    assert run.feed(s1) == []  # late retransmission after FIN
    assert run.tcp.retransmissions == 1
    assert run.tcp.messages == 2


def test_fin_with_incomplete_message_is_counted() -> None:
    run = Run()
    run.feed(seg(1, M1[:-4]))
    run.feed(seg(1 + len(M1) - 4, flags="FA"))
    assert run.notes["tcp-truncated"] == 1


def test_fin_before_missing_data_waits_for_it() -> None:
    run = Run()
    run.feed(seg(0, flags="S"))
    segs = split_stream(M1 + M2, 1, [len(M1)])
    run.feed(seg(1 + len(M1), M2, flags="FPA"))  # FIN with the second half, first missing
    out = run.feed(segs[0])
    assert [s.data for s in out] == [M1, M2]


def test_rst_closes_and_delivers_what_it_can() -> None:
    run = Run()
    run.feed(seg(1, M1 + M2[:10]))
    run.feed(seg(1 + len(M1) + 10, flags="R"))
    assert run.notes["tcp-truncated"] == 1


def test_new_syn_on_same_ports_starts_a_new_connection() -> None:
    run = Run()
    run.feed(seg(100, flags="S"))
    run.feed(seg(101, M1))
    run.feed(seg(101 + len(M1), flags="FA"))
    run.feed(seg(900000, flags="S"))
    assert [s.data for s in run.feed(seg(900001, M2))] == [M2]


def test_sequence_wraparound() -> None:
    isn = 2**32 - 50
    data = M1 + M2 + M3
    run = Run()
    run.feed(seg(isn, flags="S"))
    segs = split_stream(data, isn + 1, [30, 40, 100, 7])
    # Deliver out of order around the wrap, with a duplicate.
    order = [0, 2, 1, 1, 3, *range(4, len(segs))]
    out: list[bytes] = []
    for i in order:
        out += [s.data for s in run.feed(segs[i])]
    assert out == [M1, M2, M3]
    assert run.tcp.retransmissions == 1


# -- what a stream carries ------------------------------------------------------------------------


def test_tls_stream_is_counted_not_decoded() -> None:
    run = Run()
    hello = b"\x16\x03\x01\x00\x50" + bytes(80)
    run.feed(seg(1, hello, sport=40000, dport=5061))
    run.feed(seg(1 + len(hello), b"\x17\x03\x03\x00\x10" + bytes(16), sport=40000, dport=5061))
    run.feed(seg(1 + len(hello) + 21, b"\x8a\x91" + bytes(50), sport=40000, dport=5061))
    # The reverse direction starts with a record too.
    run.feed(seg(7, b"\x16\x03\x03\x00\x10" + bytes(16), sport=5061, dport=40000), src=B, dst=A)
    assert run.skipped["tls-encrypted"] == 4
    assert run.notes["tls-streams"] == 2
    assert run.tcp.messages == 0


def test_non_sip_stream_counts_packets_and_stays_cheap() -> None:
    run = Run()
    pos = 1
    for _ in range(20):
        chunk = b"\x00\x01binary" * 10
        assert run.feed(seg(pos, chunk, sport=3306)) == []
        pos += len(chunk)
    assert run.skipped["non-sip-tcp"] == 20
    # A SIP message at a later segment start is still found.
    assert [s.data for s in run.feed(seg(pos, M2, sport=3306))] == [M2]


def test_http_that_is_not_an_upgrade_is_not_sip() -> None:
    run = Run()
    req = b"GET /index.html HTTP/1.1\r\nHost: x\r\n\r\n"
    assert run.feed(seg(1, req, sport=40000, dport=80)) == []
    assert run.feed(seg(1 + len(req), req, sport=40000, dport=80)) == []
    assert run.tcp.messages == 0


def test_crlf_keepalives_before_and_between_messages() -> None:
    run = Run()
    assert run.feed(seg(1, b"\r\n\r\n")) == []
    out = run.datas([seg(5, M1 + b"\r\n\r\n"), seg(5 + len(M1) + 4, b"\r\n" + M2)])
    assert out == [M1, M2]
    assert not run.skipped


UPGRADE = (
    b"GET / HTTP/1.1\r\nHost: proxy.example.com\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Protocol: sip\r\n"
    b"Sec-WebSocket-Version: 13\r\n\r\n"
)
SWITCHED = (
    b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    b"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\nSec-WebSocket-Protocol: sip\r\n\r\n"
)


def test_websocket_upgrade_switches_both_directions() -> None:
    run = Run()

    def client(seq: int, payload: bytes) -> bytes:
        return seg(seq, payload, sport=50000, dport=443)

    def server(seq: int, payload: bytes) -> bytes:
        return seg(seq, payload, sport=443, dport=50000)

    c_seq, s_seq = 1, 1
    run.feed(client(c_seq, UPGRADE[:30]))
    run.feed(client(c_seq + 30, UPGRADE[30:]))
    c_seq += len(UPGRADE)
    run.feed(server(s_seq, SWITCHED), src=B, dst=A)
    s_seq += len(SWITCHED)
    register = ws_frame(M3, mask=b"abcd")
    out = run.feed(client(c_seq, register[:20]))
    out += run.feed(client(c_seq + 20, register[20:] + ws_frame(b"\r\n\r\n", mask=b"efgh")))
    assert [(s.transport, s.data) for s in out] == [("ws", M3)]
    reply = ws_frame(ok(3))
    out = run.feed(server(s_seq, reply), src=B, dst=A)
    assert [(s.transport, s.data, s.src) for s in out] == [("ws", ok(3), (B, 443))]
    assert run.notes["ws-upgrade"] == 1
    assert not run.skipped


def test_websocket_without_handshake_in_capture() -> None:
    run = Run()
    out = run.feed(seg(77, ws_frame(M2, mask=b"wxyz") + ws_frame(b"\x00binary")))
    assert [(s.transport, s.data) for s in out] == [("ws", M2)]
    assert run.notes["ws-non-sip-message"] == 1


# -- bounds ---------------------------------------------------------------------------------------


def test_streams_are_bounded_and_expire() -> None:
    run = Run(max_streams=10)
    for port in range(30):
        run.feed(seg(1, M2[:20], sport=10000 + port))
    assert run.tcp.active_streams == 10
    assert run.notes["tcp-stream-evicted"] == 20
    run.tcp.expire(10_000.0)
    assert run.tcp.active_streams == 0
    assert run.notes["tcp-incomplete-expired"] == 10


def test_out_of_order_bytes_are_bounded() -> None:
    run = Run(max_buffer=10_000)
    run.feed(seg(0, flags="S"))
    pos = 1 + 100  # the first 100 bytes never arrive
    for _ in range(100):
        run.feed(seg(pos, b"x" * 1000))
        pos += 1000
        assert sum(len(v) for st_ in run.tcp._streams.values() for v in st_.ooo.values()) <= 11_000
    assert run.tcp.gaps >= 1


def test_malformed_headers_are_counted() -> None:
    run = Run()
    assert run.feed(b"\x00" * 10) == []
    bad_offset = bytearray(seg(1, M1))
    bad_offset[12] = 0x20  # data offset 2 words < 5
    assert run.feed(bytes(bad_offset)) == []
    too_long = bytearray(seg(1))
    too_long[12] = 0xF0  # 60-byte header in a 20-byte segment
    assert run.feed(bytes(too_long)) == []
    assert run.skipped == Counter({"truncated-tcp": 1, "bad-tcp-header": 2})


# -- properties -----------------------------------------------------------------------------------

_MSGS = [M1, M2, M3, ok(1), sip("MESSAGE", 9, b"x" * 3000)]


@settings(max_examples=200, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    st.lists(st.sampled_from(_MSGS), min_size=1, max_size=8),
    st.lists(st.integers(min_value=1, max_value=1500), max_size=30),
    st.randoms(use_true_random=False),
    st.integers(min_value=0, max_value=2**32 - 1),
)
def test_any_segmentation_order_and_duplication_gives_the_same_messages(
    msgs: list[bytes], sizes: list[int], rnd: random.Random, isn: int
) -> None:
    data = b"".join(msgs)
    segs = split_stream(data, isn + 1, sizes)
    # Reorder locally and duplicate some segments, as networks do.
    shuffled = list(segs)
    for i in range(len(shuffled) - 1):
        if rnd.random() < 0.3:
            shuffled[i], shuffled[i + 1] = shuffled[i + 1], shuffled[i]
    shuffled += [s for s in segs if rnd.random() < 0.2]
    run = Run()
    run.feed(seg(isn, flags="S"))
    out = run.datas(shuffled)
    out += [s.data for s in run.tcp.flush()]
    assert out == msgs
    assert run.tcp.gaps == 0


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    st.lists(
        st.tuples(st.integers(0, 2**32 - 1), st.integers(0, 0x3F), st.binary(max_size=200)),
        max_size=20,
    )
)
def test_random_segments_never_raise(packets: list[tuple[int, int, bytes]]) -> None:
    run = Run(max_segments=4, max_buffer=500)
    for seq, flags, payload in packets:
        raw = bytearray(seg(seq, payload))
        raw[13] = flags
        run.feed(bytes(raw))
        run.feed(bytes(raw[: len(raw) // 2]))
    run.tcp.expire(1e9)
    run.tcp.flush()


# -- real captures --------------------------------------------------------------------------------


def decode_capture(path: Path) -> tuple[list[Segment], Decoder, TcpReassembler]:
    decoder = Decoder()
    tcp = TcpReassembler(decoder.skipped, decoder.notes)
    decoder.tcp = tcp
    decoder.sctp = SctpDecoder(decoder.skipped, decoder.notes)
    segments: list[Segment] = []
    with open_capture(path) as source:
        for frame in source:
            segments += decoder.feed(frame)
    segments += decoder.flush()
    return segments, decoder, tcp


def counts(segments: list[Segment]) -> tuple[dict[str, int], dict[str, int]]:
    methods: Counter[str] = Counter()
    statuses: Counter[str] = Counter()
    for s in segments:
        if s.data.startswith(b"SIP/2.0 "):
            statuses[s.data[8:11].decode()] += 1
        else:
            methods[s.data.split(b" ", 1)[0].decode()] += 1
    return dict(methods), dict(statuses)


@pytest.mark.shared
@pytest.mark.parametrize(
    ("name", "transports"),
    [
        ("sip_ipv4_tcp.pcap", {"tcp": 7}),
        ("sip_ipv4_tcp_fragmented.pcap", {"tcp": 406}),
        ("sip_ipv4_tcp_retrans.pcap", {"tcp": 4, "udp": 4}),
        ("sip-body-large.pcap", {"tcp": 2}),
        ("ipip.pcap", {"tcp": 4}),
        ("sip_tcp_websocket.pcap", {"udp": 28, "ws": 11}),
        ("sip-tls-1.3-and-rtcp.pcap", {}),
    ],
)
def test_public_capture_matches_tshark(name: str, transports: dict[str, int]) -> None:
    path = public_capture(name)
    oracle = json.loads(path.with_name(name + ".oracle.json").read_text())
    segments, decoder, tcp = decode_capture(path)
    assert len(segments) == oracle["sip_messages"]
    assert dict(Counter(s.transport for s in segments)) == transports
    methods, statuses = counts(segments)
    assert methods == oracle["requests_by_method"]
    assert statuses == oracle["responses_by_status"]
    assert oracle["notable"]["websocket_sip_frames"] == transports.get("ws", 0)
    assert tcp.gaps == 0
    # TLS is counted per packet, never silently dropped: one per TLS frame tshark saw.
    assert decoder.skipped["tls-encrypted"] == oracle["notable"]["tls_frames"]


@pytest.mark.shared
def test_retransmitted_segment_is_not_double_counted() -> None:
    segments, _, tcp = decode_capture(public_capture("sip_ipv4_tcp_retrans.pcap"))
    tcp_msgs = [s for s in segments if s.transport == "tcp"]
    assert len(tcp_msgs) == 4
    assert tcp.retransmissions == 1
    # tshark does not dissect frame 38, the retransmitted 200 OK; the original completed it.
    assert 38 not in {s.frame for s in tcp_msgs}


@pytest.mark.shared
def test_fragmented_capture_completes_messages_in_the_right_frames() -> None:
    path = public_capture("sip_ipv4_tcp_fragmented.pcap")
    segments, _, _ = decode_capture(path)
    oracle = json.loads(path.with_name(path.name + ".oracle.json").read_text())
    # Every message is emitted by the frame that completed it: one message per SIP frame.
    assert len({s.frame for s in segments}) == oracle["sip_frames"]


@pytest.mark.shared
def test_large_body_over_loopback() -> None:
    segments, _, _ = decode_capture(public_capture("sip-body-large.pcap"))
    invite = next(s for s in segments if s.data.startswith(b"INVITE"))
    head, _, body = invite.data.partition(b"\r\n\r\n")
    length = int(
        next(
            line for line in head.split(b"\r\n") if line.lower().startswith(b"content-length")
        ).split(b":")[1]
    )
    assert len(body) == length > 60000
