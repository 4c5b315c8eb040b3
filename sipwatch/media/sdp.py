"""SDP bodies (RFC 8866) as typed facts: addresses, media lines, codecs, direction, security.

What sipwatch needs from an SDP body is what decides whether audio flows: where each side wants
to receive (``c=`` and the ``m=`` port), in which format (payload types with ``a=rtpmap`` and
``a=fmtp``), in which direction (``a=sendrecv``... and the legacy ``c=0.0.0.0`` hold), whether
the media is encrypted (an SRTP profile, ``a=crypto``, ``a=fingerprint``) and where RTCP goes
(``a=rtcp``, ``a=rtcp-mux``). ICE candidates are kept because a NAT'd client announces its
public address there.

The body comes from the wire: :func:`parse_sdp` never raises. A line it cannot read is skipped
and named in ``problems``; every list is bounded, so a crafted body cannot grow state.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from typing import Final

#: Bounds on what one body may make us keep (a real offer has a handful of each).
MAX_MEDIA: Final = 64
MAX_FORMATS: Final = 128
MAX_CANDIDATES: Final = 64
MAX_PROBLEMS: Final = 16

#: RFC 8866 §6.7: the direction attributes; without one, a stream is ``sendrecv``.
DIRECTIONS: Final = frozenset({"sendrecv", "sendonly", "recvonly", "inactive"})

#: RFC 3551 §6 tables 4 and 5: static payload types (encoding, clock rate, channels), used when
#: an offer lists a static type without ``a=rtpmap`` (allowed by RFC 8866 §6.6).
STATIC_PAYLOAD_TYPES: Final[dict[int, tuple[str, int, int]]] = {
    0: ("PCMU", 8000, 1),
    3: ("GSM", 8000, 1),
    4: ("G723", 8000, 1),
    5: ("DVI4", 8000, 1),
    6: ("DVI4", 16000, 1),
    7: ("LPC", 8000, 1),
    8: ("PCMA", 8000, 1),
    9: ("G722", 8000, 1),
    10: ("L16", 44100, 2),
    11: ("L16", 44100, 1),
    12: ("QCELP", 8000, 1),
    13: ("CN", 8000, 1),
    14: ("MPA", 90000, 1),
    15: ("G728", 8000, 1),
    16: ("DVI4", 11025, 1),
    17: ("DVI4", 22050, 1),
    18: ("G729", 8000, 1),
    25: ("CelB", 90000, 1),
    26: ("JPEG", 90000, 1),
    28: ("nv", 90000, 1),
    31: ("H261", 90000, 1),
    32: ("MPV", 90000, 1),
    33: ("MP2T", 90000, 1),
    34: ("H263", 90000, 1),
}


@dataclass(frozen=True, slots=True, kw_only=True)
class PayloadType:
    """One format of an RTP ``m=`` line with what ``a=rtpmap``/``a=fmtp`` say of it."""

    number: int
    encoding: str  # "PCMU", "opus", ...; "" for a dynamic type without rtpmap
    clock_rate: int  # Hz; 0 when unknown
    channels: int = 1
    fmtp: str = ""

    @property
    def name(self) -> str:
        """``PCMU/8000`` (or the bare number when nothing says what it is)."""
        if not self.encoding:
            return str(self.number)
        return f"{self.encoding}/{self.clock_rate}" if self.clock_rate else self.encoding

    @property
    def is_telephone_event(self) -> bool:
        """RFC 4733 DTMF events and comfort noise are not a voice codec (no common codec if only
        these match)."""
        return self.encoding.lower() in {"telephone-event", "cn"}


@dataclass(frozen=True, slots=True, kw_only=True)
class Candidate:
    """RFC 8839 §5.1 ``a=candidate``: where ICE may reach this side."""

    component: int
    transport: str
    address: str
    port: int
    type: str  # host | srflx | prflx | relay


@dataclass(frozen=True, slots=True, kw_only=True)
class MediaDescription:
    """One ``m=`` section with the session-level values it inherits already applied."""

    media: str  # audio | video | image | application | ...
    port: int
    proto: str  # RTP/AVP, RTP/SAVP, RTP/SAVPF, UDP/TLS/RTP/SAVPF, udptl, ...
    formats: tuple[str, ...]
    payload_types: tuple[PayloadType, ...]
    address: str  # from the media or session c= line; "" when neither gave one
    direction: str  # sendrecv | sendonly | recvonly | inactive
    rtcp_port: int  # a=rtcp (RFC 3605), else port + 1 (RFC 3550 §11); 0 for a rejected stream
    rtcp_address: str
    rtcp_mux: bool
    crypto: tuple[str, ...]  # RFC 4568 crypto-suite names
    fingerprint: str  # RFC 8122 hash function and value ("" when absent)
    candidates: tuple[Candidate, ...]
    line: str  # the m= line as written, for findings
    connection_line: str  # the c= line that applies, for findings

    @property
    def is_rtp(self) -> bool:
        return "RTP/" in self.proto.upper()

    @property
    def is_srtp(self) -> bool:
        """RFC 3711 §7 / RFC 5764: a secure profile means the peer must speak SRTP."""
        return "SAVP" in self.proto.upper()

    @property
    def rejected(self) -> bool:
        """RFC 3264 §6: port 0 in an answer rejects the stream (in an offer: not offered)."""
        return self.port == 0

    @property
    def hold_address(self) -> bool:
        """RFC 3264 §8.4: ``c=0.0.0.0`` is the RFC 2543 way of putting a call on hold."""
        return self.address in {"0.0.0.0", "::"}

    @property
    def on_hold(self) -> bool:
        return self.hold_address or self.direction in {"sendonly", "inactive"}

    def payload(self, number: int) -> PayloadType | None:
        for pt in self.payload_types:
            if pt.number == number:
                return pt
        return None

    @property
    def codecs(self) -> tuple[str, ...]:
        """The formats in preference order as names (``PCMU/8000``), for messages and JSON."""
        return tuple(pt.name for pt in self.payload_types) or self.formats


@dataclass(frozen=True, slots=True, kw_only=True)
class SessionDescription:
    """A parsed SDP body; ``problems`` names the lines that could not be read."""

    origin: str  # o= line value
    version: int  # o= sess-version (RFC 3264 §8: a new offer increments it); -1 when unreadable
    address: str  # session-level c= address
    media: tuple[MediaDescription, ...]
    problems: tuple[str, ...]


@dataclass(slots=True)
class _Section:
    """Mutable state while one ``m=`` section (or the session part) is read."""

    line: str = ""
    media: str = ""
    port: int = 0
    proto: str = ""
    formats: tuple[str, ...] = ()
    address: str = ""
    connection_line: str = ""
    direction: str = ""
    rtcp_port: int = 0
    rtcp_address: str = ""
    rtcp_mux: bool = False
    fingerprint: str = ""
    rtpmap: dict[int, tuple[str, int, int]] = field(default_factory=dict)
    fmtp: dict[int, str] = field(default_factory=dict)
    crypto: list[str] = field(default_factory=list)
    candidates: list[Candidate] = field(default_factory=list)


def _int(text: str, default: int = -1) -> int:
    text = text.strip()
    if text.isascii() and text.isdigit() and len(text) <= 10:
        return int(text)
    return default


def _connection(value: str) -> str | None:
    """RFC 8866 §5.7: ``c=IN IP4 192.0.2.1[/ttl[/n]]``; the address, or None if unreadable."""
    parts = value.split()
    if len(parts) < 3 or parts[0] != "IN" or parts[1] not in {"IP4", "IP6"}:
        return None
    return parts[2].split("/", 1)[0]


def _media(section: _Section, value: str) -> bool:
    """RFC 8866 §5.14: ``m=<media> <port>[/<number>] <proto> <fmt> ...``."""
    parts = value.split()
    if len(parts) < 3:
        return False
    port = _int(parts[1].split("/", 1)[0])
    if not 0 <= port <= 65535:
        return False
    section.media = parts[0].lower()
    section.port = port
    section.proto = parts[2]
    section.formats = tuple(parts[3 : 3 + MAX_FORMATS])
    return True


def _attribute(section: _Section, value: str) -> None:
    name, _, rest = value.partition(":")
    name = name.strip().lower()
    if name in DIRECTIONS:
        section.direction = name
    elif name == "rtpmap":
        # RFC 8866 §6.6: a=rtpmap:<payload type> <encoding name>/<clock rate>[/<params>]
        number, _, spec = rest.strip().partition(" ")
        pt = _int(number)
        fields = spec.strip().split("/")
        if 0 <= pt <= 127 and fields[0] and len(section.rtpmap) < MAX_FORMATS:
            rate = _int(fields[1], 0) if len(fields) > 1 else 0
            channels = _int(fields[2], 1) if len(fields) > 2 else 1
            section.rtpmap[pt] = (fields[0], rate, channels)
    elif name == "fmtp":
        number, _, params = rest.strip().partition(" ")
        pt = _int(number)
        if 0 <= pt <= 127 and len(section.fmtp) < MAX_FORMATS:
            section.fmtp[pt] = params.strip()
    elif name == "rtcp":
        # RFC 3605 §2.1: a=rtcp:<port> [IN IP4 <address>]
        port_text, _, address = rest.strip().partition(" ")
        rtcp_port = _int(port_text)
        if 0 < rtcp_port <= 65535:
            section.rtcp_port = rtcp_port
            section.rtcp_address = _connection(address) or ""
    elif name == "rtcp-mux":
        section.rtcp_mux = True  # RFC 5761 §5.1.1: RTCP on the RTP port
    elif name == "crypto":
        # RFC 4568 §9.1: a=crypto:<tag> <crypto-suite> <key-params> [<session-params>]
        parts = rest.split()
        if len(parts) >= 2 and len(section.crypto) < MAX_FORMATS:
            section.crypto.append(parts[1])
    elif name == "fingerprint":
        section.fingerprint = rest.strip()  # RFC 8122 §5
    elif name == "candidate":
        _candidate(section, rest)


def _candidate(section: _Section, value: str) -> None:
    """RFC 8839 §5.1: ``foundation component transport priority address port typ type ...``."""
    parts = value.split()
    if len(parts) < 8 or parts[6] != "typ" or len(section.candidates) >= MAX_CANDIDATES:
        return
    component, port = _int(parts[1]), _int(parts[5])
    if component < 0 or not 0 <= port <= 65535:
        return
    section.candidates.append(
        Candidate(
            component=component,
            transport=parts[2].lower(),
            address=parts[4],
            port=port,
            type=parts[7].lower(),
        )
    )


def _finish(section: _Section, session: _Section) -> MediaDescription:
    payload_types: list[PayloadType] = []
    is_rtp = "RTP/" in section.proto.upper()
    for fmt in section.formats if is_rtp else ():
        number = _int(fmt)
        if not 0 <= number <= 127:
            continue
        mapped = section.rtpmap.get(number) or STATIC_PAYLOAD_TYPES.get(number)
        encoding, rate, channels = mapped or ("", 0, 1)
        payload_types.append(
            PayloadType(
                number=number,
                encoding=encoding,
                clock_rate=rate,
                channels=channels,
                fmtp=section.fmtp.get(number, ""),
            )
        )
    address = section.address or session.address
    rtcp_port = section.rtcp_port
    if not rtcp_port and section.port:
        rtcp_port = section.port if section.rtcp_mux else min(section.port + 1, 65535)
    return MediaDescription(
        media=section.media,
        port=section.port,
        proto=section.proto,
        formats=section.formats,
        payload_types=tuple(payload_types),
        address=address,
        direction=section.direction or session.direction or "sendrecv",
        rtcp_port=rtcp_port,
        rtcp_address=section.rtcp_address or address,
        rtcp_mux=section.rtcp_mux,
        crypto=tuple(section.crypto),
        fingerprint=section.fingerprint or session.fingerprint,
        candidates=tuple(section.candidates),
        line=section.line,
        connection_line=section.connection_line or session.connection_line,
    )


@lru_cache(maxsize=256)
def parse_sdp(body: bytes) -> SessionDescription:
    """Parse one SDP body; never raises (unreadable lines are skipped and named).

    Cached by the body's bytes (the result is immutable): the same SDP comes again on every
    hop through a proxy, in retransmissions, and on both legs of a B2BUA that passes it on.
    """
    text = body.decode("utf-8", errors="replace")
    session = _Section()
    current = session
    media: list[MediaDescription] = []
    problems: list[str] = []
    origin, version = "", -1
    in_media = False
    for number, raw in enumerate(text.split("\n"), 1):
        line = raw.rstrip("\r")
        if not line.strip():
            continue
        if len(line) < 2 or line[1] != "=":
            if len(problems) < MAX_PROBLEMS:
                problems.append(f"line {number}: not <type>=<value>")
            continue
        kind, value = line[0], line[2:]
        if kind == "m":
            if in_media and len(media) < MAX_MEDIA:
                media.append(_finish(current, session))
            current = _Section(line=line)
            in_media = True
            if not _media(current, value) and len(problems) < MAX_PROBLEMS:
                problems.append(f"line {number}: unreadable m= line")
        elif kind == "c":
            address = _connection(value)
            if address is None:
                if len(problems) < MAX_PROBLEMS:
                    problems.append(f"line {number}: unreadable c= line")
                continue
            current.address = address
            current.connection_line = line
        elif kind == "a":
            _attribute(current, value)
        elif kind == "o" and not in_media:
            # RFC 8866 §5.2: o=<username> <sess-id> <sess-version> <nettype> <addrtype> <addr>
            origin = value
            parts = value.split()
            version = _int(parts[2]) if len(parts) >= 3 else -1
    if in_media and len(media) < MAX_MEDIA:
        media.append(_finish(current, session))
    return SessionDescription(
        origin=origin,
        version=version,
        address=session.address,
        media=tuple(media),
        problems=tuple(problems),
    )


def _boundary(content_type: str) -> str:
    """The ``boundary`` parameter of a multipart Content-Type (RFC 2046 §5.1.1)."""
    for param in content_type.split(";")[1:]:
        name, _, value = param.partition("=")
        if name.strip().lower() == "boundary":
            return value.strip().strip('"')
    return ""


def sdp_bodies(content_type: str, body: bytes, depth: int = 0) -> list[bytes]:
    """The SDP parts of a SIP body: the body itself for ``application/sdp``, the
    ``application/sdp`` parts of a multipart body (RFC 5621 §3, e.g. SDP beside ISUP or a
    PIDF), nested at most two levels."""
    media_type = content_type.split(";", 1)[0].strip().lower()
    if media_type == "application/sdp":
        return [body]
    if not media_type.startswith("multipart/") or depth >= 2:
        return []
    boundary = _boundary(content_type)
    if not boundary or len(boundary) > 70:  # RFC 2046 §5.1.1: 1 to 70 characters
        return []
    out: list[bytes] = []
    delimiter = b"--" + boundary.encode("latin-1", errors="replace")
    for part in body.split(delimiter)[1:MAX_MEDIA]:
        if part.startswith(b"--"):
            break  # the close delimiter
        head, sep, content = part.lstrip(b"\r\n").partition(b"\r\n\r\n")
        if not sep:
            head, sep, content = part.lstrip(b"\n").partition(b"\n\n")
        part_type = ""
        for header in head.decode("latin-1").splitlines():
            name, _, value = header.partition(":")
            if name.strip().lower() in {"content-type", "c"}:
                part_type = value.strip()
        content = content.removesuffix(b"\r\n").removesuffix(b"\n")
        out.extend(sdp_bodies(part_type, content, depth + 1))
    return out
