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

The layers live in their own modules and are combined here into one class, so a packet goes
from one header to the next by a direct method call on the one decoder object:
:mod:`~sipwatch.capture.decode_link` (link layers), :mod:`~sipwatch.capture.decode_ip` (IP,
UDP and tunnels), :mod:`~sipwatch.capture.decode_icmp` (SIP quoted in ICMP errors), on the
shared state of :mod:`~sipwatch.capture.decode_base`.
"""

from __future__ import annotations

import struct
from collections import Counter

from sipwatch.capture import linktypes as lt
from sipwatch.capture.decode_base import SctpLike, TcpLike
from sipwatch.capture.decode_icmp import IcmpLayers
from sipwatch.capture.decode_ip import IpLayers
from sipwatch.capture.decode_link import LinkLayers
from sipwatch.capture.ipfrag import FragmentReassembler
from sipwatch.capture.linktypes import P_UDP
from sipwatch.capture.types import Frame, Segment

__all__ = ["Decoder", "SctpLike", "TcpLike"]


class Decoder(LinkLayers, IpLayers, IcmpLayers):
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
