"""Offer/answer per call (RFC 3264): who offered what, what was answered, what it settled on.

A call has two parties, told apart by the From tag of its first INVITE: the *caller* sends
requests with that From tag and responses to requests carrying it as To tag; everything else
comes from the *callee*. An SDP body is an offer when no offer is pending, and the answer when
it comes from the other party while one is (RFC 3264 §4: INVITE/200, 200/ACK, UPDATE/200,
PRACK/200 and reliable 18x all fit this rule; RFC 6337 §2 lists them).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from sipwatch.media.sdp import MediaDescription, SessionDescription
from sipwatch.sip.message import SipMessage

Party = Literal["caller", "callee"]


def other(party: Party) -> Party:
    return "callee" if party == "caller" else "caller"


@dataclass(frozen=True, slots=True, kw_only=True)
class Announced:
    """The SDP one party sent last, with where and when it was seen."""

    party: Party
    sdp: SessionDescription
    frame: int
    ts: float
    signalling: str  # source address of the SIP message ("ip" only)
    role: Literal["offer", "answer"]
    message: str  # "INVITE", "200 INVITE", ... for findings


@dataclass(frozen=True, slots=True, kw_only=True)
class Negotiated:
    """RFC 3264 §6.1: per media line, the first answered format that the offer also listed."""

    media: str
    codec: str  # "" when the answer shares no format with the offer
    direction: str  # the answerer's direction
    rejected: bool


@dataclass(slots=True)
class CallMedia:
    """Offer/answer state of one Call-ID."""

    call_id: str
    caller_tag: str = ""
    latest: dict[str, Announced] = field(default_factory=dict)
    pending_offer: Announced | None = None
    negotiated: tuple[Negotiated, ...] = ()
    answered_ts: float | None = None
    ended_ts: float | None = None
    answered_frame: int = 0
    #: Findings already given for this call (one private-address per party, ...).
    flags: set[str] = field(default_factory=set)
    #: The last body each party sent, to know a retransmission or a hop copy from a new offer.
    last_body: dict[str, bytes] = field(default_factory=dict)

    def party_of(self, msg: SipMessage) -> Party:
        """Which party sent ``msg``: the caller is the From tag of the first message seen (the
        initial INVITE, or the request the first response answers)."""
        if not self.caller_tag:
            self.caller_tag = msg.from_tag
        if msg.kind == "request":
            return "caller" if msg.from_tag == self.caller_tag else "callee"
        return "callee" if msg.from_tag == self.caller_tag else "caller"

    def add(self, announced: Announced) -> tuple[Announced | None, Announced]:
        """Record an SDP body; returns (the offer it answers or None, the body as recorded)."""
        offer = self.pending_offer
        if offer is not None and offer.party != announced.party:
            answer = Announced(
                party=announced.party,
                sdp=announced.sdp,
                frame=announced.frame,
                ts=announced.ts,
                signalling=announced.signalling,
                role="answer",
                message=announced.message,
            )
            self.latest[answer.party] = answer
            self.pending_offer = None
            self.negotiated = negotiate(offer.sdp, answer.sdp)
            return offer, answer
        self.latest[announced.party] = announced
        self.pending_offer = announced
        return None, announced


def _formats(media: MediaDescription) -> list[str]:
    return [pt.name for pt in media.payload_types if not pt.is_telephone_event]


def negotiate(offer: SessionDescription, answer: SessionDescription) -> tuple[Negotiated, ...]:
    """RFC 3264 §6: the answer has one m= line per offered one, in the same order."""
    out: list[Negotiated] = []
    for offered, answered in zip(offer.media, answer.media, strict=False):
        offered_names = {name.lower() for name in _formats(offered)}
        codec = next((name for name in _formats(answered) if name.lower() in offered_names), "")
        out.append(
            Negotiated(
                media=answered.media,
                codec=codec,
                direction=answered.direction,
                rejected=answered.rejected,
            )
        )
    return tuple(out)


def common_codecs(offer: MediaDescription, answer: MediaDescription) -> list[str]:
    """The voice/video formats both lists share (telephone-event and CN do not count)."""
    answered = {name.lower() for name in _formats(answer)}
    return [name for name in _formats(offer) if name.lower() in answered]
