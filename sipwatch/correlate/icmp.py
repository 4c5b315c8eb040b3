"""SIP quoted in an ICMP error: evidence about a message, not a message sent again.

An ICMP (RFC 792) or ICMPv6 (RFC 4443) error quotes the start of the datagram that caused it. The
quoted SIP is a copy of a message already seen (or sent where the capture could not see it), so it
must not count as a retransmission or a hop copy. What it says is often the whole diagnosis of an
unanswered request: "port unreachable" from the destination means nothing listens on that port,
"host unreachable" from a router means the address is not reachable at all. RFC 3261 §18.4 tells
the transport layer to report such errors to the transaction user as a transport failure (§8.1.3.1:
treated as a 503 for the request).

The ``icmp-error`` finding is made from the first error quoting a message of an exchange; later
ones (one per retransmission, typically) only add their frames to the exchange.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from sipwatch.correlate.context import frame_ref
from sipwatch.correlate.events import Endpoint, Finding, Severity
from sipwatch.correlate.events import format_endpoint as ep


@dataclass(frozen=True, slots=True, kw_only=True)
class IcmpEvidence:
    """One ICMP error quoting a message of an exchange."""

    type: int
    code: int
    reporter: str
    version: int
    frame: int
    ts: float
    src: Endpoint
    dst: Endpoint
    kind: str  # "request" or "response" (what was quoted)
    status: int | None


#: (version, type, code) -> (meaning, severity). RFC 792 and RFC 1122 §3.2.2.1 for ICMP type 3
#: codes, RFC 1812 §5.2.7.1 (13: administratively prohibited), RFC 4443 §3.1-3.4 for ICMPv6.
_MEANINGS: Final[dict[tuple[int, int, int], tuple[str, Severity]]] = {
    (4, 3, 0): ("no route to the network of {host}", "error"),
    (4, 3, 1): (
        "the host {host} is unreachable (no answer to ARP, or a router has no route)",
        "error",
    ),
    (4, 3, 2): ("{host} does not speak the transport protocol", "error"),
    (4, 3, 3): ("nothing listens on {dst}", "error"),
    (4, 3, 4): (
        "the message is larger than the path MTU with Don't Fragment set: send it over TCP "
        "(RFC 3261 §18.1.1)",
        "warning",
    ),
    (4, 3, 9): ("the network of {host} is administratively prohibited", "error"),
    (4, 3, 10): ("the host {host} is administratively prohibited", "error"),
    (4, 3, 13): ("a firewall prohibits traffic to {dst}", "error"),
    (4, 11, 0): (
        "its TTL ran out on the way to {host} (a routing loop, or too many hops)",
        "error",
    ),
    (4, 11, 1): ("its IP fragments were not all received in time by {host}", "warning"),
    (6, 1, 0): ("no route to {host}", "error"),
    (6, 1, 1): ("a firewall prohibits traffic to {dst}", "error"),
    (6, 1, 3): ("the address {host} is unreachable", "error"),
    (6, 1, 4): ("nothing listens on {dst}", "error"),
    (6, 2, 0): (
        "the message is larger than the path MTU: send it over TCP (RFC 3261 §18.1.1)",
        "warning",
    ),
    (6, 3, 0): ("its hop limit ran out on the way to {host}", "error"),
}

_NAMES: Final[dict[tuple[int, int], str]] = {
    (4, 3): "destination unreachable",
    (4, 4): "source quench",
    (4, 5): "redirect",
    (4, 11): "time exceeded",
    (4, 12): "parameter problem",
    (6, 1): "destination unreachable",
    (6, 2): "packet too big",
    (6, 3): "time exceeded",
    (6, 4): "parameter problem",
}

_CODE_NAMES: Final[dict[tuple[int, int, int], str]] = {
    (4, 3, 0): "net unreachable",
    (4, 3, 1): "host unreachable",
    (4, 3, 2): "protocol unreachable",
    (4, 3, 3): "port unreachable",
    (4, 3, 4): "fragmentation needed",
    (4, 3, 13): "communication administratively prohibited",
    (6, 1, 0): "no route to destination",
    (6, 1, 1): "administratively prohibited",
    (6, 1, 3): "address unreachable",
    (6, 1, 4): "port unreachable",
}


def icmp_name(version: int, kind: int, code: int) -> str:
    """``ICMP port unreachable``, ``ICMPv6 packet too big``, ``ICMP type 12 code 1``."""
    family = "ICMP" if version == 4 else "ICMPv6"
    name = _CODE_NAMES.get((version, kind, code)) or _NAMES.get((version, kind))
    return f"{family} {name}" if name else f"{family} type {kind} code {code}"


def meaning(evidence: IcmpEvidence) -> tuple[str, Severity]:
    """What the error says about the quoted message, and how bad that is."""
    found = _MEANINGS.get((evidence.version, evidence.type, evidence.code))
    if found is None:
        return f"{evidence.reporter} could not pass it on", "warning"
    text, severity = found
    return text.format(host=evidence.dst[0], dst=ep(evidence.dst)), severity


def quoted_note(evidence: IcmpEvidence, original: int | None) -> str:
    """The note on the quoted copy's own line."""
    what = icmp_name(evidence.version, evidence.type, evidence.code)
    said, _ = meaning(evidence)
    of = f" of frame {original}" if original is not None else ""
    return (
        f"copy{of} quoted in an {what} from {evidence.reporter}: {said}; not a "
        "retransmission (RFC 792, RFC 4443)"
    )


def build_icmp_error(
    call_id: str, method: str, cseq: int, evidence: IcmpEvidence, original: int | None
) -> Finding:
    """The ``icmp-error`` finding for the first ICMP error about a message of an exchange
    (``original`` is the frame of the quoted message's own copy, None if not captured)."""
    what = icmp_name(evidence.version, evidence.type, evidence.code)
    said, severity = meaning(evidence)
    if evidence.kind == "request":
        subject = f"{method} CSeq {cseq} ({frame_ref(original)})"
    else:
        subject = f"The {evidence.status} to {method} CSeq {cseq} ({frame_ref(original)})"
    sentences = [
        f"{subject} from {ep(evidence.src)} to {ep(evidence.dst)} was not delivered: {said} "
        f"({what} from {evidence.reporter}, frame {evidence.frame})."
    ]
    if evidence.kind == "request":
        sentences.append(
            "RFC 3261 §18.4 and §8.1.3.1: the transport error ends the client transaction as if "
            "a 503 had come back; a UAC retrying the same target keeps failing."
        )
    else:
        sentences.append(
            "The response cannot reach the Via sent-by it was sent to (RFC 3261 §18.2.2): the "
            "UAC has gone away or listens elsewhere, and never learns the result."
        )
    remedy = icmp_remedy(evidence)
    frames = {evidence.frame}
    if original is not None:
        frames.add(original)
    return Finding(
        kind="icmp-error",
        severity=severity,
        ts=evidence.ts,
        call_id=call_id,
        frames=tuple(sorted(frames)),
        text=" ".join(sentences),
        remedy=remedy,
        details={
            "method": method,
            "cseq": cseq,
            "what": evidence.kind,
            "status": evidence.status,
            "src": ep(evidence.src),
            "dst": ep(evidence.dst),
            "message_frame": original,
            "icmp": {"type": evidence.type, "code": evidence.code, "from": evidence.reporter},
            "meaning": said,
        },
    )


def icmp_remedy(evidence: IcmpEvidence) -> str:
    dst = ep(evidence.dst)
    key = (evidence.version, evidence.type, evidence.code)
    if key in ((4, 3, 3), (6, 1, 4)):
        return (
            f"Start the SIP service on {dst}, or send to the port it listens on (check the "
            "target's port in the Request-URI, Route or Via sent-by, and DNS SRV records)."
        )
    if key in ((4, 3, 4), (6, 2, 0)):
        return f"Send messages this large to {dst} over TCP (RFC 3261 §18.1.1)."
    if key in ((4, 3, 13), (4, 3, 9), (4, 3, 10), (6, 1, 1)):
        return f"Open the firewall for SIP to {dst}, or use the address it allows."
    return f"Check the route from {ep(evidence.src)} to {dst}."
