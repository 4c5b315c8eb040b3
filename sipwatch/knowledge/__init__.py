"""The knowledge layer: ``knowledge/`` loaded and validated once, looked up by code, tag or cause.

Other layers use exactly this surface::

    from sipwatch.knowledge import load_knowledge, Knowledge

    kb = load_knowledge()          # cached; load_knowledge(path) reads another directory
    entry = kb.response(420) or kb.class_entry(420)
    entry.text("ja").summary

It imports nothing from sipwatch but ``errors`` (DESIGN §2).
"""

from __future__ import annotations

from sipwatch.knowledge.loader import ENV_VAR, clear_cache, load_knowledge, locate_knowledge
from sipwatch.knowledge.model import (
    CLASS_NAMES,
    LANGS,
    CauseEntry,
    CauseText,
    ClassEntry,
    ClassText,
    ComparisonEntry,
    ComparisonText,
    Knowledge,
    OptionTagEntry,
    OptionTagText,
    ReasonEntry,
    ReasonText,
    RegisteredCode,
    ResponseEntry,
    ResponseText,
    WarningEntry,
    WarningText,
    class_name,
    is_status_code,
)

__all__ = [
    "CLASS_NAMES",
    "ENV_VAR",
    "LANGS",
    "CauseEntry",
    "CauseText",
    "ClassEntry",
    "ClassText",
    "ComparisonEntry",
    "ComparisonText",
    "Knowledge",
    "OptionTagEntry",
    "OptionTagText",
    "ReasonEntry",
    "ReasonText",
    "RegisteredCode",
    "ResponseEntry",
    "ResponseText",
    "WarningEntry",
    "WarningText",
    "class_name",
    "clear_cache",
    "is_status_code",
    "load_knowledge",
    "locate_knowledge",
]
