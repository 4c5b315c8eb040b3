"""Classic libpcap files (tcpdump.org pcap format, draft-ietf-opsawg-pcap).

A 24-byte file header (magic, version, snaplen, link type) is followed by records of a 16-byte
header (seconds, fraction, captured length, original length) and the captured bytes. The magic
gives both the byte order and the fraction unit: 0xA1B2C3D4 is microseconds, 0xA1B23C4D
nanoseconds. The "modified" pcap of old Red Hat tcpdump (0xA1B2CD34) adds 8 bytes per record
header and is read too, since it costs one variable.

The record loop is the hottest code of a file read: it works on one large buffer with integer
offsets and a precompiled Struct, and makes exactly one object per record, the Frame.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from typing import TYPE_CHECKING, Final

from sipwatch.capture import reader_facts as facts
from sipwatch.capture.linktypes import DECODED_LINKTYPES, linktype_name
from sipwatch.capture.types import CLOCK_JUMP, Frame
from sipwatch.errors import CaptureFormatError

if TYPE_CHECKING:
    from sipwatch.capture.readers import ChunkedInput

# magic as it appears in the file -> (byte order, seconds per fraction unit, record header size)
_FORMATS: Final[dict[bytes, tuple[str, float, int]]] = {
    b"\xd4\xc3\xb2\xa1": ("<", 1e-6, 16),
    b"\xa1\xb2\xc3\xd4": (">", 1e-6, 16),
    b"\x4d\x3c\xb2\xa1": ("<", 1e-9, 16),
    b"\xa1\xb2\x3c\x4d": (">", 1e-9, 16),
    b"\x34\xcd\xb2\xa1": ("<", 1e-6, 24),
    b"\xa1\xb2\xcd\x34": (">", 1e-6, 24),
}
MAGICS: Final = frozenset(_FORMATS)
_FILE_HEADER_LEN: Final = 24
#: A record claiming more than this is a corrupt header, not a packet: stop instead of trying to
#: buffer gigabytes. 256 KiB is libpcap's maximum snapshot length; allow generous headroom.
MAX_RECORD: Final = 16 << 20


def read_pcap(inp: ChunkedInput, *, native: bool = False) -> Iterator[Frame]:
    """Parse the file header now (so a broken one fails at open) and return the frame iterator.

    ``native``: the records are read by the native core (:mod:`sipwatch.capture.native`).
    """
    stats = inp.stats
    if not inp.need(_FILE_HEADER_LEN):
        raise CaptureFormatError(f"{stats.name}: pcap file header cut short (file too small)")
    magic = inp.buf[inp.pos : inp.pos + 4]
    order, unit, rec_len = _FORMATS[magic]
    _major, _minor, _zone, _sigfigs, snaplen, link = struct.unpack_from(
        order + "HHiIII", inp.buf, inp.pos + 4
    )
    inp.pos += _FILE_HEADER_LEN
    # The top bits of the link-type field carry FCS information (pcap spec "LinkType and
    # additional information"); the type itself is the low 16 bits.
    link &= 0xFFFF
    if link not in DECODED_LINKTYPES:
        # One link type for every record: not one packet of this file can be decoded.
        raise CaptureFormatError(
            f"{stats.name}: unreadable: its link type {linktype_name(link)} is not one sipwatch "
            "decodes (Ethernet, Linux cooked, raw IP, loopback, PPP)"
        )
    if native:
        from sipwatch.capture.native import pcap_records

        return pcap_records(
            inp, little=order == "<", unit=unit, rec_len=rec_len, snaplen=snaplen, link=link
        )
    return _records(
        inp,
        rec=struct.Struct(order + "IIII"),
        unit=unit,
        rec_len=rec_len,
        snaplen=snaplen,
        link=link,
    )


def _records(
    inp: ChunkedInput, *, rec: struct.Struct, unit: float, rec_len: int, snaplen: int, link: int
) -> Iterator[Frame]:
    stats = inp.stats
    unpack = rec.unpack_from
    buf = inp.buf
    pos = inp.pos
    number = 0
    last_ts = before_last = 0.0
    if snaplen == 0:  # some writers leave it unset
        snaplen = MAX_RECORD
    while True:
        size = len(buf)
        if size - pos < rec_len:
            chunk = inp.more()
            if not chunk:
                if size > pos:
                    facts.cut_header(stats, number + 1, size - pos, rec_len)
                break
            buf = buf[pos:] + chunk
            pos = 0
            continue
        sec, frac, incl, orig = unpack(buf, pos)
        end = pos + rec_len + incl
        if end > size:
            if incl > MAX_RECORD:
                facts.corrupt_length(stats, number + 1, incl)
                break
            chunk = inp.more(end - size)
            if not chunk:
                facts.cut_record(stats, number + 1, size - pos - rec_len, incl)
                break
            buf = buf[pos:] + chunk
            pos = 0
            continue
        number += 1
        ts = sec + frac * unit
        if incl > snaplen:
            facts.longer_than_snaplen(stats, number, incl, snaplen)
        if ts < last_ts or ts - last_ts > CLOCK_JUMP:
            stats.time_step(number, ts, last_ts, before_last)
        before_last, last_ts = last_ts, ts
        stats.frames = number
        frame = Frame(ts, link, buf[pos + rec_len : end], number, orig)
        pos = end
        yield frame
