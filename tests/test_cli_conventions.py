"""Terminal conventions every Unix tool keeps: NO_COLOR/FORCE_COLOR, --version, -h, help text.

Everything runs the real command line through typer's CliRunner on a bundled capture; the
tool probe of ``--version`` runs the real tshark and tcpdump where they are installed.
"""

from __future__ import annotations

import re
import shutil
import sys
from typing import Any

import pytest
import typer.main
from typer.testing import CliRunner

from sipwatch import __version__
from sipwatch.cli import app
from sipwatch.commands.about import engine_line
from sipwatch.engine import describe_engine
from sipwatch.render.output import resolve_color
from tests.conftest import CAPTURES

CAPTURE = str(CAPTURES / "bad-extension-proxy.pcap")
COMMANDS = [
    "explain",
    "compare",
    "pcap",
    "live",
    "hep",
    "calls",
    "ladder",
    "report",
    "interfaces",
    "check",
]
ESC = "\x1b["


def run(args: list[str], env: dict[str, str | None] | None = None) -> Any:
    base: dict[str, str | None] = {"NO_COLOR": None, "FORCE_COLOR": None, "COLUMNS": "80"}
    return CliRunner().invoke(app, args, env={**base, **(env or {})})


# -- colour ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("flag", "env", "expected"),
    [
        (None, {}, None),
        (None, {"NO_COLOR": "1"}, False),
        (None, {"NO_COLOR": ""}, None),  # no-color.org: only a non-empty value counts
        (None, {"FORCE_COLOR": "1"}, True),
        (None, {"FORCE_COLOR": "1", "NO_COLOR": "yes"}, False),
        (True, {"NO_COLOR": "1"}, True),
        (False, {"FORCE_COLOR": "1"}, False),
    ],
)
def test_resolve_color(flag: bool | None, env: dict[str, str], expected: bool | None) -> None:
    assert resolve_color(flag, env) is expected


@pytest.mark.parametrize(
    ("args", "env", "coloured"),
    [
        ([], {}, False),  # CliRunner's output is not a terminal
        ([], {"FORCE_COLOR": "1"}, True),
        ([], {"FORCE_COLOR": "1", "NO_COLOR": "1"}, False),
        (["--color"], {"NO_COLOR": "1"}, True),
        (["--no-color"], {"FORCE_COLOR": "1"}, False),
    ],
)
def test_pcap_colour_follows_flags_then_environment(
    args: list[str], env: dict[str, str | None], coloured: bool
) -> None:
    result = run(["pcap", CAPTURE, *args], env)
    assert result.exit_code == 0
    assert "420 Bad Proxy Require Extension" in result.stdout
    assert (ESC in result.stdout) is coloured


def test_check_honours_no_color() -> None:
    forced = run(["check", CAPTURE], {"FORCE_COLOR": "1"})
    plain = run(["check", CAPTURE], {"FORCE_COLOR": "1", "NO_COLOR": "1"})
    assert ESC in forced.stdout
    assert ESC not in plain.stdout
    assert re.sub(r"\x1b\[[0-9;]*m", "", forced.stdout) == plain.stdout


# -- --version ------------------------------------------------------------------------------


def test_version_names_sipwatch_engine_python_and_tools() -> None:
    result = run(["--version"])
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert lines[0] == f"sipwatch {__version__}"
    assert lines[1] == engine_line() == describe_engine()
    assert lines[1].startswith(("engine: native (", "engine: python ("))
    assert lines[2].startswith(f"python: {sys.version_info.major}.{sys.version_info.minor}.")
    for name, line in zip(("tshark", "tcpdump"), lines[3:], strict=True):
        path = shutil.which(name)
        if path is None:
            assert line.startswith(f"{name}: not found (")
        else:
            assert line.startswith(f"{name}: {path} (")
            assert "version unknown" not in line


@pytest.mark.tshark
def test_version_shows_tshark_version() -> None:
    if shutil.which("tshark") is None:
        pytest.skip("tshark is not installed")
    line = run(["-V"]).stdout.splitlines()[3]
    assert re.search(r"TShark \(Wireshark\) \d+\.\d+\.\d+", line), line


def test_version_says_when_tools_are_missing() -> None:
    result = run(["--version"], {"PATH": ""})
    assert result.exit_code == 0
    assert result.stdout.splitlines()[3:] == [
        "tshark: not found (decode oracle of the test suite)",
        "tcpdump: not found (needed by sipwatch live)",
    ]


# -- help -----------------------------------------------------------------------------------


@pytest.mark.parametrize("command", ["", *COMMANDS])
def test_h_is_help(command: str) -> None:
    args = [command] if command else []
    short, long = run([*args, "-h"]), run([*args, "--help"])
    assert short.exit_code == long.exit_code == 0
    assert short.stdout == long.stdout
    assert short.stdout.startswith("Usage: sipwatch")


@pytest.mark.parametrize("command", ["", *COMMANDS])
def test_help_fits_80_columns_without_type_placeholders(command: str) -> None:
    args = [command] if command else []
    text = run([*args, "--help"]).stdout
    assert "Options:" in text
    placeholders = re.findall(r"<[^>\s]*>|\{[a-z_]+\}", text)
    assert placeholders == []
    too_long = [line for line in text.splitlines() if len(line) > 80]
    assert too_long == []
    for word in ("<bool>", "list[", "range", "[x>="):
        assert word not in text


def test_every_option_says_what_it_does() -> None:
    group = typer.main.get_command(app)
    commands = getattr(group, "commands", {})
    assert sorted(commands) == sorted(COMMANDS)
    for name, command in commands.items():
        for param in command.params:
            described = (getattr(param, "help", None) or "").strip()
            assert len(described.split()) >= 3, f"{name} {param.name}: {described!r}"


def test_help_shows_option_values_in_words() -> None:
    text = run(["pcap", "--help"]).stdout
    assert "Usage: sipwatch pcap [OPTIONS] FILE..." in text
    assert "--notify-timeout SECONDS" in text
    assert "-f, --format text|jsonl" in text
    assert "-l, --lang en|ja" in text
    assert "Language of annotations, findings and pages." in text
    assert "NO_COLOR" in text
