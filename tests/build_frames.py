"""Test-frame builders (scapy) and small capture-file writers, for the capture tests only.

The frames are built with scapy, an implementation independent of sipwatch's decoder, so a test
that decodes them checks the decoder against a second opinion. The writers produce pcap, pcapng
and NetMon files byte by byte (both byte orders, every timestamp resolution) because the reader
tests need files that no tool writes on demand: several pcapng sections, unusual options,
broken blocks.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Sequence

from scapy.contrib.erspan import ERSPAN_II, ERSPAN_III, ERSPAN_PlatformSpecific
from scapy.layers.inet import IP, UDP, fragment
from scapy.layers.inet6 import (
    IPv6,
    IPv6ExtHdrDestOpt,
    IPv6ExtHdrFragment,
    IPv6ExtHdrHopByHop,
    IPv6ExtHdrRouting,
)
from scapy.layers.ipsec import AH
from scapy.layers.l2 import GRE, CookedLinux, CookedLinuxV2, Dot1AD, Dot1Q, Ether
from scapy.layers.ppp import PPP, PPPoE
from scapy.layers.vxlan import VXLAN
from scapy.packet import Packet, Raw

# -- SIP payloads -----------------------------------------------------------------------------


def sip_request(method: str = "OPTIONS", call_id: str = "c1@test", body_size: int = 0) -> bytes:
    """A small well-formed SIP request; ``body_size`` pads the body (to force fragmentation)."""
    body = b"v=0\r\n" + b"a=x\r\n" * (body_size // 5) if body_size else b""
    head = (
        f"{method} sip:bob@example.com SIP/2.0\r\n"
        "Via: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK776asdhds\r\n"
        "Max-Forwards: 70\r\n"
        "To: Bob <sip:bob@example.com>\r\n"
        "From: Alice <sip:alice@example.com>;tag=1928301774\r\n"
        f"Call-ID: {call_id}\r\n"
        f"CSeq: 1 {method}\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


SIP_200 = (
    b"SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK776asdhds\r\n"
    b"To: Bob <sip:bob@example.com>;tag=a6c85cf\r\nFrom: Alice <sip:alice@example.com>;tag=1928\r\n"
    b"Call-ID: c1@test\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
)

# -- network and transport --------------------------------------------------------------------


def udp4(
    payload: bytes,
    *,
    src: str = "10.0.0.1",
    dst: str = "10.0.0.2",
    sport: int = 5060,
    dport: int = 5060,
    ident: int = 1,
) -> Packet:
    return IP(src=src, dst=dst, id=ident) / UDP(sport=sport, dport=dport) / Raw(payload)


def udp6(
    payload: bytes,
    *,
    src: str = "2001:db8::1",
    dst: str = "2001:db8::2",
    sport: int = 5060,
    dport: int = 5060,
    ext: Sequence[Packet] = (),
) -> Packet:
    pkt: Packet = IPv6(src=src, dst=dst)
    for header in ext:
        pkt = pkt / header
    return pkt / UDP(sport=sport, dport=dport) / Raw(payload)


def v6_ext_chain() -> list[Packet]:
    """Hop-by-hop, routing (type 0, one address), destination options and AH, in that order."""
    return [
        IPv6ExtHdrHopByHop(),
        IPv6ExtHdrRouting(addresses=["2001:db8::99"], segleft=0),
        IPv6ExtHdrDestOpt(),
        # scapy leaves AH's next header and length at 0 inside an IPv6 chain: set them
        # (RFC 4302 §2.2: length in 32-bit words minus 2; 12-byte header + 12-byte ICV).
        AH(nh=17, payloadlen=4, spi=0x100, seq=1, icv=b"\x00" * 12),
    ]


def frag4(pkt: Packet, size: int = 200) -> list[bytes]:
    """IPv4 fragments of ``pkt`` (each carrying at most ``size`` payload bytes), as raw IP."""
    return [bytes(f) for f in fragment(pkt, fragsize=size)]  # type: ignore[no-untyped-call]


def frag6(pkt: Packet, size: int = 200, ident: int = 0x1234) -> list[bytes]:
    """IPv6 fragments of an IPv6/UDP packet, built by hand to control their size and order.

    Each fragment is the IPv6 header plus a Fragment header (RFC 8200 §4.5) and up to ``size``
    bytes (a multiple of 8 except the last).
    """
    ip6 = pkt.copy()
    payload = bytes(ip6.payload)
    next_header = ip6.nh
    size -= size % 8
    out = []
    for off in range(0, len(payload), size):
        chunk = payload[off : off + size]
        more = off + size < len(payload)
        head = IPv6(src=ip6.src, dst=ip6.dst, nh=44)
        fh = IPv6ExtHdrFragment(nh=next_header, offset=off // 8, m=int(more), id=ident)
        out.append(bytes(head / fh / Raw(chunk)))
    return out


# -- links and tunnels ------------------------------------------------------------------------


def ether(inner: Packet | bytes, ethertype: int | None = None) -> Packet:
    """Ethernet II around ``inner``; raw IP bytes get the EtherType of their version."""
    eth = Ether(src="00:11:22:33:44:55", dst="66:77:88:99:aa:bb")
    if ethertype is None and isinstance(inner, bytes) and inner:
        ethertype = {4: 0x0800, 6: 0x86DD}.get(inner[0] >> 4)
    if ethertype is not None:
        eth.type = ethertype
    return eth / (inner if isinstance(inner, Packet) else Raw(inner))


def vlan(inner: Packet) -> Packet:
    return Ether() / Dot1Q(vlan=100) / inner


def qinq(inner: Packet) -> Packet:
    return Ether() / Dot1AD(vlan=10) / Dot1Q(vlan=20) / inner


def qinq_9100(inner: Packet) -> bytes:
    """Three stacked tags with the pre-standard 0x9100 TPID outermost."""
    raw = bytes(Ether() / Dot1AD(vlan=10) / Dot1Q(vlan=20) / inner)
    return raw[:12] + b"\x91\x00\x00\x05" + raw[12:]


def pppoe(inner: Packet) -> Packet:
    return Ether() / PPPoE(sessionid=7) / PPP(proto=0x0021) / inner


def sll(inner: Packet) -> Packet:
    return CookedLinux(pkttype=0, lladdrtype=1, lladdrlen=6, src=b"\x00" * 8, proto=0x0800) / inner


def sll2(inner: Packet, proto: int = 0x0800) -> Packet:
    return CookedLinuxV2(proto=proto, ifindex=2, lladdrtype=1, lladdrlen=6) / inner


def null_link(inner: Packet | bytes, family: int, big_endian: bool) -> bytes:
    """BSD NULL/LOOP header: the address family as 4 bytes in the chosen byte order."""
    return struct.pack(">I" if big_endian else "<I", family) + bytes(inner)


def ppp_link(inner: Packet) -> bytes:
    """LINKTYPE_PPP framing: FF 03 then the 2-byte protocol."""
    return b"\xff\x03\x00\x21" + bytes(inner)


def gre(inner: Packet | bytes, proto: int, **fields: int) -> Packet:
    """GRE header with protocol ``proto`` and any header fields (``key_present=1, key=5``)."""
    head = GRE(proto=proto)
    for name, value in fields.items():
        setattr(head, name, value)
    return head / (inner if isinstance(inner, Packet) else Raw(inner))


def erspan2(inner_eth: Packet) -> Packet:
    return (
        IP(src="192.0.2.1", dst="192.0.2.2")
        / GRE(seqnum_present=1, sequence_number=5)
        / (ERSPAN_II(session_id=3) / inner_eth)
    )


def erspan3(inner_eth: Packet, platform: bool = False) -> Packet:
    head = ERSPAN_III(session_id=4, o=1 if platform else 0)
    if platform:
        head = head / ERSPAN_PlatformSpecific()
    return IP(src="192.0.2.1", dst="192.0.2.2") / GRE(seqnum_present=1) / head / inner_eth


def vxlan(inner_eth: Packet) -> Packet:
    return (
        IP(src="192.0.2.1", dst="192.0.2.2")
        / UDP(sport=40000, dport=4789)
        / (VXLAN(vni=42) / inner_eth)
    )


# -- capture writers --------------------------------------------------------------------------

Record = tuple[float, bytes]


def pcap_bytes(
    records: Iterable[Record],
    linktype: int,
    *,
    big_endian: bool = False,
    nanos: bool = False,
    snaplen: int = 262144,
) -> bytes:
    """A classic pcap file (µs or ns magic, either byte order)."""
    order = ">" if big_endian else "<"
    magic = 0xA1B23C4D if nanos else 0xA1B2C3D4
    unit = 1_000_000_000 if nanos else 1_000_000
    out = [struct.pack(order + "IHHiIII", magic, 2, 4, 0, 0, snaplen, linktype)]
    for ts, data in records:
        ticks = round(ts * unit)
        sec, frac = divmod(ticks, unit)
        out.append(struct.pack(order + "IIII", sec, frac, len(data), len(data)) + data)
    return b"".join(out)


def _pad4(data: bytes) -> bytes:
    return data + b"\x00" * (-len(data) % 4)


def ng_block(btype: int, body: bytes, *, big_endian: bool = False) -> bytes:
    """One pcapng block with correct leading and trailing lengths."""
    order = ">" if big_endian else "<"
    body = _pad4(body)
    length = len(body) + 12
    return struct.pack(order + "II", btype, length) + body + struct.pack(order + "I", length)


def ng_shb(*, big_endian: bool = False) -> bytes:
    order = ">" if big_endian else "<"
    body = struct.pack(order + "IHHq", 0x1A2B3C4D, 1, 0, -1)
    return ng_block(0x0A0D0D0A, body, big_endian=big_endian)


def ng_idb(
    linktype: int,
    *,
    tsresol: int | None = None,
    tsoffset: int | None = None,
    snaplen: int = 0,
    big_endian: bool = False,
) -> bytes:
    order = ">" if big_endian else "<"
    body = struct.pack(order + "HHI", linktype, 0, snaplen)
    if tsresol is not None:
        body += struct.pack(order + "HH", 9, 1) + _pad4(bytes([tsresol]))
    if tsoffset is not None:
        body += struct.pack(order + "HHq", 14, 8, tsoffset)
    if tsresol is not None or tsoffset is not None:
        body += struct.pack(order + "HH", 0, 0)
    return ng_block(1, body, big_endian=big_endian)


def ng_epb(iface: int, ticks: int, data: bytes, *, big_endian: bool = False) -> bytes:
    order = ">" if big_endian else "<"
    head = struct.pack(
        order + "IIIII", iface, ticks >> 32, ticks & 0xFFFFFFFF, len(data), len(data)
    )
    return ng_block(6, head + data, big_endian=big_endian)


def ng_spb(data: bytes, orig_len: int | None = None, *, big_endian: bool = False) -> bytes:
    order = ">" if big_endian else "<"
    orig = len(data) if orig_len is None else orig_len
    return ng_block(3, struct.pack(order + "I", orig) + data, big_endian=big_endian)


def ng_opb(iface: int, ticks: int, data: bytes, *, big_endian: bool = False) -> bytes:
    order = ">" if big_endian else "<"
    head = struct.pack(
        order + "HHIIII", iface, 0, ticks >> 32, ticks & 0xFFFFFFFF, len(data), len(data)
    )
    return ng_block(2, head + data, big_endian=big_endian)


def pcapng_bytes(records: Iterable[Record], linktype: int, *, big_endian: bool = False) -> bytes:
    """A one-section, one-interface pcapng file with µs EPBs."""
    parts = [ng_shb(big_endian=big_endian), ng_idb(linktype, big_endian=big_endian)]
    for ts, data in records:
        parts.append(ng_epb(0, round(ts * 1_000_000), data, big_endian=big_endian))
    return b"".join(parts)


def netmon_bytes(
    records: Iterable[Record], media: int = 1, *, minor: int = 0, start: float = 1121614760.5
) -> bytes:
    """A NetMon 2.x file: 128-byte header, frame records (+ trailer from 2.1), frame table."""
    import datetime

    begin = datetime.datetime.fromtimestamp(start, tz=datetime.UTC)
    frames = []
    offsets = []
    pos = 128
    for ts, data in records:
        rec = struct.pack("<QII", round((ts - start) * 1e6), len(data), len(data)) + data
        if minor >= 1:
            rec += struct.pack("<H", media)
        if minor >= 2:
            rec += b"\x00" * 4
        if minor >= 3:
            ticks = 116_444_736_000_000_000 + round(ts * 1e6) * 10
            rec += struct.pack("<QB", ticks, 0)
        offsets.append(pos)
        frames.append(rec)
        pos += len(rec)
    table = struct.pack(f"<{len(offsets)}I", *offsets)
    header = struct.pack(
        "<4sBBH8HII",
        b"GMBU",
        minor,
        2,
        media,
        begin.year,
        begin.month,
        begin.isoweekday() % 7,
        begin.day,
        begin.hour,
        begin.minute,
        begin.second,
        begin.microsecond // 1000,
        pos,
        len(table),
    )
    return header.ljust(128, b"\x00") + b"".join(frames) + table
