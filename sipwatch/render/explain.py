"""Render explain and compare pages as terminal text, Markdown or JSON.

Text is wrapped here, by display cells (a Japanese character takes two), with line breaks
allowed between Japanese characters and closing punctuation kept off the start of a line, as
Japanese typesetting expects. Knowledge text is data: it is only ever appended to
``rich.text.Text`` as plain strings, never parsed as console markup, so a "[bold]" inside an
entry prints as typed. On a terminal, headings are bold; anywhere else the output is the plain
characters, identical to what tests compare against.

The JSON shape is a stable contract documented in docs/knowledge-json.md.
"""

from __future__ import annotations

import json
import re
from typing import Any, Final, TextIO

from rich.cells import cell_len
from rich.console import Console
from rich.text import Text

from sipwatch.knowledge.lookup import (
    Block,
    Bullets,
    Facts,
    Page,
    Paragraph,
    Steps,
    Subheading,
    Term,
    compare_page,
    contrast,
    explain_page,
)
from sipwatch.knowledge.lookup.terms import BandCode
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

#: Pages are prose: past ~100 columns lines get hard to read, whatever the terminal width.
MAX_WIDTH: Final = 100
INDENT: Final = 2
BULLET: Final = "• "
#: Version of the JSON produced by ``--format json`` (docs/knowledge-json.md).
JSON_SCHEMA: Final = 1

# -- wrapping -----------------------------------------------------------------------------------

_WIDE = "\u3000-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uff00-\uffef"
#: An atom is a run of spaces, a run of non-CJK non-space characters (a word), or one character.
_ATOM = re.compile(rf"\s+|[^\s{_WIDE}]+|\S")
#: Japanese line-breaking rules (kinsoku): these never start a line ...
_NO_START = frozenset(
    "、。，．・：；？！）」』】〕〉》ーぁぃぅぇぉっゃゅょゎァィゥェォッャュョヮ…‥),.;:!?"
)
#: ... and these never end one.
_NO_END = frozenset("（「『【〔〈《(")


def _split_long(atom: str, width: int) -> list[str]:
    """Cut an atom wider than a whole line into line-sized pieces (URLs, long tokens)."""
    pieces, current = [], ""
    for char in atom:
        if current and cell_len(current + char) > width:
            pieces.append(current)
            current = ""
        current += char
    return [*pieces, current] if current else pieces


def wrap(text: str, width: int) -> list[str]:
    """Greedy wrap of ``text`` to ``width`` display cells; spaces only separate English words."""
    width = max(width, 8)
    lines: list[list[str]] = [[]]
    cells = 0
    pending_space = False
    for atom in _ATOM.findall(text):
        if atom.isspace():
            pending_space = bool(lines[-1])
            continue
        line = lines[-1]
        gap = " " if pending_space else ""
        pending_space = False
        if cells + cell_len(gap + atom) <= width:
            line.extend([gap, atom] if gap else [atom])
            cells += cell_len(gap + atom)
            continue
        carry: list[str] = []
        # Keep a closing mark with the character before it, and an opening one with the next.
        if atom[0] in _NO_START and not gap and len(line) > 1:
            carry.insert(0, line.pop())
        while len(line) > 1 and line[-1] and line[-1][-1] in _NO_END:
            carry.insert(0, line.pop())
        while line and line[-1] == " ":
            line.pop()
        pieces = _split_long(atom, width) if cell_len(atom) > width else [atom]
        if not line:
            lines.pop()
        for piece in pieces[:-1]:
            lines.append([*carry, piece] if carry else [piece])
            carry = []
        lines.append([*carry, pieces[-1]])
        cells = cell_len("".join(lines[-1]))
    return ["".join(line) for line in lines if line] or [""]


# -- terminal text ------------------------------------------------------------------------------


class _Out:
    """Collects (line, style) pairs; styles only reach the screen on a terminal."""

    def __init__(self) -> None:
        self.lines: list[tuple[str, str]] = []

    def add(self, line: str = "", style: str = "") -> None:
        self.lines.append((line, style))

    def blank(self) -> None:
        if self.lines and self.lines[-1][0]:
            self.add()

    def text(self) -> Text:
        out = Text()
        for line, style in self.lines:
            out.append(line, style=style or None)
            out.append("\n")
        return out


def _hanging(
    out: _Out, items: tuple[str, ...], markers: list[str], indent: int, width: int
) -> None:
    pad = max(cell_len(m) for m in markers)
    for marker, item in zip(markers, items, strict=True):
        lead = " " * indent + marker.rjust(pad)
        for i, line in enumerate(wrap(item, width - indent - pad)):
            out.add((lead if i == 0 else " " * (indent + pad)) + line)


def _facts(out: _Out, rows: tuple[tuple[str, str], ...], indent: int, width: int) -> None:
    pad = max(cell_len(k) for k, _ in rows) + 2
    for key, value in rows:
        head = " " * indent + key + " " * (pad - cell_len(key))
        for i, line in enumerate(wrap(value, width - indent - pad)):
            out.add((head if i == 0 else " " * (indent + pad)) + line)


def _blocks(out: _Out, blocks: tuple[Block, ...], indent: int, width: int) -> None:
    inner = indent
    after_heading = False
    for block in blocks:
        if not after_heading:
            out.blank()
        after_heading = False
        if isinstance(block, Subheading):
            out.add(" " * indent + block.text, "bold")
            inner = indent + INDENT
            after_heading = True
        elif isinstance(block, Paragraph):
            for line in wrap(block.text, width - inner):
                out.add(" " * inner + line)
        elif isinstance(block, Bullets):
            _hanging(out, block.items, [BULLET] * len(block.items), inner, width)
        elif isinstance(block, Steps):
            markers = [f"{n}. " for n in range(1, len(block.items) + 1)]
            _hanging(out, block.items, markers, inner, width)
        elif isinstance(block, Facts):
            _facts(out, block.rows, inner, width)


def page_text(page: Page, width: int = MAX_WIDTH) -> Text:
    """The page as terminal text: title, subtitle, lead, then indented sections."""
    width = min(width, MAX_WIDTH)
    out = _Out()
    for line in wrap(page.title, width):
        out.add(line, "bold")
    if page.subtitle:
        for line in wrap(page.subtitle, width):
            out.add(line, "dim")
    _blocks(out, page.lead, 0, width)
    for section in page.sections:
        out.blank()
        out.add(section.heading, "bold underline")
        _blocks(out, section.blocks, INDENT, width)
    return out.text()


# -- Markdown -----------------------------------------------------------------------------------

_MD_SPECIAL = re.compile(r"([\\`*_\[\]<>|])")
_MD_LINE_START = re.compile(r"^([#+-]|\d+\.)")


def _md(text: str) -> str:
    """Escape what Markdown would otherwise interpret in knowledge text."""
    return _MD_LINE_START.sub(r"\\\1", _MD_SPECIAL.sub(r"\\\1", text))


def page_markdown(page: Page) -> str:
    """The page as Markdown: ``#`` title, ``##`` sections, ``###`` per-code sub-headings."""
    parts = [f"# {_md(page.title)}"]
    if page.subtitle:
        parts.append(f"*{_md(page.subtitle)}*")
    sections = [(None, page.lead), *((s.heading, s.blocks) for s in page.sections)]
    for heading, blocks in sections:
        if heading is not None:
            parts.append(f"## {_md(heading)}")
        for block in blocks:
            if isinstance(block, Subheading):
                parts.append(f"### {_md(block.text)}")
            elif isinstance(block, Paragraph):
                parts.append(_md(block.text))
            elif isinstance(block, Bullets):
                parts.append("\n".join(f"- {_md(item)}" for item in block.items))
            elif isinstance(block, Steps):
                parts.append("\n".join(f"{n}. {_md(i)}" for n, i in enumerate(block.items, 1)))
            elif isinstance(block, Facts):
                parts.append("\n".join(f"- **{_md(k)}:** {_md(v)}" for k, v in block.rows))
    return "\n\n".join(parts) + "\n"


# -- JSON ---------------------------------------------------------------------------------------


def _related(kb: Knowledge, codes: tuple[int, ...]) -> list[dict[str, Any]]:
    return [{"code": code, "reason": kb.reason_phrase(code)} for code in codes]


def response_json(kb: Knowledge, entry: ResponseEntry, lang: str) -> dict[str, Any]:
    """The fields of one response entry (no envelope)."""
    text = entry.text(lang)
    return {
        "code": entry.code,
        "reason": entry.reason,
        "registered": entry.registered,
        "status": entry.status,
        "class": entry.klass,
        "class_label": kb.class_label(entry.code, lang),
        "rfc": entry.rfc,
        "section": entry.section,
        "sent_by": list(entry.sent_by),
        "headers": list(entry.headers),
        "option_tags": list(entry.option_tags),
        "related": _related(kb, entry.related),
        "retry": entry.retry,
        "text": {
            "reason": text.reason,
            "summary": text.summary,
            "description": text.description,
            "when": list(text.when),
            "fix": list(text.fix),
            "status_note": text.status_note,
        },
    }


def _entry_json(kb: Knowledge, term: Term, lang: str) -> dict[str, Any]:
    entry = term.entry
    if isinstance(entry, ResponseEntry):
        return response_json(kb, entry, lang)
    if isinstance(entry, OptionTagEntry):
        t = entry.text(lang)
        return {
            "tag": entry.tag,
            "rfc": entry.rfc,
            "registered": kb.is_registered_option_tag(entry.tag),
            "headers": list(entry.headers),
            "related": _related(kb, entry.related),
            "text": {
                "summary": t.summary,
                "description": t.description,
                "trouble": t.trouble,
                "fix": list(t.fix),
            },
        }
    if isinstance(entry, CauseEntry):
        c = entry.text(lang)
        return {
            "cause": entry.cause,
            "name": entry.name,
            "sip_status": entry.sip_status or None,
            "sip_reason": kb.reason_phrase(entry.sip_status) if entry.sip_status else None,
            "text": {"name": c.name, "summary": c.summary, "fix": list(c.fix)},
        }
    if isinstance(entry, WarningEntry):
        w = entry.text(lang)
        return {
            "code": entry.code,
            "warn_text": entry.warn_text,
            "rfc": entry.rfc,
            "section": entry.section,
            "text": {
                "warn_text": w.text,
                "summary": w.summary,
                "description": w.description,
                "fix": list(w.fix),
            },
        }
    if isinstance(entry, ClassEntry | MethodEntry | HeaderEntry | BandCode):
        return _reference_json(entry, lang)
    assert isinstance(entry, ReasonEntry)
    r = entry.text(lang)
    return {
        "reason": entry.reason,
        "rfc": entry.rfc,
        "section": entry.section,
        "text": {"summary": r.summary, "description": r.description, "fix": list(r.fix)},
    }


def _reference_json(
    entry: ClassEntry | MethodEntry | HeaderEntry | BandCode, lang: str
) -> dict[str, Any]:
    """Classes, methods, headers and Warning bands: their facts, then their words."""
    if isinstance(entry, ClassEntry):
        c = entry.text(lang)
        return {
            "class": f"{entry.digit}xx",
            "rfc": entry.rfc,
            "section": entry.section,
            "sent_by": list(entry.sent_by),
            "text": {
                "name": c.name,
                "summary": c.summary,
                "description": c.description,
                "when": list(c.when),
                "fix": list(c.fix),
            },
        }
    if isinstance(entry, BandCode):
        band, b = entry.band, entry.band.text(lang)
        return {
            "code": entry.code,
            "band": [band.low, band.high],
            "assigned": band.assigned,
            "rfc": band.rfc,
            "section": band.section,
            "text": {"name": b.name, "summary": b.summary, "description": b.description},
        }
    t = entry.text(lang)
    words = {"summary": t.summary, "description": t.description}
    if isinstance(entry, MethodEntry):
        return {
            "method": entry.method,
            "rfc": entry.rfc,
            "section": entry.section,
            "headers": list(entry.headers),
            "text": words,
        }
    return {
        "name": entry.name,
        "compact": entry.compact or None,
        "rfc": entry.rfc,
        "section": entry.section,
        "text": words,
    }


def explain_json(kb: Knowledge, term: Term, lang: str) -> dict[str, Any]:
    """The ``explain --format json`` object: envelope, then the entry's fields."""
    return {"schema": JSON_SCHEMA, "type": term.kind, "lang": lang, **_entry_json(kb, term, lang)}


def compare_json(kb: Knowledge, a: ResponseEntry, b: ResponseEntry, lang: str) -> dict[str, Any]:
    """The ``compare --format json`` object."""
    result = contrast(kb, a, b, lang)
    return {
        "schema": JSON_SCHEMA,
        "type": "comparison",
        "lang": lang,
        "codes": [a.code, b.code],
        "curated": result.curated,
        "entries": [response_json(kb, a, lang), response_json(kb, b, lang)],
        "differences": list(result.differences),
        "which": result.which,
    }


def dumps(obj: dict[str, Any]) -> str:
    """JSON text as printed: UTF-8 kept readable, two-space indent, trailing newline."""
    return json.dumps(obj, ensure_ascii=False, indent=2) + "\n"


# -- output -------------------------------------------------------------------------------------


def write_page(page: Page, fmt: str, stream: TextIO) -> None:
    """Write a page as ``text`` or ``markdown`` to ``stream``.

    Text is wrapped to the terminal (at most :data:`MAX_WIDTH` columns; ``$COLUMNS`` or 80
    when not a terminal). Styles are used only where rich sees a terminal (a TTY, or one
    forced with ``FORCE_COLOR``/``TTY_COMPATIBLE``, as the user asked); elsewhere exactly the
    plain characters are written.
    """
    if fmt == "markdown":
        stream.write(page_markdown(page))
        return
    console = Console(file=stream, highlight=False, soft_wrap=True)
    text = page_text(page, console.width)
    if console.is_terminal:
        console.print(text, end="")
    else:
        stream.write(text.plain)


def write_json(obj: dict[str, Any], stream: TextIO) -> None:
    stream.write(dumps(obj))


def show_explain(kb: Knowledge, term: Term, *, lang: str, fmt: str, stream: TextIO) -> None:
    """``sipwatch explain``: the term's page in ``fmt`` (text, markdown or json)."""
    if fmt == "json":
        write_json(explain_json(kb, term, lang), stream)
    else:
        write_page(explain_page(kb, term, lang), fmt, stream)


def show_compare(
    kb: Knowledge, a: ResponseEntry, b: ResponseEntry, *, lang: str, fmt: str, stream: TextIO
) -> None:
    """``sipwatch compare``: the comparison page in ``fmt`` (text, markdown or json)."""
    if fmt == "json":
        write_json(compare_json(kb, a, b, lang), stream)
    else:
        write_page(compare_page(kb, a, b, lang), fmt, stream)
