"""Streams in the terminal (a line per stream, a media section in the summary) and in JSON."""

from __future__ import annotations

import io
import json

from rich.console import Console

from sipwatch.capture.readers import open_capture
from sipwatch.pipeline import Pipeline, PipelineOptions
from sipwatch.records import StreamRecord, Summary
from sipwatch.render.jsonl import JsonlRenderer
from sipwatch.render.terminal import TerminalRenderer
from tests.conftest import public_capture
from tests.test_check_media import stream


def _terminal(records: list[StreamRecord], summary: Summary) -> str:
    out = io.StringIO()
    renderer = TerminalRenderer(Console(file=out, width=100, color_system=None))
    for record in records:
        renderer.record(record)
    renderer.summary(summary)
    return out.getvalue()


def test_stream_line_and_media_section_exact_text() -> None:
    record = stream(3.12)
    summary = Summary(source="x.pcap", streams=[record.stream], streams_total=1)
    text = _terminal([record], summary)
    assert text.splitlines()[0] == (
        "       ♪ RTP 192.0.2.1:4000 → 192.0.2.2:5000 PCMU/8000 SSRC 0x00001234 (call call-1): "
        "900 packets,"
    )
    assert text.splitlines()[1] == (
        "       100 lost of 1000, jitter 4.250/12.500 ms mean/max, MOS ≈ 3.12 (estimate)"
    )
    assert text.splitlines()[-1] == (
        "media             call call-1: 1 stream (PCMU/8000), 900 packets, 100/1000 lost, "
        "min MOS est. 3.12"
    )


def test_wire_text_in_a_codec_name_stays_inert() -> None:
    # The codec name comes from a=rtpmap, that is from the wire.
    hostile = stream(None, codec="\x1b[31mPCMU[/bold]", call_id="")
    summary = Summary(streams=[hostile.stream], streams_total=1)
    text = _terminal([hostile], summary)
    assert "\x1b" not in text
    assert "[/bold]" in text  # shown as text, not taken as markup
    line = io.StringIO()
    JsonlRenderer(line).record(hostile)
    assert "\\u001b" in line.getvalue() and "\x1b" not in line.getvalue()


def test_public_capture_stream_records() -> None:
    path = public_capture("sip-rtp-g711.pcap")
    out = io.StringIO()
    renderer = JsonlRenderer(out)
    pipeline = Pipeline(PipelineOptions(), source=path.name)
    with open_capture(path) as source:
        for record in pipeline.run(source):
            renderer.record(record)
    renderer.summary(pipeline.summary)
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    streams = [line for line in lines if line["type"] == "stream"]
    # tshark -z rtp,streams: 0x343DA99B g711U 425 packets, 0x343FFA34 g711A 414, none lost.
    assert [(s["ssrc"], s["codec"], s["packets"], s["lost"]) for s in streams] == [
        (0x343DA99B, "PCMU/8000", 425, 0),
        (0x343FFA34, "PCMA/8000", 414, 0),
    ]
    assert list(streams[0])[:16] == [
        "schema",
        "type",
        "call_id",
        "origin",
        "src",
        "dst",
        "ssrc",
        "payload_type",
        "codec",
        "clock_rate",
        "packets",
        "expected",
        "lost",
        "duplicates",
        "sequence_errors",
        "jitter_max_ms",
    ]
    summary = lines[-1]
    assert summary["notes"] == {"rtp-packets": 839, "rtp-streams": 2}
    assert summary["skipped"] == {"non-sip-udp": 842}
