"""420 Bad Extension, 421 Extension Required and unregistered option tags."""

from __future__ import annotations

import pytest

from sipwatch.correlate.events import Finding
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


def test_420_from_proxy_for_proxy_require_with_successful_retry() -> None:
    run = Run()
    invite = request("INVITE", 1, extra=[("Require", "100rel"), ("Proxy-Require", "foo")])
    run.send(0.0, UAC, PROXY, invite)
    # A stateless proxy rejection: no To tag, Unsupported lists the Proxy-Require tag.
    bad = response(invite, 420, to_tag=None, extra=[("Unsupported", "foo")])
    info = run.send(0.002, PROXY, UAC, bad)
    assert info.answers is not None and info.answers.frame == 1
    assert info.problem and "'foo'" in info.notes[-1].text
    run.send(0.003, UAC, PROXY, request("ACK", 1, branch=invite.branch))
    retry = request("INVITE", 2, extra=[("Require", "100rel")])
    retry_info = run.send(0.010, UAC, PROXY, retry)
    assert any("retry of INVITE CSeq 1" in n.text for n in retry_info.notes)
    hop2 = forward(retry)
    run.send(0.011, PROXY, UAS, hop2)
    ok = response(hop2, 200)
    run.send(0.050, UAS, PROXY, ok)
    run.send(0.051, PROXY, UAC, strip_via(ok))
    run.expire(5.0)
    f = run.only("bad-extension")
    data = f.to_json()
    assert data["method"] == "INVITE" and data["cseq"] == 1
    assert data["required"] == ["100rel"] and data["proxy_required"] == ["foo"]
    assert data["unsupported"] == ["foo"] and data["unsupported_header"] is True
    assert data["retry"] == {"cseq": 2, "status": 200}
    assert data["answered_by"] == "proxy" and data["answered_from"] == "10.0.0.2:5060"
    assert f.severity == "warning"  # the retry worked
    assert "Proxy-Require" in f.text and "without 'foo'" in f.text and "200 OK" in f.text
    assert "remove 'foo' from Proxy-Require on the UA at 10.0.0.1:5060" in f.remedy
    assert "proxy at 10.0.0.2:5060" in f.remedy
    assert set(f.frames) == {1, 2, 3, 4, 5, 6, 7}


def test_420_from_uas_through_a_proxy_is_one_finding() -> None:
    run = Run()
    invite = request("INVITE", 1, extra=[("Require", "timer, foo")])
    run.send(0.0, UAC, PROXY, invite)
    hop2 = forward(invite)
    run.send(0.001, PROXY, UAS, hop2)
    bad = response(hop2, 420, extra=[("Unsupported", "foo")])
    run.send(0.020, UAS, PROXY, bad)
    copy = run.send(0.021, PROXY, UAC, strip_via(bad))
    assert copy.hop == 1 and copy.copy_of == 3
    retry = request("INVITE", 2, extra=[("Require", "timer")])
    run.send(0.030, UAC, PROXY, retry)
    run.send(0.031, PROXY, UAC, response(retry, 486))
    run.finish(60.0)
    (f,) = run.findings("bad-extension")
    assert f.get("answered_by") == "uas" and f.get("answered_from") == "10.0.0.3:5060"
    assert f.get("required") == ["timer", "foo"] and f.get("unsupported") == ["foo"]
    assert f.get("retry") == {"cseq": 2, "status": 486}
    assert f.severity == "error"  # the retry did not succeed
    assert {1, 2, 3, 4} <= set(f.frames)
    assert "Require on the UA at 10.0.0.1:5060" in f.remedy and "UAS at 10.0.0.3:5060" in f.remedy


def test_420_without_unsupported_header_warns() -> None:
    run = Run()
    invite = request("INVITE", 1, extra=[("Require", "foo")])
    run.send(0.0, UAC, UAS, invite)
    info = run.send(0.01, UAS, UAC, response(invite, 420))
    assert "no Unsupported header" in info.notes[-1].text
    run.finish(50.0)
    f = run.only("bad-extension")
    assert f.get("unsupported") == [] and f.get("unsupported_header") is False
    assert "no Unsupported header" in f.text and "RFC 3261 §8.2.2.3" in f.text
    assert f.get("retry") is None and f.severity == "error"


def test_420_retry_still_requiring_the_tag_is_called_out() -> None:
    run = Run()
    invite = request("INVITE", 1, extra=[("Require", "foo")])
    run.send(0.0, UAC, UAS, invite)
    run.send(0.01, UAS, UAC, response(invite, 420, extra=[("Unsupported", "foo")]))
    again = request("INVITE", 2, extra=[("Require", "foo")])
    run.send(0.02, UAC, UAS, again)
    run.send(0.03, UAS, UAC, response(again, 420, extra=[("Unsupported", "foo")]))
    run.finish(100.0)
    first, second = run.findings("bad-extension")
    assert first.get("cseq") == 1 and first.get("retry") == {"cseq": 2, "status": 420}
    assert "still requiring 'foo'" in first.text
    assert second.get("cseq") == 2 and second.get("retry") is None


def test_420_without_retry_waits_for_the_retry_window() -> None:
    run = Run(retry_window=10.0)
    invite = request("INVITE", 1, extra=[("Require", "foo")])
    run.send(0.0, UAC, UAS, invite)
    run.send(0.01, UAS, UAC, response(invite, 420, extra=[("Unsupported", "foo")]))
    assert [f for f in run.expire(10.5) if f.kind == "bad-extension"] == []
    (f,) = [f for f in run.expire(10.51) if f.kind == "bad-extension"]
    assert f.get("retry") is None and "No retry" in f.text


def test_421_with_retry() -> None:
    run = Run()
    invite = request("INVITE", 1, extra=[("Supported", "timer, replaces")])
    run.send(0.0, UAC, UAS, invite)
    info = run.send(0.01, UAS, UAC, response(invite, 421, extra=[("Require", "100rel")]))
    assert "insists on '100rel'" in info.notes[-1].text
    retry = request("INVITE", 2, extra=[("Supported", "100rel, timer, replaces")])
    run.send(0.02, UAC, UAS, retry)
    run.send(0.05, UAS, UAC, response(retry, 200))
    run.finish(10.0)
    f = run.only("extension-required")
    assert f.get("required") == ["100rel"] and f.get("supported") == ["timer", "replaces"]
    assert f.get("missing") == ["100rel"] and f.get("retry") == {"cseq": 2, "status": 200}
    assert "now offering '100rel'" in f.text and "PRACK" in f.text and "§21.4.16" in f.text
    assert f.severity == "warning" and "Enable '100rel' on the UA at 10.0.0.1:5060" in f.remedy


def test_unregistered_option_tag_reported_once_per_call_with_suggestion() -> None:
    run = Run()
    invite = request("INVITE", 1, extra=[("Require", "100rel, precondtion")])
    info = run.send(0.0, UAC, PROXY, invite)
    assert any("precondtion" in n.text for n in info.notes)
    run.send(0.001, PROXY, UAS, forward(invite))
    run.send(0.05, UAS, PROXY, response(forward(invite), 200))
    run.finish(5.0)
    f = run.only("unregistered-option-tag")
    assert f.get("tag") == "precondtion" and f.get("suggestion") == "precondition"
    assert f.get("header") == "Require" and f.severity == "warning"
    assert "'precondtion' -> 'precondition'" in f.remedy


def test_no_option_tag_check_without_a_registry() -> None:
    run = Run(registered_option_tags=None)
    invite = request("OPTIONS", 1, extra=[("Supported", "made-up")])
    run.send(0.0, UAC, UAS, invite)
    run.send(0.01, UAS, UAC, response(invite, 200))
    run.finish(5.0)
    assert run.findings("unregistered-option-tag") == []


@pytest.mark.shared
def test_ipv6frag_capture_precondtion_typo() -> None:
    events = capture_events(public_capture("ipv6frag.pcap"))
    tags = [e for e in events if isinstance(e, Finding) and e.kind == "unregistered-option-tag"]
    assert [(f.get("tag"), f.get("suggestion")) for f in tags] == [("precondtion", "precondition")]
