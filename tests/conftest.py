"""Shared fixtures: where the real captures live."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
CAPTURES = REPO / "captures"
#: Public captures written by others, with tshark oracles; CI provides ../shared beside the clone.
_DEFAULT_PUBLIC = REPO.parent / "shared" / "captures" / "public"
PUBLIC = Path(os.environ.get("SIPWATCH_PUBLIC_CAPTURES", _DEFAULT_PUBLIC))


def public_capture(name: str) -> Path:
    """Path of a public capture, skipping the test with a clear reason when it is absent."""
    path = PUBLIC / name
    if not path.exists():
        pytest.skip(f"public capture {name} not found under {PUBLIC} (../shared is absent)")
    return path


@pytest.fixture
def public() -> Path:
    if not PUBLIC.is_dir():
        pytest.skip(f"public captures not found at {PUBLIC} (../shared is absent)")
    return PUBLIC


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Long-running tests first: with ``-n auto`` one worker starts the memory soak at once
    while the others share the rest, so the soak sets the suite's wall time, not its sum."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Print what slow tests measured (their ``measured`` user property): under xdist a test's
    own output is not shown, and these numbers belong in the CI log."""
    for report in terminalreporter.getreports("passed"):
        for name, value in report.user_properties:
            if name == "measured":
                terminalreporter.write_line(f"{report.nodeid}: {value}")
