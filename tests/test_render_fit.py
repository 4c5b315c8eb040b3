"""Timeline lines fitted to the terminal: no status code, method or Call-ID is ever split.

Exact output of a bundled capture at 60, 100 and 120 columns (reviewed files in
tests/data/terminal), the same promises checked on every bundled capture and width, the
pieces of the layout on their own, and the command line's choice: fitted on a terminal only,
one line per message into a pipe or a file.
"""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import pytest
from rich.cells import cell_len
from rich.console import Console
from typer.testing import CliRunner

from sipwatch.capture.readers import open_capture
from sipwatch.cli import app
from sipwatch.pipeline import Pipeline, PipelineOptions
from sipwatch.render.fit import MIN_ELIDED, elide, fit_line
from sipwatch.render.output import make_renderer
from sipwatch.render.terminal import TerminalRenderer
from tests.conftest import CAPTURES

EXPECTED = Path(__file__).parent / "data" / "terminal"
WIDTHS = (60, 100, 120)
MESSAGE = re.compile(r"^ {0,5}\d+ ")


def render(path: Path, width: int) -> str:
    out = io.StringIO()
    renderer = TerminalRenderer(Console(file=out, width=width, color_system=None), fit=True)
    pipeline = Pipeline(PipelineOptions(), source=f"captures/{path.name}")
    with open_capture(path) as source:
        for record in pipeline.run(source):
            renderer.record(record)
    renderer.summary(pipeline.summary)
    return out.getvalue()


def messages(path: Path) -> list[dict[str, object]]:
    result = CliRunner().invoke(app, ["pcap", str(path), "--format", "jsonl"])
    return [m for m in map(json.loads, result.stdout.splitlines()) if m["type"] == "message"]


@pytest.mark.parametrize("width", WIDTHS)
def test_fitted_timeline_is_exactly_as_reviewed(width: int) -> None:
    text = render(CAPTURES / "bad-extension-proxy.pcap", width)
    assert text == (EXPECTED / f"bad-extension-proxy-fit-{width}.txt").read_text()


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("path", sorted(CAPTURES.glob("*.pcap")), ids=lambda p: p.stem)
def test_no_line_is_wider_and_no_field_is_split(path: Path, width: int) -> None:
    text = render(path, width)
    lines = text.splitlines()
    assert [line for line in lines if cell_len(line) > width] == []
    timeline = text.split("\nSummary of ", 1)[0].splitlines()  # the summary is rich's to wrap
    assert all(line == line.rstrip() for line in timeline)
    # Each message: its first line, then the continuation lines (indented, not an annotation).
    groups: list[list[str]] = []
    for line in lines:
        if MESSAGE.match(line):
            groups.append([line])
        elif groups and line.startswith(" " * 9) and line[9:10] not in ("↳", " ", "⚠", ""):
            groups[-1].append(line)
    expected = messages(path)
    assert len(groups) == len(expected)
    for group, msg in zip(groups, expected, strict=True):
        words = [set(line.split()) for line in group]
        assert any(str(msg["frame"]) in w for w in words[:1])
        key = str(msg["status"]) if msg["kind"] == "response" else str(msg["method"])
        assert any(key in w for w in words), (key, group)
        call = f"[{str(msg['call_id'])[:8]}]"
        assert any(call in w for w in words), (call, group)
        cseq = f"{msg['cseq']} {msg['method']}"
        assert any(re.search(rf"(^| ){cseq}( |$)", line) for line in group), (cseq, group)


def test_elide_counts_cells() -> None:
    assert elide("sip:alice@example.com", 12) == "sip:alice@e…"
    assert elide("sip:短い@例え.jp", 10) == "sip:短い@…"  # wide characters are two cells
    assert cell_len(elide("sip:短い@例え.jp", 10)) <= 10
    assert elide("short", 12) == "short"


def test_fit_line_elides_first_then_wraps_between_fields() -> None:
    pieces = [("     1 ", ""), ("12:00:00.000 ", ""), ("INVITE", ""), (" sip:" + "a" * 40, "")]
    pieces += [("  [abcdefgh]", ""), (" 1 INVITE", "")]
    assert fit_line(pieces, 200, 3) == [pieces]
    (one,) = fit_line(pieces, 70, 3)  # room enough: the URI loses its tail
    assert "".join(t for t, _ in one) == (
        "     1 12:00:00.000 INVITE sip:" + "a" * 17 + "…  [abcdefgh] 1 INVITE"
    )
    assert cell_len("".join(t for t, _ in one)) == 70
    lines = fit_line(pieces, 40, 3)  # too narrow: wrapped between fields, URI cut to fit
    texts = ["".join(t for t, _ in line) for line in lines]
    assert texts == [
        "     1 12:00:00.000 INVITE sip:aaaaaaaa…",
        "         [abcdefgh] 1 INVITE",
    ]
    assert all(cell_len(t) <= 40 for t in texts)
    assert MIN_ELIDED == 12


def test_pipes_and_files_keep_one_line_per_message() -> None:
    result = CliRunner().invoke(
        app,
        ["pcap", str(CAPTURES / "bad-extension-proxy.pcap"), "--explain", "none"],
        env={"COLUMNS": "60"},
    )
    lines = [line for line in result.stdout.splitlines() if MESSAGE.match(line)]
    assert len(lines) == 16 and max(map(len, lines)) > 60
    assert all(line.endswith(("INVITE", "ACK", "BYE")) for line in lines)


class Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_terminal_gets_fitted_lines() -> None:
    out = Tty()
    renderer = make_renderer("text", out, color=False)
    assert isinstance(renderer, TerminalRenderer) and renderer.fit
    piped = make_renderer("text", io.StringIO(), color=True)
    assert isinstance(piped, TerminalRenderer) and not piped.fit
