"""Exact terminal output of the timeline, annotations, findings and summary (DESIGN §4)."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from rich.console import Console

from sipwatch.capture.readers import open_capture
from sipwatch.pipeline import Pipeline, PipelineOptions
from sipwatch.render.output import make_console
from sipwatch.render.terminal import TerminalRenderer, clock
from tests.conftest import CAPTURES

EXPECTED = Path(__file__).parent / "data" / "terminal"


def render(name: str, console: Console, options: PipelineOptions | None = None) -> None:
    renderer = TerminalRenderer(console)
    pipeline = Pipeline(options or PipelineOptions(), source=f"captures/{name}")
    with open_capture(CAPTURES / name) as source:
        for record in pipeline.run(source):
            renderer.record(record)
    renderer.summary(pipeline.summary)


@pytest.mark.parametrize("name", ["bad-extension-proxy", "transfer-no-notify"])
def test_timeline_is_exactly_as_reviewed(name: str) -> None:
    out = io.StringIO()
    render(f"{name}.pcap", Console(file=out, width=100, color_system=None))
    assert out.getvalue() == (EXPECTED / f"{name}.txt").read_text()


def test_no_line_has_trailing_blanks() -> None:
    out = io.StringIO()
    render("transfer-two-refers.pcap", Console(file=out, width=80, color_system=None))
    assert all(line == line.rstrip() for line in out.getvalue().splitlines())


def test_responses_are_coloured_by_class_when_colour_is_on() -> None:
    out = io.StringIO()
    render("bad-extension-uas.pcap", make_console(out, color=True, width=120))
    text = out.getvalue()
    red = "\x1b[31m420 Bad Extension"
    green = "\x1b[32m200 OK"
    assert red in text
    assert green in text


def test_explain_none_prints_no_annotation() -> None:
    out = io.StringIO()
    options = PipelineOptions(explain="none")
    render("bad-extension-uas.pcap", Console(file=out, width=100, color_system=None), options)
    assert "why:" not in out.getvalue()
    assert "420 Bad Extension" in out.getvalue()


def test_clock_rounds_to_milliseconds_in_utc() -> None:
    assert clock(0.0) == "00:00:00.000"
    assert clock(3661.9996) == "01:01:02.000"
