"""``sipwatch ladder FILE --call-id PREFIX | --frame N``: the ladder of one call."""

from __future__ import annotations

from typing import IO

from sipwatch.calls import Call
from sipwatch.calls.ladder import build_ladder
from sipwatch.commands.calls import read_calls
from sipwatch.errors import SipwatchError
from sipwatch.pipeline import PipelineOptions


def pick_calls(calls: list[Call], call_id: str | None, frame: int | None) -> list[Call]:
    """The calls asked for: by Call-ID prefix (every match) or the call holding a frame."""
    if frame is not None:
        chosen = [c for c in calls if frame in c.frames]
        if not chosen:
            raise SipwatchError(f"frame {frame} holds no SIP message of a call")
        return chosen[:1]
    if not call_id:
        raise SipwatchError("name the call: --call-id PREFIX or --frame N")
    chosen = [c for c in calls if c.call_id.startswith(call_id)]
    if not chosen:
        raise SipwatchError(f"no call's Call-ID starts with {call_id!r}")
    return chosen


def run_ladder(
    path: str,
    options: PipelineOptions,
    call_id: str | None,
    frame: int | None,
    related: bool,
    out: IO[str],
    color: bool | None = None,
) -> int:
    from sipwatch.render.ladder import show_ladder
    from sipwatch.render.output import make_console

    if call_id is None and frame is None:
        raise SipwatchError("name the call: --call-id PREFIX or --frame N")
    (capture,) = read_calls([path], options)
    by_id = {c.call_id: c for c in capture.calls}
    console = make_console(out, color)
    shown: set[str] = set()
    for call in pick_calls(capture.calls, call_id, frame):
        if call.call_id in shown:
            continue
        ladder = build_ladder(call, by_id, related)
        shown.update(c.call_id for c in ladder.calls)
        if len(shown) > len(ladder.calls):
            console.print()
        show_ladder(console, ladder)
    out.flush()
    return 0
