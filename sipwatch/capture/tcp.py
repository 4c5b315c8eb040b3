"""TCP stream reassembly and SIP extraction, one direction of a connection at a time.

Each direction is a stream keyed by ``(src_ip, sport, dst_ip, dport)``. Its bytes are put back in
order using RFC 793 §3.3 sequence numbers, compared modulo 2**32 so wrap-around is harmless, and
then handed to whatever the stream turned out to carry:

* SIP: :class:`~sipwatch.sip.framing.StreamFramer` cuts it into messages by Content-Length
  (RFC 3261 §18.3), one :class:`Segment` (``transport="tcp"``) per message;
* WebSocket after an HTTP upgrade (RFC 6455 §4, RFC 7118): both directions switch to
  :class:`~sipwatch.capture.websocket.WebSocketDeframer` once the ``101`` response is seen, one
  Segment (``transport="ws"``) per WebSocket message that is SIP;
* TLS (a TLS record header, RFC 8446 §5.1: content type 20-23, version major 3): encrypted SIP
  cannot be read without keys, so each such packet is counted in ``skipped["tls-encrypted"]``
  (and each stream once in ``notes["tls-streams"]``) rather than ignored silently;
* anything else: each data packet is counted in ``skipped["non-sip-tcp"]``, and the next
  in-order segment is looked at again, so a capture that starts in the middle of a SIP stream
  picks it up as soon as a segment begins with a SIP start line. A segment start made of text
  without a line end is held (up to one start line's length) until its line is complete, because
  a sender may write the start line in a segment of its own. A WebSocket frame carrying SIP at a
  segment start is recognised too, for captures that begin after the handshake.

Only SIP start lines at segment starts are looked for in unclassified streams: searching inside
every segment of every non-SIP stream would cost time on all traffic and turn SIP quoted inside
other protocols (web pages, logs) into false messages.

Reassembly decisions:

* A stream may start without a SYN (the capture began mid-connection): the first data segment
  sets the expected sequence number. A SYN sets it to ISN + 1 (SYN occupies one sequence number,
  RFC 793 §3.3); a SYN with a different ISN on a known 4-tuple starts a new connection.
* Sequence numbers are compared as 32-bit signed differences (RFC 793 §3.3, RFC 1982 style):
  a segment is "behind" when it starts less than 2**31 before the expected number.
* Retransmissions (bytes already delivered) are dropped and counted in
  ``notes["tcp-retransmission"]``. When a retransmission overlaps new bytes, or two buffered
  segments overlap, the bytes that arrived first win: that is what most stacks deliver, and it
  keeps output stable whatever a sender re-sends.
* Segments ahead of the expected sequence number wait in a bounded out-of-order buffer. When it
  holds more than ``max_buffer`` bytes or ``max_segments`` segments, or its oldest segment has
  waited ``gap_timeout`` seconds of capture time, the missing bytes are declared lost (capture
  drop): counted in ``notes["tcp-gap"]``, the framer is told (it resynchronises on the next SIP
  start line), and the buffered data is delivered. Flush and FIN/RST do the same for what is left.
* FIN closes a direction once every byte before it has arrived; the stream is kept (without
  buffers) until it goes idle so late retransmissions are still recognised. RST closes it at once.
* Memory: at most ``max_streams`` streams (the oldest is evicted, ``notes["tcp-stream-evicted"]``),
  and streams idle for ``idle_timeout`` seconds of capture time are dropped by :meth:`expire`
  (``notes["tcp-stream-expired"]``, plus ``notes["tcp-incomplete-expired"]`` when data was
  still waiting).

Framing problems are counted in ``notes`` as ``tcp-<reason>`` / ``ws-<reason>`` (see
:class:`~sipwatch.sip.framing.FramingError`).
"""

from __future__ import annotations

import struct
from collections import Counter
from typing import Final

from sipwatch.capture.types import Endpoint, Segment
from sipwatch.capture.websocket import (
    WebSocketDeframer,
    frame_carries_sip,
    is_upgrade_request,
    upgrade_response,
)
from sipwatch.sip.detect import looks_like_sip
from sipwatch.sip.framing import MAX_START_LINE, Framed, StreamFramer

_TCP: Final = struct.Struct("!HHIIH")
_FIN: Final = 0x01
_SYN: Final = 0x02
_RST: Final = 0x04
_MOD: Final = 0xFFFFFFFF
_HALF: Final = 0x80000000

#: Default idle time after which a stream is forgotten (capture seconds).
IDLE_TIMEOUT: Final = 120.0
#: Default time a hole may stay open before its bytes are declared lost (capture seconds).
#: Generous against a real retransmission (RFC 6298 starts the timer at 1 s and doubles it),
#: short enough that a capture drop does not hold messages back for long.
GAP_TIMEOUT: Final = 10.0
#: How often :meth:`TcpReassembler.expire` really scans the streams (capture seconds).
_EXPIRE_EVERY: Final = 5.0
#: Bound on an HTTP upgrade header block and on bytes waiting for the 101 response.
_MAX_HANDSHAKE: Final = 64 * 1024

# Stream modes.
_UNKNOWN: Final = 0  # not classified yet (or not SIP so far): look at each segment start
_SIP: Final = 1
_TLS: Final = 2
_WS: Final = 3
_HS_REQUEST: Final = 4  # reading an HTTP GET header block
_WS_WAIT: Final = 5  # upgrade requested; waiting for the peer's 101
_HS_RESPONSE: Final = 6  # reading an HTTP 101 header block
_CLOSED: Final = 7
_PROBE: Final = 8  # holding a segment start that may be a SIP start line cut by the segment end

#: First bytes of a WebSocket frame that may start a text/binary message (FIN, RSV1 optional).
_WS_FIRST: Final = frozenset({0x01, 0x02, 0x81, 0x82})


def _is_tls_record(data: bytes) -> bool:
    """RFC 8446 §5.1 / RFC 5246 §6.2.1 record header: type 20-23, then version 3.x (x <= 4)."""
    return len(data) >= 3 and 0x14 <= data[0] <= 0x17 and data[1] == 3 and data[2] <= 4


class _Stream:
    """State of one direction of one TCP connection."""

    __slots__ = (
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
        self.mode = _UNKNOWN
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

    def holds_data(self) -> bool:
        """True when bytes are waiting that could still have become a message."""
        if self.ooo or self.pending or self.hs:
            return True
        if self.framer is not None and self.framer.buffered:
            return True
        return self.ws is not None and self.ws.buffered > 0


class TcpReassembler:
    """Reassemble TCP streams and return one Segment per SIP message found in them.

    ``skipped`` counts packets that yield nothing (``non-sip-tcp``, ``tls-encrypted``,
    ``truncated-tcp``, ``bad-tcp-header``); ``notes`` counts stream events that do not stop
    decoding (gaps, retransmissions, framing problems). Pass the decoder's counters so the
    summary shows them.
    """

    def __init__(
        self,
        skipped: Counter[str],
        notes: Counter[str] | None = None,
        max_streams: int = 65536,
        max_buffer: int = 1 << 20,
        *,
        max_segments: int = 1024,
        idle_timeout: float = IDLE_TIMEOUT,
        gap_timeout: float = GAP_TIMEOUT,
    ) -> None:
        self.skipped = skipped
        self.notes: Counter[str] = notes if notes is not None else Counter()
        self.max_streams = max_streams
        self.max_buffer = max_buffer
        self.max_segments = max_segments
        self.idle_timeout = idle_timeout
        self.gap_timeout = gap_timeout
        self._streams: dict[tuple[str, int, str, int], _Stream] = {}
        self._next_expire = float("-inf")
        self._gaps = 0
        self._retransmissions = 0
        self._streams_seen = 0
        self._messages = 0
        # Context of the packet being processed: every message it completes gets its
        # timestamp and frame number, and is appended to the output list.
        self._ts = 0.0
        self._frame = 0
        self._out: list[Segment] = []

    # -- summary figures -----------------------------------------------------------------------

    @property
    def gaps(self) -> int:
        """Holes declared lost (bytes the capture never saw)."""
        return self._gaps

    @property
    def retransmissions(self) -> int:
        """Segments whose bytes had all been delivered already."""
        return self._retransmissions

    @property
    def streams_seen(self) -> int:
        """Stream directions created since the start."""
        return self._streams_seen

    @property
    def active_streams(self) -> int:
        """Stream directions currently tracked."""
        return len(self._streams)

    @property
    def messages(self) -> int:
        """SIP messages returned so far (TCP and WebSocket)."""
        return self._messages

    # -- feeding -------------------------------------------------------------------------------

    def feed(
        self, ts: float, frame: int, src_ip: str, dst_ip: str, tcp: bytes | memoryview
    ) -> list[Segment]:
        """Take one TCP segment (header and payload); return the SIP messages it completes."""
        size = len(tcp)
        if size < 20:
            self.skipped["truncated-tcp"] += 1
            return []
        sport, dport, seq, _ack, off_flags = _TCP.unpack_from(tcp, 0)
        head = (off_flags >> 10) & 0x3C  # RFC 793 §3.1 data offset, in 32-bit words
        if head < 20 or head > size:
            self.skipped["bad-tcp-header"] += 1
            return []
        flags = off_flags & 0x3F
        key = (src_ip, sport, dst_ip, dport)
        st = self._streams.get(key)
        if st is None:
            if size == head and not flags & _SYN:
                return []  # a bare ACK/FIN/RST of a connection we know nothing about
            st = self._open(key, ts, frame)
        st.last_ts = self._ts = ts
        st.last_frame = self._frame = frame
        out: list[Segment] = []
        if size == head and not flags & 0x07:
            return out  # a bare ACK
        mode = st.mode
        if mode == _SIP and seq == st.next_seq and not flags & 0x07 and not st.ooo:
            # Fast path: the next in-order segment of a SIP stream.
            framer = st.framer
            if framer is not None and st.fin_seq < 0:
                payload = bytes(tcp[head:])
                st.next_seq = (seq + size - head) & _MOD
                src = st.src
                dst = st.dst
                for item in framer.feed(payload):
                    if isinstance(item, bytes):
                        out.append(Segment(ts, frame, src, dst, "tcp", item))
                    else:
                        self.notes["tcp-" + item.reason] += 1
                self._messages += len(out)
                return out
        self._out = out
        if flags & (_SYN | _RST | _FIN):
            self._control(st, seq, flags, bytes(tcp[head:]))
        elif size > head:
            if mode == _TLS:
                self.skipped["tls-encrypted"] += 1
            else:
                self._data(st, seq, bytes(tcp[head:]))
        return out

    def expire(self, ts: float) -> None:
        """Forget streams idle for ``idle_timeout`` seconds of capture time.

        Bytes still waiting in such a stream are counted, not returned: a capture that went
        quiet that long will not complete them.
        """
        if ts < self._next_expire:
            return
        self._next_expire = ts + _EXPIRE_EVERY
        limit = ts - self.idle_timeout
        stale = [key for key, st in self._streams.items() if st.last_ts < limit]
        for key in stale:
            st = self._streams.pop(key)
            if st.mode != _CLOSED:
                self.notes["tcp-stream-expired"] += 1
                if st.holds_data():
                    self.notes["tcp-incomplete-expired"] += 1

    def flush(self) -> list[Segment]:
        """End of capture: deliver what follows any hole, report what stays incomplete."""
        out: list[Segment] = []
        self._out = out
        for st in list(self._streams.values()):
            if st.mode != _CLOSED:
                self._ts = st.last_ts
                self._frame = st.last_frame
                self._finish(st)
        self._streams.clear()
        return out

    # -- stream bookkeeping --------------------------------------------------------------------

    def _open(self, key: tuple[str, int, str, int], ts: float, frame: int) -> _Stream:
        streams = self._streams
        if len(streams) >= self.max_streams:
            old_key = next(iter(streams))
            old = streams.pop(old_key)
            self.notes["tcp-stream-evicted"] += 1
            if old.mode != _CLOSED and old.holds_data():
                self.notes["tcp-incomplete-evicted"] += 1
        st = _Stream(key, ts, frame)
        streams[key] = st
        self._streams_seen += 1
        return st

    def _control(self, st: _Stream, seq: int, flags: int, payload: bytes) -> None:
        """Slow path for segments with SYN, FIN or RST."""
        if flags & _SYN:
            isn_next = (seq + 1) & _MOD
            if st.next_seq != isn_next and (st.next_seq >= 0 or st.mode != _UNKNOWN):
                # RFC 793 §3.4: a SYN with a new ISN on this 4-tuple is a new connection.
                if st.mode != _CLOSED:
                    self._finish(st)
                del self._streams[st.key]
                st = self._open(st.key, self._ts, self._frame)
            if st.next_seq < 0:
                st.next_seq = isn_next
            seq = isn_next
        if flags & _RST:
            if st.mode != _CLOSED:
                self._finish(st)
            return
        if st.mode == _CLOSED:
            if payload:
                self._old_or_late(st, seq, len(payload))
            return
        if payload:
            if st.mode == _TLS:
                self.skipped["tls-encrypted"] += 1
            else:
                self._data(st, seq, payload)
        if flags & _FIN and st.mode != _CLOSED:
            st.fin_seq = (seq + len(payload)) & _MOD
            if st.next_seq < 0 or st.next_seq == st.fin_seq or st.mode == _TLS:
                self._finish(st)

    def _old_or_late(self, st: _Stream, seq: int, length: int) -> None:
        """Data on a closed direction: a retransmission, or bytes after FIN (counted)."""
        rel = (seq - st.next_seq) & _MOD
        if rel >= _HALF and _MOD + 1 - rel >= length:
            self._retransmissions += 1
            self.notes["tcp-retransmission"] += 1
        else:
            self.notes["tcp-data-after-close"] += 1

    def _finish(self, st: _Stream) -> None:
        """Close a direction: skip remaining holes, deliver, report leftovers, drop buffers."""
        while st.ooo:
            self._skip_gap(st)
        framer = st.framer
        if framer is not None:
            self._framed(st, framer.close())
        ws = st.ws
        if ws is not None:
            self._ws_messages(st, ws.close())
        if st.mode in (_HS_REQUEST, _HS_RESPONSE, _WS_WAIT) and (st.hs or st.pending):
            self.notes["ws-handshake-incomplete"] += 1
        elif st.mode == _PROBE:
            self._drop_probe(st)
        st.mode = _CLOSED
        st.framer = None
        st.ws = None
        st.hs = bytearray()
        st.pending = bytearray()

    # -- sequence handling ---------------------------------------------------------------------

    def _data(self, st: _Stream, seq: int, payload: bytes) -> None:
        """Place one segment's payload in its stream (RFC 793 §3.3 modular comparisons)."""
        nxt = st.next_seq
        if nxt < 0:
            nxt = st.next_seq = seq
        rel = (seq - nxt) & _MOD
        if rel == 0:
            st.next_seq = (seq + len(payload)) & _MOD
            self._deliver(st, payload)
            if st.ooo:
                self._drain(st)
        elif rel >= _HALF:
            behind = _MOD + 1 - rel
            if behind >= len(payload):
                self._retransmissions += 1
                self.notes["tcp-retransmission"] += 1
                return
            # Partly new: the bytes already delivered win (first copy wins).
            self.notes["tcp-overlap"] += 1
            st.next_seq = (seq + len(payload)) & _MOD
            self._deliver(st, payload[behind:])
            if st.ooo:
                self._drain(st)
        else:
            self._hold(st, seq, payload)
        if st.fin_seq >= 0 and st.next_seq == st.fin_seq and st.mode != _CLOSED:
            self._finish(st)

    def _hold(self, st: _Stream, seq: int, payload: bytes) -> None:
        """Buffer a segment that is ahead of the expected sequence number."""
        ooo = st.ooo
        if not ooo:
            st.ooo_since = self._ts
        old = ooo.get(seq)
        if old is not None:
            if len(old) >= len(payload):
                self._retransmissions += 1
                self.notes["tcp-retransmission"] += 1
                return
            payload = old + payload[len(old) :]
            st.ooo_bytes -= len(old)
        ooo[seq] = payload
        st.ooo_bytes += len(payload)
        self.notes["tcp-out-of-order"] += 1
        if st.ooo_bytes > self.max_buffer or len(ooo) > self.max_segments:
            # The cap, not the timer, declared the hole lost: say so apart from ``tcp-gap``.
            self.notes["tcp-out-of-order-overflow"] += 1
            self._skip_gap(st)
        elif self._ts - st.ooo_since > self.gap_timeout:
            self._skip_gap(st)

    def _drain(self, st: _Stream) -> None:
        """Deliver buffered segments that now continue the stream."""
        ooo = st.ooo
        while ooo and st.mode != _CLOSED:
            nxt = st.next_seq
            data = ooo.pop(nxt, None)
            if data is None:
                # No exact fit: drop segments now entirely old, trim one that overlaps.
                for seq in list(ooo):
                    rel = (seq - nxt) & _MOD
                    if rel < _HALF:
                        continue
                    data = ooo.pop(seq)
                    st.ooo_bytes -= len(data)
                    behind = _MOD + 1 - rel
                    if behind < len(data):
                        self.notes["tcp-overlap"] += 1
                        data = data[behind:]
                        break
                    data = None
                if data is None:
                    return
            else:
                st.ooo_bytes -= len(data)
            st.next_seq = (nxt + len(data)) & _MOD
            self._deliver(st, data)
        if not ooo:
            st.ooo_bytes = 0

    def _skip_gap(self, st: _Stream) -> None:
        """Declare the bytes up to the earliest buffered segment lost, then continue there."""
        nxt = st.next_seq
        first = min(st.ooo, key=lambda seq: (seq - nxt) & _MOD)
        missing = (first - nxt) & _MOD
        self._gaps += 1
        self.notes["tcp-gap"] += 1
        if st.framer is not None:
            self._framed(st, st.framer.gap(missing))
        if st.ws is not None:
            self._ws_messages(st, st.ws.gap(missing))
        if st.mode in (_HS_REQUEST, _HS_RESPONSE, _WS_WAIT):
            # A hole in the handshake: give up on it, look at later segments afresh.
            st.mode = _UNKNOWN
            st.hs = bytearray()
            st.pending = bytearray()
        elif st.mode == _PROBE:
            self._drop_probe(st)
        st.next_seq = first
        self._drain(st)

    # -- content -------------------------------------------------------------------------------

    def _deliver(self, st: _Stream, data: bytes) -> None:
        """Hand in-order stream bytes (one segment's worth) to the stream's consumer."""
        mode = st.mode
        if mode == _SIP:
            framer = st.framer
            if framer is not None:
                self._framed(st, framer.feed(data))
        elif mode == _WS:
            ws = st.ws
            if ws is not None:
                self._ws_messages(st, ws.feed(data))
        elif mode == _UNKNOWN:
            self._classify(st, data)
        elif mode == _TLS:
            self.skipped["tls-encrypted"] += 1
        elif mode == _WS_WAIT:
            if len(st.pending) + len(data) > _MAX_HANDSHAKE:
                self.notes["ws-handshake-unanswered"] += 1
                st.pending = bytearray()
                st.mode = _UNKNOWN
            else:
                st.pending += data
        elif mode in (_HS_REQUEST, _HS_RESPONSE):
            self._handshake(st, data)
        elif mode == _PROBE:
            self._probe(st, data)

    def _classify(self, st: _Stream, data: bytes, packets: int = 1) -> None:
        """Decide what an unclassified stream carries from the bytes at a segment start.

        ``packets`` is how many packets ``data`` came from (more than one after probing).
        """
        body = data.lstrip(b"\r\n") if data[:1] in (b"\r", b"\n") else data
        if not body:
            return  # CRLF keep-alive (RFC 5626 §4.4.1) before anything else
        first = body[0]
        if 65 <= first <= 90 or 97 <= first <= 122:
            if looks_like_sip(body):
                st.mode = _SIP
                st.framer = StreamFramer()
                self._framed(st, st.framer.feed(data))
                return
            if body.startswith(b"GET "):
                st.mode = _HS_REQUEST
                self._handshake(st, body)
                return
            if body.startswith((b"HTTP/1.1 101", b"HTTP/1.0 101")):
                st.mode = _HS_RESPONSE
                self._handshake(st, body)
                return
            if b"\n" not in body and len(body) < MAX_START_LINE:
                # Possibly a start line cut by the segment end (small first segments, or a
                # sender writing the start line on its own): hold it until its line ends.
                st.mode = _PROBE
                st.hs = bytearray(data)
                st.held = packets
                return
        elif 0x14 <= first <= 0x17 and (_is_tls_record(body) or self._peer_is_tls(st)):
            st.mode = _TLS
            self.notes["tls-streams"] += 1
            self.skipped["tls-encrypted"] += 1
            return
        elif first in _WS_FIRST and frame_carries_sip(body):
            # A WebSocket stream whose handshake is not in the capture.
            self.notes["ws-without-handshake"] += 1
            st.mode = _WS
            st.ws = WebSocketDeframer()
            self._ws_messages(st, st.ws.feed(body))
            return
        self.skipped["non-sip-tcp"] += packets

    def _probe(self, st: _Stream, data: bytes) -> None:
        """Add bytes to a held segment start; classify once its first line is complete."""
        st.hs += data
        st.held += 1
        if b"\n" in data or len(st.hs) >= MAX_START_LINE:
            held = bytes(st.hs)
            packets = st.held
            st.hs = bytearray()
            st.held = 0
            st.mode = _UNKNOWN
            self._classify(st, held, packets)

    def _drop_probe(self, st: _Stream) -> None:
        """A probe that will not complete (hole or end of stream): its packets were not SIP."""
        self.skipped["non-sip-tcp"] += st.held
        st.hs = bytearray()
        st.held = 0
        st.mode = _UNKNOWN

    def _peer(self, st: _Stream) -> _Stream | None:
        """The other direction of the same connection, if seen."""
        key = st.key
        return self._streams.get((key[2], key[3], key[0], key[1]))

    def _peer_is_tls(self, st: _Stream) -> bool:
        """Mid-capture TLS: a record at a segment start whose other direction is TLS."""
        peer = self._peer(st)
        return peer is not None and peer.mode == _TLS

    def _handshake(self, st: _Stream, data: bytes) -> None:
        """Collect an HTTP upgrade request or 101 response and act on it (RFC 6455 §4)."""
        self.notes["ws-handshake-packet"] += 1
        st.hs += data
        end = st.hs.find(b"\r\n\r\n")
        if end < 0:
            if len(st.hs) > _MAX_HANDSHAKE:
                self.notes["ws-handshake-oversize"] += 1
                st.hs = bytearray()
                st.mode = _UNKNOWN
            return
        head = bytes(st.hs[: end + 4])
        rest = bytes(st.hs[end + 4 :])
        st.hs = bytearray()
        peer = self._peer(st)
        if st.mode == _HS_REQUEST:
            if not is_upgrade_request(head):
                st.mode = _UNKNOWN
                return
            if peer is not None and peer.mode == _WS:
                # The 101 was captured first (merged captures): switch now.
                self._to_websocket(st, rest)
                return
            st.mode = _WS_WAIT
            st.pending = bytearray(rest)
            return
        switched, _ = upgrade_response(head)  # RSV1 is honoured per frame whatever was agreed
        if not switched:
            st.mode = _UNKNOWN
            return
        # RFC 6455 §4.1: after a 101 both directions speak WebSocket.
        self.notes["ws-upgrade"] += 1
        self._to_websocket(st, rest)
        if peer is None:
            key = st.key
            peer = self._open((key[2], key[3], key[0], key[1]), self._ts, self._frame)
        if peer.mode in (_WS_WAIT, _UNKNOWN, _HS_REQUEST):
            pending = bytes(peer.pending)
            peer.pending = bytearray()
            peer.hs = bytearray()
            self._to_websocket(peer, pending)

    def _to_websocket(self, st: _Stream, data: bytes) -> None:
        st.mode = _WS
        st.ws = WebSocketDeframer()
        if data:
            self._ws_messages(st, st.ws.feed(data))

    # -- output --------------------------------------------------------------------------------

    def _framed(self, st: _Stream, items: list[Framed]) -> None:
        """Turn SIP framer output into Segments; count problems as ``tcp-<reason>``."""
        for item in items:
            if isinstance(item, bytes):
                self._out.append(Segment(self._ts, self._frame, st.src, st.dst, "tcp", item))
                self._messages += 1
            else:
                self.notes["tcp-" + item.reason] += 1

    def _ws_messages(self, st: _Stream, items: list[Framed]) -> None:
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
