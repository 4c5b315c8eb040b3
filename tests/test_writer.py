"""The ``--write`` file: pcap / pcapng written by sipwatch must read back exactly, in sipwatch's
own reader and in tshark (Wireshark's engine), including a ring of files."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from sipwatch.capture.readers import open_capture
from sipwatch.capture.types import Frame
from sipwatch.capture.writer import CaptureWriter, WriterInterface, _split_ts, ring_paths
from sipwatch.errors import LiveCaptureError
from tests import build_frames as bf

ETHERNET = 1
LINUX_SLL = 113


def sip_frames(count: int, start: float = 1_700_000_000.000001) -> list[Frame]:
    frames = []
    for i in range(count):
        data = bytes(bf.ether(bf.udp4(bf.sip_request(call_id=f"call-{i}@test"), sport=5000 + i)))
        frames.append(Frame(start + i * 0.010203, ETHERNET, data, i + 1, len(data)))
    return frames


def read_back(path: Path) -> list[Frame]:
    with open_capture(path) as source:
        return list(source)


def test_pcap_round_trip_keeps_bytes_timestamps_and_lengths(tmp_path: Path) -> None:
    frames = sip_frames(5)
    # A frame cut by the snapshot length keeps its length on the wire.
    frames[2] = Frame(frames[2].ts, ETHERNET, frames[2].data[:60], 3, len(frames[2].data))
    writer = CaptureWriter(tmp_path / "cap.pcap")
    writer.start([WriterInterface("lo", ETHERNET, 262144)])
    for frame in frames:
        writer.write(0, frame)
    writer.close()
    assert writer.format == "pcap"
    assert writer.frames == 5
    back = read_back(tmp_path / "cap.pcap")
    assert [f.data for f in back] == [f.data for f in frames]
    assert [f.orig_len for f in back] == [f.orig_len for f in frames]
    assert [round(f.ts * 1e6) for f in back] == [round(f.ts * 1e6) for f in frames]
    assert {f.linktype for f in back} == {ETHERNET}
    head = (tmp_path / "cap.pcap").read_bytes()[:24]
    assert head[:4] == b"\xd4\xc3\xb2\xa1"  # little-endian microsecond pcap
    assert int.from_bytes(head[16:20], "little") == 262144


@pytest.mark.parametrize(
    ("ts", "expected"),
    [
        (1_700_000_000.0, (1_700_000_000, 0)),
        (1_700_000_000.999999, (1_700_000_000, 999_999)),
        (1_700_000_000.9999997, (1_700_000_001, 0)),  # rounds up into the next second
        (1_700_000_000.123456, (1_700_000_000, 123_456)),
    ],
)
def test_timestamp_split_rounds_to_the_microsecond(ts: float, expected: tuple[int, int]) -> None:
    assert _split_ts(ts) == expected


def test_several_interfaces_make_pcapng_with_one_idb_each(tmp_path: Path) -> None:
    eth = sip_frames(2)
    cooked = bytes(bf.sll(bf.udp4(bf.SIP_200)))
    writer = CaptureWriter(tmp_path / "multi.pcap")
    writer.start([WriterInterface("lo", ETHERNET), WriterInterface("any", LINUX_SLL)])
    writer.write(0, eth[0])
    writer.write(1, Frame(eth[0].ts + 0.5, LINUX_SLL, cooked, 2, len(cooked)))
    writer.write(0, eth[1])
    writer.close()
    assert writer.format == "pcapng"
    raw = (tmp_path / "multi.pcap").read_bytes()
    assert raw[:4] == b"\x0a\x0d\x0d\x0a"
    assert b"any" in raw  # if_name option
    back = read_back(tmp_path / "multi.pcap")
    assert [f.linktype for f in back] == [ETHERNET, LINUX_SLL, ETHERNET]
    assert back[1].data == cooked
    assert [round(f.ts * 1e6) for f in back] == [
        round(eth[0].ts * 1e6),
        round((eth[0].ts + 0.5) * 1e6),
        round(eth[1].ts * 1e6),
    ]


def test_pcapng_is_chosen_by_file_name(tmp_path: Path) -> None:
    writer = CaptureWriter(tmp_path / "one.pcapng")
    writer.start([WriterInterface("lo", ETHERNET)])
    writer.write(0, sip_frames(1)[0])
    writer.close()
    assert writer.format == "pcapng"
    assert len(read_back(tmp_path / "one.pcapng")) == 1


def test_pcap_refuses_mixed_link_types(tmp_path: Path) -> None:
    writer = CaptureWriter(tmp_path / "mixed.pcap", pcapng=False)
    with pytest.raises(LiveCaptureError, match="different link types"):
        writer.start([WriterInterface("lo", ETHERNET), WriterInterface("any", LINUX_SLL)])


def test_ring_rotates_and_overwrites_the_oldest(tmp_path: Path) -> None:
    frames = sip_frames(40)
    record = 16 + len(frames[0].data)
    # Room for 4 records per file (plus the 24-byte header) in a ring of 3 files.
    size_mb = (24 + 4 * record + 10) / 1_000_000
    writer = CaptureWriter(tmp_path / "ring.pcap", ring_files=3, ring_size_mb=size_mb)
    writer.start([WriterInterface("lo", ETHERNET)])
    for frame in frames:
        writer.write(0, frame)
    writer.close()
    paths = ring_paths(tmp_path / "ring.pcap", 3)
    assert [p.name for p in paths] == ["ring_0.pcap", "ring_1.pcap", "ring_2.pcap"]
    assert not (tmp_path / "ring.pcap").exists()
    per_file = {p.name: [f.data for f in read_back(p)] for p in paths}
    assert all(0 < len(v) <= 4 for v in per_file.values())
    for path in paths:
        assert path.stat().st_size <= size_mb * 1_000_000
    # 40 frames, 4 per file: 10 files were started, so the ring went round three times and the
    # files hold the last 12 frames minus whatever the current file has not reached yet.
    assert writer.rotations == 9
    kept = [d for name in ("ring_1.pcap", "ring_2.pcap", "ring_0.pcap") for d in per_file[name]]
    assert kept == [f.data for f in frames[-len(kept) :]]
    assert len(kept) == 12


def test_ring_paths_pad_the_index() -> None:
    names = [p.name for p in ring_paths(Path("/x/cap.pcap"), 12)]
    assert names[0] == "cap_00.pcap"
    assert names[-1] == "cap_11.pcap"


def test_ring_needs_a_size() -> None:
    with pytest.raises(LiveCaptureError, match="ring"):
        CaptureWriter("x.pcap", ring_files=3, ring_size_mb=0)


def test_unwritable_targets_are_operator_errors(tmp_path: Path) -> None:
    with pytest.raises(LiveCaptureError, match="no such directory"):
        CaptureWriter(tmp_path / "missing" / "cap.pcap").check_writable()
    with pytest.raises(LiveCaptureError, match="is a directory"):
        CaptureWriter(tmp_path).check_writable()


def test_disk_full_is_a_problem_not_a_crash() -> None:
    # /dev/full accepts open() and fails every write with ENOSPC once the buffer is flushed.
    writer = CaptureWriter("/dev/full")
    writer.start([WriterInterface("lo", ETHERNET)])
    for frame in sip_frames(3):
        writer.write(0, frame)
    writer.flush()
    assert writer.problem is not None
    assert "No space left" in writer.problem
    writer.write(0, sip_frames(1)[0])  # ignored from now on, no exception
    writer.close()


@pytest.mark.tshark
def test_tshark_reads_both_formats(tmp_path: Path) -> None:
    tshark = shutil.which("tshark")
    if tshark is None:
        pytest.skip("tshark not installed (apt-get install tshark)")
    frames = sip_frames(3)
    for name, ifaces in (
        ("t.pcap", [WriterInterface("lo", ETHERNET)]),
        ("t.pcapng", [WriterInterface("lo", ETHERNET), WriterInterface("lo2", ETHERNET)]),
    ):
        writer = CaptureWriter(tmp_path / name)
        writer.start(ifaces)
        for i, frame in enumerate(frames):
            writer.write(i % len(ifaces), frame)
        writer.close()
        out = subprocess.run(
            [tshark, "-r", str(tmp_path / name), "-T", "fields", "-e", "sip.Call-ID"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split()
        assert out == ["call-0@test", "call-1@test", "call-2@test"]
