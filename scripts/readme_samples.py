#!/usr/bin/env python3
"""Regenerate the sample outputs in README.md from real runs, or check that they still match.

A sample is a fenced block right after a marker naming its command::

    <!-- sample: sipwatch pcap captures/bad-extension-proxy.pcap -->
    ```text
    $ sipwatch pcap captures/bad-extension-proxy.pcap
    ...what the command printed...
    ```

Each command runs from the repository root through ``python -m sipwatch`` (the virtualenv's
Python when there is one) with colour off and an 80-column width (a marker may start with
``COLUMNS=N`` for a wider view, e.g. the call list and ladder), so the block is exactly what a
user sees in a file or pipe at that width. ``python3 scripts/readme_samples.py`` rewrites the
blocks; ``--check`` only compares, prints a diff and exits 1 when a block is stale
(tests/test_readme_samples.py runs the same comparison).
"""

from __future__ import annotations

import difflib
import os
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"
WIDTH = 80
SAMPLE = re.compile(r"<!-- sample: (?P<command>[^\n]+?) -->\n```text\n(?P<body>.*?)```\n", re.S)


@dataclass(frozen=True)
class Sample:
    command: str
    body: str  # the block as the README has it: "$ command" line, then the output
    start: int
    end: int


def samples(text: str) -> list[Sample]:
    """Every sample block of ``text``, in order."""
    return [
        Sample(m["command"], m["body"], m.start("body"), m.end("body"))
        for m in SAMPLE.finditer(text)
    ]


def python() -> str:
    venv = REPO / ".venv" / "bin" / "python"
    return str(venv) if venv.exists() else sys.executable


def run(command: str) -> str:
    """The block for ``command``: its prompt line and what it printed on standard output."""
    width, shown = WIDTH, command
    if command.startswith("COLUMNS="):
        setting, _, shown = command.partition(" ")
        width = int(setting.removeprefix("COLUMNS="))
    argv = shlex.split(shown)
    if not argv or argv[0] != "sipwatch":
        raise SystemExit(f"README sample {command!r}: only sipwatch commands can be samples")
    env = {**os.environ, "NO_COLOR": "1", "COLUMNS": str(width), "TERM": "dumb"}
    env.pop("FORCE_COLOR", None)
    done = subprocess.run(
        [python(), "-m", "sipwatch", *argv[1:]],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if done.returncode not in (0, 1):  # check exits 1 when a rule fails: still a sample
        raise SystemExit(f"README sample {command!r} failed ({done.returncode}): {done.stderr}")
    return f"$ {shown}\n{done.stdout}"


def regenerate(text: str) -> str:
    """``text`` with every sample block replaced by a fresh run of its command."""
    out, position = [], 0
    for sample in samples(text):
        out += [text[position : sample.start], run(sample.command)]
        position = sample.end
    out.append(text[position:])
    return "".join(out)


def main(args: list[str]) -> int:
    text = README.read_text(encoding="utf-8")
    fresh = regenerate(text)
    if "--check" in args:
        if fresh == text:
            return 0
        sys.stdout.writelines(
            difflib.unified_diff(
                text.splitlines(keepends=True),
                fresh.splitlines(keepends=True),
                "README.md",
                "README.md (fresh runs)",
            )
        )
        return 1
    if fresh != text:
        README.write_text(fresh, encoding="utf-8")
        print(f"README.md: {len(samples(text))} samples regenerated")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
