"""Link layers of the decoder: from the capture's link type down to the IP header.

Ethernet with 802.1Q / 802.1ad / old QinQ tags (any depth), 802.3 + LLC/SNAP, PPPoE session +
PPP, MPLS label stacks (and Ethernet pseudowires), BSD NULL/LOOP, and IP without a link header.
Linux cooked SLL/SLL2 headers are fixed-size and are stripped in
:meth:`~sipwatch.capture.decode.Decoder.feed` before :meth:`LinkLayers._ethertype`.
"""

from __future__ import annotations

from sipwatch.capture import linktypes as lt
from sipwatch.capture.decode_base import DecoderBase
from sipwatch.capture.linktypes import ETH_IPV4, ETH_IPV6, VLAN_TPIDS
from sipwatch.capture.types import Segment


class LinkLayers(DecoderBase):
    """Link-layer headers, each method ending in the network layer or a ``skipped`` reason."""

    def _ether(
        self, data: bytes, off: int, end: int, ts: float, num: int, depth: int
    ) -> list[Segment]:
        """IEEE 802.3 / Ethernet II: 6+6 address bytes, then EtherType (or 802.3 length)."""
        if end - off < 14:
            return self._skip("truncated-link")
        et = data[off + 12] << 8 | data[off + 13]
        return self._ethertype(et, data, off + 14, end, ts, num, depth)

    def _ethertype(
        self, et: int, data: bytes, off: int, end: int, ts: float, num: int, depth: int
    ) -> list[Segment]:
        """Dispatch on an EtherType, unwrapping VLAN tags, LLC/SNAP, PPPoE and MPLS first."""
        while True:
            if et == ETH_IPV4:
                return self._ipv4(data, off, end, ts, num, depth)
            if et == ETH_IPV6:
                return self._ipv6(data, off, end, ts, num, depth)
            if et in VLAN_TPIDS:
                # IEEE 802.1Q §9.6: a 4-byte tag (TCI, then the next EtherType); stacked for QinQ.
                if end - off < 4:
                    return self._skip("truncated-link")
                et = data[off + 2] << 8 | data[off + 3]
                off += 4
                self.notes["vlan-tag"] += 1
                continue
            if et == lt.ETH_PPPOE_SESSION:
                # RFC 2516 §4: ver/type, code, session id, length; then the PPP protocol field.
                if end - off < 8:
                    return self._skip("truncated-link")
                return self._ppp_protocol(data, off + 6, end, ts, num, depth)
            if et in (lt.ETH_MPLS, lt.ETH_MPLS_MC):
                return self._mpls(data, off, end, ts, num, depth)
            if et == lt.ETH_TEB:
                # Ethernet inside Ethernet nests like a tunnel: bounded by max_depth, or a frame
                # of repeated headers would recurse once per 14 bytes.
                if depth >= self.max_depth:
                    return self._skip("tunnel-too-deep")
                return self._ether(data, off, end, ts, num, depth + 1)
            if et == lt.ETH_PPP:
                return self._ppp(data, off, end, ts, num, depth)
            if et <= 1500:
                # IEEE 802.3 length field: only LLC + SNAP (AA AA 03, OUI, EtherType) can carry IP.
                if end - off >= 8 and data[off : off + 3] == b"\xaa\xaa\x03":
                    et = data[off + 6] << 8 | data[off + 7]
                    off += 8
                    continue
                return self._skip("non-ip")
            return self._skip("non-ip")

    def _mpls(
        self, data: bytes, off: int, end: int, ts: float, num: int, depth: int
    ) -> list[Segment]:
        """RFC 3032 §2.1: 4-byte labels until bottom-of-stack; the payload type is not signalled,
        so it is guessed from the first nibble (4/6 = IP, 0 = pseudowire control word RFC 4385
        followed by Ethernet)."""
        while True:
            if end - off < 4:
                return self._skip("truncated-link")
            bottom = data[off + 2] & 1
            off += 4
            if bottom:
                break
        if off >= end:
            return self._skip("truncated-link")
        version = data[off] >> 4
        if version in (4, 6):
            return self._raw_ip(data, off, end, ts, num, depth)
        if version == 0:
            if depth >= self.max_depth:  # a pseudowire nests Ethernet: bounded like a tunnel
                return self._skip("tunnel-too-deep")
            return self._ether(data, off + 4, end, ts, num, depth + 1)
        return self._skip("non-ip")

    def _ppp(
        self, data: bytes, off: int, end: int, ts: float, num: int, depth: int
    ) -> list[Segment]:
        """RFC 1662 §3.1: optional FF 03 (address/control, omitted under ACFC), then protocol."""
        if end - off >= 2 and data[off] == 0xFF and data[off + 1] == 0x03:
            off += 2
        return self._ppp_protocol(data, off, end, ts, num, depth)

    def _ppp_protocol(
        self, data: bytes, off: int, end: int, ts: float, num: int, depth: int
    ) -> list[Segment]:
        """RFC 1661 §2: protocol field, one byte when compressed (PFC: the value is odd)."""
        if end - off < 1:
            return self._skip("truncated-link")
        if data[off] & 1:
            proto = data[off]
            off += 1
        else:
            if end - off < 2:
                return self._skip("truncated-link")
            proto = data[off] << 8 | data[off + 1]
            off += 2
        if proto == 0x0021:
            return self._ipv4(data, off, end, ts, num, depth)
        if proto == 0x0057:
            return self._ipv6(data, off, end, ts, num, depth)
        return self._skip("non-ip")

    def _null(self, data: bytes, ts: float, num: int) -> list[Segment]:
        """BSD loopback: a 4-byte address family in the *writer's* byte order (NULL) or big-endian
        (LOOP). Families are small, so whichever end byte is non-zero is the value."""
        if len(data) < 5:
            return self._skip("truncated-link")
        family = data[0] | data[3] if data[1] == 0 and data[2] == 0 else -1
        if family == lt.AF_INET:
            return self._ipv4(data, 4, len(data), ts, num, 0)
        if family in lt.AF_INET6_VALUES:
            return self._ipv6(data, 4, len(data), ts, num, 0)
        return self._skip("non-ip")

    def _raw_ip(
        self, data: bytes, off: int, end: int, ts: float, num: int, depth: int
    ) -> list[Segment]:
        """IP without a link header: the version nibble says which."""
        if off >= end:
            return self._skip("truncated-ip")
        version = data[off] >> 4
        if version == 4:
            return self._ipv4(data, off, end, ts, num, depth)
        if version == 6:
            return self._ipv6(data, off, end, ts, num, depth)
        return self._skip("non-ip")
