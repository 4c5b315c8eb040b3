"""Broken capture files through ``sipwatch pcap``, as the operator sees them.

Captures from the field are often truncated (a full disk, a killed tcpdump, a partial download)
or corrupt. The contract, checked here through the real CLI (``typer.testing.CliRunner``):

* a file that is not a capture at all is the operator's problem: exit code 2, stdout empty, and
  exactly one line on stderr, ``sipwatch: error: <file>: ...``;
* a capture damaged part-way is data: exit code 0, every message decoded before the damage is
  printed exactly as it is for the intact file, and the damage is named in the summary
  (``problem`` rows in the terminal, ``problems`` and ``truncated`` in JSON lines);
* oddities that do not stop reading (records longer than the snapshot length, timestamps
  going backwards) are reported once each, and every message is still printed;
* never a traceback, whatever the file.

The captures are built from the bundled ``captures/transfer-succeeded.pcap`` (twelve SIP
messages, one per frame), so the expected output is the output of the intact file.
"""

from __future__ import annotations

import gzip
import json
import re
import struct
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from sipwatch.capture.readers import open_capture
from sipwatch.cli import app
from tests import build_frames as bf
from tests.conftest import CAPTURES

SOURCE = CAPTURES / "transfer-succeeded.pcap"
#: A message line of the terminal timeline: frame number, clock, then the flow.
MESSAGE_LINE = re.compile(r"^ {0,5}\d+ (\d{4}-\d\d-\d\d )?\d\d:\d\d:\d\d\.\d{3} ")


@cache
def records() -> tuple[tuple[float, bytes], ...]:
    """(timestamp, frame bytes) of the twelve frames of the source capture."""
    with open_capture(SOURCE) as source:
        return tuple((f.ts, f.data) for f in source)


def invoke(path: Path, *options: str) -> Result:
    return CliRunner().invoke(app, ["pcap", str(path), "--no-color", *options])


def message_lines(output: str) -> list[str]:
    return [line for line in output.splitlines() if MESSAGE_LINE.match(line)]


def problems(output: str) -> list[str]:
    return [line.split(None, 1)[1] for line in output.splitlines() if line.startswith("problem ")]


def jsonl(output: str) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    objects = [json.loads(line) for line in output.splitlines()]
    assert objects[-1]["type"] == "summary"
    return [o for o in objects if o["type"] == "message"], objects[-1]


@cache
def intact_text() -> list[str]:
    result = invoke(SOURCE)
    assert result.exit_code == 0
    lines = message_lines(result.stdout)
    assert len(lines) == 12
    return lines


@cache
def intact_json() -> tuple[dict[str, Any], ...]:
    messages, _ = jsonl(invoke(SOURCE, "--format", "jsonl").stdout)
    assert len(messages) == 12
    return tuple(messages)


def assert_clean(result: Result) -> None:
    """No traceback and no exception other than the CLI's own exit."""
    assert "Traceback" not in result.stdout + result.stderr
    assert result.exception is None or isinstance(result.exception, SystemExit)


def write(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


# -- not a capture: exit 2, one line -------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("empty.pcap", b"", "not a capture file: it is empty"),
        (
            "notes.pcap",
            b"# sipwatch\nnot a capture\n",
            "not a capture file: starts with '# sipwatch",
        ),
        (
            "elf.pcap",
            b"\x7fELF\x02\x01\x01" + b"\x00" * 60,
            "not a capture file: starts with '\\x7fELF",
        ),
        ("magic-only.pcap", b"\xd4\xc3\xb2\xa1", "pcap file header cut short (file too small)"),
        ("shb-only.pcapng", b"\x0a\x0d\x0d\x0a\x1c\x00", "pcapng section header cut short"),
        (
            "bad-bom.pcapng",
            b"\x0a\x0d\x0d\x0a\x1c\x00\x00\x00\x11\x22\x33\x44" + b"\x00" * 16,
            "not a capture file: pcapng section header with unknown byte-order magic 11223344",
        ),
        (
            "garbage.pcap.gz",
            gzip.compress(b"hello, not a capture", mtime=0),
            "not a capture file (inside gzip)",
        ),
        (
            "broken.gz",
            b"\x1f\x8b\x08\x00garbage-not-deflate",
            "not a capture file: broken gzip data",
        ),
    ],
)
def test_not_a_capture_is_one_line_and_exit_2(
    tmp_path: Path, name: str, content: bytes, message: str
) -> None:
    path = write(tmp_path, name, content)
    result = invoke(path)
    assert_clean(result)
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1
    assert result.stderr.startswith(f"sipwatch: error: {path}: ")
    assert message in result.stderr


@pytest.mark.parametrize(
    ("linktype", "named"), [(147, "147 (USER0)"), (105, "105 (IEEE802_11 Wi-Fi)"), (4242, "4242")]
)
@pytest.mark.parametrize("output", ["text", "jsonl"])
def test_pcap_of_an_unknown_link_type_is_unreadable(
    tmp_path: Path, linktype: int, named: str, output: str
) -> None:
    """A classic pcap has one link type for all its records: if sipwatch cannot decode it, not
    one packet can be read, which is an error (exit 2), not an empty summary."""
    path = write(tmp_path, "user0.pcap", bf.pcap_bytes(records(), linktype))
    result = invoke(path, "--format", output)
    assert_clean(result)
    assert (result.exit_code, result.stdout) == (2, "")
    assert result.stderr == (
        f"sipwatch: error: {path}: unreadable: its link type {named} is not one sipwatch "
        "decodes (Ethernet, Linux cooked, raw IP, loopback, PPP)\n"
    )
    # The FCS bits above the low 16 do not make a known type unknown (or the reverse).
    fcs = write(tmp_path, "fcs.pcap", bf.pcap_bytes(records(), linktype | 0x1000_0000))
    assert invoke(fcs).exit_code == 2
    assert (
        invoke(write(tmp_path, "eth.pcap", bf.pcap_bytes(records(), 1 | 0x1000_0000))).exit_code
        == 0
    )


def test_pcapng_keeps_skipping_unknown_interfaces_counted(tmp_path: Path) -> None:
    """In a pcapng each interface has its own link type: the readable ones are decoded and the
    packets of an unknown one are skipped and counted, as before."""
    parts = [bf.ng_shb(), bf.ng_idb(1), bf.ng_idb(147)]
    for n, (ts, data) in enumerate(records()):
        parts.append(bf.ng_epb(n % 2, round(ts * 1_000_000), data))
    path = write(tmp_path, "two.pcapng", b"".join(parts))
    result = invoke(path, "--format", "jsonl")
    assert_clean(result)
    assert result.exit_code == 0
    summary = json.loads(result.stdout.splitlines()[-1])
    assert (summary["messages"], summary["skipped"]) == (6, {"unknown-linktype-147": 6})
    only_unknown = write(tmp_path, "one.pcapng", bf.pcapng_bytes(records(), 147))
    summary = json.loads(invoke(only_unknown, "--format", "jsonl").stdout.splitlines()[-1])
    assert (summary["messages"], summary["skipped"]) == (0, {"unknown-linktype-147": 12})


def test_check_reports_an_unknown_link_type_unreadable(tmp_path: Path) -> None:
    path = write(tmp_path, "user0.pcap", bf.pcap_bytes(records(), 147))
    result = CliRunner().invoke(app, ["check", str(path), str(SOURCE), "--format", "jsonl"])
    assert_clean(result)
    assert result.exit_code == 2
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    verdicts = {line["capture"]: line for line in lines if line.get("type") == "verdict"}
    assert verdicts[str(path)]["verdict"] == "error"
    assert "link type 147 (USER0)" in json.dumps(verdicts[str(path)])
    assert verdicts[str(SOURCE)]["verdict"] != "error"


@pytest.mark.parametrize("what", ["missing", "directory"])
def test_unreadable_path_is_one_line_and_exit_2(tmp_path: Path, what: str) -> None:
    path = tmp_path / "nothing.pcap"
    if what == "directory":
        path.mkdir()
    result = invoke(path)
    assert_clean(result)
    assert result.exit_code == 2
    assert result.stdout == ""
    expected = "no such file" if what == "missing" else "is a directory, not a capture file"
    assert result.stderr == f"sipwatch: error: {path}: {expected}\n"


def test_jsonl_format_fails_the_same_way(tmp_path: Path) -> None:
    result = invoke(write(tmp_path, "empty.pcap", b""), "--format", "jsonl")
    assert (result.exit_code, result.stdout) == (2, "")
    assert (
        result.stderr
        == f"sipwatch: error: {tmp_path / 'empty.pcap'}: not a capture file: it is empty\n"
    )


def test_good_file_then_not_a_capture_fails_before_any_output(tmp_path: Path) -> None:
    """Several files: every one is checked before anything is printed, so a bad second file
    is the same one-line error as a bad first one, not a timeline cut short."""
    bad = write(tmp_path, "bad.pcap", b"nope")
    result = CliRunner().invoke(app, ["pcap", str(SOURCE), str(bad), "--no-color"])
    assert_clean(result)
    assert (result.exit_code, result.stdout) == (2, "")
    assert result.stderr == f"sipwatch: error: {bad}: not a capture file: starts with 'nope'\n"


# -- damaged part-way: exit 0, everything before the damage printed --------------------------------


def pcap_prefix_and_offsets() -> tuple[bytes, list[int]]:
    """The source as a pcap, and the file offset where each record starts."""
    data = bf.pcap_bytes(records(), 1)
    offsets = [24]
    for _ts, frame in records():
        offsets.append(offsets[-1] + 16 + len(frame))
    return data, offsets


@pytest.mark.parametrize(
    ("record", "into", "detail"),
    [
        (1, 3, "record header, 3 of 16 bytes"),
        (5, 16 + 100, "100 of 456 bytes"),
        (12, 15, "record header, 15 of 16 bytes"),
        (12, 16 + 294, "294 of 295 bytes"),
    ],
)
def test_pcap_cut_mid_record(tmp_path: Path, record: int, into: int, detail: str) -> None:
    data, offsets = pcap_prefix_and_offsets()
    cut = write(tmp_path, "cut.pcap", data[: offsets[record - 1] + into])
    result = invoke(cut)
    assert_clean(result)
    assert result.exit_code == 0
    assert message_lines(result.stdout) == intact_text()[: record - 1]
    assert problems(result.stdout) == [f"capture cut in the middle of record {record} ({detail})"]
    assert result.stderr == ""

    as_json = invoke(cut, "--format", "jsonl")
    assert as_json.exit_code == 0
    messages, summary = jsonl(as_json.stdout)
    assert messages == list(intact_json()[: record - 1])
    assert summary["truncated"] is True
    assert summary["frames"] == record - 1
    assert summary["problems"] == [f"capture cut in the middle of record {record} ({detail})"]


def test_pcap_corrupt_record_length(tmp_path: Path) -> None:
    """A record header claiming gigabytes is corruption, not a packet to wait for."""
    data, offsets = pcap_prefix_and_offsets()
    broken = bytearray(data)
    struct.pack_into("<I", broken, offsets[7] + 8, 0xFFFFFFF0)  # record 8's captured length
    result = invoke(write(tmp_path, "corrupt.pcap", bytes(broken)))
    assert_clean(result)
    assert result.exit_code == 0
    assert message_lines(result.stdout) == intact_text()[:7]
    assert problems(result.stdout) == [
        "record 8 claims 4294967280 captured bytes: corrupt record header, rest of the capture "
        "skipped"
    ]


def test_gzip_cut_short(tmp_path: Path) -> None:
    whole = gzip.compress(bf.pcap_bytes(records(), 1))
    result = invoke(write(tmp_path, "cut.pcap.gz", whole[: len(whole) // 2]))
    assert_clean(result)
    assert result.exit_code == 0
    shown = message_lines(result.stdout)
    assert 0 < len(shown) < 12
    assert shown == intact_text()[: len(shown)]
    found = problems(result.stdout)
    assert found[0].startswith("compressed stream broken")


def pcapng_blocks() -> list[bytes]:
    """The source as pcapng blocks: SHB, IDB, then one EPB per frame (µs timestamps)."""
    blocks = [bf.ng_shb(), bf.ng_idb(1)]
    blocks += [bf.ng_epb(0, round(ts * 1_000_000), frame) for ts, frame in records()]
    return blocks


@pytest.mark.parametrize(
    ("length", "problem"),
    [
        (13, "bad block length 13 (block type 0x6) after record 6: rest of the capture skipped"),
        (8, "bad block length 8 (block type 0x6) after record 6: rest of the capture skipped"),
        (
            0x7FFFFFFC,
            "bad block length 2147483644 (block type 0x6) after record 6: rest of the capture "
            "skipped",
        ),
    ],
)
def test_pcapng_bad_block_length(tmp_path: Path, length: int, problem: str) -> None:
    blocks = pcapng_blocks()
    seventh = bytearray(blocks[2 + 6])
    struct.pack_into("<I", seventh, 4, length)
    blocks[2 + 6] = bytes(seventh)
    result = invoke(write(tmp_path, "bad.pcapng", b"".join(blocks)))
    assert_clean(result)
    assert result.exit_code == 0
    assert message_lines(result.stdout) == intact_text()[:6]
    assert problems(result.stdout) == [problem]


def test_pcapng_trailing_length_disagrees(tmp_path: Path) -> None:
    blocks = pcapng_blocks()
    ninth = bytearray(blocks[2 + 8])
    struct.pack_into("<I", ninth, len(ninth) - 4, len(ninth) + 4)
    blocks[2 + 8] = bytes(ninth)
    result = invoke(write(tmp_path, "trailer.pcapng", b"".join(blocks)))
    assert_clean(result)
    assert result.exit_code == 0
    assert message_lines(result.stdout) == intact_text()[:8]
    assert problems(result.stdout) == [
        f"block after record 8 (type 0x6): trailing length {len(ninth) + 4} differs from "
        f"{len(ninth)}: rest of the capture skipped"
    ]


def test_pcapng_cut_mid_block(tmp_path: Path) -> None:
    blocks = pcapng_blocks()
    data = b"".join(blocks[:-1]) + blocks[-1][:40]
    result = invoke(write(tmp_path, "cut.pcapng", data))
    assert_clean(result)
    assert result.exit_code == 0
    assert message_lines(result.stdout) == intact_text()[:11]
    assert problems(result.stdout) == [
        f"capture cut in the middle of record 12 (block type 0x6, 40 of {len(blocks[-1])} bytes)"
    ]


def test_pcapng_packet_block_too_short_for_its_fields(tmp_path: Path) -> None:
    """A 12-byte EPB (no room for its 20 bytes of fields) used to crash the reader."""
    blocks = pcapng_blocks()
    data = b"".join(blocks[:5]) + struct.pack("<III", 6, 12, 12) + b"".join(blocks[5:])
    result = invoke(write(tmp_path, "short.pcapng", data))
    assert_clean(result)
    assert result.exit_code == 0
    assert message_lines(result.stdout) == intact_text()
    assert problems(result.stdout) == [
        "record 4: block of 12 bytes is too short for its type 0x6; skipped"
    ]


# -- oddities that do not stop reading -------------------------------------------------------------


def test_records_longer_than_the_snapshot_length(tmp_path: Path) -> None:
    """A writer that broke its own snaplen: reported once, every packet still decoded whole."""
    result = invoke(write(tmp_path, "snap.pcap", bf.pcap_bytes(records(), 1, snaplen=300)))
    assert_clean(result)
    assert result.exit_code == 0
    assert message_lines(result.stdout) == intact_text()
    assert problems(result.stdout) == [
        "record 1 holds 564 bytes, more than the snapshot length 300"
    ]
    messages, summary = jsonl(invoke(tmp_path / "snap.pcap", "--format", "jsonl").stdout)
    assert messages == list(intact_json())
    assert summary["truncated"] is False


def test_pcapng_records_longer_than_the_interface_snaplen(tmp_path: Path) -> None:
    blocks = pcapng_blocks()
    blocks[1] = bf.ng_idb(1, snaplen=400)
    result = invoke(write(tmp_path, "snap.pcapng", b"".join(blocks)))
    assert_clean(result)
    assert result.exit_code == 0
    assert message_lines(result.stdout) == intact_text()
    assert problems(result.stdout) == [
        "record 1 holds 564 bytes, more than the snapshot length 400"
    ]


def test_timestamps_going_backwards(tmp_path: Path) -> None:
    """Merged or clock-stepped captures: reported once, every message still printed in file
    order, and the correlator's timers are not confused into dropping any."""
    shuffled = list(records())
    late = shuffled[4][0]
    shuffled[6] = (late - 3600.0, shuffled[6][1])  # an hour back
    result = invoke(write(tmp_path, "back.pcap", bf.pcap_bytes(shuffled, 1)))
    assert_clean(result)
    assert result.exit_code == 0
    lines = message_lines(result.stdout)
    assert len(lines) == 12
    assert [line.split()[0] for line in lines] == [str(n) for n in range(1, 13)]
    for n in (1, 2, 3, 4, 5, 6, 8, 9, 10, 11, 12):
        assert lines[n - 1] == intact_text()[n - 1]
    assert problems(result.stdout) == [f"record 7: timestamp goes backwards ({late - 3600.0:.6f})"]
    messages, summary = jsonl(invoke(tmp_path / "back.pcap", "--format", "jsonl").stdout)
    assert len(messages) == 12
    assert summary["truncated"] is False
    assert summary["problems"] == [f"record 7: timestamp goes backwards ({late - 3600.0:.6f})"]


def test_timestamps_beyond_year_9999(tmp_path: Path) -> None:
    """An interface offset of 2**62 s (a corrupt or hostile IDB) used to crash the clock."""
    blocks = pcapng_blocks()
    blocks[1] = bf.ng_idb(1, tsoffset=1 << 62)
    result = invoke(write(tmp_path, "future.pcapng", b"".join(blocks)))
    assert_clean(result)
    assert result.exit_code == 0
    assert len(message_lines(result.stdout)) == 12
