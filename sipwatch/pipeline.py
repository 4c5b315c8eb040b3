"""The one pipeline behind ``pcap``, ``live`` and ``check``: frames in, records out.

source → decode (link, IP, fragments, TCP/SCTP/WebSocket) → parse → correlate → annotate.
It works frame by frame so a live session and a file behave the same, and it is the one place
where parse errors become data (:class:`MalformedRecord`). Nothing here prints: callers hand the
records to a renderer.
"""

from __future__ import annotations

import gc
import os
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Final

from sipwatch.capture.decode import Decoder
from sipwatch.capture.sctp import SctpDecoder
from sipwatch.capture.tcp import TcpReassembler
from sipwatch.capture.tls_keylog import TlsPlaintext
from sipwatch.capture.types import Endpoint, Frame, Segment, format_endpoint
from sipwatch.correlation import Correlation
from sipwatch.engine import Engine
from sipwatch.filters import MessageFilter
from sipwatch.media.thresholds import MediaThresholds
from sipwatch.media.tracker import CALL_METHODS, MediaTracker
from sipwatch.media_records import MediaRecords
from sipwatch.records import FindingRecord, MalformedRecord, MessageRecord, Record, Summary
from sipwatch.sip.message import Malformed, ParseResult
from sipwatch.sip.parser import parse_message
from sipwatch.tls_findings import tls_failure_data

if TYPE_CHECKING:
    from sipwatch.capture.native import NativeDecoder

#: Capture-stage counters (kept in ``notes``) that mean a full table dropped state, and the name
#: each is reported under in the summary's ``evictions``, beside the correlator's tables, so one
#: place says what a cap cost (docs/limits.md).
CAPTURE_EVICTIONS: Final[dict[str, str]] = {
    "tcp-stream-evicted": "tcp-streams",
    "tcp-stream-evicted-bytes": "tcp-streams",
    "tcp-out-of-order-overflow": "tcp-out-of-order",
    "sctp-direction-evicted": "sctp-associations",
    "sctp-reassembly-overflow": "sctp-fragments",
    "sctp-fragment-evicted-bytes": "sctp-fragments",
    "ip-fragment-evicted-count": "ip-fragments",
    "ip-fragment-evicted-bytes": "ip-fragments",
    "ip-fragment-too-many": "ip-fragments",
}

#: How often (in capture seconds) the timers of the decoder and correlator are run.
EXPIRE_EVERY = 1.0
_ENDPOINTS_MAX = 65536
_RECENT_CALLS_MAX = 4096
#: Allocations between two young-generation collections during a run (CPython's default: 700).
GC_YOUNG_THRESHOLD = int(os.environ.get("SIPWATCH_GC_YOUNG", "50000"))


@contextmanager
def collector_tuned() -> Iterator[None]:
    """Run the cyclic garbage collector less often while a capture is processed.

    Every message allocates a few dozen short-lived containers, and the correlator keeps tens of
    thousands of exchanges alive for 64*T1 of capture time; with CPython's default thresholds
    the collector then ran every ~700 allocations and kept re-scanning those long-lived tables,
    about a quarter of the run time. A larger young generation makes that rare; objects alive
    before the run (imports, the knowledge base) are moved out of the collector's sight with
    ``gc.freeze``. Both are undone afterwards. Memory is unaffected: almost everything is freed
    by reference counting, and the correlator breaks its own cycles when it closes an exchange.
    Measured numbers are in docs/performance.md; ``SIPWATCH_GC_YOUNG`` overrides the threshold
    (0 leaves the collector as it is).
    """
    if GC_YOUNG_THRESHOLD <= 0 or not gc.isenabled():
        yield
        return
    old = gc.get_threshold()
    gc.freeze()
    gc.set_threshold(GC_YOUNG_THRESHOLD, old[1], old[2])
    try:
        yield
    finally:
        gc.set_threshold(*old)
        gc.unfreeze()


@dataclass(slots=True)
class PipelineOptions:
    """What the front doors (pcap, live, check) can tune."""

    lang: str = "en"
    explain: str = "problems"  # problems | all | none
    notify_timeout: float = 32.0
    transaction_timeout: float = 32.0
    filter: MessageFilter = field(default_factory=MessageFilter)
    correlate: bool = True
    #: ``--tls-keylog``: decrypt SIP over TLS in capture files with this key log (via tshark).
    tls_keylog: str | None = None
    #: Which engine reads and decodes (sipwatch.engine); the reference is the default here.
    engine: Engine = "python"
    #: Hold a timed-out exchange's finding until the exchange closes, so a late final response
    #: replaces it (a whole file); live sets False: findings at once, revised when needed.
    hold_timeouts: bool = True
    #: SDP and RTP/RTCP analysis (``type: "stream"`` records and media findings).
    media: bool = True
    #: Report RTP streams no SDP explains, found by RTP v2 headers alone (labelled "guess").
    rtp_guess: bool = True
    media_thresholds: MediaThresholds = field(default_factory=MediaThresholds)


class Pipeline:
    """Stateful: feed frames in capture order, then call :meth:`finish` once."""

    def __init__(
        self,
        options: PipelineOptions | None = None,
        source: str = "",
        tls: TlsPlaintext | None = None,
    ) -> None:
        """``tls``: the decrypted TLS of the capture being fed (``--tls-keylog``), merged in
        at the frames that completed each record."""
        self.options = options or PipelineOptions()
        self._tls = tls
        self.summary = Summary(source=source)
        # One table of skip reasons and one of notes for every stage, read by the summary.
        skipped, notes = self.summary.skipped, self.summary.notes
        tcp, sctp = TcpReassembler(skipped, notes), SctpDecoder(skipped, notes)
        self._tls_watch = tcp.tls_watch
        decoder = Decoder(tcp, sctp, skipped=skipped, notes=notes)
        self._parse: Callable[[bytes], ParseResult] = parse_message
        self._decoder: Decoder | NativeDecoder = decoder
        if self.options.engine == "native":
            from sipwatch.capture.native import NativeDecoder
            from sipwatch.native_parse import native_parser

            self._decoder = NativeDecoder(decoder)
            self._parse = native_parser()
        self._correlation = (
            Correlation(self.options, self.summary) if self.options.correlate else None
        )
        self._media: MediaRecords | None = None
        if self.options.media:
            tracker = MediaTracker(self.options.media_thresholds, guess=self.options.rtp_guess)
            self._media = MediaRecords(tracker, self.summary, self.options.filter)
            # The Python decoder hands non-SIP UDP to the tracker (the native core does not yet).
            decoder.media = tracker.packet
        self._next_expire: float | None = None
        self._last_ts = 0.0
        #: Endpoint -> (the one shared copy of it, its "ip:port" text). A capture has few
        #: distinct endpoints (bounded anyway), and every segment brings fresh tuples of them:
        #: the correlator keeps the shared copy, so tens of thousands of open transactions hold
        #: a pointer each rather than their own tuple and address bytes (about 10 % of its
        #: memory).
        self._endpoints: dict[Endpoint, tuple[Endpoint, str]] = {}
        self._recent_calls: set[str] = set()

    # -- feeding ---------------------------------------------------------------------------

    def run(self, frames: Iterable[Frame]) -> Iterator[Record]:
        """Feed every frame, then finish: the whole run as one stream of records."""
        with collector_tuned():
            for frame in frames:
                yield from self.feed(frame)
            yield from self.finish()

    def feed(self, frame: Frame) -> list[Record]:
        summary = self.summary
        summary.frames += 1
        ts = frame.ts
        records: list[Record] = []
        if self._next_expire is None:
            self._next_expire = ts + EXPIRE_EVERY
        elif ts >= self._next_expire:
            records.extend(self.tick(ts))
        self._last_ts = max(self._last_ts, ts)
        if self._tls is not None:
            records += self._feed_tls(frame)
        else:
            for segment in self._decoder.feed(frame):
                records.extend(self._segment(segment))
        if self._tls_watch.failures:
            records += self._tls_failures()
        return records

    def _tls_failures(self) -> list[Record]:
        """TLS handshakes that failed in the open (no keys needed) as ``tls-failure``."""
        summary = self.summary
        records: list[Record] = []
        for failure in self._tls_watch.take():
            data = tls_failure_data(failure)
            summary.findings_by_kind["tls-failure"] += 1
            summary.findings_by_severity[data["severity"]] += 1
            if self.options.filter.accepts_finding(data):
                records.append(FindingRecord(data))
        return records

    def _feed_tls(self, frame: Frame) -> list[Record]:
        """A frame of a capture read with a key log: what the decoder finds, then the SIP
        tshark decrypted in it. The TCP stage counted a TLS packet as encrypted; one whose
        records were decrypted is counted as ``tls-decrypted`` instead."""
        tls = self._tls
        assert tls is not None
        skipped = self.summary.skipped
        before = skipped["tls-encrypted"]
        segments = self._decoder.feed(frame)
        if not tls.started and skipped["tls-encrypted"] > before:
            tls.start()
        decrypted = tls.feed(frame.number, frame.ts) if tls.started else None
        if decrypted is not None:
            if skipped["tls-encrypted"] > before:
                skipped["tls-encrypted"] -= 1
                self.summary.notes["tls-decrypted"] += 1
            segments += decrypted
        if not skipped["tls-encrypted"]:
            del skipped["tls-encrypted"]
        records: list[Record] = []
        for segment in segments:
            records.extend(self._segment(segment))
        return records

    def tick(self, ts: float) -> list[Record]:
        """Run the timers up to capture time ``ts`` (live mode calls this when idle)."""
        self._next_expire = ts + EXPIRE_EVERY
        self._decoder.expire(ts)
        records = self._tls_failures() if self._tls_watch.failures else []
        if self._correlation is not None:
            records += self._correlation.expire(ts)
        if self._media is not None:
            records.extend(self._media.convert(self._media.tracker.expire(ts)))
        return records

    def finish(self) -> list[Record]:
        records: list[Record] = []
        for segment in self._decoder.flush():
            records.extend(self._segment(segment))
        records += self._tls_failures()
        if self._correlation is not None:
            records.extend(self._correlation.finish(self._last_ts))
        if self._media is not None:
            records.extend(self._media.convert(self._media.tracker.finish(self._last_ts)))
            self._media.count()
        if self._tls is not None:
            self._tls.close()
            self.summary.notes.update(self._tls.notes)
            self.summary.problems.extend(self._tls.problems)
        notes, evictions = self.summary.notes, self.summary.evictions
        for note, table in CAPTURE_EVICTIONS.items():
            if notes[note]:
                evictions[table] += notes[note]
        return records

    # -- one transport payload ---------------------------------------------------------------

    def _endpoint(self, endpoint: Endpoint) -> tuple[Endpoint, str]:
        if len(self._endpoints) >= _ENDPOINTS_MAX:
            self._endpoints.clear()
        known = self._endpoints[endpoint] = (endpoint, format_endpoint(endpoint))
        return known

    def _segment(self, segment: Segment) -> list[Record]:
        summary = self.summary
        endpoints = self._endpoints
        known = endpoints.get(segment.src)
        if known is None:
            known = self._endpoint(segment.src)
        src_endpoint, src = known
        known = endpoints.get(segment.dst)
        if known is None:
            known = self._endpoint(segment.dst)
        dst_endpoint, dst = known
        parsed = self._parse(segment.data)
        if summary.first_ts is None:
            summary.first_ts = segment.ts
        summary.last_ts = segment.ts
        if isinstance(parsed, Malformed):
            summary.malformed[parsed.reason.split(":", 1)[0]] += 1
            bad = MalformedRecord(
                segment.ts, segment.frame, src, dst, segment.transport, parsed.reason, parsed.raw
            )
            return [bad]
        summary.messages += 1
        if parsed.kind == "request":
            summary.requests_by_method[parsed.method] += 1
        else:
            summary.responses_by_status[parsed.status] += 1
        call_id = parsed.call_id
        if call_id and call_id not in self._recent_calls:
            # Adding is idempotent; the small recent set only saves repeating it for the
            # other messages of the same call.
            if len(self._recent_calls) >= _RECENT_CALLS_MAX:
                self._recent_calls.clear()
            self._recent_calls.add(call_id)
            summary.call_ids.add(call_id)
        record = MessageRecord(segment.ts, segment.frame, src, dst, segment.transport, parsed)
        if segment.agent is not None:
            record.agent = segment.agent
        icmp = segment.icmp
        if icmp is not None:
            if self._correlation is not None:
                return self._correlation.quoted(record, src_endpoint, dst_endpoint, icmp)
            record.icmp = {"type": icmp.type, "code": icmp.code, "from": icmp.reporter}
        # Quoted SIP (inside an ICMP error) is evidence about a request, not media signalling.
        media = self._media if icmp is None else None
        if self._correlation is not None:
            # The correlation places the record among the findings it completes or follows.
            records = self._correlation.message(record, src_endpoint, dst_endpoint)
        elif self.options.filter.accepts(record):
            summary.shown += 1
            records = [record]
        else:
            records = []
        if media is not None and (parsed.body or parsed.method in CALL_METHODS):
            found = media.tracker.sip(segment.ts, segment.frame, src_endpoint[0], parsed)
            if found:
                records.extend(media.convert(found))
        return records
