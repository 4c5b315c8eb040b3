"""pcapng files (draft-ietf-opsawg-pcapng).

A file is a sequence of blocks ``type, total length, body, total length``. Each Section Header
Block (SHB) sets the byte order for its section (from its byte-order magic) and resets the
interface list; each Interface Description Block (IDB) declares one interface with its own link
type, snapshot length and timestamp unit (``if_tsresol``) and offset (``if_tsoffset``). Packets
come in Enhanced Packet Blocks (EPB), Simple Packet Blocks (SPB, no interface id or timestamp)
or the obsolete Packet Block (OPB). Any other block type is skipped by its length, as the
specification requires of readers.

A block length that is not a multiple of 4, is below the 12-byte minimum, or disagrees with the
trailing copy means the file is damaged beyond that point: reading stops there, every frame
before it is kept, and the problem is recorded.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from typing import TYPE_CHECKING, Final

from sipwatch.capture import reader_facts as facts
from sipwatch.capture.types import CLOCK_JUMP, Frame
from sipwatch.errors import CaptureFormatError

if TYPE_CHECKING:
    from sipwatch.capture.readers import CaptureStats, ChunkedInput

SHB_MAGIC: Final = b"\x0a\x0d\x0d\x0a"
_SHB: Final = 0x0A0D0D0A
_IDB: Final = 1
_OPB: Final = 2  # obsolete Packet Block (§ Appendix "Packet Block")
_SPB: Final = 3
_EPB: Final = 6
_BOM_LE: Final = b"\x4d\x3c\x2b\x1a"
_BOM_BE: Final = b"\x1a\x2b\x3c\x4d"
# IDB options (§4.2): if_tsresol (one byte) and if_tsoffset (signed 64-bit seconds).
_OPT_END: Final = 0
_OPT_TSRESOL: Final = 9
_OPT_TSOFFSET: Final = 14
#: A block claiming more than this is corrupt (Wireshark uses a 16 MiB limit for packet data).
MAX_BLOCK: Final = 64 << 20

_LE_HDR = struct.Struct("<II")
_BE_HDR = struct.Struct(">II")
_LE_EPB = struct.Struct("<IIIII")
_BE_EPB = struct.Struct(">IIIII")
_LE_OPB = struct.Struct("<HHIIII")
# Block type and length followed by the EPB fields, for the one-call fast path.
_LE_EPB_HEAD = struct.Struct("<IIIIIII")
_BE_EPB_HEAD = struct.Struct(">IIIIIII")
_BE_OPB = struct.Struct(">HHIIII")

#: Per interface: (link type, timestamp units per second, offset in seconds, snaplen).
Interface = tuple[int, float, float, int]

#: Interfaces one section may declare. Real captures have a handful (dumpcap writes one IDB per
#: interface it captured on); a crafted file can hold millions of 20-byte IDBs. Further ones
#: are refused and counted (``too-many-interfaces``), and their packets skipped as from an
#: undeclared interface. Identical descriptions share one tuple, so a full table costs one
#: list slot (8 bytes) per interface plus one tuple per distinct description (at most ~10 MB).
MAX_INTERFACES: Final = 65_536


def read_pcapng(inp: ChunkedInput, *, native: bool = False) -> Iterator[Frame]:
    """Check the first Section Header Block now (so garbage fails at open) and return frames.

    ``native``: the blocks are read by the native core (:mod:`sipwatch.capture.native`).
    """
    stats = inp.stats
    if not inp.need(12):
        raise CaptureFormatError(f"{stats.name}: pcapng section header cut short (file too small)")
    bom = inp.buf[inp.pos + 8 : inp.pos + 12]
    if bom not in (_BOM_LE, _BOM_BE):
        raise CaptureFormatError(
            f"{stats.name}: not a capture file: pcapng section header with unknown byte-order "
            f"magic {bom.hex()}"
        )
    if native:
        from sipwatch.capture.native import pcapng_blocks

        return pcapng_blocks(inp)
    return _blocks(inp)


def _tsresol(code: int) -> float:
    """Units per second for an if_tsresol byte: 10^-n, or 2^-n when the top bit is set."""
    if code & 0x80:
        return float(2 ** (code & 0x7F))
    return float(10 ** min(code, 30))


def _parse_idb(buf: bytes, pos: int, blen: int, order: str) -> Interface:
    """Link type, timestamp unit and offset, and snaplen of an IDB starting at ``pos``."""
    link, _reserved, snaplen = struct.unpack_from(order + "HHI", buf, pos + 8)
    units = 1e6  # default resolution: microseconds
    offset = 0.0
    opt = pos + 16
    end = pos + blen - 4
    while opt + 4 <= end:
        code, length = struct.unpack_from(order + "HH", buf, opt)
        value = opt + 4
        if code == _OPT_END or value + length > end:
            break
        if code == _OPT_TSRESOL and length >= 1:
            units = _tsresol(buf[value])
        elif code == _OPT_TSOFFSET and length >= 8:
            (offset_int,) = struct.unpack_from(order + "q", buf, value)
            offset = float(offset_int)
        opt = value + ((length + 3) & ~3)
    return (link, units, offset, snaplen or (1 << 31))


def _blocks(inp: ChunkedInput) -> Iterator[Frame]:
    stats = inp.stats
    buf = inp.buf
    pos = inp.pos
    order = "<"
    hdr = _LE_HDR.unpack_from
    epb_head = _LE_EPB_HEAD.unpack_from
    epb = _LE_EPB.unpack_from
    opb = _LE_OPB.unpack_from
    trailer = struct.Struct("<I").unpack_from
    interfaces: list[Interface] = []
    distinct: dict[Interface, Interface] = {}
    number = 0
    last_ts = before_last = 0.0
    while True:
        size = len(buf)
        if size - pos >= 28:
            # Fast path: a whole, well-formed EPB already in the buffer (nearly every block).
            btype, blen, iface, ts_hi, ts_lo, caplen, orig = epb_head(buf, pos)
            end = pos + blen
            if (
                btype == 6
                and end <= size
                and blen >= 32
                and not blen & 3
                and pos + 28 + caplen <= end - 4
                and iface < len(interfaces)
                and trailer(buf, end - 4)[0] == blen
            ):
                link, units, offset, snaplen = interfaces[iface]
                number += 1
                ts = ((ts_hi << 32) | ts_lo) / units + offset
                if caplen > snaplen or ts < last_ts or ts - last_ts > CLOCK_JUMP:
                    _oddities(stats, number, caplen, snaplen, ts, last_ts, before_last)
                before_last, last_ts = last_ts, ts
                stats.frames = number
                frame = Frame(ts, link, buf[pos + 28 : pos + 28 + caplen], number, orig)
                pos = end
                yield frame
                continue
        if size - pos < 12:
            chunk = inp.more()
            if not chunk:
                if size > pos:
                    facts.cut_block(stats, number, size - pos)
                break
            buf = buf[pos:] + chunk
            pos = 0
            continue
        btype, blen = hdr(buf, pos)
        if btype == _SHB:
            # The SHB's byte-order magic decides how to read its own length (§4.1).
            bom = buf[pos + 8 : pos + 12]
            if bom == _BOM_LE:
                order = "<"
                hdr, epb, opb = _LE_HDR.unpack_from, _LE_EPB.unpack_from, _LE_OPB.unpack_from
                epb_head = _LE_EPB_HEAD.unpack_from
            elif bom == _BOM_BE:
                order = ">"
                hdr, epb, opb = _BE_HDR.unpack_from, _BE_EPB.unpack_from, _BE_OPB.unpack_from
                epb_head = _BE_EPB_HEAD.unpack_from
            else:
                facts.bad_byte_order(stats, number, bom)
                break
            trailer = struct.Struct(order + "I").unpack_from
            btype, blen = hdr(buf, pos)
        if blen < 12 or blen & 3 or blen > MAX_BLOCK:
            facts.bad_block_length(stats, number, btype, blen)
            break
        end = pos + blen
        if end > size:
            chunk = inp.more(end - size)
            if not chunk:
                facts.cut_block_body(stats, number + 1, btype, size - pos, blen)
                break
            buf = buf[pos:] + chunk
            pos = 0
            continue
        if trailer(buf, end - 4)[0] != blen:
            facts.bad_trailer(stats, number, btype, trailer(buf, end - 4)[0], blen)
            break
        if btype in (_EPB, _OPB, _SPB) and blen < (16 if btype == _SPB else 32):
            # §4.3/§4.4: an EPB or OPB needs 32 bytes for its fixed fields, an SPB 16; a
            # shorter one cannot hold them (reading them would run into the next block).
            facts.short_packet_block(stats, number + 1, btype, blen)
            pos = end
            continue
        if btype == _EPB:
            iface, ts_hi, ts_lo, caplen, orig = epb(buf, pos + 8)
            start = pos + 28
        elif btype == _SPB:
            # §4.4: no interface id (always 0), no timestamp; captured length is the smaller of
            # the original length, IDB 0's snaplen and what the block holds.
            (orig,) = trailer(buf, pos + 8)
            iface = 0
            start = pos + 12
            caplen = min(orig, blen - 16, interfaces[0][3] if interfaces else orig)
            ts_hi = ts_lo = -1
        elif btype == _OPB:
            iface, _drops, ts_hi, ts_lo, caplen, orig = opb(buf, pos + 8)
            start = pos + 28
        else:
            if btype == _IDB and blen >= 20:
                if len(interfaces) < MAX_INTERFACES:
                    described = _parse_idb(buf, pos, blen, order)
                    interfaces.append(distinct.setdefault(described, described))
                else:
                    facts.too_many_interfaces(stats, number, MAX_INTERFACES)
            elif btype == _SHB:
                interfaces = []
                distinct = {}
            pos = end
            continue
        if start + caplen > end - 4:
            facts.caplen_exceeds_block(stats, number + 1, caplen)
            pos = end
            continue
        if iface >= len(interfaces):
            facts.unknown_interface(stats, number + 1, iface)
            pos = end
            continue
        link, units, offset, snaplen = interfaces[iface]
        number += 1
        # An SPB has no timestamp of its own: keep time flowing from the last one.
        ts = last_ts if ts_hi < 0 else ((ts_hi << 32) | ts_lo) / units + offset
        if caplen > snaplen or ts < last_ts or ts - last_ts > CLOCK_JUMP:
            _oddities(stats, number, caplen, snaplen, ts, last_ts, before_last)
        before_last, last_ts = last_ts, ts
        stats.frames = number
        frame = Frame(ts, link, buf[start : start + caplen], number, orig)
        pos = end
        yield frame


def _oddities(
    stats: CaptureStats,
    number: int,
    caplen: int,
    snaplen: int,
    ts: float,
    last_ts: float,
    before_last: float,
) -> None:
    """Count the per-record oddities that do not stop reading."""
    if caplen > snaplen:
        facts.longer_than_snaplen(stats, number, caplen, snaplen)
    if ts < last_ts or ts - last_ts > CLOCK_JUMP:
        stats.time_step(number, ts, last_ts, before_last)
