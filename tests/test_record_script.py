"""``captures/record.py`` still writes exactly the committed sipp scenarios.

The bundled captures promise that running ``record.py`` re-records them. The recorder writes each
case's scenario files before it plays them, so if its fragments or case descriptions drift from
the committed XML (which the bundled pcaps were recorded with), a re-recording would silently
play different scenarios and overwrite the committed files. Rendering needs no root, sipp or
network, so this runs everywhere the other tests do.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from captures import record
from tests.conftest import CAPTURES

SCENARIOS = CAPTURES / "scenarios"
CASES = record.cases()
FILES = [(case, who) for case in CASES for who in record.sides(case)]


def test_recorder_writes_to_the_committed_scenario_directory() -> None:
    assert record.SCENARIOS.resolve() == SCENARIOS.resolve()


def test_every_committed_scenario_belongs_to_a_case_and_every_case_has_its_files() -> None:
    generated = {f"{case.name}.{who}.xml" for case, who in FILES}
    committed = {p.name for p in SCENARIOS.glob("*.xml")}
    assert generated == committed


def test_every_case_has_a_bundled_capture() -> None:
    # tls-call.pcap is recorded by captures/record_tls.py (Python TLS peers, not sipp).
    recorded_here = {p.stem for p in CAPTURES.glob("*.pcap")} - {"tls-call"}
    assert {case.name for case in CASES} == recorded_here


@pytest.mark.parametrize(("case", "who"), FILES, ids=[f"{case.name}.{who}" for case, who in FILES])
def test_generated_scenario_equals_committed_file(case: record.Case, who: str) -> None:
    committed: Path = SCENARIOS / f"{case.name}.{who}.xml"
    # Bytes, not lines: sipp sends the CDATA as written, so whitespace matters on the wire.
    assert record.scenario_xml(case, who).encode() == committed.read_bytes()
