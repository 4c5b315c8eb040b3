"""Terminal renderer: a timeline line per SIP message, annotations under notable ones,
and a closing summary.

Wire text is never interpreted as rich markup: every line is assembled from ``rich.text.Text``
pieces whose content went through :func:`sipwatch.render.safe.inert`. Colours follow the response
class so a wall of red stands out during an incident.
"""

from __future__ import annotations

import datetime
import math
import re
import time
from collections.abc import Mapping
from typing import Any, Final

from rich.console import Console
from rich.segment import Segment
from rich.style import Style
from rich.text import Text

from sipwatch.media.model import StreamReport
from sipwatch.records import (
    FindingRecord,
    MalformedRecord,
    MessageRecord,
    Record,
    StreamRecord,
    Summary,
)
from sipwatch.render.fit import Piece, fit_line
from sipwatch.render.safe import inert, inert_bytes
from sipwatch.render.segment_writer import SegmentWriter

_CLASS_STYLE = {1: "cyan", 2: "green", 3: "yellow", 4: "red", 5: "bold red", 6: "bold magenta"}
_SEVERITY_STYLE = {"info": "cyan", "warning": "yellow", "error": "bold red"}
_URI_LIMIT = 60
_TEXT_LIMIT = 2000
#: Annotations hang under the message line, indented past the frame and time columns.
_INDENT = 9
#: Wrapped blocks kept (per text and width); the cache starts over when full.
_BLOCK_CACHE = 2048
#: What ``Text`` would not pass through as is: tabs are expanded, newlines split the line, and
#: bell, backspace, vertical tab, form feed and carriage return are stripped.
_LAYOUT = re.compile("[\a\b\t\n\v\f\r]")
_NEWLINE = Segment.line()
_EPOCH = datetime.date(1970, 1, 1)
_JOIN = Text("")


def clock(ts: float) -> str:
    """``HH:MM:SS.mmm`` in UTC: captures from several sites line up, tests are deterministic.

    Only the time of day is shown, so it is taken modulo one day: a capture's timestamps are
    data (a pcapng interface may declare any offset), and ``gmtime`` refuses years past 9999.
    """
    if not math.isfinite(ts):
        return "--:--:--.---"
    whole = math.floor(ts)
    millis = round((ts - whole) * 1000)
    if millis == 1000:
        whole, millis = whole + 1, 0
    return time.strftime("%H:%M:%S", time.gmtime(whole % 86400)) + f".{millis:03d}"


#: ``--time`` values, as tshark's ``-t a``, ``-t r`` and ``-t dd``.
TIME_FORMATS: Final = ("abs", "rel", "delta")


def day(ts: float) -> str | None:
    """``YYYY-MM-DD`` (UTC) of ``ts``, or None outside years 1-9999: such a timestamp is data
    (a pcapng interface may declare any offset) and is shown as the time of day it denotes."""
    try:
        return (_EPOCH + datetime.timedelta(days=math.floor(ts / 86400))).isoformat()
    except (OverflowError, ValueError):
        return None


def seconds(value: float) -> str:
    """Seconds with milliseconds, right-aligned in the width of :func:`clock`."""
    if not math.isfinite(value):
        return f"{'--':>12}"
    return f"{value:>12.3f}"


class TimeColumn:
    """The time column of the timeline, in one of the :data:`TIME_FORMATS`.

    * ``abs``: the time of day in UTC (:func:`clock`); the date (``2026-11-25 23:36:57.378``)
      on the first line of each capture and on every line whose date differs from the line
      before, so a capture spanning midnight or several days never reads as one day.
    * ``rel``: seconds since the first message shown of the capture.
    * ``delta``: seconds since the message shown before (0 for the first).

    :meth:`restart` starts a capture afresh (``pcap`` renders several files in turn).
    """

    def __init__(self, mode: str = "abs") -> None:
        if mode not in TIME_FORMATS:
            raise ValueError(f"unknown time format {mode!r}")
        self.mode = mode
        self._first: float | None = None
        self._previous: float | None = None
        self._day: str | None = None
        #: The UTC day of the last line, as [start, end) in epoch seconds: most lines fall in
        #: it, and then the date is neither computed nor shown.
        self._span = (math.inf, -math.inf)

    def restart(self) -> None:
        self._first = self._previous = self._day = None
        self._span = (math.inf, -math.inf)

    def text(self, ts: float) -> str:
        if self.mode == "abs":
            shown = clock(ts)
            start, end = self._span
            if start <= ts < end or not math.isfinite(ts):
                return shown
            days = math.floor(ts / 86400)
            self._span = (days * 86400.0, (days + 1) * 86400.0)
            date = day(ts)
            if date is not None and date != self._day:
                self._day = date
                return f"{date} {shown}"
            return shown
        if self._first is None:
            self._first = self._previous = ts
        previous = self._previous if self._previous is not None else ts
        self._previous = ts
        if self.mode == "rel":
            return seconds(ts - self._first)
        return seconds(ts - previous)


def short_call_id(call_id: str) -> str:
    """First 8 characters of the Call-ID: enough to tell calls apart on one screen."""
    return inert(call_id[:8]) if call_id else "-"


class TerminalRenderer:
    """Renders records to a rich console (a real terminal or a StringIO in tests).

    Each record is built as rich Segments by hand and written with one write
    (:class:`~sipwatch.render.segment_writer.SegmentWriter`) instead of one ``Console.print``
    per line: the output is byte for byte what printing the same ``Text`` lines would give
    (tests/test_render_fast.py holds the two side by side), at a fraction of the cost.

    * The timeline line has no wrapping or cropping (soft wrap), so its Segments are its pieces
      with their console styles; a piece holding a character the Text engine would lay out
      (tab, newline, a stripped control code) cannot come out of :func:`inert`, but would still
      be rendered through rich's own layout.
    * Annotations, notes and findings are wrapped by rich (``render_lines``) and the result is
      kept per text and width: the same explanation hangs under hundreds of messages.

    The console's width is measured for each record that has something to wrap; a bare line
    reuses the last measurement, which then only decides whether the console is too narrow to
    print anything at all (width < 1, as ``Console.print`` does).

    ``batch=True`` keeps the records until :meth:`flush` (the live loop calls it after each
    batch of packets), so a ``rich.live.Live`` status line is redrawn once per batch rather than
    once per line; otherwise each record is written and flushed as soon as it is rendered.
    """

    def __init__(
        self,
        console: Console,
        show_findings: bool = True,
        *,
        batch: bool = False,
        time_format: str = "abs",
        fit: bool = False,
    ) -> None:
        self.console = console
        self.times = TimeColumn(time_format)
        #: Fit each line to the console's width (a terminal): see :mod:`sipwatch.render.fit`.
        self.fit = fit
        self.show_findings = show_findings
        self._batch = batch
        self._writer = SegmentWriter(console)
        self._pending: list[Segment] = []
        self._styles: dict[str, Style | None] = {"": None}
        self._width = console.width  # as last measured
        self._blocks: dict[tuple[tuple[Piece, ...], str, int, int], list[Segment]] = {}

    # -- per record ------------------------------------------------------------------------

    def record(self, record: Record) -> None:
        if isinstance(record, MessageRecord):
            self.message(record)
        elif isinstance(record, MalformedRecord):
            self.malformed(record)
        elif isinstance(record, StreamRecord):
            self.stream(record)
        elif self.show_findings:
            self.finding(record)

    def message(self, record: MessageRecord) -> None:
        msg = record.msg
        # Measuring the console costs system calls (rich asks each standard stream for its
        # terminal size); only wrapped blocks need the width, a bare line only its sign.
        if self.fit or record.annotation or record.notes or msg.warnings:
            width = self._width = self.console.width
        else:
            width = self._width
        if width < 1:  # Console.print renders nothing at all on a console this narrow
            return
        line: list[Piece] = [
            (f"{record.frame:>6} ", "dim"),
            (self.times.text(record.ts) + " ", "dim"),
            (f"{inert(record.src)} → {inert(record.dst)} ", ""),
            (f"{record.transport.upper():<4} ", "dim"),
        ]
        elidable = len(line) + 1  # the Request-URI, or the reason phrase
        if msg.kind == "request":
            line.append((inert(msg.method, 32), "bold"))
            line.append((" " + inert(msg.uri, _URI_LIMIT), ""))
        else:
            style = _CLASS_STYLE.get(msg.status // 100, "")
            if self.fit:  # the code and the phrase apart, so that only the phrase is elided
                line.append((str(msg.status), style))
                line.append((" " + inert(msg.reason, 60), style))
            else:
                line.append((f"{msg.status} {inert(msg.reason, 60)}", style))
        cseq_num, cseq_method = msg.cseq
        line.append((f"  [{short_call_id(msg.call_id)}]", "dim"))
        line.append((f" {cseq_num} {inert(cseq_method, 32)}", "dim"))
        if record.retransmission:
            line.append(("  (retransmission)", "dim italic"))
        elif record.icmp is not None:
            reporter = inert(str(record.icmp.get("from", "")), 64)
            line.append((f"  (quoted in an ICMP error from {reporter})", "dim italic"))
        if record.agent is not None:  # reported over HEP: which capture agent saw it
            line.append((f"  [agent {inert(record.agent, 40)}]", "dim"))
        if record.context:  # the request a shown response answers: greyed, nothing under it
            self._fitted([(text, "dim") for text, _ in line], width, elidable)
            self._done()
            return
        self._fitted(line, width, elidable)
        if record.annotation:
            self._annotation(record.annotation, width)
        for note in record.notes:
            self._block((("↳ " + inert(note, _TEXT_LIMIT), ""),), width, style="italic")
        for warning in msg.warnings:  # what the parser tolerated (RFC violations by the sender)
            self._block((("⚠ " + inert(warning, _TEXT_LIMIT), ""),), width, style="yellow")
        self._done()

    def _style(self, name: str) -> Style | None:
        """The console's Style for a style name (its theme first, as ``Text.render`` does)."""
        style = self._styles.get(name)
        if style is None and name not in self._styles:
            style = self._styles[name] = self.console.get_style(name, default=Style.null())
        return style

    def _fitted(self, pieces: list[Piece], width: int, elidable: int | None) -> None:
        """The line, fitted to ``width`` when :attr:`fit` is on (else one line, as it is)."""
        if not self.fit:
            self._line(pieces)
            return
        for line in fit_line(pieces, width, elidable):
            self._line(line)

    def _line(self, pieces: list[Piece]) -> None:
        """One soft-wrapped line (``print(Text, soft_wrap=True)``): pieces, then a newline."""
        pending = self._pending
        if _LAYOUT.search("".join(text for text, _ in pieces)) is None:
            styles = self._styles
            for text, name in pieces:
                style = styles[name] if name in styles else self._style(name)
                pending.append(Segment(text, style))
            pending.append(_NEWLINE)
            return
        # What print does with a Text: joined with its end, laid out unwrapped and uncropped.
        line = Text()
        for text, name in pieces:
            line.append(text, style=name or None)
        joined = Text(" ", end="\n").join([line])
        options = self.console.options.update(
            justify=None, overflow="ignore", height=None, no_wrap=True, markup=None, highlight=None
        )
        pending.extend(self.console.render(joined, options))

    def _block(
        self, pieces: tuple[Piece, ...], width: int, extra_indent: int = 0, style: str = ""
    ) -> None:
        """``pieces`` wrapped to the console width, indented under the message line.

        Lines are rendered without padding so files and pipes get no trailing blanks.
        """
        indent = _INDENT + extra_indent
        wrap = max(20, width - indent)
        key = (pieces, style, indent, wrap)
        segments = self._blocks.get(key)
        if segments is None:
            segments = self._wrap(pieces, style, indent, wrap)
            if len(self._blocks) >= _BLOCK_CACHE:
                self._blocks.clear()
            self._blocks[key] = segments
        if indent + wrap > width and not self.console.soft_wrap:  # print would crop each line
            for cropped in Segment.split_and_crop_lines(segments, width, pad=False):
                self._pending.extend(cropped)
        else:
            self._pending.extend(segments)

    def _wrap(self, pieces: tuple[Piece, ...], style: str, indent: int, wrap: int) -> list[Segment]:
        """rich's word wrap of the block (the rare path: blocks repeat and are kept).

        What ``render_lines`` does for a ``Text`` at this width, minus its per-call work: the
        Text is wrapped as its ``__rich_console__`` would (default justify, fold overflow, the
        console's tab size), and each line joined and rendered alone, which gives the same
        Segments as rendering all the lines joined and splitting them again. Folded lines never
        exceed the width, so there is nothing to crop. Text the layout engine would treat
        specially (tabs, newlines) takes ``render_lines`` itself.
        """
        console = self.console
        text = Text(style=style)
        for part, name in pieces:
            text.append(part, style=name or None)
        margin = Segment(" " * indent)
        segments: list[Segment] = []
        if _LAYOUT.search(text.plain) is None:
            tab_size = console.tab_size or 8
            wrapped = text.wrap(
                console, wrap, justify="default", overflow="fold", tab_size=tab_size
            )
            # Joined as rich joins them: a line's own style becomes a span (render ignores it).
            lines = [list(_JOIN.join((line,)).render(console)) for line in wrapped]
        else:
            lines = console.render_lines(text, console.options.update_width(wrap), pad=False)
        for line in lines:
            if line and line[-1].text.endswith(" "):  # the space the wrap broke at
                last = line.pop()
                line.append(Segment(last.text.rstrip(" "), last.style))
            segments.append(margin)
            segments.extend(line)
            segments.append(_NEWLINE)
        return segments

    def _annotation(self, annotation: dict[str, Any], width: int) -> None:
        code = annotation.get("code")
        heading = inert(str(annotation.get("title", "")))
        # Requests have no code: their annotation is titled by the method alone.
        title: tuple[Piece, ...] = (
            ("↳ ", ""),
            (heading if code is None else f"{code} {heading}", "bold"),
        )
        summary = annotation.get("summary")
        if summary:
            title += ((" — " + inert(str(summary), _TEXT_LIMIT), ""),)
        self._block(title, width)
        diagnosis = annotation.get("diagnosis")
        if diagnosis and diagnosis != summary:
            self._block((("why: " + inert(str(diagnosis), _TEXT_LIMIT), ""),), width, 2)
        remedy = annotation.get("remedy")
        if remedy:
            self._block((("fix: " + inert(str(remedy), _TEXT_LIMIT), ""),), width, 2)

    def malformed(self, record: MalformedRecord) -> None:
        width = self._width = self.console.width
        if width < 1:
            return
        self._fitted(
            [
                (f"{record.frame:>6} ", "dim"),
                (self.times.text(record.ts) + " ", "dim"),
                (f"{inert(record.src)} → {inert(record.dst)} ", ""),
                (f"{record.transport.upper():<4} ", "dim"),
                ("MALFORMED ", "bold red"),
                (inert(record.reason, 120), ""),
            ],
            width,
            5,
        )
        self._block((("↳ " + inert_bytes(record.raw, 100), ""),), width, style="dim")
        self._done()

    def finding(self, record: FindingRecord) -> None:
        width = self._width = self.console.width
        if width < 1:
            return
        data = record.data
        severity = str(data.get("severity", "info"))
        line: tuple[Piece, ...] = (("◆ ", ""),)
        if data.get("revises") is not None:
            # Live: a later message changed an earlier verdict; this one replaces it.
            line += ((f"revised (finding #{inert(str(data['revises']), 12)}): ", "bold"),)
        line += (
            (f"{severity.upper()} ", _SEVERITY_STYLE.get(severity, "")),
            (inert(record.kind), "bold"),
        )
        if data.get("id") is not None:
            line += ((f" #{inert(str(data['id']), 12)}", "dim"),)
        outcome = data.get("outcome")
        if outcome:
            line += ((f" ({inert(str(outcome))})", "bold"),)
        line += ((": " + inert(str(data.get("text", "")), _TEXT_LIMIT), ""),)
        self._block(line, width, -2)
        remedy = data.get("remedy")
        if remedy:
            self._block((("fix: " + inert(str(remedy), _TEXT_LIMIT), ""),), width, 2)
        self._done()

    def stream(self, record: StreamRecord) -> None:
        """One closed RTP stream: the media line of its call (numbers per RFC 3550 A.3/A.8)."""
        width = self._width = self.console.width
        if width < 1:
            return
        s = record.stream
        guess = " (guess: no SDP)" if s.origin == "guess" else ""
        mos = f", MOS ≈ {s.mos_estimate:.2f} (estimate)" if s.mos_estimate is not None else ""
        codec = inert(s.codec) if s.codec else f"PT {s.payload_type}"
        call = f" (call {short_call_id(inert(s.call_id))})" if s.call_id else ""
        line: tuple[Piece, ...] = (
            ("♪ ", ""),
            ("RTP ", "bold"),
            (f"{inert(s.src)} → {inert(s.dst)} ", ""),
            (f"{codec} SSRC 0x{s.ssrc:08X}{guess}{call}: ", "dim"),
            (
                f"{s.packets} packets, {s.lost} lost of {s.expected}, jitter "
                f"{s.jitter_mean_ms:.3f}/{s.jitter_max_ms:.3f} ms mean/max{mos}",
                "",
            ),
        )
        self._block(line, width, -2)
        self._done()

    # -- output ----------------------------------------------------------------------------

    def _done(self) -> None:
        """A record is complete: out it goes, unless records are batched."""
        if not self._batch:
            self._emit(flush=True)

    def _emit(self, flush: bool) -> None:
        pending = self._pending
        if pending:
            self._pending = []
            self._writer.write(pending, flush=flush)
        elif flush:
            self._writer.write(pending, flush=True)

    def flush(self) -> None:
        """Write the records kept so far (``batch=True``) and flush the console's file."""
        self._emit(flush=True)

    # -- summary ---------------------------------------------------------------------------

    def summary(self, summary: Summary) -> None:
        self._emit(flush=False)  # the records before it, in order
        self.times.restart()  # the next capture's first line shows its own date again
        console = self.console
        console.print()
        head = Text("Summary", style="bold")
        if summary.source:
            head.append(" of " + inert(summary.source))
        console.print(head)
        shown = f" ({summary.shown} shown)" if summary.shown != summary.messages else ""
        rows: list[tuple[str, Text]] = [
            ("frames", Text(str(summary.frames))),
            ("SIP messages", Text(f"{summary.messages}{shown}")),
            ("calls (Call-IDs)", Text(str(summary.calls))),
            *_time_span(summary),
            ("requests", _counts(summary.requests_by_method)),
            ("responses", _counts({str(k): v for k, v in summary.responses_by_status.items()})),
        ]
        # Rows shown only when they have something to say ("malformed" always is).
        optional: list[tuple[str, Mapping[str, int]]] = [
            ("transfers", summary.transfers_by_outcome),
            ("findings", summary.findings_by_kind),
            ("malformed", summary.malformed),
            ("skipped packets", summary.skipped),
            ("notes", summary.notes),
            ("evicted (limits)", summary.evictions),
            ("capture drops", summary.drops),
        ]
        rows.extend((label, _counts(c)) for label, c in optional if c or label == "malformed")
        tls = summary.skipped.get("tls-encrypted", 0)
        if tls:
            streams = summary.notes.get("tls-streams", 0)
            if summary.notes.get("tls-decrypted", 0):
                # Read with a key log: what is left is handshakes, alerts, or sessions the
                # key log has no secrets for.
                said = (
                    f"{tls} TLS packets in {streams} streams carried no SIP the key log "
                    "decrypted (handshakes, alerts, or sessions it has no keys for)"
                )
            else:
                said = (
                    f"{tls} TLS packets in {streams} streams: SIP over TLS cannot be "
                    "decoded without the session keys (--tls-keylog)"
                )
            rows.append(("encrypted", Text(said, style="yellow")))
        rows.extend(
            ("problem", Text(inert(p, _TEXT_LIMIT), style="yellow")) for p in summary.problems
        )
        rows.extend(("media", Text(line)) for line in media_lines(summary))
        # On a terminal (:attr:`fit`) a long value wraps under itself, so the labels stay a
        # column at any width; a pipe or file keeps one line per row, like the timeline.
        indent = 18
        room = max(console.width - indent, 20) if self.fit else 1 << 20
        for label, value in rows:
            for number, piece in enumerate(value.wrap(console, room)):
                piece.rstrip()
                line = Text(f"{label:<17} " if number == 0 else " " * indent, style="bold")
                line.append_text(piece)
                console.print(line)


def _time_span(summary: Summary) -> list[tuple[str, Text]]:
    """A ``time span`` row when the messages fall on more than one UTC date: whatever the
    ``--time`` column shows, the reader learns the capture is not one day's traffic."""
    first, last = summary.first_ts, summary.last_ts
    if first is None or last is None or not (math.isfinite(first) and math.isfinite(last)):
        return []
    start, end = day(first), day(last)
    if start is None or end is None or start == end:
        return []
    days = (last - first) / 86400
    text = f"{start} {clock(first)} to {end} {clock(last)} UTC ({days:.1f} days)"
    return [("time span", Text(text))]


#: Calls listed in the summary's media section.
_MEDIA_CALLS = 10


def media_lines(summary: Summary) -> list[str]:
    """The summary's media section: per call, its streams in one line (codec, packets, worst
    loss and MOS estimate), inert text; guessed streams (no SDP) as one group."""
    calls: dict[str, list[StreamReport]] = {}
    for stream in summary.streams:
        calls.setdefault(stream.call_id, []).append(stream)
    lines: list[str] = []
    for call_id, streams in list(calls.items())[:_MEDIA_CALLS]:
        who = f"call {short_call_id(inert(call_id))}" if call_id else "no SDP (guess)"
        codecs = ", ".join(dict.fromkeys(inert(s.codec) or f"PT {s.payload_type}" for s in streams))
        lost = sum(max(s.lost, 0) for s in streams)
        expected = sum(s.expected for s in streams)
        estimates = [s.mos_estimate for s in streams if s.mos_estimate is not None]
        mos = f", min MOS est. {min(estimates):.2f}" if estimates else ""
        lines.append(
            f"{who}: {len(streams)} stream{'s' if len(streams) != 1 else ''} ({codecs}), "
            f"{sum(s.packets for s in streams)} packets, {lost}/{expected} lost{mos}"
        )
    more = len(calls) - _MEDIA_CALLS
    extra = summary.streams_total - len(summary.streams)
    if more > 0 or extra > 0:
        lines.append(f"… and more: {summary.streams_total} streams in all (JSON lines list each)")
    return lines


def _counts(counter: Any) -> Text:
    """``"INVITE 3, BYE 1"`` as inert Text (never markup: keys come from the wire)."""
    items = sorted(counter.items(), key=lambda kv: (-kv[1], str(kv[0])))
    return Text(", ".join(f"{inert(str(k))} {v}" for k, v in items) or "0")
