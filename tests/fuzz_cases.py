"""The cases of the mutation fuzzer (:mod:`tests.fuzzing`): real captures, mutated.

Each strategy turns a seed (a real capture's bytes and frames) into the bytes of a new capture
file; :data:`MAKERS` maps strategy names to them. The frame writers (:func:`write_capture`,
:func:`ip_frame`, :func:`udp_frame`) are also used by other tests to build captures by hand.
"""

from __future__ import annotations

import itertools
import random
import socket
import struct
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from sipwatch.capture.decode import Decoder
from sipwatch.capture.readers import open_capture
from sipwatch.capture.types import Frame, Segment

#: Header values an attacker would send: terminal escapes (CSI, OSC title and hyperlink), C1
#: controls, rich markup, bidi overrides, invalid UTF-8, NULs, and absurd numbers.
HOSTILE_VALUES: tuple[bytes, ...] = (
    b"\x1b[2J\x1b[31mred\x1b[0m",
    b"\x1b]0;owned\x07",
    b"\x1b]8;;http://evil.example/\x1b\\click\x1b]8;;\x1b\\",
    b"\xc2\x9b31m c1 csi",
    b"\x9b31m raw c1",
    b"[bold red]x[/] [link=http://evil.example]y[/link]",
    "\u202eevil\u202c \u2066iso\u2069".encode(),
    b"\xff\xfe\xc3\x28 bad utf-8",
    b"nul\x00byte",
    b"99999999999999999999999999999999",
    b"-1",
    b"",
    b"%s%n{0}${x}",
)
#: Byte strings worth splicing into SIP text.
TOKENS: tuple[bytes, ...] = (
    b"\r\n",
    b"\n",
    b"\r\n\r\n",
    b"\r\n ",
    b":",
    b";",
    b",",
    b"<",
    b">",
    b'"',
    b"SIP/2.0",
    b"SIP/2.0 200 OK\r\n",
    b"INVITE sip:x@y SIP/2.0\r\n",
    b"Content-Length: ",
    b"l: ",
    b"Call-ID: ",
    b"CSeq: ",
    b"Via: SIP/2.0/UDP h;branch=z9hG4bK",
    b"tag=",
    b"Refer-To: ",
    b"Require: ",
    b"\x00",
    b"\xff",
    *HOSTILE_VALUES,
)
_INTERESTING16 = (0, 1, 0x7F, 0x80, 0xFF, 0x100, 0x7FFF, 0x8000, 0xFFFF)
_INTERESTING32 = (0, 1, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF, 0xFFFFFFF0, 12, 16, 28, 65536)
#: Largest UDP payload an IPv4 packet can carry (65535 minus the IP and UDP headers).
_MAX_PAYLOAD = 65507

STRATEGIES: tuple[str, ...] = ("file", "frames", "payload", "stream", "fragments", "time")


# -- seeds ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Seed:
    """A real capture: its file bytes and its frames."""

    name: str
    data: bytes
    frames: tuple[Frame, ...]


def load_seeds(paths: Sequence[Path], max_frames: int = 5000) -> list[Seed]:
    """Read each capture (at most ``max_frames`` frames of each) as a fuzzing seed."""
    seeds = []
    for path in sorted(paths):
        with open_capture(path) as source:
            frames = []
            for frame in source:
                frames.append(frame)
                if len(frames) >= max_frames:
                    break
        seeds.append(Seed(path.name, path.read_bytes(), tuple(frames)))
    return seeds


def capture_paths(*folders: Path) -> list[Path]:
    """The capture files in ``folders`` (oracles, docs and scripts left out)."""
    found: list[Path] = []
    for folder in folders:
        if folder.is_dir():
            found.extend(
                p
                for p in folder.iterdir()
                if p.suffix in (".pcap", ".pcapng", ".cap", ".gz") and p.is_file()
            )
    return found


# -- writing captures -------------------------------------------------------------------------


def write_capture(frames: Sequence[Frame]) -> bytes:
    """A pcap (one link type) or pcapng (several) holding ``frames`` as they are."""
    links = sorted({f.linktype for f in frames}) or [1]
    if len(links) == 1:
        out = [struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 262144, links[0])]
        for f in frames:
            ticks = max(0, min(round(f.ts * 1_000_000), (1 << 32) * 1_000_000 - 1))
            sec, usec = divmod(ticks, 1_000_000)
            out.append(struct.pack("<IIII", sec, usec, len(f.data), len(f.data)) + f.data)
        return b"".join(out)
    iface = {link: i for i, link in enumerate(links)}
    parts = [_ng_block(0x0A0D0D0A, struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1))]
    parts.extend(_ng_block(1, struct.pack("<HHI", link, 0, 0)) for link in links)
    for f in frames:
        ticks = max(0, min(round(f.ts * 1_000_000), (1 << 64) - 1))
        head = struct.pack(
            "<IIIII", iface[f.linktype], ticks >> 32, ticks & 0xFFFFFFFF, len(f.data), len(f.data)
        )
        parts.append(_ng_block(6, head + f.data))
    return b"".join(parts)


def _ng_block(btype: int, body: bytes) -> bytes:
    body += b"\x00" * (-len(body) % 4)
    return struct.pack("<II", btype, len(body) + 12) + body + struct.pack("<I", len(body) + 12)


def ip_frame(src: str, dst: str, proto: int, payload: bytes, ident: int = 0) -> bytes:
    """Ethernet + a well-formed IPv4 or IPv6 header around ``payload``."""
    payload = payload[: _MAX_PAYLOAD + 8]
    macs = b"\x02\x00\x00\x00\x00\x02\x02\x00\x00\x00\x00\x01"
    if ":" in src or ":" in dst:
        head = struct.pack("!IHBB", 0x60000000, len(payload), proto, 64)
        head += _addr(socket.AF_INET6, src, 16) + _addr(socket.AF_INET6, dst, 16)
        return macs + b"\x86\xdd" + head + payload
    head = struct.pack("!BBHHHBBH", 0x45, 0, 20 + len(payload), ident & 0xFFFF, 0, 64, proto, 0)
    head += _addr(socket.AF_INET, src, 4) + _addr(socket.AF_INET, dst, 4)
    return macs + b"\x08\x00" + head + payload


def _addr(family: int, text: str, size: int) -> bytes:
    try:
        return socket.inet_pton(family, text)
    except OSError:
        return b"\x00" * size


def udp_frame(src: tuple[str, int], dst: tuple[str, int], payload: bytes) -> bytes:
    payload = payload[:_MAX_PAYLOAD]
    udp = struct.pack("!HHHH", src[1], dst[1], (8 + len(payload)) & 0xFFFF, 0) + payload
    return ip_frame(src[0], dst[0], 17, udp)


# -- mutators ---------------------------------------------------------------------------------


def mutate_bytes(rng: random.Random, data: bytes, max_len: int = 200_000) -> bytes:
    """A few generic edits: bit flips, interesting integers, cut, copy, splice tokens."""
    buf = bytearray(data)
    for _ in range(rng.choice((1, 1, 1, 2, 3, 5, 8))):
        op = rng.randrange(10)
        pos = rng.randrange(len(buf) + 1)
        if op == 0 and buf:
            at = min(pos, len(buf) - 1)
            buf[at] ^= 1 << rng.randrange(8)
        elif op == 1 and buf:
            buf[min(pos, len(buf) - 1)] = rng.randrange(256)
        elif op == 2:
            value = rng.choice(_INTERESTING16)
            buf[pos : pos + 2] = struct.pack(rng.choice("<>") + "H", value)
        elif op == 3:
            value = rng.choice((*_INTERESTING32, len(buf), len(buf) + 1, len(buf) - 4 & 0xFFFFFFFF))
            buf[pos : pos + 4] = struct.pack(rng.choice("<>") + "I", value)
        elif op == 4:
            del buf[pos : pos + rng.choice((1, 2, 4, 16, 100, 1000))]
        elif op == 5 and buf:
            start = rng.randrange(len(buf))
            chunk = bytes(buf[start : start + rng.choice((1, 4, 16, 64, 512))])
            buf[pos:pos] = chunk * rng.choice((1, 2, 10, 100))
        elif op == 6:
            buf[pos:pos] = rng.choice(TOKENS)
        elif op == 7:
            buf[pos:pos] = rng.randbytes(rng.choice((1, 4, 16, 200)))
        elif op == 8:
            del buf[pos:]
        else:
            token = rng.choice(TOKENS)
            buf[pos : pos + len(token)] = token
        if len(buf) > max_len:
            del buf[max_len:]
    return bytes(buf)


def mutate_sip(rng: random.Random, data: bytes) -> bytes:
    """SIP-aware edits on a message's lines, then sometimes a generic edit on top."""
    head, sep, body = data.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    for _ in range(rng.choice((1, 1, 2, 3))):
        op = rng.randrange(11)
        at = rng.randrange(len(lines))
        name, colon, _value = lines[at].partition(b":")
        if op == 0 and colon:  # a hostile value
            lines[at] = name + b": " + rng.choice(HOSTILE_VALUES)
        elif op == 1:  # thousands of header lines
            line = rng.choice((lines[at][:100] if colon else b"X-H: y", b"a:"))
            lines[at + 1 : at + 1] = [line] * rng.choice((100, 5000, 10_001, 12_000))
        elif op == 2:  # one enormous line
            lines[at] = name + b": " + b"A" * rng.choice((8300, 65_537, 200_000))
        elif op == 3:
            value = rng.choice((b"-1", b"99999999999999999999", b"0", b"abc", b"1e3", b" 12 "))
            lines.insert(at + 1, rng.choice((b"Content-Length: ", b"l: ")) + value)
        elif op == 4:
            value = rng.choice((b"99999999999999999999 INVITE", b"-5 BYE", b"x", b"1", b""))
            lines.insert(at + 1, b"CSeq: " + value)
        elif op == 5:  # collide or empty the call identity
            lines.insert(at + 1, rng.choice((b"Call-ID: same", b"i:", b"Call-ID: \x1b[7m")))
        elif op == 6:  # a different start line
            lines[0] = rng.choice(
                (
                    b"SIP/2.0 999 Odd",
                    b"SIP/2.0 099 Low",
                    b"SIP/2.0 420",
                    b"sip/2.0 200 ok",
                    b"X" * 9000 + b" sip:a SIP/2.0",
                    b"REFER sip:\x1b[31m@h SIP/2.0",
                    b"INVITE  SIP/2.0",
                )
            )
        elif op == 7:  # fold a line
            lines[at] = lines[at] + b"\r\n\t folded"
        elif op == 8:  # bare LF line ends
            return b"\n".join(lines) + b"\n\n" + body
        elif op == 9:
            del lines[at:]
            if not lines:
                lines = [b"OPTIONS sip:x SIP/2.0"]
        else:
            lines.insert(at + 1, b"Via: SIP/2.0/UDP h;branch=" + rng.choice(HOSTILE_VALUES))
    out = b"\r\n".join(lines)[:_MAX_PAYLOAD] + (sep or b"\r\n\r\n") + body
    if rng.random() < 0.3:
        out = mutate_bytes(rng, out)
    return out


def _window(rng: random.Random, seed: Seed, most: int = 64) -> list[Frame]:
    frames = seed.frames
    if not frames:
        return []
    size = rng.randint(1, most)
    start = 0 if rng.random() < 0.3 else rng.randrange(len(frames))
    return list(frames[start : start + size])


def _renumber(frames: list[Frame]) -> list[Frame]:
    return [Frame(f.ts, f.linktype, f.data, i, len(f.data)) for i, f in enumerate(frames, 1)]


def case_file(rng: random.Random, seed: Seed) -> bytes:
    """The capture file's own bytes, cut to a prefix and mutated (the readers)."""
    data = seed.data[: rng.choice((200, 2000, 20_000, 100_000))]
    return mutate_bytes(rng, data)


def case_frames(rng: random.Random, seed: Seed) -> bytes:
    """Frame bytes mutated; frames dropped, repeated, reordered and re-timed (decoding, timers)."""
    frames = _window(rng, seed)
    for _ in range(rng.choice((1, 2, 4))):
        if not frames:
            break
        i = rng.randrange(len(frames))
        f = frames[i]
        op = rng.randrange(6)
        if op <= 2:
            frames[i] = Frame(f.ts, f.linktype, mutate_bytes(rng, f.data), f.number)
        elif op == 3:
            frames.insert(rng.randrange(len(frames) + 1), f)
        elif op == 4:
            del frames[i]
        else:
            shift = rng.choice((-3600.0, -1.0, 0.0, 40.0, 7200.0, 86400.0 * 365))
            frames[i:] = [Frame(g.ts + shift, g.linktype, g.data, g.number) for g in frames[i:]]
    if len(frames) > 1 and rng.random() < 0.2:
        rng.shuffle(frames)
    return write_capture(_renumber(frames))


class _Recorder:
    """Stands in for the TCP or SCTP stage and keeps what the decoder hands it."""

    def __init__(self, proto: int, units: list[tuple[int, float, str, str, bytes]]) -> None:
        self.proto = proto
        self.units = units

    def feed(
        self, ts: float, frame_no: int, src_ip: str, dst_ip: str, data: bytes
    ) -> list[Segment]:
        self.units.append((self.proto, ts, src_ip, dst_ip, bytes(data)))
        return []

    def expire(self, ts: float) -> None:
        return None

    def flush(self) -> list[Segment]:
        return []


def transport_units(frames: Sequence[Frame]) -> list[tuple[int, float, str, str, bytes]]:
    """The UDP (SIP only), TCP and SCTP payloads of ``frames``, in order."""
    units: list[tuple[int, float, str, str, bytes]] = []
    decoder = Decoder(_Recorder(6, units), _Recorder(132, units))
    for frame in frames:
        for seg in decoder.feed(frame):
            udp = struct.pack("!HHHH", seg.src[1], seg.dst[1], 8 + len(seg.data), 0) + seg.data
            units.append((17, seg.ts, seg.src[0], seg.dst[0], udp))
    return units


def case_payload(rng: random.Random, seed: Seed) -> bytes:
    """Transport payloads mutated and re-wrapped in clean headers (parser, TCP, WS, SCTP)."""
    units = transport_units(_window(rng, seed, 200))
    frames: list[Frame] = []
    for proto, ts, src, dst, raw in units:
        data = raw
        if rng.random() < 0.35:
            if proto == 17:
                payload = mutate_sip(rng, data[8:])
                data = data[:4] + struct.pack("!HH", (8 + len(payload)) & 0xFFFF, 0) + payload
            elif proto == 6 and len(data) > 20 and rng.random() < 0.7:
                head = (data[12] >> 4) * 4
                data = data[:head] + mutate_sip(rng, data[head:])
            else:
                data = mutate_bytes(rng, data)
        frames.append(Frame(ts, 1, ip_frame(src, dst, proto, data), 0))
    return write_capture(_renumber(frames))


def _resegment(rng: random.Random, tcp: bytes) -> list[bytes]:
    """One TCP segment as several, cut at random points, sequence numbers kept right."""
    head = (tcp[12] >> 4) * 4 if len(tcp) >= 20 else 0
    if head < 20 or len(tcp) <= head + 1:
        return [tcp]
    (seq,) = struct.unpack_from("!I", tcp, 4)
    payload = tcp[head:]
    cuts = sorted(
        {0, len(payload), *(rng.randrange(len(payload)) for _ in range(rng.randint(1, 6)))}
    )
    pieces = []
    for start, end in itertools.pairwise(cuts):
        header = bytearray(tcp[:head])
        struct.pack_into("!I", header, 4, (seq + start) & 0xFFFFFFFF)
        if rng.random() < 0.05:
            header[13] |= rng.choice((0x01, 0x02, 0x04))  # a stray FIN, SYN or RST
        pieces.append(bytes(header) + payload[start:end])
    return pieces


def _sctp_chunks(rng: random.Random, packet: bytes) -> bytes:
    """Re-fragment DATA chunks over consecutive TSNs and flip their B/E flags and TSNs."""
    out = bytearray(packet[:12])
    pos = 12
    while pos + 4 <= len(packet):
        ctype, _flags, length = struct.unpack_from("!BBH", packet, pos)
        if length < 4:
            break
        chunk = packet[pos : pos + length]
        pos += (length + 3) & ~3
        if ctype == 0 and length > 16 and rng.random() < 0.5:
            tsn, sid, ssn, ppid = struct.unpack_from("!IHHI", chunk, 4)
            data = chunk[16:]
            step = max(1, len(data) // rng.randint(1, 8))
            parts = [data[i : i + step] for i in range(0, len(data), step)]
            for n, part in enumerate(parts):
                bits = (2 if n == 0 else 0) | (1 if n == len(parts) - 1 else 0)
                if rng.random() < 0.1:
                    bits = rng.randrange(8)
                piece = struct.pack(
                    "!IHHI", (tsn + n + rng.choice((0, 0, 0, 1, -1))) & 0xFFFFFFFF, sid, ssn, ppid
                )
                piece = struct.pack("!BBH", 0, bits, 16 + len(part)) + piece + part
                out += piece + b"\x00" * (-len(piece) % 4)
        else:
            out += chunk + b"\x00" * (-len(chunk) % 4)
    return bytes(out)


def case_stream(rng: random.Random, seed: Seed) -> bytes:
    """TCP segments re-cut, reordered, repeated and lost; SCTP DATA re-fragmented (streams)."""
    frames: list[Frame] = []
    for proto, ts, src, dst, data in transport_units(_window(rng, seed, 200)):
        if proto == 6:
            pieces = _resegment(rng, data)
            if len(pieces) > 1 and rng.random() < 0.3:
                rng.shuffle(pieces)
            if pieces and rng.random() < 0.1:
                del pieces[rng.randrange(len(pieces))]
            if pieces and rng.random() < 0.1:
                pieces.insert(rng.randrange(len(pieces)), rng.choice(pieces))
        elif proto == 132:
            pieces = [_sctp_chunks(rng, data)]
        else:
            pieces = [data]
        frames.extend(Frame(ts, 1, ip_frame(src, dst, proto, p), 0) for p in pieces)
    return write_capture(_renumber(frames))


def case_fragments(rng: random.Random, seed: Seed) -> bytes:
    """UDP datagrams as IPv4 fragments: random sizes, overlaps, duplicates, order."""
    frames: list[Frame] = []
    for proto, ts, src, dst, data in transport_units(_window(rng, seed, 40)):
        if proto != 17 or ":" in src:
            continue
        datagram = data if rng.random() < 0.7 else data[:8] + mutate_sip(rng, data[8:])
        datagram = datagram[:_MAX_PAYLOAD]
        ident = rng.randrange(1 << 16)
        pieces = []
        offset = 0
        while offset < len(datagram):
            size = rng.choice((8, 16, 64, 256, 1480))
            start = max(0, offset - rng.choice((0, 0, 0, 8, 16)))  # overlap the previous piece
            pieces.append((start, datagram[start : start + size]))
            offset = start + size
        if rng.random() < 0.3:
            pieces.append(rng.choice(pieces))
        if rng.random() < 0.5:
            rng.shuffle(pieces)
        for start, piece in pieces:
            last = start + len(piece) >= len(datagram) and rng.random() < 0.9
            ip = ip_frame(src, dst, 17, piece, ident)
            flags = (0 if last else 0x2000) | (
                start // 8 if start % 8 == 0 else rng.randrange(8192)
            )
            ip = ip[:20] + struct.pack("!H", flags) + ip[22:]
            frames.append(Frame(ts, 1, ip, 0))
    return write_capture(_renumber(frames))


def case_time(rng: random.Random, seed: Seed) -> bytes:
    """A pcapng whose interface declares an extreme timestamp resolution and offset."""
    frames = [f for f in _window(rng, seed) if f.linktype == seed.frames[0].linktype]
    link = frames[0].linktype if frames else 1
    resol = rng.choice((0, 6, 9, 19, 0x80, 0x8A, 0xFF, 0x7F))
    offset = rng.choice((0, 1 << 62, -(1 << 62), (1 << 63) - 1, -(1 << 63), 1 << 40))
    options = struct.pack("<HH", 9, 1) + bytes([resol, 0, 0, 0])
    options += struct.pack("<HHq", 14, 8, offset) + struct.pack("<HH", 0, 0)
    parts = [
        _ng_block(0x0A0D0D0A, struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1)),
        _ng_block(1, struct.pack("<HHI", link, 0, 0) + options),
    ]
    for f in frames:
        ticks = rng.choice((0, 1, (1 << 64) - 1, 1 << 63, round(f.ts * 1e6) & ((1 << 64) - 1)))
        head = struct.pack("<IIIII", 0, ticks >> 32, ticks & 0xFFFFFFFF, len(f.data), len(f.data))
        parts.append(_ng_block(6, head + f.data))
    return b"".join(parts)


MAKERS: dict[str, Callable[[random.Random, Seed], bytes]] = {
    "file": case_file,
    "frames": case_frames,
    "payload": case_payload,
    "stream": case_stream,
    "fragments": case_fragments,
    "time": case_time,
}
