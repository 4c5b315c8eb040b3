"""What the pipeline hands to renderers: one record per SIP message, malformed message,
finding, and a closing summary.

These are the in-memory form of the JSON lines contract (DESIGN §3); ``render/jsonl.py`` turns
each into one line. They live outside ``pipeline`` so renderers need not import the capture layer.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from sipwatch.bounded import CappedCounter, DistinctCounter
from sipwatch.media.model import StreamReport
from sipwatch.sip.message import SipMessage


@dataclass(slots=True)
class MessageRecord:
    """One SIP message as seen on the wire (every copy: retransmissions and hops too)."""

    ts: float
    frame: int
    src: str
    dst: str
    transport: str
    msg: SipMessage
    retransmission: bool = False
    #: The ``annotation`` object of the contract (code, title, class, summary, remedy, diagnosis).
    annotation: dict[str, Any] | None = None
    #: Extra lines of diagnosis for the terminal (findings completed by this message).
    notes: list[str] = field(default_factory=list)
    #: Shown only as the request a shown response answers (``--status``), not matched itself.
    context: bool = False
    #: The HEP capture agent that reported this message (id or node name); None when captured.
    agent: str | None = None
    #: Set when the message is a copy quoted in an ICMP error: the ``icmp`` object of the
    #: contract, ``{"type": int, "code": int, "from": "ip"}``.
    icmp: dict[str, Any] | None = None


@dataclass(slots=True)
class MalformedRecord:
    """Bytes that looked like SIP but did not parse."""

    ts: float
    frame: int
    src: str
    dst: str
    transport: str
    reason: str
    raw: bytes


@dataclass(slots=True)
class FindingRecord:
    """A correlated exchange worth a human's attention (the ``finding`` of the contract)."""

    data: dict[str, Any]

    @property
    def kind(self) -> str:
        return str(self.data.get("kind", ""))

    @property
    def severity(self) -> str:
        return str(self.data.get("severity", "info"))


#: Streams the summary keeps for the terminal's media section.
MAX_SUMMARY_STREAMS = 256


@dataclass(slots=True)
class Summary:
    """Counts for the closing summary of a run."""

    source: str = ""
    messages: int = 0
    shown: int = 0
    #: Keys come from the wire, so these three are bounded (sipwatch.bounded, docs/limits.md):
    #: at most 256 method names and malformed reasons (more fold into "(other)"), and Call-IDs
    #: kept as 64-bit hashes only.
    requests_by_method: Counter[str] = field(default_factory=CappedCounter)
    responses_by_status: Counter[int] = field(default_factory=Counter)
    call_ids: DistinctCounter = field(default_factory=DistinctCounter)
    findings_by_kind: Counter[str] = field(default_factory=Counter)
    findings_by_severity: Counter[str] = field(default_factory=Counter)
    transfers_by_outcome: Counter[str] = field(default_factory=Counter)
    malformed: Counter[str] = field(default_factory=CappedCounter)
    skipped: Counter[str] = field(default_factory=Counter)
    notes: Counter[str] = field(default_factory=Counter)
    evictions: Counter[str] = field(default_factory=Counter)
    problems: list[str] = field(default_factory=list)
    frames: int = 0
    truncated: bool = False
    drops: dict[str, int] = field(default_factory=dict)
    first_ts: float | None = None
    last_ts: float | None = None
    #: Closed RTP streams, for the terminal's media section (the first ``MAX_SUMMARY_STREAMS``;
    #: the JSON lines have every one as a ``stream`` record).
    streams: list[StreamReport] = field(default_factory=list)
    streams_total: int = 0

    @property
    def calls(self) -> int:
        return len(self.call_ids)


@dataclass(slots=True)
class StreamRecord:
    """One RTP stream and direction, closed (the ``stream`` of the contract)."""

    stream: StreamReport


Record = MessageRecord | MalformedRecord | FindingRecord | StreamRecord
