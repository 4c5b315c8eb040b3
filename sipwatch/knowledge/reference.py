"""Reference entries: request methods, header fields and Warning code bands.

What ``sipwatch explain REFER``, ``explain Require`` (or its compact form ``k``) and
``explain warning:392`` show. Each comes from its own file (``methods.toml``, ``headers.toml``,
``warning_bands.toml``; knowledge/SCHEMA.md), read strictly like every other entry: the
builders here check every key, so a typo names its file, entry and key. A method's name is an
RFC 3261 §25.1 token, a compact form one letter (§7.3.3), a band a range inside 300-399
(§20.43).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

from sipwatch.knowledge.fields import Table
from sipwatch.knowledge.model import _Localised

#: RFC 3261 §25.1 token, as a method is written on the wire (upper case by convention).
_METHOD: Final = re.compile(r"[A-Z][A-Z0-9\-.!%*_+`'~]*")
#: RFC 3261 §25.1 token; header names are case-insensitive (§7.3.1) and kept as written.
_HEADER: Final = re.compile(r"[A-Za-z][A-Za-z0-9\-.!%*_+`'~]*")
_TEXT_KEYS: Final = frozenset({"summary", "description"})


@dataclass(frozen=True, slots=True)
class ReferenceText:
    summary: str
    description: str


@dataclass(frozen=True, slots=True)
class MethodEntry(_Localised[ReferenceText]):
    """One request method from ``knowledge/methods.toml``."""

    method: str
    rfc: str
    section: str
    headers: tuple[str, ...]
    en: ReferenceText
    ja: ReferenceText


@dataclass(frozen=True, slots=True)
class HeaderEntry(_Localised[ReferenceText]):
    """One header field from ``knowledge/headers.toml``; ``compact`` is "" when it has none."""

    name: str
    compact: str
    rfc: str
    section: str
    en: ReferenceText
    ja: ReferenceText


@dataclass(frozen=True, slots=True)
class BandText:
    name: str
    summary: str
    description: str


@dataclass(frozen=True, slots=True)
class WarningBand(_Localised[BandText]):
    """A range of Warning codes (RFC 3261 §20.43) from ``knowledge/warning_bands.toml``."""

    low: int
    high: int
    rfc: str
    section: str
    assigned: bool
    en: BandText
    ja: BandText

    def __contains__(self, code: object) -> bool:
        return isinstance(code, int) and self.low <= code <= self.high


def _texts(t: Table, kind: str) -> tuple[ReferenceText, ReferenceText]:
    out = []
    for lang in ("en", "ja"):
        text = t.table(lang, _TEXT_KEYS, f"[{kind}.{lang}]")
        out.append(ReferenceText(text.string("summary"), text.string("description")))
    return out[0], out[1]


METHOD_KEYS: Final = frozenset({"method", "rfc", "section", "headers", "en", "ja"})


def build_method(t: Table) -> tuple[str, MethodEntry]:
    method = t.string("method")
    if not _METHOD.fullmatch(method):
        raise t.error(f"'method' must be an upper-case RFC 3261 token, got {method!r}")
    en, ja = _texts(t, "method")
    return method, MethodEntry(
        method=method,
        rfc=t.string("rfc"),
        section=t.string("section"),
        headers=t.strings("headers", allow_empty=True),
        en=en,
        ja=ja,
    )


HEADER_KEYS: Final = frozenset({"name", "compact", "rfc", "section", "en", "ja"})


def build_header(t: Table) -> tuple[str, HeaderEntry]:
    name = t.string("name")
    if not _HEADER.fullmatch(name):
        raise t.error(f"'name' must be an RFC 3261 token, got {name!r}")
    compact = t.string("compact", allow_empty=True)
    if compact and not re.fullmatch(r"[a-z]", compact):
        raise t.error(f"'compact' must be one lower-case letter or empty, got {compact!r}")
    en, ja = _texts(t, "header")
    return name.lower(), HeaderEntry(
        name=name, compact=compact, rfc=t.string("rfc"), section=t.string("section"), en=en, ja=ja
    )


BAND_KEYS: Final = frozenset({"low", "high", "rfc", "section", "assigned", "en", "ja"})


def build_band(t: Table) -> tuple[int, WarningBand]:
    low, high = t.integer("low", 300, 399), t.integer("high", 300, 399)
    if high < low:
        raise t.error(f"'high' ({high}) is below 'low' ({low})")
    assigned = t.boolean("assigned") if t.has("assigned") else True
    texts = []
    for lang in ("en", "ja"):
        text = t.table(lang, {"name", *_TEXT_KEYS}, f"[band.{lang}]")
        texts.append(
            BandText(text.string("name"), text.string("summary"), text.string("description"))
        )
    return low, WarningBand(
        low=low,
        high=high,
        rfc=t.string("rfc"),
        section=t.string("section"),
        assigned=assigned,
        en=texts[0],
        ja=texts[1],
    )
