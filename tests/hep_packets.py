"""HEP packet builders for the tests, written from the field layouts of the HEP specification.

They are independent of :mod:`sipwatch.capture.hep` (no import from it) so that a decode test
compares the decoder against a second reading of the layout; the real senders (Kamailio's
``siptrace``, sngrep) are tested in tests/test_hep_senders.py.
"""

from __future__ import annotations

import ipaddress
import struct


def _addr(text: str) -> bytes:
    return ipaddress.ip_address(text).packed


def hep2(
    payload: bytes,
    *,
    version: int = 2,
    src: tuple[str, int] = ("10.0.0.1", 5060),
    dst: tuple[str, int] = ("10.0.0.2", 5060),
    proto: int = 17,
    ts: tuple[int, int] = (1_700_000_000, 250_000),
    capture_id: int = 7,
) -> bytes:
    """A v1 or v2 packet as Kamailio's ``siptrace`` writes it: the v2 time header is its C
    struct as laid out in memory (little-endian, 2 bytes of padding after the capture id)."""
    v6 = ":" in src[0]
    family = 10 if v6 else 2
    header = struct.pack("!BBBBHH", version, 8 + (32 if v6 else 8), family, proto, src[1], dst[1])
    out = header + _addr(src[0]) + _addr(dst[0])
    if version == 2:
        out += struct.pack("<IIHxx", ts[0], ts[1], capture_id)
    return out + payload


def chunk(kind: int, value: bytes, vendor: int = 0) -> bytes:
    return struct.pack("!HHH", vendor, kind, 6 + len(value)) + value


def hep3(
    payload: bytes,
    *,
    src: tuple[str, int] = ("10.0.0.1", 5060),
    dst: tuple[str, int] = ("10.0.0.2", 5060),
    proto: int = 17,
    ts: tuple[int, int] = (1_700_000_000, 250_000),
    capture_id: int | None = 2001,
    auth_key: bytes | None = None,
    node: bytes | None = None,
    correlation: bytes | None = None,
    proto_type: int = 1,
    extra: bytes = b"",
    payload_kind: int = 15,
) -> bytes:
    """A v3 packet with the chunks Kamailio sends, in its order, plus ``extra`` chunks."""
    v6 = ":" in src[0]
    chunks = chunk(1, bytes([10 if v6 else 2])) + chunk(2, bytes([proto]))
    chunks += chunk(5 if v6 else 3, _addr(src[0])) + chunk(6 if v6 else 4, _addr(dst[0]))
    chunks += chunk(7, struct.pack("!H", src[1])) + chunk(8, struct.pack("!H", dst[1]))
    chunks += chunk(9, struct.pack("!I", ts[0])) + chunk(10, struct.pack("!I", ts[1]))
    chunks += chunk(11, bytes([proto_type]))
    if capture_id is not None:
        chunks += chunk(12, struct.pack("!I", capture_id))
    if correlation is not None:
        chunks += chunk(17, correlation)
    if auth_key is not None:
        chunks += chunk(14, auth_key)
    if node is not None:
        chunks += chunk(19, node)
    chunks += extra + chunk(payload_kind, payload)
    return b"HEP3" + struct.pack("!H", 6 + len(chunks)) + chunks
