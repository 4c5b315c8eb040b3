"""Header value grammar: comma lists, parameters, quoted strings.

The parser stores each header value as text and does no per-value work (it is on the hot path
for every message). This module does the splitting and parameter reading *on demand*, when a
property of :class:`~sipwatch.sip.message.SipMessage` asks for it.

Rules implemented, with their source:

* RFC 3261 §7.3.1: a header whose grammar is a comma-separated list may appear as several
  lines or as one line with commas; both mean the same. Commas inside a quoted string
  (with ``\\`` escapes, §25.1 ``quoted-pair``) or inside ``<...>`` are not separators, nor
  are commas inside a ``(comment)``.
* §7.3.1 also says the list rule applies only where the grammar is a list. Authentication
  challenges and credentials (§20.7, §20.27, §20.28, §20.44) are ``scheme param, param``;
  Date (§20.17) is ``Sat, 13 Nov 2010 ...``; splitting those would tear one value apart.
  :data:`NO_SPLIT` names them, and :func:`split_header` honours it.
* §20.10 / §19.1.1: in a name-addr (``"Bob" <sip:b@h;lr>;tag=1``) the URI parameters are inside
  the angle brackets and the *header* parameters follow ``>``; without brackets every ``;``
  parameter belongs to the header (that is why brackets are mandatory when a URI has
  parameters). :func:`header_param` and :func:`parse_params` follow this.
* §7.3.1 / §25.1: parameter names are case-insensitive; values may be quoted strings.
"""

from __future__ import annotations

from typing import Final

from sipwatch.sip.compact import header_key

#: Headers whose grammar is not a comma list (RFC 3261 §20 and the RFCs that define them), so a
#: comma inside them is data. Lower-case long names.
NO_SPLIT: Final[frozenset[str]] = frozenset(
    {
        # Credentials and challenges: scheme SP param *(COMMA param) (RFC 3261 §20.7, §20.27,
        # §20.28, §20.44) and RFC 3261 §20.6 ainfo list, which is one set of parameters.
        "www-authenticate",
        "authorization",
        "proxy-authenticate",
        "proxy-authorization",
        "authentication-info",
        # rfc1123-date contains a comma (§20.17).
        "date",
        # Single values whose free text or comments may contain commas.
        "retry-after",  # §20.33: delta-seconds [comment] *(;param)
        "subject",  # §20.36: TEXT-UTF8
        "server",  # §20.35: products and comments
        "user-agent",  # §20.41
        "organization",  # §20.25
        # Single-valued by grammar; not splitting them keeps a sloppy unquoted display name
        # such as ``Doe, John <sip:j@h>`` in one piece.
        "from",
        "to",
        "call-id",
        "cseq",
        "content-length",
        "content-type",
        "content-disposition",
        "max-forwards",
        "expires",
        "min-expires",
        "timestamp",
        "priority",
        "reply-to",
        "refer-to",  # RFC 3515 §2.1: exactly one URI
        "referred-by",  # RFC 3892
        "replaces",  # RFC 3891
        "event",  # RFC 6665 §8.4
        "subscription-state",  # RFC 6665 §8.4
        "session-expires",  # RFC 4028
        "min-se",
        "rseq",  # RFC 3262
        "rack",
        "identity",  # RFC 8224
        "identity-info",
    }
)


def split_values(raw: str) -> list[str]:
    """Split a comma-list header value into its elements (RFC 3261 §7.3.1).

    Commas inside ``"..."`` (with backslash escapes), ``<...>`` or ``(...)`` do not separate.
    Elements are stripped; empty elements are dropped, so an empty header yields ``[]``.
    """
    if "," not in raw:
        value = raw.strip()
        return [value] if value else []
    if '"' not in raw and "<" not in raw and "(" not in raw:
        return [part for part in (piece.strip() for piece in raw.split(",")) if part]
    values: list[str] = []
    start = 0
    index = 0
    length = len(raw)
    angle = False
    depth = 0
    while index < length:
        char = raw[index]
        if char == '"':
            end = skip_quoted(raw, index)
            index = index + 1 if end < 0 else end
            continue
        if angle:
            if char == ">":
                angle = False
        elif char == "<":
            angle = True
        elif char == "(":
            depth += 1
        elif char == ")" and depth:
            depth -= 1
        elif char == "," and not depth:
            part = raw[start:index].strip()
            if part:
                values.append(part)
            start = index + 1
        index += 1
    part = raw[start:].strip()
    if part:
        values.append(part)
    return values


def split_header(name: str, raw: str) -> list[str]:
    """Values of one header line: comma-split unless ``name`` (any spelling) is in NO_SPLIT."""
    if header_key(name) in NO_SPLIT:
        value = raw.strip()
        return [value] if value else []
    return split_values(raw)


def skip_quoted(text: str, index: int) -> int:
    """Index just past the quoted string opening at ``text[index]``, or -1 if it never closes.

    An unclosed quote is how sloppy senders write a literal ``"`` (sip_compact_form.pcap has
    ``f: \\"arik\\" <sip:...>;tag=...``), so callers then treat the ``"`` as an ordinary
    character instead of letting it swallow the rest of the value.
    """
    close = text.find('"', index + 1)
    if close < 0:
        return -1
    if text.find("\\", index + 1, close) < 0:  # no escapes: the next quote closes it
        return close + 1
    index += 1
    length = len(text)
    while index < length:
        char = text[index]
        if char == "\\":
            index += 2
            continue
        if char == '"':
            return index + 1
        index += 1
    return -1


def unquote(value: str) -> str:
    """Strip a quoted string's quotes and resolve its ``\\x`` escapes (RFC 3261 §25.1)."""
    value = value.strip()
    if len(value) >= 2 and value[0] == '"' and value[-1] == '"':
        inner = value[1:-1]
        if "\\" not in inner:
            return inner
        out: list[str] = []
        index = 0
        while index < len(inner):
            char = inner[index]
            if char == "\\" and index + 1 < len(inner):
                index += 1
                char = inner[index]
            out.append(char)
            index += 1
        return "".join(out)
    return value


def _params_start(value: str, offset: int = 0) -> int:
    """Index of the ``;`` that starts the header parameters, or -1 (RFC 3261 §20.10).

    A quoted display name before ``<`` is skipped first, since it may hold ``;`` or ``<``;
    after that the parameters start at the first ``;`` past the closing ``>`` (or, for an
    addr-spec or a Via, at the first ``;``). Quotes inside parameters cannot matter: the
    first ``;`` comes before any parameter value.
    """
    quote = value.find('"', offset)
    semicolon = value.find(";", offset)
    # A display name can only come before the first ``;``: a later quote belongs to a
    # parameter value (``Q.850;cause=16;text="x;y"``).
    if quote >= 0 and (semicolon < 0 or quote < semicolon):
        lt = value.find("<", offset)
        if lt < 0 or quote < lt:
            end = skip_quoted(value, quote)
            if end > 0:
                offset = end
    lt = value.find("<", offset)
    if lt < 0:
        return value.find(";", offset)
    gt = value.find(">", lt)
    # A ``<`` that never closes: read the rest as an addr-spec, leniently, as tshark does.
    return value.find(";", lt) if gt < 0 else value.find(";", gt)


def _split_params(section: str) -> list[str]:
    """Split ``a=1;b="x;y";c`` on semicolons that are outside quoted strings."""
    if '"' not in section:
        return section.split(";")
    parts: list[str] = []
    start = 0
    index = 0
    length = len(section)
    while index < length:
        char = section[index]
        if char == '"':
            end = skip_quoted(section, index)
            index = index + 1 if end < 0 else end
            continue
        if char == ";":
            parts.append(section[start:index])
            start = index + 1
        index += 1
    parts.append(section[start:])
    return parts


def parse_params(value: str) -> tuple[str, dict[str, str]]:
    """Split a header value into its main part and its header parameters.

    ``'"Bob" <sip:b@h;lr>;tag=1;Foo="a;b";flag'`` gives
    ``('"Bob" <sip:b@h;lr>', {"tag": "1", "foo": "a;b", "flag": ""})``. Parameter names are
    lower-cased (they are case-insensitive, RFC 3261 §7.3.1), quoted values unquoted, a flag
    parameter maps to ``""``, and the first occurrence of a repeated name wins.
    """
    start = _params_start(value)
    if start < 0:
        return value.strip(), {}
    params: dict[str, str] = {}
    for item in _split_params(value[start + 1 :]):
        key, _, param_value = item.partition("=")
        key = key.strip().lower()
        if key and key not in params:
            params[key] = _param_value(param_value)
    return value[:start].strip(), params


def header_param(value: str, name: str) -> str | None:
    """Value of header parameter ``name`` (any case) in one header value, or None.

    The one reader of header parameters (the correlator's tags and branches and the printed
    ones come from here). Only parameters after the name-addr's ``>`` (or after an addr-spec /
    Via sent-by) count, so ``<sip:b@h;tag=x>`` has no ``tag`` parameter (RFC 3261 §20.10); a
    ``<`` that never closes is read leniently from the ``<`` on, as tshark does. ``SEMI`` and
    ``EQUAL`` may carry whitespace (§25.1); the first parameter of that name wins; a quoted
    value is unquoted, any other ends at whitespace (§25.1 ``gen-value = token / host /
    quoted-string``); a flag parameter (``;lr``) returns ``""``.

    Most From, To and Via values are ``...;name=value`` without quotes: that spelling is found
    with C-level string searches; anything else goes through the full grammar.
    """
    lowered = value.lower()
    wanted = name.lower()
    if wanted not in lowered:
        return None
    if '"' not in value:
        lt = value.find("<")
        start = 0
        if lt >= 0:
            gt = value.find(">", lt)
            start = gt + 1 if gt >= 0 else lt + 1
        marker = f";{wanted}="
        at = lowered.find(marker, start)
        # No earlier spelling (``; tag``, ``;tag=`` with spaces, a flag) could name it first.
        if at >= 0 and lowered.find(wanted, start, at) < 0:
            rest = value[at + len(marker) :]
            end = rest.find(";")
            if end >= 0:
                rest = rest[:end]
            if " " in rest or "\t" in rest:
                return _token(rest)
            return rest
    return _header_param_full(value, wanted)


def _header_param_full(value: str, wanted: str) -> str | None:
    start = _params_start(value)
    if start < 0:
        return None
    for item in _split_params(value[start + 1 :]):
        key, _, param_value = item.partition("=")
        if key.strip().lower() == wanted:
            return _param_value(param_value)
    return None


def _param_value(text: str) -> str:
    """A parameter value: unquoted if quoted, else a token ended by whitespace (§25.1)."""
    text = text.strip(" \t")
    if text.startswith('"'):
        return unquote(text)
    return _token(text)


def _token(text: str) -> str:
    """``text`` up to its first SP or HTAB after leading ones (LWS ends a token, §25.1)."""
    text = text.lstrip(" \t")
    for stop in (" ", "\t"):
        end = text.find(stop)
        if end >= 0:
            text = text[:end]
    return text
