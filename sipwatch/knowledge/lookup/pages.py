"""The explain and compare pages as a small, format-neutral document.

A page is a title, a subtitle, a lead (the one-line summary, notes) and headed sections of
blocks: paragraphs, bullets, numbered steps, label/value facts and sub-headings. Deciding *what*
a page says (which sections, in which language, with which facts) happens once here; the
renderers in ``sipwatch.render.explain`` only decide how it looks as terminal text or Markdown,
so the two formats can never disagree about content.
"""

from __future__ import annotations

from dataclasses import dataclass

from sipwatch.knowledge.lookup.compare import contrast, reference
from sipwatch.knowledge.lookup.grammar import cite, ja_spacing, sentence
from sipwatch.knowledge.lookup.terms import BandCode, Term
from sipwatch.knowledge.lookup.vocab import NEXT_STEP, STATUS_WORDS, label, retry_key, senders
from sipwatch.knowledge.model import (
    CauseEntry,
    ClassEntry,
    Knowledge,
    OptionTagEntry,
    ReasonEntry,
    ResponseEntry,
    WarningEntry,
)
from sipwatch.knowledge.reference import HeaderEntry, MethodEntry


@dataclass(frozen=True, slots=True)
class Paragraph:
    text: str


@dataclass(frozen=True, slots=True)
class Bullets:
    items: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Steps:
    """An ordered list: fix steps, numbered differences."""

    items: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Facts:
    rows: tuple[tuple[str, str], ...]


@dataclass(frozen=True, slots=True)
class Subheading:
    """Names the code the following blocks are about (compare pages)."""

    text: str


Block = Paragraph | Bullets | Steps | Facts | Subheading


@dataclass(frozen=True, slots=True)
class Section:
    heading: str
    blocks: tuple[Block, ...]


@dataclass(frozen=True, slots=True)
class Page:
    title: str
    subtitle: str
    lead: tuple[Block, ...]
    sections: tuple[Section, ...]


def _section(heading: str, *blocks: Block | None) -> Section | None:
    kept = tuple(block for block in blocks if block is not None)
    return Section(heading, kept) if kept else None


def _page(title: str, subtitle: str, lead: list[Block], *sections: Section | None) -> Page:
    return Page(title, subtitle, tuple(lead), tuple(s for s in sections if s is not None))


def _listing(items: tuple[str, ...], lang: str) -> str:
    """A plain enumeration for fact lines: "Require, Supported" / "Require、Supported"."""
    return ("、" if lang == "ja" else ", ").join(items)


def _bullets(items: tuple[str, ...], lang: str) -> Bullets:
    """Bulleted sentences (the loader guarantees at least one item)."""
    return Bullets(tuple(sentence(i, lang) for i in items))


def _steps(items: tuple[str, ...], lang: str) -> Steps:
    """Numbered sentences (the loader guarantees at least one item)."""
    return Steps(tuple(sentence(i, lang) for i in items))


# -- responses ----------------------------------------------------------------------------------


def response_title(entry: ResponseEntry, lang: str) -> str:
    """ "420 Bad Extension"; in Japanese the wire phrase stays, with its rendering beside it."""
    title = f"{entry.code} {entry.reason}"
    if lang == "ja":
        title += f" ({entry.ja.reason})"
    return title


def response_subtitle(kb: Knowledge, entry: ResponseEntry, lang: str) -> str:
    """ "4xx Request Failure · RFC 3261 §21.4.15", plus the status when it is not current."""
    parts = [kb.class_label(entry.code, lang), reference(entry)]
    if entry.status != "current":
        parts.append(STATUS_WORDS[lang][entry.status])
    return " · ".join(parts)


def _code_name(kb: Knowledge, code: int) -> str:
    reason = kb.reason_phrase(code)
    return f"{code} {reason}" if reason else str(code)


def _related(kb: Knowledge, codes: tuple[int, ...], lang: str) -> str:
    return _listing(tuple(_code_name(kb, code) for code in codes), lang)


def _note(entry: ResponseEntry, lang: str) -> Paragraph | None:
    note = entry.text(lang).status_note
    return Paragraph(f"{label(lang, 'note')}: {sentence(note, lang)}") if note else None


def _response_facts(kb: Knowledge, entry: ResponseEntry, lang: str) -> Facts:
    rows = [(label(lang, "sent_by"), senders(entry.sent_by, lang))]
    if entry.headers:
        rows.append((label(lang, "headers"), _listing(entry.headers, lang)))
    if entry.option_tags:
        rows.append((label(lang, "option_tags"), _listing(entry.option_tags, lang)))
    rows.append((label(lang, "next_step"), NEXT_STEP[lang][retry_key(entry.retry, entry.code)]))
    if entry.related:
        rows.append((label(lang, "related"), _related(kb, entry.related, lang)))
    return Facts(tuple(rows))


def _response_page(kb: Knowledge, entry: ResponseEntry, lang: str) -> Page:
    text = entry.text(lang)
    lead: list[Block] = [Paragraph(sentence(text.summary, lang))]
    note = _note(entry, lang)
    if note is not None:
        lead.append(note)
    return _page(
        response_title(entry, lang),
        response_subtitle(kb, entry, lang),
        lead,
        _section(label(lang, "what"), Paragraph(text.description)),
        _section(label(lang, "when"), _bullets(text.when, lang)),
        _section(label(lang, "fix"), _steps(text.fix, lang)),
        _section(label(lang, "facts"), _response_facts(kb, entry, lang)),
    )


# -- the other kinds ----------------------------------------------------------------------------


def _option_tag_page(kb: Knowledge, entry: OptionTagEntry, lang: str) -> Page:
    text = entry.text(lang)
    subtitle = [label(lang, "option_tag"), entry.rfc]
    if not kb.is_registered_option_tag(entry.tag):
        subtitle.append(label(lang, "not_registered_tag"))
    rows = [(label(lang, "used_in"), _listing(entry.headers, lang))]
    if entry.related:
        rows.append((label(lang, "related"), _related(kb, entry.related, lang)))
    return _page(
        entry.tag,
        " · ".join(subtitle),
        [Paragraph(sentence(text.summary, lang))],
        _section(label(lang, "what"), Paragraph(text.description)),
        _section(label(lang, "trouble"), Paragraph(text.trouble)),
        _section(label(lang, "fix"), _steps(text.fix, lang)),
        _section(label(lang, "facts"), Facts(tuple(rows))),
    )


def _cause_page(kb: Knowledge, entry: CauseEntry, lang: str) -> Page:
    text = entry.text(lang)
    title = f"{label(lang, 'q850')} {entry.cause}: {entry.name}"
    if lang == "ja":
        title += f" ({text.name})"
    if entry.sip_status:
        mapped = f"{_code_name(kb, entry.sip_status)} (RFC 3398)"
    else:
        mapped = label(lang, "no_sip_status")
    rows = (
        (label(lang, "header_form"), f"Reason: Q.850;cause={entry.cause}"),
        (label(lang, "sip_status"), mapped),
    )
    return _page(
        title,
        label(lang, "q850_kind"),
        [Paragraph(sentence(text.summary, lang))],
        _section(label(lang, "fix"), _steps(text.fix, lang)),
        _section(label(lang, "facts"), Facts(rows)),
    )


def _warning_page(entry: WarningEntry, lang: str) -> Page:
    text = entry.text(lang)
    title = f"{label(lang, 'warning')} {entry.code}: {entry.warn_text}"
    if lang == "ja":
        title += f" ({text.text})"
    ref = cite(entry.rfc, entry.section)
    return _page(
        title,
        f"{label(lang, 'warning_kind')} · {ref}",
        [Paragraph(sentence(text.summary, lang))],
        _section(label(lang, "what"), Paragraph(text.description)),
        _section(label(lang, "fix"), _steps(text.fix, lang)),
        _section(
            label(lang, "facts"),
            Facts(((label(lang, "header_form"), f'Warning: {entry.code} host "..."'),)),
        ),
    )


def _reason_page(entry: ReasonEntry, lang: str) -> Page:
    text = entry.text(lang)
    ref = cite(entry.rfc, entry.section)
    return _page(
        f"{label(lang, 'subscription')}: {entry.reason}",
        ref,
        [Paragraph(sentence(text.summary, lang))],
        _section(label(lang, "what"), Paragraph(text.description)),
        _section(label(lang, "fix"), _steps(text.fix, lang)),
        _section(
            label(lang, "facts"),
            Facts(
                (
                    (
                        label(lang, "header_form"),
                        f"Subscription-State: terminated;reason={entry.reason}",
                    ),
                )
            ),
        ),
    )


def _class_page(entry: ClassEntry, lang: str) -> Page:
    text = entry.text(lang)
    rows = [(label(lang, "sent_by"), senders(entry.sent_by, lang))]
    if entry.headers:
        rows.append((label(lang, "headers"), _listing(entry.headers, lang)))
    rows.append(
        (label(lang, "next_step"), NEXT_STEP[lang][retry_key(entry.retry, entry.digit * 100)])
    )
    return _page(
        text.name,
        f"{label(lang, 'class_kind')} · {cite(entry.rfc, entry.section)}",
        [Paragraph(sentence(text.summary, lang))],
        _section(label(lang, "what"), Paragraph(text.description)),
        _section(label(lang, "when"), _bullets(text.when, lang)),
        _section(label(lang, "fix"), _steps(text.fix, lang)),
        _section(label(lang, "facts"), Facts(tuple(rows))),
    )


def _method_page(entry: MethodEntry, lang: str) -> Page:
    text = entry.text(lang)
    rows = ((label(lang, "headers"), _listing(entry.headers, lang)),) if entry.headers else ()
    return _page(
        entry.method,
        f"{label(lang, 'method_kind')} · {cite(entry.rfc, entry.section)}",
        [Paragraph(sentence(text.summary, lang))],
        _section(label(lang, "what"), Paragraph(text.description)),
        _section(label(lang, "facts"), Facts(rows)) if rows else None,
    )


def _header_page(entry: HeaderEntry, lang: str) -> Page:
    text = entry.text(lang)
    rows = [(label(lang, "header_form"), f"{entry.name}: ...")]
    if entry.compact:
        rows.append((label(lang, "compact"), f"{entry.compact}: ... (RFC 3261 §7.3.3)"))
    return _page(
        entry.name,
        f"{label(lang, 'header_kind')} · {cite(entry.rfc, entry.section)}",
        [Paragraph(sentence(text.summary, lang))],
        _section(label(lang, "what"), Paragraph(text.description)),
        _section(label(lang, "facts"), Facts(tuple(rows))),
    )


def _band_page(term: BandCode, lang: str) -> Page:
    band, text = term.band, term.band.text(lang)
    span = f"{band.low}-{band.high}"
    note = label(lang, "band_note").format(code=term.code, span=span)
    return _page(
        f"{label(lang, 'warning')} {term.code}: {text.name} ({span})",
        f"{label(lang, 'warning_kind')} · {cite(band.rfc, band.section)}",
        [Paragraph(sentence(text.summary, lang)), Paragraph(sentence(note, lang))],
        _section(label(lang, "what"), Paragraph(text.description)),
        _section(
            label(lang, "facts"),
            Facts(((label(lang, "header_form"), f'Warning: {term.code} host "..."'),)),
        ),
    )


def explain_page(kb: Knowledge, term: Term, lang: str) -> Page:
    """The page ``sipwatch explain TERM`` shows."""
    entry = term.entry
    if isinstance(entry, ResponseEntry):
        return _response_page(kb, entry, lang)
    if isinstance(entry, OptionTagEntry):
        return _option_tag_page(kb, entry, lang)
    if isinstance(entry, CauseEntry):
        return _cause_page(kb, entry, lang)
    if isinstance(entry, WarningEntry):
        return _warning_page(entry, lang)
    if isinstance(entry, ClassEntry):
        return _class_page(entry, lang)
    if isinstance(entry, MethodEntry):
        return _method_page(entry, lang)
    if isinstance(entry, HeaderEntry):
        return _header_page(entry, lang)
    if isinstance(entry, BandCode):
        return _band_page(entry, lang)
    return _reason_page(entry, lang)


# -- compare ------------------------------------------------------------------------------------


def compare_page(kb: Knowledge, a: ResponseEntry, b: ResponseEntry, lang: str) -> Page:
    """The page ``sipwatch compare A B`` shows: each code, then how they differ."""
    both = (a, b)
    what: list[Block] = []
    when: list[Block] = []
    fix: list[Block] = []
    for entry in both:
        text = entry.text(lang)
        heading = Subheading(response_title(entry, lang))
        what += [heading, Paragraph(response_subtitle(kb, entry, lang))]
        what += [Paragraph(sentence(text.summary, lang)), Paragraph(text.description)]
        note = _note(entry, lang)
        if note is not None:
            what.append(note)
        when += [heading, _bullets(text.when, lang)]
        fix += [heading, _steps(text.fix, lang)]
    result = contrast(kb, a, b, lang)
    title = f"{response_title(a, lang)} {label(lang, 'vs')} {response_title(b, lang)}"
    if lang == "ja":
        title = ja_spacing(title + "の比較")
    return _page(
        title,
        "",
        [],
        _section(label(lang, "compare_what"), *what),
        _section(label(lang, "compare_when"), *when),
        _section(label(lang, "compare_fix"), *fix),
        _section(label(lang, "differences"), _steps(result.differences, lang)),
        _section(label(lang, "which"), Paragraph(result.which)),
    )
