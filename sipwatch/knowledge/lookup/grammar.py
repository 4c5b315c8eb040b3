"""Small grammar helpers so generated sentences read like a person wrote them.

Generated text (``sipwatch compare`` without a curated pair, fact lines of ``explain``) is built
from entry fields, and template glitches are what make such text look machine-made: "an 1xx",
"a UAS, a proxy, and, a registrar", a sentence without its full stop. Each helper here does one
of those things right, in English and Japanese, and is tested on its own.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

#: Letters whose spoken name starts with a vowel sound ("an SBC", "an RFC", "an HTTP proxy").
_VOWEL_SOUND_LETTERS = frozenset("AEFHILMNORSX")
#: Word beginnings spelt with a vowel but spoken with a consonant ("a user", "a one-time").
_CONSONANT_SOUND_PREFIXES = ("uni", "use", "usu", "uri", "one", "eu", "ubi")
#: Word beginnings spelt with a consonant but spoken with a vowel ("an hour").
_VOWEL_SOUND_PREFIXES = ("hour", "honest", "honor", "honour", "heir")


def _is_initialism(word: str) -> bool:
    """ "UAS", "B2BUA", "SBC": letters (and digits) read one by one."""
    letters = [c for c in word if c.isalpha()]
    return len(word) <= 6 and bool(letters) and all(c.isupper() for c in letters)


def indefinite_article(phrase: str) -> str:
    """``"a"`` or ``"an"`` for ``phrase``, by how its first word is spoken.

    Numbers are read aloud: "a 1xx" (one), "a 4xx", "an 8xx" (eight), "an 11-digit" (eleven),
    "an 18" (eighteen). Initialisms are spelt: "a UAS" (you), "an SBC" (ess), "a B2BUA".
    """
    word = phrase.strip().split(" ", 1)[0] if phrase.strip() else ""
    if not word:
        return "a"
    first = word[0]
    if first.isdigit():
        digits = ""
        for char in word:
            if not char.isdigit():
                break
            digits += char
        if first == "8":
            return "an"
        # "11" and "18" are read "eleven", "eighteen" when they stand alone or lead a group of
        # two or five digits (11, 18, 11000, 18000); "1xx" and "110" are read "one ...".
        if digits[:2] in ("11", "18") and len(digits) in (2, 5):
            return "an"
        return "a"
    if _is_initialism(word):
        return "an" if first.upper() in _VOWEL_SOUND_LETTERS else "a"
    lower = word.lower()
    if lower.startswith(_VOWEL_SOUND_PREFIXES):
        return "an"
    if lower.startswith(_CONSONANT_SOUND_PREFIXES):
        return "a"
    return "an" if lower[0] in "aeiou" else "a"


def with_article(phrase: str) -> str:
    """``phrase`` preceded by its indefinite article: ``"a 4xx Request Failure"``."""
    return f"{indefinite_article(phrase)} {phrase}"


def join_words(items: Sequence[str], conjunction: str, lang: str) -> str:
    """Join a list the way each language lists things.

    English: "A", "A and B", "A, B and C" (``conjunction`` is "and" or "or").
    Japanese: "A、B、C" for "and"; "A、BまたはC" for "or".
    """
    items = [item for item in items if item]
    if not items:
        return ""
    if len(items) == 1:
        return items[0]
    if lang == "ja":
        if conjunction == "or":
            return ja_spacing("、".join(items[:-1]) + "または" + items[-1])
        return "、".join(items)
    return ", ".join(items[:-1]) + f" {conjunction} " + items[-1]


#: Hiragana, katakana (with the long-vowel mark) and kanji.
_JA = "\u3040-\u30ff\u4e00-\u9fff"
_JA_AFTER_ASCII = re.compile(rf"([A-Za-z0-9)\]%+])([{_JA}])")
_ASCII_AFTER_JA = re.compile(rf"([{_JA}])([A-Za-z0-9(\[§])")
_PAREN_BEFORE_JA = re.compile(rf"([A-Za-z0-9])\((?=[{_JA}])")


def ja_spacing(text: str) -> str:
    """Put one space between Japanese and ASCII runs, as knowledge/ Japanese text does.

    "UASまたはプロキシ" -> "UAS またはプロキシ"; "202は「2xx 成功」" -> "202 は「2xx 成功」";
    "再送します(Retry-Afterに従います)" -> "再送します (Retry-After に従います)". Japanese
    punctuation (、。「」) takes no space. Idempotent, so text that is already spaced is kept.
    """
    text = _JA_AFTER_ASCII.sub(r"\1 \2", text)
    text = _ASCII_AFTER_JA.sub(r"\1 \2", text)
    return _PAREN_BEFORE_JA.sub(r"\1 (", text)


_EN_END = (".", "!", "?")
_JA_END = ("。", "！", "？", ".", "!", "?")


def sentence(text: str, lang: str) -> str:
    """``text`` as a complete sentence: stripped and ending with a full stop.

    Summaries are written without a trailing period (knowledge/SCHEMA.md); places that show
    them inside running text need one, and must not end up with two.
    """
    text = text.strip()
    if not text:
        return text
    if lang == "ja":
        return text if text.endswith(_JA_END) else text + "。"
    return text if text.endswith(_EN_END) else text + "."


def cite(rfc: str, section: str) -> str:
    """ "RFC 3261 §21.4.15", or just the RFC when no section is recorded."""
    return f"{rfc} §{section}" if section else rfc
