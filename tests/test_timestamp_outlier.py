"""A record whose timestamp jumps far ahead and back is named as the outlier, not its neighbour.

The reader compares each record with the one before it; when record N is earlier than N-1, the
usual culprit is N (a merged capture, a clock stepped back). But a single damaged timestamp far
in the future makes N-1 the odd one: then N-1 is named. Either way it is a counted oddity, one
problem line, and every record is still decoded with its timestamp as written.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from sipwatch.capture.readers import open_capture
from tests import build_frames as bf
from tests.conftest import REPO, public_capture

T = 1_700_000_000.0
YEARS_24 = 24 * 365.25 * 86400 + 86400  # a day more, so "24 years" whichever neighbour
LINKTYPE_RAW = 101


def packets(times: list[float]) -> list[tuple[float, bytes]]:
    return [(ts, bytes(bf.udp4(bf.sip_request(call_id=f"c{i}@t")))) for i, ts in enumerate(times)]


def read(path: Path) -> tuple[list[float], list[str], dict[str, int]]:
    with open_capture(path) as source:
        times = [frame.ts for frame in source]
        return times, list(source.stats.problems), dict(source.stats.counters)


@pytest.mark.parametrize("fmt", ["pcap", "pcapng"])
def test_a_timestamp_far_ahead_names_that_record(tmp_path: Path, fmt: str) -> None:
    times = [T, T + YEARS_24, T + 0.0001, T + 0.0002, T + 0.0003]
    build = bf.pcap_bytes if fmt == "pcap" else bf.pcapng_bytes
    path = tmp_path / f"outlier.{fmt}"
    path.write_bytes(build(packets(times), LINKTYPE_RAW))
    got, problems, counters = read(path)
    assert got == pytest.approx(times, abs=1e-6)  # everything decoded, times as written
    assert problems == [
        f"record 2: timestamp {T + YEARS_24:.6f} is 24 years ahead of records 1 and 3 "
        "(a damaged timestamp: the records around it are in order)"
    ]
    assert counters == {"timestamp-outlier": 1}


def test_small_reordering_still_blames_the_later_record(tmp_path: Path) -> None:
    """Milliseconds out of order is what capture queues do; no record is called damaged."""
    path = tmp_path / "jitter.pcap"
    path.write_bytes(bf.pcap_bytes(packets([T, T + 0.003, T + 0.002, T + 0.004]), LINKTYPE_RAW))
    _, problems, counters = read(path)
    assert problems == [f"record 3: timestamp goes backwards ({T + 0.002:.6f})"]
    assert counters == {"timestamp-backwards": 1}


def test_a_step_back_that_stays_back_blames_the_first_record_after_it(tmp_path: Path) -> None:
    """A clock stepped back an hour: record 3 and those after it are consistently earlier, so
    record 2 is not an outlier (record 3 is earlier than record 1 too)."""
    path = tmp_path / "step.pcap"
    times = [T, T + 1, T - 3600, T - 3599]
    path.write_bytes(bf.pcap_bytes(packets(times), LINKTYPE_RAW))
    _, problems, counters = read(path)
    assert problems == [f"record 3: timestamp goes backwards ({T - 3600:.6f})"]
    assert counters == {"timestamp-backwards": 1}


def test_the_first_record_cannot_be_called_an_outlier(tmp_path: Path) -> None:
    """With one record before it there is no "in order around it" to judge by."""
    path = tmp_path / "first.pcap"
    path.write_bytes(bf.pcap_bytes(packets([T + YEARS_24, T, T + 1]), LINKTYPE_RAW))
    _, problems, _ = read(path)
    assert problems == [f"record 2: timestamp goes backwards ({T:.6f})"]


def test_public_capture_with_a_damaged_second_record() -> None:
    """Record 2 of this capture is dated 2041, records 1 and 3 are in 2017 (tshark agrees)."""
    path = public_capture("sip-tls-1.3-and-rtcp.pcap")
    proc = subprocess.run(
        [sys.executable, "-m", "sipwatch", "pcap", str(path), "--format", "jsonl"],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout.splitlines()[-1])
    oracle = json.loads(path.with_name(path.name + ".oracle.json").read_text())
    assert summary["frames"] == oracle["packets_total"]  # every record decoded
    assert summary["problems"][0] == (
        "record 2: timestamp 2253914584.365076 is 23 years ahead of records 1 and 3 "
        "(a damaged timestamp: the records around it are in order)"
    )
    assert not any(p.startswith("record 3:") for p in summary["problems"])
