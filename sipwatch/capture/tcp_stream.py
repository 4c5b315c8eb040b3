"""State of one TCP stream direction, and what the reassembler's parts share.

:class:`~sipwatch.capture.tcp.TcpReassembler` is assembled from one class per job, each in its
own module: sequence-number reassembly (:mod:`~sipwatch.capture.tcp_sequence`), deciding what
a stream carries and handing it to the right framer (:mod:`~sipwatch.capture.tcp_classify`),
and the stream table with its bounds (:mod:`~sipwatch.capture.tcp`). They call one another as
methods of the one reassembler object, so the modules cost a packet no extra call; the
declarations in :class:`TcpStage` are overridden by those classes and exist so each module can
be type-checked alone. The framing glue (framer output to Segments) lives here because every
part delivers messages.
"""

from __future__ import annotations

from collections import Counter
from typing import Final

from sipwatch.capture.tls_watch import TlsHandshakeWatch
from sipwatch.capture.types import Endpoint, Segment
from sipwatch.capture.websocket import WebSocketDeframer
from sipwatch.sip.detect import looks_like_sip
from sipwatch.sip.framing import Framed, StreamFramer

#: RFC 793 §3.3: sequence numbers live modulo 2**32; a difference below HALF means "after".
MOD: Final = 0xFFFFFFFF
HALF: Final = 0x80000000

#: Bytes charged against the reassembler's byte budget for each out-of-order segment on top
#: of its payload, so a flood of one-byte segments is bounded by the budget too.
SEGMENT_COST: Final = 64

# Stream modes.
UNKNOWN: Final = 0  # not classified yet (or not SIP so far): look at each segment start
SIP: Final = 1
TLS: Final = 2
WS: Final = 3
HS_REQUEST: Final = 4  # reading an HTTP GET header block
WS_WAIT: Final = 5  # upgrade requested; waiting for the peer's 101
HS_RESPONSE: Final = 6  # reading an HTTP 101 header block
CLOSED: Final = 7
PROBE: Final = 8  # holding a segment start that may be a SIP start line cut by the segment end
HEP: Final = 9  # HEP v3 packets, each framed by its own length (``pending`` holds a partial one)


class TcpStream:
    """State of one direction of one TCP connection."""

    __slots__ = (
        "charged",
        "dst",
        "fin_seq",
        "framer",
        "held",
        "hs",
        "key",
        "last_frame",
        "last_ts",
        "mode",
        "next_seq",
        "ooo",
        "ooo_bytes",
        "ooo_since",
        "pending",
        "src",
        "ws",
    )

    def __init__(self, key: tuple[str, int, str, int], ts: float, frame: int) -> None:
        self.key = key
        self.src: Endpoint = (key[0], key[1])
        self.dst: Endpoint = (key[2], key[3])
        self.mode = UNKNOWN
        self.next_seq = -1  # -1: not known yet (no SYN, no data)
        self.ooo: dict[int, bytes] = {}
        self.ooo_bytes = 0
        self.ooo_since = ts
        self.fin_seq = -1
        self.framer: StreamFramer | None = None
        self.ws: WebSocketDeframer | None = None
        self.hs = bytearray()  # HTTP handshake header (or probed start line) being collected
        self.held = 0  # packets whose bytes sit in ``hs`` while probing
        self.pending = bytearray()  # bytes after our upgrade request, before the peer's 101
        self.last_ts = ts
        self.last_frame = frame
        #: Bytes this stream counts for in the reassembler's byte budget (see buffered_bytes).
        self.charged = 0

    def holds_data(self) -> bool:
        """True when bytes are waiting that could still have become a message."""
        if self.ooo or self.pending or self.hs:
            return True
        if self.framer is not None and self.framer.buffered:
            return True
        return self.ws is not None and self.ws.buffered > 0

    def buffered_bytes(self) -> int:
        """Bytes held for this stream, as charged against the reassembler's byte budget.

        Out-of-order segments, a held handshake or probed start line, bytes waiting for the
        peer's 101, and what the SIP framer or WebSocket deframer holds; each out-of-order
        segment costs :data:`SEGMENT_COST` more, for the dict entry and bytes object it takes.
        """
        held = self.ooo_bytes + SEGMENT_COST * len(self.ooo) + len(self.hs) + len(self.pending)
        if self.framer is not None:
            held += self.framer.buffered
        if self.ws is not None:
            held += self.ws.buffered
        return held


class TcpStage:
    """What the parts of the TCP reassembler share: configuration, counters, the stream table,
    the packet being processed, and the glue from framer output to Segments."""

    skipped: Counter[str]
    notes: Counter[str]
    max_buffer: int
    max_segments: int
    gap_timeout: float
    _streams: dict[tuple[str, int, str, int], TcpStream]
    tls_watch: TlsHandshakeWatch
    _gaps: int
    _retransmissions: int
    _messages: int
    # Context of the packet being processed: every message it completes gets its timestamp
    # and frame number, and is appended to the output list.
    _ts: float
    _frame: int
    _out: list[Segment]

    # -- output --------------------------------------------------------------------------------

    def _framed(self, st: TcpStream, items: list[Framed]) -> None:
        """Turn SIP framer output into Segments; count problems as ``tcp-<reason>``."""
        for item in items:
            if isinstance(item, bytes):
                self._out.append(Segment(self._ts, self._frame, st.src, st.dst, "tcp", item))
                self._messages += 1
            else:
                self.notes["tcp-" + item.reason] += 1

    def _ws_messages(self, st: TcpStream, items: list[Framed]) -> None:
        """Keep the WebSocket messages that are SIP (RFC 7118 §5: one SIP message each)."""
        for item in items:
            if isinstance(item, bytes):
                if looks_like_sip(item):
                    self._out.append(Segment(self._ts, self._frame, st.src, st.dst, "ws", item))
                    self._messages += 1
                elif item.strip(b"\r\n"):
                    self.notes["ws-non-sip-message"] += 1
            else:
                self.notes[item.reason] += 1

    # -- provided by the classes in tcp, tcp_sequence and tcp_classify -------------------------

    def _open(self, key: tuple[str, int, str, int], ts: float, frame: int) -> TcpStream:
        raise NotImplementedError

    def _finish(self, st: TcpStream) -> None:
        raise NotImplementedError

    def _deliver(self, st: TcpStream, data: bytes) -> None:
        raise NotImplementedError

    def _drop_probe(self, st: TcpStream) -> None:
        raise NotImplementedError

    def _recharge(self, st: TcpStream) -> None:
        raise NotImplementedError
