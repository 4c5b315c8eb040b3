"""The call list and ladder samples in the README are what sipwatch prints today.

Each sample is marked ``<!-- sample: COLUMNS=N command -->`` above a fenced block whose first
line is ``$ command`` (the marker's command without ``--no-color``) and the rest its output.
"""

from __future__ import annotations

import re
import shlex

import pytest
from typer.testing import CliRunner

from sipwatch.cli import app
from tests.conftest import REPO

_SAMPLE = re.compile(
    r"<!-- sample: COLUMNS=(?P<width>\d+) sipwatch (?P<args>[^>]*?) -->\n"
    r"```\n\$ (?P<shown>[^\n]*)\n(?P<output>.*?)```",
    re.S,
)


def samples() -> list[tuple[str, str, str, str]]:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    found = [(m["width"], m["args"], m["shown"], m["output"]) for m in _SAMPLE.finditer(text)]
    assert len(found) >= 2, "the README's call list and ladder samples are missing"
    return found


@pytest.mark.parametrize(("width", "args", "shown", "output"), samples())
def test_readme_sample_is_current(
    width: str, args: str, shown: str, output: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(REPO)
    assert shown == "sipwatch " + args.replace(" --no-color", "")
    result = CliRunner().invoke(
        app,
        shlex.split(args),
        env={"COLUMNS": width, "FORCE_COLOR": None, "TTY_COMPATIBLE": None, "NO_COLOR": None},
    )
    assert result.exit_code == 0, result.output
    assert result.output == output
