"""Open a capture file (or stdin) and yield its frames, whatever the format.

The format is sniffed from the first bytes, never from the file name: pcap (both byte orders,
micro- and nanosecond magic), pcapng, Microsoft NetMon, and any of them gzip-compressed. Input is
read in large chunks with one ``read`` call each (no per-record syscalls), and never with a seek,
so ``tcpdump -U -w - | sipwatch pcap -`` streams: a chunk read from a pipe returns as soon as
some bytes are there instead of waiting for the chunk to fill.

Operator mistakes (no such file, not a capture at all) raise :mod:`sipwatch.errors` exceptions at
open time. Damage inside a capture (cut mid-record, a corrupt block) is data: every complete
frame before it is yielded, and :class:`CaptureStats` records what happened.
"""

from __future__ import annotations

import gzip
import io
import os
import sys
import zlib
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from types import TracebackType
from typing import BinaryIO

from sipwatch.capture import netmon, pcap, pcapng
from sipwatch.capture.types import Frame
from sipwatch.engine import Engine
from sipwatch.errors import CaptureFormatError, CaptureReadError

#: Bytes asked for per read. Large enough that reading costs nothing per frame; a pipe returns
#: whatever is available, so this adds no latency to a live stream.
CHUNK = 1 << 20
_GZIP_MAGIC = b"\x1f\x8b"
#: At most this many distinct problem lines are kept; repeats are counted in ``counters``.
MAX_PROBLEMS = 50


@dataclass(slots=True)
class CaptureStats:
    """What the reader saw, for the summary line and for tests.

    ``truncated`` is True when the reader stopped before the end of the data it was given:
    the capture was cut in the middle of a record, or a damaged record made the rest unreadable.
    ``counters`` counts per-record oddities that do not stop reading (records longer than the
    snapshot length, timestamps going backwards); each kind also gets one line in ``problems``.
    """

    name: str
    format: str = ""
    compressed: bool = False
    frames: int = 0
    truncated: bool = False
    problems: list[str] = field(default_factory=list)
    counters: Counter[str] = field(default_factory=Counter)
    _leapt: int = 0  # the last record counted as a jump ahead

    def problem(self, text: str) -> None:
        """Record one problem line (bounded, so a broken file cannot grow memory)."""
        if len(self.problems) < MAX_PROBLEMS:
            self.problems.append(text)

    def count(self, kind: str, first_text: str) -> None:
        """Count a per-record oddity; the first occurrence also becomes a problem line."""
        if not self.counters[kind]:
            self.problem(first_text)
        self.counters[kind] += 1

    def time_step(self, number: int, ts: float, last_ts: float, before_last: float) -> None:
        """Record ``number`` (at ``ts``) is earlier than the one before it, or more than
        :data:`CLOCK_JUMP` later: see :meth:`time_went_back` and :meth:`time_leapt`."""
        if ts < last_ts:
            self.time_went_back(number, ts, last_ts, before_last)
        elif number > 1:
            self.time_leapt(number, ts, last_ts)

    def time_leapt(self, number: int, ts: float, last_ts: float) -> None:
        """A step of more than a day between two records: a reset or damaged clock, not traffic
        (``sip_ipv6_udp.pcap`` goes from 2012 to 2092 in six records). Counted as
        ``timestamp-jump``; the correlator judges no timer across it."""
        self.count(
            "timestamp-jump",
            f"record {number}: the capture clock jumps {span(ts - last_ts)} ahead "
            f"({last_ts:.6f} to {ts:.6f}); no timer is judged across the jump",
        )
        self._leapt = number

    def time_went_back(self, number: int, ts: float, last_ts: float, before_last: float) -> None:
        """Record ``number`` (at ``ts``) is earlier than the record before it (``last_ts``).

        Usually this record is the odd one out (a merged capture, a clock stepped back), and
        that is what is counted (``timestamp-backwards``). But when the previous record jumped
        more than :data:`OUTLIER_GAP` ahead of *both* its neighbours, and this one is back in
        order with the one before it (``before_last``), that previous record carries a damaged
        timestamp: blaming this record would send the reader to the one normal record of the
        three. That is counted as ``timestamp-outlier`` and names the outlier. Either way every
        record is still decoded, with its timestamp as written.
        """
        if (
            number > 2
            and before_last <= ts
            and last_ts - ts > OUTLIER_GAP
            and last_ts - before_last > OUTLIER_GAP
        ):
            if self._leapt == number - 1:  # the outlier's own jump ahead: one line says both
                self.counters["timestamp-jump"] -= 1
                if not self.counters["timestamp-jump"]:
                    del self.counters["timestamp-jump"]
                    self.problems[:] = [p for p in self.problems if "clock jumps" not in p]
            self.count(
                "timestamp-outlier",
                f"record {number - 1}: timestamp {last_ts:.6f} is {span(last_ts - ts)} ahead "
                f"of records {number - 2} and {number} (a damaged timestamp: the records around "
                "it are in order)",
            )
            return
        self.count("timestamp-backwards", f"record {number}: timestamp goes backwards ({ts:.6f})")


#: How far ahead of both its neighbours a record's time must be to be called an outlier: more
#: than any reordering a capture produces (per-CPU queues, merged interfaces: milliseconds).
OUTLIER_GAP = 60.0


def span(seconds: float) -> str:
    """A duration in its largest whole unit, for a person: ``24 years``, ``3 days``, ``5 min``."""
    for unit, name in ((365.25 * 86400, "year"), (86400, "day"), (3600, "hour")):
        if seconds >= unit:
            count = int(seconds // unit)
            return f"{count} {name}{'s' if count > 1 else ''}"
    return f"{int(seconds // 60)} min"


class ChunkedInput:
    """A forward-only byte source with the unread rest of the last chunk in ``buf[pos:]``.

    Format readers copy ``buf``/``pos`` into locals in their hot loop and call :meth:`more` only
    when a record crosses the end of the buffer.
    """

    __slots__ = ("_read", "buf", "eof", "pos", "stats")

    def __init__(self, read: Callable[[int], bytes], stats: CaptureStats, prefix: bytes) -> None:
        self._read = read
        self.stats = stats
        self.buf = prefix
        self.pos = 0
        self.eof = False

    def more(self, at_least: int = 1) -> bytes:
        """The next chunk of the input (``b""`` at end or when a compressed stream breaks).

        A corrupt or cut gzip stream is damage inside the capture, not an operator error: it
        ends the input with a problem recorded, like a capture cut mid-record.
        """
        if self.eof:
            return b""
        try:
            chunk = self._read(max(CHUNK, at_least))
        except (EOFError, zlib.error, gzip.BadGzipFile) as exc:
            self.stats.truncated = True
            self.stats.problem(f"compressed stream broken: {exc}")
            chunk = b""
        except OSError as exc:
            raise CaptureReadError(
                f"{self.stats.name}: read failed: {exc.strerror or exc}"
            ) from exc
        if not chunk:
            self.eof = True
        return chunk

    def need(self, count: int) -> bool:
        """Make ``buf[pos:pos+count]`` available; False when the input ends first."""
        while len(self.buf) - self.pos < count:
            chunk = self.more(count - (len(self.buf) - self.pos))
            if not chunk:
                return False
            self.buf = self.buf[self.pos :] + chunk
            self.pos = 0
        return True

    def read_all(self, limit: int) -> bytearray | None:
        """Everything from ``pos`` to the end (for formats that are not streamable), or None
        as soon as it would pass ``limit`` bytes.

        The bytes are appended to one buffer as they come, so the file is held once (a list of
        chunks joined at the end would hold it twice at the join).
        """
        data = bytearray(self.buf[self.pos :])
        self.buf = b""
        self.pos = 0
        while len(data) <= limit and (chunk := self.more(CHUNK)):
            data += chunk
        return data if len(data) <= limit else None


class CaptureSource:
    """The frames of one capture, in file order, iterable once; ``stats`` fills as it goes."""

    def __init__(self, frames: Iterator[Frame], stats: CaptureStats, closer: Callable[[], None]):
        self._frames = frames
        self.stats = stats
        self._closer = closer

    def __iter__(self) -> Iterator[Frame]:
        return self._frames

    def close(self) -> None:
        """Release the file (stdin is left open)."""
        self._closer()

    def __enter__(self) -> CaptureSource:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class _Prefixed:
    """A file-like object that returns already-sniffed bytes before the rest of the stream.

    Sniffing must not seek (stdin cannot), so the bytes read to look at the magic are handed
    back to the gzip decompressor through this.
    """

    def __init__(self, prefix: bytes, read: Callable[[int], bytes]) -> None:
        self._prefix = prefix
        self._read = read

    def read(self, size: int = -1, /) -> bytes:
        if self._prefix:
            if size < 0:
                size = len(self._prefix)
            out, self._prefix = self._prefix[:size], self._prefix[size:]
            return out
        return self._read(CHUNK if size < 0 else size)

    def seek(self, offset: int, /) -> object:
        """Part of the file protocol gzip expects; never called when only reading forward."""
        raise io.UnsupportedOperation("capture input is read forward only")


def _preview(head: bytes) -> str:
    """The first bytes as a short printable string for an error message."""
    text = head[:16].decode("latin-1")
    shown = "".join(ch if " " <= ch <= "~" else f"\\x{ord(ch):02x}" for ch in text)
    return f"'{shown}'" + ("..." if len(head) > 16 else "")


def _open_raw(path: str | os.PathLike[str]) -> tuple[str, Callable[[int], bytes], BinaryIO | None]:
    """(display name, read function, file to close) for ``path``; ``"-"`` is stdin."""
    if os.fspath(path) == "-":
        stdin = sys.stdin.buffer
        # read1 returns what a pipe has now instead of waiting for a full chunk.
        read1 = getattr(stdin, "read1", None)
        return "<stdin>", (read1 if read1 is not None else stdin.read), None
    name = os.fspath(path)
    try:
        raw = open(name, "rb", buffering=0)  # noqa: SIM115 - closed by CaptureSource.close
    except FileNotFoundError as exc:
        raise CaptureReadError(f"{name}: no such file") from exc
    except IsADirectoryError as exc:
        raise CaptureReadError(f"{name}: is a directory, not a capture file") from exc
    except PermissionError as exc:
        raise CaptureReadError(f"{name}: permission denied") from exc
    except OSError as exc:
        raise CaptureReadError(f"{name}: cannot open: {exc.strerror or exc}") from exc
    return name, raw.read, raw


def _first_bytes(read: Callable[[int], bytes], name: str, want: int) -> bytes:
    """Read until ``want`` bytes are in hand or the input ends (a pipe may trickle)."""
    parts: list[bytes] = []
    got = 0
    try:
        while got < want:
            chunk = read(CHUNK)
            if not chunk:
                break
            parts.append(chunk)
            got += len(chunk)
    except IsADirectoryError as exc:
        raise CaptureReadError(f"{name}: is a directory, not a capture file") from exc
    except (EOFError, zlib.error, gzip.BadGzipFile) as exc:
        raise CaptureFormatError(f"{name}: not a capture file: broken gzip data ({exc})") from exc
    except OSError as exc:
        raise CaptureReadError(f"{name}: read failed: {exc.strerror or exc}") from exc
    return b"".join(parts)


def open_capture(path: str | os.PathLike[str], engine: Engine = "python") -> CaptureSource:
    """Open a pcap, pcapng or NetMon capture (optionally gzip-compressed); ``"-"`` is stdin.

    Raises CaptureReadError when the file cannot be opened or read, CaptureFormatError when it
    is empty or not a capture format sipwatch knows. The file header is parsed here, so those
    errors happen at open time, before any frame is asked for. With ``engine="native"`` the
    native core reads pcap and pcapng records (NetMon is always read in Python).
    """
    name, read, raw = _open_raw(path)
    closer: Callable[[], None] = raw.close if raw is not None else (lambda: None)
    try:
        return _sniff(name, read, closer, engine == "native")
    except BaseException:
        closer()
        raise


#: Bytes :func:`probe_capture` reads at most per call: enough for any magic, even in gzip.
_PROBE_READ = 64 << 10


def probe_capture(path: str | os.PathLike[str]) -> None:
    """Raise what :func:`open_capture` would raise for ``path``, reading only its first bytes.

    A command given several files checks them all with this before printing anything, so a typo
    in the last name does not cut the output short after the first files. Nothing is checked
    for ``"-"``: stdin can be read only once (its errors come when it is opened).
    """
    name, read, raw = _open_raw(path)
    if raw is None:
        return

    def first_bytes(size: int) -> bytes:
        return read(min(size, _PROBE_READ))

    try:
        _sniff(name, first_bytes, lambda: None).close()
    finally:
        raw.close()


def _sniff(
    name: str, read: Callable[[int], bytes], closer: Callable[[], None], native: bool = False
) -> CaptureSource:
    stats = CaptureStats(name=name)
    head = _first_bytes(read, name, 4)
    if not head:
        raise CaptureFormatError(f"{name}: not a capture file: it is empty")
    if head.startswith(_GZIP_MAGIC):
        stats.compressed = True
        gz = gzip.GzipFile(fileobj=_Prefixed(head, read), mode="rb")
        read = gz.read1
        outer_close = closer

        def closer() -> None:
            gz.close()
            outer_close()

        head = _first_bytes(read, name, 4)
        if not head:
            raise CaptureFormatError(f"{name}: not a capture file: gzip data is empty")
    inp = ChunkedInput(read, stats, head)
    magic = head[:4]
    frames: Iterator[Frame]
    if magic in pcap.MAGICS:
        stats.format = "pcap"
        frames = pcap.read_pcap(inp, native=native)
    elif magic == pcapng.SHB_MAGIC:
        stats.format = "pcapng"
        frames = pcapng.read_pcapng(inp, native=native)
    elif magic in netmon.MAGICS:
        frames = netmon.read_netmon(inp)
    else:
        where = " (inside gzip)" if stats.compressed else ""
        raise CaptureFormatError(f"{name}: not a capture file{where}: starts with {_preview(head)}")
    return CaptureSource(frames, stats, closer)


__all__ = [
    "CHUNK",
    "CaptureSource",
    "CaptureStats",
    "ChunkedInput",
    "open_capture",
    "probe_capture",
]
