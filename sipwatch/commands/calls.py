"""``sipwatch calls FILE...``: one row per call, or one ``call`` JSON line per call."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO

from sipwatch.calls import Call, CallTracker
from sipwatch.calls.select import CallFilter, CallTotals, sort_calls
from sipwatch.capture.readers import open_capture
from sipwatch.commands.pcap import check_paths
from sipwatch.pipeline import Pipeline, PipelineOptions
from sipwatch.records import Summary


@dataclass(slots=True)
class CaptureCalls:
    """Every call of one capture, with the run's summary."""

    source: str
    calls: list[Call]
    summary: Summary
    evicted: int


def read_calls(
    paths: list[str], options: PipelineOptions, keep_messages: bool = False, ladder: bool = True
) -> Iterator[CaptureCalls]:
    """Run each capture through the pipeline and gather its calls (one tracker per capture).

    Calls evicted from a full table are added to the summary's ``evictions`` as ``calls``.
    """
    check_paths(paths)
    for path in paths:
        tracker = CallTracker(keep_messages=keep_messages, ladder=ladder)
        with open_capture(path, options.engine) as source:
            pipeline = Pipeline(options, source="stdin" if path == "-" else path)
            for record in pipeline.run(source):
                tracker.feed(record)
            pipeline.summary.truncated = source.stats.truncated
            pipeline.summary.problems.extend(source.stats.problems)
        summary = pipeline.summary
        if tracker.evicted:
            summary.evictions["calls"] += tracker.evicted
        yield CaptureCalls(summary.source, list(tracker.calls.values()), summary, tracker.evicted)


def run_calls(
    paths: list[str],
    options: PipelineOptions,
    selection: CallFilter,
    sort: str,
    fmt: str,
    out: IO[str],
    color: bool | None = None,
) -> int:
    from sipwatch.render.jsonl import call_json, dumps, summary_json
    from sipwatch.render.output import make_console

    console = make_console(out, color) if fmt == "text" else None
    first = True
    for capture in read_calls(paths, options, ladder=False):
        chosen = sort_calls((c for c in capture.calls if selection.accepts(c)), sort)
        if console is None:
            for call in chosen:
                out.write(dumps(call_json(call)) + "\n")
            out.write(dumps(summary_json(capture.summary)) + "\n")
            continue
        from sipwatch.render.calls_table import show_calls

        if not first:
            console.print()
        first = False
        show_calls(console, capture.source, chosen, CallTotals.of(capture.calls), capture.evicted)
    out.flush()
    return 0
