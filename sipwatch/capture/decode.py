"""Frames to transport payloads: link layer, IP (with fragments), tunnels, UDP/TCP/SCTP.

This is the per-packet hot path, so it works on the frame's ``bytes`` with integer offsets and
creates no object per layer: the only allocations are the final UDP payload and its Segment (or
the bytes handed to the TCP/SCTP stage). Addresses are formatted once per distinct address
through a bounded cache.

What is decoded, and why each is here:

* links: Ethernet with 802.1Q / 802.1ad / old QinQ tags (any depth), 802.3 + LLC/SNAP, PPPoE
  session + PPP, MPLS label stacks, Linux cooked SLL and SLL2, BSD NULL/LOOP (either byte order,
  every AF_INET6 value in use), raw IP, PPP;
* network: IPv4 (options skipped by IHL), IPv6 and its extension headers, fragment reassembly of
  both (:mod:`sipwatch.capture.ipfrag`);
* tunnels, nested up to ``max_depth``: IP-in-IP (4, 41), GRE (checksum/key/sequence/routing,
  PPTP's enhanced GRE) carrying IP, PPP, Ethernet (0x6558) or ERSPAN I/II/III, and VXLAN;
* ICMP/ICMPv6 errors that quote a UDP datagram carrying SIP: tshark dissects the quoted SIP and
  counts it as a SIP message even when the quote is cut short (private-test-sip.pcapng frame 2
  quotes 548 of a 554-byte REGISTER), so the quoted payload is emitted as it is, and counted in
  ``notes["sip-in-icmp-error"]``; quoted TCP is not fed to the stream reassembler, since it is
  a copy of bytes the stream already saw;
* transport: UDP payloads that look like SIP by content on any port (DESIGN: SIP is found by
  content); TCP and SCTP go to the stream stages given to the constructor.

Everything that yields nothing is counted in ``skipped`` by a short reason; facts that do not
stop decoding (a truncated datagram, a reassembled one) are counted in ``notes``.
"""

from __future__ import annotations

import socket
import struct
from collections import Counter
from typing import Final, Protocol

from sipwatch.capture import linktypes as lt
from sipwatch.capture.ipfrag import FragmentReassembler
from sipwatch.capture.linktypes import (
    ETH_IPV4,
    ETH_IPV6,
    P_SCTP,
    P_TCP,
    P_UDP,
    V6_UNIFORM_EXT,
    VLAN_TPIDS,
)
from sipwatch.capture.types import Frame, Segment
from sipwatch.sip.detect import looks_like_sip


class TcpLike(Protocol):
    """The TCP stage: reassembles streams and frames SIP out of them."""

    def feed(
        self, ts: float, frame_no: int, src_ip: str, dst_ip: str, tcp: bytes, /
    ) -> list[Segment]: ...

    def expire(self, ts: float, /) -> None: ...

    def flush(self) -> list[Segment]: ...


class SctpLike(Protocol):
    """The SCTP stage: takes a whole SCTP packet (common header and chunks)."""

    def feed(
        self, ts: float, frame_no: int, src_ip: str, dst_ip: str, sctp: bytes, /
    ) -> list[Segment]: ...

    def expire(self, ts: float, /) -> None: ...

    def flush(self) -> list[Segment]: ...


#: Address-cache size before it is emptied (one dict lookup per address instead of formatting).
_NAME_CACHE_MAX: Final = 65536

_UDP = struct.Struct("!HHH")


def _letter(byte: int) -> bool:
    """First byte of a SIP start line: a letter (``SIP/2.0`` or a method token)."""
    return 65 <= byte <= 90 or 97 <= byte <= 122


class Decoder:
    """Turns frames into Segments; see the module docstring for what is decoded.

    ``expire(ts)`` drives every timeout from capture time (IP reassembly here, and the TCP and
    SCTP stages it forwards to); ``flush()`` ends the capture and returns what the stream stages
    still held.
    """

    def __init__(
        self,
        tcp: TcpLike | None = None,
        sctp: SctpLike | None = None,
        *,
        max_depth: int = 8,
        skipped: Counter[str] | None = None,
        notes: Counter[str] | None = None,
    ) -> None:
        """``skipped``/``notes`` may be Counters shared with the TCP and SCTP stages, so the
        summary has one table of reasons: ``Decoder(TcpReassembler(c), SctpDecoder(c),
        skipped=c)``."""
        self.tcp = tcp
        self.sctp = sctp
        self.max_depth = max_depth
        self.skipped: Counter[str] = skipped if skipped is not None else Counter()
        self.notes: Counter[str] = notes if notes is not None else Counter()
        self.fragments = FragmentReassembler(self.notes)
        self._names: dict[bytes, str] = {}

    # -- public API --------------------------------------------------------------------------

    def feed(self, frame: Frame) -> list[Segment]:
        """Decode one frame; returns the SIP-carrying payloads it completed (often none)."""
        data = frame.data
        link = frame.linktype
        try:
            if link == lt.LINKTYPE_ETHERNET:
                # Fast path for the common case (Ethernet, IPv4 without options, unfragmented
                # UDP): same checks as the general path, four calls fewer.
                if (
                    len(data) >= 42
                    and data[12] == 0x08
                    and data[13] == 0x00
                    and data[14] == 0x45
                    and data[23] == P_UDP
                    and not (data[20] & 0x3F or data[21])
                ):
                    ip_end = 14 + (data[16] << 8 | data[17])
                    if 34 <= ip_end <= len(data):
                        return self._udp(
                            data, 34, ip_end, data[26:30], data[30:34], frame.ts, frame.number,
                            0, False,
                        )  # fmt: skip
                return self._ether(data, 0, len(data), frame.ts, frame.number, 0)
            if link == lt.LINKTYPE_LINUX_SLL:
                if len(data) < 16:
                    return self._skip("truncated-link")
                et = data[14] << 8 | data[15]
                return self._ethertype(et, data, 16, len(data), frame.ts, frame.number, 0)
            if link == lt.LINKTYPE_LINUX_SLL2:
                if len(data) < 20:
                    return self._skip("truncated-link")
                et = data[0] << 8 | data[1]
                return self._ethertype(et, data, 20, len(data), frame.ts, frame.number, 0)
            if link in (lt.LINKTYPE_NULL, lt.LINKTYPE_LOOP):
                return self._null(data, frame.ts, frame.number)
            if link in (lt.LINKTYPE_RAW, lt.LINKTYPE_RAW_DLT12, lt.LINKTYPE_RAW_DLT14):
                return self._raw_ip(data, 0, len(data), frame.ts, frame.number, 0)
            if link == lt.LINKTYPE_IPV4:
                return self._ipv4(data, 0, len(data), frame.ts, frame.number, 0)
            if link == lt.LINKTYPE_IPV6:
                return self._ipv6(data, 0, len(data), frame.ts, frame.number, 0)
            if link in (lt.LINKTYPE_PPP, lt.LINKTYPE_PPP_HDLC):
                return self._ppp(data, 0, len(data), frame.ts, frame.number, 0)
            if link == lt.LINKTYPE_NETMON_SPECIAL:
                return self._skip("netmon-special-record")
            return self._skip(f"unknown-linktype-{link}")
        except (IndexError, struct.error):
            # A length check missed somewhere: the packet is broken, the capture goes on.
            return self._skip("decode-error")

    def expire(self, ts: float) -> None:
        """Apply capture-time timeouts: IP fragments, then the TCP and SCTP stages."""
        self.fragments.expire(ts)
        if self.tcp is not None:
            self.tcp.expire(ts)
        if self.sctp is not None:
            self.sctp.expire(ts)

    def flush(self) -> list[Segment]:
        """End of capture: drop incomplete datagrams and return what the stream stages held."""
        self.fragments.flush()
        out: list[Segment] = []
        if self.tcp is not None:
            out.extend(self.tcp.flush())
        if self.sctp is not None:
            out.extend(self.sctp.flush())
        return out

    # -- helpers -----------------------------------------------------------------------------

    def _skip(self, reason: str) -> list[Segment]:
        self.skipped[reason] += 1
        return []

    def _name(self, raw: bytes) -> str:
        """Text form of a 4- or 16-byte address, cached (RFC 5952 form for IPv6, via inet_ntop)."""
        name = self._names.get(raw)
        if name is None:
            family = socket.AF_INET if len(raw) == 4 else socket.AF_INET6
            name = socket.inet_ntop(family, raw)
            if len(self._names) >= _NAME_CACHE_MAX:
                self._names.clear()
            self._names[raw] = name
        return name

    # -- link layer --------------------------------------------------------------------------

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

    # -- network layer -----------------------------------------------------------------------

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
            return self.tcp.feed(ts, num, self._name(src), self._name(dst), data[off:end])
        if proto == P_SCTP:
            if self.sctp is None:
                return self._skip("sctp-not-decoded")
            return self.sctp.feed(ts, num, self._name(src), self._name(dst), data[off:end])
        if proto in (lt.P_IPIP, lt.P_IPV6, lt.P_GRE):
            if depth >= self.max_depth:
                return self._skip("tunnel-too-deep")
            if proto == lt.P_IPIP:  # RFC 2003
                return self._ipv4(data, off, end, ts, num, depth + 1)
            if proto == lt.P_IPV6:  # RFC 2473 / RFC 4213
                return self._ipv6(data, off, end, ts, num, depth + 1)
            return self._gre(data, off, end, ts, num, depth + 1)
        if proto in (lt.P_ICMP, lt.P_ICMPV6):
            return self._icmp_error(proto, data, off, end, ts, num, depth)
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
        if pay >= udp_end or not _letter(data[pay]):
            return self._skip("non-sip-udp")
        payload = data[pay:udp_end]
        if not looks_like_sip(payload):
            return self._skip("non-sip-udp")
        if quoted:
            self.notes["sip-in-icmp-error"] += 1
            if udp_end < off + length:
                self.notes["sip-in-icmp-error-cut"] += 1
        names = self._names
        src_name = names.get(src) or self._name(src)
        dst_name = names.get(dst) or self._name(dst)
        return [Segment(ts, num, (src_name, sport), (dst_name, dport), "udp", payload)]

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

    def _icmp_error(
        self, proto: int, data: bytes, off: int, end: int, ts: float, num: int, depth: int
    ) -> list[Segment]:
        """ICMP (RFC 792) and ICMPv6 (RFC 4443 §2.1: types below 128) errors quote the packet
        that caused them after an 8-byte header; SIP quoted there is emitted (see module doc)."""
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
