"""The byte budget across streams: TCP streams and SCTP directions together stay bounded.

Each stream's own caps (out-of-order buffer, framer buffer, SCTP fragments) bound one stream;
``max_total_bytes`` bounds their sum. These tests hold many streams at once with messages cut
part-way, through the public ``feed`` API with real TCP and SCTP headers, and check that the
total never passes the budget, that exactly the least recently active streams are evicted (and
counted), and that every stream that was not evicted still yields its messages whole.
"""

from __future__ import annotations

import random
import struct
from collections import Counter

from sipwatch.capture.sctp import SctpDecoder
from sipwatch.capture.tcp import IDLE_TIMEOUT, TcpReassembler
from sipwatch.capture.tcp_stream import SEGMENT_COST
from sipwatch.capture.types import Segment
from tests.test_websocket import frame as ws_frame

A, B = "198.51.100.1", "198.51.100.2"
ISN = 1000
_PSH_ACK, _SYN, _RST = 0x18, 0x02, 0x04
_FRAGMENT_COST = 64  # what SctpDecoder charges per waiting fragment on top of its payload


def message(n: int, body_lines: int = 40) -> bytes:
    """A SIP request of a length that does not depend on ``n`` (for exact budget arithmetic)."""
    body = b"v=0\r\n" + b"a=x\r\n" * body_lines
    return (
        f"MESSAGE sip:bob@example.com SIP/2.0\r\n"
        f"Via: SIP/2.0/TCP a.example.com;branch=z9hG4bK{n:06d}\r\n"
        f"Call-ID: {n:06d}@a\r\nCSeq: 1 MESSAGE\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode() + body


def tcp(
    seq: int, payload: bytes = b"", *, sport: int, dport: int = 5060, flags: int = _PSH_ACK
) -> bytes:
    """A 20-byte TCP header (RFC 9293 §3.1: data offset 5 words) and its payload."""
    header = struct.pack(
        "!HHIIHHHH", sport, dport, seq & 0xFFFFFFFF, 1, (5 << 12) | flags, 65535, 0, 0
    )
    return header + payload


class Tcp:
    """A reassembler with its counters, fed one frame at a time."""

    def __init__(self, *, check: bool = False, **kwargs: int) -> None:
        self.check = check
        self.skipped: Counter[str] = Counter()
        self.notes: Counter[str] = Counter()
        self.stage = TcpReassembler(self.skipped, self.notes, **kwargs)
        self.frame = 0

    def feed(self, raw: bytes, ts: float = 1.0, src: str = A, dst: str = B) -> list[Segment]:
        self.frame += 1
        out = self.stage.feed(ts, self.frame, src, dst, raw)
        if self.check:
            self.assert_accounting()
        return out

    def assert_accounting(self) -> None:
        """The total is what the tracked streams hold, each charged for what it holds now."""
        tracked = self.stage._streams.values()
        assert all(st.charged == st.buffered_bytes() for st in tracked)
        assert self.stage.bytes_held == sum(st.charged for st in tracked)
        assert self.stage.bytes_held <= self.stage.max_total_bytes


# -- TCP ---------------------------------------------------------------------------------------


def test_tcp_total_stays_within_budget_and_oldest_streams_are_evicted() -> None:
    n, keep, cut = 40, 12, 300
    msgs = [message(i) for i in range(n)]
    assert len({len(m) for m in msgs}) == 1 and len(msgs[0]) > cut
    budget = keep * cut + cut // 2  # room for ``keep`` streams holding ``cut`` bytes, not more
    run = Tcp(max_total_bytes=budget)
    for i in range(n):
        assert run.feed(tcp(ISN, msgs[i][:cut], sport=10000 + i)) == []
        assert run.stage.bytes_held <= budget
        # The framer holds the whole partial message: exactly ``cut`` bytes per stream kept.
        assert run.stage.bytes_held == min(i + 1, keep) * cut
    assert run.notes["tcp-stream-evicted-bytes"] == n - keep
    assert run.stage.active_streams == keep
    out: list[Segment] = []
    for i in range(n):
        out += run.feed(tcp(ISN + cut, msgs[i][cut:], sport=10000 + i))
    # Streams kept complete their message; an evicted stream's rest starts a stream afresh,
    # mid-message, so it is counted as non-SIP rather than taken for a message.
    assert [(s.src[1], s.data) for s in out] == [(10000 + i, msgs[i]) for i in range(n - keep, n)]
    assert run.skipped["non-sip-tcp"] == n - keep
    assert run.stage.bytes_held == 0
    assert run.notes["tcp-stream-evicted-bytes"] == n - keep
    assert run.notes["tcp-stream-evicted"] == 0  # the stream-count cap was not involved


def test_tcp_evicts_the_least_recently_active_stream() -> None:
    msg = {port: message(port) for port in (1, 2, 3, 4)}
    cut, more = 250, 10
    run = Tcp(max_total_bytes=3 * cut + more)
    for port in (1, 2, 3):
        run.feed(tcp(ISN, msg[port][:cut], sport=port))
    run.feed(tcp(ISN + cut, msg[1][cut : cut + more], sport=1))  # stream 1 is active again
    assert run.notes["tcp-stream-evicted-bytes"] == 0
    run.feed(tcp(ISN, msg[4][:cut], sport=4))
    assert run.notes["tcp-stream-evicted-bytes"] == 1
    assert run.stage.bytes_held == 3 * cut + more
    out: list[Segment] = []
    for port in (1, 2, 3, 4):
        start = cut + more if port == 1 else cut
        out += run.feed(tcp(ISN + start, msg[port][start:], sport=port))
    assert [s.data for s in out] == [msg[1], msg[3], msg[4]]  # stream 2 was the oldest


def test_tcp_out_of_order_segments_count_with_their_cost() -> None:
    n, keep = 30, 8
    first, lost, held = message(0, 1), message(1, 1), message(2, 3)
    share = len(held) + SEGMENT_COST
    budget = keep * share + SEGMENT_COST
    run = Tcp(max_total_bytes=budget)
    out: list[Segment] = []
    for i in range(n):
        out += run.feed(tcp(ISN, first, sport=20000 + i))
        # ``lost`` is not there yet: ``held`` waits out of order behind a hole.
        assert run.feed(tcp(ISN + len(first) + len(lost), held, sport=20000 + i)) == []
        assert run.stage.bytes_held == min(i + 1, keep) * share <= budget
    assert [s.data for s in out] == [first] * n
    assert run.notes["tcp-stream-evicted-bytes"] == n - keep
    out = []
    for i in range(n):
        out += run.feed(tcp(ISN + len(first), lost, sport=20000 + i))
    # A kept stream delivers the missing message and the one that waited behind it; an
    # evicted stream starts afresh on a message boundary, so only the waiting one is lost.
    expected = [lost] * (n - keep) + [lost, held] * keep
    assert [s.data for s in out] == expected
    assert run.stage.bytes_held == 0


def test_tcp_budget_is_given_back_when_streams_end() -> None:
    msg = message(7)
    cut = 200
    run = Tcp(max_streams=3)
    run.feed(tcp(ISN, msg[:cut], sport=1))
    assert run.stage.bytes_held == cut
    run.feed(tcp(ISN + cut, b"", sport=1, flags=_RST))  # RST: the partial message is reported
    assert run.stage.bytes_held == 0
    assert run.notes["tcp-truncated"] == 1

    run.feed(tcp(ISN, msg[:cut], sport=2))
    run.feed(tcp(5000, b"", sport=2, flags=_SYN))  # a new connection on the same 4-tuple
    assert run.stage.bytes_held == 0

    for port in (3, 4, 5, 6):  # the stream-count cap evicts the oldest stream
        run.feed(tcp(ISN, msg[:cut], sport=port))
    # Streams 1 (closed by its RST, kept until idle), 2 and 3 make room for 4, 5 and 6.
    assert run.notes["tcp-stream-evicted"] == 3
    assert run.stage.active_streams == 3
    assert run.stage.bytes_held == 3 * cut

    run.stage.expire(1.0 + IDLE_TIMEOUT + 1.0)  # idle streams are forgotten with their bytes
    assert run.stage.active_streams == 0
    assert run.stage.bytes_held == 0

    run.feed(tcp(ISN, msg[:cut], sport=9), ts=500.0)
    assert run.stage.bytes_held == cut
    assert run.stage.flush() == []
    assert run.stage.bytes_held == 0


def _websocket_pair(run: Tcp, port: int, payloads: list[bytes]) -> list[Segment]:
    """Upgrade a connection (RFC 6455 §4) and send ``payloads`` as WebSocket frames."""
    request = (
        b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Protocol: sip\r\n"
        b"Sec-WebSocket-Version: 13\r\n\r\n"
    )
    response = (
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\nSec-WebSocket-Protocol: sip\r\n\r\n"
    )
    out = run.feed(tcp(ISN, request, sport=port))
    seq = ISN + len(request)
    # The first payload is sent before the 101 is seen: it waits, then moves to the deframer.
    out += run.feed(tcp(seq, payloads[0], sport=port))
    seq += len(payloads[0])
    out += run.feed(tcp(ISN, response, sport=5060, dport=port), src=B, dst=A)
    for payload in payloads[1:]:
        out += run.feed(tcp(seq, payload, sport=port))
        seq += len(payload)
    return out


def test_tcp_accounting_matches_what_streams_hold() -> None:
    """Random traffic (partial, reordered, repeated segments; SIP and WebSocket streams) keeps
    the total equal to what the tracked streams hold, and never above the budget."""
    rng = random.Random(20240611)
    for budget in (600, 3000, 1 << 26):
        evicting = budget < 1 << 26
        # With evictions, the stream-count cap is made to act as well (it releases bytes too).
        if evicting:
            run = Tcp(check=True, max_total_bytes=budget, max_streams=24)
        else:
            run = Tcp(check=True)
        streams: dict[int, list[bytes]] = {}
        pending: list[tuple[int, int, bytes]] = []
        for port in range(1, 41):
            msgs = [message(port * 100 + k, rng.randint(0, 80)) for k in range(rng.randint(1, 4))]
            streams[port] = msgs
            data = b"".join(msgs)
            pos = 0
            while pos < len(data):
                size = rng.randint(1, 400)
                pending.append((port, ISN + pos, data[pos : pos + size]))
                pos += size
        # Keep each stream mostly in order, interleave streams, reorder and repeat some.
        pending.sort(key=lambda item: (item[1] + rng.randint(-300, 300), rng.random()))
        pending += rng.sample(pending, len(pending) // 10)
        # A SYN first, so a stream whose first data segment comes late still starts at ISN.
        pending[:0] = [(port, ISN - 1, b"") for port in streams]
        out: list[Segment] = []
        for port, seq, payload in pending:
            flags = _PSH_ACK if payload else _SYN
            out += run.feed(tcp(seq, payload, sport=port, flags=flags))
        ws_messages = [message(9000 + k, 50) for k in range(3)]
        joined = b"".join(ws_frame(m) for m in ws_messages)
        ws_out = _websocket_pair(run, 7000, [joined[:500], joined[500:700], joined[700:]])
        if budget >= 3000:  # room for the WebSocket stream: the older SIP streams make way
            assert [s.data for s in ws_out] == ws_messages
        by_stream: dict[int, list[bytes]] = {}
        for segment in out:
            by_stream.setdefault(segment.src[1], []).append(segment.data)
        if evicting:
            assert run.notes["tcp-stream-evicted-bytes"] > 0
            # A stream that lost bytes starts again at a segment start, which may fall inside
            # a message: what comes out is a message or the end of one, never a mix.
            for port, datas in by_stream.items():
                assert all(any(m.endswith(d) for m in streams[port]) for d in datas)
        else:
            assert run.notes["tcp-stream-evicted-bytes"] == 0
            assert by_stream == streams
        run.stage.flush()
        assert run.stage.bytes_held == 0


# -- SCTP --------------------------------------------------------------------------------------


def sctp(*chunks: bytes, sport: int, tag: int = 0x1234) -> bytes:
    """RFC 9260 §3.1 common header (ports, verification tag, checksum) and chunks."""
    return struct.pack("!HHII", sport, 5060, tag, 0) + b"".join(chunks)


def data_chunk(tsn: int, payload: bytes, *, begin: bool, end: bool) -> bytes:
    """RFC 9260 §3.3.1 DATA chunk, padded to 4 bytes (§3.2)."""
    flags = (2 if begin else 0) | (1 if end else 0)
    chunk = struct.pack("!BBHIHHI", 0, flags, 16 + len(payload), tsn, 0, 0, 0) + payload
    return chunk + b"\0" * (-len(chunk) % 4)


def idata_chunk(tsn: int, payload: bytes, *, mid: int, fsn: int, begin: bool, end: bool) -> bytes:
    """RFC 8260 §2.1 I-DATA chunk: the B fragment carries the PPID, the others their FSN."""
    flags = (2 if begin else 0) | (1 if end else 0)
    chunk = struct.pack("!BBHIHHII", 64, flags, 20 + len(payload), tsn, 0, 0, mid, fsn) + payload
    return chunk + b"\0" * (-len(chunk) % 4)


def test_sctp_total_stays_within_budget_and_oldest_directions_are_evicted() -> None:
    n, keep, cut = 30, 9, 200
    msgs = [message(i) for i in range(n)]
    share = cut + _FRAGMENT_COST
    budget = keep * share + share // 2
    skipped: Counter[str] = Counter()
    notes: Counter[str] = Counter()
    dec = SctpDecoder(skipped, notes, max_total_bytes=budget)
    for i in range(n):
        first = data_chunk(1, msgs[i][:cut], begin=True, end=False)
        assert dec.feed(1.0, i, A, B, sctp(first, sport=30000 + i)) == []
        assert dec.bytes_held == min(i + 1, keep) * share <= budget
    assert notes["sctp-fragment-evicted-bytes"] == n - keep
    out: list[Segment] = []
    for i in range(n - keep, n):
        last = data_chunk(2, msgs[i][cut:], begin=False, end=True)
        out += dec.feed(2.0, 100 + i, A, B, sctp(last, sport=30000 + i))
    assert [(s.src[1], s.data) for s in out] == [(30000 + i, msgs[i]) for i in range(n - keep, n)]
    assert dec.bytes_held == 0
    # An evicted direction's first fragment is gone: its last one completes nothing, and waits.
    last = data_chunk(2, msgs[0][cut:], begin=False, end=True)
    assert dec.feed(3.0, 200, A, B, sctp(last, sport=30000)) == []
    assert dec.bytes_held == len(msgs[0]) - cut + _FRAGMENT_COST
    dec.flush()
    assert notes["sctp-incomplete-at-end"] == 1
    assert dec.bytes_held == 0
    assert notes["sctp-reassembly-overflow"] == 0


def test_sctp_idata_and_least_recently_active_direction() -> None:
    msg = {port: message(port) for port in (1, 2, 3, 4)}
    cut = 120
    share = cut + _FRAGMENT_COST
    skipped: Counter[str] = Counter()
    notes: Counter[str] = Counter()
    dec = SctpDecoder(skipped, notes, max_total_bytes=3 * share + share)
    for port in (1, 2, 3):
        chunk = idata_chunk(1, msg[port][:cut], mid=5, fsn=0, begin=True, end=False)
        dec.feed(1.0, port, A, B, sctp(chunk, sport=port))
    # Direction 1 gets its second fragment: it is now the most recently active.
    chunk = idata_chunk(2, msg[1][cut : 2 * cut], mid=5, fsn=1, begin=False, end=False)
    dec.feed(1.5, 10, A, B, sctp(chunk, sport=1))
    assert notes["sctp-fragment-evicted-bytes"] == 0
    chunk = idata_chunk(1, msg[4][:cut], mid=5, fsn=0, begin=True, end=False)
    dec.feed(2.0, 11, A, B, sctp(chunk, sport=4))
    assert notes["sctp-fragment-evicted-bytes"] == 1
    assert dec.bytes_held == 4 * share
    out: list[Segment] = []
    for port in (1, 2, 3, 4):
        fsn, start = (2, 2 * cut) if port == 1 else (1, cut)
        chunk = idata_chunk(fsn + 1, msg[port][start:], mid=5, fsn=fsn, begin=False, end=True)
        out += dec.feed(3.0, 20 + port, A, B, sctp(chunk, sport=port))
    assert [s.data for s in out] == [msg[1], msg[3], msg[4]]  # direction 2 was the oldest
    # Direction 2's last fragment waits alone, charged like any other.
    assert dec.bytes_held == len(msg[2]) - cut + _FRAGMENT_COST
    # The direction itself was kept: its TSN memory still recognises a retransmission.
    dec.feed(
        4.0, 30, A, B, sctp(idata_chunk(1, b"x", mid=5, fsn=0, begin=True, end=False), sport=2)
    )
    assert notes["sctp-retransmission"] == 1


def test_sctp_budget_is_given_back_when_directions_go() -> None:
    skipped: Counter[str] = Counter()
    notes: Counter[str] = Counter()
    dec = SctpDecoder(skipped, notes, max_directions=2)
    for port in (1, 2, 3):
        dec.feed(
            1.0, port, A, B, sctp(data_chunk(1, b"y" * 100, begin=True, end=False), sport=port)
        )
    assert notes["sctp-direction-evicted"] == 1
    assert dec.bytes_held == 2 * (100 + _FRAGMENT_COST)
    dec.expire(1000.0)
    assert dec.bytes_held == 0
    assert notes["sctp-incomplete-expired"] == 2
