"""Transaction keys, retransmissions, hop copies, storms, and bounded tables."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from sipwatch.correlate import Limits
from sipwatch.correlate.transactions import (
    exchange_key,
    message_facts,
    transaction_key,
)
from sipwatch.sip.headers import _header_param_full, header_param
from sipwatch.sip.message import SipMessage
from sipwatch.sip.parser import parse_message
from tests.test_correlate_factory import (
    PROXY,
    UAC,
    UAS,
    Run,
    forward,
    request,
    response,
    strip_via,
)


def test_transaction_key_uses_branch_sent_by_and_method() -> None:
    invite = request("INVITE", 1, branch="z9hG4bK-abc")
    assert transaction_key(invite) == "z9hG4bK-abc|10.0.0.1:5060|INVITE"
    ack = request("ACK", 1, branch="z9hG4bK-abc")
    cancel = request("CANCEL", 1, branch="z9hG4bK-abc")
    assert transaction_key(ack) == transaction_key(invite)  # §17.2.3: ACK matches the INVITE
    assert transaction_key(cancel) != transaction_key(invite)  # CANCEL is its own transaction
    assert transaction_key(response(invite, 180)) == transaction_key(invite)
    assert exchange_key(invite) == ("call-1", 1, "INVITE", "a1")


def test_rfc2543_fallback_key_ignores_received_params() -> None:
    old = request("INVITE", 1, branch="1234")  # no z9hG4bK cookie: RFC 2543 peer
    key = transaction_key(old)
    assert key.startswith("2543|call-1|1|INVITE|a1|")
    resp = response(old, 180)
    assert transaction_key(resp) == key
    run = Run()
    run.send(0.0, UAC, UAS, old)
    assert run.send(0.5, UAC, UAS, old).retransmission
    info = run.send(0.6, UAS, UAC, resp)
    assert info.answers is not None and info.answers.frame == 1


def test_retransmissions_of_requests_and_responses_are_marked() -> None:
    run = Run()
    invite = request("INVITE", 1)
    first = run.send(0.0, UAC, UAS, invite)
    assert not first.retransmission and first.hop == 1 and first.copy_of is None
    again = run.send(0.5, UAC, UAS, invite)
    assert again.retransmission and again.retransmission_of == 1
    ok = response(invite, 200)
    assert not run.send(0.6, UAS, UAC, ok).retransmission
    repeat = run.send(1.1, UAS, UAC, ok)
    assert repeat.retransmission and repeat.retransmission_of == 3
    assert repeat.answers is not None and repeat.answers.frame == 1
    assert run.correlator.stats.retransmissions == 2


def test_reliable_provisionals_with_new_rseq_are_not_retransmissions() -> None:
    run = Run()
    invite = request("INVITE", 1, extra=[("Supported", "100rel")])
    run.send(0.0, UAC, UAS, invite)
    one = response(invite, 183, extra=[("RSeq", "1"), ("Require", "100rel")])
    two = response(invite, 183, extra=[("RSeq", "2"), ("Require", "100rel")])
    assert not run.send(0.1, UAS, UAC, one).retransmission
    assert run.send(0.6, UAS, UAC, one).retransmission
    assert not run.send(0.7, UAS, UAC, two).retransmission


def test_request_storm_answered_late() -> None:
    run = Run(storm_threshold=4)
    options = request("OPTIONS", 1)
    for i in range(6):
        run.send(i * 0.5, UAC, UAS, options)
    run.send(3.1, UAS, UAC, response(options, 200))
    run.finish(60.0)
    f = run.only("retransmissions")
    assert f.get("what") == "request" and f.get("count") == 5 and f.severity == "warning"
    assert "retransmitted 5 times from 10.0.0.1:5060 to 10.0.0.3:5060" in f.text


def test_2xx_storm_means_the_ack_never_arrived() -> None:
    run = Run()
    invite = request("INVITE", 1)
    run.send(0.0, UAC, UAS, invite)
    ok = response(invite, 200)
    for i in range(7):
        run.send(0.5 + i, UAS, UAC, ok)
    run.finish(60.0)
    f = run.only("retransmissions")
    assert f.get("what") == "response" and f.get("status") == 200 and f.get("count") == 6
    assert "§13.3.1.4" in f.text and "ACK" in f.remedy


def test_multi_hop_failure_is_one_finding_with_every_copy() -> None:
    run = Run()
    invite = request("INVITE", 1)
    run.send(0.0, UAC, PROXY, invite)
    hop = run.send(0.001, PROXY, UAS, forward(invite))
    assert hop.hop == 2 and hop.copy_of == 1 and not hop.retransmission
    busy = response(forward(invite), 486)
    run.send(0.2, UAS, PROXY, busy)
    up = run.send(0.201, PROXY, UAC, strip_via(busy))
    assert up.copy_of == 3 and up.answers is not None and up.answers.frame == 1
    run.send(0.202, UAC, PROXY, request("ACK", 1, to_tag="b1", branch=invite.branch))
    run.send(0.203, PROXY, UAS, forward(request("ACK", 1, to_tag="b1", branch=invite.branch)))
    run.finish(60.0)
    f = run.only("request-failed")
    assert f.frames == (1, 2, 3, 4, 5, 6) and f.get("status") == 486
    assert run.correlator.stats.hop_copies == 1


def test_forked_2xx_beats_a_failure_of_another_branch() -> None:
    run = Run()
    invite = request("INVITE", 1)
    run.send(0.0, UAC, PROXY, invite)
    a = forward(invite, branch="z9hG4bK-fork-a")
    b = forward(invite, branch="z9hG4bK-fork-b")
    run.send(0.001, PROXY, UAS, a)
    run.send(0.001, PROXY, ("10.0.0.4", 5060), b)
    run.send(0.1, UAS, PROXY, response(a, 486, to_tag="x"))
    run.send(0.2, ("10.0.0.4", 5060), PROXY, response(b, 200, to_tag="y"))
    run.send(0.201, PROXY, UAC, strip_via(response(b, 200, to_tag="y")))
    run.finish(60.0)
    assert run.findings("request-failed") == []


def test_exchange_table_is_bounded_and_evictions_counted() -> None:
    run = Run(limits=Limits(exchanges=3))
    for i in range(10):
        run.send(float(i), UAC, UAS, request("OPTIONS", 1, call_id=f"c{i}"))
    assert run.correlator.open_exchanges == 3
    assert run.correlator.stats.evicted["exchanges"] == 7
    # Evicted exchanges still report what they know (here: unanswered at eviction time).
    evicted = [f for f in run.findings("no-final-response") if f.get("timed_out") is False]
    assert len(evicted) == 7


def test_dialog_table_is_bounded() -> None:
    run = Run(limits=Limits(dialogs=2))
    for i in range(5):
        invite = request("INVITE", 1, call_id=f"d{i}")
        run.send(float(i), UAC, UAS, invite)
        run.send(float(i) + 0.1, UAS, UAC, response(invite, 200))
    assert run.correlator.open_dialogs == 2
    assert run.correlator.stats.evicted["dialogs"] == 3
    assert run.correlator.stats.dialogs == 5


def test_transfer_table_is_bounded_and_evicted_transfers_are_reported() -> None:
    run = Run(limits=Limits(transfers=1))
    for i in range(3):
        refer = request("REFER", 1, call_id=f"r{i}", to_tag="b1", extra=[("Refer-To", "<sip:x@y>")])
        run.send(float(i), UAC, UAS, refer)
    assert run.correlator.open_transfers == 1
    assert run.correlator.stats.evicted["transfers"] == 2
    evicted = [f for f in run.findings("transfer") if f.get("ended_by") == "evicted"]
    assert len(evicted) == 2 and all(f.outcome == "in-progress" for f in evicted)


def test_state_expires_in_capture_time() -> None:
    run = Run()
    invite = request("INVITE", 1)
    run.send(0.0, UAC, UAS, invite)
    run.send(0.1, UAS, UAC, response(invite, 404))
    run.send(0.2, UAC, UAS, request("ACK", 1, to_tag="b1", branch=invite.branch))
    assert run.correlator.open_exchanges == 1
    run.expire(200.0)
    assert run.correlator.open_exchanges == 0 and run.correlator.open_dialogs == 0


def test_stats_json_has_every_counter() -> None:
    run = Run()
    run.send(0.0, UAC, UAS, request("OPTIONS", 1))
    run.finish(1.0)
    stats = run.correlator.stats.to_json()
    assert stats["messages"] == 1 and stats["exchanges"] == 1
    assert stats["findings"] == {"no-final-response": 1}
    assert set(stats) >= {"evicted", "expired", "violations", "hop_copies", "retransmissions"}


def test_facts_of_compact_form_and_folded_vias() -> None:
    raw = (
        b"INVITE sip:b@h SIP/2.0\r\n"
        b"v: SIP/2.0/UDP 1.2.3.4:5060;branch=z9hG4bKx, SIP/2.0/UDP 5.6.7.8;branch=z9hG4bKy\r\n"
        b"f: <sip:a@h>;tag=ft\r\nt: <sip:b@h>\r\ni: cid\r\nCSeq: 1 INVITE\r\nl: 0\r\n\r\n"
    )
    msg = parse_message(raw)
    assert isinstance(msg, SipMessage)
    facts = message_facts(msg)
    assert (facts.call_id, facts.from_tag, facts.to_tag, facts.via_count) == ("cid", "ft", "", 2)
    assert facts.tx_key == "z9hG4bKx|1.2.3.4:5060|INVITE"


_TOKEN = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-.!%*_+`'~", min_size=1, max_size=12)


@given(
    name=st.sampled_from(["tag", "branch"]),
    value=_TOKEN,
    display=st.sampled_from(["", '"Bob" ', '"A;b<c" ', "Bob "]),
    uri_param=st.sampled_from(["", ";tag=inner", ";lr", ";transport=udp"]),
    before=st.sampled_from(["", ";x=1", ";flag", ';q="1;2"']),
    after=st.sampled_from(["", ";y=2", ";flag"]),
    upper=st.booleans(),
)
def test_fast_spelling_agrees_with_the_header_grammar(
    name: str, value: str, display: str, uri_param: str, before: str, after: str, upper: bool
) -> None:
    key = name.upper() if upper else name
    header = f"{display}<sip:a@h{uri_param}>{before};{key}={value}{after}"
    assert header_param(header, name) == _header_param_full(header, name)
    assert header_param(header, name) == value
    assert header_param(f"<sip:a@h{uri_param}>{before}", name) == _header_param_full(
        f"<sip:a@h{uri_param}>{before}", name
    )
