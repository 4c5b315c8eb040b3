"""Choosing a renderer for a command: the only place a rich Console is created for output."""

from __future__ import annotations

from typing import IO, Protocol

from rich.console import Console

from sipwatch.records import Record, Summary
from sipwatch.render.jsonl import JsonlRenderer
from sipwatch.render.terminal import TerminalRenderer


class Renderer(Protocol):
    def record(self, record: Record) -> None: ...

    def summary(self, summary: Summary) -> None: ...


def make_console(out: IO[str], color: bool | None = None, width: int | None = None) -> Console:
    """A console on ``out``; colour follows the terminal unless forced on or off.

    ``markup`` and ``emoji`` are off and highlighting is disabled: nothing printed through this
    console is ever interpreted, whatever a header contains. Lines are soft-wrapped (left to the
    terminal), so a timeline piped into a file or ``grep`` keeps one line per message.
    """
    return Console(
        file=out,
        force_terminal=color,
        no_color=color is False,
        color_system="auto" if color is not False else None,
        markup=False,
        emoji=False,
        highlight=False,
        width=width,
        soft_wrap=True,
    )


def make_renderer(
    fmt: str, out: IO[str], color: bool | None = None, flush: bool = False
) -> Renderer:
    if fmt == "jsonl":
        return JsonlRenderer(out, flush=flush)
    return TerminalRenderer(make_console(out, color))
