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
