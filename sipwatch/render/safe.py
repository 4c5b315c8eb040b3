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

#: C0 controls (tab included: it breaks column layout), DEL, C1 controls, the line and paragraph
#: separators some terminals honour, and every Unicode *format* character (category Cf, Unicode
#: 14): the bidirectional controls used to reorder text ("Trojan Source", CVE-2021-42574; the
#: Arabic letter mark U+061C among them), zero-width spaces and joiners, the byte-order mark,
#: interlinear annotations and the tag characters (U+E0000 block) that can carry invisible text.
#: A format character is invisible by definition, so on a terminal it can only hide or reorder.
_UNSAFE = re.compile(
    "[\x00-\x1f\x7f-\x9f\xad\u0600-\u0605\u061c\u06dd\u070f\u0890\u0891\u08e2\u180e"
    "\u200b-\u200f\u2028-\u202e\u2060-\u2064\u2066-\u206f\ufeff\ufff9-\ufffb"
    "\U000110bd\U000110cd\U00013430-\U00013438\U0001bca0-\U0001bca3\U0001d173-\U0001d17a"
    "\U000e0001\U000e0020-\U000e007f]"
)


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    if code <= 0xFF:
        return f"\\x{code:02x}"
    if code <= 0xFFFF:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


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
