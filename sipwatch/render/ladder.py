"""``sipwatch ladder``: a call's messages as arrows between one column per element.

Each line is built from characters, then styled; it is never wider than the console, so it is
never wrapped mid-arrow: labels and element names are elided (``…``) instead. Findings are
marked on their arrow (``[1]``) and written out under the diagram. Every wire string goes
through :func:`sipwatch.render.safe.inert` and into a ``rich.text.Text``, never markup.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Final

from rich.console import Console
from rich.text import Text

from sipwatch.calls.ladder import Arrow, Ladder
from sipwatch.calls.model import Call
from sipwatch.render.safe import inert
from sipwatch.render.terminal import clock

#: Frame number and time since the previous arrow, left of the lanes.
_GUTTER: Final = 16
#: Room right of the lanes for finding marks (``[12]``).
_MARKS: Final = 6
_LANE_MIN: Final = 5
_LANE_MAX: Final = 28
_TAGS: Final = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_SEVERITY_STYLE: Final = {"error": "bold red", "warning": "yellow", "info": "cyan"}


def _delta(seconds: float | None) -> str:
    if seconds is None:
        return ""
    if seconds < 1:
        return f"+{seconds * 1000:.0f}ms"
    if seconds < 100:
        return f"+{seconds:.1f}s"
    return f"+{seconds:.0f}s"


def _elide(text: str, width: int) -> str:
    if width <= 0:
        return ""
    return text if len(text) <= width else text[: max(0, width - 1)] + "…"


def _style(arrow: Arrow) -> str:
    message = arrow.message
    if message.kind == "request":
        return "cyan"
    if message.status < 200:
        return "dim"
    if message.status < 300:
        return "green"
    return "red"


def _call_lines(tag: str, call: Call, relation: str) -> list[Text]:
    """``A call-id  (relation)`` then ``  start  from → to  INVITE 200 OK``."""
    first = Text(inert(f"{tag}{call.call_id}", 300), style="bold")
    if relation:
        first.append(f"  ({inert(relation, 300)})", style="dim")
    if call.final_status is None:
        status = "no final response"
    else:
        status = f"{call.final_status} {call.final_reason}"
    words = (
        f"{' ' * len(tag)}{clock(call.start_ts)}  {call.from_party.text()} → "
        f"{call.to_party.text()}  {call.method} {status}"
    )
    return [first, Text(inert(words, 400))]


class LadderLayout:
    """Lane positions for a console width."""

    def __init__(self, lanes: int, width: int) -> None:
        room = max(0, width - _GUTTER - _MARKS)
        self.lane = max(_LANE_MIN, min(_LANE_MAX, room // max(1, lanes)))
        self.lanes = lanes
        self.width = _GUTTER + self.lane * lanes

    def center(self, lane: int) -> int:
        return _GUTTER + lane * self.lane + self.lane // 2

    def blank(self) -> list[str]:
        cells = [" "] * self.width
        for lane in range(self.lanes):
            cells[self.center(lane)] = "│"
        return cells


def _arrow_line(layout: LadderLayout, arrow: Arrow, tag: str) -> Text:
    cells = layout.blank()
    gutter = f"{tag or '  '}{arrow.message.frame:>5} {_delta(arrow.delta):>7}"
    for i, ch in enumerate(gutter[: _GUTTER - 1]):
        cells[i] = ch
    a, b = layout.center(arrow.src_lane), layout.center(arrow.dst_lane)
    label = arrow.message.label + (f" ×{arrow.repeats}" if arrow.repeats > 1 else "")
    label = inert(label, 120)
    if a == b:  # a message an element sent to itself
        start, end = a + 1, min(layout.width, a + layout.lane)
        text = _elide(f"↺ {label}", end - start)
        cells[start : start + len(text)] = list(text)
    else:
        left, right = min(a, b) + 1, max(a, b) - 1
        for x in range(left, right + 1):
            cells[x] = "─"
        if b > a:
            cells[right] = "▶"
        else:
            cells[left] = "◀"
        # Keep the head and one stroke of shaft; pad the label with spaces if it fits.
        room = right - left - 1
        text = f" {label} " if len(label) + 2 <= room else _elide(label, room)
        at = left + 1 + max(0, (room - len(text)) // 2)
        cells[at : at + len(text)] = list(text)
        span = (min(a, b) + 1, max(a, b))
    line = Text("".join(cells).rstrip())
    if a != b:
        line.stylize(_style(arrow), *span)
    else:
        line.stylize(_style(arrow), a + 1, min(len(line), a + layout.lane))
    line.stylize("dim", 0, _GUTTER)
    if arrow.pins:
        marks = "".join(f"[{p + 1}]" for p in arrow.pins)
        line.append(" " + marks, style="bold yellow")
    return line


def ladder_lines(ladder: Ladder, width: int) -> Iterator[tuple[Text, bool]]:
    """Every line for a console ``width`` columns wide, and whether it may wrap at words.

    Diagram lines never wrap (they are fitted to the width); finding texts do.
    """
    several = len(ladder.calls) > 1
    tags = [f"{_TAGS[i % len(_TAGS)]} " if several else "" for i in range(len(ladder.calls))]
    first = ladder.calls[0]
    relations = {link.call_id: link for link in first.related}
    for i, call in enumerate(ladder.calls):
        link = relations.get(call.call_id)
        relation = ""
        if link is not None:
            relation = f"{link.relation}{', a guess' if link.guess else ''}: {link.evidence}"
        for line in _call_lines(tags[i], call, relation):
            yield _line_fit(line, width), False
    yield Text(""), False
    layout = LadderLayout(len(ladder.lanes), width)
    for row in ("address", "what"):
        cells = [" "] * layout.width
        for lane, element in enumerate(ladder.lanes):
            if row == "address":
                text = element.address
            else:
                text = element.role if not element.agent else f"{element.role} {element.agent}"
            text = _elide(inert(text, 200), layout.lane - 1)
            at = max(_GUTTER, layout.center(lane) - len(text) // 2)
            cells[at : at + len(text)] = list(text)
        style = "bold" if row == "address" else "dim"
        yield Text("".join(cells).rstrip()[:width], style=style), False
    yield Text("".join(layout.blank()).rstrip()), False
    for arrow in ladder.arrows:
        yield _arrow_line(layout, arrow, tags[arrow.call] if several else ""), False
    if ladder.findings:
        yield Text(""), False
    for n, finding in enumerate(ladder.findings, 1):
        head = Text(f"[{n}] ", style="bold yellow")
        head.append(
            f"{finding.severity} {inert(finding.kind, 80)}",
            style=_SEVERITY_STYLE.get(finding.severity, ""),
        )
        head.append(f": {inert(finding.text, 2000)}")
        yield head, True
        if finding.remedy:
            yield Text(f"    remedy: {inert(finding.remedy, 2000)}", style="green"), True


def _line_fit(text: Text, width: int) -> Text:
    if text.cell_len > width:
        text.truncate(width, overflow="ellipsis")
    return text


def show_ladder(console: Console, ladder: Ladder) -> None:
    width = console.width
    for line, wraps in ladder_lines(ladder, width):
        if not wraps:
            # Never wrapped: with more elements than the width can hold, cut (and say so).
            line.truncate(width, overflow="ellipsis")
            console.print(line, soft_wrap=True)
            continue
        for part in line.wrap(console, width, overflow="fold"):
            part.rstrip()
            console.print(part, soft_wrap=True)
