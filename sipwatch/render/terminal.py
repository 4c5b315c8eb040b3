"""Terminal renderer: a timeline line per SIP message, annotations under notable ones,
and a closing summary.

Wire text is never interpreted as rich markup: every line is assembled from ``rich.text.Text``
pieces whose content went through :func:`sipwatch.render.safe.inert`. Colours follow the response
class so a wall of red stands out during an incident.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from typing import Any

from rich.console import Console
from rich.segment import Segment, Segments
from rich.text import Text

from sipwatch.records import FindingRecord, MalformedRecord, MessageRecord, Record, Summary
from sipwatch.render.safe import inert, inert_bytes

_CLASS_STYLE = {1: "cyan", 2: "green", 3: "yellow", 4: "red", 5: "bold red", 6: "bold magenta"}
_SEVERITY_STYLE = {"info": "cyan", "warning": "yellow", "error": "bold red"}
_URI_LIMIT = 60
_TEXT_LIMIT = 2000
#: Annotations hang under the message line, indented past the frame and time columns.
_INDENT = 9


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


def short_call_id(call_id: str) -> str:
    """First 8 characters of the Call-ID: enough to tell calls apart on one screen."""
    return inert(call_id[:8]) if call_id else "-"


class TerminalRenderer:
    """Renders records to a rich console (a real terminal or a StringIO in tests)."""

    def __init__(self, console: Console, show_findings: bool = True) -> None:
        self.console = console
        self.show_findings = show_findings

    # -- per record ------------------------------------------------------------------------

    def record(self, record: Record) -> None:
        if isinstance(record, MessageRecord):
            self.message(record)
        elif isinstance(record, MalformedRecord):
            self.malformed(record)
        elif self.show_findings:
            self.finding(record)

    def message(self, record: MessageRecord) -> None:
        msg = record.msg
        line = Text()
        line.append(f"{record.frame:>6} ", style="dim")
        line.append(clock(record.ts) + " ", style="dim")
        line.append(f"{inert(record.src)} → {inert(record.dst)} ")
        line.append(f"{record.transport.upper():<4} ", style="dim")
        if msg.kind == "request":
            line.append(inert(msg.method, 32), style="bold")
            line.append(" " + inert(msg.uri, _URI_LIMIT))
        else:
            style = _CLASS_STYLE.get(msg.status // 100, "")
            line.append(f"{msg.status} {inert(msg.reason, 60)}", style=style)
        cseq_num, cseq_method = msg.cseq
        line.append(f"  [{short_call_id(msg.call_id)}]", style="dim")
        line.append(f" {cseq_num} {inert(cseq_method, 32)}", style="dim")
        if record.retransmission:
            line.append("  (retransmission)", style="dim italic")
        self.console.print(line, soft_wrap=True)  # one line per message, even in a pipe
        if record.annotation:
            self._annotation(record.annotation)
        for note in record.notes:
            self._block(Text("↳ " + inert(note, _TEXT_LIMIT), style="italic"))
        for warning in msg.warnings:  # what the parser tolerated (RFC violations by the sender)
            self._block(Text("⚠ " + inert(warning, _TEXT_LIMIT), style="yellow"))

    def _block(self, text: Text, extra_indent: int = 0) -> None:
        """Print ``text`` wrapped to the console width, indented under the message line.

        Lines are rendered without padding so files and pipes get no trailing blanks.
        """
        indent = _INDENT + extra_indent
        options = self.console.options.update_width(max(20, self.console.width - indent))
        margin = Segment(" " * indent)
        for line in self.console.render_lines(text, options, pad=False):
            segments = list(line)
            if segments and segments[-1].text.endswith(" "):  # the space the wrap broke at
                last = segments.pop()
                segments.append(Segment(last.text.rstrip(" "), last.style))
            self.console.print(Segments([margin, *segments, Segment.line()]), end="")

    def _annotation(self, annotation: dict[str, Any]) -> None:
        title = Text("↳ ")
        code = annotation.get("code")
        heading = inert(str(annotation.get("title", "")))
        # Requests have no code: their annotation is titled by the method alone.
        title.append(heading if code is None else f"{code} {heading}", style="bold")
        summary = annotation.get("summary")
        if summary:
            title.append(" — " + inert(str(summary), _TEXT_LIMIT))
        self._block(title)
        diagnosis = annotation.get("diagnosis")
        if diagnosis and diagnosis != summary:
            self._block(Text("why: " + inert(str(diagnosis), _TEXT_LIMIT)), 2)
        remedy = annotation.get("remedy")
        if remedy:
            self._block(Text("fix: " + inert(str(remedy), _TEXT_LIMIT)), 2)

    def malformed(self, record: MalformedRecord) -> None:
        line = Text()
        line.append(f"{record.frame:>6} ", style="dim")
        line.append(clock(record.ts) + " ", style="dim")
        line.append(f"{inert(record.src)} → {inert(record.dst)} ")
        line.append(f"{record.transport.upper():<4} ", style="dim")
        line.append("MALFORMED ", style="bold red")
        line.append(inert(record.reason, 120))
        self.console.print(line, soft_wrap=True)  # one line per message, even in a pipe
        self._block(Text("↳ " + inert_bytes(record.raw, 100), style="dim"))

    def finding(self, record: FindingRecord) -> None:
        data = record.data
        severity = str(data.get("severity", "info"))
        line = Text("◆ ")
        line.append(f"{severity.upper()} ", style=_SEVERITY_STYLE.get(severity, ""))
        line.append(inert(record.kind), style="bold")
        outcome = data.get("outcome")
        if outcome:
            line.append(f" ({inert(str(outcome))})", style="bold")
        line.append(": " + inert(str(data.get("text", "")), _TEXT_LIMIT))
        self._block(line, -2)
        remedy = data.get("remedy")
        if remedy:
            self._block(Text("fix: " + inert(str(remedy), _TEXT_LIMIT)), 2)

    # -- summary ---------------------------------------------------------------------------

    def summary(self, summary: Summary) -> None:
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
            rows.append(
                (
                    "encrypted",
                    Text(
                        f"{tls} TLS packets in {streams} streams: SIP over TLS cannot be "
                        "decoded without the session keys",
                        style="yellow",
                    ),
                )
            )
        rows.extend(
            ("problem", Text(inert(p, _TEXT_LIMIT), style="yellow")) for p in summary.problems
        )
        for label, value in rows:
            line = Text(f"{label:<17} ", style="bold")
            line.append_text(value)
            console.print(line)


def _counts(counter: Any) -> Text:
    """``"INVITE 3, BYE 1"`` as inert Text (never markup: keys come from the wire)."""
    items = sorted(counter.items(), key=lambda kv: (-kv[1], str(kv[0])))
    return Text(", ".join(f"{inert(str(k))} {v}" for k, v in items) or "0")
