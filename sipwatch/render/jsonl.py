"""JSON lines renderer: the machine-readable contract (DESIGN §3, docs/jsonl.md).

One JSON object per line, ``"schema": 1``, flushed per line so a live session can be piped into
a log system. ``ensure_ascii=True`` escapes every control and non-ASCII character, so wire text
cannot smuggle terminal escape sequences through ``cat``.
"""

from __future__ import annotations

import json
import math
from json.encoder import encode_basestring_ascii
from typing import IO, Any, Final

from sipwatch.calls.model import Call, Party
from sipwatch.records import (
    FindingRecord,
    MalformedRecord,
    MessageRecord,
    Record,
    StreamRecord,
    Summary,
)
from sipwatch.render.safe import inert_bytes
from sipwatch.sip.uri import Address, read_address

SCHEMA_VERSION = 1


def message_json(record: MessageRecord) -> dict[str, Any]:
    msg = record.msg
    is_request = msg.kind == "request"
    cseq_num, cseq_method = msg.cseq
    return {
        "schema": SCHEMA_VERSION,
        "type": "message",
        "ts": record.ts,
        "frame": record.frame,
        "src": record.src,
        "dst": record.dst,
        "transport": record.transport,
        "kind": msg.kind,
        "method": msg.method if is_request else cseq_method,
        "status": None if is_request else msg.status,
        "reason": None if is_request else msg.reason,
        "call_id": msg.call_id,
        "cseq": cseq_num,
        "from_tag": msg.from_tag,
        "to_tag": msg.to_tag,
        "branch": msg.branch,
        "retransmission": record.retransmission,
        "annotation": record.annotation,
        "request_uri": msg.uri if is_request else None,
        "from": _address_json(msg.from_address),
        "to": _address_json(msg.to_address),
        "user_agent": msg.user_agent,
        "server": msg.server,
        "contact": msg.contact_uri,
        "agent": record.agent,
        "icmp": record.icmp,
    }


def _address_json(address: Address | None) -> dict[str, Any] | None:
    if address is None:
        return None
    return {"uri": address.uri, "user": address.user, "display": address.display}


def malformed_json(record: MalformedRecord) -> dict[str, Any]:
    return {
        "schema": SCHEMA_VERSION,
        "type": "malformed",
        "ts": record.ts,
        "frame": record.frame,
        "src": record.src,
        "dst": record.dst,
        "transport": record.transport,
        "reason": record.reason,
        "excerpt": inert_bytes(record.raw, 120),
    }


def finding_json(record: FindingRecord) -> dict[str, Any]:
    return {"schema": SCHEMA_VERSION, "type": "finding", **record.data}


def stream_json(record: StreamRecord) -> dict[str, Any]:
    """One RTP stream and direction (docs/jsonl.md ``"type": "stream"``)."""
    s = record.stream
    return {
        "schema": SCHEMA_VERSION,
        "type": "stream",
        "call_id": s.call_id,
        "origin": s.origin,
        "src": s.src,
        "dst": s.dst,
        "ssrc": s.ssrc,
        "payload_type": s.payload_type,
        "codec": s.codec,
        "clock_rate": s.clock_rate,
        "packets": s.packets,
        "expected": s.expected,
        "lost": s.lost,
        "duplicates": s.duplicates,
        "sequence_errors": s.sequence_errors,
        "jitter_max_ms": s.jitter_max_ms,
        "jitter_mean_ms": s.jitter_mean_ms,
        "longest_gap_ms": s.longest_gap_ms,
        "mos_estimate": s.mos_estimate,
        "first_ts": s.first_ts,
        "last_ts": s.last_ts,
        "first_frame": s.first_frame,
        "last_frame": s.last_frame,
        "rtcp_lost": s.rtcp_lost,
        "rtcp_jitter_ms": s.rtcp_jitter_ms,
    }


def summary_json(summary: Summary) -> dict[str, Any]:
    return {
        "schema": SCHEMA_VERSION,
        "type": "summary",
        "source": summary.source,
        "frames": summary.frames,
        "messages": summary.messages,
        "shown": summary.shown,
        "requests": dict(sorted(summary.requests_by_method.items())),
        "responses": {str(k): v for k, v in sorted(summary.responses_by_status.items())},
        "calls": summary.calls,
        "findings": dict(sorted(summary.findings_by_kind.items())),
        "findings_by_severity": dict(sorted(summary.findings_by_severity.items())),
        "transfers": dict(sorted(summary.transfers_by_outcome.items())),
        "malformed": dict(sorted(summary.malformed.items())),
        "skipped": dict(sorted(summary.skipped.items())),
        "notes": dict(sorted(summary.notes.items())),
        "evictions": dict(sorted(summary.evictions.items())),
        "problems": list(summary.problems),
        "truncated": summary.truncated,
        "drops": dict(summary.drops),
    }


def record_json(record: Record) -> dict[str, Any]:
    if isinstance(record, MessageRecord):
        return message_json(record)
    if isinstance(record, MalformedRecord):
        return malformed_json(record)
    if isinstance(record, StreamRecord):
        return stream_json(record)
    return finding_json(record)


def dumps(obj: dict[str, Any]) -> str:
    return json.dumps(obj, ensure_ascii=True, separators=(",", ":"))


#: The encoder behind :func:`dumps`, built once (``json.dumps`` with options builds one per call).
_ENCODE = json.JSONEncoder(ensure_ascii=True, separators=(",", ":")).encode


def _text(value: object) -> str:
    """A JSON string; anything else (None, a test double) the way :func:`dumps` writes it."""
    if type(value) is str:
        return encode_basestring_ascii(value)
    if value is None:
        return "null"
    return _ENCODE(value)


def _number(value: object) -> str:
    """An int or finite float as ``json`` writes it (``int.__repr__``, ``float.__repr__``)."""
    if type(value) is int:
        return int.__repr__(value)
    if type(value) is float and math.isfinite(value):
        return float.__repr__(value)
    return _ENCODE(value)


def _flag(value: object) -> str:
    if value is True:
        return "true"
    if value is False:
        return "false"
    return _ENCODE(value)


def message_line(record: MessageRecord) -> str:
    """``dumps(message_json(record))``, built directly: one line per SIP message is the hot path
    of ``--format jsonl``.

    Strings go through the C string encoder ``json`` itself uses, numbers through the same
    ``repr`` ``json`` uses, and anything else (an annotation object, None, an unusual type)
    through the same encoder as :func:`dumps`, so the bytes are identical
    (tests/test_render_jsonl.py compares both on every bundled capture).
    """
    msg = record.msg
    kind = msg.kind
    cseq_num, cseq_method = msg.cseq
    if kind == "request":
        start = _REQUEST_START
        middle = f'{_text(msg.method)},"status":null,"reason":null,"call_id":'
        request_uri = _text(msg.uri)
    elif kind == "response":
        request_uri = "null"
        start = _RESPONSE_START
        middle = (
            f'{_text(cseq_method)},"status":{_number(msg.status)},'
            f'"reason":{_text(msg.reason)},"call_id":'
        )
    else:
        return dumps(message_json(record))
    annotation = record.annotation
    return (
        f'{{"schema":{SCHEMA_VERSION},"type":"message","ts":{_number(record.ts)},'
        f'"frame":{_number(record.frame)},"src":{_text(record.src)},"dst":{_text(record.dst)},'
        f'"transport":{_text(record.transport)},{start}{middle}{_text(msg.call_id)},'
        f'"cseq":{_number(cseq_num)},"from_tag":{_text(msg.from_tag)},'
        f'"to_tag":{_text(msg.to_tag)},"branch":{_text(msg.branch)},"retransmission":'
        f"{_flag(record.retransmission)},"
        f'"annotation":{"null" if annotation is None else _ENCODE(annotation)},'
        f'"request_uri":{request_uri},"from":{_address_line(msg.header("from"))},'
        f'"to":{_address_line(msg.header("to"))},"user_agent":{_text(msg.user_agent)},'
        f'"server":{_text(msg.server)},"contact":{_text(msg.contact_uri)},'
        f'"agent":{_text(record.agent)},'
        f'"icmp":{"null" if record.icmp is None else _ENCODE(record.icmp)}}}'
    )


def _address_line(value: str | None) -> str:
    """The ``from``/``to`` object of a header value (as :func:`message_json` builds it).

    The messages of a call repeat their From and To text, so each is read and encoded once.
    """
    if value is None:
        return "null"
    found = _ADDRESS_LINES.get(value)
    if found is None:
        uri, user, display = read_address(value)
        found = f'{{"uri":{_text(uri)},"user":{_text(user)},"display":{_text(display)}}}'
        if len(_ADDRESS_LINES) >= _MEMO_MAX:
            _ADDRESS_LINES.clear()
        _ADDRESS_LINES[value] = found
    return found


#: From/To values seen recently -> their JSON text; emptied when full, so memory stays bounded.
_ADDRESS_LINES: dict[str, str] = {}
_MEMO_MAX: Final = 8192


_REQUEST_START: Final = '"kind":"request","method":'
_RESPONSE_START: Final = '"kind":"response","method":'


class JsonlRenderer:
    """Writes each record as one line, flushing so consumers see it at once."""

    def __init__(self, out: IO[str], flush: bool = True) -> None:
        self._out = out
        self._flush = flush

    def record(self, record: Record) -> None:
        if type(record) is MessageRecord:
            self._out.write(message_line(record) + "\n")
        else:
            self._out.write(dumps(record_json(record)) + "\n")
        if self._flush:
            self._out.flush()

    def summary(self, summary: Summary) -> None:
        self._out.write(dumps(summary_json(summary)) + "\n")
        self._out.flush()

    def call(self, call: Call) -> None:
        """A ``call`` record (``sipwatch live --calls``: as each call ends)."""
        self._out.write(dumps(call_json(call)) + "\n")
        if self._flush:
            self._out.flush()


def call_json(call: Call) -> dict[str, Any]:
    """The ``call`` record (docs/jsonl.md): one per call, at the end of the capture."""
    final_by = None
    if call.final_by:
        final_by = {"address": call.final_by, "agent": call.final_agent}
    ended = None
    if call.ended_with:
        ended = {"method": call.ended_with, "by": call.ended_by, "ts": call.end_ts}
    return {
        "schema": SCHEMA_VERSION,
        "type": "call",
        "call_ids": call.call_ids,
        "start_ts": call.start_ts,
        "from": _party(call.from_party),
        "to": _party(call.to_party),
        "method": call.method,
        "state": call.state,
        "final_status": call.final_status,
        "final_reason": call.final_reason if call.final_status is not None else None,
        "final_by": final_by,
        "pdd_ms": call.pdd_ms,
        "answer_ms": call.answer_ms,
        "duration_s": call.duration_s,
        "ended": ended,
        "elements": [
            {"address": e.address, "role": e.role, "agent": e.agent} for e in call.elements.values()
        ],
        "findings": [
            {
                "kind": f.kind,
                "severity": f.severity,
                "frames": f.frames,
                "text": f.text,
                "remedy": f.remedy,
            }
            for f in call.findings
        ],
        "severity": call.severity,
        "related": [
            {
                "call_id": r.call_id,
                "relation": r.relation,
                "evidence": r.evidence,
                "guess": r.guess,
            }
            for r in call.related
        ],
        "frames": call.frames,
        "dropped_messages": call.dropped_messages,
    }


def _party(party: Party) -> dict[str, str]:
    return {"user": party.user, "host": party.host, "display": party.display, "uri": party.uri}
