"""One reader of header parameters, checked against the grammar and against tshark.

:func:`sipwatch.sip.headers.header_param` serves the correlator (transaction keys, dialog tags)
and every renderer, through the memo of :mod:`sipwatch.sip.message`. Its fast spelling search
must give what the full RFC 3261 §25.1 grammar gives on every From, To and Via value of the
bundled and public captures, and the tags and branches it reads must be the ones tshark reads.
"""

from __future__ import annotations

import shutil
import subprocess
from collections import defaultdict
from pathlib import Path

import pytest

from sipwatch.capture.readers import open_capture
from sipwatch.pipeline import Pipeline, PipelineOptions
from sipwatch.records import MessageRecord
from sipwatch.sip.headers import _header_param_full, header_param, split_values
from tests.conftest import CAPTURES, PUBLIC

_SKIP = (".json", ".md")
_PARAMS = ("tag", "branch", "rport", "received", "lr", "transport")


def _captures(where: Path) -> list[Path]:
    if where == CAPTURES:
        return sorted(CAPTURES.glob("*.pcap"))
    if not PUBLIC.is_dir():
        pytest.skip(f"public captures not found at {PUBLIC} (../shared is absent)")
    return sorted(p for p in PUBLIC.iterdir() if p.is_file() and p.suffix not in _SKIP)


def _records(path: Path) -> list[MessageRecord]:
    try:
        source = open_capture(path)
    except Exception:  # not a capture (a README next to the public captures)
        return []
    pipeline = Pipeline(PipelineOptions(correlate=False), source=str(path))
    with source:
        return [r for r in pipeline.run(source) if isinstance(r, MessageRecord)]


@pytest.mark.parametrize("where", [CAPTURES, PUBLIC], ids=["bundled", "public"])
def test_fast_spelling_equals_the_full_grammar_on_real_values(where: Path) -> None:
    values: set[str] = set()
    for path in _captures(where):
        for record in _records(path):
            msg = record.msg
            values.update(msg.header_all("from"), msg.header_all("to"))
            for raw in msg.header_all("via"):
                values.update(split_values(raw))
    assert len(values) > (20 if where == CAPTURES else 1000)
    for value in values:
        for name in _PARAMS:
            assert header_param(value, name) == _header_param_full(value, name), (value, name)


@pytest.mark.parametrize(
    ("value", "name", "param"),
    [
        # fuzz-2006-06-26-2594.pcap frame 20: a To whose "<" never closes; tshark reads the tag.
        (
            "<sip:voi18063@sip.cybercity.dk.;tag=00-04092-1701af62-120c67172",
            "tag",
            "00-04092-1701af62-120c67172",
        ),
        ("<sip:a@h>;tag=abc def", "tag", "abc"),  # gen-value is a token: whitespace ends it
        ("<sip:a@h>;tag=abc\t;x=1", "tag", "abc"),
        ("<sip:a@h>; tag=first;tag=second", "tag", "first"),  # the first one wins
        ("<sip:a@h>;tagx=1;tag=2", "tag", "2"),
        ("<sip:a@h>;x=tag;tag=3", "tag", "3"),
        ("<sip:a@h>;tag", "tag", ""),
        ("<sip:a@h;tag=in>;TAG=Out", "tag", "Out"),
        ('"x;tag=no" <sip:a@h>;tag=yes', "tag", "yes"),
        ("SIP/2.0/UDP h;branch=z9hG4bK1 ;rport", "branch", "z9hG4bK1"),
        ("<sip:a@h>;tag=a\x0cb", "tag", "a\x0cb"),  # only SP and HTAB are whitespace here
    ],
)
def test_one_reader_for_every_spelling(value: str, name: str, param: str) -> None:
    assert header_param(value, name) == param
    assert _header_param_full(value, name) == param


_TSHARK = (
    *("tshark", "-o", "sip.desegment_headers:TRUE", "-Y", "sip", "-T", "fields"),
    *("-E", "occurrence=f", "-e", "frame.number", "-e", "sip.from.tag", "-e", "sip.to.tag"),
    *("-e", "sip.Via.branch", "-r"),
)


def _tshark_fields(path: Path) -> dict[int, tuple[str, str, str]]:
    out = subprocess.run(
        [*_TSHARK, str(path)],
        capture_output=True,
        text=True,
        errors="replace",
        timeout=120,
        check=False,
    ).stdout
    fields: dict[int, tuple[str, str, str]] = {}
    for line in out.splitlines():
        frame, from_tag, to_tag, branch = [*line.split("\t"), "", "", ""][:4]
        fields[int(frame)] = (from_tag, to_tag, branch)
    return fields


@pytest.mark.shared
@pytest.mark.tshark
def test_tags_and_branches_are_the_ones_tshark_reads() -> None:
    if shutil.which("tshark") is None:
        pytest.skip("tshark not installed")
    compared = gave_up = 0
    for path in _captures(PUBLIC):
        ours: dict[int, list[tuple[str, str, str]]] = defaultdict(list)
        for record in _records(path):
            msg = record.msg
            ours[record.frame].append((msg.from_tag, msg.to_tag, msg.branch))
        for frame, read in _tshark_fields(path).items():
            mine = ours.get(frame)
            if mine is None or len(mine) != 1:
                continue  # several messages in one frame: tshark lists the first only
            # tshark prints a control character as an escape (\f) or stops at a NUL.
            if any(not c.isprintable() for field in mine[0] for c in field):
                continue
            theirs = read
            if not mine[0][2]:
                # A top Via without a branch: tshark's first sip.Via.branch is a lower Via's.
                theirs = (*read[:2], "")
            elif not theirs[2]:
                # tshark gives up on a Via it cannot parse (an unbracketed IPv6 sent-by,
                # SIP\0322.0/UDP) and then reads no parameter of it at all.
                theirs = (*read[:2], mine[0][2])
                gave_up += 1
            assert mine[0] == theirs, (path.name, frame)
            compared += 1
    assert compared > 10_000 and gave_up < compared // 100
