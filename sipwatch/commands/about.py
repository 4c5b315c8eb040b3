"""``sipwatch --version``: what is running, and which of the tools it relies on were found.

A bug report or a CI log needs more than a version number: which engine decoded the
capture, which Python ran it, and whether the external programs that ``live`` (tcpdump) and
the test suite (tshark) use are installed, where, and in which version.
"""

from __future__ import annotations

import platform
import shutil
import subprocess
import sys
from typing import Final

from sipwatch import __version__

#: External programs sipwatch runs: what each is for, shown when it is missing.
TOOLS: Final[tuple[tuple[str, str], ...]] = (
    ("tshark", "decode oracle of the test suite"),
    ("tcpdump", "needed by sipwatch live"),
)
_PROBE_SECONDS: Final = 5.0


def engine_line() -> str:
    """The engine that runs by default, and why (:func:`sipwatch.engine.describe_engine`)."""
    from sipwatch.engine import describe_engine

    return describe_engine()


def python_line() -> str:
    return f"python: {platform.python_version()} ({sys.executable})"


def tool_version(path: str) -> str | None:
    """The first line a tool prints for ``--version`` (``tshark``, ``tcpdump`` both answer it).

    Either stream may carry it (tcpdump writes to stdout in recent releases, stderr in old
    ones; tshark warns on stderr when run as root), so the first line naming a version wins.
    """
    try:
        done = subprocess.run(
            [path, "--version"],
            capture_output=True,
            text=True,
            errors="replace",
            timeout=_PROBE_SECONDS,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    for line in (done.stdout + "\n" + done.stderr).splitlines():
        if "version" in line.lower() or line.startswith("TShark"):
            return line.strip()
    return None


def tool_line(name: str, purpose: str) -> str:
    """``tshark: /usr/bin/tshark (TShark (Wireshark) 4.0.17 ...)`` or ``tshark: not found``."""
    path = shutil.which(name)
    if path is None:
        return f"{name}: not found ({purpose})"
    version = tool_version(path)
    return f"{name}: {path} ({version})" if version else f"{name}: {path} (version unknown)"


def version_lines() -> list[str]:
    """Every line ``sipwatch --version`` prints, the sipwatch version first."""
    return [
        f"sipwatch {__version__}",
        engine_line(),
        python_line(),
        *(tool_line(name, purpose) for name, purpose in TOOLS),
    ]
