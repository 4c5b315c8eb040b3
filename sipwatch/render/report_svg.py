"""The SVG ladder of one call in the HTML report: one lane per element, one arrow per message.

Unlike the terminal ladder, nothing is folded: every message copy is its own arrow (a
retransmission is labelled so), each a link to that message's full text further down the
page. Every string from the wire is made inert and then HTML-escaped; SVG inside HTML is
parsed by the HTML parser, so an escaped ``</svg>`` stays text.
"""

from __future__ import annotations

from html import escape
from typing import Final

from sipwatch.calls.ladder import Ladder
from sipwatch.render.safe import inert

LANE: Final = 210
LEFT: Final = 120
TOP: Final = 58
ROW: Final = 24
LABEL_MAX: Final = 27


def text(value: str, limit: int | None = None) -> str:
    """Wire text for HTML or SVG: control characters shown as escapes, markup escaped."""
    return escape(inert(value, limit), quote=True)


def _delta(seconds: float | None) -> str:
    if seconds is None:
        return ""
    if seconds < 1:
        return f"+{seconds * 1000:.0f} ms"
    return f"+{seconds:.1f} s"


def _kind(status: int, request: bool) -> str:
    if request:
        return "req"
    if status < 200:
        return "prov"
    if status < 300:
        return "ok"
    return "fail"


def ladder_svg(ladder: Ladder, anchor: str) -> str:
    """The ``<svg>`` of ``ladder``; arrows link to ``#{anchor}-f{frame}``."""
    lanes = ladder.lanes
    width = LEFT + LANE * max(1, len(lanes)) + 40
    height = TOP + ROW * (len(ladder.arrows) + 1)
    out = [
        f'<svg class="ladder" xmlns="http://www.w3.org/2000/svg" width="{width}" '
        f'height="{height}" viewBox="0 0 {width} {height}" role="img">'
    ]
    for i, element in enumerate(lanes):
        x = LEFT + LANE * i + LANE // 2
        role = element.role + (f" {element.agent}" if element.agent else "")
        out.append(
            f'<g class="lane"><text x="{x}" y="16" class="addr">'
            f"{text(element.address, 60)}</text>"
            f'<text x="{x}" y="32" class="role">{text(role, 30)}</text>'
            f'<line x1="{x}" y1="40" x2="{x}" y2="{height - 4}"/></g>'
        )
    for n, arrow in enumerate(ladder.arrows):
        message = arrow.message
        y = TOP + ROW * n + ROW // 2
        x1 = LEFT + LANE * arrow.src_lane + LANE // 2
        x2 = LEFT + LANE * arrow.dst_lane + LANE // 2
        label = message.label + (" (retransmission)" if message.retransmission else "")
        kind = _kind(message.status, message.kind == "request")
        pins = "".join(f"[{p + 1}]" for p in arrow.pins)
        if x1 == x2:
            shape = (
                f'<path d="M{x1} {y - 6} h 30 v 12 h -30" fill="none"/>'
                f'<text x="{x1 + 36}" y="{y + 4}" class="lbl self">'
                f"{text(label, LABEL_MAX)}</text>"
            )
        else:
            head = -8 if x2 > x1 else 8
            shape = (
                f'<line x1="{x1}" y1="{y}" x2="{x2}" y2="{y}"/>'
                f'<path d="M{x2} {y} l {head} -4 v 8 z" class="head"/>'
                f'<text x="{(x1 + x2) // 2}" y="{y - 4}" class="lbl">'
                f"{text(label, LABEL_MAX)}</text>"
            )
        pin = f'<text x="{max(x1, x2) + 10}" y="{y + 4}" class="pin">{pins}</text>' if pins else ""
        out.append(
            f'<g class="arrow {kind}" data-frame="{message.frame}">'
            f'<a href="#{anchor}-f{message.frame}">'
            f'<text x="8" y="{y + 4}" class="time">{message.frame} '
            f"{_delta(arrow.delta)}</text>{shape}{pin}</a></g>"
        )
    out.append("</svg>")
    return "".join(out)
