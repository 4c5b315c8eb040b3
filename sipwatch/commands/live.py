"""``sipwatch live IFACE``: the pcap pipeline fed from a live capture, annotated as it happens.

The only differences from ``sipwatch pcap`` are the source (:class:`LiveCapture`, tcpdump
underneath) and time. The correlator has no clock of its own (DESIGN §2 rule 1); on a quiet
line nothing would ever make "REFER got 202, no NOTIFY within 32 s" due. So when no frame has
arrived for :data:`IDLE` seconds, the main loop calls ``pipeline.tick(capture_now)`` with

    capture_now = timestamp of the last frame + monotonic time elapsed since it arrived

which advances capture time at the pace of the wall clock without reading the wall clock (it
cannot jump with NTP, and stays in the capture's own time base). No code sleeps in the core.

Stopping (Ctrl-C, SIGTERM, ``--duration``, ``--count``) is always orderly: tcpdump gets
SIGTERM, the rest of its pipe is read and analysed (not for ``--count``, which stops at the
Nth message), the ``--write`` file is closed complete, the summary is printed with the capture
drops (``kernel``: tcpdump's statistics; ``ours``: frames the analysis queue had no room for),
and the exit code is 0. A second Ctrl-C stops at once.
"""

from __future__ import annotations

import contextlib
import gc
import signal
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, replace
from types import FrameType
from typing import IO, Final, Protocol

from sipwatch.calls import Call, CallTracker
from sipwatch.capture.live import LiveCapture, capture_filter
from sipwatch.capture.types import Frame
from sipwatch.capture.writer import CaptureWriter
from sipwatch.errors import LiveCaptureError
from sipwatch.pipeline import Pipeline, PipelineOptions
from sipwatch.records import FindingRecord, MessageRecord, Record, Summary
from sipwatch.render.output import Renderer, silence
from sipwatch.render.safe import inert
from sipwatch.render.status import LiveOutput, LiveStatus, StatusDisplay, open_live_output

#: Seconds without a frame after which the correlator's timers are run.
IDLE: Final = 0.2
#: Frames analysed between flushes of the output within one batch.
FLUSH_FRAMES: Final = 64
#: Seconds between status snapshots (the displays throttle further).
STATUS_EVERY: Final = 0.1
#: Seconds between flushes of the ``--write`` file.
FLUSH_EVERY: Final = 1.0
#: Default size of one ring file in MB when ``--ring`` is given without ``--ring-size``.
DEFAULT_RING_MB: Final = 100.0
#: The interpreter's thread switch interval while capturing (seconds; Python's default: 0.005).
SWITCH_INTERVAL: Final = 0.0005
#: Seconds of history for the messages-per-second figure.
RATE_WINDOW: Final = 3.0


@dataclass(slots=True)
class LiveOptions:
    """What only the live front door has (the display filters are in ``PipelineOptions``)."""

    interfaces: list[str]
    #: The user's BPF expression (``--filter``); None: :data:`capture.live.DEFAULT_FILTER`.
    bpf: str | None = None
    write: str | None = None
    ring: int = 0
    ring_size_mb: float | None = None
    duration: float | None = None
    #: Stop after this many SIP messages shown (the display filters apply).
    count: int | None = None
    #: Seconds between status lines on stderr when there is no terminal status line; 0: never.
    status_every: float = 0.0
    #: The timeline's time column (``--time abs|rel|delta``).
    time_format: str = "abs"
    #: Follow calls (``--calls``): JSON lines get a ``call`` record as each call ends, the
    #: terminal gets the call list when the session stops.
    calls: bool = False


class RateMeter:
    """Messages per second over the last :data:`RATE_WINDOW` seconds."""

    def __init__(self) -> None:
        self._samples: deque[tuple[float, int]] = deque()

    def rate(self, now: float, total: int) -> float:
        samples = self._samples
        samples.append((now, total))
        while len(samples) > 2 and now - samples[0][0] > RATE_WINDOW:
            samples.popleft()
        then, before = samples[0]
        return (total - before) / (now - then) if now > then else 0.0


class TransferTracker:
    """REFERs seen whose transfer finding has not come yet ("transfers in progress").

    Keyed by (Call-ID, CSeq): a REFER relayed by a proxy or retransmitted is one transfer, and
    the transfer finding carries the same two fields. Only records shown are seen, so a display
    filter that hides REFERs hides them here too.
    """

    def __init__(self) -> None:
        self._open: set[tuple[str, int]] = set()

    def observe(self, record: Record) -> None:
        if isinstance(record, MessageRecord):
            msg = record.msg
            if msg.kind == "request" and msg.method == "REFER":
                self._open.add((msg.call_id, msg.cseq[0]))
        elif isinstance(record, FindingRecord) and record.kind == "transfer":
            cseq = record.data.get("cseq")
            self._open.discard((str(record.data.get("call_id", "")), int(cseq or 0)))

    def __len__(self) -> int:
        return len(self._open)


class StopRequest:
    """SIGINT/SIGTERM ask for an orderly stop; a second signal stops at once.

    Handlers can only be installed from the main thread; elsewhere (a library caller running
    sipwatch in a thread) the default behaviour is kept.
    """

    def __init__(self) -> None:
        self.requested = False
        self.reason = ""
        self._saved: dict[int, object] = {}

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True
        self.reason = signal.Signals(signum).name

    def __enter__(self) -> StopRequest:
        if threading.current_thread() is threading.main_thread():
            for signum in (signal.SIGINT, signal.SIGTERM):
                self._saved[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(self, *exc_info: object) -> None:
        for signum, handler in self._saved.items():
            signal.signal(signum, handler)  # type: ignore[arg-type]
        self._saved.clear()


def _make_writer(live: LiveOptions) -> CaptureWriter | None:
    if live.write is None:
        if live.ring or live.ring_size_mb:
            raise LiveCaptureError("--ring and --ring-size need --write FILE")
        return None
    if live.ring_size_mb and not live.ring:
        raise LiveCaptureError("--ring-size needs --ring N (the number of files)")
    size = live.ring_size_mb or (DEFAULT_RING_MB if live.ring else 0.0)
    return CaptureWriter(live.write, ring_files=live.ring, ring_size_mb=size)


class CaptureSource(Protocol):
    """What the session needs from its source: :class:`LiveCapture`, or ``sipwatch hep``'s
    :class:`~sipwatch.capture.hep_listen.HepReceiver`."""

    interfaces: list[str]

    def start(self) -> None: ...
    def get(self, timeout: float) -> list[Frame]: ...
    @property
    def running(self) -> bool: ...
    def stop(self) -> None: ...
    def close(self) -> None: ...
    def flush_file(self) -> None: ...
    def drops(self) -> dict[str, int]: ...
    def failures(self) -> list[str]: ...
    def problems(self) -> list[str]: ...
    def __enter__(self) -> object: ...
    def __exit__(self, *exc_info: object) -> None: ...


class LiveSession:
    """One run of ``sipwatch live``: the loop between the capture, the pipeline and the output.

    ``capture`` replaces the tcpdump capture by another source (``sipwatch hep``), whose name
    in the summary starts with ``kind``.
    """

    def __init__(
        self,
        live: LiveOptions,
        options: PipelineOptions,
        renderer: Renderer,
        status: StatusDisplay,
        flush: Callable[[], None] = lambda: None,
        call_list: Callable[[list[Call]], None] | None = None,
        tracker: CallTracker | None = None,
        capture: CaptureSource | None = None,
        kind: str = "live",
    ) -> None:
        self.live = live
        #: The calls followed (``--calls``) and where the calls still open at the stop go.
        if tracker is None and live.calls:
            tracker = CallTracker(ladder=False)
        self.calls = tracker
        self.call_list = call_list
        self._next_call_scan = 0.0
        self.flush = flush
        self.options = options
        self.renderer = renderer
        self.status = status
        if capture is None:
            bpf = capture_filter(live.bpf, sorted(options.filter.ports))
            capture = LiveCapture(
                live.interfaces, bpf, writer=_make_writer(live), native=options.engine == "native"
            )
        self.capture: CaptureSource = capture
        self.source = ",".join(self.capture.interfaces)
        # Live findings are said as soon as they are known, and revised if a later message
        # says otherwise (a final response after Timer B/F).
        live_options = replace(options, hold_timeouts=False)
        self.pipeline = Pipeline(live_options, source=f"{kind} {self.source}")
        self.transfers = TransferTracker()
        self.rate = RateMeter()
        self.shown = 0
        self.count_reached = False
        self.started = 0.0
        self._last_ts: float | None = None
        self._last_arrival = 0.0

    # -- output ---------------------------------------------------------------------------

    def emit(self, records: list[Record]) -> None:
        limit = self.live.count
        for record in records:
            if isinstance(record, MessageRecord):
                if self.count_reached:
                    continue
                self.shown += 1
                if limit is not None and self.shown >= limit:
                    self.count_reached = True
            self.transfers.observe(record)
            self.renderer.record(record)
            if self.calls is not None:
                self.calls.feed(record)

    def ended_calls(self, ts: float) -> None:
        """Write a ``call`` record for each call that ended (JSON lines only).

        The call table is scanned at most once per second of capture time: a record may come
        up to a second after its call's 32 s, and a busy link does not pay a scan per batch.
        """
        writer = getattr(self.renderer, "call", None)
        if self.calls is None or writer is None or ts < self._next_call_scan:
            return
        self._next_call_scan = ts + 1.0
        for call in self.calls.expire(ts):
            writer(call)

    def snapshot(self, now: float, stopping: bool = False) -> LiveStatus:
        summary = self.pipeline.summary
        return LiveStatus(
            source=self.source,
            elapsed=now - self.started,
            messages=summary.messages,
            rate=self.rate.rate(now, summary.messages),
            calls=summary.calls,
            transfers_in_progress=len(self.transfers),
            findings=sum(summary.findings_by_kind.values()),
            drops=self.capture.drops(),
            stopping=stopping,
        )

    # -- the loop -------------------------------------------------------------------------

    def feed(self, frames: list[Frame], now: float) -> None:
        """Analyse a batch; output is flushed every :data:`FLUSH_FRAMES` frames, so a large
        batch (after a burst) does not hold its first lines back until its last is done."""
        pipeline = self.pipeline
        for index, frame in enumerate(frames, 1):
            self.emit(pipeline.feed(frame))
            if self.count_reached:
                return
            if index % FLUSH_FRAMES == 0:
                self.flush()
        self._last_ts = frames[-1].ts
        self._last_arrival = now
        self.ended_calls(self._last_ts)

    def idle(self, now: float) -> None:
        """No frame for a while: let capture time advance so timeouts fire live."""
        if self._last_ts is not None:
            capture_now = self._last_ts + (now - self._last_arrival)
            self.emit(self.pipeline.tick(capture_now))
            self.ended_calls(capture_now)

    def run(self, stop: StopRequest) -> int:
        capture = self.capture
        capture.start()
        self.started = time.monotonic()
        deadline = self.started + self.live.duration if self.live.duration else None
        next_flush = self.started + FLUSH_EVERY
        next_status = self.started
        while not (stop.requested or self.count_reached):
            now = time.monotonic()
            if deadline is not None and now >= deadline:
                break
            if not capture.running:
                break
            wait = IDLE if deadline is None else max(0.0, min(IDLE, deadline - now))
            frames = capture.get(wait)
            now = time.monotonic()
            if frames:
                self.feed(frames, now)
            else:
                self.idle(now)
            self.flush()  # one write per batch: every line of it is out before the next wait
            if now >= next_flush:
                capture.flush_file()
                next_flush = now + FLUSH_EVERY
            if now >= next_status:  # at low rates the loop turns once per packet
                self.status.update(self.snapshot(now))
                next_status = now + STATUS_EVERY
        return self.finish()

    def account(self, summary: Summary) -> None:
        """Add what only this session's source knows to the summary (nothing for tcpdump)."""

    def finish(self) -> int:
        """Stop the capture, analyse what was still in flight, print the summary."""
        capture = self.capture
        failures = capture.failures()
        self.status.update(self.snapshot(time.monotonic(), stopping=True))
        capture.stop()
        if not self.count_reached:
            while frames := capture.get(0):
                self.feed(frames, time.monotonic())
                if self.count_reached:
                    break
        self.emit(self.pipeline.finish())
        summary = self.pipeline.summary
        summary.drops = capture.drops()
        summary.problems.extend(capture.problems())
        summary.problems.extend(failures)
        self.account(summary)
        self.status.close()
        if self.calls is not None:
            remaining = list(self.calls.calls.values())
            writer = getattr(self.renderer, "call", None)
            if writer is not None:
                for call in remaining:
                    writer(call)
            elif self.call_list is not None:
                self.flush()
                self.call_list(remaining)
            if self.calls.evicted:
                summary.evictions["calls"] += self.calls.evicted
        self.renderer.summary(summary)
        return 2 if failures else 0


def _calls_display(out: IO[str], color: bool | None, tracker: CallTracker) -> LiveOutput | None:
    """On a terminal, ``--calls`` shows the live call list instead of the timeline."""
    isatty = getattr(out, "isatty", None)
    if not (callable(isatty) and isatty()):
        return None
    from sipwatch.render.calls_live import CallsLiveDisplay, SummaryOnly
    from sipwatch.render.output import make_console

    console = make_console(out, color)
    display = CallsLiveDisplay(console, lambda: list(tracker.calls.values()))
    return LiveOutput(SummaryOnly(console), display, out.flush)


def _call_list(out: IO[str], color: bool | None) -> Callable[[list[Call]], None]:
    """Print the calls still held at the stop as ``sipwatch calls`` does (terminal)."""

    def show(calls: list[Call]) -> None:
        from sipwatch.calls.select import CallTotals, sort_calls
        from sipwatch.render.calls_table import show_calls
        from sipwatch.render.output import make_console

        chosen = sort_calls(calls, "time")
        show_calls(make_console(out, color), "calls", chosen, CallTotals.of(chosen))
        out.flush()

    return show


class SessionFactory(Protocol):
    """Builds the session ``run_live`` drives: :class:`LiveSession`, or another source's."""

    def __call__(
        self,
        live: LiveOptions,
        options: PipelineOptions,
        renderer: Renderer,
        status: StatusDisplay,
        flush: Callable[[], None],
        call_list: Callable[[list[Call]], None] | None = None,
        tracker: CallTracker | None = None,
    ) -> LiveSession: ...


def run_live(
    live: LiveOptions,
    options: PipelineOptions,
    fmt: str,
    out: IO[str],
    err: IO[str] | None = None,
    color: bool | None = None,
    make_session: SessionFactory = LiveSession,
) -> int:
    """Capture, annotate and render until stopped; return the exit code.

    Raises :class:`LiveCaptureError` (exit 2, one line) when the capture cannot start. Returns 2
    after the summary when tcpdump ended on its own (interface gone), 0 otherwise.
    """
    err = err if err is not None else sys.stderr
    tracker = CallTracker(ladder=False) if live.calls else None
    output = _calls_display(out, color, tracker) if fmt == "text" and tracker else None
    if output is None:
        output = open_live_output(fmt, out, err, color, live.status_every, live.time_format)
    status = output.status
    session = make_session(
        live, options, output.renderer, status, output.flush, _call_list(out, color), tracker
    )
    # Everything built so far (imports, the knowledge base) lives as long as the process: move
    # it out of the cyclic collector's view so each full collection, a pause in the live
    # stream, scans only the capture's own state (docs/live.md: GC pauses).
    gc.freeze()
    # The reader thread waits for the GIL after each pipe read while the main thread analyses;
    # with the default 5 ms switch interval that wait dominated the latency (median 17 ms at
    # 1,500 packets/s, 0.2 ms with 0.5 ms; docs/live.md).
    switch = sys.getswitchinterval()
    sys.setswitchinterval(SWITCH_INTERVAL)
    try:
        with session.capture, StopRequest() as stop:
            code = session.run(stop)
    except BrokenPipeError:
        # The reader of our output went away (``sipwatch live lo | head``): stop quietly.
        silence(out)
        return 0
    except BaseException:
        status.close()
        raise
    finally:
        sys.setswitchinterval(switch)
    if code:
        for line in session.capture.failures():
            err.write(f"sipwatch: error: {inert(line)}\n")
    with contextlib.suppress(BrokenPipeError):
        out.flush()
    return code
