"""``sipwatch live --calls`` on a terminal: the call list as a live display.

Instead of the message timeline, the screen shows the most recent calls (one row each, as
``sipwatch calls`` prints them), the totals and the status line, redrawn a few times a second
by the live loop (no refresh thread, like the status line).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Final

from rich.console import Console, Group
from rich.live import Live
from rich.text import Text

from sipwatch.calls.model import Call
from sipwatch.calls.select import CallTotals, sort_calls
from sipwatch.records import Record, Summary
from sipwatch.render.calls_table import calls_lines, totals_line
from sipwatch.render.status import LiveStatus, status_text
from sipwatch.render.terminal import TerminalRenderer

#: Seconds between two redraws of the table (four a second).
REDRAW_EVERY: Final = 0.25


def calls_view(calls: Sequence[Call], width: int, height: int) -> Text:
    """The newest calls that fit ``height`` lines (header, rule, rows, totals)."""
    rows = max(1, height - 4)
    ordered = sort_calls(calls, "time")
    shown = ordered[-rows:]
    lines = calls_lines(shown, width)
    view = Text("\n").join([*lines, totals_line(CallTotals.of(ordered), shown=len(shown))])
    return view


class CallsLiveDisplay:
    """A status display that draws the call list above the status line."""

    def __init__(self, console: Console, calls: Callable[[], Sequence[Call]]) -> None:
        self._console = console
        self._calls = calls
        self._next = 0.0
        self._live = Live(
            Text(""),
            console=console,
            auto_refresh=False,
            transient=True,
            redirect_stdout=False,
            redirect_stderr=False,
        )
        self._live.start()

    def update(self, status: LiveStatus) -> None:
        now = time.monotonic()
        if now < self._next and not status.stopping:
            return
        self._next = now + REDRAW_EVERY
        width, height = self._console.width, self._console.height
        view = calls_view(self._calls(), width, height - 1)
        self._live.update(Group(view, status_text(status)), refresh=True)

    def close(self) -> None:
        self._live.stop()


class SummaryOnly:
    """The renderer behind the live call list: records are not printed, the summary is."""

    def __init__(self, console: Console) -> None:
        self._terminal = TerminalRenderer(console)

    def record(self, record: Record) -> None:
        return None

    def summary(self, summary: Summary) -> None:
        self._terminal.summary(summary)
