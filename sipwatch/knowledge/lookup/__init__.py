"""Turning what a user types into knowledge pages: term parsing, comparisons, page assembly.

Part of the knowledge layer (imports only ``sipwatch.errors`` and ``sipwatch.knowledge``): it
decides what ``sipwatch explain`` and ``sipwatch compare`` say, while ``sipwatch.render.explain``
decides how that looks.
"""

from __future__ import annotations

from sipwatch.knowledge.lookup.compare import Contrast, contrast
from sipwatch.knowledge.lookup.pages import (
    Block,
    Bullets,
    Facts,
    Page,
    Paragraph,
    Section,
    Steps,
    Subheading,
    compare_page,
    explain_page,
)
from sipwatch.knowledge.lookup.terms import Term, TermKind, resolve_code, resolve_term, suggest

__all__ = [
    "Block",
    "Bullets",
    "Contrast",
    "Facts",
    "Page",
    "Paragraph",
    "Section",
    "Steps",
    "Subheading",
    "Term",
    "TermKind",
    "compare_page",
    "contrast",
    "explain_page",
    "resolve_code",
    "resolve_term",
    "suggest",
]
