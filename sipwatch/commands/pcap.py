"""``sipwatch pcap FILE...``: annotate capture files (or ``-`` for stdin)."""

from __future__ import annotations

from typing import IO

from sipwatch.capture.readers import open_capture
from sipwatch.pipeline import Pipeline, PipelineOptions
from sipwatch.render.output import make_renderer


def run_pcap(
    paths: list[str],
    options: PipelineOptions,
    fmt: str,
    out: IO[str],
    color: bool | None = None,
) -> int:
    """Decode, correlate and render each capture in turn; return the exit code.

    Everything decoded before a damaged record is rendered; the damage is reported in the
    summary's problems. A file that is not a capture raises ``CaptureFormatError`` (exit 2).
    """
    renderer = make_renderer(fmt, out, color)
    exit_code = 0
    for path in paths:
        source = open_capture(path)
        pipeline = Pipeline(options, source="stdin" if path == "-" else path)
        for record in pipeline.run(source):
            renderer.record(record)
        stats = source.stats
        pipeline.summary.truncated = stats.truncated
        pipeline.summary.problems.extend(stats.problems)
        renderer.summary(pipeline.summary)
    out.flush()
    return exit_code
