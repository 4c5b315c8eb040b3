"""``sipwatch interfaces``: the text table and the JSON lines say the same thing.

lo reports the kernel operstate ``UNKNOWN`` (it does not track a carrier) while it carries
traffic; both outputs must call it up.
"""

from __future__ import annotations

import io
import json
import subprocess
import sys

import pytest

from sipwatch.capture import interfaces
from sipwatch.capture.interfaces import Interface, link_state
from sipwatch.render.status import show_interfaces
from tests.conftest import REPO


@pytest.mark.parametrize(
    ("up", "operstate", "state"),
    [
        (True, "up", "up"),
        (True, "UNKNOWN", "up"),  # lo, tun: no carrier tracking
        (True, "down", "down"),  # up, no carrier
        (True, "lowerlayerdown", "down"),
        (True, "dormant", "down"),
        (True, "", "down"),  # unreadable
        (False, "down", "down"),
        (False, "unknown", "down"),
    ],
)
def test_link_state(up: bool, operstate: str, state: str) -> None:
    assert link_state(up, operstate) == state


def test_loopback_from_ip_is_up() -> None:
    item = {
        "ifname": "lo",
        "flags": ["LOOPBACK", "UP", "LOWER_UP"],
        "operstate": "UNKNOWN",
        "addr_info": [{"local": "127.0.0.1", "prefixlen": 8}],
    }
    lo = interfaces._from_ip(item)
    assert lo == Interface("lo", up=True, addresses=("127.0.0.1/8",), loopback=True, state="up")


def text_states(rows: list[Interface]) -> dict[str, str]:
    out = io.StringIO()
    show_interfaces(rows, out, "text")
    result = {}
    for line in out.getvalue().splitlines()[1:]:
        name, rest = line.split(maxsplit=1)
        result[name] = "up, no carrier" if rest.startswith("up, no carrier") else rest.split()[0]
    return result


def expected_text(row: dict[str, object]) -> str:
    """The text column from the two JSON fields, as docs/jsonl.md states it."""
    if not row["up"]:
        return "down"
    return "up" if row["state"] == "up" else "up, no carrier"


def test_text_and_jsonl_agree_for_every_kind_of_row() -> None:
    rows = [
        Interface("lo", up=True, loopback=True, state=link_state(True, "unknown")),
        Interface("eth0", up=True, state=link_state(True, "up")),
        Interface("eth1", up=True, state=link_state(True, "down")),
        Interface("eth2", up=False, state=link_state(False, "down")),
    ]
    out = io.StringIO()
    show_interfaces(rows, out, "jsonl")
    objects = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [o["state"] for o in objects] == ["up", "up", "down", "down"]
    assert text_states(rows) == {o["name"]: expected_text(o) for o in objects}
    assert text_states(rows) == {
        "lo": "up",
        "eth0": "up",
        "eth1": "up, no carrier",
        "eth2": "down",
    }


def test_the_command_agrees_with_itself() -> None:
    def run(*args: str) -> str:
        proc = subprocess.run(
            [sys.executable, "-m", "sipwatch", "interfaces", *args],
            capture_output=True,
            text=True,
            cwd=REPO,
            timeout=60,
            check=False,
        )
        assert proc.returncode == 0, proc.stderr
        return proc.stdout

    objects = [json.loads(line) for line in run("--format", "jsonl").splitlines()]
    lo = next(o for o in objects if o["name"] == "lo")
    assert (lo["up"], lo["state"]) == (True, "up")
    shown = {}
    for line in run().splitlines()[1:]:
        name, rest = line.split(maxsplit=1)
        shown[name] = "up, no carrier" if rest.startswith("up, no carrier") else rest.split()[0]
    assert shown == {o["name"]: expected_text(o) for o in objects}
