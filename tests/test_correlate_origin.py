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

pytestmark = [
    pytest.mark.tshark,
    pytest.mark.shared,
    pytest.mark.skipif(shutil.which("tshark") is None, reason="tshark is not installed"),
]

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


@pytest.mark.parametrize("name", PROXIED)
def test_proxied_captures_name_the_answering_ua(name: str) -> None:
    path = public_capture(name)
    assert check_capture(path) >= 2


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
    }
    assert finding["relayed_by"] == ["161.35.57.23:5060"]
    assert finding["text"].startswith("The transferor at 45.55.56.215:50401 answered NOTIFY")
    assert "relayed by the proxy at 161.35.57.23:5060" in finding["text"]
    assert finding["remedy"].startswith("Make the UA at 45.55.56.215:50401 accept NOTIFY")


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
