"""``--port`` on findings, and the option checks of ``--port`` and ``--method``.

A finding names the frames of its messages; ``--port`` keeps it when one of those messages went
to or from the port, so the findings shown are the ones about the messages shown.
"""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import pytest

from sipwatch.filters import FilterError, MessageFilter, parse_method_filter
from tests.conftest import CAPTURES, REPO, public_capture


def sipwatch(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sipwatch", *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
        check=False,
    )


def lines(*args: str) -> list[dict[str, Any]]:
    proc = sipwatch(*args, "--format", "jsonl")
    assert proc.returncode == 0, proc.stderr
    return [json.loads(line) for line in proc.stdout.splitlines()]


def of_type(objects: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [obj for obj in objects if obj["type"] == kind]


def test_a_port_no_message_uses_shows_no_finding() -> None:
    path = str(public_capture("aaa.pcap"))
    unfiltered = lines("pcap", path)
    assert len(of_type(unfiltered, "finding")) == 21
    filtered = lines("pcap", path, "--port", "9999")
    assert of_type(filtered, "message") == []
    assert of_type(filtered, "finding") == []
    # The summary still counts every finding the capture holds.
    assert sum(of_type(filtered, "summary")[0]["findings"].values()) == 21


def test_findings_shown_are_those_with_a_message_on_the_port() -> None:
    """Port 50501 carries 24 of the 97 messages of a transfer; the findings kept are exactly
    those naming one of their frames (computed here from the unfiltered output)."""
    path = str(public_capture("attended_transfer.pcap"))
    unfiltered = lines("pcap", path)
    on_port = {
        m["frame"]
        for m in of_type(unfiltered, "message")
        if m["src"].endswith(":50501") or m["dst"].endswith(":50501")
    }
    expected = [f for f in of_type(unfiltered, "finding") if on_port.intersection(f["frames"])]
    filtered = lines("pcap", path, "--port", "50501")
    assert {m["frame"] for m in of_type(filtered, "message")} == on_port
    assert of_type(filtered, "finding") == expected
    assert 0 < len(expected) < len(of_type(unfiltered, "finding"))
    kinds = [f["kind"] for f in expected]
    assert kinds == ["auth-challenge", "auth-challenge", "transfer", "notify-rejected"]


def test_what_one_file_matched_does_not_leak_into_the_next() -> None:
    """Frame numbers start again in each file. The first file has 140 messages on port 5260,
    among them frames that aaa.pcap's findings name; aaa.pcap has nothing on 5260, so after
    the first summary nothing at all is shown for it."""
    first = str(public_capture("erspan_sip_ipv4_udp.pcapng"))
    second = str(public_capture("aaa.pcap"))
    objects = lines("pcap", first, second, "--port", "5260")
    summaries = [i for i, obj in enumerate(objects) if obj["type"] == "summary"]
    assert len(summaries) == 2
    assert of_type(objects[: summaries[0]], "finding") != []
    assert objects[summaries[0] + 1 : summaries[1]] == []


def test_finding_endpoints_and_findings_without_place() -> None:
    flt = MessageFilter.build(ports=[5070])
    assert flt.accepts_finding({"call_id": "a", "frames": [], "src": "10.0.0.1:5070"})
    assert flt.accepts_finding(
        {"call_id": "a", "frames": [3], "answered_from": "[2001:db8::1]:5070"}
    )
    assert not flt.accepts_finding({"call_id": "a", "frames": [3], "referee": "10.0.0.1:5060"})
    # A frame the filter never saw on the port.
    assert not flt.accepts_finding({"call_id": "a", "frames": [1, 2]})
    # Neither frames nor endpoints: nothing to judge by, so it is kept.
    assert flt.accepts_finding({"call_id": "a", "frames": []})
    assert flt.accepts_finding({"call_id": "a"})
    # Without --port every finding passes the port test.
    assert MessageFilter().accepts_finding({"call_id": "a", "frames": [1]})


def test_fresh_filter_keeps_the_criteria_and_forgets_the_frames() -> None:
    flt = MessageFilter.build(call_ids=["ab"], methods=["INVITE"], status="4xx", ports=[5060])
    fresh = flt.fresh()
    assert fresh == flt
    assert fresh is not flt


def test_method_values_must_be_tokens() -> None:
    assert parse_method_filter(["invite, BYE", "x-custom.1"]) == {"INVITE", "BYE", "X-CUSTOM.1"}
    for bad, shown in (("IN VITE", "'IN VITE'"), ("INVITE,B(YE", "'B(YE'"), ("", "''")):
        with pytest.raises(FilterError) as raised:
            parse_method_filter([bad])
        assert str(raised.value).startswith(f"bad --method value {shown}: ")


@pytest.mark.parametrize(
    ("option", "value", "line"),
    [
        ("--port", "0", "sipwatch: error: bad --port value 0: a port is 1 to 65535\n"),
        ("--port", "65536", "sipwatch: error: bad --port value 65536: a port is 1 to 65535\n"),
        (
            "--method",
            "IN VITE",
            "sipwatch: error: bad --method value 'IN VITE': a method is an RFC 3261 token "
            "(letters, digits and -.!%*_+`'~)\n",
        ),
        (
            "--method",
            "INV\x1bITE",
            "sipwatch: error: bad --method value 'INV\\x1bITE': a method is an RFC 3261 token "
            "(letters, digits and -.!%*_+`'~)\n",
        ),
        ("--method", ",", "sipwatch: error: bad --method value ',': name a method, e.g. INVITE\n"),
    ],
)
def test_bad_port_and_method_are_one_line_usage_errors(option: str, value: str, line: str) -> None:
    proc = sipwatch("pcap", str(CAPTURES / "auth-challenge.pcap"), option, value)
    assert (proc.returncode, proc.stdout, proc.stderr) == (2, "", line)


def test_port_bounds_are_accepted() -> None:
    for port in ("1", "65535"):
        proc = sipwatch("pcap", str(CAPTURES / "auth-challenge.pcap"), "--port", port)
        assert proc.returncode == 0, proc.stderr


def test_live_rejects_a_bad_port_before_capturing() -> None:
    proc = sipwatch("live", "lo", "--port", "70000", "--duration", "0")
    assert (proc.returncode, proc.stderr) == (
        2,
        "sipwatch: error: bad --port value 70000: a port is 1 to 65535\n",
    )
