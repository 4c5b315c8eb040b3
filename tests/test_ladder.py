"""``sipwatch ladder``: exact ``--no-color`` diagrams of real captures, folding, pins, width."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from sipwatch.calls.ladder import build_ladder
from sipwatch.cli import app
from tests.conftest import CAPTURES, public_capture
from tests.hostile_capture import write_hostile_capture
from tests.test_calls_model import track

PLAIN: dict[str, str | None] = {"FORCE_COLOR": None, "TTY_COMPATIBLE": None, "NO_COLOR": None}


def ladder(*args: str, width: int = 80, code: int = 0) -> str:
    result = CliRunner().invoke(
        app, ["ladder", *args, "--no-color"], env={**PLAIN, "COLUMNS": str(width)}
    )
    assert result.exit_code == code, result.output
    return result.output


BAD_EXTENSION_PROXY = """\
1-15872@127.0.0.11
23:36:57.378  alice@127.0.0.11 → bob@127.0.0.13  INVITE 200 OK

                  127.0.0.11:5060    127.0.0.12:5060    127.0.0.13:5060
                        UA         proxy kamailio (5…         UA
                         │                  │                  │
      1                  │───── INVITE ────▶│                  │ [1]
      2    +1ms          │◀420 Bad Proxy R…─│                  │ [2]
      3    +0ms          │────── ACK ──────▶│                  │
      4    +1ms          │───── INVITE ────▶│                  │
      5    +0ms          │◀100 trying -- y…─│                  │
      6    +0ms          │                  │───── INVITE ────▶│
      7    +0ms          │                  │◀─ 180 Ringing ───│
      8    +0ms          │◀─ 180 Ringing ───│                  │
      9    +1ms          │                  │◀──── 200 OK ─────│
     10    +0ms          │◀──── 200 OK ─────│                  │
     11    +0ms          │────── ACK ──────▶│                  │
     12    +0ms          │                  │────── ACK ──────▶│
     13  +203ms          │────── BYE ──────▶│                  │
     14    +1ms          │                  │────── BYE ──────▶│
     15    +0ms          │                  │◀──── 200 OK ─────│
     16    +0ms          │◀──── 200 OK ─────│                  │

[1] warning unregistered-option-tag: INVITE CSeq 1 (frame 1) from
127.0.0.11:5060 lists 'foo' in Proxy-Require; it is not an IANA-registered
"""


def test_ladder_through_a_proxy_exactly() -> None:
    out = ladder(str(CAPTURES / "bad-extension-proxy.pcap"), "--call-id", "1-15872")
    assert out.startswith(BAD_EXTENSION_PROXY)
    # Both findings are written out under the diagram, with their remedies.
    assert "\n[2] warning bad-extension: INVITE CSeq 1 (frame 1) was refused with 420" in out
    assert out.count("    remedy: ") == 2


TRANSFER_SUCCEEDED = """\
1-11890@127.0.0.11
23:34:58.082  alice@127.0.0.11 → bob@127.0.0.13  INVITE 200 OK

                       127.0.0.11:5060             127.0.0.13:5060
                             UA                          UA
                              │                           │
      1                       │───────── INVITE ─────────▶│
      2    +0ms               │◀────── 180 Ringing ───────│
      3    +1ms               │◀──────── 200 OK ──────────│
      4    +0ms               │─────────── ACK ──────────▶│
      5  +207ms               │────────── REFER ─────────▶│ [1]
      6    +0ms               │◀───── 202 Accepted ───────│
      7    +1ms               │◀──────── NOTIFY ──────────│
      8    +0ms               │───────── 200 OK ─────────▶│
      9  +302ms               │◀──────── NOTIFY ──────────│
     10    +0ms               │───────── 200 OK ─────────▶│
     11  +204ms               │◀────────── BYE ───────────│
     12    +0ms               │───────── 200 OK ─────────▶│

[1] info transfer: Transfer: REFER CSeq 2 (frame 5) from 127.0.0.11:5060 to the
"""


def test_ladder_of_a_transfer_exactly() -> None:
    out = ladder(str(CAPTURES / "transfer-succeeded.pcap"), "--call-id", "1-")
    assert out.startswith(TRANSFER_SUCCEEDED)


BLIND_TRANSFER_HEAD = """\
A baadbc5723b83516@192.168.15.129
  10:24:02.378  1001@sip.domain.com → 1000@sip.domain.com  INVITE 200 OK
B d365fb77d53bedd5@192.168.15.129  (transfer: Refer-To 2345678)
  10:24:15.875  1001@sip.domain.com → 2345678@sip.domain.com  INVITE 200 OK

                45.55.56.215:50501  161.35.57.23:5060 45.55.56.215:50401  3.88.91.122:5600
                UA OBIHAI/OBi1062… proxy OpenSIPS (3… UA Digital Ocean … UA Test Gateway 1…
                         │                  │                  │                  │
A     1                  │───── INVITE ────▶│                  │                  │
A     2    +0ms          │◀407 Proxy Authe…─│                  │                  │ [1]
"""


def test_public_blind_transfer_draws_both_calls_in_one_ladder() -> None:
    path = str(public_capture("blind_transfer.pcap"))
    out = ladder(path, "--call-id", "baad", width=100)
    assert out.startswith(BLIND_TRANSFER_HEAD)
    lines = out.splitlines()
    assert (
        "B    31   +12ms          │                  │────────────── INVITE ──────────────▶│\n"
        in out
    )
    arrows = [line for line in lines if line[:1] in "AB" and "│" in line]
    assert len(arrows) == 48  # every message of both calls, none folded
    # Picking the transferred call by one of its frames gives the same two calls, it first.
    by_frame = ladder(path, "--frame", "31", width=100)
    assert by_frame.startswith("A d365fb77d53bedd5@192.168.15.129\n")
    assert "\nB baadbc5723b83516@192.168.15.129  (transfer: Refer-To 2345678)\n" in by_frame
    assert len(ladder(path, "--call-id", "baad", "--no-related", width=100).splitlines()) < len(
        lines
    )


def test_retransmissions_fold_into_one_arrow() -> None:
    out = ladder(str(CAPTURES / "invite-unanswered.pcap"), "--call-id", "1")
    assert "      1                       │──────── INVITE ×7 ───────▶│ [1]\n" in out
    assert "[1] error no-final-response:" in out


@pytest.mark.parametrize("width", [50, 60, 80, 100, 140])
def test_no_line_is_wider_than_the_terminal(width: int) -> None:
    out = ladder(str(public_capture("blind_transfer.pcap")), "--call-id", "baad", width=width)
    assert max(len(line) for line in out.splitlines()) <= width


def test_arrow_count_matches_messages_and_findings_pin_to_failures() -> None:
    tracker = track(public_capture("blind_transfer.pcap"))
    first = next(iter(tracker.calls.values()))
    built = build_ladder(first, tracker.calls)
    assert sum(a.repeats for a in built.arrows) == sum(len(c.messages) for c in built.calls)
    pinned = {built.findings[p].kind: a.message.label for a in built.arrows for p in a.pins}
    assert pinned["auth-challenge"] == "407 Proxy Authentication Required"
    assert pinned["request-failed"] == "481 Call Leg/Transaction Does Not Exist"


def test_unknown_call_and_missing_choice_are_operator_errors() -> None:
    path = str(CAPTURES / "bad-extension-proxy.pcap")
    assert "no call's Call-ID starts with 'zzz'" in ladder(path, "--call-id", "zzz", code=2)
    assert "--call-id PREFIX or --frame N" in ladder(path, code=2)
    assert "frame 999 holds no SIP message" in ladder(path, "--frame", "999", code=2)


def test_hostile_labels_are_inert(tmp_path: Path) -> None:
    out = ladder(str(write_hostile_capture(tmp_path)), "--call-id", "evil", width=120)
    assert "\x1b" not in out and "\x07" not in out
    assert "486 Busy</svg>" in out and "<i>Ringing</i>" in out


def _captures() -> list[Path]:
    from tests.conftest import PUBLIC

    bundled = sorted(CAPTURES.glob("*.pcap"))
    public = sorted(p for p in PUBLIC.glob("*.pcap*") if not p.name.endswith(".json"))
    return bundled + public


@pytest.mark.parametrize("path", _captures(), ids=lambda p: p.name)
def test_every_call_of_every_capture_fits_80_columns(path: Path) -> None:
    import io

    from sipwatch.render.ladder import show_ladder
    from sipwatch.render.output import make_console

    tracker = track(path)
    for call in list(tracker.calls.values())[:50]:
        built = build_ladder(call, tracker.calls)
        assert sum(a.repeats for a in built.arrows) == sum(len(c.messages) for c in built.calls)
        out = io.StringIO()
        show_ladder(make_console(out, color=False, width=80), built)
        assert max(len(line) for line in out.getvalue().splitlines()) <= 80, call.call_id
