"""Wire-format numbers shared by the readers and the decoder.

Frames carry the pcap/pcapng ``LINKTYPE_*`` number (tcpdump.org "Link-layer header types"), so
every reader maps its own numbering onto that one table and the decoder needs to know only one.
NetMon has its own media-type numbering, mapped here by :func:`netmon_linktype`. The
EtherTypes and IP protocol numbers the decoder dispatches on live here too, so the decoder
module holds only decoding.
"""

from __future__ import annotations

from typing import Final

LINKTYPE_NULL: Final = 0  # BSD loopback: 4-byte address family in the capturing host's byte order
LINKTYPE_ETHERNET: Final = 1
LINKTYPE_TOKEN_RING: Final = 6
LINKTYPE_PPP: Final = 9  # RFC 1662 framing: FF 03 then the PPP protocol number
LINKTYPE_FDDI: Final = 10
LINKTYPE_RAW_DLT12: Final = 12  # DLT_RAW on most BSDs, written by old libpcap versions
LINKTYPE_RAW_DLT14: Final = 14  # DLT_RAW on OpenBSD
LINKTYPE_PPP_HDLC: Final = 50  # PPP in HDLC-like framing (RFC 1662), same layout as LINKTYPE_PPP
LINKTYPE_RAW: Final = 101  # raw IPv4 or IPv6, version from the first nibble
LINKTYPE_LOOP: Final = 108  # OpenBSD loopback: like NULL but the family is big-endian
LINKTYPE_LINUX_SLL: Final = 113
LINKTYPE_IPV4: Final = 228
LINKTYPE_IPV6: Final = 229
LINKTYPE_LINUX_SLL2: Final = 276

#: The link types :class:`sipwatch.capture.decode.Decoder` decodes (tests/test_capture_decode.py
#: holds this set and the decoder's dispatch equal). A classic pcap has one link type for all
#: its records, so one outside this set makes the whole file unreadable.
DECODED_LINKTYPES: Final[frozenset[int]] = frozenset(
    {
        LINKTYPE_NULL,
        LINKTYPE_ETHERNET,
        LINKTYPE_PPP,
        LINKTYPE_RAW_DLT12,
        LINKTYPE_RAW_DLT14,
        LINKTYPE_PPP_HDLC,
        LINKTYPE_RAW,
        LINKTYPE_LOOP,
        LINKTYPE_LINUX_SLL,
        LINKTYPE_IPV4,
        LINKTYPE_IPV6,
        LINKTYPE_LINUX_SLL2,
    }
)

#: Names of link types a capture file may hold but sipwatch does not decode, for error messages
#: (tcpdump.org "Link-layer header types").
_UNDECODED_NAMES: Final[dict[int, str]] = {
    LINKTYPE_TOKEN_RING: "IEEE802_5 Token Ring",
    LINKTYPE_FDDI: "FDDI",
    105: "IEEE802_11 Wi-Fi",
    119: "PRISM_HEADER",
    127: "IEEE802_11_RADIOTAP",
    **{147 + n: f"USER{n}" for n in range(16)},
    187: "BLUETOOTH_HCI_H4",
    189: "USB_LINUX",
    195: "IEEE802_15_4",
    220: "USB_LINUX_MMAPPED",
    249: "NETLINK",
}


def linktype_name(link: int) -> str:
    """``147 (USER0)`` for a known name, else ``147``."""
    name = _UNDECODED_NAMES.get(link)
    return f"{link} ({name})" if name else str(link)


#: Frames of a NetMon record type that is not a packet (process table, event trace, filter...).
LINKTYPE_NETMON_SPECIAL: Final = 0x10000 - 1

# NetMon media types (the "network" field of the file header and of the 2.1+ per-frame trailer).
_NETMON_MEDIA: Final[dict[int, int]] = {
    1: LINKTYPE_ETHERNET,
    2: LINKTYPE_TOKEN_RING,
    3: LINKTYPE_FDDI,
    7: LINKTYPE_RAW,  # wireless WAN: raw IP
    8: LINKTYPE_RAW,  # RAS WAN / tunnel: raw IP
}
#: NetMon 3.x stores frames of any pcap link type as media 0xE000 + LINKTYPE.
_NETMON_PCAP_BASE: Final = 0xE000


def netmon_linktype(media: int) -> int:
    """The LINKTYPE for a NetMon media type; unknown media keep a value the decoder will count.

    Media types 0xFFE0-0xFFFF are NetMon's own records (event traces, process info, filters):
    they are frames of the file but carry no packet, so they map to LINKTYPE_NETMON_SPECIAL.
    """
    known = _NETMON_MEDIA.get(media)
    if known is not None:
        return known
    if media >= 0xFFE0:
        return LINKTYPE_NETMON_SPECIAL
    if media & 0xF000 == _NETMON_PCAP_BASE:
        return media & 0x0FFF
    # Keep the NetMon number out of the LINKTYPE range, so it is reported as unknown.
    return 0x20000 | media


# EtherTypes (IEEE Registration Authority).
ETH_IPV4: Final = 0x0800
ETH_IPV6: Final = 0x86DD
ETH_VLAN: Final = 0x8100  # IEEE 802.1Q C-tag
ETH_QINQ: Final = 0x88A8  # IEEE 802.1ad S-tag
ETH_QINQ_OLD: Final = 0x9100  # pre-standard QinQ
ETH_PPPOE_SESSION: Final = 0x8864
ETH_MPLS: Final = 0x8847
ETH_MPLS_MC: Final = 0x8848
ETH_TEB: Final = 0x6558  # Transparent Ethernet Bridging (RFC 1701 protocol type)
ETH_PPP: Final = 0x880B  # PPP in GRE (RFC 2637)
ETH_ERSPAN2: Final = 0x88BE
ETH_ERSPAN3: Final = 0x22EB
VLAN_TPIDS: Final = frozenset({ETH_VLAN, ETH_QINQ, ETH_QINQ_OLD})

# IP protocol numbers (IANA).
P_ICMP: Final = 1
P_IPIP: Final = 4
P_TCP: Final = 6
P_UDP: Final = 17
P_IPV6: Final = 41
P_GRE: Final = 47
P_ESP: Final = 50
P_AH: Final = 51
P_ICMPV6: Final = 58
P_NONE: Final = 59
P_SCTP: Final = 132
# RFC 8200 §4 and RFC 7045: extension headers with the uniform (next header, 8-octet length)
# layout: hop-by-hop, routing, destination options, mobility, HIP, shim6.
V6_UNIFORM_EXT: Final = frozenset({0, 43, 60, 135, 139, 140})
V6_FRAGMENT: Final = 44

VXLAN_PORT: Final = 4789  # RFC 7348 §5
#: BSD NULL/LOOP address-family values for IPv6: NetBSD/OpenBSD 24, FreeBSD 28, macOS 30, Linux 10.
AF_INET6_VALUES: Final = frozenset({24, 28, 30, 10})
AF_INET: Final = 2
#: ICMP types whose body quotes the offending datagram (RFC 792): unreachable, source quench,
#: redirect, time exceeded, parameter problem.
ICMP_ERRORS: Final = frozenset({3, 4, 5, 11, 12})
