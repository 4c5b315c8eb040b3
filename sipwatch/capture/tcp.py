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
* Memory across streams: the bytes all streams hold together (out-of-order segments, framer and
  deframer buffers, held handshakes; see :meth:`TcpStream.buffered_bytes`) are bounded by
  ``max_total_bytes``, 64 MiB by default. The per-stream caps above bound one stream, but not
  the sum: 65,536 streams each holding a partial message could keep gigabytes. When the total
  passes the budget, the streams whose buffered bytes changed least recently are forgotten, as
  the ``max_streams`` cap does, until it fits again; each is counted in
  ``notes["tcp-stream-evicted-bytes"]``. A later segment of such a stream starts it afresh, as
  in a capture that begins mid-connection. The total is checked after each packet, so it may
  pass the budget by one packet's worth while that packet is processed.

The parts live in their own modules, on the state of :mod:`~sipwatch.capture.tcp_stream`:
sequence handling in :mod:`~sipwatch.capture.tcp_sequence`, classification and handshakes in
:mod:`~sipwatch.capture.tcp_classify`; this module keeps the stream table and its bounds.

Framing problems are counted in ``notes`` as ``tcp-<reason>`` / ``ws-<reason>`` (see
:class:`~sipwatch.sip.framing.FramingError`).
"""

from __future__ import annotations

import struct
from collections import Counter
from typing import Final

from sipwatch.capture.tcp_classify import StreamClassification
from sipwatch.capture.tcp_sequence import SequenceReassembly
from sipwatch.capture.tcp_stream import (
    CLOSED,
    HALF,
    HS_REQUEST,
    HS_RESPONSE,
    MOD,
    PROBE,
    SIP,
    TLS,
    UNKNOWN,
    WS_WAIT,
    TcpStream,
)
from sipwatch.capture.tls_watch import TlsHandshakeWatch
from sipwatch.capture.types import Segment

__all__ = ["GAP_TIMEOUT", "IDLE_TIMEOUT", "MAX_TOTAL_BYTES", "TcpReassembler"]

_TCP: Final = struct.Struct("!HHIIH")
_FIN: Final = 0x01
_SYN: Final = 0x02
_RST: Final = 0x04

#: Default idle time after which a stream is forgotten (capture seconds).
IDLE_TIMEOUT: Final = 120.0
#: Default time a hole may stay open before its bytes are declared lost (capture seconds).
#: Generous against a real retransmission (RFC 6298 starts the timer at 1 s and doubles it),
#: short enough that a capture drop does not hold messages back for long.
GAP_TIMEOUT: Final = 10.0
#: How often :meth:`TcpReassembler.expire` really scans the streams (capture seconds).
_EXPIRE_EVERY: Final = 5.0
#: Default bound on the bytes all streams together may hold (see :meth:`TcpStream.buffered_bytes`).
MAX_TOTAL_BYTES: Final = 64 << 20


class TcpReassembler(SequenceReassembly, StreamClassification):
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
        max_total_bytes: int = MAX_TOTAL_BYTES,
    ) -> None:
        self.skipped = skipped
        self.notes: Counter[str] = notes if notes is not None else Counter()
        self.max_streams = max_streams
        self.max_buffer = max_buffer
        self.max_segments = max_segments
        self.idle_timeout = idle_timeout
        self.gap_timeout = gap_timeout
        self.max_total_bytes = max_total_bytes
        self._streams: dict[tuple[str, int, str, int], TcpStream] = {}
        #: TLS handshake failures visible without keys (alerts, unanswered ClientHellos).
        self.tls_watch = TlsHandshakeWatch()
        #: Streams holding bytes, least recently changed first (a dict keeps insertion order).
        self._holding: dict[TcpStream, None] = {}
        self._bytes_held = 0
        self._next_expire = float("-inf")
        self._gaps = 0
        self._retransmissions = 0
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
    def active_streams(self) -> int:
        """Stream directions currently tracked."""
        return len(self._streams)

    @property
    def messages(self) -> int:
        """SIP messages returned so far (TCP and WebSocket)."""
        return self._messages

    @property
    def bytes_held(self) -> int:
        """Bytes all streams hold now, as counted against ``max_total_bytes``."""
        return self._bytes_held

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
        if mode == SIP and seq == st.next_seq and not flags & 0x07 and not st.ooo:
            # Fast path: the next in-order segment of a SIP stream.
            framer = st.framer
            if framer is not None and st.fin_seq < 0:
                payload = bytes(tcp[head:])
                st.next_seq = (seq + size - head) & MOD
                src = st.src
                dst = st.dst
                for item in framer.feed(payload):
                    if isinstance(item, bytes):
                        out.append(Segment(ts, frame, src, dst, "tcp", item))
                    else:
                        self.notes["tcp-" + item.reason] += 1
                self._messages += len(out)
                # In SIP mode nothing but the framer holds bytes (no handshake, no probe, no
                # out-of-order segment on this path), so this is the stream's whole share.
                held = framer.buffered
                if held != st.charged:
                    self._charge(st, held)
                return out
        self._out = out
        if flags & (_SYN | _RST | _FIN):
            self._control(st, seq, flags, bytes(tcp[head:]))
        elif size > head:
            if mode == TLS:
                # Encrypted: not reassembled; only the records at its start are looked at.
                self.skipped["tls-encrypted"] += 1
                self.tls_watch.segment(st.src, st.dst, ts, frame, bytes(tcp[head : head + 7]))
            else:
                self._data(st, seq, bytes(tcp[head:]))
        # A SYN may have replaced the stream under this key; charge the one in the table.
        current = self._streams.get(key)
        if current is not None:
            self._recharge(current)
        return out

    def expire(self, ts: float) -> None:
        """Forget streams idle for ``idle_timeout`` seconds of capture time.

        Bytes still waiting in such a stream are counted, not returned: a capture that went
        quiet that long will not complete them.
        """
        self.tls_watch.expire(ts)
        if ts < self._next_expire:
            return
        self._next_expire = ts + _EXPIRE_EVERY
        limit = ts - self.idle_timeout
        stale = [key for key, st in self._streams.items() if st.last_ts < limit]
        for key in stale:
            st = self._streams.pop(key)
            self._uncharge(st)
            if st.mode != CLOSED:
                self.notes["tcp-stream-expired"] += 1
                if st.holds_data():
                    self.notes["tcp-incomplete-expired"] += 1

    def flush(self) -> list[Segment]:
        """End of capture: deliver what follows any hole, report what stays incomplete."""
        out: list[Segment] = []
        self._out = out
        last = max((st.last_ts for st in self._streams.values()), default=None)
        if last is not None:
            self.tls_watch.expire(last, final=True)
        for st in list(self._streams.values()):
            if st.mode != CLOSED:
                self._ts = st.last_ts
                self._frame = st.last_frame
                self._finish(st)
        self._streams.clear()
        self._holding.clear()
        self._bytes_held = 0
        return out

    # -- stream bookkeeping --------------------------------------------------------------------

    def _open(self, key: tuple[str, int, str, int], ts: float, frame: int) -> TcpStream:
        streams = self._streams
        if len(streams) >= self.max_streams:
            old_key = next(iter(streams))
            old = streams.pop(old_key)
            self._uncharge(old)
            self.notes["tcp-stream-evicted"] += 1
            if old.mode != CLOSED and old.holds_data():
                self.notes["tcp-incomplete-evicted"] += 1
        st = TcpStream(key, ts, frame)
        streams[key] = st
        return st

    def _control(self, st: TcpStream, seq: int, flags: int, payload: bytes) -> None:
        """Slow path for segments with SYN, FIN or RST."""
        if flags & _SYN:
            isn_next = (seq + 1) & MOD
            if st.next_seq != isn_next and (st.next_seq >= 0 or st.mode != UNKNOWN):
                # RFC 793 §3.4: a SYN with a new ISN on this 4-tuple is a new connection.
                if st.mode != CLOSED:
                    self._finish(st)
                del self._streams[st.key]
                self._uncharge(st)
                st = self._open(st.key, self._ts, self._frame)
            if st.next_seq < 0:
                st.next_seq = isn_next
            seq = isn_next
        if flags & _RST:
            if st.mode != CLOSED:
                self._finish(st)
            return
        if st.mode == CLOSED:
            if payload:
                self._old_or_late(st, seq, len(payload))
            return
        if payload:
            if st.mode == TLS:
                self.skipped["tls-encrypted"] += 1
                self.tls_watch.segment(st.src, st.dst, self._ts, self._frame, payload[:7])
            else:
                self._data(st, seq, payload)
        if flags & _FIN and st.mode != CLOSED:
            st.fin_seq = (seq + len(payload)) & MOD
            if st.next_seq < 0 or st.next_seq == st.fin_seq or st.mode == TLS:
                self._finish(st)

    def _old_or_late(self, st: TcpStream, seq: int, length: int) -> None:
        """Data on a closed direction: a retransmission, or bytes after FIN (counted)."""
        rel = (seq - st.next_seq) & MOD
        if rel >= HALF and MOD + 1 - rel >= length:
            self._retransmissions += 1
            self.notes["tcp-retransmission"] += 1
        else:
            self.notes["tcp-data-after-close"] += 1

    def _finish(self, st: TcpStream) -> None:
        """Close a direction: skip remaining holes, deliver, report leftovers, drop buffers."""
        while st.ooo:
            self._skip_gap(st)
        framer = st.framer
        if framer is not None:
            self._framed(st, framer.close())
        ws = st.ws
        if ws is not None:
            self._ws_messages(st, ws.close())
        if st.mode in (HS_REQUEST, HS_RESPONSE, WS_WAIT) and (st.hs or st.pending):
            self.notes["ws-handshake-incomplete"] += 1
        elif st.mode == PROBE:
            self._drop_probe(st)
        st.mode = CLOSED
        st.framer = None
        st.ws = None
        st.hs = bytearray()
        st.pending = bytearray()

    # -- byte budget across streams ------------------------------------------------------------

    def _recharge(self, st: TcpStream) -> None:
        """Bring ``st``'s share of the byte budget up to date with what it now holds."""
        held = st.buffered_bytes()
        if held != st.charged:
            self._charge(st, held)

    def _charge(self, st: TcpStream, held: int) -> None:
        """Count ``held`` bytes for ``st`` (now the most recently changed); evict if over."""
        holding = self._holding
        if st.charged:
            del holding[st]
        self._bytes_held += held - st.charged
        st.charged = held
        if held:
            holding[st] = None
            if self._bytes_held > self.max_total_bytes:
                self._evict_for_budget()

    def _uncharge(self, st: TcpStream) -> None:
        """A stream leaves the table: its bytes no longer count."""
        if st.charged:
            del self._holding[st]
            self._bytes_held -= st.charged
            st.charged = 0

    def _evict_for_budget(self) -> None:
        """Forget the streams whose bytes changed least recently until the total fits."""
        holding = self._holding
        streams = self._streams
        while self._bytes_held > self.max_total_bytes and holding:
            victim = next(iter(holding))
            self._uncharge(victim)
            if streams.get(victim.key) is victim:
                del streams[victim.key]
            self.notes["tcp-stream-evicted-bytes"] += 1
