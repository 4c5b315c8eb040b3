"""One tcpdump process streaming pcap into sipwatch's own pcap reader (the live engine's source).

Why tcpdump and not an in-process sniffer (measured in ``docs/live.md``): libpcap reads the
kernel's TPACKET_V3 ring with a large buffer (``-B``), tcpdump drops root right after opening the
interface (privilege separation: sipwatch's parsers never run with ``CAP_NET_RAW``), and the
capture statistics (packets dropped by the kernel) come for free. scapy's raw-socket ``sniff``
costs hundreds of microseconds of Python per packet before sipwatch has done any work, loses
packets silently from a few thousand per second on, and has no drop counter.

- ``--immediate-mode`` makes libpcap hand each packet over at once (without it, TPACKET_V3
  delivers in blocks that fill or time out, about a second late); ``-U`` flushes each record
  into the pipe.
- The records are parsed by :func:`sipwatch.capture.pcap.read_pcap`, the reader of
  ``sipwatch pcap``: a live frame and a file frame are the same thing.
- Kernel drop counters: tcpdump prints its statistics on stderr when it exits, and on Linux
  prints them while running when sent SIGUSR1 (there is no SIGINFO); :mod:`.live` asks every
  few seconds and this module parses the lines.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import shutil
import signal
import struct
import subprocess
import threading
from collections import deque
from collections.abc import Sequence
from typing import Final, Protocol

from sipwatch.capture import pcap
from sipwatch.capture.readers import CHUNK, CaptureStats, ChunkedInput
from sipwatch.capture.types import Frame
from sipwatch.capture.writer import WriterInterface
from sipwatch.errors import (
    CaptureFormatError,
    CaptureReadError,
    LiveCaptureError,
    NativeCoreError,
)

#: ICMP errors that quote the datagram they are about (RFC 792: destination unreachable, source
#: quench, redirect, time exceeded, parameter problem): SIP quoted there says why a message was
#: not delivered. ICMPv6 errors are types below 128 (RFC 4443 §2.1), right after the fixed header.
ICMP_ERRORS: Final = (
    "(icmp and (icmp[0] == 3 or icmp[0] == 4 or icmp[0] == 5 or icmp[0] == 11 or icmp[0] == 12))"
)
ICMP6_ERRORS: Final = "(ip6 and ip6[6] == 58 and ip6[40] < 128)"
#: Everything SIP can travel in (UDP, TCP, SCTP), plus IPv4 fragments that are not the first
#: (they carry no transport header), plus all IPv6 (fragments hide behind extension headers),
#: plus ICMP errors. SIP itself is recognised by content, on any port.
DEFAULT_FILTER: Final = f"udp or tcp or sctp or (ip[6:2] & 0x1fff != 0) or ip6 or {ICMP_ERRORS}"
#: Kernel capture buffer for tcpdump's ``-B``, in KiB: 32 MiB absorbs several seconds of bursts.
BUFFER_KIB: Final = 32768
#: Frames handed over per queue operation at most (the reader also hands over before blocking).
BATCH: Final = 512
#: Bytes asked for the pipe from tcpdump (Linux caps it at /proc/sys/fs/pipe-max-size).
PIPE_SIZE: Final = 1 << 20
#: Seconds to wait for tcpdump to exit after SIGTERM before it is killed.
STOP_TIMEOUT: Final = 5.0
TCPDUMP_MISSING: Final = "tcpdump not found: apt-get install tcpdump"
PERMISSION_HINT: Final = (
    "run as root, or allow tcpdump to capture: "
    "setcap cap_net_raw,cap_net_admin=eip $(which tcpdump)"
)
_PCAP_HEADER_LEN: Final = 24
#: The pcap magics as read little-endian: micro, nano and the old "modified" format.
_LITTLE_MAGICS: Final = frozenset({0xA1B2C3D4, 0xA1B23C4D, 0xA1B2CD34})
_STAT_RE: Final = re.compile(
    r"(\d+) packets? (captured|received by filter|dropped by kernel|dropped by interface)"
)


class FrameSink(Protocol):
    """Where a stream's reader thread hands its frames (the engine's numbering and queue)."""

    def deliver(self, index: int, frames: list[Frame]) -> None: ...

    def wake(self) -> None: ...


def capture_filter(user_filter: str | None = None, ports: Sequence[int] = ()) -> str:
    """The BPF expression handed to tcpdump.

    ``--port`` narrows the capture, but IP fragments after the first carry no ports and must
    still reach the reassembler, so they are kept whatever the port (IPv6 fragments: next
    header 44 right after the fixed header, RFC 8200 §4.5); so are ICMP errors, whose ports are
    inside the quoted datagram.
    """
    base = (user_filter or "").strip() or DEFAULT_FILTER
    if not ports:
        return base
    for port in ports:
        if not 0 < port < 65536:
            raise LiveCaptureError(f"bad --port {port}: use 1-65535")
    wanted = " or ".join(f"port {p}" for p in sorted(set(ports)))
    return (
        f"({base}) and ({wanted} or (ip[6:2] & 0x1fff != 0) or (ip6 and ip6[6] == 44) "
        f"or {ICMP_ERRORS} or {ICMP6_ERRORS})"
    )


def tcpdump_command(
    tcpdump: str, interface: str, bpf: str, buffer_kib: int = BUFFER_KIB
) -> list[str]:
    """The tcpdump command line for one interface (pcap on stdout, one record per flush)."""
    return [
        tcpdump,
        "-i",
        interface,
        "-s",
        "0",
        "-B",
        str(buffer_kib),
        "--immediate-mode",
        "-U",
        "-n",
        "-w",
        "-",
        bpf,
    ]


def find_tcpdump() -> str:
    """tcpdump on PATH, or the operator error naming the Debian package."""
    path = shutil.which("tcpdump")
    if path is None:
        raise LiveCaptureError(TCPDUMP_MISSING)
    return path


def parse_stats(line: str) -> dict[str, int]:
    """Counters from one tcpdump statistics line (the SIGUSR1 one-liner or an exit line)."""
    return {name: int(value) for value, name in _STAT_RE.findall(line)}


def start_error(interface: str, bpf: str, stderr_lines: Sequence[str]) -> LiveCaptureError:
    """Turn what tcpdump said on stderr when it failed to start into one operator message."""
    text = " ".join(line.strip() for line in stderr_lines if line.strip())
    low = text.lower()
    detail = text.removeprefix("tcpdump: ").strip() or "it exited without saying why"
    if "no such device" in low or "doesn't exist" in low or "does not exist" in low:
        return LiveCaptureError(f"no such interface '{interface}' (see: sipwatch interfaces)")
    if "permission" in low or "operation not permitted" in low:
        return LiveCaptureError(f"no permission to capture on {interface}: {PERMISSION_HINT}")
    if "syntax error" in low or "filter" in low:
        return LiveCaptureError(f"capture filter rejected: {detail} (filter: {bpf})")
    if "not up" in low:
        return LiveCaptureError(f"interface {interface} is down: {detail}")
    return LiveCaptureError(f"tcpdump could not capture on {interface}: {detail}")


class TcpdumpStream:
    """One tcpdump process on one interface, with its stdout reader and stderr watcher."""

    def __init__(
        self,
        tcpdump: str,
        interface: str,
        bpf: str,
        index: int,
        sink: FrameSink,
        buffer_kib: int,
        *,
        native: bool = False,
    ) -> None:
        """``native``: the pcap records tcpdump writes are read by the native core."""
        self.native = native
        self.interface = interface
        self.bpf = bpf
        self.index = index
        self.command = tcpdump_command(tcpdump, interface, bpf, buffer_kib)
        self.stats = CaptureStats(name=f"tcpdump on {interface}")
        self.counters: dict[str, int] = {}
        self.stderr_lines: deque[str] = deque(maxlen=20)
        self.header: WriterInterface | None = None
        self.error: str | None = None
        self.done = threading.Event()
        self.ready = threading.Event()
        self.listening = threading.Event()
        self._go = threading.Event()
        self._sink = sink
        self._proc: subprocess.Popen[bytes] | None = None
        self._threads: list[threading.Thread] = []
        self._pending: list[Frame] = []
        self.stopping = False

    # -- process --------------------------------------------------------------------------

    def spawn(self) -> None:
        try:
            # A process group of its own: the terminal's Ctrl-C reaches sipwatch only, which
            # then stops tcpdump in order and reads what it still has.
            self._proc = subprocess.Popen(
                self.command,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                # Buffered pipes make stderr's readline cheap; stdout is read with os.read on
                # its descriptor (never through the buffer), so nothing waits to fill it.
                bufsize=-1,
                process_group=0,
            )
        except FileNotFoundError as exc:
            raise LiveCaptureError(TCPDUMP_MISSING) from exc
        except PermissionError as exc:
            raise LiveCaptureError(f"cannot run {self.command[0]}: permission denied") from exc
        if self._proc.stdout is not None:
            _grow_pipe(self._proc.stdout.fileno())
        for target, name in ((self._read_stdout, "stdout"), (self._read_stderr, "stderr")):
            thread = threading.Thread(
                target=target, name=f"tcpdump-{self.interface}-{name}", daemon=True
            )
            thread.start()
            self._threads.append(thread)

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def request_stats(self) -> None:
        """SIGUSR1: tcpdump prints its counters on stderr (Linux, no SIGINFO there)."""
        if self.listening.is_set() and self.running() and self._proc is not None:
            with contextlib.suppress(ProcessLookupError):
                self._proc.send_signal(signal.SIGUSR1)

    def go(self) -> None:
        """Let the reader deliver frames (the ``--write`` file is open by now)."""
        self._go.set()

    def terminate(self) -> None:
        self.stopping = True
        self._go.set()
        if self.running() and self._proc is not None:
            with contextlib.suppress(ProcessLookupError):
                self._proc.send_signal(signal.SIGTERM)

    def wait(self, timeout: float = STOP_TIMEOUT) -> None:
        """Wait for tcpdump to exit and both pipes to be read to the end; kill if it hangs."""
        proc = self._proc
        if proc is None:
            return
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        for thread in self._threads:
            thread.join(timeout)
        for pipe in (proc.stdout, proc.stderr):
            if pipe is not None:
                with contextlib.suppress(OSError):
                    pipe.close()

    def kill(self) -> None:
        self.stopping = True
        self._go.set()
        if self.running() and self._proc is not None:
            with contextlib.suppress(ProcessLookupError):
                self._proc.kill()

    # -- threads --------------------------------------------------------------------------

    def _flush(self) -> None:
        if self._pending:
            frames, self._pending = self._pending, []
            self._sink.deliver(self.index, frames)

    def _read_stdout(self) -> None:
        proc = self._proc
        if proc is None or proc.stdout is None:
            return
        fd = proc.stdout.fileno()

        def read(size: int) -> bytes:
            # Hand over what is parsed before blocking: no frame waits for the next packet.
            self._flush()
            try:
                return os.read(fd, max(size, CHUNK))
            except OSError as exc:
                raise CaptureReadError(f"reading tcpdump: {exc.strerror or exc}") from exc

        try:
            head = b""
            while len(head) < _PCAP_HEADER_LEN:
                chunk = read(CHUNK)
                if not chunk:
                    break
                head += chunk
            if len(head) < _PCAP_HEADER_LEN or head[:4] not in pcap.MAGICS:
                raise CaptureFormatError("tcpdump wrote no pcap header")
            linktype, snaplen = pcap_header_info(head)
            frames = pcap.read_pcap(ChunkedInput(read, self.stats, head), native=self.native)
        except (CaptureFormatError, CaptureReadError) as exc:
            self.error = str(exc)
            self.ready.set()
            self.done.set()
            self._sink.wake()
            return
        self.header = WriterInterface(self.interface, linktype, snaplen)
        self.ready.set()
        self._go.wait()
        try:
            # ``self._pending`` is re-read each time: ``read`` may hand it over and replace it.
            for frame in frames:
                self._pending.append(frame)
                if len(self._pending) >= BATCH:
                    self._flush()
        except (CaptureReadError, NativeCoreError) as exc:
            self.error = str(exc)
        finally:
            self._flush()
            self.done.set()
            self._sink.wake()

    def _read_stderr(self) -> None:
        proc = self._proc
        if proc is None or proc.stderr is None:
            return
        for raw in iter(proc.stderr.readline, b""):
            line = raw.decode("utf-8", "replace").rstrip()
            counters = parse_stats(line)
            if counters:
                self.counters.update(counters)
            elif line.startswith("tcpdump: listening on") or line.startswith("listening on"):
                self.listening.set()
            elif line:
                self.stderr_lines.append(line)


def _grow_pipe(fd: int) -> None:
    """Enlarge the pipe from tcpdump (64 KiB by default) to absorb GIL hand-over delays.

    The reader thread may wait up to the interpreter's switch interval (5 ms) for the GIL
    while the main thread analyses; at 10,000 packets/s that is ~50 packets, close to what
    64 KiB holds. A full pipe blocks tcpdump and makes the *kernel* drop; 1 MiB (the default
    ``/proc/sys/fs/pipe-max-size``) keeps the back-pressure on our own, counted queue.
    """
    with contextlib.suppress(OSError, AttributeError):
        fcntl.fcntl(fd, fcntl.F_SETPIPE_SZ, PIPE_SIZE)


def pcap_header_info(head: bytes) -> tuple[int, int]:
    """(link type, snapshot length) from a pcap file header (the reader keeps them private)."""
    little = int.from_bytes(head[:4], "little") in _LITTLE_MAGICS
    snaplen, link = struct.unpack_from("<II" if little else ">II", head, 16)
    # The top bits of the link-type field carry FCS information; the type is the low 16 bits.
    return link & 0xFFFF, snaplen or pcap.MAX_RECORD


__all__ = [
    "DEFAULT_FILTER",
    "PERMISSION_HINT",
    "TCPDUMP_MISSING",
    "FrameSink",
    "TcpdumpStream",
    "capture_filter",
    "find_tcpdump",
    "parse_stats",
    "pcap_header_info",
    "start_error",
    "tcpdump_command",
]
