"""What a ladder diagram shows, as data: lanes, arrows, pinned findings.

Built from one call and, optionally, the calls related to it, so a transfer's calls share one
set of lanes in time order. Retransmissions are folded into the arrow they repeat (RFC 3261
§17.1.1.2 / §17.1.2.2 timers resend the same message), and each finding is pinned to the arrow
that shows it best: the first failure response among its frames, else its first frame.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final

from sipwatch.calls.model import Call, CallFinding, CallMessage, Element

#: How far back a retransmission may be folded into the arrow it repeats.
FOLD_LOOKBACK: Final = 8


@dataclass(slots=True)
class Arrow:
    message: CallMessage
    #: Index of the call in :attr:`Ladder.calls` (0: the call asked for).
    call: int
    src_lane: int
    dst_lane: int
    #: Capture seconds since the previous arrow (None for the first).
    delta: float | None
    repeats: int = 1
    #: Indexes into :attr:`Ladder.findings`.
    pins: list[int] = field(default_factory=list)


@dataclass(slots=True)
class Ladder:
    calls: list[Call]
    lanes: list[Element]
    arrows: list[Arrow]
    findings: list[CallFinding]


def _pin_frame(finding: CallFinding, by_frame: Mapping[int, CallMessage]) -> int | None:
    messages = [by_frame[f] for f in finding.frames if f in by_frame]
    for message in messages:
        if message.kind == "response" and message.status >= 300:
            return message.frame
    return messages[0].frame if messages else None


def build_ladder(
    call: Call, calls: Mapping[str, Call], related: bool = True, fold: bool = True
) -> Ladder:
    """The ladder of ``call``, with its directly related calls when ``related``.

    ``fold`` folds retransmissions into the arrow they repeat; without it every copy is an
    arrow (the HTML report, where each links to its own text).
    """
    chosen = [call]
    if related:
        for link in call.related:
            other = calls.get(link.call_id)
            if other is not None and other not in chosen:
                chosen.append(other)
    merged = sorted(
        ((m.ts, m.frame, i, m) for i, c in enumerate(chosen) for m in c.messages),
        key=lambda item: (item[1], item[0]),
    )
    lanes: dict[str, int] = {}
    elements: list[Element] = []
    for _, _, i, message in merged:
        for address in (message.src, message.dst):
            if address not in lanes:
                lanes[address] = len(elements)
                elements.append(chosen[i].elements.get(address) or Element(address))
    arrows: list[Arrow] = []
    arrow_of_frame: dict[int, Arrow] = {}
    previous_ts: float | None = None
    for ts, frame, i, message in merged:
        folded = _fold_target(arrows, message, i) if fold and message.retransmission else None
        if folded is not None:
            folded.repeats += 1
            arrow_of_frame[frame] = folded
            continue
        delta = None if previous_ts is None else max(0.0, ts - previous_ts)
        previous_ts = ts
        arrow = Arrow(message, i, lanes[message.src], lanes[message.dst], delta)
        arrows.append(arrow)
        arrow_of_frame[frame] = arrow
    findings: list[CallFinding] = []
    by_frame = {m.frame: m for _, _, _, m in merged}
    for c in chosen:
        for finding in c.findings:
            pin = _pin_frame(finding, by_frame)
            findings.append(finding)
            if pin is not None:
                arrow_of_frame[pin].pins.append(len(findings) - 1)
    return Ladder(chosen, elements, arrows, findings)


def _fold_target(arrows: list[Arrow], message: CallMessage, call: int) -> Arrow | None:
    for arrow in reversed(arrows[-FOLD_LOOKBACK:]):
        seen = arrow.message
        if (
            arrow.call == call
            and seen.src == message.src
            and seen.dst == message.dst
            and seen.label == message.label
            and seen.cseq == message.cseq
            and seen.method == message.method
        ):
            return arrow
    return None
