"""SIP over TLS read with a key log (``--tls-keylog KEYS``): tshark decrypts, sipwatch frames.

A TLS session can be decrypted by whoever has its secrets: the NSS key log format
(``SSLKEYLOGFILE`` of a browser or softphone, ``SSLContext.keylog_filename`` in Python, the key
log an SBC exports) that Wireshark reads. sipwatch does not implement TLS; it runs tshark over
the same file, in parallel with its own reading, and takes from it the decrypted bytes of each
TLS record with the frame that completed the record:

    tshark -r FILE -o tls.keylog_file:KEYS --disable-protocol sip -Y "tls and data"
           -T fields -e frame.number -e ip.src -e ipv6.src -e tcp.srcport
                     -e ip.dst -e ipv6.dst -e tcp.dstport -e data.data

Why this way: tshark only hands decrypted application data to the SIP dissector on the SIP TLS
port (5061; there is no SIP heuristic over TLS), so on any other port the plaintext would stay
hidden. With the SIP dissector disabled, every decrypted record goes to the ``data`` dissector,
whose ``data.data`` field is the plaintext in hex, on every port alike. sipwatch then frames it
with its own Content-Length framer per direction (RFC 3261 §18.3: a record may hold part of a
message or several), so the messages enter the same pipeline as any other, with transport
``tls``, the frame number of the packet that completed them and its capture time.

pyshark is not used: it drives the same tshark, but parses its PDML or JSON output into
objects per packet in Python and runs tshark under asyncio; for one field per packet, a line of
``-T fields`` output read from a pipe is simpler and much cheaper, and pyshark offers no other
way to the decrypted bytes.

The tshark output is read lazily, in frame order, as the pipeline advances: nothing is held
beyond the records of the frame being processed. tshark is started only when the capture shows
a TLS packet, so a key log given for many captures costs nothing on those without TLS.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections import Counter
from typing import IO, Final

from sipwatch.capture.types import Endpoint, Segment
from sipwatch.errors import CaptureReadError
from sipwatch.sip.framing import StreamFramer

_FIELDS: Final = (
    "frame.number",
    "ip.src",
    "ipv6.src",
    "tcp.srcport",
    "ip.dst",
    "ipv6.dst",
    "tcp.dstport",
    "data.data",
)
#: Directions of TLS connections whose framers are kept at once (oldest forgotten first).
MAX_DIRECTIONS: Final = 65536


def tshark_command(tshark: str, path: str, keylog: str) -> list[str]:
    command = [tshark, "-n", "-r", path, "-o", f"tls.keylog_file:{keylog}"]
    command += ["--disable-protocol", "sip", "-Y", "tls and data", "-T", "fields"]
    command += ["-E", "separator=/t", "-E", "occurrence=a", "-E", "aggregator=,"]
    for name in _FIELDS:
        command += ["-e", name]
    return command


def check_keylog(keylog: str, tshark: str | None = None) -> str:
    """The tshark to run; an operator error when the key log or tshark is missing."""
    if not os.path.isfile(keylog) or not os.access(keylog, os.R_OK):
        raise CaptureReadError(f"cannot read the TLS key log {keylog}")
    program = tshark or shutil.which("tshark")
    if program is None:
        raise CaptureReadError(
            "--tls-keylog decrypts through tshark, which is not installed (apt-get install tshark)"
        )
    return program


def _last(value: str) -> str:
    """The innermost of several occurrences (a tunnel repeats ip.src)."""
    return value.rsplit(",", 1)[-1]


class TlsPlaintext:
    """The decrypted SIP of one capture file, handed out frame by frame.

    ``feed(frame_number, ts)`` returns the Segments (transport ``tls``) completed by that frame,
    or None when tshark decrypted nothing in it. Frames must be asked for in increasing order,
    from :meth:`start` on.
    """

    def __init__(self, path: str, keylog: str, tshark: str | None = None) -> None:
        if path == "-":
            raise CaptureReadError("--tls-keylog needs a capture file (tshark cannot reread stdin)")
        if not os.path.isfile(keylog) or not os.access(keylog, os.R_OK):
            raise CaptureReadError(f"cannot read the TLS key log {keylog}")
        self.path = path
        self.keylog = keylog
        self._tshark = tshark or shutil.which("tshark")
        self.notes: Counter[str] = Counter()
        self.problems: list[str] = []
        self._proc: subprocess.Popen[str] | None = None
        self._lines: IO[str] | None = None
        self._pending: tuple[int, list[str]] | None = None
        self._framers: dict[tuple[Endpoint, Endpoint], StreamFramer] = {}
        self.started = False

    def start(self) -> None:
        """Run tshark, once the capture shows TLS (a capture without any costs nothing).

        Without tshark (a rules file named a key log on a machine that lacks it), the TLS stays
        encrypted and the summary says why."""
        if self.started:
            return
        self.started = True
        if self._tshark is None:
            self.problems.append(
                "SIP over TLS not decrypted: --tls-keylog reads it through tshark, which is "
                "not installed (apt-get install tshark)"
            )
            return
        self._proc = subprocess.Popen(
            tshark_command(self._tshark, self.path, self.keylog),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            text=True,
            errors="replace",
        )
        self._lines = self._proc.stdout

    def _next(self) -> tuple[int, list[str]] | None:
        lines = self._lines
        while lines is not None:
            line = lines.readline()
            if not line:
                self._lines = None
                break
            fields = line.rstrip("\n").split("\t")
            if len(fields) != len(_FIELDS) or not fields[0].isdigit():
                self.notes["tls-keylog-bad-line"] += 1
                continue
            return int(fields[0]), fields
        return None

    def feed(self, frame: int, ts: float) -> list[Segment] | None:
        pending = self._pending
        while pending is None or pending[0] < frame:
            pending = self._next()
            if pending is None:
                self._pending = None
                return None
        self._pending = pending
        if pending[0] != frame:
            return None
        self._pending = None
        return self._segments(frame, ts, pending[1])

    def _segments(self, frame: int, ts: float, fields: list[str]) -> list[Segment]:
        _, src4, src6, sport, dst4, dst6, dport, data = fields
        try:
            src = (_last(src6 or src4), int(_last(sport)))
            dst = (_last(dst6 or dst4), int(_last(dport)))
            records = [bytes.fromhex(item) for item in data.split(",") if item]
        except ValueError:
            self.notes["tls-keylog-bad-line"] += 1
            return []
        key = (src, dst)
        framer = self._framers.get(key)
        if framer is None:
            if len(self._framers) >= MAX_DIRECTIONS:
                del self._framers[next(iter(self._framers))]
            framer = self._framers[key] = StreamFramer()
        self.notes["tls-decrypted-records"] += len(records)
        out: list[Segment] = []
        for record in records:
            for item in framer.feed(record):
                if isinstance(item, bytes):
                    out.append(Segment(ts, frame, src, dst, "tls", item))
                else:
                    self.notes["tls-" + item.reason] += 1
        return out

    def close(self) -> None:
        """Wait for tshark; a failure of its own becomes a problem line for the summary."""
        proc = self._proc
        if proc is None:
            return
        if proc.stdout is not None:
            proc.stdout.read()  # the rest, if the capture ended before tshark's output
        err = proc.stderr.read() if proc.stderr is not None else ""
        code = proc.wait()
        if code != 0:
            said = " ".join(err.split())[:300] or f"exit status {code}"
            self.problems.append(f"tshark could not decrypt TLS: {said}")
