"""The end of a capture is not a timeout, and a clock that jumps is not a timeout either.

A conclusion drawn from a timer ("no retry within 32 s", "no response within 32 s") holds only
when the capture ran that long after the message; when it stopped first, the finding says so.
Capture time that leaps more than a day ahead (``sip_ipv6_udp.pcap``: 2012 to 2092 in six
records) or steps back gets a problem line and never makes a timer fire.
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest

from sipwatch.capture.readers import open_capture
from sipwatch.commands.pcap import run_pcap
from sipwatch.correlate.timers import Deadlines
from sipwatch.pipeline import PipelineOptions
from tests import build_frames as bf
from tests.conftest import PUBLIC, public_capture

LINKTYPE_RAW = 101


def run(path: Path) -> list[dict[str, Any]]:
    out = io.StringIO()
    run_pcap([str(path)], PipelineOptions(), "jsonl", out)
    return [json.loads(line) for line in out.getvalue().splitlines()]


def findings(lines: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [line for line in lines if line["type"] == "finding" and line["kind"] == kind]


def test_challenge_at_the_end_of_the_capture_is_not_a_missing_retry() -> None:
    lines = run(public_capture("erspan_sip_ipv4_udp.pcapng"))
    cut = [f for f in findings(lines, "auth-challenge") if f["frames"] == [90, 92]]
    assert len(cut) == 1
    finding = cut[0]
    assert finding["severity"] == "info"
    assert finding["result"] is None
    assert finding["text"].endswith(
        "was challenged with 401 Unauthorized (frame 92, +1 ms; no realm in WWW-Authenticate). "
        "The capture ended 4.984 s after the 401, before the 32 s a retry with credentials may "
        "take: whether the UA retries is not known."
    )
    assert finding["remedy"] == "Capture for longer to see whether the UA retries with credentials."


def test_auth_loop_cut_by_the_end_does_not_say_the_ua_gave_up() -> None:
    loop = findings(run(public_capture("ipip0.pcap")), "auth-loop")
    assert len(loop) == 1
    assert "the UA gave up" not in loop[0]["text"]
    assert "The capture ended 0 ms after the 401" in loop[0]["text"]
    assert loop[0]["severity"] == "error"  # three challenges in a row are still a loop


def test_no_public_finding_claims_a_retry_window_the_capture_did_not_cover() -> None:
    """Every "No ... retry ... followed within 32 s" has 32 s of capture after its last frame."""
    if not PUBLIC.is_dir():
        pytest.skip(f"public captures not found at {PUBLIC} (../shared is absent)")
    checked = 0
    for path in sorted(PUBLIC.iterdir()):
        if path.suffix not in (".pcap", ".pcapng", ".cap"):
            continue
        lines = run(path)
        times = {m["frame"]: m["ts"] for m in lines if m["type"] == "message"}
        if not times:
            continue
        with open_capture(path) as source:  # the last packet of any kind ends the capture
            end = max(frame.ts for frame in source)
        for finding in (line for line in lines if line["type"] == "finding"):
            if "followed within 32 s" not in finding["text"]:
                continue
            last = max(times[f] for f in finding["frames"] if f in times)
            assert end - last >= 32.0, (path.name, finding["kind"], finding["frames"])
            checked += 1
    assert checked >= 1


def test_clock_jumps_of_years_make_no_timeout() -> None:
    lines = run(public_capture("sip_ipv6_udp.pcap"))
    assert [f["kind"] for f in lines if f["type"] == "finding"] == []
    summary = lines[-1]
    assert summary["problems"] == [
        "record 2: the capture clock jumps 6 years ahead (1328589362.251758 to "
        "1529707907.251758); no timer is judged across the jump"
    ]
    # The 100 Trying six years later still belongs to the INVITE: it was not closed on a timer.
    trying = next(m for m in lines if m["type"] == "message" and m["status"] == 100)
    assert trying["annotation"] is None or "not in the capture" not in json.dumps(trying)


def test_a_message_stamped_in_the_past_is_not_timed_out_at_once(tmp_path: Path) -> None:
    """A record an hour earlier than the one before it (a merged capture) is answered 100 ms
    later: its Timer F must not fire on the spot because the clock was already ahead."""
    t = 1_700_000_000.0
    late = bf.sip_request("INFO", call_id="later@t")
    early = bf.sip_request(call_id="c1@test")
    answer = bf.SIP_200
    records = [
        (t + 3600, bytes(bf.udp4(late))),
        (t, bytes(bf.udp4(early))),
        (t + 0.1, bytes(bf.udp4(answer, src="10.0.0.2", dst="10.0.0.1"))),
    ]
    path = tmp_path / "merged.pcap"
    path.write_bytes(bf.pcap_bytes(records, LINKTYPE_RAW))
    lines = run(path)
    unanswered = findings(lines, "no-final-response")
    assert [f["call_id"] for f in unanswered] == ["later@t"]  # only the one really unanswered
    assert lines[-1]["problems"] == [f"record 2: timestamp goes backwards ({t:.6f})"]


def test_deadlines_shift_moves_every_timer_in_order() -> None:
    deadlines = Deadlines()
    fired: list[float] = []
    deadlines.schedule_in(0.0, 32.0, lambda _s, due: fired.append(due), "a")
    deadlines.schedule(5.0, fired.append)
    deadlines.shift(1000.0)
    assert deadlines.pop_due(999.0) == 0
    assert deadlines.pop_due(1040.0) == 2
    assert fired == [1005.0, 1032.0]
