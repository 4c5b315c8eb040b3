"""Choosing a renderer for a command: the only place a rich Console is created for output.

Also where writing the output can fail. Standard output is the operator's: a full disk
(``> /dev/full``) is an operator error, one line and exit 2, and a reader that went away
(``| head -1``) is the normal end of a pipeline, not an error at all. :func:`guard_output` wraps
the stream every command writes to so that both are told apart from a failure anywhere else
(an ``OSError`` reading a capture means something else entirely).
"""

from __future__ import annotations

import contextlib
import errno
import os
from collections.abc import Mapping
from typing import IO, Any, Protocol, TextIO, cast

from rich.console import Console

from sipwatch.errors import SipwatchError
from sipwatch.records import Record, Summary
from sipwatch.render.jsonl import JsonlRenderer
from sipwatch.render.terminal import TerminalRenderer


class Renderer(Protocol):
    def record(self, record: Record) -> None: ...

    def summary(self, summary: Summary) -> None: ...


class _Console(Console):
    """A rich Console that lets a broken pipe reach the command.

    rich's own handling exits the process with status 1 on the spot; the command decides
    instead (``pcap`` stops quietly with 0 as ``live`` does, ``check`` keeps its verdict).
    """

    def on_broken_pipe(self) -> None:
        self.quiet = True
        raise BrokenPipeError(errno.EPIPE, os.strerror(errno.EPIPE))


def resolve_color(color: bool | None, environ: Mapping[str, str] | None = None) -> bool | None:
    """Whether to colour: ``--color``/``--no-color`` win, then the environment, then the terminal.

    ``NO_COLOR`` with any non-empty value turns colour off (https://no-color.org), and
    ``FORCE_COLOR`` with any non-empty value turns it on even into a pipe (the convention
    rich, npm and pytest follow); when both are set, ``NO_COLOR`` wins, since asking for no
    colour is the safer reading. ``None`` leaves the decision to whether ``out`` is a terminal.
    """
    if color is not None:
        return color
    env = os.environ if environ is None else environ
    if env.get("NO_COLOR", ""):
        return False
    if env.get("FORCE_COLOR", ""):
        return True
    return None


def make_console(out: IO[str], color: bool | None = None, width: int | None = None) -> Console:
    """A console on ``out``; colour follows :func:`resolve_color` (flag, environment, terminal).

    ``markup`` and ``emoji`` are off and highlighting is disabled: nothing printed through this
    console is ever interpreted, whatever a header contains. Lines are soft-wrapped (left to the
    terminal), so a timeline piped into a file or ``grep`` keeps one line per message.
    """
    color = resolve_color(color)
    return _Console(
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
    fmt: str,
    out: IO[str],
    color: bool | None = None,
    flush: bool = False,
    time_format: str = "abs",
) -> Renderer:
    """The renderer for ``--format``; ``time_format`` is ``--time`` (the timeline's column;
    JSON lines always carry epoch seconds)."""
    if fmt == "jsonl":
        return JsonlRenderer(out, flush=flush)
    # Fitted to the width only on a real terminal: a file or a pipe keeps one line per message
    # (even coloured with --color or FORCE_COLOR, e.g. for less -R).
    isatty = getattr(out, "isatty", None)
    fit = bool(isatty()) if callable(isatty) else False
    return TerminalRenderer(make_console(out, color), time_format=time_format, fit=fit)


class OutputError(SipwatchError):
    """The command's output could not be written (no space left, an I/O error)."""


def silence(out: IO[str]) -> None:
    """Point a dead output at /dev/null so later writes, and the interpreter's final flush of
    whatever is still buffered, cannot fail a second time (with a traceback at exit)."""
    with contextlib.suppress(OSError, ValueError, AttributeError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, out.fileno())
        os.close(devnull)


class _GuardedOutput:
    """``out`` with its write failures made explicit (see :func:`guard_output`).

    Everything but writing is delegated, so rich and the renderers see the same stream (its
    ``isatty``, ``encoding``, ``fileno``).
    """

    def __init__(self, out: IO[str], keep_going: bool) -> None:
        self._out = out
        self._keep_going = keep_going
        self._closed = False

    def write(self, text: str) -> int:
        if self._closed:
            return len(text)
        try:
            return self._out.write(text)
        except OSError as exc:
            self._failed(exc)
            return len(text)

    def writelines(self, lines: Any) -> None:
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        if self._closed:
            return
        try:
            self._out.flush()
        except OSError as exc:
            self._failed(exc)

    def _failed(self, exc: OSError) -> None:
        silence(self._out)
        if isinstance(exc, BrokenPipeError) and self._keep_going:
            self._closed = True
            return
        if isinstance(exc, BrokenPipeError):
            raise exc
        raise OutputError(f"cannot write the output: {exc.strerror or exc}") from None

    def __getattr__(self, name: str) -> Any:
        return getattr(self._out, name)


def guard_output(out: IO[str], keep_going: bool = False) -> TextIO:
    """``out`` whose write errors tell the operator what happened instead of a traceback.

    Any ``OSError`` but a broken pipe becomes :class:`OutputError` ("cannot write the output:
    No space left on device"; exit 2 through the CLI). A broken pipe means the reader has all
    it wanted: ``BrokenPipeError`` is raised for the command to stop quietly, or with
    ``keep_going`` the rest of the output is dropped and the command runs to its end (``check``,
    whose exit code is the verdict a CI job needs even when its output was cut short). Either
    way ``out`` is then pointed at /dev/null (:func:`silence`).
    """
    return cast(TextIO, _GuardedOutput(out, keep_going))
