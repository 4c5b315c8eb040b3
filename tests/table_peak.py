"""Fill one correlator table with crafted traffic and print the peak memory, as JSON.

Run as ``python -m tests.table_peak TABLE CAP ENTRIES`` in a child process (so the peak is this
workload's alone): ``TABLE`` is ``exchanges`` (unanswered INVITEs, each its own Call-ID) or
``dialogs`` (INVITE and a tagged 180 per call: an early dialog and its exchange) or
``transfers`` (REFER and 202 Accepted per call, no NOTIFY yet), ``CAP`` the
table's cap (``0``: the default), ``ENTRIES`` how many calls to send, all within one second of
capture time so no timer expires any. Prints ``{"baseline_kb", "peak_kb", "seconds",
"evicted"}``: resident memory (``ru_maxrss``) after imports and at the end.
"""

from __future__ import annotations

import json
import resource
import sys
import time
from collections.abc import Iterator
from dataclasses import replace
from functools import partial

import sipwatch.correlation
from sipwatch.capture.types import Frame
from sipwatch.correlate.correlator import Correlator
from sipwatch.correlate.limits import Limits
from sipwatch.pipeline import Pipeline, PipelineOptions
from tests.test_memory import _frame

_SERVER = bytes([10, 0, 0, 1])


def _invite(i: int) -> bytes:
    return (
        f"INVITE sip:{2000 + i % 5000}@example.net SIP/2.0\r\n"
        f"Via: SIP/2.0/UDP 10.1.1.{i % 100 + 2}:5062;branch=z9hG4bK{i * 7919:x}.{i % 97}\r\n"
        f"Max-Forwards: 70\r\nFrom: <sip:u{i % 250}@example.net>;tag=f{i:x}\r\n"
        f"To: <sip:{2000 + i % 5000}@example.net>\r\n"
        f"Call-ID: {i:x}-{(i * 2654435761) % 4294967296:08x}@ua.example.net\r\n"
        f"CSeq: 1 INVITE\r\nContact: <sip:u@10.1.1.{i % 100 + 2}:5062>\r\nContent-Length: 0\r\n\r\n"
    ).encode()


def _ringing(i: int, invite: bytes) -> bytes:
    head = invite.split(b"\r\n")
    via, from_, to, call_id, cseq = head[1], head[3], head[4], head[5], head[6]
    return b"\r\n".join(
        [
            b"SIP/2.0 180 Ringing",
            via,
            from_,
            to + b";tag=t%x" % i,
            call_id,
            cseq,
            b"Contact: <sip:callee@10.0.0.1>",
            b"Content-Length: 0",
            b"",
            b"",
        ]
    )


def _refer(i: int) -> bytes:
    return (
        _invite(i)
        .replace(b"INVITE sip:", b"REFER sip:", 1)
        .replace(b"CSeq: 1 INVITE", b"CSeq: 1 REFER")
        .replace(
            b"Content-Length: 0", b"Refer-To: <sip:carol%d@example.net>\r\nContent-Length: 0" % i
        )
    )


def _accepted(i: int, refer: bytes) -> bytes:
    return _ringing(i, refer).replace(b"180 Ringing", b"202 Accepted")


def frames(table: str, entries: int) -> Iterator[Frame]:
    number = 0
    for i in range(entries):
        ts = 1_700_000_000.0 + i / (entries + 1)
        ua = bytes([10, 1, 1, i % 100 + 2])
        request = _refer(i) if table == "transfers" else _invite(i)
        number += 1
        yield _frame(ts, number, ua, 5062, _SERVER, request)
        if table == "dialogs":
            number += 1
            yield _frame(ts, number, _SERVER, 5062, ua, _ringing(i, request))
        elif table == "transfers":
            number += 1
            yield _frame(ts, number, _SERVER, 5062, ua, _accepted(i, request))


def main() -> None:
    table, cap, entries = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    if cap:
        limits = replace(Limits(), **{table: cap})
        sipwatch.correlation.Correlator = partial(Correlator, limits=limits)  # type: ignore[misc]
    pipeline = Pipeline(PipelineOptions(), source="crafted")
    baseline = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.perf_counter()
    for _ in pipeline.run(frames(table, entries)):
        pass
    seconds = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    evicted = dict(pipeline.summary.evictions)
    print(
        json.dumps(
            {"baseline_kb": baseline, "peak_kb": peak, "seconds": seconds, "evicted": evicted}
        )
    )


if __name__ == "__main__":
    main()
