"""Which element generated a response, and which hops only relayed it.

A capture point in front of a proxy sees one response several times: the UAS sends it with every
Via of the request (RFC 3261 §8.2.6.2), and each proxy on the way back removes its own top Via
before forwarding it (§16.7 step 3). So of the copies of one response, the one with the most Vias
is the one its generating element sent; the others come from the proxies that relayed it. Naming
the address the UAC got it from would blame a proxy for an answer it only forwarded.

When the generating element's own copy is not in the capture (one hop captured, or the element the
deepest copy came from had itself forwarded the request onwards), the message still says who spoke:
a Record-Route entry of that address means it is a proxy on the path (§16.6 step 4: a proxy, not a
UAS, inserts Record-Route), and a Contact elsewhere names the UA behind it (§8.2.6.2, §12.1.1).
Server (§20.35) and User-Agent (§20.41) name the generating element's software; proxies pass
them through unchanged.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from sipwatch.correlate.events import Endpoint, JsonValue
from sipwatch.correlate.events import format_endpoint as ep
from sipwatch.correlate.transactions import Exchange
from sipwatch.sip.message import SipMessage
from sipwatch.sip.uri import parse_address

Role = Literal["uas", "proxy", "b2bua", "unknown"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Leg:
    """The request a B2BUA sent on its other side, and the failure that came back."""

    call_id: str
    method: str
    to: Endpoint | None
    status: int
    frame: int | None

    def to_json(self) -> JsonValue:
        return {
            "call_id": self.call_id,
            "to": ep(self.to) if self.to is not None else None,
            "status": self.status,
            "frame": self.frame,
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class Origin:
    """The element that generated a message and the hops that relayed it.

    ``address`` is None when the generating element's own copy was not captured (it is behind
    ``relayed_by[0]``); ``contact`` then tells where it is, as the message says.
    """

    address: Endpoint | None
    role: Role
    server: str | None = None
    user_agent: str | None = None
    contact: str | None = None
    relayed_by: tuple[Endpoint, ...] = ()
    #: A B2BUA's other leg that failed first: its own request of the same method, in another
    #: call, answered with a failure before it answered this one (RFC 7092 §3).
    leg: Leg | None = None

    def answered_by_json(self) -> JsonValue:
        """The ``answered_by`` object of findings (docs/findings.md)."""
        return {
            "address": ep(self.address) if self.address is not None else None,
            "role": self.role,
            "server": self.server,
            "user_agent": self.user_agent,
            "contact": self.contact,
            "leg": self.leg.to_json() if self.leg is not None else None,
        }

    def relayed_by_json(self) -> JsonValue:
        return [ep(hop) for hop in self.relayed_by]

    def fields(self) -> dict[str, JsonValue]:
        """``answered_by`` and ``relayed_by``, for a finding's kind fields."""
        return {"answered_by": self.answered_by_json(), "relayed_by": self.relayed_by_json()}

    @property
    def software(self) -> str:
        """``Server: X`` or ``User-Agent: X``, or ""."""
        if self.server:
            return f"Server: {self.server}"
        if self.user_agent:
            return f"User-Agent: {self.user_agent}"
        return ""

    def element(self, noun: str = "") -> str:
        """``the UA at 10.0.0.3:5060`` (or ``the transferor at ...`` with ``noun``): the
        generating element, by its address or, when not captured, by what the message says."""
        name = noun or _ROLE_NOUN[self.role]
        if self.address is not None:
            return f"{name} at {ep(self.address)}" if name else ep(self.address)
        said = "; ".join(part for part in (self.software, self._contact_part()) if part)
        behind = f"behind {_hops(self.relayed_by[:1])}" if self.relayed_by else "not captured"
        base = name or "the element"
        return f"{base} {behind}" + (f" ({said})" if said else "")

    def phrase(self, noun: str = "", preposition: str = "from") -> str:
        """``from the UA at X (Server: S), relayed by the proxy at Y``: who generated and who
        relayed the message, for a sentence that says what happened to a request."""
        if self.address is None and self.relayed_by:
            return f"through {_hops(self.relayed_by)}, answered by {self.element(noun)}"
        text = f"{preposition} {self.element(noun)}"
        said = [self.software] if self.address is not None and self.software else []
        leg = self.leg
        if leg is not None:
            said.append(
                f"passing on the {leg.status} its own {leg.method} to "
                f"{ep(leg.to) if leg.to is not None else 'the far side'} got "
                f"(Call-ID {leg.call_id}, frame {leg.frame})"
            )
        if said:
            text += f" ({'; '.join(said)})"
        if self.relayed_by:
            text += f", relayed by {_hops(self.relayed_by)}"
        return text

    def relays(self) -> str:
        """``the proxy at Y`` or ``the proxies at Y, Z``: the hops that relayed the message."""
        return _hops(self.relayed_by)

    def _contact_part(self) -> str:
        return f"Contact: {self.contact}" if self.contact else ""


_ROLE_NOUN: dict[str, str] = {
    "uas": "the UA",
    "proxy": "the proxy",
    "b2bua": "the B2BUA",
    "unknown": "",
}


def _hops(hops: Iterable[Endpoint]) -> str:
    items = [ep(hop) for hop in hops]
    if len(items) == 1:
        return f"the proxy at {items[0]}"
    return "the proxies at " + ", ".join(items)


def relays_in(exchanges: Iterable[Exchange]) -> set[Endpoint]:
    """Addresses seen forwarding a request: they received a copy and sent it on with one more Via
    (RFC 3261 §16.6 step 8), so they are proxies on this call's path."""
    found: set[Endpoint] = set()
    for ex in exchanges:
        txs = ex.transactions
        for inbound in txs:
            for outbound in txs:
                if (
                    outbound.src is not None
                    and outbound.src == inbound.dst
                    and outbound.via_count > inbound.via_count
                ):
                    found.add(outbound.src)
    return found


def response_origin(
    ex: Exchange,
    relays: set[Endpoint],
    status: int | None = None,
    others: Iterable[Exchange] = (),
) -> Origin:
    """Who generated the final response ``status`` (default: the exchange's) of ``ex``;
    ``others`` are the exchanges of other calls, where a B2BUA's other leg may be."""
    status = ex.final if status is None else status
    copies = [tx for tx in ex.transactions if tx.final == status and tx.final_src is not None]
    msg = ex.final_msg if ex.final == status else None
    server = _header(msg, "server")
    agent = _header(msg, "user-agent")
    contact = None
    if msg is not None and not 300 <= msg.status < 400:  # a 3xx Contact is where to retry
        contact = _header(msg, "contact")
    if not copies:
        source = ex.final_src if ex.final == status else None
        if source is None:
            return Origin(address=None, role="unknown", server=server, user_agent=agent)
        ordered: list[Endpoint] = [source]
        deepest_vias = 0
    else:
        copies.sort(key=lambda tx: -tx.via_count)
        ordered = []
        for tx in copies:
            if tx.final_src is not None and tx.final_src not in ordered:
                ordered.append(tx.final_src)
        deepest_vias = copies[0].via_count
    source = ordered[0]
    relayed = tuple(ordered[1:])
    forwarded = bool(copies) and any(
        tx.src == source and tx.via_count > deepest_vias for tx in ex.transactions
    )
    # A Contact elsewhere is evidence only from a known proxy: a UA behind NAT puts its private
    # address there and answers from its public one.
    relayed_contact = source in relays and _contact_elsewhere(contact, source)
    if forwarded or relayed_contact or _record_routed(msg, source):
        # Its own copy is missing: the element at ``source`` relayed it from further on.
        return Origin(
            address=None,
            role="uas" if contact else "unknown",
            server=server,
            user_agent=agent,
            contact=contact,
            relayed_by=(source, *relayed),
        )
    role: Role = "unknown"
    if source in relays:
        role = "proxy"
    elif _is_far_end(ex, source) and (
        len(ex.transactions) > 1 or _names(contact, source) or _addressed_to(ex, source)
    ):
        # The end of a captured hop chain, or (one hop seen) an element whose Contact or the
        # Request-URI names it: a proxy or registrar in front would not.
        role = "uas"
    leg = _b2bua_leg(ex, source, others) if role != "proxy" and (status or 0) >= 300 else None
    return Origin(
        address=source,
        role="b2bua" if leg is not None else role,
        server=server,
        user_agent=agent,
        contact=contact,
        relayed_by=relayed,
        leg=leg,
    )


def _b2bua_leg(ex: Exchange, source: Endpoint, others: Iterable[Exchange]) -> Leg | None:
    """A B2BUA (RFC 7092 §3: a UAS on one side, a UAC on the other) answering a failure: the
    element that answered sent a request of the same method in another call after this
    request reached it, and that request failed before this answer. The latest such leg."""
    start, end = ex.request_ts, ex.final_ts
    if start is None or end is None or source == ex.request_src:
        return None  # (a UA answering a request that looped back to it is no B2BUA)
    best: Exchange | None = None
    for other in others:
        if (
            other.request_src == source
            and other.call_id != ex.call_id
            and other.method == ex.method
            and other.request_dst != ex.request_src
            and other.request_ts is not None
            and start <= other.request_ts <= end
            and other.final is not None
            and other.final >= 300
            and other.final_ts is not None
            and other.final_ts <= end
            and (best is None or (best.final_ts or 0.0) < other.final_ts)
        ):
            best = other
    if best is None or best.final is None:
        return None
    return Leg(
        call_id=best.call_id,
        method=best.method,
        to=best.request_dst,
        status=best.final,
        frame=best.final_frame,
    )


def request_far_end(ex: Exchange) -> tuple[Endpoint | None, tuple[Endpoint, ...]]:
    """(the element the deepest captured copy of the request went to, the proxies it went
    through on the way), nearest the sender first."""
    copies = sorted(
        (tx for tx in ex.transactions if tx.dst is not None), key=lambda tx: tx.via_count
    )
    if not copies:
        return ex.request_dst, ()
    hops: list[Endpoint] = []
    for tx in copies[:-1]:
        if tx.dst is not None and tx.dst not in hops:
            hops.append(tx.dst)
    far = copies[-1].dst
    return far, tuple(hop for hop in hops if hop != far)


def _is_far_end(ex: Exchange, source: Endpoint) -> bool:
    far, _ = request_far_end(ex)
    return far == source


def _header(msg: SipMessage | None, name: str) -> str | None:
    value = msg.header(name) if msg is not None else None
    return (value.strip() or None) if value is not None else None


def _host_port(value: str) -> tuple[str, int | None] | None:
    """(lower-case host without IPv6 brackets, port) of a name-addr header value."""
    uri = parse_address(value)
    if uri is None or not uri.host:
        return None
    return uri.host.lower().strip("[]"), uri.port


def _same(endpoint: Endpoint, host: str, port: int | None) -> bool:
    ep_host, ep_port = endpoint
    return ep_host.lower() == host and (port or 5060) == ep_port


def _record_routed(msg: SipMessage | None, source: Endpoint) -> bool:
    """True when a Record-Route entry of the response names ``source``: a proxy on the path."""
    if msg is None:
        return False
    for value in msg.header_values("record-route"):
        target = _host_port(value)
        if target is not None and _same(source, *target):
            return True
    return False


def _contact_elsewhere(contact: str | None, source: Endpoint) -> bool:
    """True when the Contact names an address other than ``source``: the UA is elsewhere."""
    if not contact:
        return False
    target = _host_port(contact)
    if target is None or not _looks_like_address(target[0]):
        return False
    return not _same(source, *target)


def _names(value: str | None, source: Endpoint) -> bool:
    """True when the name-addr ``value`` (a Contact) points at ``source``."""
    target = _host_port(value) if value else None
    return target is not None and _same(source, *target)


def _addressed_to(ex: Exchange, source: Endpoint) -> bool:
    """True when the request's Request-URI names ``source`` itself (sent straight to the UA)."""
    request = ex.request
    return request is not None and _names(f"<{request.uri}>", source)


def _looks_like_address(host: str) -> bool:
    """An IP literal: only then can a Contact be compared with a captured address (a host name
    could resolve to the very element the copy came from)."""
    if ":" in host:
        return True
    parts = host.split(".")
    return len(parts) == 4 and all(p.isdigit() for p in parts)


__all__ = ["Leg", "Origin", "relays_in", "request_far_end", "response_origin"]
