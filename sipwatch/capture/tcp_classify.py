"""What a TCP stream carries (SIP, WebSocket, TLS or something else), and handing it over.

A stream is classified from the bytes at a segment start (see :mod:`sipwatch.capture.tcp` for
the rules): a SIP start line switches it to :class:`~sipwatch.sip.framing.StreamFramer`, an
HTTP upgrade handshake (RFC 6455 §4, RFC 7118) to
:class:`~sipwatch.capture.websocket.WebSocketDeframer` once the ``101`` is seen, a TLS record
header to "encrypted, counted". Only segment starts are looked at: searching inside every
segment of every non-SIP stream would cost time on all traffic and turn SIP quoted inside other
protocols (web pages, logs) into false messages.
"""

from __future__ import annotations

from typing import Final

from sipwatch.capture.hep import HEP3_HEADER, HEP3_MAGIC, hep3_length, hep_segments
from sipwatch.capture.tcp_stream import (
    HEP,
    HS_REQUEST,
    HS_RESPONSE,
    PROBE,
    SIP,
    TLS,
    UNKNOWN,
    WS,
    WS_WAIT,
    TcpStage,
    TcpStream,
)
from sipwatch.capture.websocket import (
    WebSocketDeframer,
    frame_carries_sip,
    is_upgrade_request,
    upgrade_response,
)
from sipwatch.sip.detect import looks_like_sip
from sipwatch.sip.framing import MAX_START_LINE, StreamFramer

#: Bound on an HTTP upgrade header block and on bytes waiting for the 101 response.
_MAX_HANDSHAKE: Final = 64 * 1024


#: First bytes of a WebSocket frame that may start a text/binary message (FIN, RSV1 optional).
_WS_FIRST: Final = frozenset({0x01, 0x02, 0x81, 0x82})


def _is_tls_record(data: bytes) -> bool:
    """RFC 8446 §5.1 / RFC 5246 §6.2.1 record header: type 20-23, then version 3.x (x <= 4)."""
    return len(data) >= 3 and 0x14 <= data[0] <= 0x17 and data[1] == 3 and data[2] <= 4


class StreamClassification(TcpStage):
    """Decide what each stream carries and feed its bytes to the matching framer."""

    def _deliver(self, st: TcpStream, data: bytes) -> None:
        """Hand in-order stream bytes (one segment's worth) to the stream's consumer."""
        mode = st.mode
        if mode == SIP:
            framer = st.framer
            if framer is not None:
                self._framed(st, framer.feed(data))
        elif mode == WS:
            ws = st.ws
            if ws is not None:
                self._ws_messages(st, ws.feed(data))
        elif mode == UNKNOWN:
            self._classify(st, data)
        elif mode == HEP:
            self._hep(st, data)
        elif mode == TLS:
            self.skipped["tls-encrypted"] += 1
            self.tls_watch.segment(st.src, st.dst, self._ts, self._frame, data)
        elif mode == WS_WAIT:
            if len(st.pending) + len(data) > _MAX_HANDSHAKE:
                self.notes["ws-handshake-unanswered"] += 1
                st.pending = bytearray()
                st.mode = UNKNOWN
            else:
                st.pending += data
        elif mode in (HS_REQUEST, HS_RESPONSE):
            self._handshake(st, data)
        elif mode == PROBE:
            self._probe(st, data)

    def _classify(self, st: TcpStream, data: bytes, packets: int = 1) -> None:
        """Decide what an unclassified stream carries from the bytes at a segment start.

        ``packets`` is how many packets ``data`` came from (more than one after probing).
        """
        body = data.lstrip(b"\r\n") if data[:1] in (b"\r", b"\n") else data
        if not body:
            return  # CRLF keep-alive (RFC 5626 §4.4.1) before anything else
        first = body[0]
        if 65 <= first <= 90 or 97 <= first <= 122:
            if looks_like_sip(body):
                st.mode = SIP
                st.framer = StreamFramer()
                self._framed(st, st.framer.feed(data))
                return
            if body.startswith(HEP3_MAGIC):
                # HEP over TCP (a capture agent's connection to its collector).
                st.mode = HEP
                self.notes["hep-tcp-streams"] += 1
                self._hep(st, body)
                return
            if body.startswith(b"GET "):
                st.mode = HS_REQUEST
                self._handshake(st, body)
                return
            if body.startswith((b"HTTP/1.1 101", b"HTTP/1.0 101")):
                st.mode = HS_RESPONSE
                self._handshake(st, body)
                return
            if b"\n" not in body and len(body) < MAX_START_LINE:
                # Possibly a start line cut by the segment end (small first segments, or a
                # sender writing the start line on its own): hold it until its line ends.
                st.mode = PROBE
                st.hs = bytearray(data)
                st.held = packets
                return
        elif 0x14 <= first <= 0x17 and (_is_tls_record(body) or self._peer_is_tls(st)):
            st.mode = TLS
            self.notes["tls-streams"] += 1
            self.skipped["tls-encrypted"] += 1
            self.tls_watch.segment(st.src, st.dst, self._ts, self._frame, body)
            return
        elif first in _WS_FIRST and frame_carries_sip(body):
            # A WebSocket stream whose handshake is not in the capture.
            self.notes["ws-without-handshake"] += 1
            st.mode = WS
            st.ws = WebSocketDeframer()
            self._ws_messages(st, st.ws.feed(body))
            return
        self.skipped["non-sip-tcp"] += packets

    def _hep(self, st: TcpStream, data: bytes) -> None:
        """Cut a HEP stream into packets by their total length; each gives its message.

        A packet is at most 65,535 bytes (the length is 16 bits), so ``pending`` stays bounded.
        Bytes that do not start a HEP packet where one must start mean the framing is lost: the
        stream is looked at afresh from its next segment start (``notes["hep-tcp-desync"]``).
        """
        buf = st.pending
        buf += data
        while buf:
            total = hep3_length(buf)
            if total is None:
                if len(buf) < HEP3_HEADER and HEP3_MAGIC.startswith(bytes(buf[:4])):
                    return  # the header continues in the next segment
                total = 0
            if total < HEP3_HEADER:
                self.notes["hep-tcp-desync"] += 1
                st.pending = bytearray()
                st.mode = UNKNOWN
                return
            if len(buf) < total:
                return
            packet = bytes(buf[:total])
            del buf[:total]
            found = hep_segments(packet, self._ts, self._frame, self.skipped, self.notes)
            self._out.extend(found)
            self._messages += len(found)

    def _probe(self, st: TcpStream, data: bytes) -> None:
        """Add bytes to a held segment start; classify once its first line is complete."""
        st.hs += data
        st.held += 1
        if b"\n" in data or len(st.hs) >= MAX_START_LINE:
            held = bytes(st.hs)
            packets = st.held
            st.hs = bytearray()
            st.held = 0
            st.mode = UNKNOWN
            self._classify(st, held, packets)

    def _drop_probe(self, st: TcpStream) -> None:
        """A probe that will not complete (hole or end of stream): its packets were not SIP."""
        self.skipped["non-sip-tcp"] += st.held
        st.hs = bytearray()
        st.held = 0
        st.mode = UNKNOWN

    def _peer(self, st: TcpStream) -> TcpStream | None:
        """The other direction of the same connection, if seen."""
        key = st.key
        return self._streams.get((key[2], key[3], key[0], key[1]))

    def _peer_is_tls(self, st: TcpStream) -> bool:
        """Mid-capture TLS: a record at a segment start whose other direction is TLS."""
        peer = self._peer(st)
        return peer is not None and peer.mode == TLS

    def _handshake(self, st: TcpStream, data: bytes) -> None:
        """Collect an HTTP upgrade request or 101 response and act on it (RFC 6455 §4)."""
        self.notes["ws-handshake-packet"] += 1
        st.hs += data
        end = st.hs.find(b"\r\n\r\n")
        if end < 0:
            if len(st.hs) > _MAX_HANDSHAKE:
                self.notes["ws-handshake-oversize"] += 1
                st.hs = bytearray()
                st.mode = UNKNOWN
            return
        head = bytes(st.hs[: end + 4])
        rest = bytes(st.hs[end + 4 :])
        st.hs = bytearray()
        peer = self._peer(st)
        if st.mode == HS_REQUEST:
            if not is_upgrade_request(head):
                st.mode = UNKNOWN
                return
            if peer is not None and peer.mode == WS:
                # The 101 was captured first (merged captures): switch now.
                self._to_websocket(st, rest)
                return
            st.mode = WS_WAIT
            st.pending = bytearray(rest)
            return
        switched, _ = upgrade_response(head)  # RSV1 is honoured per frame whatever was agreed
        if not switched:
            st.mode = UNKNOWN
            return
        # RFC 6455 §4.1: after a 101 both directions speak WebSocket.
        self.notes["ws-upgrade"] += 1
        self._to_websocket(st, rest)
        if peer is None:
            key = st.key
            peer = self._open((key[2], key[3], key[0], key[1]), self._ts, self._frame)
        if peer.mode in (WS_WAIT, UNKNOWN, HS_REQUEST):
            pending = bytes(peer.pending)
            peer.pending = bytearray()
            peer.hs = bytearray()
            self._to_websocket(peer, pending)
            self._recharge(peer)  # its bytes moved from ``pending`` to its deframer

    def _to_websocket(self, st: TcpStream, data: bytes) -> None:
        st.mode = WS
        st.ws = WebSocketDeframer()
        if data:
            self._ws_messages(st, st.ws.feed(data))
