"""Read one capture file through the pipeline and print its peak memory and time, as JSON.

Run as ``python -m tests.read_peak FILE`` in a child process, so the peak is this file's alone.
Prints ``{"baseline_kb", "peak_kb", "seconds", "frames", "counters", "error"}``: resident
memory (``ru_maxrss``) after imports and at the end, the frames read, the reader's counters, and
the one-line error if the file was refused.
"""

from __future__ import annotations

import json
import resource
import sys
import time

from sipwatch.capture.readers import open_capture, probe_capture
from sipwatch.errors import SipwatchError
from sipwatch.pipeline import Pipeline, PipelineOptions


def main() -> None:
    path = sys.argv[1]
    baseline = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.perf_counter()
    frames, counters, error = 0, {}, None
    try:
        probe_capture(path)  # as the CLI does, before anything is printed
        with open_capture(path) as source:
            pipeline = Pipeline(PipelineOptions(), source=path)
            for _ in pipeline.run(source):
                pass
            frames, counters = source.stats.frames, dict(source.stats.counters)
    except SipwatchError as exc:
        error = str(exc)
    seconds = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(
        json.dumps(
            {
                "baseline_kb": baseline,
                "peak_kb": peak,
                "seconds": seconds,
                "frames": frames,
                "counters": counters,
                "error": error,
            }
        )
    )


if __name__ == "__main__":
    main()
