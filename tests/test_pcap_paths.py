"""``sipwatch pcap`` with several files: every path is checked before anything is printed, and
each file's records are followed by that file's summary (docs/jsonl.md, *Several files*)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.conftest import CAPTURES, REPO

A = str(CAPTURES / "transfer-succeeded.pcap")
B = str(CAPTURES / "auth-challenge.pcap")


def sipwatch(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "sipwatch", *args],
        input=stdin,
        capture_output=True,
        cwd=REPO,
        timeout=120,
        check=False,
    )


def jsonl(proc: subprocess.CompletedProcess[bytes]) -> list[dict[str, Any]]:
    assert proc.returncode == 0, proc.stderr
    return [json.loads(line) for line in proc.stdout.splitlines()]


def test_a_missing_file_anywhere_stops_before_any_output(tmp_path: Path) -> None:
    missing = str(tmp_path / "nonexist.pcap")
    line = f"sipwatch: error: {missing}: no such file\n".encode()
    for args in ([A, missing], [missing, A], [A, B, missing]):
        proc = sipwatch("pcap", *args)
        assert (proc.returncode, proc.stdout, proc.stderr) == (2, b"", line), args
    proc = sipwatch("pcap", A, missing, "--format", "jsonl")
    assert (proc.returncode, proc.stdout, proc.stderr) == (2, b"", line)


def test_a_directory_or_a_non_capture_second_stops_before_any_output(tmp_path: Path) -> None:
    proc = sipwatch("pcap", A, str(tmp_path))
    assert (proc.returncode, proc.stdout) == (2, b"")
    assert (
        proc.stderr == f"sipwatch: error: {tmp_path}: is a directory, not a capture file\n".encode()
    )
    text = tmp_path / "notes.txt"
    text.write_bytes(b"hello world\n")
    proc = sipwatch("pcap", A, str(text))
    assert (proc.returncode, proc.stdout) == (2, b"")
    assert proc.stderr == (
        f"sipwatch: error: {text}: not a capture file: starts with 'hello world\\x0a'\n".encode()
    )


def test_stdin_can_be_named_once() -> None:
    data = Path(B).read_bytes()
    proc = sipwatch("pcap", "-", A, "-", stdin=data)
    assert (proc.returncode, proc.stdout) == (2, b"")
    assert (
        proc.stderr
        == b"sipwatch: error: - (stdin) is given more than once: it can be read only once\n"
    )
    objects = jsonl(sipwatch("pcap", A, "-", "--format", "jsonl", stdin=data))
    assert [o["source"] for o in objects if o["type"] == "summary"] == [A, "stdin"]


def test_each_file_is_followed_by_its_own_summary() -> None:
    alone_a = jsonl(sipwatch("pcap", A, "--format", "jsonl"))
    alone_b = jsonl(sipwatch("pcap", B, "--format", "jsonl"))
    both = jsonl(sipwatch("pcap", A, B, "--format", "jsonl"))
    # Exactly the two single-file outputs one after the other: records, summary, records, summary.
    assert both == alone_a + alone_b
    assert [o["type"] for o in both].count("summary") == 2
    assert both[len(alone_a) - 1]["type"] == "summary"
    assert both[len(alone_a) - 1]["source"] == A
    assert both[-1] == {**alone_b[-1]} and both[-1]["source"] == B
