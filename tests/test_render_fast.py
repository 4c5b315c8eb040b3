"""The terminal renderer writes exactly what printing its lines through rich would write.

The renderer builds each record's Segments itself and writes them in one go
(sipwatch/render/segment_writer.py). :class:`PrintedRenderer` below is the straightforward
form it replaced: a ``rich.text.Text`` per line, one ``Console.print`` per line. Both render the
same records into the same kind of console and the bytes must be the same, for hostile and
unusual text (wide characters, trailing and Unicode spaces, markup, long words), every width
(wrapping, and cropping on consoles that do not soft-wrap), and colour on, off and ``no_color``.
Also checked: batched records wait for :meth:`TerminalRenderer.flush`; a console with a render
hook or a capture in progress is printed to, not written around; the live output's flushing.
"""

from __future__ import annotations

import contextlib
import io
from dataclasses import dataclass, field
from typing import Any, cast

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rich.console import Console, RenderableType, RenderHook
from rich.segment import Segment, Segments
from rich.text import Text

from sipwatch.records import FindingRecord, MalformedRecord, MessageRecord, Record, Summary
from sipwatch.render.output import make_console
from sipwatch.render.safe import inert, inert_bytes
from sipwatch.render.segment_writer import SegmentWriter
from sipwatch.render.status import FlushFirst, LiveStatus, NoStatus, open_live_output
from sipwatch.render.terminal import (
    _CLASS_STYLE,
    _INDENT,
    _SEVERITY_STYLE,
    _TEXT_LIMIT,
    _URI_LIMIT,
    TerminalRenderer,
    short_call_id,
)
from sipwatch.sip.message import SipMessage


class PrintedRenderer(TerminalRenderer):
    """The reference: every line a ``Text``, printed on its own (the summary is inherited)."""

    def message(self, record: MessageRecord) -> None:
        msg = record.msg
        line = self._head(record)
        if msg.kind == "request":
            line.append(inert(msg.method, 32), style="bold")
            line.append(" " + inert(msg.uri, _URI_LIMIT))
        else:
            line.append(
                f"{msg.status} {inert(msg.reason, 60)}",
                style=_CLASS_STYLE.get(msg.status // 100, ""),
            )
        cseq_num, cseq_method = msg.cseq
        line.append(f"  [{short_call_id(msg.call_id)}]", style="dim")
        line.append(f" {cseq_num} {inert(cseq_method, 32)}", style="dim")
        if record.retransmission:
            line.append("  (retransmission)", style="dim italic")
        self.console.print(line, soft_wrap=True)
        if record.annotation:
            self._printed_annotation(record.annotation)
        for note in record.notes:
            self._print_block(Text("↳ " + inert(note, _TEXT_LIMIT), style="italic"))
        for warning in msg.warnings:
            self._print_block(Text("⚠ " + inert(warning, _TEXT_LIMIT), style="yellow"))

    def _head(self, record: MessageRecord | MalformedRecord) -> Text:
        line = Text()
        line.append(f"{record.frame:>6} ", style="dim")
        line.append(self.times.text(record.ts) + " ", style="dim")
        line.append(f"{inert(record.src)} → {inert(record.dst)} ")
        line.append(f"{record.transport.upper():<4} ", style="dim")
        return line

    def _print_block(self, text: Text, extra_indent: int = 0) -> None:
        indent = _INDENT + extra_indent
        options = self.console.options.update_width(max(20, self.console.width - indent))
        margin = Segment(" " * indent)
        for line in self.console.render_lines(text, options, pad=False):
            segments = list(line)
            if segments and segments[-1].text.endswith(" "):
                last = segments.pop()
                segments.append(Segment(last.text.rstrip(" "), last.style))
            self.console.print(Segments([margin, *segments, Segment.line()]), end="")

    def _printed_annotation(self, annotation: dict[str, Any]) -> None:
        title = Text("↳ ")
        code = annotation.get("code")
        heading = inert(str(annotation.get("title", "")))
        title.append(heading if code is None else f"{code} {heading}", style="bold")
        summary = annotation.get("summary")
        if summary:
            title.append(" — " + inert(str(summary), _TEXT_LIMIT))
        self._print_block(title)
        diagnosis = annotation.get("diagnosis")
        if diagnosis and diagnosis != summary:
            self._print_block(Text("why: " + inert(str(diagnosis), _TEXT_LIMIT)), 2)
        remedy = annotation.get("remedy")
        if remedy:
            self._print_block(Text("fix: " + inert(str(remedy), _TEXT_LIMIT)), 2)

    def malformed(self, record: MalformedRecord) -> None:
        line = self._head(record)
        line.append("MALFORMED ", style="bold red")
        line.append(inert(record.reason, 120))
        self.console.print(line, soft_wrap=True)
        self._print_block(Text("↳ " + inert_bytes(record.raw, 100), style="dim"))

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
        self._print_block(line, -2)
        remedy = data.get("remedy")
        if remedy:
            self._print_block(Text("fix: " + inert(str(remedy), _TEXT_LIMIT)), 2)


@dataclass
class FakeMessage:
    """What the renderer reads of a SIP message, with any text the strategies choose."""

    kind: str
    method: str
    uri: str
    status: int
    reason: str
    cseq: tuple[int, str]
    call_id: str
    warnings: list[str] = field(default_factory=list)


# Text that stresses layout: wide and combining characters, ASCII and Unicode spaces (rich's
# wrap and strip treat them differently), markup, controls (made inert), long words.
ALPHABET = st.sampled_from(
    [
        *"ab Z09-_.:;@<>[]/\\=",
        *(" ", "  ", "\u00a0", "\u3000", "東", "京", "😀", "e\u0301", "ü", "x" * 30),
        *("\t", "\n", "\r", "\x1b", "\x07", "\u202e", "[bold]", "[/]"),
    ]
)
TEXT = st.lists(ALPHABET, max_size=40).map("".join)
LONG = st.one_of(TEXT, st.lists(ALPHABET, max_size=300).map("".join))


@st.composite
def records(draw: st.DrawFn) -> Record:
    kind = draw(st.sampled_from(["request", "response", "malformed", "finding"]))
    ts = draw(st.floats(-1e12, 1e12) | st.sampled_from([float("nan"), 0.0, 86399.9996]))
    frame = draw(st.integers(0, 10**9))
    src, dst, transport = draw(TEXT), draw(TEXT), draw(st.sampled_from(["udp", "tcp", "ws", ""]))
    if kind == "malformed":
        return MalformedRecord(ts, frame, src, dst, transport, draw(LONG), draw(st.binary()))
    if kind == "finding":
        data: dict[str, Any] = {"kind": draw(TEXT), "text": draw(LONG)}
        for key, values in (("severity", st.sampled_from(["info", "warning", "error", "x"])),):
            if draw(st.booleans()):
                data[key] = draw(values)
        for key in ("outcome", "remedy"):
            if draw(st.booleans()):
                data[key] = draw(LONG)
        return FindingRecord(data)
    msg = FakeMessage(
        kind=kind,
        method=draw(TEXT),
        uri=draw(LONG),
        status=draw(st.integers(100, 799)),
        reason=draw(TEXT),
        cseq=(draw(st.integers(0, 2**32)), draw(TEXT)),
        call_id=draw(TEXT),
        warnings=draw(st.lists(LONG, max_size=2)),
    )
    annotation: dict[str, Any] | None = None
    if draw(st.booleans()):
        annotation = {"title": draw(TEXT), "code": draw(st.none() | st.integers(100, 699))}
        for key in ("summary", "diagnosis", "remedy"):
            if draw(st.booleans()):
                annotation[key] = draw(LONG)
    return MessageRecord(
        ts,
        frame,
        src,
        dst,
        transport,
        cast(SipMessage, msg),
        retransmission=draw(st.booleans()),
        annotation=annotation,
        notes=draw(st.lists(LONG, max_size=2)),
    )


def console_kinds() -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries(
        {
            "width": st.integers(0, 140),
            "soft_wrap": st.booleans(),
            "color_system": st.sampled_from([None, "standard", "256", "truecolor"]),
            "no_color": st.booleans(),
        }
    )


def both(records: list[Record], kind: dict[str, Any], summary: Summary | None = None) -> list[str]:
    outputs = []
    for cls in (PrintedRenderer, TerminalRenderer):
        out = io.StringIO()
        console = Console(file=out, force_terminal=True, markup=False, emoji=False, **kind)
        renderer = cls(console)
        for record in records:
            renderer.record(record)
        if summary is not None:
            renderer.summary(summary)
        outputs.append(out.getvalue())
    return outputs


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(records(), min_size=1, max_size=4), console_kinds())
def test_output_is_byte_identical_to_printing_text_lines(
    batch: list[Record], kind: dict[str, Any]
) -> None:
    printed, written = both(batch, kind)
    assert written == printed


def test_repeated_blocks_come_from_the_cache_and_stay_identical() -> None:
    annotation = {"code": 403, "title": "Forbidden", "summary": "no " * 60, "remedy": "ask"}
    msg = FakeMessage("response", "", "", 403, "Forbidden", (1, "INVITE"), "abc")
    batch: list[Record] = [
        MessageRecord(1.0, n, "a", "b", "udp", cast(SipMessage, msg), annotation=annotation)
        for n in range(50)
    ]
    kind = {"width": 60, "soft_wrap": True, "color_system": "truecolor", "no_color": False}
    printed, written = both(batch, kind, Summary(source="x"))
    assert written == printed
    assert printed.count(" — no no") == 50
    renderer = TerminalRenderer(Console(file=io.StringIO(), width=60))
    for record in batch:
        renderer.record(record)
    assert len(renderer._blocks) == 2  # the title and the remedy, wrapped once each


def test_layout_characters_outside_inert_text_take_rich_own_path() -> None:
    """A transport is not wire text; were it to hold a tab or a newline, rich lays it out."""
    msg = FakeMessage("request", "INVITE", "sip:a@b", 0, "", (1, "INVITE"), "c")
    for transport in ("u\tdp", "u\ndp", "u\rdp", "\x07"):
        batch: list[Record] = [
            MessageRecord(1.0, 1, "a", "b", transport, cast(SipMessage, msg), retransmission=True)
        ]
        kind = {"width": 80, "soft_wrap": False, "color_system": "standard", "no_color": False}
        printed, written = both(batch, kind)
        assert written == printed
        assert "\r" not in written and "\x07" not in written


def test_make_console_output_matches_with_colour_on_and_off() -> None:
    msg = FakeMessage("response", "", "", 486, "Busy Here", (2, "INVITE"), "call")
    record = MessageRecord(5.0, 7, "a", "b", "udp", cast(SipMessage, msg), notes=["n " * 50])
    for color in (True, False, None):
        outputs = []
        for cls in (PrintedRenderer, TerminalRenderer):
            out = io.StringIO()
            cls(make_console(out, color=color, width=70)).record(record)
            outputs.append(out.getvalue())
        assert outputs[0] == outputs[1]
        assert ("\x1b[31m486 Busy Here\x1b[0m" in outputs[1]) is (color is True)


class CountingHook(RenderHook):
    def __init__(self) -> None:
        self.calls = 0

    def process_renderables(self, renderables: list[Any]) -> list[RenderableType]:
        self.calls += 1
        return list(renderables)


def _message(frame: int) -> MessageRecord:
    msg = FakeMessage("request", "OPTIONS", "sip:x@h", 0, "", (frame, "OPTIONS"), "id")
    return MessageRecord(float(frame), frame, "a", "b", "udp", cast(SipMessage, msg))


def test_a_render_hook_sees_the_records_through_print() -> None:
    """A live display (a render hook) must see every print to redraw itself around it."""
    out = io.StringIO()
    console = Console(file=out, width=80, color_system=None)
    hook = CountingHook()
    console.push_render_hook(hook)
    renderer = TerminalRenderer(console, batch=True)
    for frame in range(1, 6):
        renderer.record(_message(frame))
    assert out.getvalue() == "" and hook.calls == 0
    renderer.flush()
    assert hook.calls == 1  # one print for the whole batch
    assert out.getvalue().count("OPTIONS sip:x@h") == 5


def test_a_capture_in_progress_captures_the_records() -> None:
    out = io.StringIO()
    console = Console(file=out, width=80, color_system=None)
    renderer = TerminalRenderer(console)
    with console.capture() as capture:
        renderer.record(_message(1))
    assert out.getvalue() == ""
    assert "OPTIONS sip:x@h" in capture.get()


def test_batched_records_wait_for_flush_and_precede_the_summary() -> None:
    out = io.StringIO()
    renderer = TerminalRenderer(Console(file=out, width=80, color_system=None), batch=True)
    renderer.record(_message(1))
    assert out.getvalue() == ""
    renderer.record(_message(2))
    renderer.summary(Summary(source="s"))
    text = out.getvalue()
    assert text.index("     1 ") < text.index("     2 ") < text.index("Summary of s")


class Counting(io.StringIO):
    def __init__(self) -> None:
        super().__init__()
        self.writes = 0
        self.flushes = 0

    def write(self, text: str) -> int:
        self.writes += 1
        return super().write(text)

    def flush(self) -> None:
        self.flushes += 1


def test_each_record_is_one_write_and_one_flush() -> None:
    out = Counting()
    renderer = TerminalRenderer(make_console(out, color=True, width=60))
    record = _message(1)
    record.notes = ["a note " * 30]  # several wrapped lines
    renderer.record(record)
    assert (out.writes, out.flushes) == (1, 1)
    assert out.getvalue().count("\n") > 3


def test_writer_text_is_what_the_console_renders() -> None:
    for kind in (
        {"color_system": "truecolor"},
        {"color_system": "256", "no_color": True},
        {"color_system": None},
    ):
        console = Console(file=io.StringIO(), force_terminal=True, **kind)
        segments = [
            Segment("a", console.get_style("bold red")),
            Segment("b"),
            Segment("c", console.get_style("dim italic")),
            Segment("", console.get_style("green")),
            Segment("\n"),
        ]
        with console.capture() as capture:
            console.print(Segments(segments), end="")
        assert SegmentWriter(console).text(segments) == capture.get()


def test_live_output_in_a_pipe_writes_each_batch_once() -> None:
    out, err = Counting(), io.StringIO()
    output = open_live_output("text", out, err, color=False)
    for frame in range(1, 4):
        output.renderer.record(_message(frame))
    assert out.writes == 0
    output.flush()
    assert out.writes == 1 and out.getvalue().count("OPTIONS sip:x@h") == 3
    output.renderer.record(_message(4))
    output.status.update(LiveStatus(source="lo", elapsed=1.0))
    output.status.close()  # what the session still held is written before the status goes
    assert out.getvalue().count("OPTIONS sip:x@h") == 4


def test_flush_first_closes_the_status_even_when_the_flush_fails() -> None:
    closed: list[bool] = []

    class Status(NoStatus):
        def close(self) -> None:
            closed.append(True)

    def broken() -> None:
        raise BrokenPipeError

    status = FlushFirst(Status(), broken)
    with contextlib.suppress(BrokenPipeError):
        status.close()
    assert closed == [True]
