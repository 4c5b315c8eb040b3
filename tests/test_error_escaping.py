"""Operator error messages quote what was typed and what files hold: control characters in them
are shown as visible escapes (``\\x1b``), neither obeyed by the terminal nor silently dropped.

The exact bytes on stderr are asserted: a raw ESC or BEL there could retitle the window or
recolour the screen, and a dropped one would show a different name than the one given.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.conftest import CAPTURES, REPO


def sipwatch(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "sipwatch", *args],
        capture_output=True,
        cwd=cwd,
        timeout=120,
        check=False,
    )


def test_explain_unknown_term_with_an_osc_sequence() -> None:
    proc = sipwatch("explain", "\x1b]0;pwn\x07abc")
    assert (proc.returncode, proc.stdout) == (2, b"")
    assert proc.stderr == b"sipwatch: error: unknown term '\\x1b]0;pwn\\x07abc'\n"


def test_pcap_path_with_a_csi_sequence_is_shown_as_given() -> None:
    proc = sipwatch("pcap", "bad\x1b[31mname")
    assert (proc.returncode, proc.stdout) == (2, b"")
    assert proc.stderr == b"sipwatch: error: bad\\x1b[31mname: no such file\n"


def test_pcap_path_with_a_bidi_override() -> None:
    proc = sipwatch("pcap", "evil\u202etxt.pcap")
    assert proc.returncode == 2
    assert proc.stderr == b"sipwatch: error: evil\\u202etxt.pcap: no such file\n"


def test_check_path_with_control_characters(tmp_path: Path) -> None:
    proc = sipwatch("check", "no\x07such\x1bname", cwd=tmp_path)
    assert proc.returncode == 2
    assert proc.stderr == b"sipwatch: error: no\\x07such\\x1bname: no such file or directory\n"
    # A glob pattern that matched nothing is quoted, escaped the same way.
    proc = sipwatch("check", "\x1b[2J*.pcap", cwd=tmp_path)
    assert proc.returncode == 2
    assert proc.stderr == b"sipwatch: error: no capture matched '\\x1b[2J*.pcap'\n"


def test_check_capture_error_line_is_escaped(tmp_path: Path) -> None:
    """A capture that cannot be read does not stop ``check``; its error line is escaped too."""
    bad = tmp_path / "bad\x1b[31mname.pcap"
    bad.write_bytes(b"nope")
    good = tmp_path / "good.pcap"
    good.write_bytes((CAPTURES / "transfer-succeeded.pcap").read_bytes())
    proc = sipwatch("check", str(tmp_path), "-f", "jsonl", cwd=tmp_path)
    assert proc.returncode == 2
    shown = str(tmp_path).encode() + b"/bad\\x1b[31mname.pcap"
    assert (
        proc.stderr == b"sipwatch: error: " + shown + b": not a capture file: starts with 'nope'\n"
    )
    assert b"\x1b" not in proc.stderr
