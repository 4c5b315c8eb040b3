"""Long runs stay flat: a synthetic capture of many calls streamed through the pipeline.

sipwatch runs for hours during an incident. Every table it keeps (transactions, dialogs,
transfers, TCP streams, fragments) is capped and expires on RFC timers in capture time, and the
summary's wire-keyed counters are bounded (:mod:`sipwatch.bounded`), so memory must reach a
plateau and stay there however many calls go by.

The workload: short calls (INVITE, 486 Busy Here 0.8 s later, ACK), 200 new calls per second of
capture time, every call with its own Call-ID, branch and tags, from 250 user agents. Frames are
generated lazily and streamed through :class:`sipwatch.pipeline.Pipeline` (never held in a
list), in a child process so its memory is measured alone: resident memory at 10 % of the calls
and at the end may differ only by the distinct-Call-ID table plus ``GROWTH_SLACK_MB``, the peak
must stay under 300 MB, and the summary's counts must be exact.

How many calls: ``DEFAULT_CALLS``, 1,000,000 (3,000,000 messages). That takes about ten minutes
on the 2-core machine CI uses, so the suite runs under pytest-xdist and this test is collected
first (tests/conftest.py): one worker runs it while the other runs everything else.
``SIPWATCH_MEMORY_CALLS`` changes the size; the test reports its duration, throughput and memory
as the ``measured`` property, printed at the end of the run.
"""

from __future__ import annotations

import gc
import itertools
import json
import os
import resource
import struct
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from sipwatch.bounded import CappedCounter, DistinctCounter
from sipwatch.capture.types import Frame

REPO = Path(__file__).resolve().parents[1]
DEFAULT_CALLS = 1_000_000
CALLS_PER_SECOND = 200.0
START = 1_700_000_000.0
#: Resident memory may grow between 10 % and 100 % of the run by the one table that grows with
#: the number of calls, the distinct-Call-ID count (at most 24 bytes a call: 8-byte slots, at
#: least a third full), plus this much for the allocator.
GROWTH_SLACK_MB = 8.0
PEAK_LIMIT_MB = 300.0

_MACS = b"\x02\x00\x00\x00\x00\x02\x02\x00\x00\x00\x00\x01\x08\x00"
_SERVER = bytes([10, 0, 0, 1])


def _frame(ts: float, number: int, src: bytes, sport: int, dst: bytes, payload: bytes) -> Frame:
    udp = struct.pack("!HHHH", sport, 5060 if src != _SERVER else 5062, 8 + len(payload), 0)
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 28 + len(payload), 0, 0, 64, 17, 0, src, dst)
    if src == _SERVER:
        udp = struct.pack("!HHHH", 5060, sport, 8 + len(payload), 0)
    return Frame(ts, 1, _MACS + ip + udp + payload, number, 42 + len(payload))


def synthetic_calls(calls: int) -> Iterator[Frame]:
    """INVITE → 486 → ACK for each call, lazily, in capture-time order."""
    number = 0
    pending: list[tuple[float, bytes, int, bytes, bytes]] = []  # responses/ACKs not yet due
    for i in range(calls):
        ts = START + i / CALLS_PER_SECOND
        ua = bytes([10, 1, i % 250 // 100 + 1, i % 100 + 2])
        port = 5062 + i % 250
        call_id = f"{i:x}-{(i * 2654435761) % 4294967296:08x}@ua{i % 250}.example.net"
        branch = f"z9hG4bK{i * 7919:x}.{i % 97}"
        via = f"Via: SIP/2.0/UDP 10.1.{i % 250 // 100 + 1}.{i % 100 + 2}:{port};branch={branch}"
        from_ = f'From: "User {i % 250}" <sip:u{i % 250}@example.net>;tag=f{i:x}'
        to = f"To: <sip:{2000 + i % 5000}@example.net>"
        tail = f"Call-ID: {call_id}\r\nCSeq: 1"
        invite = (
            f"INVITE sip:{2000 + i % 5000}@example.net SIP/2.0\r\n{via}\r\nMax-Forwards: 70\r\n"
            f"{from_}\r\n{to}\r\n{tail} INVITE\r\nContact: <sip:u@10.1.0.1:{port}>\r\n"
            "Content-Length: 0\r\n\r\n"
        ).encode()
        busy = (
            f"SIP/2.0 486 Busy Here\r\n{via}\r\n{from_}\r\n{to};tag=t{i:x}\r\n{tail} INVITE\r\n"
            "Content-Length: 0\r\n\r\n"
        ).encode()
        ack = (
            f"ACK sip:{2000 + i % 5000}@example.net SIP/2.0\r\n{via}\r\nMax-Forwards: 70\r\n"
            f"{from_}\r\n{to};tag=t{i:x}\r\n{tail} ACK\r\nContent-Length: 0\r\n\r\n"
        ).encode()
        while pending and pending[0][0] <= ts:
            due, src, sport, dst, payload = pending.pop(0)
            number += 1
            yield _frame(due, number, src, sport, dst, payload)
        number += 1
        yield _frame(ts, number, ua, port, _SERVER, invite)
        pending.append((ts + 0.8, _SERVER, port, ua, busy))
        pending.append((ts + 0.801, ua, port, _SERVER, ack))
    for due, src, sport, dst, payload in pending:
        number += 1
        yield _frame(due, number, src, sport, dst, payload)


def _rss_mb() -> float:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def run_workload(calls: int) -> dict[str, object]:
    """Stream the calls through a pipeline; measure memory at 10 %, 50 % and the end."""
    from sipwatch.pipeline import Pipeline

    pipeline = Pipeline(source="synthetic")
    kinds: Counter[str] = Counter()
    findings: Counter[str] = Counter()
    checkpoints = {calls * 3 // 10: "10%", calls * 3 // 2: "50%"}
    rss: dict[str, float] = {}
    start = time.perf_counter()
    for record in pipeline.run(synthetic_calls(calls)):
        name = type(record).__name__
        kinds[name] += 1
        if name == "FindingRecord":
            findings[str(getattr(record, "kind", ""))] += 1
        label = checkpoints.get(pipeline.summary.frames)
        if label is not None and label not in rss:
            gc.collect()
            rss[label] = _rss_mb()
    elapsed = time.perf_counter() - start
    gc.collect()
    rss["100%"] = _rss_mb()
    summary = pipeline.summary
    return {
        "calls": calls,
        "seconds": elapsed,
        "rss": rss,
        "peak": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "records": dict(kinds),
        "findings": dict(findings),
        "summary": {
            "frames": summary.frames,
            "messages": summary.messages,
            "shown": summary.shown,
            "calls": summary.calls,
            "requests": dict(summary.requests_by_method),
            "responses": {str(k): v for k, v in summary.responses_by_status.items()},
            "findings": dict(summary.findings_by_kind),
            "malformed": dict(summary.malformed),
            "skipped": dict(summary.skipped),
            "evictions": dict(summary.evictions),
        },
    }


@pytest.mark.slow
def test_a_long_run_stays_flat_and_counts_exactly(
    record_property: Callable[[str, object], None],
) -> None:
    calls = int(os.environ.get("SIPWATCH_MEMORY_CALLS", DEFAULT_CALLS))
    child = subprocess.run(
        [sys.executable, "-m", "tests.test_memory", str(calls)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=3600,
        check=False,
    )
    assert child.returncode == 0, child.stderr[-3000:]
    result = json.loads(child.stdout.splitlines()[-1])
    seconds = float(result["seconds"])
    rss = result["rss"]
    record_property(
        "measured",
        f"{calls} calls ({3 * calls} messages) in {seconds:.1f} s: "
        f"{calls / seconds:.0f} calls/s, {3 * calls / seconds:.0f} messages/s; "
        f"RSS {rss['10%']:.1f} MB at 10 %, {rss['50%']:.1f} MB at 50 %, {rss['100%']:.1f} MB "
        f"at the end, peak {result['peak']:.1f} MB",
    )
    assert rss["100%"] - rss["10%"] < GROWTH_SLACK_MB + 24 * calls / 2**20
    assert result["peak"] < PEAK_LIMIT_MB

    summary = result["summary"]
    assert summary == {
        "frames": 3 * calls,
        "messages": 3 * calls,
        "shown": 3 * calls,
        "calls": calls,
        "requests": {"INVITE": calls, "ACK": calls},
        "responses": {"486": calls},
        "findings": {"request-failed": calls},
        "malformed": {},
        "skipped": {},
        "evictions": {},
    }
    assert result["records"] == {"MessageRecord": 3 * calls, "FindingRecord": calls}
    assert result["findings"] == {"request-failed": calls}


def test_closed_calls_are_freed_by_reference_counting() -> None:
    """No reference cycle outlives a closed exchange: with the collector off, everything a call
    allocated is freed once its state expires. (Transactions point back at their exchange; until
    closing an exchange dropped its list of them, every call left ~30 objects for the collector,
    which the pipeline runs rarely for speed: memory then grew about 3 KB a call.)"""
    from sipwatch.pipeline import Pipeline

    pipeline = Pipeline()
    frames = synthetic_calls(15_000)
    enabled = gc.isenabled()
    gc.collect()
    gc.disable()
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        for n, frame in enumerate(frames):
            pipeline.feed(frame)
            if n == 3 * 12_000:  # 60 s of capture time: thousands of calls closed by now
                break
        assert gc.collect() == 0, Counter(type(o).__name__ for o in gc.garbage).most_common(5)
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
        if enabled:
            gc.enable()


def test_synthetic_capture_is_what_the_memory_test_says() -> None:
    """The generator itself, on a small count: order, timing and content."""
    frames = list(synthetic_calls(400))
    assert len(frames) == 1200
    assert [f.number for f in frames] == list(range(1, 1201))
    assert all(a.ts <= b.ts for a, b in itertools.pairwise(frames))
    assert frames[-1].ts - frames[0].ts == pytest.approx(399 / CALLS_PER_SECOND + 0.801)
    first = frames[0].data[42:]
    assert first.startswith(b"INVITE sip:2000@example.net SIP/2.0\r\n")
    call_ids = {f.data[42:].split(b"Call-ID: ")[1].split(b"\r\n")[0] for f in frames}
    assert len(call_ids) == 400


def test_distinct_counter_is_exact_and_small() -> None:
    """The Call-ID count of the summary: exact against a set, 8 bytes a slot."""
    counter = DistinctCounter()
    seen: set[str] = set()
    for i in range(150_000):
        value = f"{i * 7 % 100_003}@host"
        counter.add(value)
        seen.add(value)
    assert len(counter) == len(seen) == 100_003
    assert all(value in counter for value in list(seen)[:5000])
    assert "never-added" not in counter
    assert counter.nbytes <= 8 * 4 * len(seen)  # at least a quarter full
    assert counter.nbytes < sys.getsizeof(seen) + sum(sys.getsizeof(v) for v in seen)


def test_capped_counter_folds_new_keys_once_full() -> None:
    """Method names and malformed reasons come from the wire: a scanner inventing a method per
    packet fills 256 keys, then counts go to "(other)" and ``overflow`` says how many."""
    counter = CappedCounter(cap=3)
    for method in ["INVITE", "ACK", "INVITE", "BYE", "FUZZ1", "FUZZ2", "BYE", "FUZZ1"]:
        counter[method] += 1
    assert counter == {"INVITE": 2, "ACK": 1, "BYE": 2, "(other)": 3}
    assert counter.overflow == 3
    counter.update({"ACK": 2, "NEW": 4})
    assert counter["ACK"] == 3 and counter["(other)"] == 7 and counter.overflow == 7


if __name__ == "__main__":
    print(json.dumps(run_workload(int(sys.argv[1]))))
