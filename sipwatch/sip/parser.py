"""Bytes -> :class:`SipMessage` or :class:`Malformed`, for one whole message.

Every SIP message a capture holds passes through :func:`parse_message`, so it is written for
speed: one search for the end of the header section, one UTF-8 decode of the headers, one
``str.split`` into lines, and one dict lookup per header line (compact form expansion and
canonical spelling in the same table). Nothing is split on commas and no parameter is parsed
here; :class:`SipMessage` does that on demand.

Policy, with the reason for each choice:

* **Never raises.** Peer misbehaviour is data (DESIGN §2 rule 4): anything unreadable becomes a
  :class:`Malformed` with a reason, and an unexpected internal error is caught and reported the
  same way rather than stopping a live capture.
* **Lenient where tshark is lenient**, so our message counts match the tshark oracles:
  a bad or missing Content-Length, a missing mandatory header, a missing final empty line, a
  CSeq method that differs from the request method, a header line without a colon or a
  continuation line before any header (both skipped) are *warnings* on a parsed message: with
  a readable start line the message is still shown, and the warning says what was wrong.
* **Strict where the message cannot be understood**: no request/status line, a method that is
  not a token.
* **Bounded**: limits on line count, line length and body size are checked with ``len`` and
  ``count`` on the bytes before any per-line work, so hostile input costs little.
"""

from __future__ import annotations

import re
from itertools import repeat
from typing import Final, cast

from sipwatch.sip.compact import NAME_TABLE
from sipwatch.sip.message import Malformed, MessageKind, ParseResult, SipMessage, cseq_fields

#: Hardening limits: more header lines (not counting the start line), a longer line (start line
#: included; bytes without the line end) or a bigger body (bytes after the empty line, before
#: any Content-Length cut) make a message :class:`Malformed` ("oversized: ...").
#: Real SIP stays far below: the longest lines in the public captures are ~16 KB PROTOS test
#: cases and ~1 KB Via/Record-Route paths; bodies above a few KB are rare (RFC 3261 §18.1.1
#: already moves messages over ~1300 bytes to TCP).
MAX_HEADER_LINES: Final = 10_000
MAX_LINE_BYTES: Final = 64 * 1024
MAX_BODY_BYTES: Final = 1024 * 1024

#: RFC 3261 §8.1.1: every request carries these; responses copy them (§8.2.6.2).
MANDATORY_HEADERS: Final[tuple[tuple[str, str], ...]] = (
    ("call-id", "Call-ID"),
    ("cseq", "CSeq"),
    ("from", "From"),
    ("to", "To"),
    ("via", "Via"),
)

#: RFC 3261 §25.1 ``token``: the grammar of a method (§7.1, ``extension-method = token``).
_TOKEN: Final = re.compile(r"[A-Za-z0-9\-.!%*_+`'~]+")
#: Methods seen every day skip the token regex.
_COMMON_METHODS: Final[frozenset[str]] = frozenset(
    {
        "INVITE",
        "ACK",
        "BYE",
        "CANCEL",
        "OPTIONS",
        "REGISTER",
        "PRACK",
        "SUBSCRIBE",
        "NOTIFY",
        "PUBLISH",
        "INFO",
        "REFER",
        "MESSAGE",
        "UPDATE",
    }
)
#: RFC 3261 §25.1: neither a Request-URI nor a Reason-Phrase holds a control character (HTAB
#: aside, allowed in a reason). A start line that is SIP but carries one (a NUL from a fuzzer,
#: an ESC sequence aimed at a terminal) is malformed: counted and shown, never a message whose
#: reason reaches an analysis, and never dropped as not-SIP.
_CONTROL: Final = re.compile("[\x00-\x08\x0a-\x1f\x7f]")
_CONTROL_REASON: Final = "control character in the start line"
_EXCERPT: Final = 80
_HUGE: Final = 10**18
_MANDATORY_KEYS: Final = frozenset(key for key, _ in MANDATORY_HEADERS)
_COLON: Final = repeat(":")
#: ``map(list, _EMPTY)`` makes fresh empty lists in C.
_EMPTY: Final = repeat(())
_CR_LF: Final = (13, 10)
_CR: Final = "\r"
#: Header sections shorter than this cannot break MAX_HEADER_LINES or MAX_LINE_BYTES.
_LIMITS_FROM: Final = min(MAX_HEADER_LINES, MAX_LINE_BYTES)
#: NAME_TABLE plus the spellings commonly seen on the wire (registered, Title-Case, UPPER), so
#: most names are found without calling ``str.lower`` on them; split in two tables so that each
#: is one C-level ``map``.
_BY_WIRE: Final[dict[str, tuple[str, str]]] = {
    **NAME_TABLE,
    **{entry[0]: entry for entry in NAME_TABLE.values()},
    **{entry[0].title(): entry for entry in NAME_TABLE.values()},
    **{entry[0].upper(): entry for entry in NAME_TABLE.values()},
}
_NAME_BY_WIRE: Final = {wire: entry[0] for wire, entry in _BY_WIRE.items()}
_KEY_BY_WIRE: Final = {wire: entry[1] for wire, entry in _BY_WIRE.items()}
#: ``(0,), (1,), ...``: ``map(list, _SINGLETONS)`` makes the fresh ``[i]`` index lists in C.
_SINGLETONS: Final = tuple((position,) for position in range(MAX_HEADER_LINES + 1))


def parse_message(data: bytes) -> ParseResult:
    """Parse one complete SIP message (a UDP datagram, or one framed TCP message).

    Returns a :class:`SipMessage`, possibly with ``warnings``, or a :class:`Malformed`
    carrying the reason and the original bytes. Never raises.
    """
    try:
        return _parse(data)
    except Exception as exc:  # the contract is "never raises"; see the module docstring
        return Malformed(f"internal parser error: {type(exc).__name__}: {exc}", bytes(data))


def _excerpt(text: str) -> str:
    return text if len(text) <= _EXCERPT else text[:_EXCERPT] + "..."


def _parse(data: bytes) -> ParseResult:
    if not data:
        return Malformed("empty message", data)
    start = 0
    if data[0] in _CR_LF:
        # RFC 3261 §7.5: CRLFs before the start line are ignored (stream keep-alives, §18.3;
        # RFC 5626 §3.5.1 CRLF pings).
        start = len(data) - len(data.lstrip(b"\r\n"))
        if start == len(data):
            return Malformed("empty message (only line breaks)", data)

    # End of the header section: the first empty line (RFC 3261 §7: CRLF CRLF). A bare LF is
    # accepted as a line end too, as real stacks do. The header text is split on LF only and
    # the CR that precedes it is removed by the value strip, so an all-CRLF message costs one
    # search and one split; an LF LF is noticed as an empty line after the split.
    terminated = True
    head_end = data.find(b"\n\r\n", start)
    if head_end >= 0:
        body_start = head_end + 3
    else:
        head_end = data.find(b"\n\n", start)
        if head_end >= 0:
            body_start = head_end + 2
        else:  # no empty line at all: everything is header text, there is no body
            terminated = False
            head_end = len(data.rstrip(b"\r\n"))
            body_start = len(data)
    text_end = head_end - 1 if data[head_end - 1] == 13 else head_end
    if text_end - start >= _LIMITS_FROM:
        # A header section this big may break a limit: find its true end, then check (C-level
        # count/split on bytes, before any per-line work).
        lf = data.find(b"\n\n", start, head_end + 1)
        if lf >= 0:
            head_end, body_start = lf, lf + 2
            text_end = head_end - 1 if data[head_end - 1] == 13 else head_end
        if data.count(b"\n", start, text_end) > MAX_HEADER_LINES:  # one LF per header line
            return Malformed(f"oversized: more than {MAX_HEADER_LINES} header lines", data)
        lines_bytes = data[start:text_end].split(b"\n")
        longest = max(map(len, lines_bytes))
        if longest > MAX_LINE_BYTES:  # the CR of a CRLF does not count, so look closer
            longest = max(
                len(line) - line.endswith(b"\r")
                for line in lines_bytes
                if len(line) > MAX_LINE_BYTES
            )
        if longest > MAX_LINE_BYTES:
            return Malformed(
                f"oversized: a header line of {longest} bytes (limit {MAX_LINE_BYTES})", data
            )
    lines = data[start:text_end].decode("utf-8", "replace").split("\n")
    if "" in lines:
        # An LF LF ends the header section before the first CRLF CRLF.
        lf = data.find(b"\n\n", start, head_end + 1)
        if lf >= 0:
            head_end, body_start = lf, lf + 2
            text_end = head_end - 1 if data[head_end - 1] == 13 else head_end
            lines = data[start:text_end].decode("utf-8", "replace").split("\n")
    if len(data) - body_start > MAX_BODY_BYTES:
        return Malformed(
            f"oversized: body of {len(data) - body_start} bytes (limit {MAX_BODY_BYTES})", data
        )

    # -- start line (RFC 3261 §7.1 Request-Line, §7.2 Status-Line) ------------------------
    first = lines[0]
    if first[-1:] == "\r":
        first = first[:-1]
    if "\r" in first:
        # A bare CR ends the start line (Wireshark reads it so too); the rest is a header line.
        first, _, rest = first.partition("\r")
        lines.insert(1, rest)
    kind: MessageKind
    if first.startswith("SIP/2.0 ") or (first[:1] in "sS" and first[:8].upper() == "SIP/2.0 "):
        kind = "response"
        parts = first.split(" ", 2)
        code = parts[1]
        if not (len(code) == 3 and code.isascii() and code.isdigit()):
            return Malformed(f"bad status code {code[:20]!r}", data, _excerpt(first))
        status = int(code)
        if not 100 <= status <= 699:
            return Malformed(f"status code {status} out of range 100-699", data, _excerpt(first))
        reason = parts[2] if len(parts) > 2 else ""
        if _CONTROL.search(reason) is not None:
            return Malformed(_CONTROL_REASON, data, _excerpt(first))
        method = uri = ""
    else:
        kind = "request"
        status = 0
        reason = ""
        method, _, rest = first.partition(" ")
        uri, _, version = rest.rpartition(" ")
        if version != "SIP/2.0" and version.upper() != "SIP/2.0":
            return Malformed("no SIP request or status line", data, _excerpt(first))
        if not method:
            return Malformed("request line starts with whitespace", data, _excerpt(first))
        if method not in _COMMON_METHODS and _TOKEN.fullmatch(method) is None:
            return Malformed(f"method is not a token: {method[:40]!r}", data, _excerpt(first))
        uri = uri.strip(" ")
        if not uri or " " in uri:
            return Malformed("bad Request-URI", data, _excerpt(first))
        if _CONTROL.search(uri) is not None or "\t" in uri:
            return Malformed(_CONTROL_REASON, data, _excerpt(first))

    # -- header lines (RFC 3261 §7.3) -----------------------------------------------------
    del lines[0]
    parsed = _headers_fast(lines) if lines else ([], {})
    warnings: list[str] = []
    if parsed is None:
        headers, index, problems = _headers_slow(lines)
        warnings.extend(problems)
    else:
        headers, index = parsed

    if not terminated:
        warnings.append("no empty line after the headers")
    return _finish(data, kind, method, uri, status, reason, headers, index, body_start, warnings)


def finish_split(
    data: bytes,
    response: bool,
    method: str,
    uri: str,
    status: int,
    reason: str,
    headers: list[tuple[str, str]],
    index: dict[str, list[int]],
    body_start: int,
) -> ParseResult:
    """The message from a start line and headers split elsewhere (the native core does the
    split of plain messages); the body and every check after the headers run here, for both
    engines. Never raises, like :func:`parse_message`."""
    kind: MessageKind = "response" if response else "request"
    try:
        return _finish(data, kind, method, uri, status, reason, headers, index, body_start, [])
    except Exception as exc:  # the contract is "never raises"; see the module docstring
        return Malformed(f"internal parser error: {type(exc).__name__}: {exc}", bytes(data))


def _finish(
    data: bytes,
    kind: MessageKind,
    method: str,
    uri: str,
    status: int,
    reason: str,
    headers: list[tuple[str, str]],
    index: dict[str, list[int]],
    body_start: int,
    warnings: list[str],
) -> SipMessage:
    # -- body and Content-Length (RFC 3261 §20.14) ----------------------------------------
    body = data[body_start:]
    slots = index.get("content-length")
    if slots is not None:
        declared = headers[slots[0]][1]
        if declared.isascii() and declared.isdigit():
            # More than 18 digits is beyond any body (and int() refuses > 4300 digits).
            length = int(declared) if len(declared) <= 18 else _HUGE
            if length < len(body):
                warnings.append(f"{len(body) - length} bytes after the body")
                body = body[:length]
            elif length > len(body):
                warnings.append(
                    f"Content-Length {_excerpt(declared)} but only {len(body)} body bytes"
                    " (truncated)"
                )
        else:
            warnings.append(f"invalid Content-Length {_excerpt(declared)!r}")
        if len(slots) > 1 and any(headers[i][1] != declared for i in slots[1:]):
            warnings.append("conflicting Content-Length headers")

    # -- mandatory headers (RFC 3261 §8.1.1) and CSeq ------------------------------------
    if not index.keys() >= _MANDATORY_KEYS:
        for key, label in MANDATORY_HEADERS:
            if key not in index:
                warnings.append(f"missing mandatory header {label}")
    slots = index.get("cseq")
    cseq: tuple[int, str] = (0, "")
    if slots is not None:
        cseq = cseq_fields(headers[slots[0]][1])
        cseq_method = cseq[1]
        if kind == "response":
            method = cseq_method
        elif cseq_method != method:
            # §8.1.1.5: the CSeq method MUST match the request's method.
            warnings.append(f"CSeq method {cseq_method[:40]!r} does not match request method")

    msg = SipMessage(kind, method, uri, status, reason, headers, index, body, data, warnings)
    msg._cseq = cseq  # read here anyway; every later stage asks for it
    return msg


Headers = tuple[list[tuple[str, str]], dict[str, list[int]]]


def _headers_fast(lines: list[str]) -> Headers | None:
    """The common case, done in C-level ``map``/``zip`` passes instead of a Python loop.

    Returns None, letting :func:`_headers_slow` decide, on anything unusual: a colon-less
    line, a folded line, an empty name. A name spelt unusually (``CALL-ID``, ``Via :``) takes a
    per-name fallback. The result always equals :func:`_headers_slow`'s (a property test
    checks this); the split exists only because this is the hottest code in sipwatch.
    """
    names_raw, seps, values = zip(*map(str.partition, lines, _COLON))  # noqa: B905
    if "" in seps:
        return None
    found_keys = list(map(_KEY_BY_WIRE.get, names_raw))
    found_names = list(map(_NAME_BY_WIRE.get, names_raw))
    if None in found_keys:
        for position, key in enumerate(found_keys):
            if key is None:
                name = names_raw[position].rstrip(" \t")
                if not name or name[0] in " \t":  # no name, or a folded line (§7.3.1)
                    return None
                lower = name.lower()
                found_names[position], found_keys[position] = NAME_TABLE.get(lower) or (name, lower)
    keys = cast("list[str]", found_keys)  # no None is left
    names = cast("list[str]", found_names)
    # index[key] = [positions]: built in C, first assuming every name is distinct ...
    index = dict(zip(keys, map(list, _SINGLETONS)))  # noqa: B905
    if len(index) != len(keys):
        # ... else (Via, Route, ...): setdefault hands back the key's list, fresh and empty
        # the first time, and list.append adds each position to it.
        index = {}
        any(map(list.append, map(index.setdefault, keys, map(list, _EMPTY)), range(len(keys))))
    return list(zip(names, map(str.strip, values))), index  # noqa: B905


def _headers_slow(
    lines: list[str],
) -> tuple[list[tuple[str, str]], dict[str, list[int]], list[str]]:
    """Every header rule, one line at a time; unreadable lines are skipped and reported."""
    headers: list[tuple[str, str]] = []
    index: dict[str, list[int]] = {}
    problems: list[str] = []
    position = 0
    for line in lines:
        if line[:1] in (" ", "\t"):
            # §7.3.1 folding: a line starting with SP/HT continues the previous value; the
            # line break and leading whitespace count as a single SP.
            if not headers:
                problems.append(
                    f"continuation line before any header: {_excerpt(line.rstrip(_CR))!r}"
                )
                continue
            name, value = headers[-1]
            more = line.strip()
            if more:
                headers[-1] = (name, f"{value} {more}" if value else more)
            continue
        colon = line.find(":")
        if colon <= 0:
            what = "header line without a colon" if colon < 0 else "header line without a name"
            problems.append(f"{what}: {_excerpt(line.rstrip(_CR))!r} (skipped)")
            continue
        # HCOLON = *( SP / HTAB ) ":" SWS (§25.1): whitespace on both sides is allowed.
        raw_name = line[:colon].rstrip(" \t")
        if not raw_name:
            problems.append(f"header line without a name: {_excerpt(line)!r} (skipped)")
            continue
        lower = raw_name.lower()
        entry = NAME_TABLE.get(lower)
        name, key = (raw_name, lower) if entry is None else entry
        headers.append((name, line[colon + 1 :].strip()))
        slots = index.get(key)
        if slots is None:
            index[key] = [position]
        else:
            slots.append(position)
        position += 1
    return headers, index, problems
