"""``--time abs|rel|delta``: the timeline's time column, and the date when a capture spans days.

Checked against the capture's own timestamps as the JSON lines give them (epoch seconds), on a
bundled capture and on the same capture with its later frames moved days ahead (its classic
pcap record headers rewritten), as a capture left running over a weekend would be.
"""

from __future__ import annotations

import json
import math
import struct
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from sipwatch.cli import app
from sipwatch.render.terminal import TimeColumn
from tests.conftest import CAPTURES

CAPTURE = CAPTURES / "transfer-no-notify.pcap"
DAY = 86400


def run(*args: str) -> Any:
    return CliRunner().invoke(app, ["pcap", *args, "--no-color", "--explain", "none"])


def message_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line[:6].strip().isdigit()]


def timestamps(path: Path) -> list[float]:
    lines = map(json.loads, run(str(path), "--format", "jsonl").stdout.splitlines())
    return [m["ts"] for m in lines if m["type"] == "message"]


def shifted(tmp_path: Path, shifts: dict[int, int]) -> Path:
    """The capture with each record from frame N on moved ``shifts[N]`` seconds later."""
    data = bytearray(CAPTURE.read_bytes())
    magic = struct.unpack_from("<I", data)[0]
    assert magic == 0xA1B2C3D4  # little-endian, microseconds: what captures/record.py writes
    offset, frame, shift = 24, 0, 0
    while offset < len(data):
        frame += 1
        shift = shifts.get(frame, shift)
        seconds, _, caplen, _ = struct.unpack_from("<IIII", data, offset)
        struct.pack_into("<I", data, offset, seconds + shift)
        offset += 16 + caplen
    path = tmp_path / "weekend.pcap"
    path.write_bytes(bytes(data))
    return path


def test_abs_shows_the_date_on_the_first_line_only_within_a_day() -> None:
    lines = message_lines(run(str(CAPTURE)).stdout)
    assert lines[0].startswith("     1 2026-11-25 23:35:06.226 127.0.0.11:5060 → ")
    assert lines[1].startswith("     2 23:35:06.227 127.0.0.13:5060 → ")
    assert all(" 2026-" not in line for line in lines[1:])


def test_abs_shows_the_date_again_whenever_it_changes(tmp_path: Path) -> None:
    path = shifted(tmp_path, {5: 2 * DAY, 7: 3 * DAY})
    lines = message_lines(run(str(path), "--time", "abs").stdout)
    dated = [(line.split()[0], line.split()[1]) for line in lines if line.split()[1][4] == "-"]
    # The capture starts at 23:35 on the 25th: frames 5-6 move two days on, 7-8 three.
    assert dated == [("1", "2026-11-25"), ("5", "2026-11-27"), ("7", "2026-11-28")]
    assert lines[4].startswith("     5 2026-11-27 23:35:")


@pytest.mark.parametrize("mode", ["rel", "delta"])
def test_rel_and_delta_are_the_capture_timestamps(mode: str, tmp_path: Path) -> None:
    path = shifted(tmp_path, {5: 2 * DAY})
    ts = timestamps(path)
    lines = message_lines(run(str(path), "-t", mode).stdout)
    assert len(lines) == len(ts)
    for n, line in enumerate(lines):
        expected = ts[n] - ts[0] if mode == "rel" else ts[n] - ts[max(n - 1, 0)]
        assert line[7:19] == f"{expected:>12.3f}", line
        assert line[19] == " "
    assert float(lines[4][7:19]) > 2 * DAY  # the jump is shown as it is, in seconds


def test_each_capture_starts_afresh() -> None:
    text = run(str(CAPTURE), str(CAPTURES / "auth-challenge.pcap"), "-t", "rel").stdout
    firsts = [line for line in message_lines(text) if line.startswith("     1 ")]
    assert [line[7:19] for line in firsts] == [f"{0:>12.3f}"] * 2


def test_time_column_unit() -> None:
    column = TimeColumn("abs")
    assert column.text(1_700_000_000.0) == "2023-11-14 22:13:20.000"
    assert column.text(1_700_000_001.5) == "22:13:21.500"
    assert column.text(math.nan) == "--:--:--.---"
    assert column.text(1_700_000_000.0 + DAY) == "2023-11-15 22:13:20.000"
    assert column.text(2.0**62) == "07:45:04.000"  # no year for it: the time of day, no error
    column.restart()
    assert column.text(1_700_000_002.0) == "2023-11-14 22:13:22.000"
    delta = TimeColumn("delta")
    assert [delta.text(t) for t in (10.0, 10.25, 9.5)] == [
        "       0.000",
        "       0.250",
        "      -0.750",  # a timestamp going backwards is shown, not hidden
    ]
    with pytest.raises(ValueError):
        TimeColumn("local")


def test_time_is_a_usage_error_when_unknown() -> None:
    result = run(str(CAPTURE), "--time", "local")
    assert result.exit_code == 2


def test_the_summary_gives_the_span_of_a_capture_over_several_days(tmp_path: Path) -> None:
    path = shifted(tmp_path, {5: 2 * DAY, 7: 3 * DAY})
    for mode in ("abs", "rel", "delta"):
        wide = CliRunner().invoke(
            app, ["pcap", str(path), "-t", mode, "--no-color"], env={"COLUMNS": "120"}
        )
        text = wide.stdout
        assert (
            "time span         2026-11-25 23:35:06.226 to 2026-11-28 23:35:40.439 UTC (3.0 days)"
        ) in text.splitlines()
    assert "time span" not in run(str(CAPTURE)).stdout  # one day: no row
