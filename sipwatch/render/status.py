"""The status line of ``sipwatch live``: how the capture is going, while records scroll above.

On a terminal in text mode it is a one-line ``rich.live.Live`` display at the bottom of the
screen (elapsed time, messages per second, calls, transfers in progress, findings, drops);
records printed through the same console appear above it. It is *not* shown when the output
is JSON lines or not a terminal: a status line redrawn with cursor movements would corrupt a
machine-read stream or a log file. There, the same line can instead be written to stderr every
N seconds (``--status-every``), plain text, one line each time.

The display is refreshed by the caller (``auto_refresh=False``): no extra thread competes with
the capture for the interpreter, and refreshes are throttled to a few per second.
"""

from __future__ import annotations

import io
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import IO, Protocol

from rich.live import Live
from rich.table import Table
from rich.text import Text

from sipwatch.render.jsonl import SCHEMA_VERSION, dumps
from sipwatch.render.output import Renderer, make_console, make_renderer
from sipwatch.render.safe import inert
from sipwatch.render.terminal import TerminalRenderer

#: Seconds between redraws of the terminal status line at most.
REFRESH_EVERY = 0.25


@dataclass(slots=True)
class LiveStatus:
    """A snapshot of a live session for the status line."""

    source: str
    elapsed: float
    messages: int = 0
    rate: float = 0.0
    calls: int = 0
    transfers_in_progress: int = 0
    findings: int = 0
    drops: dict[str, int] = field(default_factory=dict)
    stopping: bool = False


def elapsed_text(seconds: float) -> str:
    """``H:MM:SS`` (hours unbounded): a capture can run for days."""
    whole = max(0, int(seconds))
    return f"{whole // 3600}:{whole % 3600 // 60:02d}:{whole % 60:02d}"


def _drops_text(drops: dict[str, int]) -> str:
    return ", ".join(f"{name} {count}" for name, count in drops.items()) or "none"


def status_line(status: LiveStatus) -> str:
    """The status as one plain line (the stderr form, and the text of the terminal form)."""
    state = "stopping" if status.stopping else "live"
    return (
        f"{state} {inert(status.source)} {elapsed_text(status.elapsed)} | "
        f"{status.rate:.0f} msg/s | {status.messages} messages | {status.calls} calls | "
        f"{status.transfers_in_progress} transfers in progress | {status.findings} findings | "
        f"drops: {_drops_text(status.drops)}"
    )


def status_text(status: LiveStatus) -> Text:
    """The terminal form: the same facts, with drops and findings standing out when non-zero."""
    text = Text()
    if status.stopping:
        text.append("■ stopping ", style="bold yellow")
    else:
        text.append("● live ", style="bold red")
    text.append(inert(status.source), style="bold")
    text.append(f" {elapsed_text(status.elapsed)}", style="dim")
    text.append(f" │ {status.rate:.0f} msg/s │ {status.messages} messages │ {status.calls} calls")
    text.append(f" │ {status.transfers_in_progress} transfers in progress │ ")
    text.append(f"{status.findings} findings", style="bold yellow" if status.findings else "")
    text.append(" │ drops: ")
    dropped = any(status.drops.values())
    text.append(_drops_text(status.drops), style="bold red" if dropped else "")
    return text


class StatusDisplay(Protocol):
    def update(self, status: LiveStatus) -> None: ...

    def close(self) -> None: ...


class NoStatus:
    """No status at all (JSON lines or a pipe without ``--status-every``)."""

    def update(self, status: LiveStatus) -> None:
        return None

    def close(self) -> None:
        return None


class StreamStatus:
    """Writes :func:`status_line` to a stream (stderr) every ``every`` seconds."""

    def __init__(self, stream: IO[str], every: float) -> None:
        self._stream = stream
        self._every = every
        self._next = time.monotonic() + every

    def update(self, status: LiveStatus) -> None:
        now = time.monotonic()
        if now < self._next:
            return
        self._next = now + self._every
        self._stream.write("sipwatch: " + status_line(status) + "\n")
        self._stream.flush()

    def close(self) -> None:
        return None


class TerminalStatus:
    """A ``rich.live.Live`` line at the bottom of the terminal; records print above it."""

    def __init__(self, live: Live) -> None:
        self._live = live
        self._next = 0.0
        live.start()

    def update(self, status: LiveStatus) -> None:
        now = time.monotonic()
        if now < self._next and not status.stopping:
            return
        self._next = now + REFRESH_EVERY
        self._live.update(status_text(status), refresh=True)

    def close(self) -> None:
        # transient: the line disappears, so the summary follows the last record directly.
        self._live.stop()


class FlushFirst:
    """A status display whose :meth:`close` first writes the records a renderer still holds.

    A renderer in batch mode keeps its records until the loop flushes it; whatever ends the
    session (its end, an exception) closes the status, and those records must not be lost, nor
    be printed after a terminal status line was taken down by something else.
    """

    def __init__(self, status: StatusDisplay, flush: Callable[[], None]) -> None:
        self._status = status
        self._flush = flush

    def update(self, status: LiveStatus) -> None:
        self._status.update(status)

    def close(self) -> None:
        try:
            self._flush()
        finally:
            self._status.close()


class BatchedText(io.StringIO):
    """Collects rendered text and hands it to ``out`` in one write per :meth:`flush`.

    The live loop flushes after each batch of frames, which is as immediate for whoever reads
    the output and costs one write system call per batch instead of one per line. ``out`` may
    well be unbuffered (``python -u``, ``PYTHONUNBUFFERED``: every ``write`` is a system call),
    so buffering cannot be left to it.
    """

    def __init__(self, out: IO[str]) -> None:
        super().__init__()
        self._target = out

    def flush(self) -> None:
        text = self.getvalue()
        if text:
            self.seek(0)
            self.truncate()
            self._target.write(text)
        self._target.flush()

    def isatty(self) -> bool:
        return False


@dataclass(slots=True)
class LiveOutput:
    """Where a live session's records and status go, and how to push them out."""

    renderer: Renderer
    status: StatusDisplay
    flush: Callable[[], None]


def open_live_output(
    fmt: str,
    out: IO[str],
    err: IO[str],
    color: bool | None = None,
    status_every: float = 0.0,
    time_format: str = "abs",
) -> LiveOutput:
    """The renderer for a live session, where its status goes, and the flush of its output.

    A terminal in text mode gets the status line (sharing the renderer's console, so records
    print above it; the renderer keeps each batch's records and prints them at once when the
    loop flushes). Otherwise records are rendered as for ``pcap`` into a :class:`BatchedText`
    that the loop flushes after each batch, and the status goes to ``err`` every
    ``status_every`` seconds, or nowhere when 0. Either way the status display, when closed,
    first writes what the renderer still holds (:class:`FlushFirst`).
    """
    isatty = getattr(out, "isatty", None)
    terminal = bool(isatty()) if callable(isatty) else False
    if fmt == "text" and terminal:
        console = make_console(out, color)
        live = Live(
            Text(""),
            console=console,
            auto_refresh=False,
            transient=True,
            redirect_stdout=False,
            redirect_stderr=False,
        )
        # Batched: one print per batch of packets, so the status line is redrawn once per batch
        # instead of once per line (a burst would otherwise spend its time redrawing it).
        timeline = TerminalRenderer(console, batch=True, time_format=time_format, fit=True)
        status = FlushFirst(TerminalStatus(live), timeline.flush)
        return LiveOutput(timeline, status, timeline.flush)
    batched = BatchedText(out)
    shown: StatusDisplay = StreamStatus(err, status_every) if status_every > 0 else NoStatus()
    if fmt == "text":
        # The renderer keeps the batch's records and writes them at once into ``batched``
        # (whose flush is the one write to ``out``); it flushes its console's file, ``batched``.
        text = TerminalRenderer(make_console(batched, color), batch=True, time_format=time_format)
        return LiveOutput(text, FlushFirst(shown, text.flush), text.flush)
    renderer = make_renderer(fmt, batched, color, flush=False)
    return LiveOutput(renderer, shown, batched.flush)


class InterfaceRow(Protocol):
    """What ``sipwatch interfaces`` shows of an interface (``capture.interfaces.Interface``)."""

    @property
    def name(self) -> str: ...
    @property
    def up(self) -> bool: ...
    @property
    def addresses(self) -> tuple[str, ...]: ...
    @property
    def loopback(self) -> bool: ...
    @property
    def state(self) -> str: ...
    @property
    def description(self) -> str: ...


def show_interfaces(rows: Sequence[InterfaceRow], out: IO[str], fmt: str = "text") -> None:
    """The interface list: a table for people, or one JSON object per interface."""
    if fmt == "jsonl":
        for row in rows:
            obj = {
                "schema": SCHEMA_VERSION,
                "type": "interface",
                "name": row.name,
                "up": row.up,
                "state": row.state,
                "loopback": row.loopback,
                "addresses": list(row.addresses),
            }
            out.write(dumps(obj) + "\n")
        out.flush()
        return
    table = Table(box=None, pad_edge=False, show_header=True, header_style="bold")
    table.add_column("interface")
    table.add_column("state")
    table.add_column("addresses")
    for row in rows:
        state = Text("up" if row.up else "down", style="green" if row.up else "red")
        if row.up and row.state == "down":
            state = Text("up, no carrier", style="yellow")
        notes = list(row.addresses)
        if row.description:
            notes.append(row.description)
        elif row.loopback:
            notes.append("loopback")
        table.add_row(Text(inert(row.name)), state, Text(inert(", ".join(notes))))
    make_console(out).print(table)
