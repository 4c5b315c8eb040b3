"""Without the public corpus the run stays green and says how many tests it could not run.

A real pytest run in a subprocess, pointed (``SIPWATCH_PUBLIC_CAPTURES``) at a directory that
does not exist: every corpus test must skip with the corpus reason, none may fail, and the
closing summary must count exactly the skips that gave that reason.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from tests.conftest import CORPUS_ABSENT, REPO

#: Modules whose tests read the corpus in each of the ways a test can need it: a named capture,
#: the whole directory, one case per tshark oracle.
MODULES = ["tests/test_oracle.py", "tests/test_capture_readers.py", "tests/test_capture_decode.py"]


def test_run_without_corpus_counts_its_skips(tmp_path: Path) -> None:
    env = {**os.environ, "SIPWATCH_PUBLIC_CAPTURES": str(tmp_path / "absent")}
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-n",
            "0",
            "-q",
            "-rs",
            "-p",
            "no:cacheprovider",
            *MODULES,
        ],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:]
    skip_lines = [line for line in done.stdout.splitlines() if line.startswith("SKIPPED")]
    corpus = [line for line in skip_lines if CORPUS_ABSENT in line]
    assert corpus, done.stdout[-3000:]
    # -rs folds identical reasons into one line with a count: "SKIPPED [3] file:line: reason".
    counted = 0
    for line in corpus:
        folded = re.match(r"SKIPPED \[(\d+)\]", line)
        assert folded is not None, line
        counted += int(folded.group(1))
    match = re.search(rf"^(\d+) tests skipped: {CORPUS_ABSENT} \(", done.stdout, re.MULTILINE)
    assert match is not None, done.stdout[-3000:]
    assert int(match.group(1)) == counted
    assert "got empty parameter set" not in done.stdout
