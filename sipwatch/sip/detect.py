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
#: Methods have no length limit in the grammar; PROTOS test cases use methods of thousands of
#: characters, and Wireshark still counts them as SIP, so neither part is length-capped here
#: beyond the first line's own cap.
#: The line may end in CRLF, LF or a bare CR, as Wireshark also accepts. A control character in
#: the Request-URI or the Reason-Phrase breaks RFC 3261 §25.1, but the line is still SIP: it is
#: let through here so the parser reports it malformed (Wireshark's heuristic drops it as
#: not-SIP, and the 420 it carried would vanish from the analysis).
_REQUEST_LINE = re.compile(rb"[A-Za-z0-9\-.!%*_+`'~]+ [^ \r\n]+ SIP/2\.0(?:\r\n|\n|\r)", re.ASCII)
_STATUS_LINE = re.compile(rb"SIP/2\.0 [0-9]{3}(?:[ \t][^\r\n]*)?(?:\r\n|\n|\r)")
_MAX_LINE = 65536


def looks_like_sip(data: bytes | memoryview) -> bool:
    """True when ``data`` begins with a SIP request or status line."""
    first = data[:1]
    if first == b"S" and bytes(data[:8]) == _STATUS_PREFIX:
        return _STATUS_LINE.match(bytes(data[:_MAX_LINE])) is not None
    if not bytes(first).isalpha():  # RTP, RTCP, TLS, STUN... leave at the first byte
        return False
    return _REQUEST_LINE.match(bytes(data[:_MAX_LINE])) is not None
