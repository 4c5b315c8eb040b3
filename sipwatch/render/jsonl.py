"""JSON lines renderer: the machine-readable contract (DESIGN §3, docs/jsonl.md).

One JSON object per line, ``"schema": 1``, flushed per line so a live session can be piped into
a log system. ``ensure_ascii=True`` escapes every control and non-ASCII character, so wire text
cannot smuggle terminal escape sequences through ``cat``.
"""

from __future__ import annotations

import json
from typing import IO, Any

from sipwatch.records import FindingRecord, MalformedRecord, MessageRecord, Record, Summary
from sipwatch.render.safe import inert_bytes

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
    }


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
    return finding_json(record)


def dumps(obj: dict[str, Any]) -> str:
    return json.dumps(obj, ensure_ascii=True, separators=(",", ":"))


class JsonlRenderer:
    """Writes each record as one line, flushing so consumers see it at once."""

    def __init__(self, out: IO[str], flush: bool = True) -> None:
        self._out = out
        self._flush = flush

    def record(self, record: Record) -> None:
        self._out.write(dumps(record_json(record)) + "\n")
        if self._flush:
            self._out.flush()

    def summary(self, summary: Summary) -> None:
        self._out.write(dumps(summary_json(summary)) + "\n")
        self._out.flush()
