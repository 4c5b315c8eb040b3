"""Findings name the element that generated a response, not a proxy that only relayed it.

The oracle is tshark: for every response in a finding's frames it gives the source address and
the number of Via headers. Copies of one response (same Call-ID, CSeq, status) on successive hops
lose one Via per proxy (RFC 3261 §16.7 step 3), so an address that sent a copy with fewer Vias
than another copy only relayed it. No finding may name such an address as ``answered_by``, nor
call it the UA, transferor or transferee in its text or remedy.
"""

from __future__ import annotations

import io
import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from sipwatch.commands.pcap import run_pcap
from sipwatch.pipeline import PipelineOptions
from tests.conftest import PUBLIC, public_capture
from tests.test_correlate_factory import PROXY, UAC, UAS, Run, request, response


def needs_tshark(test: Any) -> Any:
    """The tshark oracle and the public corpus (skipped with the reason when absent)."""
    marks = (
        pytest.mark.tshark,
        pytest.mark.shared,
        pytest.mark.skipif(shutil.which("tshark") is None, reason="tshark is not installed"),
    )
    for mark in marks:
        test = mark(test)
    return test


#: Public captures whose findings name an answering element through a proxy.
PROXIED = ["attended_transfer.pcap", "blind_transfer.pcap"]


def findings(path: Path) -> list[dict[str, Any]]:
    out = io.StringIO()
    run_pcap([str(path)], PipelineOptions(), "jsonl", out)
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    return [line for line in lines if line["type"] == "finding"]


def responses(path: Path) -> dict[int, tuple[str, int, str, int, int]]:
    """frame -> (src ip:port, status, Call-ID, CSeq, Via count) of every SIP response."""
    fields = ["frame.number", "ip.src", "ipv6.src", "udp.srcport", "tcp.srcport"]
    fields += ["sip.Status-Code", "sip.Call-ID", "sip.CSeq.seq", "sip.Via"]
    cmd = ["tshark", "-n", "-r", str(path), "-Y", "sip.Status-Code", "-T", "fields"]
    for name in fields:
        cmd += ["-e", name]
    cmd += ["-E", "separator=\t", "-E", "occurrence=a", "-E", "aggregator=\x1f"]
    text = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    found: dict[int, tuple[str, int, str, int, int]] = {}
    for line in text.splitlines():
        frame, ip4, ip6, uport, tport, status, call_id, cseq, vias = line.split("\t")
        ip = ip4.split("\x1f")[-1] or ip6.split("\x1f")[-1]
        port = (uport or tport).split("\x1f")[-1]
        if not (status and cseq and port):
            continue
        host = f"[{ip}]" if ":" in ip else ip
        count = len([v for v in vias.split("\x1f") if v])
        found[int(frame)] = (f"{host}:{port}", int(status), call_id, int(cseq), count)
    return found


def relays(finding: dict[str, Any], wire: dict[int, tuple[str, int, str, int, int]]) -> set[str]:
    """Addresses that sent a copy of a response of this finding with fewer Vias than another."""
    copies: dict[tuple[int, str, int], list[tuple[int, str]]] = {}
    for frame in finding["frames"]:
        if frame in wire:
            src, status, call_id, cseq, vias = wire[frame]
            copies.setdefault((status, call_id, cseq), []).append((vias, src))
    found: set[str] = set()
    for group in copies.values():
        deepest = max(vias for vias, _ in group)
        generators = {src for vias, src in group if vias == deepest}
        found |= {src for vias, src in group if vias < deepest and src not in generators}
    return found


_BLAMES = ("UA at {}", "UAS at {}", "transferor at {}", "transferee at {}", ") from {}")


def blamed(text: str, address: str) -> bool:
    return any(pattern.format(address) in text for pattern in _BLAMES)


def check_capture(path: Path) -> int:
    """Assert the rule for every finding of ``path``; returns how many named an element."""
    wire = responses(path)
    named = 0
    for finding in findings(path):
        relaying = relays(finding, wire)
        element = finding.get("answered_by")
        if isinstance(element, dict):
            named += 1
            assert element["address"] not in relaying, (finding["kind"], finding["frames"])
        for address in relaying:
            for part in ("text", "remedy"):
                assert not blamed(finding[part], address), (finding["kind"], part, address)
    return named


@needs_tshark
@pytest.mark.parametrize("name", PROXIED)
def test_proxied_captures_name_the_answering_ua(name: str) -> None:
    path = public_capture(name)
    assert check_capture(path) >= 2


@pytest.mark.shared
def test_attended_transfer_notify_400_is_the_transferors_not_the_proxys() -> None:
    path = public_capture("attended_transfer.pcap")
    rejected = [f for f in findings(path) if f["kind"] == "notify-rejected"]
    assert len(rejected) == 1
    finding = rejected[0]
    assert finding["answered_by"] == {
        "address": "45.55.56.215:50401",
        "role": "uas",
        "server": None,
        "user_agent": None,
        "contact": None,
        "leg": None,
    }
    assert finding["relayed_by"] == ["161.35.57.23:5060"]
    assert finding["text"].startswith("The transferor at 45.55.56.215:50401 answered NOTIFY")
    assert "relayed by the proxy at 161.35.57.23:5060" in finding["text"]
    assert finding["remedy"].startswith("Make the UA at 45.55.56.215:50401 accept NOTIFY")


@pytest.mark.shared
def test_blind_transfer_names_the_transferee_behind_the_proxy() -> None:
    path = public_capture("blind_transfer.pcap")
    transfer = next(f for f in findings(path) if f["kind"] == "transfer")
    assert transfer["referee"] == "45.55.56.215:50501"
    assert transfer["relayed_by"] == ["161.35.57.23:5060"]
    assert transfer["answered_by"]["address"] == "45.55.56.215:50501"
    assert re.search(
        r"to the transferee at 45\.55\.56\.215:50501 through the proxy at 161\.35\.57\.23:5060",
        transfer["text"],
    )


@needs_tshark
def test_no_public_finding_blames_a_relaying_proxy() -> None:
    if not PUBLIC.is_dir():
        pytest.skip(f"public captures not found at {PUBLIC} (../shared is absent)")
    captures = sorted(
        p
        for p in PUBLIC.iterdir()
        if p.suffix in (".pcap", ".pcapng", ".cap") and not p.name.endswith(".gz")
    )
    assert captures
    named = sum(check_capture(path) for path in captures)
    assert named >= 10


def test_b2bua_passing_on_its_other_legs_failure_is_named_as_such() -> None:
    """A back-to-back UA (10.0.0.2) answers call A with the 486 its own INVITE of call B got
    (RFC 7092 §3): the finding names the B2BUA and the leg whose failure it passed on."""
    run = Run()
    t = 1_700_000_000.0
    leg_a = request("INVITE", 1, call_id="leg-a", uri="sip:bob@10.0.0.2")
    run.send(t, UAC, PROXY, leg_a)
    leg_b = request("INVITE", 7, call_id="leg-b", from_tag="b2b", via_host="10.0.0.2")
    run.send(t + 0.01, PROXY, UAS, leg_b)
    run.send(t + 0.50, UAS, PROXY, response(leg_b, 486, "Busy Here"))
    run.send(t + 0.51, PROXY, UAC, response(leg_a, 486, "Busy Here", to_tag="a2"))
    run.finish(t + 60)
    busy = [f for f in run.findings("request-failed") if f.call_id == "leg-a"]
    assert len(busy) == 1
    answered = busy[0].get("answered_by")
    assert answered == {
        "address": "10.0.0.2:5060",
        "role": "b2bua",
        "server": None,
        "user_agent": None,
        "contact": None,
        "leg": {"call_id": "leg-b", "to": "10.0.0.3:5060", "status": 486, "frame": 3},
    }
    assert (
        "got 486 Busy Here (frame 4, +510 ms) from the B2BUA at 10.0.0.2:5060 (passing on the "
        "486 its own INVITE to 10.0.0.3:5060 got (Call-ID leg-b, frame 3))." in busy[0].text
    )
    # The UAS of leg B answered for itself: a UA, not a B2BUA.
    own = [f for f in run.findings("request-failed") if f.call_id == "leg-b"]
    assert own[0].get("answered_by") == {
        "address": "10.0.0.3:5060",
        "role": "uas",
        "server": None,
        "user_agent": None,
        "contact": None,
        "leg": None,
    }
