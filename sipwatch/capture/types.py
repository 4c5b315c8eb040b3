"""Values passed between the capture stages.

Sources yield :class:`Frame` (raw link-layer bytes with their capture timestamp, DESIGN §2 rule 5).
The decoder turns frames into :class:`Segment` values: transport payloads with their flow, ready
for SIP framing. Both are plain slotted dataclasses because one is made per packet on the hot path.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal

Transport = Literal["udp", "tcp", "tls", "ws", "sctp"]

#: A step ahead between two records larger than this (a day) is a reset or damaged clock, not
#: traffic: readers count it, and the correlator judges no timer across it (its
#: ``MAX_CLOCK_STEP``, restated here because capture may not import the correlator).
CLOCK_JUMP: Final = 86400.0

#: (IP address as text, port). IPv6 addresses are plain text without brackets.
Endpoint = tuple[str, int]


def format_endpoint(endpoint: Endpoint) -> str:
    """``"ip:port"``, or ``"[v6addr]:port"`` for IPv6 (the JSON contract's form)."""
    host, port = endpoint
    if ":" in host:
        return f"[{host}]:{port}"
    return f"{host}:{port}"


@dataclass(slots=True)
class Frame:
    """One captured frame as read from a file or interface."""

    ts: float  # epoch seconds
    linktype: int  # LINKTYPE_* value (pcap / pcapng numbering)
    data: bytes  # captured bytes (may be shorter than orig_len)
    number: int  # 1-based frame number in the capture
    orig_len: int = 0  # length on the wire; 0 when unknown


@dataclass(frozen=True, slots=True)
class IcmpError:
    """The ICMP or ICMPv6 error a quoted datagram came in (RFC 792, RFC 4443 §3).

    ``reporter`` is the address that sent the error (a router, or the destination host itself
    for "port unreachable"); ``version`` is 4 for ICMP, 6 for ICMPv6, whose type numbers differ.
    """

    type: int
    code: int
    reporter: str
    version: int


@dataclass(slots=True)
class Segment:
    """A transport payload extracted from one or more frames.

    ``stream`` is True when ``data`` is an in-order chunk of a byte stream (TCP after
    reassembly) that still needs Content-Length framing; False when it is exactly one message
    candidate (a UDP datagram, an SCTP DATA chunk, a WebSocket message).
    ``frame`` is the number of the frame that completed this payload.
    ``agent`` is the capture agent that sent this payload as HEP (its id or node name); None
    for a payload captured on the wire.
    """

    ts: float
    frame: int
    src: Endpoint
    dst: Endpoint
    transport: Transport
    data: bytes
    stream: bool = False
    agent: str | None = None
    #: Set when ``data`` is a copy quoted inside an ICMP error, not a datagram sent as such.
    icmp: IcmpError | None = None
