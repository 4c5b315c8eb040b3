"""``sipwatch pcap FILE...``: annotate capture files (or ``-`` for stdin)."""

from __future__ import annotations

import dataclasses
from typing import IO

from sipwatch.capture.readers import open_capture, probe_capture
from sipwatch.errors import CaptureReadError
from sipwatch.pipeline import Pipeline, PipelineOptions
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
    renderer = make_renderer(fmt, out, color, time_format=time_format)
    exit_code = 0
    for path in paths:
        with open_capture(path, options.engine) as source:
            file_options = dataclasses.replace(options, filter=options.filter.fresh())
            pipeline = Pipeline(file_options, source="stdin" if path == "-" else path)
            for record in pipeline.run(source):
                renderer.record(record)
            stats = source.stats
            pipeline.summary.truncated = stats.truncated
            pipeline.summary.problems.extend(stats.problems)
            renderer.summary(pipeline.summary)
    out.flush()
    return exit_code
