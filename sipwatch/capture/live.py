"""Live capture engine: one tcpdump per interface, one queue, frames out in arrival order.

Flow::

    tcpdump -w - ──pipe──▶ reader thread ──────────────▶ FrameQueue ──▶ main thread
      (one per interface)   pcap records → Frame          bounded;        pipeline.feed, render,
                            number, --write file           full: "ours"    pipeline.tick when idle
                                                           drop counted

- The reader threads never block on sipwatch's analysis: when the queue is full the frames are
  counted as dropped by "ours" and the pipe keeps draining, so tcpdump does not stall and the
  kernel does not drop because of us. The ``--write`` file is written *before* the queue, so it
  holds everything tcpdump delivered.
- Frames are numbered here, across all interfaces, in the order they are written: frame N on
  the screen is frame N in the ``--write`` file (without a ring).
- The process side (command line, stderr, statistics, start errors) is
  :mod:`sipwatch.capture.tcpdump`; why tcpdump at all is measured in ``docs/live.md``.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Sequence
from typing import Final

from sipwatch.capture.interfaces import interface_exists, interface_names
from sipwatch.capture.tcpdump import (
    BUFFER_KIB,
    DEFAULT_FILTER,
    TcpdumpStream,
    capture_filter,
    find_tcpdump,
    start_error,
)
from sipwatch.capture.types import Frame
from sipwatch.capture.writer import CaptureWriter
from sipwatch.errors import LiveCaptureError

#: Frames waiting for the analysis at most: about 4 s of work at the measured ~2,500 SIP
#: messages/s. Deeper only adds latency under overload (50,000 meant 25 s behind, docs/live.md).
QUEUE_LIMIT: Final = 10_000
#: Seconds between SIGUSR1 statistics requests to tcpdump.
STATS_EVERY: Final = 2.0
#: Seconds to wait for tcpdump to open the interface and write the pcap header.
START_TIMEOUT: Final = 10.0


class FrameQueue:
    """A bounded hand-over from the reader threads to the main thread, counted in frames.

    Batches go in and come out whole, so the lock is taken once per batch rather than once per
    packet. When full, the newest frames are dropped and counted (tail drop, like a kernel
    ring): the reader must never wait for the analysis.
    """

    def __init__(self, limit: int = QUEUE_LIMIT) -> None:
        self.limit = limit
        self.dropped = 0
        self._batches: deque[list[Frame]] = deque()
        self._size = 0
        self._cond = threading.Condition()

    def put(self, frames: list[Frame]) -> None:
        with self._cond:
            room = self.limit - self._size
            if room < len(frames):
                self.dropped += len(frames) - max(room, 0)
                frames = frames[: max(room, 0)]
            if frames:
                self._batches.append(frames)
                self._size += len(frames)
            self._cond.notify()

    def wake(self) -> None:
        """Wake a waiting :meth:`get` (a source ended)."""
        with self._cond:
            self._cond.notify()

    def get(self, timeout: float) -> list[Frame]:
        """Every frame waiting now, or after up to ``timeout`` seconds; ``[]`` if none came."""
        with self._cond:
            if not self._batches and timeout > 0:
                self._cond.wait(timeout)
            if not self._batches:
                return []
            if len(self._batches) == 1:
                out = self._batches.popleft()
            else:
                out = [frame for batch in self._batches for frame in batch]
                self._batches.clear()
            self._size = 0
            return out

    def __len__(self) -> int:
        return self._size


class _Shared:
    """State the reader threads share: the frame counter and the ``--write`` file."""

    def __init__(self, writer: CaptureWriter | None, queue: FrameQueue) -> None:
        self.lock = threading.Lock()
        self.writer = writer
        self.queue = queue
        self.frames = 0

    def deliver(self, index: int, frames: list[Frame]) -> None:
        with self.lock:
            number = self.frames
            writer = self.writer
            for frame in frames:
                number += 1
                frame.number = number
                if writer is not None:
                    writer.write(index, frame)
            self.frames = number
        self.queue.put(frames)

    def wake(self) -> None:
        self.queue.wake()


class LiveCapture:
    """Capture on one or more interfaces; frames come out of :meth:`get` in arrival order.

    Use as a context manager (or call :meth:`close`) so tcpdump never outlives sipwatch::

        with LiveCapture(["lo"], capture_filter()) as capture:
            capture.start()
            while capture.running:
                for frame in capture.get(0.2): ...
            capture.stop()
            rest = capture.get(0)

    Operator errors (tcpdump missing, no such interface, no permission, a filter tcpdump
    rejects, an unwritable ``--write`` file) raise :class:`LiveCaptureError` from :meth:`start`.
    """

    def __init__(
        self,
        interfaces: Sequence[str],
        bpf: str = DEFAULT_FILTER,
        *,
        writer: CaptureWriter | None = None,
        queue_limit: int = QUEUE_LIMIT,
        buffer_kib: int = BUFFER_KIB,
        stats_every: float = STATS_EVERY,
        native: bool = False,
    ) -> None:
        """``native``: tcpdump's output is read by the native core (sipwatch.engine)."""
        if not interfaces:
            raise LiveCaptureError("name an interface to capture on (see: sipwatch interfaces)")
        self.interfaces = list(dict.fromkeys(interfaces))
        self.bpf = bpf
        self.writer = writer
        self.queue = FrameQueue(queue_limit)
        self._shared = _Shared(writer, self.queue)
        self._buffer_kib = buffer_kib
        self._stats_every = stats_every
        self._native = native
        self._next_stats = 0.0
        self.streams: list[TcpdumpStream] = []
        self.started = False
        self.stopped = False

    # -- lifecycle ------------------------------------------------------------------------

    def start(self) -> None:
        tcpdump = find_tcpdump()
        for name in self.interfaces:
            if not interface_exists(name):
                known = ", ".join(["any", *interface_names()])
                raise LiveCaptureError(f"no such interface '{name}' (available: {known})")
        if self.writer is not None:
            self.writer.check_writable()
        try:
            self._start_streams(tcpdump)
        except BaseException:
            self.close()
            raise
        self.started = True
        self._next_stats = time.monotonic() + self._stats_every

    def _start_streams(self, tcpdump: str) -> None:
        for index, name in enumerate(self.interfaces):
            stream = TcpdumpStream(
                tcpdump, name, self.bpf, index, self._shared, self._buffer_kib, native=self._native
            )
            self.streams.append(stream)
            stream.spawn()
        deadline = time.monotonic() + START_TIMEOUT
        for stream in self.streams:
            if not stream.ready.wait(max(0.0, deadline - time.monotonic())):
                raise LiveCaptureError(
                    f"tcpdump did not start capturing on {stream.interface} "
                    f"within {START_TIMEOUT:.0f} s"
                )
            if stream.header is None:
                stream.wait()  # exited: collect everything it said on stderr
                raise start_error(stream.interface, self.bpf, list(stream.stderr_lines))
        if self.writer is not None:
            self.writer.start([s.header for s in self.streams if s.header is not None])
        for stream in self.streams:
            stream.go()

    def get(self, timeout: float) -> list[Frame]:
        """Frames captured since the last call (waits up to ``timeout`` s when there are none)."""
        if self.started and not self.stopped and time.monotonic() >= self._next_stats:
            self._next_stats = time.monotonic() + self._stats_every
            for stream in self.streams:
                stream.request_stats()
        return self.queue.get(timeout)

    @property
    def running(self) -> bool:
        """True while some interface can still deliver frames (or some are queued)."""
        return len(self.queue) > 0 or any(not s.done.is_set() for s in self.streams)

    def stop(self) -> None:
        """Stop every tcpdump (SIGTERM), read their pipes to the end, close the file.

        Frames still in the pipes are queued as usual: call :meth:`get` afterwards for them.
        """
        if self.stopped:
            return
        self.stopped = True
        for stream in self.streams:
            stream.terminate()
        for stream in self.streams:
            stream.wait()
        if self.writer is not None:
            with self._shared.lock:
                self.writer.close()

    def close(self) -> None:
        """Stop without waiting politely (error paths); safe to call more than once."""
        for stream in self.streams:
            stream.kill()
        for stream in self.streams:
            stream.wait(1.0)
        self.stopped = True
        if self.writer is not None:
            with self._shared.lock:
                self.writer.close()

    def __enter__(self) -> LiveCapture:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- what happened --------------------------------------------------------------------

    def flush_file(self) -> None:
        """Push the ``--write`` file's buffer to the OS (called about once a second)."""
        if self.writer is not None:
            with self._shared.lock:
                self.writer.flush()

    @property
    def frames(self) -> int:
        """Frames tcpdump delivered so far (written to the file, queued or dropped by us)."""
        return self._shared.frames

    def drops(self) -> dict[str, int]:
        """``kernel`` (tcpdump's statistics, summed over interfaces) and ``ours`` (queue full).

        ``kernel`` is absent until tcpdump has reported its counters (first SIGUSR1 answer, or
        its exit): an unknown count is not shown as 0. ``interface`` is added when a driver
        reports drops of its own.
        """
        result: dict[str, int] = {}
        if any("dropped by kernel" in s.counters for s in self.streams):
            result["kernel"] = sum(s.counters.get("dropped by kernel", 0) for s in self.streams)
        result["ours"] = self.queue.dropped
        interface = sum(s.counters.get("dropped by interface", 0) for s in self.streams)
        if interface:
            result["interface"] = interface
        return result

    def failures(self) -> list[str]:
        """One line per interface whose tcpdump ended without being asked to."""
        lines = []
        for stream in self.streams:
            if stream.done.is_set() and not stream.stopping:
                said = "; ".join(stream.stderr_lines) or stream.error or "it exited"
                lines.append(f"capture on {stream.interface} ended: {said}")
        return lines

    def problems(self) -> list[str]:
        """Oddities in the pcap streams and the ``--write`` file, for the summary."""
        lines = [p for s in self.streams for p in s.stats.problems]
        if self.writer is not None and self.writer.problem:
            lines.append(self.writer.problem)
        return lines


__all__ = ["DEFAULT_FILTER", "QUEUE_LIMIT", "FrameQueue", "LiveCapture", "capture_filter"]
