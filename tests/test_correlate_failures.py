"""422, 423, 491, 3xx, 5xx, other failures, Reason and Warning headers."""

from __future__ import annotations

import pytest

from sipwatch.correlate.events import Finding
from sipwatch.correlate.failures import retry_after
from sipwatch.correlate.notices import parse_reason, parse_warning
from tests.conftest import public_capture
from tests.test_correlate_factory import UAC, UAS, Run, capture_events, request, response


def test_422_gives_the_session_interval_to_use() -> None:
    run = Run()
    invite = request("INVITE", 1, extra=[("Session-Expires", "90"), ("Supported", "timer")])
    run.send(0.0, UAC, UAS, invite)
    info = run.send(0.01, UAS, UAC, response(invite, 422, extra=[("Min-SE", "1800")]))
    assert "Session-Expires >= 1800" in info.notes[-1].text
    retry = request("INVITE", 2, extra=[("Session-Expires", "1800"), ("Min-SE", "1800")])
    run.send(0.02, UAC, UAS, retry)
    run.send(0.05, UAS, UAC, response(retry, 200))
    run.finish(10.0)
    f = run.only("session-interval-too-small")
    assert f.get("min_se") == 1800 and f.get("session_expires") == 90
    assert f.get("use_session_expires") == 1800 and f.get("retry") == {"cseq": 2, "status": 200}
    assert "RFC 4028" in f.text and "with Session-Expires: 1800" in f.text and f.severity == "info"


def test_423_gives_the_expiration_to_use() -> None:
    run = Run()
    register = request("REGISTER", 5, extra=[("Contact", "<sip:a@10.0.0.1>;expires=60")])
    run.send(0.0, UAC, UAS, register)
    run.send(0.01, UAS, UAC, response(register, 423, extra=[("Min-Expires", "3600")]))
    run.finish(50.0)
    f = run.only("interval-too-brief")
    assert f.get("min_expires") == 3600 and f.get("expires") == 60 and f.get("retry") is None
    assert f.severity == "warning" and "at least 3600 s" in f.remedy
    assert "§10.2.8" in f.text


def test_491_glare_with_crossing_reinvite_and_timed_retry() -> None:
    run = Run()
    invite = request("INVITE", 1)
    run.send(0.0, UAC, UAS, invite)
    run.send(0.1, UAS, UAC, response(invite, 200))
    run.send(0.2, UAC, UAS, request("ACK", 1, to_tag="b1"))
    mine = request("INVITE", 2, to_tag="b1")
    theirs = request("INVITE", 7, from_tag="b1", to_tag="a1", via_host="10.0.0.3")
    run.send(10.0, UAC, UAS, mine)
    run.send(10.001, UAS, UAC, theirs)
    run.send(10.01, UAS, UAC, response(mine, 491, to_tag=None))
    retry = request("INVITE", 3, to_tag="b1")
    run.send(12.61, UAC, UAS, retry)
    run.send(12.7, UAS, UAC, response(retry, 200, to_tag=None))
    run.finish(60.0)
    f = run.only("glare")
    assert f.get("crossing") == {"method": "INVITE", "cseq": 7, "frame": 5}
    retry_json = f.get("retry")
    assert isinstance(retry_json, dict) and retry_json["cseq"] == 3 and retry_json["status"] == 200
    assert 2.5 < retry_json["delay"] < 2.7
    assert "owns the Call-ID" in f.text and "2.1-4 s" in f.text and 5 in f.frames


def test_302_lists_contacts() -> None:
    run = Run()
    invite = request("INVITE", 1)
    run.send(0.0, UAC, UAS, invite)
    moved = response(
        invite, 302, extra=[("Contact", "<sip:bob@10.0.0.9>;q=0.7, <sip:bob@10.0.0.8>")]
    )
    info = run.send(0.01, UAS, UAC, moved)
    assert "redirect to" in info.notes[-1].text
    run.finish(60.0)
    f = run.only("redirect")
    assert f.get("contacts") == ["<sip:bob@10.0.0.9>;q=0.7", "<sip:bob@10.0.0.8>"]
    assert f.get("status") == 302 and f.severity == "info"


def test_503_with_retry_after_is_unavailable() -> None:
    run = Run()
    invite = request("INVITE", 1)
    run.send(0.0, UAC, UAS, invite)
    run.send(0.01, UAS, UAC, response(invite, 503, extra=[("Retry-After", "120 (maintenance)")]))
    run.finish(5.0)
    f = run.only("unavailable")
    assert f.get("retry_after") == 120 and f.get("retry_after_comment") == "maintenance"
    assert "do not retry this server before then" in f.text and f.severity == "warning"


def test_500_is_server_error_and_404_request_failed() -> None:
    run = Run()
    a = request("OPTIONS", 1, call_id="x1")
    b = request("INVITE", 1, call_id="x2")
    run.send(0.0, UAC, UAS, a)
    run.send(0.01, UAS, UAC, response(a, 500))
    run.send(0.02, UAC, UAS, b)
    run.send(0.03, UAS, UAC, response(b, 404))
    run.finish(5.0)
    assert run.only("server-error").get("status") == 500
    failed = run.only("request-failed")
    assert failed.get("status") == 404 and failed.get("request_uri") == "sip:bob@10.0.0.3"
    assert "unknown at the server" in failed.text


def test_reason_q850_on_bye() -> None:
    run = Run()
    bye = request(
        "BYE", 2, to_tag="b1", extra=[("Reason", 'Q.850;cause=16;text="Normal call clearing"')]
    )
    run.send(0.0, UAC, UAS, bye)
    run.send(0.01, UAS, UAC, response(bye, 200))
    run.finish(5.0)
    f = run.only("reason")
    assert f.get("protocol") == "Q.850" and f.get("cause") == 16 and f.severity == "info"
    assert f.get("reason_text") == "Normal call clearing" and f.get("method") == "BYE"
    assert f.get("status") is None


def test_reason_on_a_failure_response_is_a_warning() -> None:
    run = Run()
    invite = request("INVITE", 1)
    run.send(0.0, UAC, UAS, invite)
    run.send(0.01, UAS, UAC, response(invite, 503, extra=[("Reason", "Q.850;cause=34")]))
    run.finish(5.0)
    f = run.only("reason")
    assert f.get("cause") == 34 and f.get("status") == 503 and f.severity == "warning"


def test_warning_header_on_488() -> None:
    run = Run()
    invite = request("INVITE", 1)
    run.send(0.0, UAC, UAS, invite)
    warn = '305 gw.example "Incompatible media format"'
    run.send(0.01, UAS, UAC, response(invite, 488, extra=[("Warning", warn)]))
    run.finish(5.0)
    f = run.only("warning-header")
    assert f.get("code") == 305 and f.get("agent") == "gw.example"
    assert f.get("warn_text") == "Incompatible media format" and f.severity == "warning"
    assert run.only("request-failed").get("status") == 488


def test_header_parsers() -> None:
    assert parse_reason('SIP ;cause=200 ;text="Call completed elsewhere"') == (
        "SIP",
        200,
        "Call completed elsewhere",
    )
    assert parse_warning('399 host "Missing Subscription-State header"') == (
        399,
        "host",
        "Missing Subscription-State header",
    )
    assert retry_after(
        response(request("INVITE", 1), 503, extra=[("Retry-After", "18000;duration=3600")])
    ) == (18000, None, 3600)


@pytest.mark.shared
def test_private_test_capture_has_server_failures() -> None:
    events = capture_events(public_capture("private-test-sip.pcapng"))
    kinds = {e.kind for e in events if isinstance(e, Finding)}
    assert {"server-error", "unavailable", "request-failed", "auth-challenge"} <= kinds
