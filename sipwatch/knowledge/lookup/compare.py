"""The "key differences" and "which applies when" of ``sipwatch compare``.

A curated pair from ``knowledge/comparisons.toml`` wins: a person wrote it for the pair. Without
one, the differences are derived from the entries' fields (class, finality, who sends it, the
headers to read, what the client does next, status, defining RFC), one sentence per field that
differs, in the requested language. Sentences are assembled from whole clauses with the grammar
helpers, never by splicing summaries into templates, so nothing like "when when" can appear.
"""

from __future__ import annotations

from dataclasses import dataclass

from sipwatch.knowledge.lookup.grammar import cite, ja_spacing, join_words, sentence, with_article
from sipwatch.knowledge.lookup.vocab import RETRY_CLAUSE, retry_key, senders
from sipwatch.knowledge.model import Knowledge, ResponseEntry


@dataclass(frozen=True, slots=True)
class Contrast:
    """What the compare page says about the pair, in one language."""

    curated: bool
    differences: tuple[str, ...]
    which: str


def reference(entry: ResponseEntry) -> str:
    """ "RFC 3261 §21.4.15": where the code is defined."""
    return cite(entry.rfc, entry.section)


def _class_sentence(kb: Knowledge, a: ResponseEntry, b: ResponseEntry, lang: str) -> str:
    ka, kb_ = kb.class_label(a.code, lang), kb.class_label(b.code, lang)
    if lang == "ja":
        if ka == kb_:
            return f"{a.code}と{b.code}はどちらも「{ka}」の応答です。"
        return f"{a.code}は「{ka}」、{b.code}は「{kb_}」の応答です。"
    if ka == kb_:
        return f"Both {a.code} and {b.code} are {ka} responses."
    return f"{a.code} is {with_article(ka)} response and {b.code} is {with_article(kb_)} response."


def _finality_sentence(a: ResponseEntry, b: ResponseEntry, lang: str) -> str | None:
    """RFC 3261 §7.2: 1xx is provisional, everything else final; §21.6: 6xx is global."""
    if a.provisional != b.provisional:
        prov, final = (a, b) if a.provisional else (b, a)
        if lang == "ja":
            return (
                f"{prov.code}は暫定応答で、この後に最終応答が届きます。"
                f"{final.code}は最終応答で、トランザクションを終わらせます。"
            )
        return (
            f"{prov.code} is provisional: a final response is still to come. "
            f"{final.code} is final: it ends the transaction."
        )
    global_a, global_b = a.code >= 600, b.code >= 600
    if global_a != global_b and min(a.code, b.code) >= 300:
        glob, local = (a, b) if global_a else (b, a)
        if lang == "ja":
            return (
                f"{glob.code}はグローバルな応答で、フォーキング中のプロキシは他の宛先の試行をやめます。"
                f"{local.code}は応答した要素についてだけの応答で、他の宛先なら成功する可能性があります。"
            )
        return (
            f"{glob.code} is global: a forking proxy stops trying the user's other locations. "
            f"{local.code} speaks only for the element that sent it; another location may "
            "still succeed."
        )
    return None


def _sender_sentence(a: ResponseEntry, b: ResponseEntry, lang: str) -> str | None:
    if set(a.sent_by) == set(b.sent_by):
        return None
    sa, sb = senders(a.sent_by, lang), senders(b.sent_by, lang)
    if lang == "ja":
        return f"{a.code}を送るのは{sa}、{b.code}を送るのは{sb}です。"
    return f"{a.code} is sent by {sa}; {b.code} is sent by {sb}."


def _header_sentence(a: ResponseEntry, b: ResponseEntry, lang: str) -> str | None:
    if set(a.headers) == set(b.headers):
        return None
    ha, hb = join_words(a.headers, "and", lang), join_words(b.headers, "and", lang)
    if lang == "ja":
        if not ha or not hb:
            has, hs, lacks = (a, ha, b) if ha else (b, hb, a)
            return (
                f"{has.code}では{hs}を確認します。"
                f"{lacks.code}には特に確認すべきヘッダはありません。"
            )
        return f"{a.code}では{ha}を、{b.code}では{hb}を確認します。"
    if not ha or not hb:
        has, hs, lacks = (a, ha, b) if ha else (b, hb, a)
        return f"To act on {has.code}, read {hs}; {lacks.code} has no particular header to read."
    return f"To act on {a.code}, read {ha}; for {b.code}, read {hb}."


def _retry_sentence(a: ResponseEntry, b: ResponseEntry, lang: str) -> str | None:
    ka, kb_ = retry_key(a.retry, a.code), retry_key(b.retry, b.code)
    if ka == kb_:
        return None
    ca, cb = RETRY_CLAUSE[lang][ka], RETRY_CLAUSE[lang][kb_]
    if lang == "ja":
        return f"{a.code}の後、{ca}。{b.code}の後、{cb}。"
    return f"After {a.code}, {ca}; after {b.code}, {cb}."


def _status_sentence(a: ResponseEntry, b: ResponseEntry, lang: str) -> str | None:
    if a.status == b.status:
        return None
    notes = []
    for entry, other in ((a, b), (b, a)):
        note = entry.text(lang).status_note
        if entry.status == "deprecated" and note:
            lead = (
                f"{entry.code}は非推奨のコードで、{other.code}はそうではありません。"
                if lang == "ja"
                else f"{entry.code} is deprecated and {other.code} is not."
            )
            notes.append(lead + ("" if lang == "ja" else " ") + sentence(note, lang))
        elif entry.status == "unregistered" and note:
            notes.append(sentence(note, lang))
    return ("" if lang == "ja" else " ").join(notes) or None


def _rfc_sentence(a: ResponseEntry, b: ResponseEntry, lang: str) -> str | None:
    if a.rfc == b.rfc:
        return None
    if lang == "ja":
        return f"{a.code}は{reference(a)}、{b.code}は{reference(b)}で定義されています。"
    return f"{a.code} is defined in {reference(a)} and {b.code} in {reference(b)}."


def derived_differences(
    kb: Knowledge, a: ResponseEntry, b: ResponseEntry, lang: str
) -> tuple[str, ...]:
    """Key differences built from the entries' fields, most telling first."""
    found = [
        _class_sentence(kb, a, b, lang),
        _finality_sentence(a, b, lang),
        _sender_sentence(a, b, lang),
        _header_sentence(a, b, lang),
        _retry_sentence(a, b, lang),
        _status_sentence(a, b, lang),
        _rfc_sentence(a, b, lang),
    ]
    items = tuple(item for item in found if item)
    return tuple(ja_spacing(item) for item in items) if lang == "ja" else items


def derived_which(a: ResponseEntry, b: ResponseEntry, lang: str) -> str:
    """One sentence per code, from its summary: what situation each one names."""
    parts = []
    for entry in (a, b):
        text = entry.text(lang)
        if lang == "ja":
            parts.append(f"{entry.code} ({text.reason}): {sentence(text.summary, lang)}")
        else:
            parts.append(f"{entry.code} {entry.reason} — {sentence(text.summary, lang)}")
    return ja_spacing("".join(parts)) if lang == "ja" else " ".join(parts)


def contrast(kb: Knowledge, a: ResponseEntry, b: ResponseEntry, lang: str) -> Contrast:
    """The curated contrast for the pair if one exists, else one derived from the fields."""
    pair = kb.comparison(a.code, b.code)
    if pair is not None:
        text = pair.text(lang)
        return Contrast(curated=True, differences=text.differences, which=text.which)
    return Contrast(
        curated=False,
        differences=derived_differences(kb, a, b, lang),
        which=derived_which(a, b, lang),
    )
