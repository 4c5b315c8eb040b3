#!/usr/bin/env python3
"""CPU time of each pipeline stage on one capture, for comparing variants on a busy machine.

    python3 benchmarks/bench_stages.py benchmarks/out/udp-20k.pcap [--repeat 3] [--stages ...]

Each stage is timed cumulatively (read; read+decode; +parse; +correlate and annotate; +JSON
lines into a discarded buffer) with ``time.process_time`` and the best of ``--repeat`` runs is
kept, so other processes on the machine inflate the numbers as little as possible. The cost of a
stage is the difference between two cumulative rows. Start-up (imports, knowledge base) is
timed separately and excluded from the per-message numbers.
"""

from __future__ import annotations

import argparse
import gc
import io
import resource
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

t0 = time.process_time()
from sipwatch.capture.readers import open_capture  # noqa: E402
from sipwatch.pipeline import Pipeline, PipelineOptions, collector_tuned  # noqa: E402
from sipwatch.render.jsonl import JsonlRenderer  # noqa: E402

IMPORT_S = time.process_time() - t0


def stage_read(path: str) -> int:
    n = 0
    for _ in open_capture(path):
        n += 1
    return n


def stage_decode(path: str) -> int:
    p = Pipeline(PipelineOptions(correlate=False))
    dec = p._decoder
    n = 0
    for frame in open_capture(path):
        n += len(dec.feed(frame))
    n += len(dec.flush())
    return n


def stage_parse(path: str) -> int:
    from sipwatch.sip.parser import parse_message

    p = Pipeline(PipelineOptions(correlate=False))
    dec = p._decoder
    n = 0
    for frame in open_capture(path):
        for seg in dec.feed(frame):
            if seg.stream:
                continue
            parse_message(seg.data)
            n += 1
    return n


def stage_nocorrelate(path: str) -> int:
    p = Pipeline(PipelineOptions(correlate=False))
    for _ in p.run(open_capture(path)):
        pass
    return p.summary.messages


def stage_pipeline(path: str) -> int:
    p = Pipeline(PipelineOptions())
    for _ in p.run(open_capture(path)):
        pass
    return p.summary.messages


def stage_jsonl(path: str) -> int:
    out = io.StringIO()
    renderer = JsonlRenderer(out, flush=False)
    p = Pipeline(PipelineOptions())
    for record in p.run(open_capture(path)):
        renderer.record(record)
        if out.tell() > 1 << 22:
            out.seek(0)
            out.truncate()
    renderer.summary(p.summary)
    return p.summary.messages


def _parsed(path: str) -> list[tuple[object, object, object]]:
    """(segment, record, msg) for every UDP message of the capture, parsed beforehand."""
    from sipwatch.capture.types import format_endpoint
    from sipwatch.sip.message import SipMessage
    from sipwatch.sip.parser import parse_message

    p = Pipeline(PipelineOptions(correlate=False))
    out = []
    for frame in open_capture(path):
        for seg in p._decoder.feed(frame):
            msg = parse_message(seg.data)
            if isinstance(msg, SipMessage):
                src, dst = format_endpoint(seg.src), format_endpoint(seg.dst)
                out.append((seg, (seg.ts, seg.frame, src, dst, seg.transport), msg))
    return out


_PARSED: dict[str, list[tuple[object, object, object]]] = {}


def stage_correlate(path: str) -> int:
    """Correlation (correlator + annotator + records) alone, on messages parsed beforehand."""
    from sipwatch.correlation import Correlation
    from sipwatch.records import MessageRecord, Summary

    items = _PARSED.get(path)
    if items is None:
        items = _PARSED[path] = _parsed(path)
    corr = Correlation(PipelineOptions(), Summary())
    start = time.process_time()
    with collector_tuned():  # as Pipeline.run does
        for seg, (ts, frame, src, dst, transport), msg in items:
            record = MessageRecord(ts, frame, src, dst, transport, msg)  # type: ignore[arg-type]
            corr.message(record, seg.src, seg.dst)  # type: ignore[attr-defined]
        corr.finish(1e12)
    stage_correlate.elapsed = time.process_time() - start  # type: ignore[attr-defined]
    return len(items)


STAGES: dict[str, Callable[[str], int]] = {
    "correlate": stage_correlate,
    "read": stage_read,
    "decode": stage_decode,
    "parse": stage_parse,
    "nocorrelate": stage_nocorrelate,
    "pipeline": stage_pipeline,
    "jsonl": stage_jsonl,
}


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("path")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--stages", nargs="*", default=list(STAGES))
    args = ap.parse_args()
    t = time.process_time()
    Pipeline(PipelineOptions())  # loads the knowledge base
    startup = IMPORT_S + time.process_time() - t
    print(f"start-up (imports + knowledge) {startup:.3f} CPU-s")
    messages = 0
    for name in args.stages:
        best = float("inf")
        count = 0
        for _ in range(args.repeat):
            gc.collect()
            start = time.process_time()
            count = STAGES[name](args.path)
            elapsed = time.process_time() - start
            best = min(best, getattr(STAGES[name], "elapsed", elapsed))
        if name in ("pipeline", "jsonl", "nocorrelate"):
            messages = count
        per = best / count * 1e6 if count else 0.0
        print(f"{name:12} {best:7.3f} CPU-s  {count:8d} items  {per:7.2f} µs/item", flush=True)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"messages {messages}, peak RSS {rss:.0f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
