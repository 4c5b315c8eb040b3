"""The call: what an engineer asks of a Call-ID, as plain data.

Everything here is filled by :mod:`sipwatch.calls.tracker` from the messages and findings of
one Call-ID; renderers (calls table, ladder, report, JSON lines) read it and never see the
records it came from.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final

from sipwatch.sip.message import SipMessage

#: Severity names from least to most serious (the order a "worst" is taken in).
SEVERITY_ORDER: Final[tuple[str, ...]] = ("none", "info", "warning", "error")


def worse(a: str, b: str) -> str:
    """The more serious of two severities (unknown names count as ``info``)."""
    rank = {name: i for i, name in enumerate(SEVERITY_ORDER)}
    return a if rank.get(a, 1) >= rank.get(b, 1) else b


@dataclass(slots=True)
class Party:
    """Who a From or To names: the user (or number) and the host of its URI."""

    user: str = ""
    host: str = ""
    display: str = ""
    #: The URI as written (inside ``<...>`` for a name-addr, without header parameters).
    uri: str = ""

    def text(self) -> str:
        if self.user and self.host:
            return f"{self.user}@{self.host}"
        return self.user or self.host


@dataclass(slots=True)
class Element:
    """One address the call crossed, with what it said it was.

    ``role`` is ``UA`` unless evidence says otherwise: ``proxy`` when it forwarded a request
    with its own Via above another (RFC 3261 §16.6 step 8); ``B2BUA`` when its host is on both
    legs of calls linked by a B2BUA header or Session-ID (RFC 7092 §3.1).
    ``agent`` is the Server or User-Agent header of a message it generated.
    """

    address: str
    role: str = "UA"  # UA | proxy | B2BUA
    agent: str = ""


@dataclass(slots=True)
class CallFinding:
    """A finding of the call, through :func:`sipwatch.calls.findings.finding_view`."""

    kind: str
    severity: str
    frames: list[int]
    text: str
    remedy: str


@dataclass(slots=True)
class CallMessage:
    """One message of the call (every copy; ``repeats`` counts folded retransmissions)."""

    ts: float
    frame: int
    src: str
    dst: str
    transport: str
    kind: str
    method: str
    status: int
    reason: str
    cseq: int
    retransmission: bool
    #: Kept only when the tracker is asked to (the report): its full text is shown there.
    msg: SipMessage | None = None
    #: The knowledge base's explanation of it (the record's ``annotation``), same condition.
    annotation: dict[str, Any] | None = None

    @property
    def label(self) -> str:
        """``INVITE`` for a request, ``180 Ringing`` for a response."""
        if self.kind == "request":
            return self.method
        return f"{self.status} {self.reason}".strip()


@dataclass(slots=True)
class Related:
    """Another call this one is tied to, by what evidence.

    ``relation`` is one of ``transfer`` (a REFER and the INVITE it caused, RFC 3515 §2.4.6:
    Referred-By, Refer-To), ``replaces`` (RFC 3891: the INVITE names the dialog it replaces),
    ``b2bua`` (a header carrying the other leg's Call-ID), ``session-id`` (RFC 7989 §6: the
    same session UUIDs) or ``same-parties`` (a guess: the same From and To users within a
    second); ``guess`` is True only for the last.
    """

    call_id: str
    relation: str
    evidence: str
    guess: bool = False


@dataclass(slots=True)
class Call:
    """Every dialog of one Call-ID, summarised."""

    call_id: str
    start_ts: float
    first_frame: int
    method: str
    from_party: Party
    to_party: Party
    final_status: int | None = None
    final_reason: str = ""
    #: The address that generated the final response, and its Server header.
    final_by: str = ""
    final_agent: str = ""
    invite_ts: float | None = None
    ringing_ts: float | None = None
    answer_ts: float | None = None
    end_ts: float | None = None
    #: ``BYE`` or ``CANCEL``, and the address it came from.
    ended_with: str = ""
    ended_by: str = ""
    last_ts: float = 0.0
    elements: dict[str, Element] = field(default_factory=dict)
    findings: list[CallFinding] = field(default_factory=list)
    frames: list[int] = field(default_factory=list)
    messages: list[CallMessage] = field(default_factory=list)
    #: Messages beyond the per-call cap: counted, not kept (docs/limits.md).
    dropped_messages: int = 0
    related: list[Related] = field(default_factory=list)

    @property
    def severity(self) -> str:
        """The worst severity of the call's findings, ``none`` without any."""
        worst = "none"
        for finding in self.findings:
            worst = worse(finding.severity, worst)
        return worst

    @property
    def state(self) -> str:
        """``answered`` (a 2xx), ``failed`` (a final 3xx-6xx) or ``in-progress``."""
        if self.final_status is None:
            return "in-progress"
        return "answered" if 200 <= self.final_status < 300 else "failed"

    @property
    def pdd_ms(self) -> float | None:
        """Post-dial delay: from the INVITE to its first provisional 18x."""
        if self.invite_ts is None or self.ringing_ts is None:
            return None
        return round((self.ringing_ts - self.invite_ts) * 1000.0, 3)

    @property
    def answer_ms(self) -> float | None:
        """From the INVITE to its 2xx."""
        if self.invite_ts is None or self.answer_ts is None:
            return None
        return round((self.answer_ts - self.invite_ts) * 1000.0, 3)

    @property
    def duration_s(self) -> float | None:
        """From the answer to the BYE, or to the last message seen while still up."""
        if self.answer_ts is None:
            return None
        end = self.end_ts if self.end_ts is not None else self.last_ts
        return round(max(0.0, end - self.answer_ts), 6)

    @property
    def call_ids(self) -> list[str]:
        """This call's Call-ID first, then those of the related calls (each once)."""
        ids = [self.call_id]
        for link in self.related:
            if link.call_id not in ids:
                ids.append(link.call_id)
        return ids

    def link(self, other: str, relation: str, evidence: str, guess: bool = False) -> None:
        """Record a relation once (the first evidence found for a pair and kind is kept)."""
        if other == self.call_id:
            return
        for known in self.related:
            if known.call_id == other and known.relation == relation:
                return
        self.related.append(Related(other, relation, evidence, guess))
