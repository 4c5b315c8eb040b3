"""Every cap, hit on purpose through the whole pipeline: what is kept, what is dropped, and that
the summary says so (docs/limits.md lists each limit and its default).

The unit tests of each stage check its own bound in isolation; these feed frames to
:class:`sipwatch.pipeline.Pipeline`, as a capture does, and check the user-visible side: the
records that come out, the ``malformed``/``notes``/``evictions`` of the summary, and, where a
peer could make sipwatch buffer (a huge header block, body or WebSocket frame), that memory stays
flat while gigabytes are announced and megabytes sent (measured with ``tracemalloc``).

The caps are large by default; the eviction tests shrink them on a pipeline's stages (the
correlator's :class:`~sipwatch.correlate.Limits`, the TCP reassembler's ``max_streams``...), so
a few dozen packets hit them.
"""

from __future__ import annotations

import struct
import tracemalloc
from collections.abc import Callable, Iterable, Iterator
from functools import partial
from typing import TypeVar

import pytest

from sipwatch.capture.ipfrag import FragmentReassembler
from sipwatch.capture.sctp import SctpDecoder
from sipwatch.capture.tcp import TcpReassembler
from sipwatch.capture.types import Frame
from sipwatch.correlate import Correlator, Limits
from sipwatch.pipeline import Pipeline
from sipwatch.records import MalformedRecord, MessageRecord, Record
from sipwatch.render.jsonl import summary_json
from sipwatch.sip.parser import MAX_HEADER_LINES, MAX_LINE_BYTES
from tests.fuzzing import ip_frame, udp_frame

A, B = ("192.0.2.1", 5060), ("192.0.2.2", 5060)
T0 = 1_700_000_000.0
T = TypeVar("T")


def sip(start: str, *headers: str, body: bytes = b"", call_id: str = "c1") -> bytes:
    """A request or response with the mandatory headers and a correct Content-Length."""
    method = start.split(" ", 1)[0] if not start.startswith("SIP/") else "OPTIONS"
    lines = [
        start,
        "Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK-" + call_id,
        "Max-Forwards: 70",
        "From: <sip:a@h>;tag=a-" + call_id,
        "To: <sip:b@h>" + (";tag=b-" + call_id if start.startswith("SIP/") else ""),
        "Call-ID: " + call_id,
        f"CSeq: 1 {method}",
        *headers,
        f"Content-Length: {len(body)}",
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def tcp_frames(
    stream: bytes, *, sport: int = 40000, seq: int = 1000, size: int = 1460, ts: float = T0
) -> Iterator[Frame]:
    """``stream`` as TCP segments from A to B (generated lazily: a test may send megabytes)."""
    for n, start in enumerate(range(0, len(stream), size)):
        tcp = struct.pack("!HHIIBBHHH", sport, B[1], seq + start, 0, 0x50, 0x18, 65535, 0, 0)
        data = ip_frame(A[0], B[0], 6, tcp + stream[start : start + size])
        yield Frame(ts + n * 1e-5, 1, data, 0)


def ip_fragments(datagram_frame: bytes, size: int = 1480, ident: int = 7) -> list[bytes]:
    """An Ethernet/IPv4 frame cut into IPv4 fragments of ``size`` payload bytes."""
    head, payload = datagram_frame[:34], datagram_frame[34:]
    out = []
    for offset in range(0, len(payload), size):
        piece = payload[offset : offset + size]
        more = offset + size < len(payload)
        ip = bytearray(head[14:34])
        struct.pack_into(
            "!HHH", ip, 2, 20 + len(piece), ident, (0x2000 if more else 0) | offset // 8
        )
        out.append(head[:14] + bytes(ip) + piece)
    return out


def run(frames: Iterable[Frame], pipeline: Pipeline | None = None) -> tuple[Pipeline, list[Record]]:
    pipeline = pipeline or Pipeline()
    numbered = (Frame(f.ts, f.linktype, f.data, n, len(f.data)) for n, f in enumerate(frames, 1))
    return pipeline, list(pipeline.run(numbered))


def messages(records: list[Record]) -> list[MessageRecord]:
    return [r for r in records if isinstance(r, MessageRecord)]


def malformed(records: list[Record]) -> list[MalformedRecord]:
    return [r for r in records if isinstance(r, MalformedRecord)]


def peak_while(run_it: Callable[[], T]) -> tuple[int, T]:
    """Peak bytes allocated while ``run_it`` ran (above what was allocated before), and its
    result."""
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        result = run_it()
        return tracemalloc.get_traced_memory()[1] - base, result
    finally:
        tracemalloc.stop()


# -- sizes: under the limit decoded whole, over it reported ----------------------------------------


def test_64_kib_body_over_udp_in_ip_fragments_is_one_message() -> None:
    body = b"v=0\r\n" + b"a=x-" * 16_250  # 65,005 bytes: the largest a UDP datagram can hold
    data = sip("MESSAGE sip:b@h SIP/2.0", "Content-Type: text/plain", body=body)
    fragments = ip_fragments(udp_frame(A, B, data))
    assert len(fragments) == -(-(8 + len(data)) // 1480) == 45
    pipeline, records = run(Frame(T0, 1, f, 0) for f in fragments)
    [message] = messages(records)
    assert message.frame == 45 and message.msg.body == body
    assert pipeline.summary.notes["ip-fragment-reassembled"] == 1
    assert pipeline.summary.malformed == {}


def test_64_kib_body_over_tcp_is_one_message() -> None:
    body = b"x" * 65536
    data = sip("MESSAGE sip:b@h SIP/2.0", "Content-Type: text/plain", body=body)
    pipeline, records = run(tcp_frames(data))
    [message] = messages(records)
    assert message.msg.body == body
    assert message.transport == "tcp"
    assert pipeline.summary.malformed == {} and pipeline.summary.notes["tcp-oversize-body"] == 0


def test_body_over_the_stream_cap_is_reported_and_never_buffered() -> None:
    """A Content-Length of 2 MB (cap: 1 MiB) followed by the 2 MB: reported once, skipped as it
    streams by, and the next message on the connection is found again."""
    big = sip("MESSAGE sip:b@h SIP/2.0", body=b"y" * 2_000_000 + b"\r\n", call_id="big")
    after = sip("OPTIONS sip:b@h SIP/2.0", call_id="after")
    stream = big + after
    peak, (pipeline, records) = peak_while(lambda: run(tcp_frames(stream)))
    assert [m.msg.call_id for m in messages(records)] == ["after"]
    notes = pipeline.summary.notes
    assert notes["tcp-oversize-body"] == 1
    assert peak < 1_500_000, peak


@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_10000_header_lines_parse_and_10001_are_malformed(transport: str) -> None:
    def message(lines: int, call_id: str) -> bytes:
        base = sip("OPTIONS sip:b@h SIP/2.0", call_id=call_id)
        head, _, _ = base.partition(b"\r\n\r\n")
        extra = lines - (head.count(b"\r\n"))  # header lines besides the start line
        return head + b"\r\na: b" * extra + b"\r\n\r\n"

    at_limit, over = message(MAX_HEADER_LINES, "ok"), message(MAX_HEADER_LINES + 1, "over")
    if transport == "udp":
        frames = [
            Frame(T0, 1, udp_frame(A, B, at_limit), 0),
            Frame(T0, 1, udp_frame(A, B, over), 0),
        ]
    else:
        frames = list(tcp_frames(at_limit + over))
    pipeline, records = run(frames)
    assert [m.msg.call_id for m in messages(records)] == ["ok"]
    assert len(messages(records)[0].msg.headers) == MAX_HEADER_LINES
    [bad] = malformed(records)
    assert bad.reason == f"oversized: more than {MAX_HEADER_LINES} header lines"
    assert bad.transport == transport
    assert pipeline.summary.malformed == {"oversized": 1}


def test_1_mb_header_line_over_tcp_is_refused_at_64_kib_without_buffering() -> None:
    huge = b"INVITE sip:b@h SIP/2.0\r\nSubject: " + b"A" * 1_000_000 + b"\r\n\r\n"
    after = sip("OPTIONS sip:b@h SIP/2.0", call_id="after")
    stream = huge + after
    peak, (pipeline, records) = peak_while(lambda: run(tcp_frames(stream)))
    assert [m.msg.call_id for m in messages(records)] == ["after"]
    assert malformed(records) == []
    assert pipeline.summary.notes["tcp-oversize-headers"] == 1
    assert peak < 600_000, peak


def _ws_frame(payload: bytes) -> bytes:
    """An unmasked WebSocket text frame (server to client) with a 64-bit length."""
    return b"\x81\x7f" + struct.pack("!Q", len(payload)) + payload


def test_1_mb_header_line_over_websocket_is_malformed_by_the_parser() -> None:
    """WebSocket frames a message by its own length (RFC 7118), up to 1 MiB + 64 KiB; the SIP
    parser then refuses the line over 64 KiB, and says so."""
    huge = b"NOTIFY sip:b@h SIP/2.0\r\nSubject: " + b"A" * 1_000_000 + b"\r\n\r\n"
    pipeline, records = run(tcp_frames(_ws_frame(huge) + _ws_frame(sip("OPTIONS sip:b@h SIP/2.0"))))
    [bad] = malformed(records)
    assert bad.transport == "ws"
    assert bad.reason == f"oversized: a header line of 1000009 bytes (limit {MAX_LINE_BYTES})"
    assert [m.transport for m in messages(records)] == ["ws"]
    assert pipeline.summary.malformed == {"oversized": 1}


def test_websocket_frame_announcing_gigabytes_is_skipped_without_buffering() -> None:
    start = sip("OPTIONS sip:b@h SIP/2.0", call_id="first")
    announced = b"\x81\x7f" + struct.pack("!Q", 4 << 30) + b"INVITE sip:x@h SIP/2.0\r\n"
    stream = _ws_frame(start) + announced + b"z" * 3_000_000
    peak, (pipeline, records) = peak_while(lambda: run(tcp_frames(stream)))
    assert [m.msg.call_id for m in messages(records)] == ["first"]
    assert pipeline.summary.notes["ws-oversize"] == 1
    assert peak < 600_000, peak


# -- caps on tables: evictions in the summary ------------------------------------------------------


def stages(pipeline: Pipeline) -> tuple[TcpReassembler, SctpDecoder, FragmentReassembler]:
    """The capture stages of a pipeline, whose caps the tests shrink (they are public
    attributes of each stage; the pipeline builds the stages itself)."""
    decoder = pipeline._decoder
    assert isinstance(decoder.tcp, TcpReassembler)
    assert isinstance(decoder.sctp, SctpDecoder)
    return decoder.tcp, decoder.sctp, decoder.fragments


def _with_limits(monkeypatch: pytest.MonkeyPatch, limits: Limits) -> None:
    """Pipelines built from now on get a correlator with these caps."""
    monkeypatch.setattr("sipwatch.correlation.Correlator", partial(Correlator, limits=limits))


def test_exchange_cap_evicts_the_oldest_and_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    _with_limits(monkeypatch, Limits(exchanges=10))
    frames = [
        Frame(T0 + n * 0.01, 1, udp_frame(A, B, sip("OPTIONS sip:b@h SIP/2.0", call_id=f"o{n}")), 0)
        for n in range(30)
    ]
    pipeline, records = run(frames)
    assert len(messages(records)) == 30  # every message is still shown
    summary = summary_json(pipeline.summary)
    assert summary["evictions"] == {"exchanges": 20}
    # The evicted exchanges were judged when they left (no final response so far), not lost.
    assert summary["findings"] == {"no-final-response": 30}


def _call(n: int, ts: float) -> list[Frame]:
    call_id = f"call{n}"
    invite = sip("INVITE sip:b@h SIP/2.0", "Contact: <sip:a@192.0.2.1>", call_id=call_id)
    ok = sip("SIP/2.0 200 OK", "Contact: <sip:b@192.0.2.2>", call_id=call_id)
    ok = ok.replace(b"CSeq: 1 OPTIONS", b"CSeq: 1 INVITE")
    return [Frame(ts, 1, udp_frame(A, B, invite), 0), Frame(ts + 0.01, 1, udp_frame(B, A, ok), 0)]


def test_dialog_cap_evicts_the_oldest_and_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    _with_limits(monkeypatch, Limits(dialogs=10))
    frames = [f for n in range(25) for f in _call(n, T0 + n * 0.1)]
    pipeline, records = run(frames)
    assert len(messages(records)) == 50
    assert summary_json(pipeline.summary)["evictions"] == {"dialogs": 15}


def test_tcp_stream_cap_evicts_the_oldest_and_says_so() -> None:
    pipeline = Pipeline()
    stages(pipeline)[0].max_streams = 4
    frames = [
        f
        for n in range(10)
        for f in tcp_frames(sip("OPTIONS sip:b@h SIP/2.0", call_id=f"t{n}"), sport=41000 + n)
    ]
    pipeline, records = run(frames, pipeline)
    assert len(messages(records)) == 10  # each message completed before its stream was evicted
    summary = summary_json(pipeline.summary)
    assert summary["notes"]["tcp-stream-evicted"] == 6
    assert summary["evictions"] == {"tcp-streams": 6}


def test_tcp_out_of_order_cap_declares_the_hole_lost_and_says_so() -> None:
    pipeline = Pipeline()
    stages(pipeline)[0].max_buffer = 4096
    first = sip("OPTIONS sip:b@h SIP/2.0", call_id="first")
    later = b"".join(sip("OPTIONS sip:b@h SIP/2.0", call_id=f"l{n}") for n in range(30))
    lost = b"X" * 500  # never captured
    segments = list(tcp_frames(first + lost + later, size=500))
    hole = len(first) // 500 + 1  # the segment holding the start of ``lost``... and its end
    kept = [f for n, f in enumerate(segments) if n != hole]
    pipeline, records = run(kept, pipeline)
    summary = summary_json(pipeline.summary)
    assert summary["evictions"] == {"tcp-out-of-order": 1}
    assert summary["notes"]["tcp-gap"] == 1
    shown = [m.msg.call_id for m in messages(records)]
    assert shown[0] == "first" and shown[-1] == "l29"


def test_fragment_cap_evicts_the_oldest_datagrams_and_says_so() -> None:
    pipeline = Pipeline()
    stages(pipeline)[2].max_datagrams = 4
    body = b"a=x\r\n" * 600
    frames = []
    for n in range(10):  # first fragments only: these datagrams never complete
        datagram = udp_frame(A, B, sip("MESSAGE sip:b@h SIP/2.0", body=body, call_id=f"f{n}"))
        frames.append(Frame(T0 + n * 0.01, 1, ip_fragments(datagram, ident=100 + n)[0], 0))
    whole = udp_frame(A, B, sip("MESSAGE sip:b@h SIP/2.0", body=body, call_id="whole"))
    frames += [Frame(T0 + 1, 1, f, 0) for f in ip_fragments(whole, ident=999)]
    pipeline, records = run(frames, pipeline)
    assert [m.msg.call_id for m in messages(records)] == ["whole"]
    summary = summary_json(pipeline.summary)
    assert summary["evictions"] == {"ip-fragments": 7}  # 10 + 1 datagrams through 4 places
    assert summary["notes"]["ip-fragment-evicted-count"] == 7
    assert summary["notes"]["ip-fragment-incomplete-at-end"] == 3


def test_sctp_fragment_cap_drops_the_fragments_and_says_so() -> None:
    pipeline = Pipeline()
    stages(pipeline)[1].max_pending = 2000
    common = struct.pack("!HHII", 5060, 5060, 1, 0)
    frames = []
    for tsn in range(1, 40):  # a user message that never ends, 100 bytes at a time
        body = struct.pack("!IHHI", tsn, 0, 0, 0) + b"m" * 100
        chunk = struct.pack("!BBH", 0, 0x02 if tsn == 1 else 0, 4 + len(body)) + body
        frames.append(Frame(T0, 1, ip_frame(A[0], B[0], 132, common + chunk), 0))
    pipeline, _records = run(frames, pipeline)
    summary = summary_json(pipeline.summary)
    assert summary["evictions"] == {"sctp-fragments": summary["notes"]["sctp-reassembly-overflow"]}
    assert summary["evictions"]["sctp-fragments"] >= 1


def test_evictions_are_printed_in_the_terminal_summary(monkeypatch: pytest.MonkeyPatch) -> None:
    import io

    from rich.console import Console

    from sipwatch.render.terminal import TerminalRenderer

    _with_limits(monkeypatch, Limits(exchanges=2))
    frames = [
        Frame(T0, 1, udp_frame(A, B, sip("OPTIONS sip:b@h SIP/2.0", call_id=f"o{n}")), 0)
        for n in range(5)
    ]
    pipeline, _ = run(frames)
    out = io.StringIO()
    TerminalRenderer(Console(file=out, width=100, color_system=None)).summary(pipeline.summary)
    assert "evicted (limits)  exchanges 3\n" in out.getvalue()


# -- the summary's own counters --------------------------------------------------------------------


def test_method_names_are_capped_in_the_summary() -> None:
    """A scanner inventing a method per packet fills 256 names; the rest count as (other)."""
    frames = [
        Frame(T0, 1, udp_frame(A, B, sip(f"M{n:04d} sip:b@h SIP/2.0", call_id=f"m{n}")), 0)
        for n in range(300)
    ]
    pipeline, records = run(frames)
    assert len(messages(records)) == 300
    requests = summary_json(pipeline.summary)["requests"]
    assert len(requests) == 257
    assert requests["(other)"] == 44
    assert sum(requests.values()) == 300
    assert pipeline.summary.calls == 300
