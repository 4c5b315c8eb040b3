"""``sipwatch report FILE... -o report.html``: the calls of captures as one HTML page."""

from __future__ import annotations

from sipwatch.calls.select import sort_calls
from sipwatch.commands.calls import read_calls
from sipwatch.errors import SipwatchError
from sipwatch.pipeline import PipelineOptions


def run_report(paths: list[str], output: str, options: PipelineOptions, limit: int) -> int:
    """Read every capture, then write the page (to a temporary name first, so a failed run
    leaves no half-written report behind)."""
    import os

    from sipwatch.render.report_html import CaptureReport, write_report

    reports = [
        CaptureReport(c.source, c.summary, sort_calls(c.calls, "problems"), c.evicted)
        for c in read_calls(paths, options, keep_messages=True)
    ]
    partial = f"{output}.partial"
    try:
        with open(partial, "w", encoding="utf-8") as out:
            write_report(reports, out, lang=options.lang, limit=limit)
        os.replace(partial, output)
    except OSError as exc:
        raise SipwatchError(f"cannot write the report {output}: {exc.strerror or exc}") from None
    return 0
