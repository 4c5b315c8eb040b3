"""Parse what a user types after ``sipwatch explain`` into one knowledge entry.

Accepted spellings (case-insensitive; ``:`` or ``=`` after a prefix)::

    420                      a response code (any of 100-699; unregistered codes get the
                             generic entry of their class, RFC 3261 §8.1.3.2)
    timer                    an option tag (also tag:timer, option:timer)
    noresource               a Subscription-State reason, when no option tag has that name
                             (also subscription:noresource, sub:noresource)
    q850:17                  a Q.850 cause (also q.850:17, cause:17)
    warning:399              a Warning code (also warn:399); a code with no entry of its own
                             is explained by its band (warning:392: RFC 3261 §20.43, 390-399)
    4xx                      a response class (also class:4)
    REFER                    a request method (also method:refer)
    Require                  a header field, or its compact form (k, r; also header:k)
    Q.850;cause=17           a Reason header value pasted from a capture (RFC 3326): the
    SIP;cause=486            protocol picks Q.850 cause or SIP response code
    reason:...               the same, or a Subscription-State reason: "reason" is what both
                             a Reason header and a Subscription-State parameter are called,
                             so either is accepted

Anything else raises :class:`~sipwatch.errors.UnknownTermError` carrying the closest known
spellings (difflib), which the CLI prints as "did you mean".
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from typing import Final, Literal

from sipwatch.errors import UnknownTermError
from sipwatch.knowledge.model import (
    CauseEntry,
    ClassEntry,
    Knowledge,
    OptionTagEntry,
    ReasonEntry,
    ResponseEntry,
    WarningEntry,
    is_status_code,
)
from sipwatch.knowledge.reference import HeaderEntry, MethodEntry, WarningBand

TermKind = Literal[
    "response",
    "option_tag",
    "q850",
    "warning",
    "subscription_reason",
    "class",
    "method",
    "header",
    "warning_band",
]


@dataclass(frozen=True, slots=True)
class BandCode:
    """A Warning code with no entry of its own, explained by its band (RFC 3261 §20.43)."""

    code: int
    band: WarningBand


Entry = (
    ResponseEntry
    | OptionTagEntry
    | CauseEntry
    | WarningEntry
    | ReasonEntry
    | ClassEntry
    | MethodEntry
    | HeaderEntry
    | BandCode
)
#: ``4xx``, ``4XX``: a response class (RFC 3261 §7.2).
_CLASS = re.compile(r"([1-6])xx", re.I)

_PREFIXES: Final[dict[str, TermKind | Literal["reason"]]] = {
    "code": "response",
    "status": "response",
    "response": "response",
    "sip": "response",
    "tag": "option_tag",
    "option": "option_tag",
    "option-tag": "option_tag",
    "q850": "q850",
    "q.850": "q850",
    "cause": "q850",
    "warning": "warning",
    "warn": "warning",
    "subscription": "subscription_reason",
    "sub": "subscription_reason",
    "subscription-state": "subscription_reason",
    "reason": "reason",
    "class": "class",
    "method": "method",
    "header": "header",
    "hdr": "header",
}

#: RFC 3326 Reason header value: protocol ";" cause "=" number (other params ignored).
_REASON_HEADER = re.compile(
    r"(?P<proto>sip|q\.850)\s*;(?:.*?;)?\s*cause\s*=\s*(?P<cause>\d+)\s*(?:;.*)?", re.I
)
_CUTOFF: Final = 0.6
_PREFIXED = re.compile(r"(?P<prefix>[a-z][a-z0-9.-]*)\s*[:=]\s*(?P<rest>.+)", re.I)


@dataclass(frozen=True, slots=True)
class Term:
    """A resolved term: its kind, its canonical spelling (as :func:`candidates` lists it) and
    its entry."""

    kind: TermKind
    key: str
    entry: Entry


def _unknown(kb: Knowledge, text: str, kind: TermKind | None = None) -> UnknownTermError:
    return UnknownTermError(f"unknown term '{text}'", suggest(kb, text, kind))


def candidates(kb: Knowledge, kind: TermKind | None = None) -> list[str]:
    """Every canonical spelling the knowledge base can explain (optionally of one kind)."""
    spellings: dict[TermKind, list[str]] = {
        "response": [str(code) for code in sorted(kb.responses)],
        "option_tag": sorted(kb.option_tags),
        "q850": [f"q850:{cause}" for cause in sorted(kb.causes)],
        "warning": [f"warning:{code}" for code in sorted(kb.warnings)],
        "subscription_reason": [f"subscription:{r}" for r in sorted(kb.subscription_reasons)],
        "class": [f"{digit}xx" for digit in sorted(kb.classes)],
        "method": sorted(kb.methods),
        "header": sorted(h.name for h in kb.headers.values()),
        "warning_band": [],
    }
    if kind is not None:
        return spellings[kind]
    return [spelling for group in spellings.values() for spelling in group]


def _closest(needle: str, pool: list[str], limit: int) -> list[str]:
    """Like difflib.get_close_matches (ratio >= 0.6), but ties come out in reading order."""
    matcher = difflib.SequenceMatcher(b=needle)
    scored = []
    for candidate in pool:
        matcher.set_seq1(candidate)
        ratio = matcher.ratio()
        if ratio >= _CUTOFF:
            scored.append((-ratio, candidate))
    return [candidate for _, candidate in sorted(scored)[:limit]]


def suggest(kb: Knowledge, text: str, kind: TermKind | None = None, limit: int = 3) -> list[str]:
    """The closest known spellings to ``text`` (difflib ratio), best first."""
    needle = text.strip().lower()
    pool = candidates(kb, kind)
    # Methods and headers are listed as written (REFER, Refer-Sub), compared folded.
    folded = {spelling.lower(): spelling for spelling in pool}
    found = [folded[m] for m in _closest(needle, list(folded), limit)]
    if not found and kind is None:
        # "noresorce" should find "subscription:noresource": compare with the bare names of
        # prefixed spellings too, and hand back the full spelling.
        bare = {s.split(":", 1)[1]: s for s in pool if ":" in s}
        found = [bare[m] for m in _closest(needle, list(bare), limit)]
    return found


def _number(text: str) -> int | None:
    return int(text) if text.isdigit() and len(text) <= 6 else None


def resolve_code(kb: Knowledge, text: str) -> ResponseEntry:
    """A response code as typed for ``compare``: any code 100-699, else UnknownTermError."""
    raw = text.strip()
    match = _PREFIXED.fullmatch(raw)
    if match and _PREFIXES.get(match["prefix"].lower()) == "response":
        raw = match["rest"].strip()
    code = _number(raw)
    entry = kb.response_or_class(code) if code is not None else None
    if entry is None:
        raise UnknownTermError(
            f"unknown response code '{text.strip()}'", suggest(kb, text, "response")
        )
    return entry


def _by_kind(kb: Knowledge, kind: TermKind, value: str, text: str) -> Term:
    value = value.strip()
    if kind == "response":
        entry = resolve_code(kb, value)
        return Term("response", str(entry.code), entry)
    found: Term | None = None
    if kind == "option_tag":
        tag = kb.option_tag(value)
        found = Term("option_tag", tag.tag, tag) if tag is not None else None
    elif kind == "subscription_reason":
        reason = kb.subscription_reason(value)
        if reason is not None:
            found = Term("subscription_reason", f"subscription:{reason.reason}", reason)
    elif kind == "class":
        digit = (
            value[:1] if _CLASS.fullmatch(value) or value in ("1", "2", "3", "4", "5", "6") else ""
        )
        if digit and int(digit) in kb.classes:
            found = Term("class", f"{digit}xx", kb.classes[int(digit)])
    elif kind == "method":
        method = kb.method(value)
        found = Term("method", method.method, method) if method is not None else None
    elif kind == "header":
        header = kb.header(value)
        found = Term("header", header.name, header) if header is not None else None
    elif (number := _number(value)) is not None:
        found = _numbered(kb, kind, number)
    if found is None:
        raise _unknown(kb, text, kind)
    return found


def _numbered(kb: Knowledge, kind: TermKind, number: int) -> Term | None:
    """A Q.850 cause or a Warning code; a Warning code without an entry gets its band."""
    if kind == "q850":
        cause = kb.q850(number)
        return Term("q850", f"q850:{number}", cause) if cause is not None else None
    warning = kb.warning(number)
    if warning is not None:
        return Term("warning", f"warning:{number}", warning)
    band = kb.warning_band(number)
    if band is not None:
        return Term("warning_band", f"warning:{number}", BandCode(number, band))
    return None


def _reason_header(kb: Knowledge, value: str, text: str) -> Term | None:
    match = _REASON_HEADER.fullmatch(value.strip())
    if match is None:
        return None
    kind: TermKind = "q850" if match["proto"].lower() == "q.850" else "response"
    return _by_kind(kb, kind, match["cause"], text)


def resolve_term(kb: Knowledge, text: str) -> Term:
    """Resolve ``text`` to a :class:`Term` or raise UnknownTermError with suggestions."""
    raw = text.strip()
    if not raw:
        raise UnknownTermError("empty term", [])
    code = _number(raw)
    if code is not None:
        if not is_status_code(code):
            raise _unknown(kb, raw, "response")
        return _by_kind(kb, "response", raw, raw)
    if _CLASS.fullmatch(raw):
        return _by_kind(kb, "class", raw, raw)
    header = _reason_header(kb, raw, raw)
    if header is not None:
        return header
    match = _PREFIXED.fullmatch(raw)
    if match is not None:
        prefix = _PREFIXES.get(match["prefix"].lower())
        if prefix == "reason":
            rest = match["rest"]
            return _reason_header(kb, rest, raw) or _by_kind(kb, "subscription_reason", rest, raw)
        if prefix is not None:
            return _by_kind(kb, prefix, match["rest"], raw)
    tag = kb.option_tag(raw)
    if tag is not None:
        return Term("option_tag", tag.tag, tag)
    reason = kb.subscription_reason(raw)
    if reason is not None:
        return Term("subscription_reason", f"subscription:{reason.reason}", reason)
    method = kb.method(raw)
    if method is not None:
        return Term("method", method.method, method)
    field = kb.header(raw)
    if field is not None:
        return Term("header", field.name, field)
    raise _unknown(kb, raw)
