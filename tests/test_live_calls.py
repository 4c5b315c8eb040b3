"""``sipwatch live --calls``: a ``call`` record as each call ends, while the capture runs."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from sipwatch.commands.live import _call_list
from tests.conftest import CAPTURES, public_capture
from tests.test_calls_model import track
from tests.test_live import objects, run_in_netns


@pytest.mark.root
@pytest.mark.sipp
def test_call_records_come_as_calls_end(tmp_path: Path) -> None:
    report = run_in_netns(
        {
            "args": ["--duration", "38", "--calls"],
            "scenarios": ["transfer-succeeded", "bad-extension-uas"],
        },
        timeout=90,
    )
    assert report["rc"] == 0, report["stderr"]
    assert report["scenario_rc"] == [0, 0]
    calls = objects(report, "call")
    assert [c["method"] for c in calls] == ["INVITE", "INVITE"]
    assert all(c["state"] == "answered" and c["ended"]["method"] == "BYE" for c in calls)
    assert {f["kind"] for f in calls[0]["findings"]} == {"transfer"}
    assert "bad-extension" in {f["kind"] for f in calls[1]["findings"]}
    printed = [i for i in report["lines"] if json.loads(i["line"])["type"] == "call"]
    # Each came 32 s of capture time after its call's last message, before the stop.
    assert all(item["alive"] for item in printed)
    assert all(item["t"] > 32 for item in printed)
    assert json.loads(report["lines"][-1]["line"])["type"] == "summary"


def test_call_list_at_the_stop_is_the_calls_table() -> None:
    out = io.StringIO()
    calls = list(track(CAPTURES / "auth-challenge.pcap").calls.values())
    _call_list(out, False)(calls)
    lines = out.getvalue().splitlines()
    assert lines[0] == "calls  2026-11-25 (UTC)"
    assert lines[1].startswith("Start     Call-ID")
    assert lines[3].startswith("23:37:00  1-15897…  alice@127…  bob@127…  INVITE  200")
    assert lines[-1] == "1 call: 1 answered, 0 failed, 0 in progress; final status 200 ×1"


def test_live_call_list_view_shows_the_newest_calls_that_fit() -> None:
    from sipwatch.render.calls_live import calls_view

    tracker = track(public_capture("blind_transfer.pcap"))
    calls = list(tracker.calls.values())
    assert calls_view(calls, 80, 10).plain.splitlines() == [
        "Start     Call-ID   From      To        Method   St    PDD    Dur  Findings",
        "─" * 75,
        # The caller signals from a public address with a private SDP address (media finding).
        "10:24:02  baadbc5…  1001@si…  1000@si…  INVITE  200  614ms  10.5s  W:priva…",
        "10:24:15  d365fb7…  1001@si…  2345678…  INVITE  200      -   7.2s  I:auth-…",
        "2 calls: 2 answered, 0 failed, 0 in progress; final status 200 ×2",
    ]
    # A short terminal keeps the newest row and says how many are shown.
    short = calls_view(calls, 80, 5).plain.splitlines()
    assert short[2].startswith("10:24:15  d365fb7…")
    assert short[-1].startswith("1 of 2 calls shown: 2 answered")


def test_live_call_list_display_draws_table_and_status_on_a_terminal() -> None:
    from rich.console import Console

    from sipwatch.render.calls_live import CallsLiveDisplay
    from sipwatch.render.status import LiveStatus

    out = io.StringIO()
    console = Console(file=out, width=80, height=12, force_terminal=True, color_system=None)
    calls = list(track(CAPTURES / "bad-extension-proxy.pcap").calls.values())
    display = CallsLiveDisplay(console, lambda: calls)
    status = LiveStatus(
        source="lo",
        elapsed=3.0,
        messages=16,
        rate=5.0,
        calls=1,
        transfers_in_progress=0,
        findings=2,
        drops={"kernel": 0, "ours": 0},
    )
    display.update(status)
    display.close()
    drawn = out.getvalue()
    assert "23:36:57  1-15872…  alice@1…  bob@127…  INVITE  200" in drawn
    assert "1 call: 1 answered, 0 failed, 0 in progress" in drawn
    assert "● live lo 0:00:03 │ 5 msg/s │ 16 messages │ 1 calls" in drawn  # the status line
