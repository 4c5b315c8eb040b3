"""Each bundled capture reproduces its golden JSON lines file exactly (DESIGN §4).

The captures were recorded by ``captures/record.py`` with sipp and Kamailio; the golden files were
written by ``captures/make_golden.py`` and reviewed. A difference here is a change of what users
and CI parsers see: regenerate deliberately, never to make this test pass.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from captures.make_golden import golden_text, key_log
from tests.conftest import CAPTURES

GOLDEN = sorted(CAPTURES.glob("*.golden.jsonl"))


def test_every_bundled_capture_has_a_golden_file() -> None:
    captures = {p.stem for p in CAPTURES.glob("*.pcap")}
    goldens = {p.name.removesuffix(".golden.jsonl") for p in GOLDEN}
    assert captures == goldens
    assert len(captures) >= 12


@pytest.mark.parametrize("golden", GOLDEN, ids=lambda p: p.name.removesuffix(".golden.jsonl"))
def test_capture_matches_golden(golden: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(CAPTURES.parent)
    name = golden.name.removesuffix(".golden.jsonl") + ".pcap"
    if key_log(name) is not None and shutil.which("tshark") is None:
        pytest.skip(f"{name} is SIP over TLS: its key log is read through tshark, not installed")
    expected = golden.read_text().splitlines()
    actual = golden_text(name).splitlines()
    for line in actual:
        json.loads(line)  # every line is JSON
    assert actual == expected
