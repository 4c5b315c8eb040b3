"""Per-flow TCP reassembly: sequence numbers, retransmissions, overlaps, holes.

Bytes are put back in order using RFC 793 §3.3 sequence numbers, compared modulo 2**32 so
wrap-around is harmless; the rules (first copy wins, bounded out-of-order buffer, holes declared
lost on a cap or after ``gap_timeout``) are described in :mod:`sipwatch.capture.tcp`. In-order
bytes go to :meth:`~sipwatch.capture.tcp_classify.StreamClassification._deliver`.
"""

from __future__ import annotations

from sipwatch.capture.tcp_stream import (
    CLOSED,
    HALF,
    HEP,
    HS_REQUEST,
    HS_RESPONSE,
    MOD,
    PROBE,
    UNKNOWN,
    WS_WAIT,
    TcpStage,
    TcpStream,
)


class SequenceReassembly(TcpStage):
    """Place each segment's payload in its stream and deliver the bytes in order."""

    def _data(self, st: TcpStream, seq: int, payload: bytes) -> None:
        """Place one segment's payload in its stream (RFC 793 §3.3 modular comparisons)."""
        nxt = st.next_seq
        if nxt < 0:
            nxt = st.next_seq = seq
        rel = (seq - nxt) & MOD
        if rel == 0:
            st.next_seq = (seq + len(payload)) & MOD
            self._deliver(st, payload)
            if st.ooo:
                self._drain(st)
        elif rel >= HALF:
            behind = MOD + 1 - rel
            if behind >= len(payload):
                self._retransmissions += 1
                self.notes["tcp-retransmission"] += 1
                return
            # Partly new: the bytes already delivered win (first copy wins).
            self.notes["tcp-overlap"] += 1
            st.next_seq = (seq + len(payload)) & MOD
            self._deliver(st, payload[behind:])
            if st.ooo:
                self._drain(st)
        else:
            self._hold(st, seq, payload)
        if st.fin_seq >= 0 and st.next_seq == st.fin_seq and st.mode != CLOSED:
            self._finish(st)

    def _hold(self, st: TcpStream, seq: int, payload: bytes) -> None:
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

    def _drain(self, st: TcpStream) -> None:
        """Deliver buffered segments that now continue the stream."""
        ooo = st.ooo
        while ooo and st.mode != CLOSED:
            nxt = st.next_seq
            data = ooo.pop(nxt, None)
            if data is None:
                # No exact fit: drop segments now entirely old, trim one that overlaps.
                for seq in list(ooo):
                    rel = (seq - nxt) & MOD
                    if rel < HALF:
                        continue
                    data = ooo.pop(seq)
                    st.ooo_bytes -= len(data)
                    behind = MOD + 1 - rel
                    if behind < len(data):
                        self.notes["tcp-overlap"] += 1
                        data = data[behind:]
                        break
                    data = None
                if data is None:
                    return
            else:
                st.ooo_bytes -= len(data)
            st.next_seq = (nxt + len(data)) & MOD
            self._deliver(st, data)
        if not ooo:
            st.ooo_bytes = 0

    def _skip_gap(self, st: TcpStream) -> None:
        """Declare the bytes up to the earliest buffered segment lost, then continue there."""
        nxt = st.next_seq
        first = min(st.ooo, key=lambda seq: (seq - nxt) & MOD)
        missing = (first - nxt) & MOD
        self._gaps += 1
        self.notes["tcp-gap"] += 1
        if st.framer is not None:
            self._framed(st, st.framer.gap(missing))
        if st.ws is not None:
            self._ws_messages(st, st.ws.gap(missing))
        if st.mode in (HS_REQUEST, HS_RESPONSE, WS_WAIT, HEP):
            # A hole in the handshake (or in a HEP packet, whose length framing is now lost):
            # give up on it, look at later segments afresh.
            st.mode = UNKNOWN
            st.hs = bytearray()
            st.pending = bytearray()
        elif st.mode == PROBE:
            self._drop_probe(st)
        st.next_seq = first
        self._drain(st)
