"""``sipwatch pcap FILE...``: annotate capture files (or ``-`` for stdin)."""

from __future__ import annotations

import dataclasses
from typing import IO, TypeGuard

from sipwatch.capture.readers import open_capture, probe_capture
from sipwatch.capture.tls_keylog import TlsPlaintext, check_keylog
from sipwatch.errors import CaptureReadError
from sipwatch.pipeline import Pipeline, PipelineOptions
from sipwatch.records import MalformedRecord, MessageRecord, Record
from sipwatch.render.output import make_renderer


def check_paths(paths: list[str]) -> None:
    """Raise the operator error for the first path that cannot be read, before any output.

    Every file must exist, be readable and start like a capture (:func:`probe_capture` reads
    only its first bytes): ``pcap a.pcap typo.pcap`` fails at once instead of after a's
    timeline, whatever the order. ``-`` (stdin) may be given once: it can be read only once.
    """
    if paths.count("-") > 1:
        raise CaptureReadError("- (stdin) is given more than once: it can be read only once")
    for path in paths:
        probe_capture(path)


def run_pcap(
    paths: list[str],
    options: PipelineOptions,
    fmt: str,
    out: IO[str],
    color: bool | None = None,
    time_format: str = "abs",
) -> int:
    """Decode, correlate and render each capture in turn; return the exit code.

    Every path is checked first (:func:`check_paths`). Each capture is then rendered on its
    own: its records, then its summary (docs/jsonl.md), with a fresh display filter so what
    the filter learnt of one file (frames to or from ``--port``) does not leak into the next.
    Everything decoded before a damaged record is rendered; the damage is reported in the
    summary's problems. A file that is not a capture raises ``CaptureFormatError`` (exit 2).
    """
    check_paths(paths)
    if options.tls_keylog:
        check_keylog(options.tls_keylog)
        if "-" in paths:
            raise CaptureReadError("--tls-keylog needs capture files: tshark cannot reread stdin")
    renderer = make_renderer(fmt, out, color, time_format=time_format)
    exit_code = 0
    for path in paths:
        with open_capture(path, options.engine) as source:
            file_options = dataclasses.replace(options, filter=options.filter.fresh())
            tls = TlsPlaintext(path, options.tls_keylog) if options.tls_keylog else None
            pipeline = Pipeline(file_options, source="stdin" if path == "-" else path, tls=tls)
            for record in pipeline.run(source):
                renderer.record(record)
            stats = source.stats
            pipeline.summary.truncated = stats.truncated
            pipeline.summary.problems.extend(stats.problems)
            renderer.summary(pipeline.summary)
    out.flush()
    return exit_code


def run_frame(
    paths: list[str], frame: int, out: IO[str], color: bool | None = None, fmt: str = "text"
) -> int:
    """Show the SIP message(s) that frame ``frame`` completed, in full, for each capture.

    With ``fmt`` ``jsonl`` each is its ``message`` (or ``malformed``) line instead.

    The correlator runs (it is what tells a retransmission); reading stops as soon as the frame
    is passed. A frame with no SIP message is an operator error (exit 2): the number
    was wrong for this capture.
    """
    from sipwatch.render.message_view import show_frame
    from sipwatch.render.output import make_console

    check_paths(paths)
    console = make_console(out, color)
    for n, path in enumerate(paths):
        found: list[MessageRecord | MalformedRecord] = []
        with open_capture(path) as source:
            pipeline = Pipeline(PipelineOptions(), source=path)
            for packet in source:
                if pipeline.summary.frames >= frame:
                    break
                found += [r for r in pipeline.feed(packet) if _of_frame(r, frame)]
            else:
                found += [r for r in pipeline.finish() if _of_frame(r, frame)]
        if not found:
            raise CaptureReadError(f"{path}: frame {frame} holds no SIP message")
        if fmt == "jsonl":
            from sipwatch.render.jsonl import dumps, record_json

            out.writelines(dumps(record_json(record)) + "\n" for record in found)
            continue
        if n:
            console.print()
        show_frame(console, found)
    out.flush()
    return 0


def _of_frame(record: Record, frame: int) -> TypeGuard[MessageRecord | MalformedRecord]:
    return isinstance(record, MessageRecord | MalformedRecord) and record.frame == frame
