"""Which engine runs a capture, and why: the native core or the pure-Python reference.

Both engines give byte-identical output (the differential test holds them to it); the native
one reads and decodes faster. It is the compiled extension :mod:`sipwatch._core`, built by
``scripts/setup.sh`` where cargo is installed. Without it everything runs in Python, which is
also what ``--engine python`` asks for. ``sipwatch --version`` prints :func:`describe_engine`.
"""

from __future__ import annotations

import functools
import importlib
from dataclasses import dataclass
from types import ModuleType
from typing import Final, Literal

Engine = Literal["python", "native"]
ENGINES: Final[tuple[Engine, ...]] = ("python", "native")


@dataclass(frozen=True, slots=True)
class EngineChoice:
    """The engine that runs, why, and the one-line note to print (only when asked for native
    explicitly and it is not there)."""

    engine: Engine
    reason: str
    note: str | None = None


@functools.cache
def native_core() -> ModuleType | None:
    """The compiled core, or None when it is not built (or cannot be loaded here)."""
    try:
        return importlib.import_module("sipwatch._core")
    except ImportError:
        return None


def _missing() -> str:
    return "the native core (sipwatch._core) is not built: scripts/setup.sh builds it with cargo"


def select_engine(requested: Engine | None = None) -> EngineChoice:
    """The engine for ``--engine requested`` (None: the default, native when it is built)."""
    core = native_core()
    if requested == "python":
        return EngineChoice("python", "asked for with --engine python")
    if core is not None:
        how = "asked for with --engine native" if requested == "native" else "the default"
        return EngineChoice("native", f"{how}; core {core.__version__} is built")
    if requested == "native":
        return EngineChoice(
            "python", _missing(), note=f"note: {_missing()}; using the pure-Python engine"
        )
    return EngineChoice("python", _missing())


def describe_engine() -> str:
    """``engine: native (the default; core 0.1.0 is built)``: the line ``--version`` shows."""
    choice = select_engine()
    return f"engine: {choice.engine} ({choice.reason})"


__all__ = ["ENGINES", "Engine", "EngineChoice", "describe_engine", "native_core", "select_engine"]
