"""Capture readers: every public capture, every format variant, and broken files."""

from __future__ import annotations

import gzip
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sipwatch.capture.readers import CaptureSource, open_capture
from sipwatch.capture.types import Frame
from sipwatch.errors import CaptureFormatError, CaptureReadError
from tests import build_frames as bf
from tests.conftest import PUBLIC, REPO, public_oracles, require_corpus

ORACLES = sorted(PUBLIC.glob("*.oracle.json")) if PUBLIC.is_dir() else []
RECORDS = [
    (1_700_000_000.123456, bytes(bf.ether(bf.udp4(bf.sip_request())))),
    (1_700_000_000.5, bytes(bf.ether(bf.udp4(bf.SIP_200, sport=5062)))),
    (1_700_000_001.000001, b"\x01\x02\x03"),
]


def read_all(path: Path | str) -> tuple[list[Frame], CaptureSource]:
    source = open_capture(path)
    with source:
        frames = list(source)
    return frames, source


def assert_records(frames: list[Frame], linktype: int = 1, tol: float = 1e-6) -> None:
    assert [f.data for f in frames] == [data for _, data in RECORDS]
    assert [f.number for f in frames] == [1, 2, 3]
    assert all(f.linktype == linktype for f in frames)
    for frame, (ts, data) in zip(frames, RECORDS, strict=True):
        assert frame.ts == pytest.approx(ts, abs=tol)
        assert frame.orig_len == len(data)


# -- the real public captures -------------------------------------------------------------------


@pytest.mark.shared
@pytest.mark.parametrize("oracle", public_oracles())
def test_public_capture_frame_count(oracle: Path) -> None:
    expected = json.loads(oracle.read_text())
    frames, source = read_all(oracle.with_name(expected["file"]))
    assert len(frames) == expected["packets_total"]
    assert source.stats.frames == expected["packets_total"]
    assert [f.number for f in frames] == list(range(1, len(frames) + 1))
    assert source.stats.format == expected["file_format"]
    assert not source.stats.truncated
    assert source.stats.compressed == expected["file"].endswith(".gz")


def test_public_captures_present() -> None:
    require_corpus()
    assert len(ORACLES) == 42


@pytest.mark.tshark
@pytest.mark.shared
@pytest.mark.parametrize(
    "name",
    [
        "branch-scenario-sipp.pcapng",  # pcapng, nanosecond if_tsresol
        "c07-sip-r2.cap",  # NetMon 2 (start time + µs deltas)
        "h223-over-rtp.pcap.gz",  # gzip, a timestamp going backwards
        "gre_sip.pcapng",
        "sip_sctp.pcap",
    ],
)
def test_timestamps_match_tshark(name: str) -> None:
    from tests.conftest import public_capture

    path = public_capture(name)
    if shutil.which("tshark") is None:
        pytest.skip("tshark not installed")
    out = subprocess.run(
        ["tshark", "-n", "-r", str(path), "-T", "fields", "-e", "frame.time_epoch"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    frames, _ = read_all(path)
    assert len(frames) == len(out)
    for frame, text in zip(frames, out, strict=True):
        assert frame.ts == pytest.approx(float(text), abs=2e-6)


# -- pcap -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("big_endian", [False, True])
@pytest.mark.parametrize("nanos", [False, True])
def test_pcap_byte_orders_and_resolutions(tmp_path: Path, big_endian: bool, nanos: bool) -> None:
    path = tmp_path / "x.pcap"
    path.write_bytes(bf.pcap_bytes(RECORDS, 113, big_endian=big_endian, nanos=nanos))
    frames, source = read_all(path)
    assert_records(frames, linktype=113, tol=1e-9 * 1.7e9 * 1e-7 if nanos else 1e-6)
    assert source.stats.format == "pcap"
    assert source.stats.problems == []


def test_pcap_nanosecond_precision(tmp_path: Path) -> None:
    path = tmp_path / "ns.pcap"
    path.write_bytes(bf.pcap_bytes([(1.000000123, b"ab")], 1, nanos=True))
    frames, _ = read_all(path)
    assert frames[0].ts == pytest.approx(1.000000123, abs=1e-12)


def test_pcap_fcs_bits_in_linktype_are_ignored(tmp_path: Path) -> None:
    raw = bytearray(bf.pcap_bytes(RECORDS, 1))
    raw[20:24] = (0x1000_0000 | 0x0400_0000 | 1).to_bytes(4, "little")  # FCS length 4, F bit
    path = tmp_path / "fcs.pcap"
    path.write_bytes(bytes(raw))
    frames, _ = read_all(path)
    assert_records(frames, linktype=1)


def test_pcap_large_file_crosses_chunks(tmp_path: Path) -> None:
    """Records straddling the 1 MiB read boundary, and one bigger than a chunk."""
    big = bytes(range(256)) * 5000  # 1.28 MB: more than one read
    records = [(float(i), bytes([i % 251]) * (1000 + i)) for i in range(1500)]
    records.insert(700, (699.5, big))
    path = tmp_path / "big.pcap"
    path.write_bytes(bf.pcap_bytes(records, 1, snaplen=2_000_000))
    frames, source = read_all(path)
    assert [f.data for f in frames] == [d for _, d in records]
    assert source.stats.problems == []


def test_pcap_longer_than_snaplen_and_backwards_time_are_counted(tmp_path: Path) -> None:
    records = [(10.0, b"a" * 100), (9.0, b"b" * 10), (11.0, b"c" * 200)]
    path = tmp_path / "odd.pcap"
    path.write_bytes(bf.pcap_bytes(records, 1, snaplen=64))
    frames, source = read_all(path)
    assert len(frames) == 3
    assert source.stats.counters["longer-than-snaplen"] == 2
    assert source.stats.counters["timestamp-backwards"] == 1
    assert any("snapshot length 64" in p for p in source.stats.problems)
    assert not source.stats.truncated


@pytest.mark.parametrize("cut", [5, 17, 30])
def test_pcap_cut_mid_record_keeps_complete_frames(tmp_path: Path, cut: int) -> None:
    data = bf.pcap_bytes(RECORDS, 1)
    path = tmp_path / "cut.pcap"
    path.write_bytes(data[: len(data) - cut])  # the third record is 16 + 3 bytes
    frames, source = read_all(path)
    if cut < 19:
        assert len(frames) == 2
        assert source.stats.truncated
        assert "capture cut in the middle of record 3" in source.stats.problems[0]
    else:
        # 30 bytes cut: the third record and 11 bytes of the second are gone.
        assert len(frames) == 1
        assert "record 2" in source.stats.problems[0]
    assert source.stats.frames == len(frames)


def test_pcap_corrupt_record_length_stops(tmp_path: Path) -> None:
    data = bytearray(bf.pcap_bytes(RECORDS, 1))
    second = 24 + 16 + len(RECORDS[0][1])
    data[second + 8 : second + 12] = (0x7FFF_FFFF).to_bytes(4, "little")
    path = tmp_path / "corrupt.pcap"
    path.write_bytes(bytes(data))
    frames, source = read_all(path)
    assert len(frames) == 1
    assert source.stats.truncated
    assert "corrupt record header" in source.stats.problems[0]


def test_pcap_header_cut_short(tmp_path: Path) -> None:
    path = tmp_path / "short.pcap"
    path.write_bytes(bf.pcap_bytes([], 1)[:10])
    with pytest.raises(CaptureFormatError, match="cut short"):
        open_capture(path)


# -- pcapng ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("big_endian", [False, True])
def test_pcapng_simple(tmp_path: Path, big_endian: bool) -> None:
    path = tmp_path / "x.pcapng"
    path.write_bytes(bf.pcapng_bytes(RECORDS, 1, big_endian=big_endian))
    frames, source = read_all(path)
    assert_records(frames)
    assert source.stats.format == "pcapng"


def test_pcapng_sections_interfaces_resolutions_and_block_kinds(tmp_path: Path) -> None:
    pkt = bytes(bf.ether(bf.udp4(bf.sip_request())))
    raw_ip = bytes(bf.udp4(bf.SIP_200))
    blocks = [
        # Section 1, little-endian: Ethernet in ns with an offset, raw IP in 2^-20 s units.
        bf.ng_shb(),
        bf.ng_idb(1, tsresol=9, tsoffset=1000, snaplen=100),
        bf.ng_idb(101, tsresol=0x80 | 20),
        bf.ng_epb(0, 1_500_000_000_123_456_789, pkt),
        bf.ng_block(4, b"\x00" * 8),  # name resolution block: skipped
        bf.ng_epb(1, 3 << 20, raw_ip),  # 3 s in 2^-20 units
        bf.ng_spb(pkt[:100], orig_len=len(pkt)),  # SPB: IDB 0's snaplen (100)
        bf.ng_block(0x40000BAD, b"custom"),  # custom block: skipped
        bf.ng_opb(0, 1_500_000_001_000_000_000, pkt),
        bf.ng_block(5, b"\x00" * 20),  # interface statistics: skipped
        # Section 2, big-endian, interfaces start again from 0.
        bf.ng_shb(big_endian=True),
        bf.ng_idb(113, big_endian=True),
        bf.ng_epb(0, 1_600_000_000_000_001, pkt, big_endian=True),
    ]
    path = tmp_path / "multi.pcapng"
    path.write_bytes(b"".join(blocks))
    frames, source = read_all(path)
    assert [f.linktype for f in frames] == [1, 101, 1, 1, 113]
    assert [f.number for f in frames] == [1, 2, 3, 4, 5]
    assert frames[0].ts == pytest.approx(1_500_000_000.123456789 + 1000, abs=1e-6)
    assert frames[1].ts == 3.0
    assert frames[2].data == pkt[:100]
    assert frames[2].orig_len == len(pkt)
    assert frames[2].ts == frames[1].ts  # an SPB has no time of its own
    assert frames[3].ts == pytest.approx(1_500_000_001 + 1000, abs=1e-6)
    assert frames[4].ts == pytest.approx(1_600_000_000.000001, abs=1e-7)
    assert frames[4].data == pkt
    assert not source.stats.truncated
    # the raw-IP frame went back in time relative to the first one (3 s < 1.5e9 s)
    assert source.stats.counters["timestamp-backwards"] == 1
    # the EPB and the OPB on the 100-byte interface 0 (the SPB was cut to it)
    assert source.stats.counters["longer-than-snaplen"] == 2


@pytest.mark.parametrize("bad_length", [8, 30, 1 << 30])
def test_pcapng_bad_block_length_stops_keeping_frames(tmp_path: Path, bad_length: int) -> None:
    good = bf.pcapng_bytes(RECORDS[:2], 1)
    broken = bytearray(bf.ng_epb(0, 5, RECORDS[2][1]))
    broken[4:8] = bad_length.to_bytes(4, "little")
    path = tmp_path / "bad.pcapng"
    path.write_bytes(good + bytes(broken) + bf.ng_epb(0, 6, b"after"))
    frames, source = read_all(path)
    assert [f.data for f in frames] == [d for _, d in RECORDS[:2]]
    assert source.stats.truncated
    assert f"bad block length {bad_length}" in source.stats.problems[0]


def test_pcapng_trailing_length_mismatch_stops(tmp_path: Path) -> None:
    good = bf.pcapng_bytes(RECORDS[:1], 1)
    broken = bytearray(bf.ng_epb(0, 5, b"abcd"))
    broken[-4:] = (len(broken) + 4).to_bytes(4, "little")
    path = tmp_path / "trailer.pcapng"
    path.write_bytes(good + bytes(broken))
    frames, source = read_all(path)
    assert len(frames) == 1
    assert "trailing length" in source.stats.problems[0]


def test_pcapng_cut_mid_block(tmp_path: Path) -> None:
    data = bf.pcapng_bytes(RECORDS, 1)
    path = tmp_path / "cut.pcapng"
    path.write_bytes(data[:-6])
    frames, source = read_all(path)
    assert len(frames) == 2
    assert source.stats.truncated
    assert "capture cut in the middle of record 3" in source.stats.problems[0]


def test_pcapng_packet_for_undeclared_interface_is_skipped(tmp_path: Path) -> None:
    data = bf.pcapng_bytes(RECORDS[:1], 1) + bf.ng_epb(3, 7, b"zz") + bf.ng_epb(0, 8, b"ok")
    path = tmp_path / "iface.pcapng"
    path.write_bytes(data)
    frames, source = read_all(path)
    assert [f.data for f in frames] == [RECORDS[0][1], b"ok"]
    assert [f.number for f in frames] == [1, 2]
    assert source.stats.counters["unknown-interface"] == 1


def test_pcapng_unknown_byte_order_magic(tmp_path: Path) -> None:
    path = tmp_path / "bom.pcapng"
    path.write_bytes(b"\x0a\x0d\x0d\x0a\x1c\x00\x00\x00\xde\xad\xbe\xef" + b"\x00" * 16)
    with pytest.raises(CaptureFormatError, match="byte-order magic"):
        open_capture(path)


# -- NetMon ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("minor", [0, 1, 2, 3])
def test_netmon_versions(tmp_path: Path, minor: int) -> None:
    path = tmp_path / "x.cap"
    path.write_bytes(bf.netmon_bytes(RECORDS, minor=minor, start=1_700_000_000.0))
    frames, source = read_all(path)
    assert_records(frames, tol=1e-6 if minor < 3 else 2e-7)
    assert source.stats.format == "netmon2"


def test_netmon_per_frame_media_type(tmp_path: Path) -> None:
    path = tmp_path / "media.cap"
    path.write_bytes(bf.netmon_bytes(RECORDS, media=0xE000 | 113, minor=1, start=1e9))
    frames, _ = read_all(path)
    assert {f.linktype for f in frames} == {113}


def test_netmon_frame_table_past_end(tmp_path: Path) -> None:
    data = bf.netmon_bytes(RECORDS, start=1_700_000_000.0)
    path = tmp_path / "cut.cap"
    path.write_bytes(data[:-4])  # the last frame-table entry is cut
    frames, source = read_all(path)
    assert len(frames) == 2
    assert source.stats.truncated


# -- gzip and stdin -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "content",
    [
        bf.pcap_bytes(RECORDS, 1, big_endian=True, nanos=True),
        bf.pcapng_bytes(RECORDS, 1),
        bf.netmon_bytes(RECORDS, start=1_700_000_000.0),
    ],
    ids=["pcap", "pcapng", "netmon"],
)
def test_gzip_compressed(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "x.any"
    path.write_bytes(gzip.compress(content))
    frames, source = read_all(path)
    assert_records(frames)
    assert source.stats.compressed


def test_gzip_cut_short_keeps_frames(tmp_path: Path) -> None:
    packed = gzip.compress(bf.pcap_bytes(RECORDS * 200, 1))
    path = tmp_path / "cut.pcap.gz"
    path.write_bytes(packed[: len(packed) * 2 // 3])
    frames, source = read_all(path)
    assert 0 < len(frames) < 600
    assert source.stats.truncated
    assert source.stats.problems


def test_gzip_of_garbage(tmp_path: Path) -> None:
    path = tmp_path / "junk.gz"
    path.write_bytes(gzip.compress(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"))
    with pytest.raises(CaptureFormatError, match=r"inside gzip.*'GET / HTTP/1.1\\x0d\\x0a'"):
        open_capture(path)


_STDIN_READER = (
    "import sys\n"
    "from sipwatch.capture.readers import open_capture\n"
    "src = open_capture('-')\n"
    "for f in src:\n"
    "    print(f.number, len(f.data), f.linktype, flush=True)\n"
    "print('end', src.stats.format, src.stats.compressed, src.stats.truncated, flush=True)\n"
)


def _stdin_env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(REPO)}


@pytest.mark.parametrize("compress", [False, True])
def test_stdin(compress: bool) -> None:
    content = bf.pcapng_bytes(RECORDS, 1)
    if compress:
        content = gzip.compress(content)
    out = subprocess.run(
        [sys.executable, "-c", _STDIN_READER],
        input=content,
        capture_output=True,
        check=True,
        env=_stdin_env(),
        timeout=60,
    ).stdout.decode()
    lines = out.splitlines()
    assert lines[:3] == [f"{i} {len(d)} 1" for i, (_, d) in enumerate(RECORDS, 1)]
    assert lines[3] == f"end pcapng {compress} False"


def test_stdin_streams_without_waiting_for_more() -> None:
    """Like ``tcpdump -U -w - | sipwatch pcap -``: a frame is yielded while the pipe stays open."""
    proc = subprocess.Popen(
        [sys.executable, "-c", _STDIN_READER],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        env=_stdin_env(),
    )
    assert proc.stdin is not None and proc.stdout is not None
    try:
        data = bf.pcap_bytes(RECORDS, 1)
        first_end = 24 + 16 + len(RECORDS[0][1])
        proc.stdin.write(data[:first_end])
        proc.stdin.flush()
        started = time.monotonic()
        line = proc.stdout.readline().decode()  # must not need the rest of the stream
        assert line == f"1 {len(RECORDS[0][1])} 1\n"
        assert time.monotonic() - started < 30
        proc.stdin.write(data[first_end:])
        proc.stdin.close()
        rest = proc.stdout.read().decode().splitlines()
        assert rest[-1] == "end pcap False False"
        assert len(rest) == 3
    finally:
        proc.kill()
        proc.wait()


# -- operator errors ------------------------------------------------------------------------------


def test_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.pcap"
    path.write_bytes(b"")
    with pytest.raises(CaptureFormatError, match="empty"):
        open_capture(path)


def test_wrong_magic_names_file_and_content(tmp_path: Path) -> None:
    path = tmp_path / "page.pcap"
    path.write_bytes(b"GET / HTTP/1.1\r\nHost: example.com\r\n\r\n")
    with pytest.raises(CaptureFormatError) as info:
        open_capture(path)
    message = str(info.value)
    assert str(path) in message
    assert "not a capture file: starts with 'GET / HTTP/1.1" in message
    assert "\n" not in message


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(CaptureReadError, match="no such file"):
        open_capture(tmp_path / "nope.pcap")


def test_directory(tmp_path: Path) -> None:
    with pytest.raises(CaptureReadError, match="directory"):
        open_capture(tmp_path)


def test_permission_denied(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Simulated, since the tests may run as root (who can read a mode-000 file)."""
    from sipwatch.capture import readers

    def refuse(*args: object, **kwargs: object) -> None:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(readers, "open", refuse, raising=False)
    with pytest.raises(CaptureReadError, match="permission denied"):
        open_capture(tmp_path / "secret.pcap")


def test_close_releases_file(tmp_path: Path) -> None:
    path = tmp_path / "x.pcap"
    path.write_bytes(bf.pcap_bytes(RECORDS, 1))
    source = open_capture(path)
    next(iter(source))
    source.close()
    assert source.stats.frames == 1


# -- robustness -----------------------------------------------------------------------------------

VALID_FILES = [
    bf.pcap_bytes(RECORDS, 1),
    bf.pcap_bytes(RECORDS, 1, big_endian=True, nanos=True),
    bf.pcapng_bytes(RECORDS, 1),
    bf.ng_shb(big_endian=True) + bf.ng_idb(1, tsresol=0x83, tsoffset=-5, big_endian=True)
    + bf.ng_spb(b"abc", big_endian=True) + bf.ng_epb(0, 99, b"xyz", big_endian=True),
    bf.netmon_bytes(RECORDS, minor=3, start=1_700_000_000.0),
]  # fmt: skip


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    st.sampled_from(VALID_FILES),
    st.lists(st.tuples(st.integers(0, 2000), st.integers(0, 255)), max_size=8),
    st.integers(0, 2000),
)
def test_damaged_files_never_raise_while_reading(
    tmp_path: Path, content: bytes, flips: list[tuple[int, int]], cut: int
) -> None:
    """Damage anywhere: open may refuse the file (operator error), reading never raises."""
    data = bytearray(content)
    for pos, value in flips:
        if pos < len(data):
            data[pos] = value
    path = tmp_path / "damaged"
    path.write_bytes(bytes(data[: len(data) - cut % (len(data) + 1)]))
    try:
        source = open_capture(path)
    except CaptureFormatError:
        return
    with source:
        frames = list(source)
    assert source.stats.frames == len(frames)
    assert [f.number for f in frames] == list(range(1, len(frames) + 1))
