"""Save what a live capture saw: classic pcap, or pcapng when several interfaces are captured.

``sipwatch live --write FILE`` keeps the evidence of an incident in a file Wireshark opens. The
live engine writes every frame the capture engine delivered, *before* the analysis queue, so the
file holds the packets sipwatch itself had to drop when it fell behind: the file is the complete
record, the screen is best effort.

Formats (the same ones :mod:`sipwatch.capture.readers` reads back):

- one interface: classic pcap (tcpdump.org format, draft-ietf-opsawg-pcap), little-endian,
  microsecond timestamps, the link type and snapshot length of the source. tcpdump's own ``-w``
  output is microsecond pcap too, so a timestamp survives the round trip through a float exactly
  (a float64 near 1.7e9 s resolves 0.24 µs, half a microsecond is never crossed by rounding).
- several interfaces (or a file name ending in ``.pcapng``): pcapng (draft-ietf-opsawg-pcapng),
  one Interface Description Block per interface with its name and link type, since ``lo``
  (Ethernet) and ``any`` (Linux cooked) cannot share a classic pcap file.

Ring (``--ring N --ring-size M``): N files of at most M MB named ``stem_K.suffix``; when the
last one is full the oldest is overwritten, so a capture left running for days keeps the most
recent N×M MB. Each file starts with its own header and holds whole records only, so every one
opens on its own.

The writer is not thread-safe: the live engine serialises calls under its lock.
"""

from __future__ import annotations

import contextlib
import os
import struct
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Final

from sipwatch.capture.types import Frame
from sipwatch.errors import LiveCaptureError

#: pcap file header: magic (microseconds, written little-endian), version 2.4, zone, sigfigs,
#: snaplen, link type.
_PCAP_HEADER: Final = struct.Struct("<IHHiIII")
_PCAP_MAGIC_US: Final = 0xA1B2C3D4
_PCAP_RECORD: Final = struct.Struct("<IIII")
#: pcapng blocks (draft-ietf-opsawg-pcapng §4.1 SHB, §4.2 IDB, §4.3 EPB).
_SHB_TYPE: Final = 0x0A0D0D0A
_IDB_TYPE: Final = 1
_EPB_TYPE: Final = 6
_BYTE_ORDER_MAGIC: Final = 0x1A2B3C4D
_OPT_ENDOFOPT: Final = 0
_OPT_IF_NAME: Final = 2
_OPT_IF_TSRESOL: Final = 9
_EPB_HEAD: Final = struct.Struct("<IIIIIII")
DEFAULT_SNAPLEN: Final = 262144
MEGABYTE: Final = 1_000_000


@dataclass(frozen=True, slots=True)
class WriterInterface:
    """One captured interface as the file header describes it."""

    name: str
    linktype: int
    snaplen: int = DEFAULT_SNAPLEN


def ring_paths(path: Path, files: int) -> list[Path]:
    """The file names of a ring of ``files`` files: ``cap.pcap`` → ``cap_0.pcap``, ``cap_1.pcap``…

    The index is zero-padded to the width of the largest one so the names sort in ring order.
    """
    width = len(str(files - 1))
    return [path.with_name(f"{path.stem}_{i:0{width}d}{path.suffix}") for i in range(files)]


def _split_ts(ts: float) -> tuple[int, int]:
    """(seconds, microseconds) of a capture timestamp, rounding to the nearest microsecond."""
    sec = int(ts)
    usec = round((ts - sec) * 1_000_000)
    if usec >= 1_000_000:
        sec, usec = sec + 1, usec - 1_000_000
    return sec, usec


def _pad4(data: bytes) -> bytes:
    return data + b"\x00" * (-len(data) % 4)


def _option(code: int, value: bytes) -> bytes:
    return struct.pack("<HH", code, len(value)) + _pad4(value)


def _block(btype: int, body: bytes) -> bytes:
    length = 12 + len(body)
    return struct.pack("<II", btype, length) + body + struct.pack("<I", length)


def _flush(file: BinaryIO) -> None:
    file.flush()


def _close(file: BinaryIO) -> None:
    file.close()


class CaptureWriter:
    """Writes frames to one file or a ring of files; ``start`` once, then ``write``, ``close``.

    ``pcapng=None`` picks the format: pcapng for several interfaces or a ``.pcapng`` name,
    classic pcap otherwise. ``problem`` holds the first write failure (disk full, file removed):
    the capture goes on without the file rather than stopping an incident's analysis.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        ring_files: int = 0,
        ring_size_mb: float = 0,
        pcapng: bool | None = None,
    ) -> None:
        self.path = Path(path)
        if ring_files < 0 or (ring_files and ring_size_mb <= 0):
            raise LiveCaptureError("--ring needs a positive file count and --ring-size in MB")
        self.ring_files = ring_files
        self.ring_bytes = int(ring_size_mb * MEGABYTE)
        self._pcapng = pcapng
        self.paths: list[Path] = ring_paths(self.path, ring_files) if ring_files else [self.path]
        self.interfaces: list[WriterInterface] = []
        self.frames = 0
        self.bytes = 0
        self.rotations = 0
        self.problem: str | None = None
        self._file: BinaryIO | None = None
        self._index = 0
        self._size = 0
        self._header = b""

    @property
    def format(self) -> str:
        return "pcapng" if self._pcapng else "pcap"

    def check_writable(self) -> None:
        """Fail early (before any capture starts) when the target directory is unusable."""
        folder = self.path.parent if str(self.path.parent) else Path(".")
        if not folder.is_dir():
            raise LiveCaptureError(f"cannot write {self.path}: no such directory {folder}")
        if not os.access(folder, os.W_OK):
            raise LiveCaptureError(f"cannot write {self.path}: directory {folder} is not writable")
        if self.path.is_dir():
            raise LiveCaptureError(f"cannot write {self.path}: it is a directory")

    def start(self, interfaces: Sequence[WriterInterface]) -> None:
        """Fix the interfaces (their order gives the pcapng interface ids) and open file 0."""
        if not interfaces:
            raise LiveCaptureError("nothing to write: no interface was opened")
        self.interfaces = list(interfaces)
        if self._pcapng is None:
            self._pcapng = len(interfaces) > 1 or self.path.suffix.lower() == ".pcapng"
        if not self._pcapng and len({i.linktype for i in interfaces}) > 1:
            raise LiveCaptureError(
                f"cannot write {self.path} as pcap: the interfaces have different link types "
                "(use a .pcapng file name)"
            )
        self._header = self._pcapng_header() if self._pcapng else self._pcap_header()
        self._open(0)

    def _pcap_header(self) -> bytes:
        first = self.interfaces[0]
        snaplen = max(i.snaplen for i in self.interfaces)
        return _PCAP_HEADER.pack(_PCAP_MAGIC_US, 2, 4, 0, 0, snaplen, first.linktype)

    def _pcapng_header(self) -> bytes:
        # Section length -1: "not specified", as a streaming writer must say (§4.1).
        shb = _block(_SHB_TYPE, struct.pack("<IHHq", _BYTE_ORDER_MAGIC, 1, 0, -1))
        idbs = []
        for iface in self.interfaces:
            options = (
                _option(_OPT_IF_NAME, iface.name.encode("utf-8", "replace"))
                + _option(_OPT_IF_TSRESOL, bytes([6]))  # 10^-6: microseconds
                + _option(_OPT_ENDOFOPT, b"")
            )
            body = struct.pack("<HHI", iface.linktype, 0, iface.snaplen) + options
            idbs.append(_block(_IDB_TYPE, body))
        return shb + b"".join(idbs)

    def _open(self, index: int) -> None:
        path = self.paths[index]
        try:
            self._file = open(path, "wb")  # noqa: SIM115 - closed by close() or rotation
            self._file.write(self._header)
        except OSError as exc:
            self._file = None
            if self.frames == 0 and index == 0:
                raise LiveCaptureError(f"cannot write {path}: {exc.strerror or exc}") from exc
            self._fail(path, exc)
            return
        self._index = index
        self._size = len(self._header)

    def _fail(self, path: Path, exc: OSError) -> None:
        if self.problem is None:
            self.problem = f"writing {path} stopped: {exc.strerror or exc}"
        if self._file is not None:
            with contextlib.suppress(OSError):
                self._file.close()
            self._file = None

    def _record(self, iface: int, frame: Frame) -> bytes:
        data = frame.data
        sec, usec = _split_ts(frame.ts)
        orig = frame.orig_len or len(data)
        if not self._pcapng:
            return _PCAP_RECORD.pack(sec, usec, len(data), orig) + data
        ticks = sec * 1_000_000 + usec
        padded = _pad4(data)
        length = 32 + len(padded)
        head = _EPB_HEAD.pack(
            _EPB_TYPE, length, iface, ticks >> 32, ticks & 0xFFFFFFFF, len(data), orig
        )
        return head + padded + struct.pack("<I", length)

    def write(self, iface: int, frame: Frame) -> None:
        """Append one frame captured on interface number ``iface`` (its index in ``start``)."""
        if self._file is None:
            return
        record = self._record(iface, frame)
        if (
            self.ring_files
            and self._size + len(record) > self.ring_bytes
            and self._size > len(self._header)
        ):
            self._rotate()
            if self._file is None:
                return
        try:
            self._file.write(record)
        except OSError as exc:
            self._fail(self.paths[self._index], exc)
            return
        self._size += len(record)
        self.bytes += len(record)
        self.frames += 1

    def _on_file(self, action: Callable[[BinaryIO], object]) -> bool:
        """Run ``action`` on the open file: False when none is open or the action failed.

        A failure is recorded once in ``problem`` and closes the file (:meth:`_fail`), so every
        later call is a no-op: the capture goes on without the file.
        """
        if self._file is None:
            return False
        try:
            action(self._file)
        except OSError as exc:
            self._fail(self.paths[self._index], exc)
            return False
        return True

    def _rotate(self) -> None:
        """Close the full file and start the next one in the ring (overwriting the oldest)."""
        if not self._on_file(_close):
            return
        self._file = None
        self.rotations += 1
        self._open((self._index + 1) % self.ring_files)

    def flush(self) -> None:
        """Push buffered records to the OS so the file is current even if sipwatch is killed."""
        self._on_file(_flush)

    def close(self) -> None:
        """Flush and close the current file; every record written so far is complete on disk."""
        self._on_file(_close)
        self._file = None
