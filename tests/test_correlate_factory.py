"""Message factory and driver for the correlator tests (and a check that the factory is sane).

Messages are written as SIP text and go through the real parser, so the correlator sees exactly
what a capture would give it. :class:`Run` feeds them with explicit capture timestamps: no sleeps.
:func:`capture_events` drives a real public capture through the capture layer and the parser.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from sipwatch.correlate.correlator import Correlator
from sipwatch.correlate.events import Endpoint, Event, Finding, MessageInfo
from sipwatch.sip.message import SipMessage
from sipwatch.sip.parser import parse_message

UAC: Endpoint = ("10.0.0.1", 5060)
PROXY: Endpoint = ("10.0.0.2", 5060)
UAS: Endpoint = ("10.0.0.3", 5060)


def _registry_tags() -> frozenset[str]:
    """Option tags of the IANA registry copy shipped in knowledge/registry (first column)."""
    path = Path(__file__).resolve().parents[1] / "knowledge" / "registry" / "option_tags.tsv"
    lines = path.read_text(encoding="utf-8").splitlines()[1:]
    return frozenset(line.split("\t", 1)[0].strip().lower() for line in lines if line.strip())


REGISTERED_TAGS = _registry_tags()


def parse(text: str, body: bytes = b"") -> SipMessage:
    raw = text.strip("\n").replace("\n", "\r\n").encode() + b"\r\n"
    if body:
        raw += f"Content-Length: {len(body)}\r\n\r\n".encode() + body
    else:
        raw += b"Content-Length: 0\r\n\r\n"
    msg = parse_message(raw)
    assert isinstance(msg, SipMessage), msg
    return msg


def request(
    method: str,
    cseq: int,
    *,
    call_id: str = "call-1",
    from_tag: str = "a1",
    to_tag: str = "",
    branch: str | None = None,
    via_host: str = "10.0.0.1",
    uri: str = "sip:bob@10.0.0.3",
    extra: Sequence[tuple[str, str]] = (),
    body: bytes = b"",
    vias: Sequence[str] = (),
) -> SipMessage:
    """A request from the UAC (Via 10.0.0.1) unless ``via_host``/``vias`` say otherwise."""
    branch = branch or f"z9hG4bK-{method.lower()}-{cseq}-{call_id}"
    lines = [f"{method} {uri} SIP/2.0"]
    lines += [f"Via: {v}" for v in vias]
    lines.append(f"Via: SIP/2.0/UDP {via_host}:5060;branch={branch}")
    lines.append(f"From: <sip:alice@example.com>;tag={from_tag}")
    lines.append("To: <sip:bob@example.com>" + (f";tag={to_tag}" if to_tag else ""))
    lines.append(f"Call-ID: {call_id}")
    lines.append(f"CSeq: {cseq} {method}")
    lines.append("Max-Forwards: 70")
    lines += [f"{name}: {value}" for name, value in extra]
    return parse("\n".join(lines), body)


def forward(req: SipMessage, host: str = "10.0.0.2", branch: str | None = None) -> SipMessage:
    """The request as a proxy at ``host`` forwards it: its own Via on top (RFC 3261 §16.6)."""
    branch = branch or f"z9hG4bK-proxy-{req.cseq_num}-{req.method.lower()}-{req.call_id}"
    text = req.raw.decode()
    head, _, rest = text.partition("\r\n")
    via = f"Via: SIP/2.0/UDP {host}:5060;branch={branch}"
    out = parse_message(f"{head}\r\n{via}\r\n{rest}".encode())
    assert isinstance(out, SipMessage)
    return out


def response(
    req: SipMessage,
    status: int,
    reason: str = "",
    *,
    to_tag: str | None = "b1",
    extra: Sequence[tuple[str, str]] = (),
    body: bytes = b"",
) -> SipMessage:
    """A response copying Via, From, To, Call-ID and CSeq (RFC 3261 §8.2.6.2)."""
    reason = reason or _REASONS.get(status, "Whatever")
    lines = [f"SIP/2.0 {status} {reason}"]
    lines += [f"Via: {v}" for v in req.header_all("via")]
    lines.append(f"From: {req.header('from')}")
    to = req.header("to") or ""
    if to_tag and ";tag=" not in to:
        to += f";tag={to_tag}"
    lines.append(f"To: {to}")
    lines.append(f"Call-ID: {req.call_id}")
    lines.append(f"CSeq: {req.header('cseq')}")
    lines += [f"{name}: {value}" for name, value in extra]
    return parse("\n".join(lines), body)


def strip_via(resp: SipMessage) -> SipMessage:
    """The response as the proxy passes it upstream: its own (top) Via removed (§16.7 step 3)."""
    text = resp.raw.decode()
    lines = text.split("\r\n")
    for i, line in enumerate(lines):
        if line.lower().startswith("via:"):
            del lines[i]
            break
    out = parse_message("\r\n".join(lines).encode())
    assert isinstance(out, SipMessage)
    return out


_REASONS = {
    100: "Trying",
    180: "Ringing",
    183: "Session Progress",
    200: "OK",
    202: "Accepted",
    302: "Moved Temporarily",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    407: "Proxy Authentication Required",
    420: "Bad Extension",
    421: "Extension Required",
    422: "Session Interval Too Small",
    423: "Interval Too Brief",
    481: "Call/Transaction Does Not Exist",
    486: "Busy Here",
    487: "Request Terminated",
    488: "Not Acceptable Here",
    491: "Request Pending",
    500: "Server Internal Error",
    503: "Service Unavailable",
    603: "Decline",
}


class Run:
    """Feeds a correlator with explicit capture times and keeps every event."""

    def __init__(self, **options: Any) -> None:
        options.setdefault("registered_option_tags", REGISTERED_TAGS)
        self.correlator = Correlator(**options)
        self.events: list[Event] = []
        self.frame = 0

    def send(self, ts: float, src: Endpoint, dst: Endpoint, msg: SipMessage) -> MessageInfo:
        self.frame += 1
        events = self.correlator.feed(ts, self.frame, src, dst, "udp", msg)
        self.events.extend(events)
        infos = [e for e in events if isinstance(e, MessageInfo)]
        assert len(infos) == 1
        return infos[0]

    def quoted(
        self, ts: float, src: Endpoint, dst: Endpoint, msg: SipMessage, icmp: tuple[int, int, str]
    ) -> MessageInfo:
        """``msg`` quoted in an ICMP error (type, code, reporter address), IPv4."""
        self.frame += 1
        kind, code, reporter = icmp
        events = self.correlator.quoted(
            ts,
            self.frame,
            src,
            dst,
            "udp",
            msg,
            icmp_type=kind,
            icmp_code=code,
            reporter=reporter,
            version=4,
        )
        self.events.extend(events)
        infos = [e for e in events if isinstance(e, MessageInfo)]
        assert len(infos) == 1
        return infos[0]

    def expire(self, ts: float) -> list[Finding]:
        events = self.correlator.expire(ts)
        self.events.extend(events)
        return [e for e in events if isinstance(e, Finding)]

    def finish(self, ts: float) -> list[Finding]:
        events = self.correlator.finish(ts)
        self.events.extend(events)
        return [e for e in events if isinstance(e, Finding)]

    def findings(self, kind: str | None = None) -> list[Finding]:
        return [e for e in self.events if isinstance(e, Finding) and kind in (None, e.kind)]

    def infos(self) -> list[MessageInfo]:
        return [e for e in self.events if isinstance(e, MessageInfo)]

    def only(self, kind: str) -> Finding:
        found = self.findings(kind)
        assert len(found) == 1, [f.to_json() for f in self.findings()]
        return found[0]


def capture_events(path: Path, **options: Any) -> list[Event]:
    """Every correlator event of a real capture, through the real capture layer and parser."""
    from sipwatch.capture.decode import Decoder
    from sipwatch.capture.readers import open_capture
    from sipwatch.capture.sctp import SctpDecoder
    from sipwatch.capture.tcp import TcpReassembler

    options.setdefault("registered_option_tags", REGISTERED_TAGS)
    correlator = Correlator(**options)
    skipped: Counter[str] = Counter()
    decoder = Decoder(TcpReassembler(skipped), SctpDecoder(skipped), skipped=skipped)
    events: list[Event] = []
    last = 0.0

    def segments(items: Iterable[Any]) -> None:
        for segment in items:
            msg = parse_message(segment.data)
            if isinstance(msg, SipMessage):
                events.extend(
                    correlator.feed(
                        segment.ts, segment.frame, segment.src, segment.dst, segment.transport, msg
                    )
                )

    with open_capture(path) as source:
        for frame in source:
            last = max(last, frame.ts)
            segments(decoder.feed(frame))
    segments(decoder.flush())
    events.extend(correlator.finish(last))
    return events


# -- the factory itself ---------------------------------------------------------------------


def test_request_and_response_round_trip() -> None:
    req = request("INVITE", 1, extra=[("Require", "100rel")])
    resp = response(req, 420, extra=[("Unsupported", "100rel")])
    assert req.method == "INVITE" and req.cseq == (1, "INVITE")
    assert req.tokens("require") == ["100rel"]
    assert resp.status == 420 and resp.to_tag == "b1" and resp.branch == req.branch
    assert resp.cseq_method == "INVITE"


def test_forward_adds_a_via_and_strip_removes_it() -> None:
    req = request("INVITE", 1)
    fwd = forward(req)
    assert fwd.via_count == 2 and fwd.branch != req.branch
    resp = response(fwd, 200)
    assert strip_via(resp).branch == req.branch
