"""A bounded mutation fuzzer for the whole capture path, shared by the CI test and the long run.

``tests/test_fuzz.py`` runs a fixed, seeded number of cases (about a minute in CI);
``benchmarks/fuzz.py`` runs the same engine for as long as it is told and saves what breaks.

Every case is a capture file, so every failure can be replayed with ``sipwatch pcap FILE``. The
cases are mutations of real captures (the public ones under ``../shared/captures/public`` and the
bundled ``captures/*.pcap``), produced by one of several strategies, each aimed at one layer:

* ``file``: bytes of the capture file itself (pcap, pcapng and NetMon readers);
* ``frames``: bytes of individual frames, plus dropped, duplicated, reordered and re-timed
  frames (link and IP decoding, the timers);
* ``payload``: transport payloads (UDP datagrams, TCP segments, SCTP packets) mutated and put
  back into fresh, well-formed Ethernet/IP headers, so the damage reaches the SIP parser, TCP
  reassembly, WebSocket and SCTP intact; SIP text gets SIP-aware edits (hostile header values,
  absurd Content-Length and CSeq, thousands of header lines, folded lines);
* ``stream``: TCP segments re-cut at random points (sequence numbers kept right), reordered,
  repeated, lost or given a stray SYN/FIN/RST; SCTP DATA chunks re-fragmented over consecutive
  TSNs with flipped B/E flags (TCP reassembly, SIP framing, WebSocket, SCTP reassembly);
* ``fragments``: UDP datagrams cut into IPv4 fragments with random sizes, overlaps, duplicates
  and order (fragment reassembly);
* ``time``: pcapng files whose interface declares extreme timestamp resolutions and offsets.

A case passes when sipwatch reads it, or refuses it with an operator error at open (the file is
not a capture), and:

* no exception escapes and the case finishes within the time bound (a hang is a failure);
* the terminal output carries no escape, C1 or bidirectional-override character (colour is off,
  so any such character came from the wire);
* every JSON line parses, the summary is the last line, and the summary's counts agree with the
  lines printed (nothing decoded is lost between the pipeline and the renderer).
"""

from __future__ import annotations

import hashlib
import io
import json
import random
import re
import signal
import sys
import time
import traceback
import unicodedata
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

from sipwatch.capture.readers import open_capture
from sipwatch.errors import CaptureFormatError, CaptureReadError
from sipwatch.pipeline import Pipeline, PipelineOptions
from sipwatch.render.jsonl import JsonlRenderer
from sipwatch.render.output import make_console
from sipwatch.render.terminal import TerminalRenderer
from tests.fuzz_cases import (
    MAKERS,
    STRATEGIES,
    Seed,
    capture_paths,
    ip_frame,
    load_seeds,
    transport_units,
    udp_frame,
    write_capture,
)

__all__ = [
    "STRATEGIES",
    "Failure",
    "FuzzTimeout",
    "Outcome",
    "Seed",
    "capture_paths",
    "case_name",
    "check_output",
    "fuzz",
    "ip_frame",
    "load_seeds",
    "run_case",
    "time_limit",
    "transport_units",
    "udp_frame",
    "write_capture",
]


def _unsafe_class() -> re.Pattern[str]:
    """Every control (Cc, but the newline the renderer ends lines with), format (Cf) and
    line/paragraph separator (Zl, Zp) character, from the Unicode database itself rather than
    from the list :mod:`sipwatch.render.safe` keeps, so the two check each other."""
    ranges: list[tuple[int, int]] = []
    for code in range(sys.maxunicode + 1):
        if code != 10 and unicodedata.category(chr(code)) in ("Cc", "Cf", "Zl", "Zp"):
            if ranges and ranges[-1][1] == code - 1:
                ranges[-1] = (ranges[-1][0], code)
            else:
                ranges.append((code, code))
    body = "".join(
        re.escape(chr(a)) + ("-" + re.escape(chr(b)) if b > a else "") for a, b in ranges
    )
    return re.compile(f"[{body}]")


#: Characters that must never reach a terminal from the wire: colour is off, so the renderer
#: itself writes none of them.
UNSAFE_OUTPUT = _unsafe_class()


class FuzzTimeout(BaseException):
    """A case ran past its time bound (a BaseException so no ``except Exception`` eats it)."""


@contextmanager
def time_limit(seconds: float) -> Iterator[None]:
    """Raise :class:`FuzzTimeout` in this thread after ``seconds`` of wall time."""

    def expired(_signum: int, _frame: FrameType | None) -> None:
        raise FuzzTimeout(f"case ran longer than {seconds} s")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


# -- running one case -------------------------------------------------------------------------


@dataclass(slots=True)
class Outcome:
    """What one case did: ``ok``, ``refused`` (not a capture), or a failure kind with detail."""

    status: str
    detail: str = ""
    messages: int = 0
    seconds: float = 0.0

    @property
    def failed(self) -> bool:
        return self.status not in ("ok", "refused")


def run_case(data: bytes, path: Path, seconds: float = 10.0) -> Outcome:
    """Write ``data`` to ``path`` and run it through the reader, pipeline and both renderers."""
    path.write_bytes(data)
    start = time.perf_counter()
    try:
        with time_limit(seconds):
            outcome = _run(path)
    except FuzzTimeout as exc:
        outcome = Outcome("hang", str(exc))
    except Exception:
        outcome = Outcome("crash", traceback.format_exc())
    outcome.seconds = time.perf_counter() - start
    return outcome


def _run(path: Path) -> Outcome:
    try:
        source = open_capture(path)
    except (CaptureFormatError, CaptureReadError) as exc:
        return Outcome("refused", str(exc))
    text, lines = io.StringIO(), io.StringIO()
    terminal = TerminalRenderer(make_console(text, color=False, width=100))
    jsonl = JsonlRenderer(lines, flush=False)
    with source:
        pipeline = Pipeline(PipelineOptions(), source=path.name)
        for record in pipeline.run(source):
            terminal.record(record)
            jsonl.record(record)
        summary = pipeline.summary
        summary.truncated = source.stats.truncated
        summary.problems.extend(source.stats.problems)
    terminal.summary(summary)
    jsonl.summary(summary)
    return check_output(text.getvalue(), lines.getvalue())


def check_output(text: str, lines: str) -> Outcome:
    """The output invariants every case must keep (see the module docstring)."""
    bad = UNSAFE_OUTPUT.search(text)
    if bad is not None:
        start = max(0, bad.start() - 40)
        return Outcome(
            "escape", f"terminal output holds {bad.group()!r}: {text[start : bad.end() + 40]!r}"
        )
    if UNSAFE_OUTPUT.search(lines) is not None or not lines.isascii():
        return Outcome("escape", "JSON lines hold a raw control or non-ASCII character")
    objects = [json.loads(line) for line in lines.splitlines()]
    kinds = [obj["type"] for obj in objects]
    if not objects or kinds[-1] != "summary" or kinds.count("summary") != 1:
        return Outcome("invariant", f"summary is not the single last line: {kinds[-3:]}")
    summary = objects[-1]
    messages = kinds.count("message")
    malformed = kinds.count("malformed")
    if messages != summary["messages"] or summary["shown"] != summary["messages"]:
        return Outcome(
            "invariant",
            f"{messages} message lines, summary says {summary['messages']} "
            f"({summary['shown']} shown)",
        )
    if malformed != sum(summary["malformed"].values()):
        return Outcome("invariant", f"{malformed} malformed lines, summary {summary['malformed']}")
    if sum(summary["requests"].values()) + sum(summary["responses"].values()) != messages:
        return Outcome("invariant", "requests + responses differ from messages")
    return Outcome("ok", messages=messages)


def case_name(strategy: str, data: bytes) -> str:
    return f"{strategy}-{hashlib.sha1(data).hexdigest()[:12]}"


@dataclass(slots=True)
class Failure:
    strategy: str
    seed: str
    outcome: Outcome
    data: bytes


def fuzz(
    seeds: Sequence[Seed],
    workdir: Path,
    *,
    rng: random.Random,
    cases: int | None = None,
    until: Callable[[], bool] | None = None,
    strategies: Sequence[str] = STRATEGIES,
    seconds_per_case: float = 10.0,
    on_result: Callable[[str, Outcome], None] | None = None,
) -> list[Failure]:
    """Run cases round-robin over strategies and random seeds until ``cases`` ran or ``until()``.

    Returns the failures (each with the capture bytes that caused it).
    """
    failures: list[Failure] = []
    usable = [s for s in seeds if s.frames]
    path = workdir / "case.pcap"
    done = 0
    while (cases is None or done < cases) and (until is None or not until()):
        strategy = strategies[done % len(strategies)]
        seed = rng.choice(usable)
        data = MAKERS[strategy](rng, seed)
        outcome = run_case(data, path, seconds_per_case)
        if on_result is not None:
            on_result(strategy, outcome)
        if outcome.failed:
            failures.append(Failure(strategy, seed.name, outcome, data))
        done += 1
    return failures
