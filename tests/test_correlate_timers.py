"""Timers in capture time: Timer B/F/C, capture end, late responses, CANCEL and ACK."""

from __future__ import annotations

from tests.test_correlate_factory import UAC, UAS, Run, request, response


def test_unanswered_invite_fires_timer_b_at_exactly_32_s() -> None:
    run = Run()
    invite = request("INVITE", 1)
    run.send(100.0, UAC, UAS, invite)
    for ts in (100.5, 101.5, 103.5, 107.5):  # Timer A retransmissions
        assert run.send(ts, UAC, UAS, invite).retransmission
    assert [f for f in run.expire(131.999) if f.kind == "no-final-response"] == []
    (f,) = [f for f in run.expire(132.0) if f.kind == "no-final-response"]
    data = f.to_json()
    assert data["timer"] == "B" and data["timed_out"] is True and data["timeout"] == 32.0
    assert data["sent"] == 5 and data["provisional"] is None and f.severity == "error"
    assert "no response at all within 32 s (Timer B, RFC 3261 §17.1.1.2)" in f.text
    assert "4 retransmissions" in f.text and "reachable" in f.remedy
    assert data["frames"] == [1, 2, 3, 4, 5]
    run.finish(200.0)
    assert len(run.findings("no-final-response")) == 1
    assert run.findings("retransmissions") == []  # the unanswered request's own retransmissions


def test_unanswered_non_invite_fires_timer_f_even_after_a_provisional() -> None:
    run = Run()
    options = request("OPTIONS", 7)
    run.send(0.0, UAC, UAS, options)
    run.send(0.1, UAS, UAC, response(options, 100, to_tag=None))
    assert [f for f in run.expire(31.9) if f.kind == "no-final-response"] == []
    (f,) = [f for f in run.expire(32.0) if f.kind == "no-final-response"]
    assert f.get("timer") == "F" and f.get("method") == "OPTIONS" and f.get("provisional") == 100
    assert "Timer F, RFC 3261 §17.1.2.2" in f.text


def test_ringing_invite_waits_for_timer_c() -> None:
    run = Run(proceeding_timeout=180.0)
    invite = request("INVITE", 1)
    run.send(0.0, UAC, UAS, invite)
    run.send(1.0, UAS, UAC, response(invite, 180))
    assert [f for f in run.expire(100.0) if f.kind == "no-final-response"] == []
    assert [f for f in run.expire(180.99) if f.kind == "no-final-response"] == []
    (f,) = [f for f in run.expire(181.0) if f.kind == "no-final-response"]
    assert f.get("timer") == "C" and f.get("provisional") == 180
    assert "Timer C, RFC 3261 §16.6 step 11" in f.text and "no-answer" in f.remedy


def test_capture_end_reports_unanswered_request_as_not_timed_out() -> None:
    run = Run()
    run.send(0.0, UAC, UAS, request("BYE", 3, to_tag="b1"))
    (f,) = [f for f in run.finish(1.25) if f.kind == "no-final-response"]
    assert f.get("timed_out") is False and f.severity == "info"
    assert f.get("elapsed") == 1.25 and "capture ended 1.250 s after" in f.text


def test_late_final_after_timeout_is_noted() -> None:
    run = Run()
    invite = request("INVITE", 1)
    run.send(0.0, UAC, UAS, invite)
    run.expire(40.0)
    info = run.send(41.0, UAS, UAC, response(invite, 486))
    assert any("after the observer's transaction timeout" in n.text for n in info.notes)
    assert info.severity == "warning"


def test_cancel_487_and_ack_belong_to_the_invite() -> None:
    run = Run()
    invite = request("INVITE", 1)
    run.send(0.0, UAC, UAS, invite)
    ringing = run.send(0.1, UAS, UAC, response(invite, 180))
    assert ringing.dialog_state == "early"
    cancel = request("CANCEL", 1, branch=invite.branch)
    info = run.send(2.0, UAC, UAS, cancel)
    assert any("cancels INVITE CSeq 1 (frame 1" in n.text for n in info.notes)
    run.send(2.01, UAS, UAC, response(cancel, 200))
    terminated = run.send(2.02, UAS, UAC, response(invite, 487))
    assert terminated.dialog_state == "terminated"
    assert "terminated by the CANCEL in frame 3" in terminated.notes[-1].text
    ack = request("ACK", 1, to_tag="b1", branch=invite.branch)
    ack_info = run.send(2.03, UAC, UAS, ack)
    assert ack_info.transaction == terminated.transaction  # RFC 3261 §17.1.1.3
    assert any("ACK for 487" in n.text for n in ack_info.notes)
    run.finish(100.0)
    assert [f.kind for f in run.findings()] == []


def test_ack_for_2xx_confirms_dialog_and_is_its_own_transaction() -> None:
    run = Run()
    invite = request("INVITE", 1)
    run.send(0.0, UAC, UAS, invite)
    ok = run.send(0.5, UAS, UAC, response(invite, 200))
    assert ok.dialog_state == "confirmed"
    ack = run.send(0.6, UAC, UAS, request("ACK", 1, to_tag="b1"))
    assert ack.transaction != ok.transaction and ack.exchange == ok.exchange
    assert any("acknowledges the 2xx end to end" in n.text for n in ack.notes)
    bye = request("BYE", 2, to_tag="b1")
    assert run.send(5.0, UAC, UAS, bye).dialog_state == "terminated"
    run.send(5.01, UAS, UAC, response(bye, 200))
    run.finish(6.0)
    assert run.findings() == []


def test_expire_never_runs_backwards_and_is_idempotent() -> None:
    run = Run()
    run.send(10.0, UAC, UAS, request("OPTIONS", 1))
    assert run.expire(50.0) != []
    assert run.expire(20.0) == [] and run.expire(50.0) == []


def test_capture_ending_with_the_last_retransmission_is_a_timeout() -> None:
    """captures/invite-unanswered.pcap: 7 sends over 31.5 s, the capture ends with the last
    one. Timer A allows no later send (RFC 3261 §17.1.1.2), so within T1 of Timer B the UAC has
    given up as far as any capture can show: a timeout, not a capture cut short."""
    run = Run()
    invite = request("INVITE", 1)
    for ts in (0.0, 0.5, 1.5, 3.5, 7.5, 15.5, 31.5):
        run.send(ts, UAC, UAS, invite)
    (f,) = [f for f in run.finish(31.6) if f.kind == "no-final-response"]
    assert f.get("timed_out") is True and f.get("sent") == 7 and f.severity == "error"
    assert "no response at all within 32 s (Timer B" in f.text


def test_capture_end_during_retransmissions_is_a_warning() -> None:
    """Cut after the 16 s retransmission, more than T1 before Timer B: nothing is concluded."""
    run = Run()
    invite = request("INVITE", 1)
    for ts in (0.0, 0.5, 1.5, 3.5, 7.5, 15.5):
        run.send(ts, UAC, UAS, invite)
    (f,) = [f for f in run.finish(20.0) if f.kind == "no-final-response"]
    assert f.get("timed_out") is False and f.get("sent") == 6 and f.severity == "warning"
