"""Small crafted files cannot cost large memory or time (docs/limits.md, *Capture files*).

Each case is a file found by fuzzing, rebuilt here at a size that runs in seconds: the peak of
Python allocations while reading it (``tracemalloc``) and the time taken are measured and held
under a stated bound, and what was refused is counted where the summary shows it.
"""

from __future__ import annotations

import struct
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from sipwatch.capture import pcapng
from sipwatch.capture.readers import open_capture
from tests import build_frames as bf
from tests.conftest import CAPTURES

T = TypeVar("T")
MB = 1 << 20


def measured(run: Callable[[], T]) -> tuple[T, int, float]:
    """(result, peak bytes allocated above the start, seconds) of ``run()``: timed on its own
    first (tracing allocations slows Python code several times), then again with tracing."""
    started = time.perf_counter()
    run()
    seconds = time.perf_counter() - started
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        result = run()
        return result, tracemalloc.get_traced_memory()[1] - base, seconds
    finally:
        tracemalloc.stop()


def frames_and_counters(path: Path) -> tuple[int, dict[str, int], list[str]]:
    with open_capture(path) as source:
        count = sum(1 for _ in source)
        stats = source.stats
    return count, dict(stats.counters), list(stats.problems)


def _sip_frame() -> bytes:
    with open_capture(CAPTURES / "invite-unanswered.pcap") as source:
        return next(iter(source)).data


# -- (1) pcapng interface descriptions ------------------------------------------------------------


def test_interface_descriptions_are_capped(tmp_path: Path) -> None:
    """70,000 distinct IDBs (1.4 MB): the first 65,536 are kept, the rest refused and counted,
    a packet on a refused interface skipped as undeclared; memory stays at a few MB."""
    count = pcapng.MAX_INTERFACES + 4_464
    idbs = b"".join(bf.ng_idb(1, snaplen=1000 + n) for n in range(count))  # all distinct
    data = _sip_frame()
    path = tmp_path / "idbs.pcapng"
    path.write_bytes(
        bf.ng_shb() + idbs + bf.ng_epb(0, 1, data) + bf.ng_epb(count - 1, 2, data)
    )
    (frames, counters, problems), peak, seconds = measured(lambda: frames_and_counters(path))
    assert frames == 1
    assert counters == {"too-many-interfaces": 4_464, "unknown-interface": 1}
    assert problems[0] == (
        "after record 0: more than 65536 interfaces in one section; the further ones are "
        "refused and their packets skipped"
    )
    assert peak < 16 * MB, peak  # measured: 12 MB, of which 1.4 MB is the file itself
    assert seconds < 2, seconds  # measured: 0.17 s
