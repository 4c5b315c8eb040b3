"""The call model: real captures through the real pipeline, and crafted messages for links."""

from __future__ import annotations

from pathlib import Path

import pytest

from sipwatch.calls import CallTracker
from sipwatch.calls.tracker import party
from sipwatch.capture.readers import open_capture
from sipwatch.pipeline import Pipeline
from sipwatch.records import FindingRecord, MessageRecord
from sipwatch.sip.message import SipMessage
from tests.conftest import CAPTURES, public_capture
from tests.helpers import make_request, make_response


def track(path: Path, keep: bool = False) -> CallTracker:
    tracker = CallTracker(keep_messages=keep)
    with open_capture(str(path)) as source:
        tracker.feed_all(Pipeline(source=str(path)).run(source))
    return tracker


def fed(*messages: tuple[float, SipMessage], max_calls: int = 100) -> CallTracker:
    tracker = CallTracker(max_calls=max_calls)
    for frame, (ts, msg) in enumerate(messages, 1):
        tracker.feed(MessageRecord(ts, frame, "192.0.2.10:5060", "192.0.2.20:5060", "udp", msg))
    return tracker


def test_a_call_through_a_proxy() -> None:
    tracker = track(CAPTURES / "bad-extension-proxy.pcap")
    (call,) = tracker.calls.values()
    assert call.call_id == "1-15872@127.0.0.11"
    assert (call.method, call.from_party.text(), call.to_party.text()) == (
        "INVITE",
        "alice@127.0.0.11",
        "bob@127.0.0.13",
    )
    # The 420 came first but the retry was answered: the call is answered, by the UAS.
    assert (call.final_status, call.final_by, call.state) == (200, "127.0.0.13:5060", "answered")
    roles = {e.address: e.role for e in call.elements.values()}
    assert roles == {
        "127.0.0.11:5060": "UA",
        "127.0.0.12:5060": "proxy",
        "127.0.0.13:5060": "UA",
    }
    assert call.elements["127.0.0.12:5060"].agent.startswith("kamailio")
    assert (call.ended_with, call.ended_by) == ("BYE", "127.0.0.11:5060")
    assert call.pdd_ms is not None and 0 < call.pdd_ms < 100
    assert call.duration_s is not None and 0 < call.duration_s < 1
    assert {f.kind for f in call.findings} == {"unregistered-option-tag", "bad-extension"}
    assert call.severity == "warning"
    assert call.frames == sorted(call.frames) and call.frames[0] == 1


def test_blind_transfer_links_the_invite_the_refer_caused() -> None:
    tracker = track(public_capture("blind_transfer.pcap"))
    first, second = tracker.calls.values()
    assert [r.relation for r in first.related] == ["transfer"]
    assert first.related[0].call_id == second.call_id
    assert second.related[0].call_id == first.call_id
    assert first.call_ids == [first.call_id, second.call_id]
    assert second.to_party.user == "2345678"
    assert second.final_agent == "Test Gateway 1.0"
    assert not first.related[0].guess


def test_attended_transfer_links_by_replaces() -> None:
    tracker = track(public_capture("attended_transfer.pcap"))
    relations = {
        (call.call_id[:8], link.call_id[:8], link.relation)
        for call in tracker.calls.values()
        for link in call.related
    }
    assert ("22d77d74", "46e23278", "replaces") in relations
    assert ("528ea54b", "46e23278", "replaces") in relations


def test_b2bua_header_and_session_id_link_legs() -> None:
    a = make_request("INVITE", call_id="leg-a", session_id="ab12cd34ab12cd34ab12cd34ab12cd34")
    b = make_request("INVITE", call_id="leg-b", x_call_id="leg-a")
    c = make_request(
        "INVITE",
        call_id="leg-c",
        session_id="ef56ef56ef56ef56ef56ef56ef56ef56;remote=ab12cd34ab12cd34ab12cd34ab12cd34",
    )
    tracker = fed((0.0, a), (10.0, b), (20.0, c))
    links = {(c.call_id, r.call_id, r.relation) for c in tracker.calls.values() for r in c.related}
    assert ("leg-a", "leg-b", "b2bua") in links and ("leg-b", "leg-a", "b2bua") in links
    assert ("leg-a", "leg-c", "session-id") in links


def test_null_session_id_links_nothing() -> None:
    null = "00000000000000000000000000000000"
    a = make_request("INVITE", call_id="a", session_id=null)
    b = make_request("INVITE", call_id="b", session_id=null)
    assert all(not c.related for c in fed((0.0, a), (5.0, b)).calls.values())


def test_same_users_within_a_second_is_a_labelled_guess() -> None:
    a = make_request("INVITE", call_id="one")
    b = make_request("INVITE", call_id="two")
    late = make_request("INVITE", call_id="three")
    tracker = fed((0.0, a), (0.4, b), (5.0, late))
    (link,) = tracker.calls["one"].related
    assert (link.call_id, link.relation, link.guess) == ("two", "same-parties", True)
    assert "400 ms apart" in link.evidence
    assert not tracker.calls["three"].related


def test_failed_and_cancelled_and_unanswered_calls() -> None:
    invite = make_request("INVITE", call_id="busy")
    cancelled = make_request("INVITE", call_id="gone")
    cancel = make_request("CANCEL", call_id="gone")
    silent = make_request("INVITE", call_id="silent")
    tracker = fed(
        (0.0, invite),
        (0.1, make_response(180, request=invite)),
        (0.5, make_response(486, request=invite, server="PBX 1")),
        (1.0, cancelled),
        (2.0, cancel),
        (2.1, make_response(487, request=cancelled)),
        (3.0, silent),
    )
    busy, gone, unanswered = tracker.calls.values()
    assert (busy.state, busy.final_status, busy.final_agent, busy.pdd_ms) == (
        "failed",
        486,
        "PBX 1",
        100.0,
    )
    assert (gone.state, gone.ended_with, gone.duration_s) == ("failed", "CANCEL", None)
    assert (unanswered.state, unanswered.final_status) == ("in-progress", None)


def test_calls_beyond_the_cap_evict_the_oldest_and_are_counted() -> None:
    msgs = [(float(i), make_request("OPTIONS", call_id=f"c{i}")) for i in range(5)]
    tracker = fed(*msgs, max_calls=3)
    assert list(tracker.calls) == ["c2", "c3", "c4"]
    assert tracker.evicted == 2


def test_findings_attach_through_the_accessor_only() -> None:
    invite = make_request("INVITE", call_id="x")
    tracker = fed((0.0, invite))
    data = {"kind": "k", "severity": "error", "call_id": "x", "frames": [1], "text": "t"}
    tracker.feed(FindingRecord(data))
    tracker.feed(FindingRecord({**data, "call_id": "unknown"}))
    (finding,) = tracker.calls["x"].findings
    facts = (finding.kind, finding.severity, finding.frames, finding.remedy)
    assert facts == ("k", "error", [1], "")
    assert tracker.calls["x"].severity == "error"


def test_party_reads_tel_and_bare_addresses() -> None:
    assert party("<tel:+15551234>;tag=1").text() == "+15551234"
    assert party("<tel:+15551234>;tag=1").uri == "tel:+15551234"
    assert party("Bob <sip:bob@h;transport=tcp>;tag=2").uri == "sip:bob@h;transport=tcp"
    assert party('"A \\"B\\"" <sip:a@h>').display == 'A "B"'
    assert party("garbage").text() == ""
    assert party(None).text() == ""


def test_expire_hands_out_calls_once_they_ended_and_lingered() -> None:
    up = make_request("INVITE", call_id="up")
    busy = make_request("INVITE", call_id="busy")
    bye = make_request("BYE", call_id="up", cseq="2 BYE")
    reg = make_request("REGISTER", call_id="reg")
    tracker = fed(
        (0.0, up),
        (0.1, make_response(200, request=up)),
        (1.0, busy),
        (1.5, make_response(486, request=busy)),
        (2.0, reg),
        (2.1, make_response(200, request=reg)),
    )
    assert tracker.expire(20.0) == []  # nothing has lingered 32 s
    assert [c.call_id for c in tracker.expire(34.2)] == ["busy", "reg"]
    assert list(tracker.calls) == ["up"]  # answered and not hung up: still going
    tracker.feed(MessageRecord(40.0, 7, "192.0.2.10:5060", "192.0.2.20:5060", "udp", bye))
    assert tracker.expire(71.0) == []
    (ended,) = tracker.expire(72.0)
    assert (ended.call_id, ended.ended_with, ended.duration_s) == ("up", "BYE", 39.9)
    assert not tracker.calls


def test_the_element_on_both_legs_of_a_b2bua_is_the_b2bua() -> None:
    a = make_request("INVITE", call_id="leg-a")
    b = make_request("INVITE", call_id="leg-b", x_orig_call_id="leg-a")
    tracker = CallTracker()
    tracker.feed(MessageRecord(0.0, 1, "192.0.2.10:5060", "192.0.2.20:5060", "udp", a))
    tracker.feed(MessageRecord(0.1, 2, "192.0.2.20:5080", "192.0.2.30:5060", "udp", b))
    roles = {
        (c.call_id, e.address): e.role for c in tracker.calls.values() for e in c.elements.values()
    }
    assert roles == {
        ("leg-a", "192.0.2.10:5060"): "UA",
        ("leg-a", "192.0.2.20:5060"): "B2BUA",
        ("leg-b", "192.0.2.20:5080"): "B2BUA",
        ("leg-b", "192.0.2.30:5060"): "UA",
    }
    assert tracker.calls["leg-b"].related[0].evidence == "X-Orig-Call-Id: leg-a"


@pytest.mark.parametrize("ladder", [True, False])
def test_messages_beyond_the_per_call_cap_are_counted(ladder: bool) -> None:
    from sipwatch.calls.tracker import MAX_MESSAGES_PER_CALL

    tracker = CallTracker(ladder=ladder)
    options = make_request("OPTIONS", call_id="chatty")
    for frame in range(1, MAX_MESSAGES_PER_CALL + 4):
        tracker.feed(
            MessageRecord(float(frame), frame, "192.0.2.1:5060", "192.0.2.2:5060", "udp", options)
        )
    call = tracker.calls["chatty"]
    assert len(call.frames) == MAX_MESSAGES_PER_CALL and call.dropped_messages == 3
    assert len(call.messages) == (MAX_MESSAGES_PER_CALL if ladder else 0)
