"""Digest challenges: 401/407, the retry with credentials, loops."""

from __future__ import annotations

from sipwatch.sip.message import SipMessage
from tests.test_correlate_factory import UAC, UAS, Run, request, response

CHALLENGE = 'Digest realm="pbx.example", nonce="n1", algorithm=MD5'


def creds(nonce: str = "n1", header: str = "Authorization") -> list[tuple[str, str]]:
    return [(header, f'Digest username="1001", realm="pbx.example", nonce="{nonce}", response="x"')]


def challenge(run: Run, ts: float, req: SipMessage, status: int = 401, stale: bool = False) -> None:
    header = "Proxy-Authenticate" if status == 407 else "WWW-Authenticate"
    value = CHALLENGE + (", stale=TRUE" if stale else "")
    run.send(ts, UAS, UAC, response(req, status, extra=[(header, value)]))


def test_407_then_retry_with_credentials_succeeds() -> None:
    run = Run()
    invite = request("INVITE", 1)
    run.send(0.0, UAC, UAS, invite)
    challenge(run, 0.01, invite, 407)
    run.send(0.011, UAC, UAS, request("ACK", 1, branch=invite.branch))
    retry = request("INVITE", 2, extra=creds(header="Proxy-Authorization"))
    info = run.send(0.05, UAC, UAS, retry)
    assert any("retry of INVITE CSeq 1 (frame 1) after 407" in n.text for n in info.notes)
    run.send(0.2, UAS, UAC, response(retry, 200))
    run.expire(5.0)
    f = run.only("auth-challenge")
    data = f.to_json()
    assert f.severity == "info" and data["status"] == 407 and data["realm"] == "pbx.example"
    assert data["retry"] == {"cseq": 2, "status": 200} and data["result"] == {
        "cseq": 2,
        "status": 200,
    }
    assert data["username"] == "1001" and data["count"] == 1
    assert "authentication worked" in f.text and f.remedy == ""
    assert set(f.frames) == {1, 2, 3, 4, 5}


def test_auth_loop_when_challenged_again_and_again() -> None:
    run = Run()
    req = request("REGISTER", 1)
    run.send(0.0, UAC, UAS, req)
    challenge(run, 0.01, req)
    for cseq in (2, 3, 4):
        req = request("REGISTER", cseq, extra=creds())
        run.send(cseq * 0.1, UAC, UAS, req)
        challenge(run, cseq * 0.1 + 0.01, req)
    run.finish(100.0)
    f = run.only("auth-loop")
    assert f.severity == "error" and f.get("count") == 4
    assert [c["cseq"] for c in f.to_json()["challenges"]] == [1, 2, 3, 4]
    assert "credentials were rejected" in f.text and "Challenged 4 times" in f.text
    assert "password" in f.remedy and "1001" in f.remedy
    assert run.findings("auth-challenge") == []


def test_stale_nonce_rechallenge_then_success_is_not_a_loop() -> None:
    run = Run()
    req = request("REGISTER", 1, extra=creds("old"))
    run.send(0.0, UAC, UAS, req)
    challenge(run, 0.01, req, stale=True)
    retry = request("REGISTER", 2, extra=creds("n1"))
    run.send(0.05, UAC, UAS, retry)
    run.send(0.06, UAS, UAC, response(retry, 200))
    run.finish(10.0)
    f = run.only("auth-challenge")
    assert f.severity == "info" and f.get("result") == {"cseq": 2, "status": 200}
    assert f.to_json()["challenges"][0]["stale"] is True


def test_challenge_without_retry_warns_after_the_window() -> None:
    run = Run(retry_window=20.0)
    req = request("REGISTER", 1)
    run.send(0.0, UAC, UAS, req)
    challenge(run, 0.01, req)
    assert [f for f in run.expire(20.50) if f.kind == "auth-challenge"] == []
    (f,) = [f for f in run.expire(20.51) if f.kind == "auth-challenge"]
    assert f.severity == "warning" and f.get("result") is None
    assert 'Configure credentials for realm "pbx.example"' in f.remedy


def test_credentials_refused_with_403() -> None:
    run = Run()
    req = request("REGISTER", 1)
    run.send(0.0, UAC, UAS, req)
    challenge(run, 0.01, req)
    retry = request("REGISTER", 2, extra=creds())
    run.send(0.05, UAC, UAS, retry)
    run.send(0.06, UAS, UAC, response(retry, 403))
    run.finish(10.0)
    f = run.only("auth-challenge")
    assert f.severity == "warning" and f.get("result") == {"cseq": 2, "status": 403}
    assert "refused" in f.text and "password" in f.remedy
    assert run.findings("request-failed") != []  # the 403 itself is reported too


def test_retry_needs_the_same_call_id() -> None:
    run = Run()
    req = request("REGISTER", 1)
    run.send(0.0, UAC, UAS, req)
    challenge(run, 0.01, req)
    other = request("REGISTER", 2, call_id="call-2", extra=creds())  # another registration
    run.send(0.05, UAC, UAS, other)
    run.send(0.06, UAS, UAC, response(other, 200))
    run.finish(100.0)
    assert run.only("auth-challenge").get("retry") is None


def test_retry_outside_a_dialog_may_change_its_from_tag() -> None:
    """public aaa.pcap: the UA picks a new From tag for every REGISTER (RFC 3261 §8.1.1.3), its
    retry with credentials keeps only the Call-ID and a higher CSeq (§10.2, §22.2)."""
    run = Run()
    req = request("REGISTER", 1)
    run.send(0.0, UAC, UAS, req)
    challenge(run, 0.01, req)
    retry = request("REGISTER", 2, from_tag="zz", extra=creds())
    run.send(0.05, UAC, UAS, retry)
    run.send(0.06, UAS, UAC, response(retry, 200))
    run.finish(100.0)
    f = run.only("auth-challenge")
    assert f.get("retry") == {"cseq": 2, "status": 200} and f.severity == "info"


def test_retry_inside_a_dialog_keeps_its_from_tag() -> None:
    """In a dialog the From tag is the dialog's (§12.2.1.1): another tag is another dialog."""
    run = Run()
    req = request("BYE", 1, to_tag="b1")
    run.send(0.0, UAC, UAS, req)
    challenge(run, 0.01, req, status=407)
    other = request("BYE", 2, from_tag="zz", to_tag="b1", extra=creds("n1", "Proxy-Authorization"))
    run.send(0.05, UAC, UAS, other)
    run.send(0.06, UAS, UAC, response(other, 200))
    run.finish(100.0)
    assert run.only("auth-challenge").get("retry") is None
