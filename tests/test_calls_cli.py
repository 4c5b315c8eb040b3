"""``sipwatch calls``: exact terminal output at 80 and 120 columns, filters, JSON records."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from sipwatch.cli import app
from tests.conftest import CAPTURES, public_capture
from tests.hostile_capture import write_hostile_capture

PLAIN: dict[str, str | None] = {"FORCE_COLOR": None, "TTY_COMPATIBLE": None, "NO_COLOR": None}


def calls(*args: str, width: int = 80) -> str:
    result = CliRunner().invoke(
        app, ["calls", *args, "--no-color"], env={**PLAIN, "COLUMNS": str(width)}
    )
    assert result.exit_code == 0, result.output
    return result.output


BAD_EXTENSION = str(CAPTURES / "bad-extension-proxy.pcap")
UNANSWERED = str(CAPTURES / "invite-unanswered.pcap")


def test_call_list_at_80_columns() -> None:
    assert calls(BAD_EXTENSION, UNANSWERED) == (
        f"{BAD_EXTENSION}  2026-11-25 (UTC)\n"
        "Start     Call-ID   From      To        Method   St    PDD    Dur  Findings\n"
        "────────────────────────────────────────────────────────────────────────────────\n"
        "23:36:57  1-15872…  alice@1…  bob@127…  INVITE  200    3ms   0.2s  W:unregister…\n"
        "1 call: 1 answered, 0 failed, 0 in progress; final status 200 ×1\n"
        "\n"
        f"{UNANSWERED}  2026-11-25 (UTC)\n"
        "Start     Call-ID   From       To        Method   St    PDD    Dur  Findings\n"
        "────────────────────────────────────────────────────────────────────────────────\n"
        "23:37:02  1-15953…  alice@12…  bob@127…  INVITE  ...      -      -  E:no-final-…\n"
        "1 call: 0 answered, 0 failed, 1 in progress\n"
    )


def test_call_list_at_120_columns() -> None:
    assert calls(BAD_EXTENSION, width=120) == (
        f"{BAD_EXTENSION}  2026-11-25 (UTC)\n"
        "Start     Call-ID       From              To              Method   St    PDD    Dur"
        "  Findings\n" + "─" * 113 + "\n"
        "23:36:57  1-15872@127…  alice@127.0.0.11  bob@127.0.0.13  INVITE  200    3ms   0.2s"
        "  W:unregistered-option-tag +1\n"
        "1 call: 1 answered, 0 failed, 0 in progress; final status 200 ×1\n"
    )


def test_every_line_fits_the_width() -> None:
    path = str(public_capture("attended_transfer.pcap"))
    for width in (60, 80, 100, 120):
        for line in calls(path, width=width).splitlines():
            assert len(line) <= width or line.startswith(path), (width, line)


def test_transfer_calls_sorted_by_problems_show_their_relation() -> None:
    path = str(public_capture("blind_transfer.pcap"))
    assert calls(path, "--sort", "problems", width=100).splitlines()[1:] == [
        "Start     Call-ID   From         To               Method   St    PDD    Dur  Findings"
        "       Related",
        "─" * 100,
        # The caller signals from a public address with a private SDP address (media finding).
        "10:24:02  baadbc5…  1001@sip.d…  1000@sip.domai…  INVITE  200  614ms  10.5s"
        "  W:private-ad…  xfer:d3…",
        "10:24:15  d365fb7…  1001@sip.d…  2345678@sip.do…  INVITE  200      -   7.2s"
        "  I:auth-chall…  xfer:ba…",
        "2 calls: 2 answered, 0 failed, 0 in progress; final status 200 ×2",
    ]


def chosen(path: str, *filters: str) -> list[str]:
    result = CliRunner().invoke(app, ["calls", path, "-f", "jsonl", *filters], env=PLAIN)
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.output.splitlines()]
    return [line["call_ids"][0][:8] for line in lines if line["type"] == "call"]


def test_filters_narrow_the_rows_not_the_totals() -> None:
    path = str(public_capture("blind_transfer.pcap"))
    assert chosen(path) == ["baadbc57", "d365fb77"]
    assert chosen(path, "--to", "2345") == ["d365fb77"]
    assert chosen(path, "--from", "1001", "--to", "1000") == ["baadbc57"]
    assert chosen(path, "--status", "2xx") == ["baadbc57", "d365fb77"]
    assert chosen(path, "--status", "4xx,503") == []
    assert chosen(path, "--ip", "3.88.91.122") == ["d365fb77"]
    assert chosen(path, "--ip", "3.88.91.12") == []  # an address, not a substring
    assert chosen(path, "--ua", "test gateway") == ["d365fb77"]
    assert chosen(path, "--ua", "obihai") == ["baadbc57", "d365fb77"]
    assert chosen(path, "--ua", "no-such-agent") == []
    assert chosen(path, "--sort", "problems") == ["baadbc57", "d365fb77"]
    out = calls(path, "--to", "2345", width=120)
    assert out.endswith(
        "1 of 2 calls shown: 2 answered, 0 failed, 0 in progress; final status 200 ×2\n"
    )
    assert "no call matches" in calls(path, "--status", "4xx")


def test_bad_status_filter_is_an_operator_error() -> None:
    result = CliRunner().invoke(app, ["calls", BAD_EXTENSION, "--status", "4yz"], env=PLAIN)
    assert result.exit_code == 2
    assert "bad --status value '4yz'" in result.output


def test_call_records_in_json_lines() -> None:
    result = CliRunner().invoke(app, ["calls", BAD_EXTENSION, "--format", "jsonl"], env=PLAIN)
    call, summary = (json.loads(line) for line in result.output.splitlines())
    assert summary["type"] == "summary" and summary["calls"] == 1
    assert call["schema"] == 1 and call["type"] == "call"
    assert call["call_ids"] == ["1-15872@127.0.0.11"]
    assert call["from"] == {
        "user": "alice",
        "host": "127.0.0.11",
        "display": "Alice",
        "uri": "sip:alice@127.0.0.11:5060",
    }
    assert (call["method"], call["state"], call["final_status"]) == ("INVITE", "answered", 200)
    assert call["final_by"] == {"address": "127.0.0.13:5060", "agent": ""}
    assert call["ended"]["method"] == "BYE" and call["ended"]["by"] == "127.0.0.11:5060"
    assert [e["role"] for e in call["elements"]] == ["UA", "proxy", "UA"]
    assert [f["kind"] for f in call["findings"]] == ["unregistered-option-tag", "bad-extension"]
    assert call["severity"] == "warning" and call["related"] == []
    assert call["frames"] == list(range(1, 17))
    assert 0 < call["pdd_ms"] < 100 and 0 < call["duration_s"] < 1


def test_related_calls_in_json_lines() -> None:
    path = str(public_capture("blind_transfer.pcap"))
    result = CliRunner().invoke(app, ["calls", path, "-f", "jsonl"], env=PLAIN)
    first, second, _ = (json.loads(line) for line in result.output.splitlines())
    assert first["call_ids"] == [
        "baadbc5723b83516@192.168.15.129",
        "d365fb77d53bedd5@192.168.15.129",
    ]
    assert first["related"][0]["relation"] == "transfer"
    assert second["related"][0]["call_id"] == first["call_ids"][0]


def test_hostile_fields_are_inert(tmp_path: Path) -> None:
    path = str(write_hostile_capture(tmp_path))
    out = calls(path, width=200)
    assert "\x1b" not in out and "\x07" not in out
    assert "e\\x1b[31mvil" in out
    lines = CliRunner().invoke(app, ["calls", path, "-f", "jsonl"], env=PLAIN).output
    assert "\x1b" not in lines and "\\u001b" in lines
    assert json.loads(lines.splitlines()[0])["final_status"] == 486


def test_a_full_call_table_is_counted_in_the_summary_and_said(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import functools

    from sipwatch.calls import CallTracker
    from sipwatch.commands import calls as command

    monkeypatch.setattr(command, "CallTracker", functools.partial(CallTracker, max_calls=1))
    path = str(public_capture("blind_transfer.pcap"))
    result = CliRunner().invoke(app, ["calls", path, "-f", "jsonl"], env=PLAIN)
    *records, summary = (json.loads(line) for line in result.output.splitlines())
    # The two calls interleave (the first call's NOTIFY and BYE come after the second call
    # began), so with room for one call each switch evicts: A, B, A again, B again.
    assert [r["call_ids"][0][:8] for r in records] == ["d365fb77"]
    assert summary["evictions"] == {"calls": 3}
    assert calls(path, width=120).endswith("; 3 older calls evicted (call table full)\n")
