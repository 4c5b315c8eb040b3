"""When the output cannot be written: a full disk is one line and exit 2, a closed pipe is quiet.

Run as the operator runs sipwatch (a subprocess with its stdout on /dev/full or on a pipe closed
early), because what matters is what reaches the terminal: no traceback, not even the
interpreter's "Exception ignored" at exit.
"""

from __future__ import annotations

import errno
import io
import os
import subprocess
import sys
from pathlib import Path

import pytest

from sipwatch.commands.check import run_check
from sipwatch.render.output import OutputError, guard_output
from tests.conftest import CAPTURES, REPO

FULL = "/dev/full"
NO_SPACE = b"sipwatch: error: cannot write the output: No space left on device\n"
CAPTURE = str(CAPTURES / "transfer-succeeded.pcap")


def run_to(stdout: int | io.BufferedWriter, *args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "sipwatch", *args],
        stdout=stdout,
        stderr=subprocess.PIPE,
        cwd=REPO,
        timeout=120,
        check=False,
    )


@pytest.mark.skipif(not os.path.exists(FULL), reason="no /dev/full on this system")
@pytest.mark.parametrize(
    "args",
    [
        ("pcap", CAPTURE),
        ("pcap", CAPTURE, "--format", "jsonl"),
        ("check", str(CAPTURES)),
        ("check", str(CAPTURES), "--format", "jsonl"),
        ("interfaces",),
        ("interfaces", "--format", "jsonl"),
        ("explain", "420"),
    ],
    ids=" ".join,
)
def test_a_full_disk_is_one_line_and_exit_2(args: tuple[str, ...]) -> None:
    with open(FULL, "wb") as full:
        proc = run_to(full, *args)
    assert (proc.returncode, proc.stderr) == (2, NO_SPACE)


def read_one_line_then_close(*args: str) -> tuple[bytes, int, bytes]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "sipwatch", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=REPO,
    )
    assert proc.stdout is not None and proc.stderr is not None
    first = proc.stdout.readline()
    proc.stdout.close()  # like `| head -1`: the reader goes away with the rest unread
    try:
        code = proc.wait(timeout=120)
    finally:
        proc.kill()
    return first, code, proc.stderr.read()


#: Enough output to fill a pipe (64 KiB on Linux) many times, so the write after the close
#: always fails: the same capture, once per file, with every message explained.
MANY = [CAPTURE] * 60


@pytest.mark.parametrize("fmt", ["text", "jsonl"])
def test_pcap_into_a_closed_pipe_stops_quietly(fmt: str) -> None:
    first, code, err = read_one_line_then_close("pcap", *MANY, "--explain", "all", "-f", fmt)
    assert first  # it did print, until the reader left
    assert (code, err) == (0, b"")


def test_check_into_a_closed_pipe_keeps_its_verdict(tmp_path: Path) -> None:
    """``check``'s exit code is what CI acts on: a closed pipe must not turn a failed rule into
    success, so the checking goes on without output and the verdict is the exit code."""
    for n in range(15):
        for capture in sorted(CAPTURES.glob("*.pcap")):
            (tmp_path / f"{n:02d}-{capture.name}").symlink_to(capture)
    with open(os.devnull, "wb") as devnull:
        verdict = run_to(devnull, "check", str(tmp_path), "-f", "jsonl").returncode
    assert verdict == 1  # the bundled captures break the default rules
    first, code, err = read_one_line_then_close("check", str(tmp_path), "-f", "jsonl")
    assert first.startswith(b"{")
    assert (code, err) == (verdict, b"")


class Failing(io.StringIO):
    """A stream whose writes fail with ``error``."""

    def __init__(self, error: OSError) -> None:
        super().__init__()
        self.error = error
        self.writes = 0

    def write(self, text: str) -> int:
        self.writes += 1
        raise self.error


def test_guard_names_the_error_and_lets_a_broken_pipe_through() -> None:
    guarded = guard_output(Failing(OSError(errno.EIO, os.strerror(errno.EIO))))
    with pytest.raises(OutputError, match=r"^cannot write the output: Input/output error$"):
        guarded.write("x")
    with pytest.raises(BrokenPipeError):
        guard_output(Failing(BrokenPipeError(errno.EPIPE, "Broken pipe"))).write("x")


def test_guard_keep_going_drops_output_after_a_broken_pipe() -> None:
    failing = Failing(BrokenPipeError(errno.EPIPE, "Broken pipe"))
    guarded = guard_output(failing, keep_going=True)
    assert guarded.write("first\n") == 6
    guarded.write("second\n")
    guarded.flush()
    assert failing.writes == 1  # nothing tried after the pipe broke


def test_run_check_into_a_broken_pipe_returns_the_verdict(tmp_path: Path) -> None:
    defaults = tmp_path / "sipwatch.toml"  # no rule changed: the bundled failures fail
    defaults.write_text("")
    rules = str(defaults)
    expected = run_check([str(CAPTURES)], io.StringIO(), fmt="jsonl", cwd=REPO, rules=rules)
    broken = guard_output(Failing(BrokenPipeError(errno.EPIPE, "Broken pipe")), keep_going=True)
    assert run_check([str(CAPTURES)], broken, fmt="jsonl", cwd=REPO, rules=rules) == expected == 1
