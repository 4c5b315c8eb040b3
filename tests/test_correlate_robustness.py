"""Peer misbehaviour is data: no message sequence, however broken, makes the correlator raise."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sipwatch.correlate import FINDING_KINDS, TRANSFER_OUTCOMES, Correlator, Finding, MessageInfo
from sipwatch.sip.message import SipMessage
from sipwatch.sip.parser import parse_message
from tests.conftest import PUBLIC, require_corpus
from tests.test_correlate_factory import REGISTERED_TAGS, capture_events

_METHODS = ["INVITE", "ACK", "BYE", "CANCEL", "REFER", "NOTIFY", "REGISTER", "OPTIONS", "PRACK"]
_STATUSES = [100, 180, 200, 202, 302, 401, 407, 420, 421, 422, 423, 481, 487, 488, 491, 503, 699]
_OPTIONAL = [
    "Via: SIP/2.0/UDP 10.0.0.{n}:5060;branch=z9hG4bK{b}",
    "Via: SIP/2.0/UDP 10.0.0.{n}:5060;branch={b}",
    "From: <sip:a@h>;tag=t{n}",
    "To: <sip:b@h>;tag=t{b}",
    "To: <sip:b@h>",
    "Call-ID: c{n}",
    "CSeq: {b} {m}",
    "CSeq: x",
    "Event: refer;id={b}",
    "Subscription-State: terminated;reason=noresource",
    "Refer-To: <sip:c@h?Replaces=c{n}%3Bto-tag%3Dt1%3Bfrom-tag%3Dt2>",
    "Replaces: c{n};to-tag=t1;from-tag=t2",
    "Refer-Sub: false",
    "Require: foo, 100rel",
    "Proxy-Require: {m}",
    "Unsupported: foo",
    "Supported: precondtion",
    'WWW-Authenticate: Digest realm="r", stale=TRUE',
    'Proxy-Authorization: Digest username="u"',
    'Reason: Q.850;cause={b};text="x;y"',
    'Warning: 3{b} agent "text"',
    "Retry-After: {b} (c);duration=x",
    "Min-SE: {b}",
    "Min-Expires: x",
    "Contact: <sip:x@h>;expires={b}",
    "RSeq: {b}",
    "Content-Type: message/sipfrag",
]


@st.composite
def messages(draw: st.DrawFn) -> SipMessage:
    n = draw(st.integers(1, 3))
    b = draw(st.integers(0, 3))
    method = draw(st.sampled_from(_METHODS))
    if draw(st.booleans()):
        start = f"{method} sip:x@10.0.0.{n} SIP/2.0"
    else:
        start = f"SIP/2.0 {draw(st.sampled_from(_STATUSES))} X"
    lines = [start]
    for template in draw(st.lists(st.sampled_from(_OPTIONAL), max_size=12)):
        lines.append(template.format(n=n, b=b, m=method))
    body = draw(st.sampled_from([b"", b"SIP/2.0 200 OK\r\n", b"SIP/2.0 486 Busy\r\n", b"junk"]))
    raw = "\r\n".join(lines).encode() + f"\r\nContent-Length: {len(body)}\r\n\r\n".encode() + body
    msg = parse_message(raw)
    assert isinstance(msg, SipMessage)
    return msg


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    batch=st.lists(
        st.tuples(st.floats(0, 200, allow_nan=False), messages(), st.booleans()), max_size=25
    ),
    expire_at=st.floats(0, 400, allow_nan=False),
)
def test_random_message_sequences_never_raise(
    batch: list[tuple[float, SipMessage, bool]], expire_at: float
) -> None:
    correlator = Correlator(registered_option_tags=REGISTERED_TAGS)
    events = []
    for frame, (ts, msg, forward) in enumerate(batch, 1):
        src, dst = (("10.0.0.1", 5060), ("10.0.0.2", 5060))
        if not forward:
            src, dst = dst, src
        events.extend(correlator.feed(ts, frame, src, dst, "udp", msg))
    events.extend(correlator.expire(expire_at))
    events.extend(correlator.finish(max(expire_at, 500.0)))
    infos = [e for e in events if isinstance(e, MessageInfo)]
    assert len(infos) == len(batch)
    for finding in (e for e in events if isinstance(e, Finding)):
        assert finding.kind in FINDING_KINDS
        assert finding.to_json()["frames"] == sorted(set(finding.frames))
        if finding.kind == "transfer":
            assert finding.outcome in TRANSFER_OUTCOMES
    assert correlator.open_exchanges == 0 and correlator.open_transfers == 0


@pytest.mark.shared
def test_every_public_capture_correlates() -> None:
    require_corpus()
    names = sorted(
        p for p in PUBLIC.iterdir() if p.suffix not in (".json", ".md", ".py") and p.is_file()
    )
    assert names
    for path in names:
        events = capture_events(Path(path))
        findings = [e for e in events if isinstance(e, Finding)]
        assert all(f.kind in FINDING_KINDS for f in findings), path.name
