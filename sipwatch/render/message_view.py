"""``sipwatch pcap FILE --frame N``: one message in full, laid out as ``tshark -V`` shows the
SIP part: the start line, every header line in wire order as it was written (compact names,
spacing and all), then the body line by line.

Every line goes through :func:`sipwatch.render.safe.inert` and into a ``rich.text.Text``.
"""

from __future__ import annotations

from typing import Final

from rich.console import Console
from rich.text import Text

from sipwatch.records import MalformedRecord, MessageRecord
from sipwatch.render.safe import inert, inert_bytes
from sipwatch.render.terminal import clock

#: A body longer than this many lines is cut (the cut is said).
BODY_LINES_MAX: Final = 500
_LINE_MAX: Final = 4000


def wire_lines(raw: bytes) -> tuple[str, list[str], bytes]:
    """(start line, header lines, body) of a message's bytes, split as on the wire.

    Leading CRLFs (keep-alives, RFC 3261 §7.5) are skipped; a bare LF counts as a line end.
    """
    data = raw.lstrip(b"\r\n")
    end = data.find(b"\r\n\r\n")
    skip = 4
    lf = data.find(b"\n\n")
    if end < 0 or (0 <= lf < end):
        end, skip = lf, 2
    head, body = (data, b"") if end < 0 else (data[:end], data[end + skip :])
    lines = [line.rstrip("\r") for line in head.decode("utf-8", "replace").split("\n")]
    return lines[0], [line for line in lines[1:] if line], body


def message_lines(record: MessageRecord) -> list[Text]:
    """The lines of one message, for a terminal or a test."""
    msg = record.msg
    start, headers, body = wire_lines(msg.raw)
    # tshark names a response by its status code and CSeq method, a request by its method.
    summary = msg.method if msg.kind == "request" else f"{msg.status}"
    lines = [
        Text(
            inert(
                f"Frame {record.frame}  {clock(record.ts)}  {record.transport} "
                f"{record.src} → {record.dst}"
                + ("  (retransmission)" if record.retransmission else ""),
                400,
            ),
            style="bold",
        ),
        Text(inert(f"Session Initiation Protocol ({summary})", 200)),
        Text(inert(f"    {'Request' if msg.kind == 'request' else 'Status'}-Line: {start}", 4000)),
        Text("    Message Header"),
    ]
    lines += [Text("        " + inert(line, _LINE_MAX)) for line in headers]
    if body:
        kind = msg.content_type or "no Content-Type"
        lines.append(Text(inert(f"    Message Body ({kind}, {len(body)} bytes)", 300)))
        text = body.decode("utf-8", "replace").replace("\r\n", "\n").split("\n")
        if text and text[-1] == "":
            text.pop()
        for line in text[:BODY_LINES_MAX]:
            lines.append(Text("        " + inert(line, _LINE_MAX)))
        if len(text) > BODY_LINES_MAX:
            lines.append(Text(f"        … {len(text) - BODY_LINES_MAX} more lines", style="dim"))
    for warning in msg.warnings:
        lines.append(Text("    problem: " + inert(warning, 400), style="yellow"))
    return lines


def malformed_lines(record: MalformedRecord) -> list[Text]:
    return [
        Text(
            inert(
                f"Frame {record.frame}  {clock(record.ts)}  {record.transport} "
                f"{record.src} → {record.dst}",
                400,
            ),
            style="bold",
        ),
        Text("    MALFORMED: " + inert(record.reason, 400), style="red"),
        Text("    " + inert_bytes(record.raw, 2000)),
    ]


def show_frame(console: Console, records: list[MessageRecord | MalformedRecord]) -> None:
    for i, record in enumerate(records):
        if i:
            console.print()
        lines = (
            message_lines(record) if isinstance(record, MessageRecord) else malformed_lines(record)
        )
        for line in lines:
            console.print(line, soft_wrap=True)
