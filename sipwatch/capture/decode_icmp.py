"""SIP quoted in ICMP and ICMPv6 errors.

tshark dissects the quoted SIP and counts it as a SIP message even when the quote is cut short
(private-test-sip.pcapng frame 2 quotes 548 of a 554-byte REGISTER), so the quoted payload is
emitted as it is, and counted in ``notes["sip-in-icmp-error"]``. Quoted TCP is not fed to the
stream reassembler, since it is a copy of bytes the stream already saw.
"""

from __future__ import annotations

from sipwatch.capture import linktypes as lt
from sipwatch.capture.decode_base import DecoderBase
from sipwatch.capture.linktypes import P_UDP
from sipwatch.capture.types import IcmpError, Segment


class IcmpLayers(DecoderBase):
    """ICMP errors: the quoted packet's headers are decoded, without reassembly or state."""

    def _icmp_error(
        self,
        proto: int,
        data: bytes,
        off: int,
        end: int,
        reporter: bytes,
        ts: float,
        num: int,
        depth: int,
    ) -> list[Segment]:
        """ICMP (RFC 792) and ICMPv6 (RFC 4443 §2.1: types below 128) errors quote the packet
        that caused them after an 8-byte header; SIP quoted there is emitted (see module doc),
        marked with the error so that nothing takes it for a message sent again."""
        segments = self._icmp_quote(proto, data, off, end, ts, num, depth)
        if segments:
            names = self._names
            error = IcmpError(
                data[off],
                data[off + 1],
                names.get(reporter) or self._name(reporter),
                4 if proto == lt.P_ICMP else 6,
            )
            for segment in segments:
                segment.icmp = error
        return segments

    def _icmp_quote(
        self, proto: int, data: bytes, off: int, end: int, ts: float, num: int, depth: int
    ) -> list[Segment]:
        if end - off < 8:
            return self._skip("truncated-icmp")
        kind = data[off]
        if not (kind in lt.ICMP_ERRORS if proto == lt.P_ICMP else kind < 128):
            return self._skip("icmp")
        if depth >= self.max_depth:
            return self._skip("tunnel-too-deep")
        off += 8
        # The quote is a copy: decode its headers only, without reassembly or stream state.
        if end - off < 1:
            return self._skip("truncated-icmp")
        version = data[off] >> 4
        if version == 4 and end - off >= 20:
            ihl = (data[off] & 0x0F) << 2
            flags = data[off + 6] << 8 | data[off + 7]
            if data[off + 9] == P_UDP and ihl >= 20 and not flags & 0x1FFF:
                src, dst = data[off + 12 : off + 16], data[off + 16 : off + 20]
                return self._udp(data, off + ihl, end, src, dst, ts, num, depth + 1, True)
        elif version == 6 and end - off >= 40 and data[off + 6] == P_UDP:
            src, dst = data[off + 8 : off + 24], data[off + 24 : off + 40]
            return self._udp(data, off + 40, end, src, dst, ts, num, depth + 1, True)
        return self._skip("icmp-error-not-sip")
