"""``--method`` and ``--status`` through the command line, on bundled captures.

An unknown method name is a usage error unless it is a token a capture could carry, then a
note names the registered methods (registry/methods.tsv); ``--status`` shows, greyed, the
request each shown response answers, so a failure reads whole.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from typer.testing import CliRunner

from sipwatch.cli import app
from sipwatch.knowledge import load_knowledge
from tests.conftest import CAPTURES

AUTH = str(CAPTURES / "auth-challenge.pcap")
PROXY_420 = str(CAPTURES / "bad-extension-proxy.pcap")
REGISTERED = (
    "ACK, BYE, CANCEL, INFO, INVITE, MESSAGE, NOTIFY, OPTIONS, PRACK, PUBLISH, REFER, "
    "REGISTER, SUBSCRIBE, UPDATE"
)


def run(*args: str) -> Any:
    return CliRunner().invoke(app, ["pcap", *args], env={"NO_COLOR": None, "FORCE_COLOR": None})


def test_registered_methods_come_from_the_registry_copy() -> None:
    assert ", ".join(sorted(load_knowledge().registered_methods)) == REGISTERED


def test_a_method_that_is_not_a_token_is_a_usage_error() -> None:
    result = run(AUTH, "--method", "IN VITE")
    assert result.exit_code == 2
    assert result.stderr == (
        "sipwatch: error: bad --method value 'IN VITE': a method is an RFC 3261 token "
        "(letters, digits and -.!%*_+`'~)\n"
    )
    assert result.stdout == ""


@pytest.mark.parametrize(
    ("method", "hint"),
    [("FOO", ""), ("invte", "did you mean INVITE? ")],
)
def test_an_unregistered_token_gets_a_note(method: str, hint: str) -> None:
    result = run(AUTH, "--method", method, "--no-color")
    assert result.exit_code == 0
    assert result.stderr == (
        f"sipwatch: note: no registered SIP method is named {method.upper()} ({hint}"
        f"registered: {REGISTERED}); only messages that carry it are shown\n"
    )
    assert "SIP messages      16 (0 shown)" in result.stdout


def test_a_registered_method_in_any_case_gets_no_note() -> None:
    result = run(AUTH, "--method", "bye,Invite", "--no-color")
    assert result.exit_code == 0
    assert result.stderr == ""
    assert "SIP messages      16 (13 shown)" in result.stdout  # INVITE, BYE and responses


def test_status_shows_the_request_each_response_answers() -> None:
    result = run(AUTH, "--status", "4xx", "--no-color", "--explain", "none")
    lines = result.stdout.splitlines()
    assert lines[:2] == [
        "     1 2026-11-25 23:37:00.770 127.0.0.11:5060 → 127.0.0.12:5060 UDP  INVITE "
        "sip:bob@127.0.0.13:5060  [1-15897@] 1 INVITE",
        "     2 23:37:00.771 127.0.0.12:5060 → 127.0.0.11:5060 UDP  407 Proxy Authentication "
        "Required  [1-15897@] 1 INVITE",
    ]
    assert lines[2].lstrip().startswith("◆ INFO auth-challenge:")
    # The request is context, not a match: the count is the responses'.
    assert "SIP messages      16 (1 shown)" in result.stdout


def test_the_request_is_greyed_and_unannotated() -> None:
    result = run(PROXY_420, "--status", "420", "--color")
    lines = result.stdout.splitlines()
    # Every piece of the request line is dim (SGR 2); the response keeps its class colour.
    assert lines[0].startswith("\x1b[2m     1 \x1b[0m\x1b[2m")
    assert "\x1b[1m" not in lines[0]  # the method is not bold as on a matched request
    assert "\x1b[2mINVITE\x1b[0m" in lines[0]
    assert "420 Bad Proxy Require Extension" in lines[1] and "\x1b[31m" in lines[1]
    # Under the request no annotation: its 'foo' note belongs to the unfiltered view.
    assert lines[2].lstrip().startswith("↳") and "420 Bad Extension" in lines[2]


def test_each_request_is_shown_once_per_hop() -> None:
    result = run(PROXY_420, "--status", "1xx,2xx", "--no-color", "--explain", "none")
    lines = result.stdout.splitlines()
    frames = [int(line.split()[0]) for line in lines if line[:6].strip().isdigit()]
    # INVITE CSeq 2 (frame 4) answered by 100 (5), 180 (8) and 200 (10) on the first hop, the
    # relayed INVITE (6) by 180 (7) and 200 (9) on the second; the BYEs by their 200s.
    assert frames == [4, 5, 6, 7, 8, 9, 10, 14, 15, 13, 16]


def test_json_lines_carry_only_the_matching_messages() -> None:
    result = run(AUTH, "--status", "4xx", "--format", "jsonl")
    messages = [m for m in map(json.loads, result.stdout.splitlines()) if m["type"] == "message"]
    assert [(m["frame"], m.get("status")) for m in messages] == [(2, 407)]
