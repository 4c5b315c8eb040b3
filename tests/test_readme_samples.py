"""The README's sample outputs are what the commands print today.

Each ``<!-- sample: COMMAND -->`` block is compared with a real run of its command, colourless
at 80 columns (scripts/readme_samples.py, which also rewrites stale blocks).
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from types import ModuleType
from typing import Any

import pytest

from tests.conftest import REPO

SCRIPT = REPO / "scripts" / "readme_samples.py"


def load_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("readme_samples", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["readme_samples"] = module
    spec.loader.exec_module(module)
    return module


SAMPLES = load_script()
README_SAMPLES = SAMPLES.samples((REPO / "README.md").read_text(encoding="utf-8"))


def test_the_readme_has_the_quick_start_sample() -> None:
    commands = [sample.command for sample in README_SAMPLES]
    assert "sipwatch pcap captures/bad-extension-proxy.pcap" in commands
    assert "sipwatch check captures/" in commands


@pytest.mark.parametrize("sample", README_SAMPLES, ids=lambda s: s.command)
def test_sample_equals_a_real_run(sample: Any) -> None:
    command, body = sample.command, sample.body
    fresh = SAMPLES.run(command)
    shown = command.partition(" ")[2] if command.startswith("COLUMNS=") else command
    assert fresh.startswith(f"$ {shown}\n") and len(fresh.splitlines()) > 3
    assert body == fresh, "stale README sample: run python3 scripts/readme_samples.py"


def test_regenerate_repairs_a_stale_block_and_check_passes() -> None:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    stale = text.replace("frames            16", "frames            17", 1)
    assert stale != text
    assert SAMPLES.regenerate(stale) == text
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--check"], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stdout
