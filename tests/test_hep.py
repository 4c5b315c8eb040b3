"""The HEP decoder (sipwatch.capture.hep): every version, every chunk it reads, every length it
checks, and random or mutated bytes that must never raise."""

from __future__ import annotations

import struct
import zlib

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sipwatch.capture.hep import HepPacket, decode_hep, hep3_length, looks_like_hep
from tests.build_frames import sip_request
from tests.hep_packets import chunk, hep2, hep3

SIP = sip_request("INVITE")


def _packet(data: bytes) -> HepPacket:
    result = decode_hep(data)
    assert isinstance(result, HepPacket), result
    return result


def test_v1_has_addresses_and_no_time_or_agent() -> None:
    packet = _packet(hep2(SIP, version=1, src=("192.0.2.1", 5061), dst=("192.0.2.9", 5070)))
    assert packet.version == 1
    assert (packet.src, packet.dst, packet.transport) == (
        ("192.0.2.1", 5061),
        ("192.0.2.9", 5070),
        "udp",
    )
    assert packet.ts is None
    assert packet.agent is None
    assert packet.payload == SIP


def test_v2_time_is_little_endian_and_capture_id_is_the_agent() -> None:
    packet = _packet(hep2(SIP, ts=(1_700_000_123, 456_000), capture_id=513, proto=6))
    assert packet.version == 2
    assert packet.ts == pytest.approx(1_700_000_123.456)
    assert packet.agent == "513"
    assert packet.transport == "tcp"
    assert packet.payload == SIP


def test_v2_ipv6() -> None:
    packet = _packet(hep2(SIP, src=("2001:db8::1", 5060), dst=("2001:db8::2", 5080)))
    assert packet.src == ("2001:db8::1", 5060)
    assert packet.dst == ("2001:db8::2", 5080)


def test_v3_every_chunk() -> None:
    packet = _packet(
        hep3(
            SIP,
            src=("2001:db8::5", 5062),
            dst=("2001:db8::6", 5063),
            proto=22,
            ts=(1_700_000_001, 999_999),
            capture_id=2001,
            auth_key=b"secret",
            correlation=b"call-1",
        )
    )
    assert packet.version == 3
    assert packet.transport == "tls"
    assert packet.src == ("2001:db8::5", 5062)
    assert packet.dst == ("2001:db8::6", 5063)
    assert packet.ts == pytest.approx(1_700_000_001.999999)
    assert packet.agent == "2001"
    assert packet.auth_key == b"secret"
    assert packet.correlation_id == b"call-1"
    assert packet.payload == SIP


def test_v3_node_name_is_the_agent_over_the_id() -> None:
    assert _packet(hep3(SIP, node=b"edge-1")).agent == "edge-1"
    assert _packet(hep3(SIP, capture_id=None)).agent is None


def test_v3_unknown_and_vendor_chunks_are_skipped() -> None:
    extra = chunk(0x0099, b"whatever") + chunk(3, b"\x01\x02", vendor=0x1234) + chunk(13, b"\0\5")
    packet = _packet(hep3(SIP, extra=extra))
    assert packet.src == ("10.0.0.1", 5060)  # the vendor chunk of type 3 did not override it
    assert packet.payload == SIP


def test_v3_compressed_payload() -> None:
    packet = _packet(hep3(zlib.compress(SIP), payload_kind=16))
    assert packet.payload == SIP


def test_v3_zlib_bomb_is_refused() -> None:
    bomb = zlib.compress(b"A" * (2 << 20))
    assert decode_hep(hep3(bomb, payload_kind=16)) == "hep-bad-compressed-payload"


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"HEP3", "hep-truncated"),
        (b"HEP3\x00\x03", "hep-bad-length"),
        (b"HEP3\x00\x40" + b"\0" * 10, "hep-truncated"),
        (b"HEP3\x00\x09\x00\x00\x00", "hep-truncated-chunk"),
        (b"HEP3\x00\x0c" + struct.pack("!HHH", 0, 15, 2), "hep-bad-chunk-length"),
        (b"HEP3\x00\x0c" + struct.pack("!HHH", 0, 15, 40), "hep-bad-chunk-length"),
        (hep3(SIP, proto_type=5), "hep-not-sip"),
        (hep3(b""), "hep-no-payload"),
        (hep3(SIP, extra=chunk(7, b"\x01")), "hep-bad-chunk-size"),
        (hep3(SIP, ts=(1, 1_000_000)), "hep-bad-time"),
        (hep3(SIP, proto=47), "hep-unknown-protocol"),
        (b"\x02\x10\x07\x11" + b"\0" * 20, "hep-unknown-family"),
        (b"\x02\x11\x02\x11" + b"\0" * 20, "hep-bad-length"),
        (hep2(SIP)[:20], "hep-truncated"),
        (hep2(b"")[:27], "hep-truncated"),  # the v2 time header is 12 bytes (padding)
        (hep2(b""), "hep-no-payload"),
        (hep2(SIP, proto=99), "hep-unknown-protocol"),
        (b"\x07abc", "hep-unknown-version"),
    ],
)
def test_bad_packets_have_a_reason(data: bytes, reason: str) -> None:
    assert decode_hep(data) == reason


def test_v3_mixed_address_families_are_refused() -> None:
    v4 = hep3(SIP)
    # Replace the IPv4 destination chunk by an IPv6 one: source v4, destination v6.
    mixed = v4.replace(chunk(4, bytes([10, 0, 0, 2])), chunk(6, b"\x20\x01" + b"\0" * 14))
    fixed = b"HEP3" + struct.pack("!H", len(mixed)) + mixed[6:]
    assert decode_hep(fixed) == "hep-no-address"


def test_shape_detection() -> None:
    assert looks_like_hep(hep3(SIP))
    assert looks_like_hep(hep2(SIP))
    assert looks_like_hep(hep2(SIP, version=1, src=("::1", 1), dst=("::1", 2)))
    assert not looks_like_hep(SIP)
    assert not looks_like_hep(b"\x02\x10\x02\x63" + b"\0" * 20)  # protocol 99
    assert not looks_like_hep(b"\x80\x00" + b"\0" * 20)  # RTP
    assert hep3_length(hep3(SIP)) == len(hep3(SIP))
    assert hep3_length(b"HEP") is None
    assert hep3_length(SIP) is None


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(st.binary(max_size=300))
def test_random_bytes_never_raise(data: bytes) -> None:
    for candidate in (data, b"HEP3" + data, b"\x02\x10\x02\x11" + data, b"\x01" + data):
        result = decode_hep(candidate)
        assert isinstance(result, HepPacket | str)
        looks_like_hep(candidate)


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(
    st.sampled_from([hep3(SIP), hep2(SIP), hep2(SIP, version=1), hep3(SIP, node=b"n")]),
    st.lists(st.tuples(st.integers(0, 400), st.integers(0, 255)), max_size=8),
    st.integers(0, 400),
)
def test_mutated_packets_never_raise(base: bytes, edits: list[tuple[int, int]], cut: int) -> None:
    data = bytearray(base)
    for pos, value in edits:
        if data:
            data[pos % len(data)] = value
    result = decode_hep(bytes(data[: len(data) - cut % (len(data) + 1)]))
    if isinstance(result, HepPacket):
        assert len(result.payload) <= len(data)
        assert 0 <= result.src[1] <= 65535
    else:
        assert result.startswith("hep-")
