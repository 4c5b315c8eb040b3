"""Hostile and broken input through every decoder and the whole pipeline: nothing escapes, nothing
hangs, nothing unsafe reaches the terminal.

Three kinds of test:

* the mutation fuzzer of :mod:`tests.fuzzing`, a fixed seeded slice of each strategy (file
  bytes, frames, transport payloads, TCP/SCTP streams, IP fragments, extreme timestamps), seeded
  from the real captures (the public ones, with the PROTOS suite ``c07-sip-r2.cap`` and the
  fuzzed ``fuzz-2006-06-26-2594.pcap``, and the bundled ``captures/*.pcap``); each case runs
  under a time bound, and the whole module stays around a minute;
* property tests (hypothesis) on what the fuzzer does not reach by mutation: random frame
  sequences on every link type through the pipeline, and real message sequences replayed to the
  correlator with their capture times disordered and jumping by years;
* regressions: each problem the fuzzer (or a review of it) found, reduced to a small input, with
  the time it must now finish in. The old code raised or ran for minutes on each.

``benchmarks/fuzz.py --seconds 600`` runs the same engine for longer.
"""

from __future__ import annotations

import random
import struct
import time
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sipwatch.capture.decode import Decoder
from sipwatch.capture.readers import open_capture
from sipwatch.capture.sctp import SctpDecoder
from sipwatch.capture.tcp import TcpReassembler
from sipwatch.capture.types import Frame, Segment
from sipwatch.correlate import Correlator, Finding
from sipwatch.correlate.auth import auth_params
from sipwatch.pipeline import Pipeline
from sipwatch.render.terminal import clock
from sipwatch.sip.message import SipMessage
from sipwatch.sip.parser import parse_message
from sipwatch.sip.sipfrag import parse_sipfrag
from tests.conftest import CAPTURES, PUBLIC
from tests.fuzzing import (
    STRATEGIES,
    Seed,
    capture_paths,
    fuzz,
    load_seeds,
    run_case,
    time_limit,
    udp_frame,
)
from tests.helpers import make_request, make_response

#: Cases per strategy in CI: six strategies at ~40 cases/s keep the module near a minute.
CASES = 120
#: A case normally takes well under a second; the bound only catches hangs.
CASE_SECONDS = 15.0
_SEEDS: list[Seed] = []


def seeds() -> list[Seed]:
    """The real captures to mutate (loaded once): public ones when present, bundled always."""
    if not _SEEDS:
        _SEEDS.extend(load_seeds(capture_paths(PUBLIC, CAPTURES)))
    return _SEEDS


# -- the mutation fuzzer ---------------------------------------------------------------------------


def test_seeds_include_the_hostile_public_captures() -> None:
    names = {seed.name for seed in seeds()}
    assert "transfer-succeeded.pcap" in names  # bundled: always there
    if PUBLIC.is_dir():
        assert {"c07-sip-r2.cap", "fuzz-2006-06-26-2594.pcap"} <= names
        assert len(names) >= 50


def test_every_seed_capture_passes_unmutated(tmp_path: Path) -> None:
    """The invariants the fuzzer checks hold on the real captures themselves (the two
    multi-megabyte sipp captures are left to the benchmark for time)."""
    checked = 0
    for seed in seeds():
        if len(seed.data) > 2_000_000:
            continue
        outcome = run_case(seed.data, tmp_path / "seed.pcap", CASE_SECONDS)
        assert outcome.status == "ok", (seed.name, outcome.detail)
        checked += 1
    assert checked >= 10


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_mutation_fuzz(strategy: str, tmp_path: Path) -> None:
    """A fixed slice of each strategy: no exception, no hang, no escape, consistent counts."""
    statuses: Counter[str] = Counter()
    messages = 0

    def seen(_strategy: str, outcome: object) -> None:
        nonlocal messages
        statuses[getattr(outcome, "status", "")] += 1
        messages += int(getattr(outcome, "messages", 0))

    failures = fuzz(
        seeds(),
        tmp_path,
        rng=random.Random(f"sipwatch-fuzz-{strategy}"),
        cases=CASES,
        strategies=[strategy],
        seconds_per_case=CASE_SECONDS,
        on_result=seen,
    )
    report = [f"{f.outcome.status} from {f.seed}: {f.outcome.detail[-600:]}" for f in failures]
    assert not report, "\n".join(report)
    assert sum(statuses.values()) == CASES
    # The cases must reach the parser, not just bounce off the readers.
    assert statuses["ok"] >= CASES // 2
    assert messages > CASES


# -- property tests --------------------------------------------------------------------------------

LINKTYPES = [0, 1, 9, 12, 101, 108, 113, 228, 229, 276]


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    st.lists(
        st.tuples(
            st.floats(min_value=-1e12, max_value=1e12, allow_nan=False),
            st.sampled_from(LINKTYPES),
            st.binary(max_size=300),
        ),
        max_size=30,
    )
)
def test_pipeline_takes_any_frame_sequence(frames: list[tuple[float, int, bytes]]) -> None:
    """Any bytes on any link type, at any capture times (backwards, jumping): records come out,
    the summary counts every frame, and every message is shown once."""
    pipeline = Pipeline()
    source = (Frame(ts, link, data, n) for n, (ts, link, data) in enumerate(frames, 1))
    with time_limit(CASE_SECONDS):
        records = list(pipeline.run(source))
    summary = pipeline.summary
    assert summary.frames == len(frames)
    assert summary.shown == summary.messages
    assert summary.skipped["decode-error"] == 0
    assert sum(1 for r in records if type(r).__name__ == "MessageRecord") == summary.messages


def _real_messages() -> list[tuple[float, tuple[str, int], tuple[str, int], SipMessage]]:
    """The SIP messages of a real transfer capture, in order, with their flows."""
    path = CAPTURES / "transfer-succeeded.pcap"
    out = []
    with open_capture(path) as source:
        frames = list(source)
    decoder = Decoder(TcpReassembler(Counter()), SctpDecoder(Counter()))
    for frame in frames:
        for seg in decoder.feed(frame):
            msg = parse_message(seg.data)
            if isinstance(msg, SipMessage):
                out.append((seg.ts, seg.src, seg.dst, msg))
    return out


_MESSAGES = _real_messages()


@settings(max_examples=120, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    st.lists(
        st.tuples(
            st.integers(0, len(_MESSAGES) - 1),
            st.sampled_from([0.0, 0.001, 0.5, 31.9, 32.1, -5.0, -3e9, 3e9, 86400.0 * 365 * 70]),
        ),
        max_size=40,
    ),
    st.lists(st.floats(min_value=-1e10, max_value=1e10, allow_nan=False), max_size=5),
)
def test_correlator_takes_real_messages_in_any_order_and_time(
    picks: list[tuple[int, float]], ticks: list[float]
) -> None:
    """Real messages repeated, reordered and re-timed (capture time going back, or jumping by
    decades as a damaged timestamp does): the correlator answers fast and closes everything."""
    correlator = Correlator()
    now = _MESSAGES[0][0]
    with time_limit(CASE_SECONDS):
        for frame, (index, shift) in enumerate(picks, 1):
            _ts, src, dst, msg = _MESSAGES[index]
            now += shift
            events = correlator.feed(now, frame, src, dst, "udp", msg)
            assert sum(1 for e in events if not isinstance(e, Finding)) == 1
        for tick in ticks:
            correlator.expire(now + tick)
        correlator.finish(now + max(ticks, default=0.0))
    assert correlator.open_exchanges == correlator.open_dialogs == correlator.open_transfers == 0


# -- regressions -----------------------------------------------------------------------------------

_MAC = b"\x02\x00\x00\x00\x00\x02\x02\x00\x00\x00\x00\x01"


def test_nested_ethernet_is_bounded_like_a_tunnel() -> None:
    """Ethernet-in-Ethernet (EtherType 0x6558) and MPLS pseudowires nest without limit in a
    frame of repeated headers; they used to recurse once per header (RecursionError)."""
    teb = (_MAC + b"\x65\x58") * 5000
    pseudowire = (_MAC + b"\x88\x47" + b"\x00\x00\x01\x00" + b"\x00" * 4) * 3000
    for data in (teb, pseudowire):
        pipeline = Pipeline()
        assert pipeline.feed(Frame(0.0, 1, data, 1)) == []
        assert pipeline.summary.skipped == Counter({"tunnel-too-deep": 1})


def test_ethernet_in_ethernet_within_the_depth_still_decodes() -> None:
    inner = udp_frame(("10.0.0.1", 5060), ("10.0.0.2", 5060), make_request("OPTIONS").raw)
    frame = _MAC + b"\x65\x58" + inner  # one Ethernet header around another
    pipeline = Pipeline()
    records = pipeline.feed(Frame(0.0, 1, frame, 1))
    assert pipeline.summary.messages == 1
    assert len(records) == 1


def _ng(btype: int, body: bytes) -> bytes:
    body += b"\x00" * (-len(body) % 4)
    return struct.pack("<II", btype, len(body) + 12) + body + struct.pack("<I", len(body) + 12)


@pytest.mark.parametrize("btype", [2, 3, 6])
def test_pcapng_packet_block_too_short_for_its_fields(tmp_path: Path, btype: int) -> None:
    """An EPB/OPB shorter than its 32 bytes of fixed fields (or an SPB under 16) made the reader
    unpack past the block: struct.error escaped at the end of the file."""
    packet = _MAC + b"\x08\x00" + b"\x45" + b"\x00" * 30
    good = _ng(6, struct.pack("<IIIII", 0, 0, 1, len(packet), len(packet)) + packet)
    short = struct.pack("<III", btype, 12, 12)
    section = _ng(0x0A0D0D0A, struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1))
    interface = _ng(1, struct.pack("<HHI", 1, 0, 0))
    path = tmp_path / "short.pcapng"
    path.write_bytes(section + interface + good + short)
    with open_capture(path) as source:
        frames = list(source)
    assert [f.number for f in frames] == [1]
    assert source.stats.counters["bad-packet-length"] == 1
    assert source.stats.problems == [
        f"record 2: block of 12 bytes is too short for its type {btype:#x}; skipped"
    ]


@pytest.mark.parametrize(
    ("ts", "shown"),
    [
        (1_700_000_000.123, "22:13:20.123"),
        (-1.5, "23:59:58.500"),
        (2.0**62, "07:45:04.000"),  # far beyond year 9999: gmtime used to raise
        (-(2.0**62), "16:14:56.000"),
        (float("inf"), "--:--:--.---"),
        (float("nan"), "--:--:--.---"),
    ],
)
def test_clock_of_any_timestamp(ts: float, shown: str) -> None:
    """A pcapng interface may declare any timestamp offset; the terminal clock took the whole
    run down with OSError/OverflowError on one such packet."""
    assert clock(ts) == shown


def test_sipfrag_status_line_of_blanks_is_linear() -> None:
    """A sipfrag body of blanks ending in a stray CR took cubic time (8 KB: many minutes)."""
    body = b"SIP/2.0 200 " + b" " * 8170 + b"\rX"
    start = time.perf_counter()
    with time_limit(5.0):
        assert parse_sipfrag(body) is None
    assert time.perf_counter() - start < 1.0
    assert parse_sipfrag(b"SIP/2.0 200 OK  \r\n") == (200, "OK")
    assert parse_sipfrag(b"SIP/2.0 603 \r\n") == (603, "")


def test_auth_params_of_a_long_value_is_linear() -> None:
    """A 64 KB Proxy-Authorization without '=' was rescanned from every character (a minute)."""
    start = time.perf_counter()
    with time_limit(5.0):
        assert auth_params("A" * 65536) == {}
        assert auth_params('a="x, ' * 10000)["a"].startswith("x, ")
    assert time.perf_counter() - start < 1.0
    value = 'Digest username="alice", realm="example.com", nonce="n\\"1", qop=auth, nc=00000001'
    assert auth_params(value) == {
        "username": "alice",
        "realm": "example.com",
        "nonce": 'n\\"1',
        "qop": "auth",
        "nc": "00000001",
    }


def test_held_challenge_survives_a_jump_in_capture_time() -> None:
    """A 407'd INVITE whose retry carries an earlier timestamp was re-checked every T1 until its
    retry resolved it, which never happened: a forward jump of years in capture time then meant
    billions of timer callbacks (found by the fuzzer). It now closes, and the chain is reported."""
    invite = make_request("INVITE", cseq="1 INVITE", from_="<sip:a@h>;tag=ft")
    challenge = make_response(
        407,
        request=invite,
        proxy_authenticate='Digest realm="h", nonce="1"',
    )
    retry = make_request(
        "INVITE",
        cseq="2 INVITE",
        from_="<sip:a@h>;tag=ft",
        proxy_authorization='Digest username="a", realm="h", nonce="1"',
    )
    a, b = ("192.0.2.1", 5060), ("192.0.2.2", 5060)
    correlator = Correlator()
    t0 = 1_108_734_999.0
    correlator.feed(t0, 1, a, b, "udp", invite)
    correlator.feed(t0, 2, b, a, "udp", challenge)
    correlator.feed(t0 - 9e6, 3, a, b, "udp", retry)  # earlier than the request it retries
    start = time.perf_counter()
    with time_limit(10.0):
        events = correlator.expire(t0 + 9.2e9)
        events += correlator.finish(t0 + 9.2e9)
    assert time.perf_counter() - start < 2.0
    kinds = [e.kind for e in events if isinstance(e, Finding)]
    assert "auth-challenge" in kinds or "auth-loop" in kinds
    assert correlator.open_exchanges == 0


def _data_chunk(tsn: int, flags: int, payload: bytes = b"", kind: int = 0, fsn: int = 0) -> bytes:
    if kind == 0:
        body = struct.pack("!IHHI", tsn, 0, 0, 0) + payload
    else:
        body = struct.pack("!IHHII", tsn, 0, 0, 7, fsn) + payload
    chunk = struct.pack("!BBH", kind, flags, 4 + len(body)) + body
    return chunk + b"\x00" * (-len(chunk) % 4)


def _sctp_burst(chunks: list[bytes]) -> list[bytes]:
    common = struct.pack("!HHII", 5060, 5060, 1, 0)
    return [common + b"".join(chunks[i : i + 3000]) for i in range(0, len(chunks), 3000)]


@pytest.mark.parametrize("kind", [0, 64])
def test_sctp_many_fragments_cost_linear_time(kind: int) -> None:
    """16,000 middle fragments after a last one (DATA), or behind a first one (I-DATA): every
    fragment used to rescan all the others (a minute for DATA, ten seconds for I-DATA)."""
    decoder = SctpDecoder(Counter())
    if kind == 0:
        chunks = [_data_chunk(1_000_000, 0x01)] + [_data_chunk(t, 0) for t in range(1, 16000)]
    else:
        chunks = [_data_chunk(1, 0x02, kind=64)]
        chunks += [_data_chunk(t, 0, kind=64, fsn=t) for t in range(2, 16000)]
    start = time.perf_counter()
    with time_limit(20.0):
        for packet in _sctp_burst(chunks):
            assert decoder.feed(0.0, 1, "192.0.2.1", "192.0.2.2", packet) == []
    assert time.perf_counter() - start < 3.0


@pytest.mark.parametrize("kind", [0, 64])
@pytest.mark.parametrize("order", ["forward", "backward", "shuffled"])
def test_sctp_fragments_still_reassemble_in_any_order(kind: int, order: str) -> None:
    sip = make_request("OPTIONS").raw
    pieces = [sip[i : i + 40] for i in range(0, len(sip), 40)]
    chunks = []
    for n, piece in enumerate(pieces):
        flags = (0x02 if n == 0 else 0) | (0x01 if n == len(pieces) - 1 else 0)
        chunks.append(_data_chunk(100 + n, flags, piece, kind=kind, fsn=n))
    if order == "backward":
        chunks.reverse()
    elif order == "shuffled":
        random.Random(3).shuffle(chunks)
    decoder = SctpDecoder(Counter())
    out: list[Segment] = []
    for chunk in chunks:
        out += decoder.feed(0.0, 1, "192.0.2.1", "192.0.2.2", _sctp_burst([chunk])[0])
    assert [seg.data for seg in out] == [sip]
