#!/usr/bin/env python3
"""Regenerate the golden JSON lines file of each bundled capture.

    python3 captures/make_golden.py          # from the repository root

``tests/test_golden.py`` checks that ``sipwatch pcap captures/NAME.pcap --format jsonl`` still
prints exactly ``captures/NAME.golden.jsonl``. Run this after a deliberate change of output, and
read the diff before committing it: the golden files are the project's record of what users see.
"""

from __future__ import annotations

import io
import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def key_log(name: str) -> Path | None:
    """``captures/STEM.keys`` beside ``captures/STEM.pcap``: its TLS key log, if it has one."""
    keys = HERE / (Path(name).stem + ".keys")
    return keys if keys.exists() else None


def golden_text(name: str) -> str:
    """What ``sipwatch pcap captures/NAME --format jsonl`` prints (run from the repo root),
    with ``--tls-keylog captures/STEM.keys`` when the capture has a key log."""
    from sipwatch.commands.pcap import run_pcap
    from sipwatch.pipeline import PipelineOptions

    keys = key_log(name)
    options = PipelineOptions(tls_keylog=None if keys is None else f"captures/{keys.name}")
    out = io.StringIO()
    run_pcap([f"captures/{name}"], options, "jsonl", out)
    return out.getvalue()


def main() -> int:
    os.chdir(HERE.parent)
    sys.path.insert(0, str(HERE.parent))
    for capture in sorted(HERE.glob("*.pcap")):
        target = capture.with_name(capture.stem + ".golden.jsonl")
        target.write_text(golden_text(capture.name))
        print(f"wrote {target.relative_to(HERE.parent)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
