"""Make wire text inert before it reaches a terminal, a report or a log.

Everything in a SIP message is attacker-controlled: scanners put ANSI and OSC escape sequences,
C0/C1 control characters, bidirectional overrides and rich markup into header values. The
terminal renderer never passes wire text as markup (it builds ``rich.text.Text`` objects), and
every wire string first goes through :func:`inert`, which replaces each control character with a
visible escape (``\\x1b``), so a hostile ``From`` header can neither recolour the screen, set the
window title, nor hide text. JSON output escapes through ``json.dumps(ensure_ascii=True)``;
HTML-like reports (JUnit XML) escape through the XML writer.
"""

from __future__ import annotations

import re

#: C0 controls (tab included: it breaks column layout), DEL, C1 controls, and the Unicode
#: bidirectional formatting characters used to reorder text ("Trojan Source", CVE-2021-42574),
#: plus line/paragraph separators that some terminals honour.
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069\ufeff]")


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    if code <= 0xFF:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}"


def inert(text: str, limit: int | None = None) -> str:
    """Return ``text`` with every control character shown as an escape, optionally cut.

    ``limit`` caps the length of the result (an ellipsis marks the cut), so a 1 MB header line
    cannot flood the screen.
    """
    if limit is not None and len(text) > limit:
        text = text[:limit]
        cut = True
    else:
        cut = False
    safe = _UNSAFE.sub(_escape, text)
    if cut:
        safe += "…"
    return safe


def inert_bytes(data: bytes, limit: int = 200) -> str:
    """Decode wire bytes for display (invalid UTF-8 shown as U+FFFD) and make them inert."""
    return inert(data[: limit * 4].decode("utf-8", "replace"), limit)
