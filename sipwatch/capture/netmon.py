"""Microsoft Network Monitor captures (.cap), versions 1.x and 2.x.

Layout (documented in the Network Monitor 3.x help, "Capture file format"): a 128-byte header
starting with the magic (``RTSS`` for 1.x, ``GMBU`` for 2.x), the version, the media type, the
capture start as a Windows SYSTEMTIME, and the offset and length of a *frame table* — an array
of 32-bit file offsets, one per frame. Each frame record is a header (time since the start,
original and captured length) followed by the bytes; version 2.1 and later append a trailer
whose first field is the frame's own media type (2.1: media; 2.2: + process index; 2.3: + UTC
timestamp and time-zone index).

The frame table usually sits at the end of the file, so this format cannot be streamed: the
file is read whole, once, up to :data:`MAX_FILE` bytes (a larger one is refused at open, with
the advice to convert it). Network Monitor writes frames one after the other and the table in
that order, so each table entry must point past the end of the record before it: a crafted
table whose entries all point at one large frame (or overlap) would otherwise cost time per
entry times frame size; such entries are skipped and counted (``netmon-frame-overlap``). The
start time is taken as UTC, which matches what tshark prints for the public NetMon capture.
"""

from __future__ import annotations

import calendar
import struct
import sys
from array import array
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Final

from sipwatch.capture.linktypes import netmon_linktype
from sipwatch.capture.types import CLOCK_JUMP, Frame
from sipwatch.errors import CaptureFormatError

if TYPE_CHECKING:
    from sipwatch.capture.readers import ChunkedInput

MAGICS: Final = frozenset({b"RTSS", b"GMBU"})
_HEADER_LEN: Final = 128
_HEADER = struct.Struct("<4sBBH8HII")
_V1_RECORD = struct.Struct("<IHH")  # ms since start, original length, captured length
_V2_RECORD = struct.Struct("<QII")  # µs since start, original length, captured length
#: 2.3+ trailer timestamps are 100 ns ticks since 1601-01-01 UTC (a Windows FILETIME).
_FILETIME_UNIX_EPOCH: Final = 116_444_736_000_000_000  # 1970-01-01 in FILETIME ticks
#: The largest NetMon file read (it is held in memory whole, once; the frame table's entries
#: are read in place, 4 bytes each). Network Monitor's own default capture buffer is far
#: smaller; 128 MiB keeps any NetMon input under docs/limits.md's stated peak.
MAX_FILE: Final = 128 << 20


def _trailer_len(major: int, minor: int) -> int:
    """Bytes after each frame's data, by file version."""
    if major < 2 or minor == 0:
        return 0
    if minor == 1:
        return 2
    if minor == 2:
        return 6
    return 15


def read_netmon(inp: ChunkedInput) -> Iterator[Frame]:
    """Check the header, read the whole file (up to :data:`MAX_FILE`), return the frames."""
    stats = inp.stats
    if not inp.need(_HEADER_LEN):
        raise CaptureFormatError(f"{stats.name}: NetMon file header cut short (file too small)")
    magic, minor, major = _HEADER.unpack_from(inp.buf, inp.pos)[:3]
    if (magic == b"RTSS") != (major == 1) or major not in (1, 2):
        raise CaptureFormatError(
            f"{stats.name}: NetMon file of unsupported version {major}.{minor}"
        )
    read = inp.read_all(MAX_FILE)
    if read is None:
        raise CaptureFormatError(
            f"{stats.name}: NetMon file larger than {MAX_FILE >> 20} MiB, the most sipwatch "
            "reads (the format keeps its frame table at the end, so it is read whole); "
            "convert it first: editcap -F pcapng FILE OUT.pcapng"
        )
    data = read
    _magic, _minor, _major, media, *systime, table_off, table_len = _HEADER.unpack_from(data, 0)
    stats.format = f"netmon{major}"
    year, month, _dow, day, hour, minute, second, millis = systime
    try:
        start = calendar.timegm((year, month, day, hour, minute, second)) + millis / 1000
    except (ValueError, OverflowError):
        stats.problem(f"capture start time {systime} is not a valid date; using 0")
        start = 0.0
    count = table_len // 4
    if table_off + 4 * count > len(data):
        stats.truncated = True
        stats.problem(
            f"frame table at {table_off} ({count} frames) runs past the end of the file "
            f"({len(data)} bytes); frames after the cut are lost"
        )
        count = max(0, (len(data) - table_off) // 4)
    offsets = _offsets(data, table_off, count)
    return _frames(inp, data, offsets, version=(major, minor), media=media, start=start)


def _offsets(data: bytearray | bytes, at: int, count: int) -> Sequence[int]:
    """The frame table's ``count`` little-endian 32-bit offsets, 4 bytes each (not a tuple of
    Python ints, which would cost ~36 bytes an entry)."""
    if count <= 0:
        return ()
    if sys.byteorder == "little":
        return memoryview(data)[at : at + 4 * count].cast("I")
    table = array("I", data[at : at + 4 * count])
    table.byteswap()
    return table


def _frames(
    inp: ChunkedInput,
    data: bytearray | bytes,
    offsets: Sequence[int],
    *,
    version: tuple[int, int],
    media: int,
    start: float,
) -> Iterator[Frame]:
    stats = inp.stats
    major, minor = version
    record = _V1_RECORD if major == 1 else _V2_RECORD
    unit = 1e-3 if major == 1 else 1e-6
    rec_len = record.size
    trailer = _trailer_len(major, minor)
    default_link = netmon_linktype(media)
    size = len(data)
    number = 0
    last_ts = before_last = 0.0
    previous_end = 0
    for index, off in enumerate(offsets, 1):
        if off < previous_end:
            stats.count(
                "netmon-frame-overlap",
                f"frame {index}: record at offset {off} overlaps the record before it (a "
                "frame table entry repeated or out of order); skipped",
            )
            continue
        if off + rec_len > size:
            stats.truncated = True
            stats.problem(f"frame {index}: record at offset {off} is past the end of the file")
            break
        delta, orig, incl = record.unpack_from(data, off)
        begin = off + rec_len
        end = begin + incl
        if end + trailer > size:
            stats.truncated = True
            stats.problem(f"capture cut in the middle of record {index} ({incl} bytes)")
            break
        previous_end = end + trailer
        link = default_link
        ts = start + delta * unit
        if trailer:
            link = netmon_linktype(data[end] | data[end + 1] << 8)
            if trailer >= 15:
                (ticks,) = struct.unpack_from("<Q", data, end + 6)
                if ticks:
                    ts = (ticks - _FILETIME_UNIX_EPOCH) / 1e7
        number = index
        if ts < last_ts or ts - last_ts > CLOCK_JUMP:
            stats.time_step(number, ts, last_ts, before_last)
        before_last, last_ts = last_ts, ts
        stats.frames = number
        yield Frame(ts, link, bytes(data[begin:end]), number, orig)
