"""Events, the JSON form of findings, the deadline queue, the ordering contract of feed()."""

from __future__ import annotations

import json

from sipwatch.correlate.context import duration, offset, quoted
from sipwatch.correlate.events import (
    FINDING_KINDS,
    Finding,
    MessageInfo,
    Note,
    format_endpoint,
)
from sipwatch.correlate.timers import Deadlines
from tests.test_correlate_factory import UAC, UAS, Run, request, response


def test_finding_json_is_the_contract_shape() -> None:
    f = Finding(
        kind="transfer",
        severity="info",
        ts=1.5,
        call_id="c",
        frames=(3, 4),
        text="t",
        remedy="",
        details={"cseq": 5, "notifies": ({"ts": 1.0, "frame": 4},), "kind": "ignored"},
    )
    data = f.to_json()
    assert list(data)[:9] == [
        "schema",
        "type",
        "kind",
        "severity",
        "ts",
        "call_id",
        "frames",
        "text",
        "remedy",
    ]
    assert data["schema"] == 1 and data["type"] == "finding" and data["kind"] == "transfer"
    assert data["frames"] == [3, 4] and data["notifies"] == [{"ts": 1.0, "frame": 4}]
    assert json.loads(json.dumps(data)) == data  # plain JSON types only
    assert f.with_changes(remedy="r").remedy == "r" and f.remedy == ""


def test_message_info_severity() -> None:
    msg = request("OPTIONS", 1)
    info = MessageInfo(
        ts=0.0,
        frame=1,
        src=UAC,
        dst=UAS,
        transport="udp",
        msg=msg,
        transaction="k",
        exchange="e",
        notes=(Note("a"), Note("b", "error"), Note("c", "warning")),
    )
    assert info.severity == "error" and info.problem
    bare = MessageInfo(0.0, 1, UAC, UAS, "udp", msg, "k", "e")
    assert bare.severity is None and not bare.problem


def test_finding_kinds_are_unique() -> None:
    assert len(set(FINDING_KINDS)) == len(FINDING_KINDS)


def test_text_helpers() -> None:
    assert duration(0.0123) == "12 ms" and duration(1.5) == "1.500 s" and duration(32) == "32 s"
    assert duration(250) == "250 s" and offset(2.0, 1.0) == "+1 s" and offset(None, 1.0) == ""
    assert quoted(["a", "b"]) == "'a', 'b'" and quoted([]) == "none"
    assert format_endpoint(("::1", 5060)) == "[::1]:5060" and format_endpoint(None) == "?"


def test_deadlines_order_cancel_and_due_time() -> None:
    deadlines = Deadlines()
    fired: list[tuple[str, float]] = []
    deadlines.schedule(2.0, lambda now: fired.append(("b", now)))
    deadlines.schedule(1.0, lambda now: fired.append(("a", now)))
    deadlines.schedule(2.0, lambda now: fired.append(("c", now)))
    gone = deadlines.schedule(1.5, lambda now: fired.append(("x", now)))
    deadlines.cancel(gone)
    assert deadlines.next_due() == 1.0
    assert deadlines.pop_due(0.99) == 0
    assert deadlines.pop_due(10.0) == 3
    # Callbacks see their own due time, not the (coarse) time the caller ticked with.
    assert fired == [("a", 1.0), ("b", 2.0), ("c", 2.0)]


def test_deadlines_chain_inside_one_pop() -> None:
    deadlines = Deadlines()
    fired: list[float] = []

    def first(now: float) -> None:
        fired.append(now)
        deadlines.schedule(now + 1.0, fired.append)

    deadlines.schedule(1.0, first)
    deadlines.pop_due(5.0)
    assert fired == [1.0, 2.0]


def test_deadlines_garbage_is_bounded() -> None:
    deadlines = Deadlines()
    keep = deadlines.schedule(1e9, lambda now: None)
    for i in range(10_000):
        deadlines.cancel(deadlines.schedule(float(i), lambda now: None))
    assert len(deadlines) < 3000
    assert deadlines.next_due() == 1e9 and not keep.cancelled
    assert [t.due for t in deadlines.drain()] == [1e9] and len(deadlines) == 0


def test_feed_returns_due_findings_before_the_message() -> None:
    run = Run()
    run.send(0.0, UAC, UAS, request("OPTIONS", 1))
    later = request("OPTIONS", 1, call_id="other")
    events = run.correlator.feed(40.0, 2, UAC, UAS, "udp", later)
    assert isinstance(events[0], Finding) and events[0].kind == "no-final-response"
    assert isinstance(events[1], MessageInfo) and events[1].frame == 2


def test_finish_without_traffic_and_twice() -> None:
    run = Run()
    assert run.finish(0.0) == []
    run.send(1.0, UAC, UAS, request("OPTIONS", 1))
    run.send(1.1, UAS, UAC, response(request("OPTIONS", 1), 200))
    assert run.finish(2.0) == [] and run.finish(3.0) == []


def test_notes_describe_hop_copies_and_retransmissions() -> None:
    run = Run()
    invite = request("INVITE", 1)
    run.send(0.0, UAC, UAS, invite)
    info = run.send(0.5, UAC, UAS, invite)
    assert info.notes[0].text.startswith("retransmission #1 of frame 1")
