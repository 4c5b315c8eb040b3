"""Fitting a timeline line to the terminal's width without splitting a field.

A terminal wraps a long line wherever the last column falls: in the middle of a status code,
a method or a Call-ID, which then reads as two different things. When the timeline is shown
on a terminal, each line is laid out here instead:

1. It is printed as it is when it fits.
2. Otherwise the one field that can lose characters without losing meaning, the Request-URI
   of a request or the reason phrase of a response, is elided (``sip:alice@exam…``) as far as
   needed, down to :data:`MIN_ELIDED` cells.
3. If even that is not enough (a narrow terminal), the line wraps between fields: every field
   stays whole, continuation lines are indented under the message's first field so they never
   pass for a new message, and the elidable field is cut to what its line has room for.

Widths are counted in terminal cells (``rich.cells.cell_len``): a URI may hold wide
characters. Pipes and files are not fitted at all: one line per message, for ``grep``.
"""

from __future__ import annotations

from typing import Final

from rich.cells import cell_len

#: A run of text and the name of its style ("" for none).
Piece = tuple[str, str]

ELLIPSIS: Final = "…"
#: The fewest cells an elided field keeps (with its ellipsis): less says nothing.
MIN_ELIDED: Final = 12
#: Continuation lines start under the message's time column, like the annotations.
CONTINUATION_INDENT: Final = 9


def elide(text: str, cells: int) -> str:
    """``text`` cut to at most ``cells`` cells, the cut marked with an ellipsis."""
    if cell_len(text) <= cells:
        return text
    kept: list[str] = []
    used = 0
    for char in text:
        width = cell_len(char)
        if used + width > cells - 1:
            break
        kept.append(char)
        used += width
    return "".join(kept) + ELLIPSIS


def _elided_piece(piece: Piece, cells: int) -> Piece:
    """The elidable piece cut to ``cells``; its leading separator (a space) is kept."""
    text, style = piece
    body = text.lstrip(" ")
    lead = text[: len(text) - len(body)]
    return lead + elide(body, cells - len(lead)), style


def fit_line(pieces: list[Piece], width: int, elidable: int | None) -> list[list[Piece]]:
    """The lines to print for ``pieces`` on a terminal ``width`` cells wide.

    ``elidable`` is the index of the piece that may be elided (None: none may). Pieces are the
    fields, each carrying its separator as leading or trailing spaces; a wrap drops the spaces
    at the break. The first line always keeps the message's first fields (frame and time).
    """
    sizes = [cell_len(text) for text, _ in pieces]
    total = sum(sizes)
    if total <= width:
        return [pieces]
    if elidable is not None:
        room = sizes[elidable] - (total - width)
        if room >= MIN_ELIDED + 1:  # + the separator space
            shortened = list(pieces)
            shortened[elidable] = _elided_piece(pieces[elidable], room)
            return [shortened]
    lines: list[list[Piece]] = [[]]
    used = 0
    for index, piece in enumerate(pieces):
        size = sizes[index]
        if used + size <= width or not lines[-1]:
            lines[-1].append(piece)
            used += size
            continue
        if index == elidable and width - used >= MIN_ELIDED + 1:
            lines[-1].append(_elided_piece(piece, width - used))
            used = width
            continue
        _strip_end(lines[-1])
        text, style = piece
        text = text.lstrip(" ")
        used = CONTINUATION_INDENT + cell_len(text)
        if index == elidable and used > width:
            text = elide(text, max(MIN_ELIDED, width - CONTINUATION_INDENT))
            used = CONTINUATION_INDENT + cell_len(text)
        lines.append([(" " * CONTINUATION_INDENT, ""), (text, style)])
    _strip_end(lines[-1])
    return lines


def _strip_end(line: list[Piece]) -> None:
    """No trailing blanks where a line ends (files and terminals alike)."""
    while line:
        text, style = line[-1]
        stripped = text.rstrip(" ")
        if stripped:
            line[-1] = (stripped, style)
            return
        line.pop()
