"""Shared fixtures: where the real captures live."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[1]
CAPTURES = REPO / "captures"
#: Public captures written by others, with tshark oracles; CI provides ../shared beside the clone.
_DEFAULT_PUBLIC = REPO.parent / "shared" / "captures" / "public"
PUBLIC = Path(os.environ.get("SIPWATCH_PUBLIC_CAPTURES", _DEFAULT_PUBLIC))
#: Every skip for want of the corpus says this, so the run can count them (see the summary).
CORPUS_ABSENT = "the public capture corpus is absent"


def corpus_reason(what: str) -> str:
    """The skip reason of a test that needs ``what`` from the corpus."""
    return f"{what} not found under {PUBLIC}: {CORPUS_ABSENT} (set SIPWATCH_PUBLIC_CAPTURES)"


def public_capture(name: str) -> Path:
    """Path of a public capture, skipping the test with a clear reason when it is absent."""
    path = PUBLIC / name
    if not path.exists():
        pytest.skip(corpus_reason(f"public capture {name}"))
    return path


def require_corpus() -> Path:
    """The corpus directory, or skip the calling test with the corpus reason."""
    if not PUBLIC.is_dir():
        pytest.skip(corpus_reason("public captures"))
    return PUBLIC


def public_oracles() -> list[Any]:
    """The corpus's tshark oracles as parameters (id: the capture's name).

    Without the corpus this is one skipped case with the corpus reason, instead of pytest's
    "got empty parameter set", which would not say why and would not be counted.
    """
    oracles = sorted(PUBLIC.glob("*.oracle.json")) if PUBLIC.is_dir() else []
    if not oracles:
        return [
            pytest.param(
                None, id="no-corpus", marks=pytest.mark.skip(reason=corpus_reason("tshark oracles"))
            )
        ]
    return [pytest.param(p, id=p.name.removesuffix(".oracle.json")) for p in oracles]


@pytest.fixture
def public() -> Path:
    return require_corpus()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Long-running tests first: with ``-n auto`` one worker starts the memory soak at once
    while the others share the rest, so the soak sets the suite's wall time, not its sum."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)


def _skip_reason(report: pytest.TestReport) -> str:
    longrepr = report.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        return str(longrepr[2])
    return str(longrepr)


def corpus_skips(reports: list[pytest.TestReport]) -> int:
    """How many of the skipped ``reports`` were skipped because the corpus is absent."""
    return sum(1 for report in reports if CORPUS_ABSENT in _skip_reason(report))


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Print what slow tests measured (their ``measured`` user property): under xdist a test's
    own output is not shown, and these numbers belong in the CI log. Then say how many tests
    did not run for want of the public corpus: a green run without it tests less, and says so."""
    for report in terminalreporter.getreports("passed"):
        for name, value in report.user_properties:
            if name == "measured":
                terminalreporter.write_line(f"{report.nodeid}: {value}")
    skipped = corpus_skips(terminalreporter.getreports("skipped"))
    if skipped:
        terminalreporter.write_line(
            f"{skipped} tests skipped: {CORPUS_ABSENT} ({PUBLIC}); "
            "see README, 'The public capture corpus'"
        )
    elif PUBLIC.is_dir():
        terminalreporter.write_line(f"public capture corpus: {PUBLIC}")
