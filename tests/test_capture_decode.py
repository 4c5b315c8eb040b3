"""The decoder: public captures against tshark, and every link type and tunnel built with scapy.

Built frames go through a real capture file (pcap, pcapng, big-endian nanosecond pcap, gzip)
and :func:`open_capture`, so these tests also exercise the readers with each link type.
"""

from __future__ import annotations

import gzip
import json
import random
import shutil
import struct
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scapy.layers.inet import ICMP, IP, TCP, UDP, IPOption_Router_Alert
from scapy.layers.inet6 import ICMPv6DestUnreach, IPv6
from scapy.layers.l2 import ARP, Ether
from scapy.layers.sctp import SCTP, SCTPChunkData
from scapy.packet import Raw

from sipwatch.capture.decode import Decoder
from sipwatch.capture.linktypes import DECODED_LINKTYPES, LINKTYPE_NETMON_SPECIAL
from sipwatch.capture.readers import open_capture
from sipwatch.capture.types import Frame, IcmpError, Segment
from sipwatch.sip.detect import looks_like_sip
from tests import build_frames as bf
from tests.conftest import PUBLIC, public_capture, public_oracles

SIP = bf.sip_request("INVITE", body_size=120)
V4 = (("10.0.0.1", 5060), ("10.0.0.2", 5060))
V6 = (("2001:db8::1", 5060), ("2001:db8::2", 5060))
ORACLES = sorted(PUBLIC.glob("*.oracle.json")) if PUBLIC.is_dir() else []


class FakeStage:
    """Stands in for the TCP / SCTP stage: records calls, returns one marker Segment each."""

    def __init__(self, transport: str = "tcp") -> None:
        self.transport = transport
        self.calls: list[tuple[float, int, str, str, bytes]] = []
        self.expired: list[float] = []

    def feed(
        self, ts: float, frame_no: int, src_ip: str, dst_ip: str, data: bytes, /
    ) -> list[Segment]:
        self.calls.append((ts, frame_no, src_ip, dst_ip, data))
        return [Segment(ts, frame_no, (src_ip, 0), (dst_ip, 0), "tcp", data, True)]

    def expire(self, ts: float, /) -> None:
        self.expired.append(ts)

    def flush(self) -> list[Segment]:
        return [Segment(0.0, 0, ("x", 1), ("y", 2), "tcp", self.transport.encode(), True)]


CONTAINERS: dict[str, Callable[[list[tuple[float, bytes]], int], bytes]] = {
    "pcap": bf.pcap_bytes,
    "pcap-be-ns": lambda recs, link: bf.pcap_bytes(recs, link, big_endian=True, nanos=True),
    "pcapng": bf.pcapng_bytes,
    "pcapng-be.gz": lambda recs, link: gzip.compress(bf.pcapng_bytes(recs, link, big_endian=True)),
}


def decode_file(
    tmp_path: Path,
    frames: list[bytes],
    linktype: int,
    *,
    container: str = "pcap",
    decoder: Decoder | None = None,
    start: float = 1_700_000_000.0,
    step: float = 0.01,
) -> tuple[list[Segment], Decoder]:
    """Write ``frames`` into a capture file, read it back and decode every frame."""
    records = [(start + i * step, data) for i, data in enumerate(frames)]
    path = tmp_path / f"frames.{container}"
    path.write_bytes(CONTAINERS[container](records, linktype))
    decoder = decoder or Decoder()
    out: list[Segment] = []
    with open_capture(path) as source:
        for frame in source:
            out.extend(decoder.feed(frame))
    return out, decoder


def feed_bytes(data: bytes, linktype: int = 1, decoder: Decoder | None = None) -> list[Segment]:
    decoder = decoder or Decoder()
    return decoder.feed(Frame(1.0, linktype, data, 1, len(data)))


# -- the public captures --------------------------------------------------------------------------

#: Files where sipwatch's content detection (sipwatch.sip.detect) and tshark's SIP heuristics
#: disagree on PROTOS / fuzzed datagrams; README of the captures calls this a policy choice.
#: For these the decoder is checked against an independent scapy decode + the same detector.
DETECTION_POLICY_FILES = {"c07-sip-r2.cap", "fuzz-2006-06-26-2594.pcap"}


def udp_sip_frame_numbers(path: Path) -> tuple[set[int], Decoder, FakeStage, FakeStage]:
    tcp, sctp = FakeStage("tcp"), FakeStage("sctp")
    decoder = Decoder(tcp, sctp)
    numbers: set[int] = set()
    with open_capture(path) as source:
        for frame in source:
            for seg in decoder.feed(frame):
                if seg.transport == "udp":
                    assert seg.frame == frame.number
                    numbers.add(frame.number)
    return numbers, decoder, tcp, sctp


@pytest.mark.shared
@pytest.mark.parametrize("oracle", public_oracles())
def test_public_capture_udp_sip_count(oracle: Path) -> None:
    expected = json.loads(oracle.read_text())
    path = oracle.with_name(expected["file"])
    numbers, decoder, _, _ = udp_sip_frame_numbers(path)
    assert decoder.skipped["decode-error"] == 0
    if expected["file"] in DETECTION_POLICY_FILES:
        assert numbers == scapy_udp_sip_frames(path)
    else:
        assert len(numbers) == expected["notable"]["udp_sip_frames"]


def scapy_udp_sip_frames(path: Path) -> set[int]:
    """Frames whose unfragmented UDP payload (decoded by scapy) the SIP detector accepts."""
    found = set()
    with open_capture(path) as source:
        for frame in source:
            pkt = Ether(frame.data)
            if IP not in pkt or UDP not in pkt or pkt[IP].frag or pkt[IP].flags.MF:
                continue
            payload = bytes(pkt[UDP].payload)[: max(0, pkt[UDP].len - 8)]
            if payload and looks_like_sip(payload):
                found.add(frame.number)
    return found


@pytest.mark.shared
@pytest.mark.parametrize(
    ("name", "reassembled"),
    [("gprshome-sip.pcap", 16), ("ipv6frag.pcap", 2), ("private-test-sip.pcapng", 1)],
)
def test_public_fragmented_sip_is_reassembled(name: str, reassembled: int) -> None:
    """Each non-final fragment tshark lists as carrying "SIP/2.0" completes into one message."""
    _, decoder, _, _ = udp_sip_frame_numbers(public_capture(name))
    assert decoder.notes["ip-fragment-reassembled"] == reassembled


@pytest.mark.shared
def test_public_sip_quoted_in_icmp() -> None:
    numbers, decoder, _, _ = udp_sip_frame_numbers(public_capture("private-test-sip.pcapng"))
    assert {2, 150, 152} <= numbers
    assert decoder.notes["sip-in-icmp-error"] == 3
    assert decoder.notes["sip-in-icmp-error-cut"] == 1  # frame 2 quotes 548 of 554 bytes


@pytest.mark.shared
def test_public_tcp_and_sctp_are_handed_over() -> None:
    _, _, tcp, _ = udp_sip_frame_numbers(public_capture("ipip.pcap"))
    # frames 2 and 3 are IP-in-IP: the inner addresses are the ones handed over
    assert [(c[1], c[2], c[3]) for c in tcp.calls] == [
        (1, "10.15.197.103", "10.15.193.31"),
        (2, "10.15.193.31", "10.15.197.103"),
        (3, "10.15.193.31", "10.15.197.103"),
        (4, "10.15.197.103", "10.15.193.31"),
    ]
    assert [struct.unpack_from("!H", c[4])[0] for c in tcp.calls] == [5090, 33093, 33093, 5090]
    _, _, tcp, sctp = udp_sip_frame_numbers(public_capture("sip_sctp.pcap"))
    assert not tcp.calls
    assert [struct.unpack_from("!HH", c[4]) for c in sctp.calls] == [
        (57098, 5060),
        (57098, 5060),
        (5060, 5060),
        (5060, 5060),
        (57098, 5060),
    ]
    assert sctp.calls[2][2:4] == ("10.108.207.113", "10.249.30.11")
    _, _, tcp, _ = udp_sip_frame_numbers(public_capture("sip_ipv4_tcp_fragmented.pcap"))
    assert len(tcp.calls) == 1542


TSHARK_CHECKED = [
    "private-test-sip.pcapng",
    "gprshome-sip.pcap",
    "ipv6frag.pcap",
    "erspan_sip_ipv4_udp.pcapng",
    "gre_sip.pcapng",
    "dtmfsipinfo.pcap",
    "h263-over-rtp.pcap",
    "ipip0.pcap",
    "sip-long-request-response-paths.pcap",
    "attended_transfer.pcap",
    "sip_tcp_websocket.pcap",
]


@pytest.mark.tshark
@pytest.mark.shared
@pytest.mark.parametrize("name", TSHARK_CHECKED)
def test_same_frames_as_tshark(name: str) -> None:
    path = public_capture(name)
    if shutil.which("tshark") is None:
        pytest.skip("tshark not installed")
    out = subprocess.run(
        ["tshark", "-n", "-r", str(path), "-Y", "sip && udp", "-T", "fields", "-e", "frame.number"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    numbers, _, _, _ = udp_sip_frame_numbers(path)
    assert numbers == {int(n) for n in out}


# -- link types -----------------------------------------------------------------------------------

Case = tuple[int, Callable[[], bytes], tuple[tuple[str, int], tuple[str, int]]]
LINK_CASES: dict[str, Case] = {
    "ethernet": (1, lambda: bytes(bf.ether(bf.udp4(SIP))), V4),
    "802.1q": (1, lambda: bytes(bf.vlan(bf.udp4(SIP))), V4),
    "qinq": (1, lambda: bytes(bf.qinq(bf.udp4(SIP))), V4),
    "qinq-9100-triple": (1, lambda: bf.qinq_9100(bf.udp4(SIP)), V4),
    "pppoe": (1, lambda: bytes(bf.pppoe(bf.udp4(SIP))), V4),
    "llc-snap": (
        1,
        lambda: (
            b"\x66" * 6
            + b"\x00\x11\x22\x33\x44\x55"
            + struct.pack("!H", 300)
            + b"\xaa\xaa\x03\x00\x00\x00\x08\x00"
            + bytes(bf.udp4(SIP))
        ),
        V4,
    ),
    "mpls-2-labels": (
        1,
        lambda: (
            bytes(Ether(type=0x8847)) + b"\x00\x01\x00\x40\x00\x02\x01\x40" + bytes(bf.udp6(SIP))
        ),
        V6,
    ),
    "sll": (113, lambda: bytes(bf.sll(bf.udp4(SIP))), V4),
    "sll2": (276, lambda: bytes(bf.sll2(bf.udp4(SIP))), V4),
    "sll2-ipv6": (276, lambda: bytes(bf.sll2(bf.udp6(SIP), proto=0x86DD)), V6),
    "null-le-inet": (0, lambda: bf.null_link(bf.udp4(SIP), 2, False), V4),
    "null-be-inet": (0, lambda: bf.null_link(bf.udp4(SIP), 2, True), V4),
    "null-le-inet6-24": (0, lambda: bf.null_link(bf.udp6(SIP), 24, False), V6),
    "null-le-inet6-28": (0, lambda: bf.null_link(bf.udp6(SIP), 28, False), V6),
    "null-be-inet6-30": (0, lambda: bf.null_link(bf.udp6(SIP), 30, True), V6),
    "loop-inet": (108, lambda: bf.null_link(bf.udp4(SIP), 2, True), V4),
    "loop-inet6": (108, lambda: bf.null_link(bf.udp6(SIP), 24, True), V6),
    "raw-101-v4": (101, lambda: bytes(bf.udp4(SIP)), V4),
    "raw-101-v6": (101, lambda: bytes(bf.udp6(SIP)), V6),
    "raw-12": (12, lambda: bytes(bf.udp4(SIP)), V4),
    "raw-14": (14, lambda: bytes(bf.udp6(SIP)), V6),
    "ipv4-228": (228, lambda: bytes(bf.udp4(SIP)), V4),
    "ipv6-229": (229, lambda: bytes(bf.udp6(SIP)), V6),
    "ppp-9": (9, lambda: bf.ppp_link(bf.udp4(SIP)), V4),
    "ipv4-options": (
        1,
        lambda: bytes(
            bf.ether(
                IP(src="10.0.0.1", dst="10.0.0.2", options=[IPOption_Router_Alert()])
                / UDP(sport=5060, dport=5060)
                / Raw(SIP)
            )
        ),
        V4,
    ),
    "ipv6-ext-headers": (1, lambda: bytes(bf.ether(bf.udp6(SIP, ext=bf.v6_ext_chain()))), V6),
}


@pytest.mark.parametrize("container", list(CONTAINERS))
@pytest.mark.parametrize("case", list(LINK_CASES))
def test_link_types(tmp_path: Path, case: str, container: str) -> None:
    linktype, build, (src, dst) = LINK_CASES[case]
    segments, decoder = decode_file(tmp_path, [build()], linktype, container=container)
    assert len(segments) == 1, dict(decoder.skipped)
    seg = segments[0]
    assert (seg.src, seg.dst, seg.transport, seg.data, seg.frame) == (src, dst, "udp", SIP, 1)
    assert seg.ts == pytest.approx(1_700_000_000.0, abs=1e-6)
    assert not seg.stream
    assert not decoder.skipped


# -- tunnels --------------------------------------------------------------------------------------

OUTER = IP(src="192.0.2.1", dst="192.0.2.2")
OUTER_GRE = IP(src="192.0.2.1", dst="192.0.2.2", proto=47)  # for hand-built GRE headers
OUTER6 = IPv6(src="2001:db8:ff::1", dst="2001:db8:ff::2")


def _pptp_gre(inner: bytes) -> bytes:
    """Enhanced GRE (RFC 2637 §4.1): version 1, key (length + call id), sequence, ack."""
    head = struct.pack("!HHHHII", 0x3081, 0x880B, len(inner) + 4, 7, 1, 0)
    return head + b"\xff\x03\x00\x21" + inner


def _gre_with_routing(inner: bytes) -> bytes:
    """RFC 1701 GRE with R bit: checksum/offset word, one IPv4 SRE, then the null SRE."""
    sre = struct.pack("!HBB", 0x0800, 0, 4) + bytes([198, 51, 100, 1])
    return struct.pack("!HHHH", 0x4000, 0x0800, 0, 0) + sre + b"\x00\x00\x00\x00" + inner


TUNNEL_CASES: dict[str, Callable[[], bytes]] = {
    "ipip": lambda: bytes(bf.ether(OUTER / bf.udp4(SIP))),
    "6in4": lambda: bytes(bf.ether(OUTER / bf.udp6(SIP))),
    "4in6": lambda: bytes(bf.ether(OUTER6 / bf.udp4(SIP))),
    "gre-ipv4": lambda: bytes(bf.ether(OUTER / bf.gre(bf.udp4(SIP), 0x0800))),
    "gre-csum-key-seq": lambda: bytes(
        bf.ether(
            OUTER
            / bf.gre(
                bf.udp4(SIP),
                0x0800,
                chksum_present=1,
                key_present=1,
                seqnum_present=1,
                key=77,
                sequence_number=9,
            )
        )
    ),
    "gre-ipv6": lambda: bytes(bf.ether(OUTER / bf.gre(bf.udp6(SIP), 0x86DD))),
    "gre-teb": lambda: bytes(bf.ether(OUTER / bf.gre(bf.ether(bf.udp4(SIP)), 0x6558))),
    "gre-teb-vlan": lambda: bytes(bf.ether(OUTER / bf.gre(bf.vlan(bf.udp4(SIP)), 0x6558))),
    "gre-pptp-ppp": lambda: bytes(bf.ether(OUTER_GRE / Raw(_pptp_gre(bytes(bf.udp4(SIP)))))),
    "gre-routing": lambda: bytes(bf.ether(OUTER_GRE / Raw(_gre_with_routing(bytes(bf.udp4(SIP)))))),
    "erspan-1": lambda: bytes(bf.ether(OUTER / bf.gre(bf.ether(bf.udp4(SIP)), 0x88BE))),
    "erspan-2": lambda: bytes(bf.ether(bf.erspan2(bf.ether(bf.udp4(SIP))))),
    "erspan-3": lambda: bytes(bf.ether(bf.erspan3(bf.ether(bf.udp4(SIP))))),
    "erspan-3-platform": lambda: bytes(bf.ether(bf.erspan3(bf.ether(bf.udp4(SIP)), True))),
    "vxlan": lambda: bytes(bf.ether(bf.vxlan(bf.ether(bf.udp4(SIP))))),
    "qinq-pppoe-gre-ppp": lambda: _qinq_pppoe_gre(),  # noqa: PLW0108 - defined below
    "nested-gre-vxlan-4in6": lambda: bytes(
        bf.ether(OUTER / bf.gre(bf.vlan(bf.vxlan(bf.ether(OUTER6 / bf.udp4(SIP)))), 0x6558))
    ),
}


def _qinq_pppoe_gre() -> bytes:
    """The gre_sip.pcapng stack: QinQ, PPPoE, PPP, IP, GRE, PPP, IP, UDP, SIP."""
    inner = OUTER_GRE / Raw(_pptp_gre(bytes(bf.udp4(SIP))))
    return bytes(bf.qinq(bf.pppoe(inner)[Ether].payload))


@pytest.mark.parametrize("container", ["pcap", "pcapng-be.gz"])
@pytest.mark.parametrize("case", list(TUNNEL_CASES))
def test_tunnels(tmp_path: Path, case: str, container: str) -> None:
    segments, decoder = decode_file(tmp_path, [TUNNEL_CASES[case]()], 1, container=container)
    assert len(segments) == 1, dict(decoder.skipped)
    expected = V6 if case in ("6in4", "gre-ipv6") else V4
    assert (segments[0].src, segments[0].dst, segments[0].data) == (*expected, SIP)
    assert not decoder.skipped


def test_tunnel_depth_is_bounded() -> None:
    pkt = bf.udp4(SIP)
    for _ in range(12):
        pkt = IP(src="192.0.2.1", dst="192.0.2.2") / pkt
    decoder = Decoder(max_depth=8)
    assert feed_bytes(bytes(bf.ether(pkt)), decoder=decoder) == []
    assert decoder.skipped == {"tunnel-too-deep": 1}
    assert len(feed_bytes(bytes(bf.ether(pkt)), decoder=Decoder(max_depth=20))) == 1


def test_vxlan_without_i_flag_is_plain_udp() -> None:
    raw = bytes(bf.ether(bf.udp4(b"\x00" * 8 + bytes(bf.ether(bf.udp4(SIP))), dport=4789)))
    decoder = Decoder()
    assert feed_bytes(raw, decoder=decoder) == []
    assert decoder.skipped == {"non-sip-udp": 1}


# -- IP fragments through the decoder -----------------------------------------------------------

BIG_SIP = bf.sip_request("INVITE", body_size=1800)


@pytest.mark.parametrize("order", ["in-order", "reversed", "shuffled"])
def test_ipv4_fragments(tmp_path: Path, order: str) -> None:
    frags = bf.frag4(bf.udp4(BIG_SIP, ident=0x4242), 400)
    assert len(frags) == 6
    if order == "reversed":
        frags.reverse()
    elif order == "shuffled":
        random.Random(7).shuffle(frags)
    segments, decoder = decode_file(
        tmp_path, [bytes(bf.ether(f)) for f in frags], 1, container="pcapng"
    )
    assert len(segments) == 1
    assert segments[0].data == BIG_SIP
    assert segments[0].frame == 6  # the frame that completed the datagram
    assert (segments[0].src, segments[0].dst) == V4
    assert decoder.skipped == {"ip-fragment-pending": 5}
    assert decoder.notes["ip-fragment-reassembled"] == 1


def test_ipv4_fragments_overlapping_and_duplicated(tmp_path: Path) -> None:
    frags = bf.frag4(bf.udp4(BIG_SIP), 400)
    # an exact duplicate of fragment 1, and a rewritten fragment overlapping fragments 2 and 3
    # that arrives after both
    overlap = IP(frags[2])
    overlap.frag += 5  # starts 40 bytes into fragment 2's data
    overlap[Raw].load = b"Z" * len(overlap[Raw].load)
    overlap.len = overlap.chksum = None
    sequence = [frags[0], frags[1], frags[1], frags[2], frags[3], bytes(overlap), *frags[4:]]
    segments, decoder = decode_file(tmp_path, [bytes(bf.ether(f)) for f in sequence], 1)
    assert [s.data for s in segments] == [BIG_SIP]  # first-arrived bytes win
    assert decoder.notes["ip-fragment-duplicate"] == 1
    assert decoder.notes["ip-fragment-overlap"] == 1


@pytest.mark.parametrize("order", ["in-order", "reversed"])
def test_ipv6_fragments(tmp_path: Path, order: str) -> None:
    frags = bf.frag6(bf.udp6(BIG_SIP), 600)
    if order == "reversed":
        frags.reverse()
    segments, decoder = decode_file(
        tmp_path, [bytes(bf.ether(f)) for f in frags], 1, container="pcap-be-ns"
    )
    assert [(s.src, s.dst, s.data) for s in segments] == [(*V6, BIG_SIP)]
    assert segments[0].frame == len(frags)
    assert decoder.skipped == {"ip-fragment-pending": len(frags) - 1}


def test_ipv6_atomic_fragment_is_a_whole_packet() -> None:
    """RFC 6946: a Fragment header with offset 0 and M clear is not a fragment."""
    from scapy.layers.inet6 import IPv6ExtHdrFragment

    pkt = bf.udp6(SIP, ext=[IPv6ExtHdrFragment(offset=0, m=0, id=5)])
    assert [s.data for s in feed_bytes(bytes(bf.ether(pkt)))] == [SIP]


def test_fragments_time_out_on_capture_time(tmp_path: Path) -> None:
    frags = [bytes(bf.ether(f)) for f in bf.frag4(bf.udp4(BIG_SIP), 800)]
    # 31 s between fragments: each one finds the previous expired
    segments, decoder = decode_file(tmp_path, frags, 1, step=31.0)
    assert segments == []
    assert decoder.notes["ip-fragment-timeout"] == len(frags) - 1
    decoder.expire(1_800_000_000.0)
    assert len(decoder.fragments) == 0
    assert decoder.notes["ip-fragment-timeout"] == len(frags)


def test_flush_drops_incomplete_and_returns_stream_leftovers() -> None:
    tcp, sctp = FakeStage("tcp"), FakeStage("sctp")
    decoder = Decoder(tcp, sctp)
    decoder.feed(Frame(1.0, 1, bytes(bf.ether(bf.frag4(bf.udp4(BIG_SIP), 800)[0])), 1))
    assert [s.data for s in decoder.flush()] == [b"tcp", b"sctp"]
    assert decoder.notes["ip-fragment-incomplete-at-end"] == 1
    decoder.expire(42.0)
    assert tcp.expired == [42.0] and sctp.expired == [42.0]


# -- ICMP errors ----------------------------------------------------------------------------------


def test_sip_quoted_in_icmp_unreachable() -> None:
    quoted = bytes(bf.udp4(SIP))
    pkt = IP(src="10.0.0.2", dst="10.0.0.1") / ICMP(type=3, code=3) / Raw(quoted)
    decoder = Decoder()
    segments = feed_bytes(bytes(bf.ether(pkt)), decoder=decoder)
    assert [(s.src, s.dst, s.data) for s in segments] == [(*V4, SIP)]
    assert segments[0].icmp == IcmpError(3, 3, "10.0.0.2", 4)  # evidence, not a send
    assert decoder.notes["sip-in-icmp-error"] == 1
    # a quote cut short (as routers do) is still emitted, as tshark does
    cut = IP(src="10.0.0.2", dst="10.0.0.1") / ICMP(type=3, code=3) / Raw(quoted[:200])
    segments = feed_bytes(bytes(bf.ether(cut)), decoder=decoder)
    assert [s.data for s in segments] == [SIP[:172]]
    assert decoder.notes["sip-in-icmp-error-cut"] == 1


def test_sip_quoted_in_icmpv6_unreachable() -> None:
    pkt = (
        IPv6(src="2001:db8::2", dst="2001:db8::1") / ICMPv6DestUnreach() / Raw(bytes(bf.udp6(SIP)))
    )
    segments = feed_bytes(bytes(bf.ether(pkt)))
    assert [(s.src, s.dst, s.data) for s in segments] == [(*V6, SIP)]
    assert segments[0].icmp == IcmpError(1, 0, "2001:db8::2", 6)


def test_icmp_echo_and_quoted_tcp_are_skipped() -> None:
    decoder = Decoder(FakeStage())
    echo = IP() / ICMP(type=8) / Raw(SIP)
    assert feed_bytes(bytes(bf.ether(echo)), decoder=decoder) == []
    quoted_tcp = IP() / ICMP(type=3) / Raw(bytes(IP() / TCP() / Raw(SIP)))
    assert feed_bytes(bytes(bf.ether(quoted_tcp)), decoder=decoder) == []
    assert decoder.skipped == {"icmp": 1, "icmp-error-not-sip": 1}


# -- TCP and SCTP hand-over -----------------------------------------------------------------------


def test_tcp_handed_to_stage_with_addresses() -> None:
    tcp = FakeStage()
    decoder = Decoder(tcp)
    segment = IPv6(src="2001:db8::1", dst="2001:db8::2") / TCP(sport=5060, dport=40000) / Raw(SIP)
    out = decoder.feed(Frame(7.5, 1, bytes(bf.ether(segment)), 3))
    assert tcp.calls == [(7.5, 3, "2001:db8::1", "2001:db8::2", bytes(segment[TCP]))]
    assert out[0].data == bytes(segment[TCP])  # the stage's result is returned as is


def test_sctp_handed_to_stage() -> None:
    sctp = FakeStage("sctp")
    decoder = Decoder(sctp=sctp)
    pkt = (
        IP(src="10.0.0.1", dst="10.0.0.2") / SCTP(sport=5060, dport=5060) / SCTPChunkData(data=SIP)
    )
    decoder.feed(Frame(1.0, 1, bytes(bf.ether(pkt)), 1))
    assert sctp.calls[0][2:] == ("10.0.0.1", "10.0.0.2", bytes(pkt[SCTP]))


def test_without_stages_tcp_and_sctp_are_counted() -> None:
    decoder = Decoder()
    feed_bytes(bytes(bf.ether(IP() / TCP() / Raw(SIP))), decoder=decoder)
    feed_bytes(bytes(bf.ether(IP() / SCTP())), decoder=decoder)
    assert decoder.skipped == {"tcp-not-decoded": 1, "sctp-not-decoded": 1}


# -- what is skipped, and edge cases --------------------------------------------------------------


def test_skip_reasons() -> None:
    decoder = Decoder()
    rtp = bf.udp4(b"\x80\x00" + b"\x11" * 170, sport=16384, dport=16386)
    feed_bytes(bytes(bf.ether(rtp)), decoder=decoder)
    feed_bytes(bytes(bf.ether(bf.udp4(b"HTTP/1.1 200 OK\r\n\r\n"))), decoder=decoder)
    feed_bytes(bytes(Ether() / ARP()), decoder=decoder)
    feed_bytes(bytes(bf.ether(IP(proto=89) / Raw(b"ospf"))), decoder=decoder)
    feed_bytes(b"\x00" * 10, decoder=decoder)
    feed_bytes(bytes(bf.udp4(SIP)), linktype=147, decoder=decoder)
    feed_bytes(bytes(bf.ether(bf.udp4(SIP)))[:30], decoder=decoder)
    assert decoder.skipped == {
        "non-sip-udp": 2,
        "non-ip": 1,
        "not-udp-tcp-sctp": 1,
        "truncated-link": 1,
        "unknown-linktype-147": 1,
        "truncated-ip": 1,
    }


def test_decoded_link_types_are_the_decoders_dispatch() -> None:
    """``DECODED_LINKTYPES`` (what makes a classic pcap readable at all) names exactly the link
    types the decoder dispatches on; every other one is skipped as unknown."""
    for link in [*range(512), 0x8000, 0xFFFE, LINKTYPE_NETMON_SPECIAL]:
        decoder = Decoder()
        feed_bytes(b"\x00" * 64, linktype=link, decoder=decoder)
        unknown = decoder.skipped[f"unknown-linktype-{link}"] == 1
        assert unknown == (link not in DECODED_LINKTYPES | {LINKTYPE_NETMON_SPECIAL}), link


def test_ethernet_padding_is_not_payload() -> None:
    tiny = b"SIP/2.0 200 OK\r\n"
    frame = bytes(bf.ether(bf.udp4(tiny)))
    assert len(frame) < 60
    padded = frame + b"\x00" * (60 - len(frame))
    assert [s.data for s in feed_bytes(padded)] == [tiny]


def test_snaplen_cut_datagram_is_passed_on_and_noted() -> None:
    decoder = Decoder()
    frame = bytes(bf.ether(bf.udp4(SIP)))[:200]
    segments = feed_bytes(frame, decoder=decoder)
    assert [s.data for s in segments] == [SIP[: 200 - 42]]
    assert decoder.notes["ip-truncated"] == 1 and decoder.notes["udp-truncated"] == 1


def test_sip_on_any_port() -> None:
    segments = feed_bytes(bytes(bf.ether(bf.udp4(SIP, sport=33333, dport=80))))
    assert [(s.src[1], s.dst[1]) for s in segments] == [(33333, 80)]


def test_fast_path_and_general_path_agree() -> None:
    """The Ethernet/IPv4/UDP shortcut must give what the general path gives."""
    frame = bytes(bf.ether(bf.udp4(SIP)))
    fast = feed_bytes(frame)
    general = feed_bytes(bytes(bf.sll2(bf.udp4(SIP))), linktype=276)  # the general path
    assert [(s.src, s.dst, s.data) for s in fast] == [(s.src, s.dst, s.data) for s in general]


# -- robustness -----------------------------------------------------------------------------------

VALID_FRAMES = [
    (1, bytes(bf.ether(bf.udp4(SIP)))),
    (1, bytes(bf.qinq(bf.udp6(SIP, ext=bf.v6_ext_chain())))),
    (1, _qinq_pppoe_gre()),
    (1, bytes(bf.ether(bf.erspan3(bf.ether(bf.udp4(SIP)), True)))),
    (1, bytes(bf.ether(bf.vxlan(bf.ether(bf.udp4(SIP)))))),
    (1, bytes(bf.ether(bf.frag4(bf.udp4(BIG_SIP), 400)[1]))),
    (1, bytes(bf.ether(IP() / ICMP(type=3) / Raw(bytes(bf.udp4(SIP)))))),
    (113, bytes(bf.sll(bf.udp4(SIP)))),
    (0, bf.null_link(bf.udp6(SIP), 30, False)),
    (101, bytes(bf.frag6(bf.udp6(BIG_SIP))[0])),
]
LINKTYPES = [0, 1, 9, 12, 14, 101, 108, 113, 228, 229, 276]


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(LINKTYPES), st.binary(max_size=200))
def test_random_bytes_never_raise(linktype: int, data: bytes) -> None:
    decoder = Decoder(FakeStage(), FakeStage("sctp"))
    decoder.feed(Frame(0.0, linktype, data, 1))
    assert decoder.skipped["decode-error"] == 0


@settings(max_examples=400, deadline=None)
@given(
    st.sampled_from(VALID_FRAMES),
    st.lists(st.tuples(st.integers(0, 400), st.integers(0, 255)), max_size=6),
    st.integers(0, 600),
)
def test_mutated_frames_never_raise(
    frame: tuple[int, bytes], flips: list[tuple[int, int]], cut: int
) -> None:
    linktype, raw = frame
    data = bytearray(raw)
    for pos, value in flips:
        if pos < len(data):
            data[pos] = value
    decoder = Decoder(FakeStage(), FakeStage("sctp"))
    for ts in (0.0, 1.0):
        decoder.feed(Frame(ts, linktype, bytes(data[: len(data) - cut % (len(data) + 1)]), 1))
    assert decoder.skipped["decode-error"] == 0
