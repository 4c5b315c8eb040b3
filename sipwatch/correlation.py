"""Glue between the pipeline and the sans-I/O correlator and annotator.

The correlator returns events (``MessageInfo`` for each message, ``Finding`` for each exchange
worth attention); this module applies them to the pipeline's records: it marks retransmissions,
attaches the annotation from the knowledge base to each message record, turns findings into
finding records and counts them in the summary. Keeping this apart leaves ``pipeline.py`` about
packets and ``correlate/`` free of records and renderers.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from sipwatch.annotate.annotator import Annotator
from sipwatch.capture.types import Endpoint, IcmpError
from sipwatch.correlate.correlator import Correlator
from sipwatch.correlate.events import Finding, MessageInfo
from sipwatch.knowledge import load_knowledge
from sipwatch.records import FindingRecord, MessageRecord, Record, Summary

if TYPE_CHECKING:
    from sipwatch.pipeline import PipelineOptions

#: Hidden requests kept for their responses; the oldest goes first (bounded, docs/limits.md).
_HIDDEN_REQUESTS_MAX = 4096
#: Findings remembered for revision at most (a revision comes within 64*T1 of its finding).
_REVISABLE_MAX = 4096


def _transaction_key(record: MessageRecord) -> tuple[str, int, str, str]:
    """A request and its responses on one hop share Call-ID, CSeq and top Via branch
    (RFC 3261 §17.1.3: the branch and CSeq method match a response to its client transaction).
    An ACK or CANCEL has its own CSeq method, so it is never taken for the INVITE."""
    msg = record.msg
    number, method = msg.cseq
    return msg.call_id, number, method.upper(), msg.branch


class Correlation:
    """Feeds messages to the correlator and turns its events into records."""

    def __init__(self, options: PipelineOptions, summary: Summary) -> None:
        self._options = options
        self._summary = summary
        kb = load_knowledge()
        self._correlator = Correlator(
            notify_timeout=options.notify_timeout,
            transaction_timeout=options.transaction_timeout,
            registered_option_tags=kb.registered_option_tags,
            hold_timeouts=options.hold_timeouts,
        )
        self._annotator = Annotator(kb, lang=options.lang, explain=options.explain)
        #: The filter is built once per run; when it is empty (the usual case) the per-message
        #: path skips asking it (``MessageFilter.active`` is a property over five fields).
        self._filtering = options.filter.active
        #: Requests ``--status`` hid, by transaction and hop, until a shown response answers.
        self._hidden_requests: dict[tuple[str, int, str, str], MessageRecord] = {}
        #: id -> (kind, severity) of findings a later one may revise (live only; bounded).
        self._revisable: dict[int, tuple[str, str]] = {}

    def message(self, record: MessageRecord, src: Endpoint, dst: Endpoint) -> list[Record]:
        """Events for one message, in order: findings due before it, the message, findings after.

        The message record itself is included only if the display filter accepts it.
        """
        events = self._correlator.feed(
            record.ts, record.frame, src, dst, record.transport, record.msg
        )
        if len(events) == 1 and type(events[0]) is MessageInfo:
            # The common case (no finding due or completed), without the general loop.
            self._apply(record, events[0])
            if not self._filtering:
                self._summary.shown += 1
                return [record]
            return self._filtered(record)
        records: list[Record] = []
        placed = False
        for event in events:
            if isinstance(event, MessageInfo):
                self._apply(record, event)
                placed = True
                records.extend(self._filtered(record))
            elif isinstance(event, Finding):
                records.extend(self._finding(event))
        if not placed:
            records[:0] = self._filtered(record)
        return records

    def _filtered(self, record: MessageRecord) -> list[Record]:
        """The record if the display filter accepts it, after the request it answers when
        that request was hidden by ``--status`` and requests are wanted as context."""
        message_filter = self._options.filter
        if message_filter.accepts(record):
            self._summary.shown += 1
            if not message_filter.wants_requests or record.msg.kind != "response":
                return [record]
            request = self._hidden_requests.pop(_transaction_key(record), None)
            return [record] if request is None else [request, record]
        if message_filter.wants_requests and message_filter.accepts_as_context(record):
            hidden = self._hidden_requests
            if len(hidden) >= _HIDDEN_REQUESTS_MAX:
                del hidden[next(iter(hidden))]  # the oldest: its responses are long past
            record.context = True
            hidden[_transaction_key(record)] = record
        return []

    def quoted(
        self, record: MessageRecord, src: Endpoint, dst: Endpoint, icmp: IcmpError
    ) -> list[Record]:
        """A message quoted in an ICMP error: evidence for its exchange, never a retransmission
        (see :mod:`sipwatch.correlate.icmp`)."""
        record.icmp = {"type": icmp.type, "code": icmp.code, "from": icmp.reporter}
        events = self._correlator.quoted(
            record.ts,
            record.frame,
            src,
            dst,
            record.transport,
            record.msg,
            icmp_type=icmp.type,
            icmp_code=icmp.code,
            reporter=icmp.reporter,
            version=icmp.version,
        )
        records: list[Record] = []
        for event in events:
            if isinstance(event, MessageInfo):
                self._apply(record, event)
                records.extend(self._filtered(record))
            elif isinstance(event, Finding):
                records.extend(self._finding(event))
        return records

    def expire(self, ts: float) -> list[Record]:
        return self._findings(self._correlator.expire(ts))

    def finish(self, ts: float) -> list[Record]:
        records = self._findings(self._correlator.finish(ts))
        stats = getattr(self._correlator, "stats", None)
        evictions = getattr(stats, "evictions", None)
        if evictions:
            self._summary.evictions.update(evictions)
        return records

    # -- helpers ---------------------------------------------------------------------------

    def _revise(self, finding: Finding) -> None:
        """The summary counts only the latest verdict: a finding that ``revises`` an earlier
        one (live: a final response after the timeout) takes the earlier one's place."""
        ident = finding.get("id")
        if isinstance(ident, int):
            if len(self._revisable) >= _REVISABLE_MAX:
                self._revisable.pop(next(iter(self._revisable)))
            self._revisable[ident] = (finding.kind, finding.severity)
        revised = finding.get("revises")
        if isinstance(revised, int) and revised in self._revisable:
            kind, severity = self._revisable.pop(revised)
            summary = self._summary
            for counter, key in (
                (summary.findings_by_kind, kind),
                (summary.findings_by_severity, severity),
            ):
                counter[key] -= 1
                if counter[key] <= 0:
                    del counter[key]

    def _apply(self, record: MessageRecord, info: MessageInfo) -> None:
        record.retransmission = info.retransmission
        annotation = self._annotator.annotate_message(record.msg, info)
        if annotation is not None:
            record.annotation = annotation.to_json()
        # An annotation's diagnosis already carries the notes; otherwise they stand alone.
        if info.notes:
            annotated = annotation is not None
            record.notes.extend(
                note.text for note in info.notes if self._annotator.shows_note(note, annotated)
            )

    def _findings(self, events: Sequence[object]) -> list[Record]:
        records: list[Record] = []
        for event in events:
            if isinstance(event, Finding):
                records.extend(self._finding(event))
        return records

    def _finding(self, finding: Finding) -> list[Record]:
        finding = self._annotator.annotate_finding(finding)
        summary = self._summary
        summary.findings_by_kind[finding.kind] += 1
        summary.findings_by_severity[finding.severity] += 1
        self._revise(finding)
        if finding.kind == "transfer" and finding.outcome:
            summary.transfers_by_outcome[finding.outcome] += 1
        data = finding.to_json()
        data.pop("schema", None)
        data.pop("type", None)
        if not self._options.filter.accepts_finding(data):
            return []
        return [FindingRecord(data)]
