"""Network and transport layers of the decoder, and the tunnels that nest them.

IPv4 (options skipped by IHL), IPv6 and its extension headers, fragment reassembly of both
(:mod:`sipwatch.capture.ipfrag`); UDP payloads that look like SIP by content on any port
(DESIGN: SIP is found by content); TCP and SCTP handed to the stream stages. Tunnels, nested up
to ``max_depth``: IP-in-IP (4, 41), GRE (checksum/key/sequence/routing, PPTP's enhanced GRE)
carrying IP, PPP, Ethernet (0x6558) or ERSPAN I/II/III, and VXLAN.
"""

from __future__ import annotations

import struct
from typing import Final

from sipwatch.capture import linktypes as lt
from sipwatch.capture.decode_base import DecoderBase
from sipwatch.capture.hep import HEP3_MAGIC, hep_segments, looks_like_hep
from sipwatch.capture.linktypes import P_SCTP, P_TCP, P_UDP, V6_UNIFORM_EXT
from sipwatch.capture.types import Segment
from sipwatch.sip.detect import looks_like_sip

_UDP: Final = struct.Struct("!HHH")


def _letter(byte: int) -> bool:
    """First byte of a SIP start line: a letter (``SIP/2.0`` or a method token)."""
    return 65 <= byte <= 90 or 97 <= byte <= 122


class IpLayers(DecoderBase):
    """IP, UDP and tunnel headers; TCP and SCTP payloads go to the stream stages."""

    def _ipv4(
        self, data: bytes, off: int, end: int, ts: float, num: int, depth: int
    ) -> list[Segment]:
        """RFC 791 §3.1. The header checksum is not verified: captures taken on the sending
        host carry checksums the NIC fills in later, and a bad one says nothing about SIP."""
        if end - off < 20:
            return self._skip("truncated-ip")
        first = data[off]
        ihl = (first & 0x0F) << 2
        if first >> 4 != 4 or ihl < 20:
            return self._skip("bad-ip-header")
        total = data[off + 2] << 8 | data[off + 3]
        ip_end = off + total
        if ip_end > end or total < ihl:
            if total == 0:
                # TCP segmentation offload: the host hands the NIC a super-packet with length 0.
                self.notes["ip-length-zero"] += 1
            elif total < ihl:
                return self._skip("bad-ip-header")
            else:
                self.notes["ip-truncated"] += 1
            ip_end = end
        if ip_end - off < ihl:
            return self._skip("truncated-ip")
        proto = data[off + 9]
        src = data[off + 12 : off + 16]
        dst = data[off + 16 : off + 20]
        flags = data[off + 6] << 8 | data[off + 7]
        if flags & 0x3FFF:  # More Fragments set, or a non-zero fragment offset
            if ip_end != off + total:
                return self._skip("truncated-ip-fragment")
            key = (4, src, dst, proto, data[off + 4 : off + 6])
            done = self.fragments.add(
                key,
                ts,
                (flags & 0x1FFF) << 3,
                bool(flags & 0x2000),
                data[off + ihl : ip_end],
                proto=proto,
            )
            if done is None:
                return self._skip("ip-fragment-pending")
            proto, payload = done
            return self._transport(proto, payload, 0, len(payload), src, dst, ts, num, depth)
        return self._transport(proto, data, off + ihl, ip_end, src, dst, ts, num, depth)

    def _ipv6(
        self, data: bytes, off: int, end: int, ts: float, num: int, depth: int
    ) -> list[Segment]:
        """RFC 8200 §3 header, then the extension-header chain (§4) to the upper layer."""
        if end - off < 40:
            return self._skip("truncated-ip")
        if data[off] >> 4 != 6:
            return self._skip("bad-ip-header")
        plen = data[off + 4] << 8 | data[off + 5]
        nh = data[off + 6]
        src = data[off + 8 : off + 24]
        dst = data[off + 24 : off + 40]
        ip_end = off + 40 + plen
        if plen == 0:
            ip_end = end  # jumbogram (RFC 2675) or offload: the capture length is all we have
        elif ip_end > end:
            self.notes["ip-truncated"] += 1
            ip_end = end
        pos = off + 40
        while True:
            if nh in V6_UNIFORM_EXT:
                if ip_end - pos < 8:
                    return self._skip("truncated-ip")
                nh, pos = data[pos], pos + ((data[pos + 1] + 1) << 3)
            elif nh == lt.P_AH:
                # RFC 4302 §2.2: Payload Len is in 4-octet units, minus 2.
                if ip_end - pos < 8:
                    return self._skip("truncated-ip")
                nh, pos = data[pos], pos + ((data[pos + 1] + 2) << 2)
            elif nh == lt.V6_FRAGMENT:
                # RFC 8200 §4.5: next header, reserved, offset(13 bits)|res|M, identification.
                if ip_end - pos < 8:
                    return self._skip("truncated-ip")
                next_header = data[pos]
                offset_flags = data[pos + 2] << 8 | data[pos + 3]
                ident = data[pos + 4 : pos + 8]
                pos += 8
                if offset_flags & 0xFFF9 == 0:
                    # Atomic fragment (RFC 6946): offset 0, M clear; the packet is whole.
                    nh = next_header
                    continue
                if ip_end < off + 40 + plen or plen == 0:
                    return self._skip("truncated-ip-fragment")
                done = self.fragments.add(
                    (6, src, dst, ident),
                    ts,
                    offset_flags & 0xFFF8,
                    bool(offset_flags & 1),
                    data[pos:ip_end],
                    proto=next_header,
                )
                if done is None:
                    return self._skip("ip-fragment-pending")
                nh, data = done
                pos, ip_end = 0, len(data)
            elif nh == lt.P_ESP:
                return self._skip("ipsec-esp")
            elif nh == lt.P_NONE:
                return self._skip("not-udp-tcp-sctp")
            else:
                break
            if pos > ip_end:
                return self._skip("truncated-ip")
        return self._transport(nh, data, pos, ip_end, src, dst, ts, num, depth)

    # -- transport and tunnels ---------------------------------------------------------------

    def _transport(
        self,
        proto: int,
        data: bytes,
        off: int,
        end: int,
        src: bytes,
        dst: bytes,
        ts: float,
        num: int,
        depth: int,
    ) -> list[Segment]:
        if proto == P_UDP:
            return self._udp(data, off, end, src, dst, ts, num, depth, False)
        if proto == P_TCP:
            if self.tcp is None:
                return self._skip("tcp-not-decoded")
            # A cache hit costs a dict lookup; the method call is only paid on a miss.
            names = self._names
            src_name = names.get(src) or self._name(src)
            dst_name = names.get(dst) or self._name(dst)
            return self.tcp.feed(ts, num, src_name, dst_name, data[off:end])
        if proto == P_SCTP:
            if self.sctp is None:
                return self._skip("sctp-not-decoded")
            names = self._names
            src_name = names.get(src) or self._name(src)
            dst_name = names.get(dst) or self._name(dst)
            return self.sctp.feed(ts, num, src_name, dst_name, data[off:end])
        if proto in (lt.P_IPIP, lt.P_IPV6, lt.P_GRE):
            if depth >= self.max_depth:
                return self._skip("tunnel-too-deep")
            if proto == lt.P_IPIP:  # RFC 2003
                return self._ipv4(data, off, end, ts, num, depth + 1)
            if proto == lt.P_IPV6:  # RFC 2473 / RFC 4213
                return self._ipv6(data, off, end, ts, num, depth + 1)
            return self._gre(data, off, end, ts, num, depth + 1)
        if proto in (lt.P_ICMP, lt.P_ICMPV6):
            return self._icmp_error(proto, data, off, end, src, ts, num, depth)
        return self._skip("not-udp-tcp-sctp")

    def _udp(
        self,
        data: bytes,
        off: int,
        end: int,
        src: bytes,
        dst: bytes,
        ts: float,
        num: int,
        depth: int,
        quoted: bool,
    ) -> list[Segment]:
        """RFC 768. The length field bounds the payload (frames carry padding); a datagram the
        capture cut short is still passed on, noted, so the SIP parser can say it is cut."""
        if end - off < 8:
            return self._skip("truncated-udp")
        sport, dport, length = _UDP.unpack_from(data, off)
        pay = off + 8
        if dport == lt.VXLAN_PORT and not quoted and end - pay >= 8 and data[pay] & 0x08:
            # RFC 7348 §5: 8-byte header with the I flag, then the inner Ethernet frame.
            if depth >= self.max_depth:
                return self._skip("tunnel-too-deep")
            return self._ether(data, pay + 8, end, ts, num, depth + 1)
        udp_end = off + length
        if length < 8:
            if length != 0:
                return self._skip("bad-udp-length")
            udp_end = end  # IPv6 jumbogram (RFC 2675 §4)
        elif udp_end > end:
            if not quoted:
                self.notes["udp-truncated"] += 1
            udp_end = end
        if pay >= udp_end:
            return self._skip("non-sip-udp")
        first = data[pay]
        if not _letter(first):
            # HEP v1/v2 start with their version byte (1 or 2), which no SIP message does.
            if first <= 2 and not quoted and looks_like_hep(data, pay):
                return self._hep(data[pay:udp_end], ts, num)
            # RFC 3550 §5.1 / §6.4: version 2 in the top bits is RTP or RTCP; the media tracker
            # decides. Such packets still count as non-sip-udp: they carried no SIP.
            media = self.media
            if media is not None and first & 0xC0 == 0x80 and not quoted:
                names = self._names
                media(
                    ts, num, names.get(src) or self._name(src), sport,
                    names.get(dst) or self._name(dst), dport, data, pay, udp_end,
                )  # fmt: skip
            return self._skip("non-sip-udp")
        payload = data[pay:udp_end]
        if not looks_like_sip(payload):
            if first == 0x48 and not quoted and payload[:4] == HEP3_MAGIC:
                return self._hep(payload, ts, num)
            return self._skip("non-sip-udp")
        if quoted:
            self.notes["sip-in-icmp-error"] += 1
            if udp_end < off + length:
                self.notes["sip-in-icmp-error-cut"] += 1
        names = self._names
        src_name = names.get(src) or self._name(src)
        dst_name = names.get(dst) or self._name(dst)
        return [Segment(ts, num, (src_name, sport), (dst_name, dport), "udp", payload)]

    def _hep(self, payload: bytes, ts: float, num: int) -> list[Segment]:
        """A HEP packet in a UDP datagram (found by its shape, on any port, as SIP is): the
        message it carries, with the agent's addresses, transport, time and id."""
        return hep_segments(payload, ts, num, self.skipped, self.notes)

    def _gre(
        self, data: bytes, off: int, end: int, ts: float, num: int, depth: int
    ) -> list[Segment]:
        """GRE: RFC 2784 (C bit: checksum + reserved), RFC 2890 (K key, S sequence), RFC 1701
        (R routing: SRE list), RFC 2637 (version 1 for PPTP: A bit adds an acknowledgment)."""
        if end - off < 4:
            return self._skip("truncated-tunnel")
        flags = data[off] << 8 | data[off + 1]
        ptype = data[off + 2] << 8 | data[off + 3]
        pos = off + 4
        if flags & 0xC000:  # checksum or routing present: checksum + offset/reserved word
            pos += 4
        if flags & 0x2000:
            pos += 4
        if flags & 0x1000:
            pos += 4
        if flags & 0x0007 == 1 and flags & 0x0080:
            pos += 4
        if flags & 0x4000:
            # RFC 1701 §2.1: Source Route Entries (family, offset, length, data) until a null one.
            while True:
                if end - pos < 4:
                    return self._skip("truncated-tunnel")
                sre_len = data[pos + 3]
                family = data[pos] << 8 | data[pos + 1]
                pos += 4 + sre_len
                if family == 0 and sre_len == 0:
                    break
        if pos > end:
            return self._skip("truncated-tunnel")
        if ptype == lt.ETH_ERSPAN2:
            # ERSPAN type II carries an 8-byte header and always a GRE sequence number; type I
            # (same protocol type, no sequence number) has no header at all.
            if flags & 0x1000:
                pos += 8
            return self._ether(data, pos, end, ts, num, depth)
        if ptype == lt.ETH_ERSPAN3:
            return self._erspan3(data, pos, end, ts, num, depth)
        return self._ethertype(ptype, data, pos, end, ts, num, depth)

    def _erspan3(
        self, data: bytes, off: int, end: int, ts: float, num: int, depth: int
    ) -> list[Segment]:
        """ERSPAN type III (draft-foschiano-erspan §4.3): 12-byte header; the O flag adds an
        8-byte platform-specific subheader; frame type 0 is Ethernet, 2 is IP."""
        if end - off < 12:
            return self._skip("truncated-tunnel")
        frame_type = (data[off + 10] >> 2) & 0x1F
        pos = off + 12 + (8 if data[off + 11] & 1 else 0)
        if frame_type == 0:
            return self._ether(data, pos, end, ts, num, depth)
        if frame_type == 2:
            return self._raw_ip(data, pos, end, ts, num, depth)
        return self._skip("non-ip")
