"""The status carried by a ``message/sipfrag`` body (RFC 3420).

A NOTIFY for a REFER subscription reports the progress of the referred request as a sipfrag
whose first line is a SIP status line (RFC 3515 §2.4.5: ``SIP/2.0 200 OK``). RFC 3420 §2 lets a
fragment start with a request line instead, or carry only some headers; for transfer tracking
only the status matters, so a request-line fragment yields no status here and its method is
available from :func:`sipfrag_method`.

Real bodies are sloppy: some omit the final CRLF (``SIP/2.0 100 Trying`` with Content-Length 18,
voip-extension.pcap), some add a NUL after it (attended_transfer.pcap), some put blank lines or
spaces before the status line. All of that is tolerated; what cannot be read returns None and
nothing raises.
"""

from __future__ import annotations

import re
from typing import Final

#: Only the beginning of a body is examined: a status line is short, bodies may not be.
_SCAN_LIMIT: Final = 8192
#: RFC 3261 §7.2 Status-Line; SIP-Version is case-insensitive, SP may be repeated by sloppy
#: senders, the reason phrase may be empty. The quantifiers are possessive: with backtracking,
#: a line of blanks ending in a stray CR took cubic time (8 KB: minutes), and a body is wire data.
_STATUS_LINE: Final = re.compile(
    r"SIP/2\.0[ \t]++([1-6][0-9][0-9])(?:[ \t]++([^\r\n]*+))?\s*+$", re.I
)
#: RFC 3261 §7.1 Request-Line with a token method (§25.1).
_REQUEST_LINE: Final = re.compile(r"([A-Za-z0-9\-.!%*_+`'~]+) +[^ ]+ +SIP/2\.0\s*$", re.I)


def _first_line(body: bytes) -> str:
    text = body[:_SCAN_LIMIT].decode("utf-8", "replace").lstrip()
    return text.split("\n", 1)[0]


def parse_sipfrag(body: bytes) -> tuple[int, str] | None:
    """``(status, reason)`` from a sipfrag's status line, e.g. ``(200, "OK")``.

    Returns None when the fragment is empty, starts with a request line, or is not SIP.
    """
    match = _STATUS_LINE.match(_first_line(body))
    if match is None:
        return None
    return int(match.group(1)), (match.group(2) or "").strip()


def sipfrag_method(body: bytes) -> str | None:
    """The method of a sipfrag that starts with a request line (RFC 3420 §2), else None."""
    match = _REQUEST_LINE.match(_first_line(body))
    return match.group(1) if match is not None else None
