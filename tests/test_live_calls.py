"""``sipwatch live --calls``: a ``call`` record as each call ends, while the capture runs."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from sipwatch.commands.live import _call_list
from tests.conftest import CAPTURES
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
