"""REFER transfers: every outcome, NOTIFY ordering, ids, Refer-Sub, timeouts, real captures."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from sipwatch.correlate.events import TRANSFER_OUTCOMES, Finding, MessageInfo
from sipwatch.sip.message import SipMessage
from tests.conftest import public_capture
from tests.test_correlate_factory import (
    PROXY,
    UAC,
    UAS,
    Run,
    capture_events,
    forward,
    request,
    response,
    strip_via,
)

REFER_TO = "<sip:carol@10.0.0.4>"


def refer(
    cseq: int = 5, refer_to: str = REFER_TO, extra: Sequence[tuple[str, str]] = ()
) -> SipMessage:
    return request("REFER", cseq, to_tag="b1", extra=[("Refer-To", refer_to), *extra])


def notify(
    cseq: int,
    frag: str | None,
    state: str | None = "active",
    event: str = "refer",
) -> SipMessage:
    extra = [("Event", event), ("Content-Type", "message/sipfrag;version=2.0")]
    if state is not None:
        extra.append(("Subscription-State", state))
    body = f"{frag}\r\n".encode() if frag else b""
    return request(
        "NOTIFY", cseq, from_tag="b1", to_tag="a1", via_host="10.0.0.3", extra=extra, body=body
    )


def accepted_transfer(run: Run, status: int = 202, t0: float = 0.0) -> None:
    r = refer()
    run.send(t0, UAC, UAS, r)
    run.send(t0 + 0.1, UAS, UAC, response(r, status))


def send_notify(
    run: Run, ts: float, cseq: int, frag: str | None, state: str | None, **kw: str
) -> MessageInfo:
    n = notify(cseq, frag, state, **kw)
    info = run.send(ts, UAS, UAC, n)
    run.send(ts + 0.01, UAC, UAS, response(n, 200, to_tag=None))
    return info


def test_succeeded_with_202_notes_rfc7647() -> None:
    run = Run()
    accepted_transfer(run)
    send_notify(run, 0.2, 1, "SIP/2.0 100 Trying", "active;expires=60", event="refer;id=5")
    send_notify(run, 1.0, 2, "SIP/2.0 200 OK", "terminated;reason=noresource", event="refer;id=5")
    assert run.findings("transfer") == []  # waits for the settle delay (hop copies)
    run.expire(2.0)
    t = run.only("transfer")
    data = t.to_json()
    assert data["outcome"] == "succeeded" and t.severity == "info"
    assert data["accepted"] == 202 and data["final_status"] == 200 and data["cseq"] == 5
    assert data["refer_to"] == REFER_TO
    assert [n["sipfrag_status"] for n in data["notifies"]] == [100, 200]
    assert [n["subscription_state"] for n in data["notifies"]] == ["active", "terminated"]
    assert set(data["notifies"][0]) == {"ts", "frame", "sipfrag_status", "subscription_state"}
    assert data["frames"] == [1, 2, 3, 4, 5, 6]
    assert "RFC 7647 §5" in t.text and "succeeded" in t.text
    assert data["type"] == "finding" and data["schema"] == 1


def test_failed_final_sipfrag() -> None:
    run = Run()
    accepted_transfer(run, status=200)
    send_notify(run, 0.3, 1, "SIP/2.0 486 Busy Here", "terminated;reason=noresource")
    run.finish(5.0)
    t = run.only("transfer")
    assert t.outcome == "failed" and t.get("final_status") == 486
    assert t.severity == "warning" and "486 Busy Here" in t.text and "carol" in t.remedy


def test_rejected_by_final_response() -> None:
    run = Run()
    r = refer()
    run.send(0.0, UAC, UAS, r)
    info = run.send(0.05, UAS, UAC, response(r, 603))
    assert info.answers is not None and info.answers.frame == 1
    run.expire(1.0)
    t = run.only("transfer")
    assert t.outcome == "rejected" and t.get("accepted") == 603 and t.severity == "error"
    assert t.get("notifies") == [] and t.get("final_status") is None
    assert run.findings("request-failed") == []  # the transfer finding covers the 603


def test_challenge_then_retry_rejected_is_one_attempt() -> None:
    """erspan_sip_ipv4_udp.pcapng: 407, then the REFER re-sent with credentials gets 488."""
    run = Run()
    first = refer(11)
    run.send(0.0, UAC, UAS, first)
    run.send(
        0.002,
        UAS,
        UAC,
        response(first, 407, extra=[("Proxy-Authenticate", 'Digest realm="pbx", nonce="n1"')]),
    )
    retry = refer(
        12, extra=[("Proxy-Authorization", 'Digest username="1001", realm="pbx", nonce="n1"')]
    )
    info = run.send(0.045, UAC, UAS, retry)
    assert any("same transfer attempt" in n.text for n in info.notes)
    run.send(0.047, UAS, UAC, response(retry, 488))
    run.expire(40.0)
    t = run.only("transfer")
    assert t.outcome == "rejected" and t.get("accepted") == 488 and t.get("cseq") == 12
    assert t.get("attempts") == [{"cseq": 11, "status": 407}, {"cseq": 12, "status": 488}]
    assert "re-sent with credentials as CSeq 12" in t.text
    a = run.only("auth-challenge")
    assert a.get("result") == {"cseq": 12, "status": 488} and a.get("username") == "1001"


def test_challenge_never_retried_is_rejected() -> None:
    run = Run()
    r = refer()
    run.send(0.0, UAC, UAS, r)
    run.send(0.01, UAS, UAC, response(r, 407))
    run.expire(40.0)
    t = run.only("transfer")
    assert t.outcome == "rejected" and t.get("ended_by") == "unanswered-challenge"
    assert t.get("accepted") is None and "credentials" in t.remedy


def test_no_subscription_with_refer_sub_false() -> None:
    run = Run()
    r = refer(extra=[("Refer-Sub", "false"), ("Require", "norefersub")])
    run.send(0.0, UAC, UAS, r)
    info = run.send(0.1, UAS, UAC, response(r, 200, extra=[("Refer-Sub", "false")]))
    assert any("Refer-Sub: false" in n.text for n in info.notes)
    run.expire(100.0)
    t = run.only("transfer")
    assert t.outcome == "no-subscription" and t.get("refer_sub") == "false"
    assert run.findings("no-final-response") == []


def test_no_notify_fires_exactly_at_accept_plus_timeout() -> None:
    run = Run(notify_timeout=32.0)
    accepted_transfer(run, status=200, t0=10.0)  # accepted at 10.1
    assert [f for f in run.expire(42.0999) if f.kind == "transfer"] == []
    fired = [f for f in run.expire(42.1) if f.kind == "transfer"]
    assert len(fired) == 1 and fired[0].outcome == "no-notify"
    assert fired[0].severity == "warning" and "32 s" in fired[0].text
    run.finish(100.0)
    assert len(run.findings("transfer")) == 1


def test_no_notify_respects_a_custom_timeout() -> None:
    run = Run(notify_timeout=5.0)
    accepted_transfer(run, status=200)
    assert [f for f in run.expire(5.09) if f.kind == "transfer"] == []
    assert [f.outcome for f in run.expire(5.1) if f.kind == "transfer"] == ["no-notify"]


def test_in_progress_at_capture_end() -> None:
    run = Run()
    accepted_transfer(run)
    send_notify(run, 0.3, 1, "SIP/2.0 180 Ringing", "active")
    found = run.finish(3.0)
    t = next(f for f in found if f.kind == "transfer")
    assert t.outcome == "in-progress" and t.get("ended_by") == "capture-end"
    assert "180 Ringing" in t.text


def test_notify_before_202() -> None:
    run = Run()
    r = refer()
    run.send(0.0, UAC, UAS, r)
    info = send_notify(run, 0.05, 1, "SIP/2.0 100 Trying", "active")
    assert any("before the REFER's final response" in n.text for n in info.notes)
    run.send(0.1, UAS, UAC, response(r, 202))
    send_notify(run, 0.5, 2, "SIP/2.0 200 OK", "terminated;reason=noresource")
    run.expire(5.0)
    t = run.only("transfer")
    assert t.outcome == "succeeded" and t.get("accepted") == 202
    assert "before the REFER's final response" in t.text
    assert run.findings("protocol-violation") == []


def test_terminating_notify_before_202() -> None:
    run = Run()
    r = refer()
    run.send(0.0, UAC, UAS, r)
    send_notify(run, 0.05, 1, "SIP/2.0 503 Service Unavailable", "terminated;reason=noresource")
    assert run.findings("transfer") == []
    run.send(0.1, UAS, UAC, response(r, 202))
    run.expire(5.0)
    t = run.only("transfer")
    assert t.outcome == "failed" and t.get("final_status") == 503 and t.get("accepted") == 202


def test_two_refers_matched_by_event_id() -> None:
    run = Run()
    r5, r6 = refer(5), refer(6, refer_to="<sip:dave@10.0.0.5>")
    run.send(0.0, UAC, UAS, r5)
    run.send(0.01, UAS, UAC, response(r5, 202))
    run.send(0.02, UAC, UAS, r6)
    run.send(0.03, UAS, UAC, response(r6, 202))
    send_notify(run, 0.2, 1, "SIP/2.0 200 OK", "terminated;reason=noresource", event="refer;id=6")
    send_notify(
        run, 0.4, 2, "SIP/2.0 486 Busy Here", "terminated;reason=noresource", event="refer;id=5"
    )
    run.expire(5.0)
    outcomes = {f.get("cseq"): (f.outcome, f.get("refer_to")) for f in run.findings("transfer")}
    assert outcomes == {5: ("failed", REFER_TO), 6: ("succeeded", "<sip:dave@10.0.0.5>")}


def test_attended_transfer_links_the_replacing_invite() -> None:
    run = Run()
    target = "<sip:carol@10.0.0.4?Replaces=consult-7%40h%3Bto-tag%3Dx1%3Bfrom-tag%3Dy1>"
    r = refer(refer_to=target)
    run.send(0.0, UAC, UAS, r)
    run.send(0.1, UAS, UAC, response(r, 202))
    invite = request(
        "INVITE",
        1,
        call_id="call-2",
        from_tag="c9",
        via_host="10.0.0.3",
        extra=[("Replaces", "consult-7@h;to-tag=x1;from-tag=y1"), ("Require", "replaces")],
    )
    info = run.send(0.2, UAS, ("10.0.0.4", 5060), invite)
    assert any("Replaces" in n.text for n in info.notes)
    send_notify(run, 0.6, 1, "SIP/2.0 200 OK", "terminated;reason=noresource")
    run.expire(5.0)
    t = run.only("transfer")
    assert t.get("replaces_call_id") == "consult-7@h"
    assert t.get("replacing_invite") == {"call_id": "call-2", "frame": 3}
    assert 3 in t.frames and t.outcome == "succeeded" and "Attended transfer" in t.text


def test_rejected_notify_gives_notify_rejected() -> None:
    run = Run()
    accepted_transfer(run)
    n = notify(1, "SIP/2.0 100 Trying", "active")
    run.send(0.2, UAS, UAC, n)
    info = run.send(0.21, UAC, UAS, response(n, 481, to_tag=None))
    assert info.problem
    run.finish(10.0)
    rejected = run.only("notify-rejected")
    assert rejected.get("status") == 481 and rejected.get("refer_cseq") == 5
    assert rejected.get("sipfrag_status") == 100 and "no such subscription" in rejected.text
    t = run.only("transfer")
    assert t.get("rejected_notifies") == [{"frame": 3, "status": 481}]
    assert "notify-rejected" in t.text
    assert run.findings("request-failed") == []


def test_multi_hop_refer_is_one_transfer() -> None:
    """Through a proxy every message is seen twice; still one finding with every frame."""
    run = Run()
    r = refer()
    r2 = forward(r)
    run.send(0.0, UAC, PROXY, r)
    hop = run.send(0.001, PROXY, UAS, r2)
    assert hop.hop == 2 and hop.copy_of == 1 and not hop.retransmission
    ok = response(r2, 202)
    run.send(0.1, UAS, PROXY, ok)
    copy = run.send(0.101, PROXY, UAC, strip_via(ok))
    assert copy.copy_of == 3
    n = notify(1, "SIP/2.0 200 OK", "terminated;reason=noresource")
    n2 = forward(n)
    run.send(0.3, UAS, PROXY, n)
    run.send(0.301, PROXY, UAC, n2)
    ok2 = response(n2, 200, to_tag=None)
    run.send(0.31, UAC, PROXY, ok2)
    run.send(0.311, PROXY, UAS, strip_via(ok2))
    run.finish(10.0)
    t = run.only("transfer")
    assert t.outcome == "succeeded" and t.frames == tuple(range(1, 9))
    assert len(t.to_json()["notifies"]) == 1


def test_notify_without_subscription_state_and_final_frag_ends_it() -> None:
    run = Run()
    accepted_transfer(run)
    info = send_notify(run, 0.3, 1, "SIP/2.0 200 OK", None)
    assert any("Subscription-State" in n.text and n.severity == "warning" for n in info.notes)
    run.expire(5.0)
    t = run.only("transfer")
    assert t.outcome == "succeeded" and "without Subscription-State" in t.text


def test_notify_after_termination_is_a_violation() -> None:
    run = Run()
    accepted_transfer(run)
    send_notify(run, 0.3, 1, "SIP/2.0 200 OK", "terminated;reason=noresource")
    info = send_notify(run, 0.35, 2, "SIP/2.0 200 OK", "terminated;reason=noresource")
    assert any("protocol violation" in n.text for n in info.notes)
    v = run.only("protocol-violation")
    assert v.get("machine") == "transfer" and v.get("state") == "done"


def test_outcome_vocabulary_is_exact() -> None:
    assert TRANSFER_OUTCOMES == (
        "succeeded",
        "failed",
        "rejected",
        "no-subscription",
        "no-notify",
        "in-progress",
    )


# -- real captures -----------------------------------------------------------------------------


def _transfers(name: str) -> list[Finding]:
    events = capture_events(public_capture(name))
    return [e for e in events if isinstance(e, Finding) and e.kind == "transfer"]


@pytest.mark.shared
def test_blind_transfer_capture() -> None:
    (t,) = _transfers("blind_transfer.pcap")
    assert t.outcome == "succeeded" and t.get("accepted") == 202 and t.get("cseq") == 3
    assert t.get("refer_to") == "<sip:2345678@sip.domain.com:5060>"
    assert [n["frame"] for n in t.to_json()["notifies"]] == [37]
    assert {22, 23, 24, 25, 37, 38, 39, 40} <= set(t.frames)


@pytest.mark.shared
def test_attended_transfer_capture() -> None:
    events = capture_events(public_capture("attended_transfer.pcap"))
    findings = [e for e in events if isinstance(e, Finding)]
    (t,) = [f for f in findings if f.kind == "transfer"]
    assert t.outcome == "succeeded" and t.get("cseq") == 23830
    assert t.get("replaces_call_id") == "46e232784bc14e94b8b1ad4fce85ed23"
    rejected = [f for f in findings if f.kind == "notify-rejected"]
    assert len(rejected) == 1 and rejected[0].get("status") == 400


@pytest.mark.shared
def test_voip_extension_capture_notifies_rejected_488() -> None:
    events = capture_events(public_capture("voip-extension.pcap"))
    findings = [e for e in events if isinstance(e, Finding)]
    (t,) = [f for f in findings if f.kind == "transfer"]
    assert t.outcome == "in-progress" and t.get("accepted") == 202
    assert [n["sipfrag_status"] for n in t.to_json()["notifies"]] == [100, 180]
    assert t.get("rejected_notifies") == [
        {"frame": 593, "status": 488},
        {"frame": 597, "status": 488},
    ]
    assert [f.get("status") for f in findings if f.kind == "notify-rejected"] == [488, 488]


@pytest.mark.shared
def test_erspan_capture_refer_rejected_after_challenge() -> None:
    transfers = _transfers("erspan_sip_ipv4_udp.pcapng")
    # Two legs of a B2BUA (different From tags and CSeqs): two transfer attempts, both rejected.
    assert len(transfers) == 2
    for t in transfers:
        assert t.outcome == "rejected" and t.get("accepted") == 488
        assert [a["status"] for a in t.to_json()["attempts"]] == [407, 488]
