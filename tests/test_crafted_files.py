"""Small crafted files cannot cost large memory or time (docs/limits.md, *Capture files*).

Each case is a file found by fuzzing, rebuilt here at a size that runs in seconds: the peak of
Python allocations while reading it (``tracemalloc``) and the time taken are measured and held
under a stated bound, and what was refused is counted where the summary shows it.
"""

from __future__ import annotations

import gzip
import json
import struct
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from pytest import MonkeyPatch
from typer.testing import CliRunner

from sipwatch.capture import netmon, pcapng
from sipwatch.capture.readers import open_capture
from sipwatch.cli import app
from sipwatch.correlate.limits import Limits
from sipwatch.pipeline import Pipeline, PipelineOptions
from sipwatch.records import MessageRecord
from tests import build_frames as bf
from tests.conftest import CAPTURES

T = TypeVar("T")
REPO = Path(__file__).resolve().parents[1]
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
        peak = tracemalloc.get_traced_memory()[1] - base
        print(f"peak {peak / MB:.1f} MB, {seconds:.3f} s")  # shown with pytest -s
        return result, peak, seconds
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
    path.write_bytes(bf.ng_shb() + idbs + bf.ng_epb(0, 1, data) + bf.ng_epb(count - 1, 2, data))
    (frames, counters, problems), peak, seconds = measured(lambda: frames_and_counters(path))
    assert frames == 1
    assert counters == {"too-many-interfaces": 4_464, "unknown-interface": 1}
    assert problems[0] == (
        "after record 0: more than 65536 interfaces in one section; the further ones are "
        "refused and their packets skipped"
    )
    assert peak < 16 * MB, peak  # measured: 12 MB, of which 1.4 MB is the file itself
    assert seconds < 2, seconds  # measured: 0.17 s


# -- (2) NetMon: read whole, once, up to a cap ---------------------------------------------------


def _netmon(frames: int, size: int) -> bytes:
    payload = _sip_frame().ljust(size, b"\x00")
    return bf.netmon_bytes([(1_700_000_000.0 + n, payload) for n in range(frames)], start=1e9)


def test_netmon_file_is_held_once(tmp_path: Path) -> None:
    """A 6 MB NetMon file: the peak is the file plus its buffer's growth slack (1/8) and two
    1 MiB read chunks, not twice the file (measured: 8.9 MB)."""
    data = _netmon(400, 15_000)
    path = tmp_path / "big.cap"
    path.write_bytes(data)

    def read() -> int:
        with open_capture(path) as source:
            return sum(len(frame.data) for frame in source)

    total, peak, seconds = measured(read)
    assert total == 400 * 15_000
    assert peak < 1.15 * len(data) + 2.5 * MB, (peak, len(data))
    assert seconds < 2, seconds


def test_netmon_file_over_the_cap_is_refused(tmp_path: Path, monkeypatch: MonkeyPatch) -> None:
    """Over the cap (set to 16 MiB here, 128 MiB by default): one line, exit 2, and reading
    stops at the cap, so memory stays near it however large the file expands."""
    monkeypatch.setattr(netmon, "MAX_FILE", 16 << 20)
    path = tmp_path / "huge.cap.gz"
    path.write_bytes(gzip.compress(_netmon(2_000, 15_000), compresslevel=1))  # 30 MB inside
    result, peak, seconds = measured(lambda: CliRunner().invoke(app, ["pcap", str(path)]))
    assert (result.exit_code, result.stdout) == (2, "")
    assert result.stderr == (
        f"sipwatch: error: {path}: NetMon file larger than 16 MiB, the most sipwatch reads (the "
        "format keeps its frame table at the end, so it is read whole); convert it first: "
        "editcap -F pcapng FILE OUT.pcapng\n"
    )
    # The cap, its growth slack, one chunk past it and gzip's buffers (measured: 23 MB).
    assert peak < 1.15 * (16 << 20) + 6 * MB, peak
    assert seconds < 5, seconds


# -- (3) NetMon: repeated frame references ---------------------------------------------------------


def test_netmon_repeated_frame_references_are_skipped_in_linear_time(tmp_path: Path) -> None:
    """20,000 table entries all pointing at one 60 KB frame (a 140 KB file): one frame is
    decoded, the 19,999 repeats are counted and skipped, in well under a second."""
    one = _netmon(1, 60_000)
    table_off, table_len = struct.unpack_from("<II", one, 24)
    (first,) = struct.unpack_from("<I", one, table_off)
    crafted = bytearray(one[:table_off]) + struct.pack("<I", first) * 20_000
    struct.pack_into("<II", crafted, 24, table_off, 4 * 20_000)
    path = tmp_path / "repeats.cap"
    path.write_bytes(bytes(crafted))
    assert table_len == 4 and len(crafted) < 150_000

    def run() -> tuple[int, dict[str, int]]:
        pipeline = Pipeline(PipelineOptions(), source=str(path))
        with open_capture(path) as source:
            messages = sum(isinstance(r, MessageRecord) for r in pipeline.run(source))
            counters = dict(source.stats.counters)
        return messages, counters

    (records, counters), peak, seconds = measured(run)
    assert counters == {"netmon-frame-overlap": 19_999}
    assert records == 1  # the one INVITE, once
    assert seconds < 1, seconds
    assert peak < 4 * MB, peak


# -- (4) the exchange table: a flood of unanswered Call-IDs ---------------------------------------


def _table_peak(table: str, cap: int, entries: int) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-m", "tests.table_peak", table, str(cap), str(entries)],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
        cwd=REPO,
    )
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def test_unanswered_call_ids_stay_under_the_stated_peak() -> None:
    """A million unanswered INVITEs, each its own Call-ID, within one Timer B: scaled down to
    12,000 with the exchange cap at 8,000 (evicting 4,000), resident memory measured in a child
    process. The cost per exchange, extrapolated to the default cap, must keep the whole
    process under 300 MB (docs/limits.md: measured about 5.6 KB an exchange, 174 MB peak for
    60,000 at the default cap)."""
    run = _table_peak("exchanges", 8_000, 12_000)
    assert run["evicted"] == {"exchanges": 4_000}
    per_exchange_kb = (run["peak_kb"] - run["baseline_kb"]) / 8_000
    assert per_exchange_kb < 7.0, per_exchange_kb
    extrapolated_mb = (run["baseline_kb"] + per_exchange_kb * Limits().exchanges) / 1024
    assert extrapolated_mb < 300, extrapolated_mb
    assert run["seconds"] < 10, run["seconds"]


# -- the same, at full size, as a child process sees it ------------------------------------------


def _read_peak(path: Path) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-m", "tests.read_peak", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
        cwd=REPO,
    )
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def test_a_million_interface_descriptions_in_48_kb_of_gzip(tmp_path: Path) -> None:
    """The fuzzed file itself: 48 KB of gzip holding a million IDBs once peaked at 160 MB."""
    path = tmp_path / "idbs.pcapng.gz"
    path.write_bytes(gzip.compress(bf.ng_shb() + bf.ng_idb(1) * 1_000_000, 9))
    assert path.stat().st_size < 64_000
    run = _read_peak(path)
    assert run["counters"] == {"too-many-interfaces": 1_000_000 - pcapng.MAX_INTERFACES}
    assert run["peak_kb"] - run["baseline_kb"] < 32 * 1024, run  # measured: under 1 MB
    assert run["seconds"] < 10, run


def test_netmon_expanding_past_the_default_cap_is_refused_near_it(tmp_path: Path) -> None:
    """A NetMon header and then 200 MiB of zeros, in 0.9 MB of gzip: refused once 128 MiB are
    read (by the check before anything is printed, then again at open), never more held."""
    header = _netmon(1, 100)[:128]
    path = tmp_path / "bomb.cap.gz"
    with gzip.open(path, "wb", compresslevel=1) as out:
        out.write(header)
        zeros = bytes(1 << 20)
        for _ in range(200):
            out.write(zeros)
    run = _read_peak(path)
    assert run["error"] is not None and "NetMon file larger than 128 MiB" in run["error"]
    # Held once: the cap and its growth slack (measured: 136 MB above the 20 MB of imports).
    assert run["peak_kb"] - run["baseline_kb"] < 170 * 1024, run
    assert run["seconds"] < 10, run
