"""Build SIP messages for tests: wire bytes and the parsed :class:`SipMessage`.

Every builder fills in a minimal valid message (RFC 3261 §8.1.1: Via, Max-Forwards, From, To,
Call-ID, CSeq, plus Content-Length) and lets a test override any header by keyword::

    invite = make_request("INVITE", require="100rel", supported=["timer", "replaces"])
    reject = make_response(420, request=invite, unsupported="100rel")
    notify = make_request("NOTIFY", call_id=invite.call_id, event="refer",
                          content_type="message/sipfrag", body="SIP/2.0 200 OK\\r\\n")

Keyword names map to header names (``from_`` for From, since ``from`` is a Python keyword):
``_`` becomes ``-`` and the name is spelt as registered
(``call_id`` -> ``Call-ID``, ``www_authenticate`` -> ``WWW-Authenticate``, ``x_foo`` -> ``X-Foo``).
A value is a string (one header line), a list (one line per item, in order) or None (leave a
default header out, e.g. ``via=None`` for a message without Via). Headers that clash with a
parameter name (such as ``Reason`` in :func:`make_response`) go in ``extra``, a sequence of
``(name, value)`` lines appended as given.

``*_bytes`` return the wire bytes; ``make_*`` parse them with the real parser and return the
:class:`SipMessage` (``.raw`` holds the bytes), failing loudly if the parser rejects them.

:func:`udp_payloads` gives the raw UDP payloads of a real capture, for parser-level tests.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from itertools import count
from pathlib import Path

from sipwatch.sip.compact import canonical_name
from sipwatch.sip.headers import header_param
from sipwatch.sip.message import SipMessage
from sipwatch.sip.parser import parse_message

HeaderValue = str | Sequence[str] | None

#: Reason phrases used when a test gives none (RFC 3261 §21 and extensions).
REASONS: Mapping[int, str] = {
    100: "Trying",
    180: "Ringing",
    183: "Session Progress",
    200: "OK",
    202: "Accepted",
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    407: "Proxy Authentication Required",
    408: "Request Timeout",
    420: "Bad Extension",
    421: "Extension Required",
    480: "Temporarily Unavailable",
    481: "Call/Transaction Does Not Exist",
    486: "Busy Here",
    487: "Request Terminated",
    488: "Not Acceptable Here",
    489: "Bad Event",
    500: "Server Internal Error",
    503: "Service Unavailable",
    603: "Decline",
}

_branches = count(1)


def _key(keyword: str) -> str:
    """Normalise a keyword: ``from_`` (``from`` is a Python keyword) and ``From`` -> ``from``."""
    return keyword.lower().rstrip("_")


def header_name(keyword: str) -> str:
    """``call_id`` -> ``Call-ID``; unknown names are title-cased per dash-separated word."""
    name = _key(keyword).replace("_", "-")
    canonical = canonical_name(name)
    if canonical != name:
        return canonical
    return "-".join(part[:1].upper() + part[1:] for part in name.split("-"))


def _lines(headers: Mapping[str, HeaderValue]) -> list[tuple[str, str]]:
    lines: list[tuple[str, str]] = []
    for keyword, value in headers.items():
        if value is None:
            continue
        name = header_name(keyword)
        values = [value] if isinstance(value, str) else list(value)
        lines.extend((name, item) for item in values)
    return lines


def _assemble(
    start_line: str,
    defaults: dict[str, HeaderValue],
    overrides: Mapping[str, HeaderValue],
    body: bytes | str,
    extra: Sequence[tuple[str, str]],
) -> bytes:
    payload = body.encode() if isinstance(body, str) else body
    merged = dict(defaults)
    for keyword, value in overrides.items():
        merged[_key(keyword)] = value
    if payload and "content_type" not in merged:
        merged["content_type"] = "application/sdp"
    # Content-Length last, as most stacks send it; a test may override it or drop it (None).
    length = merged.pop("content_length", str(len(payload)))
    lines = _lines(merged) + list(extra)
    if length is not None:
        lines += _lines({"content_length": length})
    head = "".join(f"{name}: {value}\r\n" for name, value in lines)
    return f"{start_line}\r\n{head}\r\n".encode() + payload


def request_bytes(
    method: str,
    uri: str = "sip:bob@example.com",
    *,
    body: bytes | str = b"",
    extra: Sequence[tuple[str, str]] = (),
    **headers: HeaderValue,
) -> bytes:
    """Wire bytes of a request; see the module docstring for ``headers``."""
    defaults: dict[str, HeaderValue] = {
        "via": f"SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK-test{next(_branches)}",
        "max_forwards": "70",
        "from": "Alice <sip:alice@example.com>;tag=alice-tag",
        "to": "Bob <sip:bob@example.com>",
        "call_id": "test-call-1@192.0.2.10",
        "cseq": f"1 {method}",
    }
    return _assemble(f"{method} {uri} SIP/2.0", defaults, headers, body, extra)


def make_request(
    method: str,
    uri: str = "sip:bob@example.com",
    *,
    body: bytes | str = b"",
    extra: Sequence[tuple[str, str]] = (),
    **headers: HeaderValue,
) -> SipMessage:
    """A parsed request; see :func:`request_bytes`."""
    return _parsed(request_bytes(method, uri, body=body, extra=extra, **headers))


def response_bytes(
    status: int,
    reason: str | None = None,
    request: SipMessage | None = None,
    *,
    body: bytes | str = b"",
    extra: Sequence[tuple[str, str]] = (),
    **headers: HeaderValue,
) -> bytes:
    """Wire bytes of a response to ``request`` (or to a default INVITE).

    As RFC 3261 §8.2.6.2 requires, Via (all of them, in order), From, Call-ID and CSeq are
    copied from the request, and To gains a tag (``bob-tag``) unless the request's To had one
    or status is 100.
    """
    if request is None:
        request = make_request("INVITE")
    to = request.header("to") or ""
    if status != 100 and not header_param(to, "tag"):
        to = f"{to};tag=bob-tag"
    defaults: dict[str, HeaderValue] = {
        "via": request.header_all("via"),
        "from": request.header("from"),
        "to": to,
        "call_id": request.header("call-id"),
        "cseq": request.header("cseq"),
    }
    phrase = REASONS.get(status, "Unknown") if reason is None else reason
    return _assemble(f"SIP/2.0 {status} {phrase}", defaults, headers, body, extra)


def make_response(
    status: int,
    reason: str | None = None,
    request: SipMessage | None = None,
    *,
    body: bytes | str = b"",
    extra: Sequence[tuple[str, str]] = (),
    **headers: HeaderValue,
) -> SipMessage:
    """A parsed response; see :func:`response_bytes`."""
    return _parsed(response_bytes(status, reason, request, body=body, extra=extra, **headers))


def _parsed(data: bytes) -> SipMessage:
    result = parse_message(data)
    if not isinstance(result, SipMessage):
        raise AssertionError(f"test message did not parse: {result.reason}\n{data!r}")
    return result


def udp_payloads(path: Path) -> list[tuple[int, bytes]]:
    """``(frame number, UDP payload)`` of every unfragmented IPv4/UDP frame in a capture.

    A deliberately tiny decoder (Ethernet with VLAN tags, Linux SLL, raw IPv4) so parser tests
    see *every* datagram, including the ones the real decoder would skip as not SIP; the
    frames come from :func:`sipwatch.capture.readers.open_capture`, which also reads NetMon.
    """
    from sipwatch.capture.readers import open_capture

    payloads: list[tuple[int, bytes]] = []
    with open_capture(path) as source:
        for frame in source:
            data = frame.data
            if frame.linktype == 1:  # Ethernet, 802.1Q/802.1ad tags skipped
                offset = 12
                while data[offset : offset + 2] in (b"\x81\x00", b"\x88\xa8"):
                    offset += 4
                if data[offset : offset + 2] != b"\x08\x00":
                    continue
                ip = offset + 2
            elif frame.linktype == 113:  # Linux cooked capture (SLL)
                if data[14:16] != b"\x08\x00":
                    continue
                ip = 16
            elif frame.linktype in (101, 228):  # raw IP / raw IPv4
                ip = 0
            else:
                continue
            if len(data) < ip + 28 or data[ip] >> 4 != 4 or data[ip + 9] != 17:
                continue
            if int.from_bytes(data[ip + 6 : ip + 8], "big") & 0x3FFF:  # a fragment
                continue
            header = (data[ip] & 0x0F) * 4
            total = int.from_bytes(data[ip + 2 : ip + 4], "big")
            payloads.append((frame.number, bytes(data[ip + header + 8 : ip + total])))
    return payloads
