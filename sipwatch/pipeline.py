"""The one pipeline behind ``pcap``, ``live`` and ``check``: frames in, records out.

source → decode (link, IP, fragments, TCP/SCTP/WebSocket) → parse → correlate → annotate.
It works frame by frame so a live session and a file behave the same, and it is the one place
where parse errors become data (:class:`MalformedRecord`). Nothing here prints: callers hand the
records to a renderer.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from sipwatch.capture.decode import Decoder
from sipwatch.capture.sctp import SctpDecoder
from sipwatch.capture.tcp import TcpReassembler
from sipwatch.capture.types import Frame, Segment, format_endpoint
from sipwatch.correlation import Correlation
from sipwatch.filters import MessageFilter
from sipwatch.records import MalformedRecord, MessageRecord, Record, Summary
from sipwatch.sip.message import Malformed
from sipwatch.sip.parser import parse_message

#: How often (in capture seconds) the timers of the decoder and correlator are run.
EXPIRE_EVERY = 1.0


@dataclass(slots=True)
class PipelineOptions:
    """What the front doors (pcap, live, check) can tune."""

    lang: str = "en"
    explain: str = "problems"  # problems | all | none
    notify_timeout: float = 32.0
    transaction_timeout: float = 32.0
    filter: MessageFilter = field(default_factory=MessageFilter)
    correlate: bool = True


class Pipeline:
    """Stateful: feed frames in capture order, then call :meth:`finish` once."""

    def __init__(self, options: PipelineOptions | None = None, source: str = "") -> None:
        self.options = options or PipelineOptions()
        self.summary = Summary(source=source)
        # One table of skip reasons and one of notes for every stage, read by the summary.
        skipped, notes = self.summary.skipped, self.summary.notes
        tcp, sctp = TcpReassembler(skipped, notes), SctpDecoder(skipped, notes)
        self._decoder = Decoder(tcp, sctp, skipped=skipped, notes=notes)
        self._correlation = (
            Correlation(self.options, self.summary) if self.options.correlate else None
        )
        self._next_expire: float | None = None
        self._last_ts = 0.0

    # -- feeding ---------------------------------------------------------------------------

    def run(self, frames: Iterable[Frame]) -> Iterator[Record]:
        """Feed every frame, then finish: the whole run as one stream of records."""
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
        for segment in self._decoder.feed(frame):
            records.extend(self._segment(segment))
        return records

    def tick(self, ts: float) -> list[Record]:
        """Run the timers up to capture time ``ts`` (live mode calls this when idle)."""
        self._next_expire = ts + EXPIRE_EVERY
        self._decoder.expire(ts)
        if self._correlation is None:
            return []
        return self._correlation.expire(ts)

    def finish(self) -> list[Record]:
        records: list[Record] = []
        for segment in self._decoder.flush():
            records.extend(self._segment(segment))
        if self._correlation is not None:
            records.extend(self._correlation.finish(self._last_ts))
        return records

    # -- one transport payload ---------------------------------------------------------------

    def _segment(self, segment: Segment) -> list[Record]:
        summary = self.summary
        src = format_endpoint(segment.src)
        dst = format_endpoint(segment.dst)
        parsed = parse_message(segment.data)
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
        if call_id:
            summary.call_ids.add(call_id)
        record = MessageRecord(segment.ts, segment.frame, src, dst, segment.transport, parsed)
        if self._correlation is not None:
            # The correlation places the record among the findings it completes or follows.
            return self._correlation.message(record, segment)
        if self.options.filter.accepts(record):
            summary.shown += 1
            return [record]
        return []
