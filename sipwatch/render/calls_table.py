"""``sipwatch calls``: one row per call, then the totals.

Every cell is wire text made inert (:func:`sipwatch.render.safe.inert`) and put in a
``rich.text.Text``, never markup. Cells are never wrapped: a long From is elided with ``…`` so
each call stays one line at any terminal width.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from rich.console import Console
from rich.text import Text

from sipwatch.calls.model import SEVERITY_ORDER, Call
from sipwatch.calls.select import CallTotals
from sipwatch.render.safe import inert
from sipwatch.render.terminal import clock

_SEVERITY_STYLE: Final = {"error": "bold red", "warning": "yellow", "info": "cyan", "none": "dim"}
_STATE_STYLE: Final = {"answered": "green", "failed": "red", "in-progress": "magenta"}
#: Relations shown in the Related column, shortest first for narrow terminals.
_RELATION_MARK: Final = {
    "transfer": "xfer",
    "replaces": "repl",
    "b2bua": "b2bua",
    "session-id": "sess",
    "same-parties": "guess",
}


def day(ts: float) -> str:
    """``YYYY-MM-DD`` (UTC) of a capture timestamp; "" for one no calendar holds."""
    try:
        return time.strftime("%Y-%m-%d", time.gmtime(math.floor(ts)))
    except (OverflowError, OSError, ValueError):
        return ""


def days(calls: Sequence[Call]) -> str:
    """The date, or first and last date, of the calls' starts: ``2026-11-25 (UTC)``."""
    known = sorted({d for d in (day(c.start_ts) for c in calls) if d})
    if not known:
        return ""
    span = known[0] if len(known) == 1 else f"{known[0]} to {known[-1]}"
    return f"{span} (UTC)"


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f}ms"


def _seconds(value: float | None) -> str:
    if value is None:
        return "-"
    if value < 60:
        return f"{value:.1f}s"
    minutes, seconds = divmod(int(value), 60)
    return f"{minutes}m{seconds:02d}s"


def _status(call: Call) -> Text:
    if call.final_status is None:
        return Text("...", style=_STATE_STYLE[call.state])
    return Text(str(call.final_status), style=_STATE_STYLE[call.state])


def _findings(call: Call) -> Text:
    if not call.findings:
        return Text("-", style="dim")
    # The worst finding first (first seen among equals), then how many more: readable
    # without colour, and the kind that matters survives a narrow column.
    rank = {name: i for i, name in enumerate(SEVERITY_ORDER)}
    worst = max(call.findings, key=lambda f: rank.get(f.severity, 1))
    text = f"{worst.severity[:1].upper()}:{worst.kind}"
    others = len({f.kind for f in call.findings} - {worst.kind})
    if others:
        text += f" +{others}"
    return Text(inert(text), style=_SEVERITY_STYLE.get(call.severity, ""))


def _related(call: Call) -> str:
    return " ".join(
        f"{_RELATION_MARK.get(r.relation, r.relation)}:{inert(r.call_id[:8])}" for r in call.related
    )


@dataclass(frozen=True, slots=True)
class _Column:
    title: str
    minimum: int
    maximum: int
    #: Columns are shrunk in this order (highest first) when the terminal is narrow, and
    #: dropped (``droppable``) only when even their minimum does not fit.
    shrink: int
    right: bool = False
    droppable: bool = False


_COLUMNS: Final = (
    _Column("Start", 8, 8, 0),
    _Column("Call-ID", 8, 12, 4),
    _Column("From", 8, 28, 5),
    _Column("To", 8, 28, 5),
    _Column("Method", 6, 9, 2, droppable=True),
    _Column("St", 3, 3, 0, right=True),
    _Column("PDD", 5, 7, 0, right=True, droppable=True),
    _Column("Dur", 5, 7, 0, right=True),
    _Column("Findings", 8, 40, 3),
    _Column("Related", 8, 30, 6, droppable=True),
)
_GAP: Final = 2


def _cells(call: Call) -> list[Text]:
    return [
        Text(clock(call.start_ts)[:8]),
        Text(inert(call.call_id, 40)),
        Text(inert(call.from_party.text(), 80)),
        Text(inert(call.to_party.text(), 80)),
        Text(inert(call.method, 20)),
        _status(call),
        Text(_ms(call.pdd_ms)),
        Text(_seconds(call.duration_s)),
        _findings(call),
        Text(_related(call)),
    ]


def _fit(rows: list[list[Text]], width: int) -> list[int]:
    """Each column's width (0: dropped) so a row fits ``width``: shrink, then drop."""
    # Widths are cells; columns whose content is shorter keep their natural width.
    widths = []
    for i, column in enumerate(_COLUMNS):
        natural = max([len(column.title), *(r[i].cell_len for r in rows)])
        widths.append(max(column.minimum, min(column.maximum, natural)))
    if not any(r[-1].plain for r in rows):
        widths[-1] = 0

    def total() -> int:
        shown = [w for w in widths if w]
        return sum(shown) + _GAP * (len(shown) - 1)

    # Shrink the flexible columns one cell at a time, in turn (Related first, Findings last
    # of those that shrink), so the room left is shared rather than taken from one column.
    order = sorted(
        (i for i in range(len(_COLUMNS)) if _COLUMNS[i].shrink),
        key=lambda i: -_COLUMNS[i].shrink,
    )
    while total() > width:
        shrunk = False
        for i in order:
            if widths[i] > _COLUMNS[i].minimum and total() > width:
                widths[i] -= 1
                shrunk = True
        if not shrunk:
            break
    for i in reversed(range(len(_COLUMNS))):
        if total() <= width:
            break
        if _COLUMNS[i].droppable:
            widths[i] = 0
    return widths


def _line(cells: list[Text], widths: list[int]) -> Text:
    line = Text()
    first = True
    for column, cell, width in zip(_COLUMNS, cells, widths, strict=True):
        if not width:
            continue
        if not first:
            line.append(" " * _GAP)
        first = False
        piece = cell.copy()
        piece.truncate(width, overflow="ellipsis", pad=not column.right)
        if column.right:
            piece.align("right", width)
        line.append_text(piece)
    line.rstrip()
    return line


def calls_lines(calls: Sequence[Call], width: int) -> list[Text]:
    """The header, a rule and one line per call, fitted to ``width`` columns."""
    rows = [_cells(call) for call in calls]
    widths = _fit(rows, width)
    header = _line([Text(c.title, style="bold") for c in _COLUMNS], widths)
    shown = [w for w in widths if w]
    rule = Text("─" * (sum(shown) + _GAP * (len(shown) - 1)), style="dim")
    return [header, rule, *(_line(row, widths) for row in rows)]


def totals_line(totals: CallTotals, evicted: int = 0, shown: int | None = None) -> Text:
    """``3 calls: 2 answered, 1 failed, 0 in progress; final status 200 ×2, 486 ×1``."""
    states = totals.by_state
    line = Text()
    count = f"{totals.calls} call{'' if totals.calls == 1 else 's'}"
    if shown is not None and shown != totals.calls:
        count = f"{shown} of {count} shown"
    line.append(count + ": ", style="bold")
    line.append(f"{states['answered']} answered", style="green")
    line.append(", ")
    line.append(f"{states['failed']} failed", style="red")
    line.append(", ")
    line.append(f"{states['in-progress']} in progress", style="magenta")
    if totals.by_status:
        codes = ", ".join(f"{code} ×{n}" for code, n in sorted(totals.by_status.items()))
        line.append(f"; final status {codes}")
    if evicted:
        line.append(f"; {evicted} older calls evicted (call table full)", style="bold red")
    return line


def show_calls(
    console: Console,
    source: str,
    calls: Sequence[Call],
    totals: CallTotals,
    evicted: int = 0,
) -> None:
    """The heading, the table (or a line saying no call matched), the totals."""
    heading = Text(inert(source), style="bold")
    when = days(calls)
    if when:
        heading.append(f"  {when}", style="dim")
    console.print(heading, soft_wrap=True)
    if calls:
        for line in calls_lines(calls, console.width):
            console.print(line, soft_wrap=True)
    else:
        console.print(Text("no call matches", style="dim"), soft_wrap=True)
    console.print(totals_line(totals, evicted, len(calls)), soft_wrap=False)
