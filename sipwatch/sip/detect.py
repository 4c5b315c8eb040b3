"""Recognise SIP by content, not by port.

A payload is SIP when it starts with a SIP status line (``SIP/2.0 NNN``) or a request line
(``TOKEN SP Request-URI SP SIP/2.0``, RFC 3261 §7.1). Methods are any RFC 3261 ``token``, so
extension methods (and the odd casing fuzzers send) are still SIP; the check looks for the
``SIP/2.0`` version at the end of the first line to avoid taking HTTP or RTSP for SIP.
"""

from __future__ import annotations

import re

_STATUS_PREFIX = b"SIP/2.0 "
#: RFC 3261 §25.1 token characters (used for the method).
_REQUEST_LINE = re.compile(
    rb"[A-Za-z0-9\-.!%*_+`'~]{1,32} [^ \r\n]{1,8192} SIP/2\.0\r?\n", re.ASCII
)
_MAX_LINE = 8300


def looks_like_sip(data: bytes | memoryview) -> bool:
    """True when ``data`` begins with a SIP request or status line."""
    head = bytes(data[:_MAX_LINE])
    if head.startswith(_STATUS_PREFIX):
        return len(head) > 11 and head[8:11].isdigit()
    if not head[:1].isalpha():
        return False
    return _REQUEST_LINE.match(head) is not None


def find_sip_start(data: bytes, start: int = 0) -> int:
    """Offset of the first line at or after ``start`` that begins a SIP message, or -1.

    Used to resynchronise a byte stream after a gap or junk: only line starts are considered.
    """
    pos = start
    length = len(data)
    while pos < length:
        if looks_like_sip(data[pos : pos + _MAX_LINE]):
            return pos
        nl = data.find(b"\n", pos)
        if nl < 0:
            return -1
        pos = nl + 1
    return -1
