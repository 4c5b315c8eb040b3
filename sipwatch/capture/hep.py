"""HEP (Homer Encapsulation Protocol): the copies of SIP that capture agents send to a collector.

Kamailio's ``siptrace``, OpenSIPS, FreeSWITCH, Asterisk, heplify and sngrep wrap every message
they see in HEP and send it to a collector (HOMER). This module turns one HEP packet into the
message it carries, with the addresses, transport, time and agent the sender recorded. It is
sans-I/O: bytes in, a :class:`HepPacket` or a short reason out, and it never raises on what a
sender (or an attacker) puts on the wire: every length is checked against the packet.

Versions (HEP is specified by the HOMER project, "HEP3 Network Protocol Specification"; the
field layouts below follow it and Kamailio's ``sipcapture``/``siptrace`` modules, which are the
reference sender and receiver):

* **v1 and v2** (``hep_version`` 1 and 2 of ``siptrace``): an 8-byte header (version, header
  length, address family, IP protocol, source port, destination port; ports in network order),
  then both addresses (4 + 4 bytes for AF_INET, 16 + 16 for AF_INET6). The header length counts
  these two parts only. v2 adds a 12-byte time header: seconds and microseconds as 32-bit
  *little-endian* integers (Kamailio writes them with ``to_le``), a 16-bit capture id in the
  sender's byte order (little-endian on every sender in use) and 2 bytes of padding (the C
  struct is sent as laid out in memory). The rest is the payload. v1 has no
  time: the message takes the time the packet arrived.
* **v3** ("HEP3"): ``HEP3`` then the total length (16 bits, network order), then chunks of
  vendor id, type id and length (each 16 bits, the length counting the 6-byte chunk header).
  Vendor 0 (generic) types: 1 IP family, 2 IP protocol, 3/4 IPv4 source/destination, 5/6 IPv6
  source/destination, 7/8 ports, 9/10 timestamp seconds/microseconds, 11 protocol type (1 =
  SIP), 12 capture agent id (32 bits), 13 keep-alive, 14 authentication key, 15 payload,
  16 compressed payload (zlib/gzip), 17 correlation id, 19 capture node name. Chunks of other
  vendors and unknown types are skipped by their length.

HEP over TCP is a stream of v3 packets, each framed by its own total length
(:func:`hep3_length`).
"""

from __future__ import annotations

import socket
import zlib
from collections import Counter
from dataclasses import dataclass
from typing import Final

from sipwatch.capture.types import Endpoint, Segment, Transport

#: The v3 magic (``HEP3``) and its header size (magic + 16-bit total length).
HEP3_MAGIC: Final = b"HEP3"
HEP3_HEADER: Final = 6
_CHUNK_HEADER: Final = 6
#: The v2 time header as C lays it out (Kamailio's ``struct hep_timehdr``): 32-bit seconds,
#: 32-bit microseconds, 16-bit capture id, then 2 bytes of padding to the struct's alignment.
_V2_TIME: Final = 12
#: Linux address family numbers, which senders put in the family field (v1/v2) and chunk 1 (v3).
AF_INET: Final = 2
AF_INET6: Final = 10
#: IP protocol numbers -> the transport of the carried message. 22 (IDP) is the number
#: Kamailio's ``siptrace`` writes for TLS, for want of one of its own.
_TRANSPORTS: Final[dict[int, Transport]] = {17: "udp", 6: "tcp", 22: "tls", 132: "sctp"}
#: Protocol type 1 is SIP (chunk 11); the others (RTCP, logs, QoS reports) are not ours.
PROTO_SIP: Final = 1
#: Bound on a decompressed payload (chunk 16): a SIP message is far smaller; a zlib bomb stops.
MAX_INFLATED: Final = 1 << 20
#: Bytes of a capture node name kept (chunk 19): a name, not a payload.
MAX_AGENT: Final = 128


@dataclass(frozen=True, slots=True)
class HepPacket:
    """What one HEP packet says about the message it carries."""

    version: int
    transport: Transport
    src: Endpoint
    dst: Endpoint
    #: The agent's capture time (epoch seconds); None for v1, which carries none.
    ts: float | None
    #: The capture agent: its node name (v3 chunk 19) or its capture id as text; None if absent.
    agent: str | None
    auth_key: bytes | None
    correlation_id: bytes | None
    payload: bytes


def looks_like_hep(data: bytes, off: int = 0) -> bool:
    """True when ``data[off:]`` has the shape of a HEP packet (cheap; no full decode).

    v3 has its magic. v1/v2 have none, so their shape is checked: version 1 or 2, a header
    length that matches the family (16 for IPv4, 40 for IPv6), and a known IP protocol; a SIP
    message cannot start with byte 1 or 2, so SIP is never taken for HEP.
    """
    if data[off : off + 4] == HEP3_MAGIC:
        return True
    if len(data) - off < 16:
        return False
    version, length, family, proto = data[off], data[off + 1], data[off + 2], data[off + 3]
    if version not in (1, 2) or proto not in _TRANSPORTS:
        return False
    return (family == AF_INET and length == 16) or (family == AF_INET6 and length == 40)


def hep3_length(data: bytes | bytearray) -> int | None:
    """Total length of the v3 packet at the start of ``data``; None if not HEP3 or too short
    to say. A length below the header size is returned as is, for the caller to reject."""
    if len(data) < HEP3_HEADER or data[:4] != HEP3_MAGIC:
        return None
    return data[4] << 8 | data[5]


def decode_hep(data: bytes) -> HepPacket | str:
    """Decode one HEP packet; a reason (``hep-...``) when it cannot be used. Never raises."""
    if data[:4] == HEP3_MAGIC:
        return _decode_v3(data)
    if len(data) >= 1 and data[0] in (1, 2):
        return _decode_v2(data)
    return "hep-unknown-version"


def hep_segments(
    data: bytes, ts: float, frame: int, skipped: Counter[str], notes: Counter[str]
) -> list[Segment]:
    """The message one HEP packet carries, as the capture stages hand messages on.

    Its time is the agent's (the arrival time ``ts`` for v1, which carries none); a packet that
    cannot be used is counted in ``skipped`` by its reason, each decoded one in
    ``notes["hep-v<version>"]``.
    """
    packet = decode_hep(data)
    if isinstance(packet, str):
        skipped[packet] += 1
        return []
    notes[_VERSION_NOTES[packet.version]] += 1
    when = ts if packet.ts is None else packet.ts
    segment = Segment(when, frame, packet.src, packet.dst, packet.transport, packet.payload)
    segment.agent = packet.agent
    return [segment]


_VERSION_NOTES: Final = {1: "hep-v1", 2: "hep-v2", 3: "hep-v3"}


def _name(family: int, raw: bytes) -> str:
    return socket.inet_ntop(socket.AF_INET if family == AF_INET else socket.AF_INET6, raw)


def _decode_v2(data: bytes) -> HepPacket | str:
    """v1/v2 (Kamailio ``sipcapture`` ``hepv2_received``)."""
    if len(data) < 8:
        return "hep-truncated"
    version, length, family, proto = data[0], data[1], data[2], data[3]
    if family == AF_INET:
        size = 4
    elif family == AF_INET6:
        size = 16
    else:
        return "hep-unknown-family"
    if length != 8 + 2 * size:
        return "hep-bad-length"
    transport = _TRANSPORTS.get(proto)
    if transport is None:
        return "hep-unknown-protocol"
    pos = 8 + 2 * size
    if len(data) < pos:
        return "hep-truncated"
    sport = data[4] << 8 | data[5]
    dport = data[6] << 8 | data[7]
    src = _name(family, data[8 : 8 + size])
    dst = _name(family, data[8 + size : pos])
    ts: float | None = None
    agent: str | None = None
    if version == 2:
        if len(data) < pos + _V2_TIME:
            return "hep-truncated"
        seconds = int.from_bytes(data[pos : pos + 4], "little")
        micros = int.from_bytes(data[pos + 4 : pos + 8], "little")
        if micros >= 1_000_000:
            return "hep-bad-time"
        ts = seconds + micros / 1e6
        agent = str(int.from_bytes(data[pos + 8 : pos + 10], "little"))
        pos += _V2_TIME
    payload = data[pos:]
    if not payload:
        return "hep-no-payload"
    return HepPacket(version, transport, (src, sport), (dst, dport), ts, agent, None, None, payload)


def _decode_v3(data: bytes) -> HepPacket | str:
    """v3: chunks after the 6-byte header, each bounded by the packet's total length."""
    if len(data) < HEP3_HEADER:
        return "hep-truncated"
    total = data[4] << 8 | data[5]
    if total < HEP3_HEADER:
        return "hep-bad-length"
    if total > len(data):
        return "hep-truncated"
    family = proto = proto_type = -1
    src_raw = dst_raw = b""
    src_family = dst_family = 0
    sport = dport = -1
    seconds = micros = -1
    capture_id: int | None = None
    node: str | None = None
    auth_key: bytes | None = None
    correlation: bytes | None = None
    payload: bytes | None = None
    pos = HEP3_HEADER
    while pos < total:
        if total - pos < _CHUNK_HEADER:
            return "hep-truncated-chunk"
        vendor = data[pos] << 8 | data[pos + 1]
        kind = data[pos + 2] << 8 | data[pos + 3]
        length = data[pos + 4] << 8 | data[pos + 5]
        if length < _CHUNK_HEADER or pos + length > total:
            return "hep-bad-chunk-length"
        value = data[pos + _CHUNK_HEADER : pos + length]
        pos += length
        if vendor != 0:
            continue
        size = len(value)
        if kind == 1 and size == 1:
            family = value[0]
        elif kind == 2 and size == 1:
            proto = value[0]
        elif kind in (3, 4) and size == 4:
            if kind == 3:
                src_raw, src_family = value, AF_INET
            else:
                dst_raw, dst_family = value, AF_INET
        elif kind in (5, 6) and size == 16:
            if kind == 5:
                src_raw, src_family = value, AF_INET6
            else:
                dst_raw, dst_family = value, AF_INET6
        elif kind == 7 and size == 2:
            sport = value[0] << 8 | value[1]
        elif kind == 8 and size == 2:
            dport = value[0] << 8 | value[1]
        elif kind == 9 and size == 4:
            seconds = int.from_bytes(value, "big")
        elif kind == 10 and size == 4:
            micros = int.from_bytes(value, "big")
        elif kind == 11 and size == 1:
            proto_type = value[0]
        elif kind == 12 and size == 4:
            capture_id = int.from_bytes(value, "big")
        elif kind == 14:
            auth_key = value
        elif kind == 15:
            payload = value
        elif kind == 16 and payload is None:
            inflated = _inflate(value)
            if inflated is None:
                return "hep-bad-compressed-payload"
            payload = inflated
        elif kind == 17:
            correlation = value
        elif kind == 19 and value:
            node = value[:MAX_AGENT].decode("utf-8", "replace")
        elif 1 <= kind <= 12:
            return "hep-bad-chunk-size"  # a known chunk with the wrong size for its type
    if proto_type not in (-1, PROTO_SIP):
        return "hep-not-sip"
    if payload is None or not payload:
        return "hep-no-payload"
    if not src_family or src_family != dst_family or (family not in (-1, src_family)):
        return "hep-no-address"
    if sport < 0 or dport < 0:
        return "hep-no-port"
    # Chunk 2 is mandatory in the specification; a sender that leaves it out is read as UDP.
    transport = _TRANSPORTS.get(proto) if proto != -1 else "udp"
    if transport is None:
        return "hep-unknown-protocol"
    ts: float | None = None
    if seconds >= 0:
        if micros >= 1_000_000:
            return "hep-bad-time"
        ts = seconds + max(micros, 0) / 1e6
    agent = node if node is not None else (None if capture_id is None else str(capture_id))
    return HepPacket(
        3,
        transport,
        (_name(src_family, src_raw), sport),
        (_name(dst_family, dst_raw), dport),
        ts,
        agent,
        auth_key,
        correlation,
        payload,
    )


def _inflate(data: bytes) -> bytes | None:
    """Chunk 16: zlib or gzip (``wbits`` 47 accepts both), at most :data:`MAX_INFLATED`."""
    try:
        inflater = zlib.decompressobj(47)
        out = inflater.decompress(data, MAX_INFLATED)
    except zlib.error:
        return None
    if inflater.unconsumed_tail:
        return None
    return out
