"""Both engines, one output: the native core against the pure-Python reference.

The pure-Python engine is the specification. Every capture the suite has (the bundled ones,
the public corpus, captures built here for every link type, layer and kind of damage, and
hypothesis-mutated ones) goes through both engines, and the JSON lines, the terminal text
(``--explain problems`` and ``all``, English and Japanese), the summary counters and the
reader's problem lines must be the same byte for byte. The whole module skips, saying why,
where the core is not built; CI builds it (.ci/run checks ``sipwatch --version`` says so).
"""

from __future__ import annotations

import dataclasses
import gzip
import io
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sipwatch.commands.pcap import run_pcap
from sipwatch.engine import describe_engine, native_core, select_engine
from sipwatch.errors import SipwatchError
from sipwatch.pipeline import PipelineOptions
from sipwatch.sip.detect import looks_like_sip
from tests import build_frames as bf
from tests.conftest import PUBLIC

REPO = Path(__file__).resolve().parents[1]
CORE = native_core()
pytestmark = pytest.mark.skipif(
    CORE is None, reason="the native core is not built (scripts/setup.sh builds it with cargo)"
)

#: (format, explain, lang) of every output compared.
MODES = (("jsonl", "problems", "en"), ("text", "problems", "en"), ("text", "all", "en"),
         ("text", "problems", "ja"))  # fmt: skip


def _run(path: Path, engine: str, fmt: str, explain: str, lang: str) -> str:
    """One engine's whole output for one capture (or its one-line error)."""
    out = io.StringIO()
    options = PipelineOptions(engine=engine, explain=explain, lang=lang)
    try:
        run_pcap([str(path)], options, fmt, out, color=False)
    except SipwatchError as exc:
        return out.getvalue() + f"\nerror: {exc}"
    return out.getvalue()


def assert_same(path: Path, modes: tuple[tuple[str, str, str], ...] = MODES) -> None:
    for fmt, explain, lang in modes:
        reference = _run(path, "python", fmt, explain, lang)
        native = _run(path, "native", fmt, explain, lang)
        assert native == reference, f"{path.name}: {fmt} --explain {explain} --lang {lang}"


BUNDLED = sorted((REPO / "captures").glob("*.pcap"))


@pytest.mark.parametrize("path", BUNDLED, ids=[p.name for p in BUNDLED])
def test_bundled_captures_are_identical(path: Path) -> None:
    assert_same(path)


def _public() -> list[Path]:
    if not PUBLIC.is_dir():
        return []
    skip = (".json", ".md", ".txt", ".keys", ".log")
    return sorted(p for p in PUBLIC.iterdir() if p.is_file() and not p.name.endswith(skip))


PUBLIC_FILES = _public()


@pytest.mark.shared
@pytest.mark.parametrize(
    "path", PUBLIC_FILES or [None], ids=[p.name for p in PUBLIC_FILES] or ["absent"]
)
def test_public_captures_are_identical(path: Path | None) -> None:
    if path is None:
        pytest.skip(f"public captures not found at {PUBLIC} (../shared is absent)")
    assert_same(path)


# -- captures built here: every link and layer the core decodes, and what it hands back ------

_SIP = bf.sip_request()
_BIG = bf.sip_request("INVITE", "big@test", body_size=3000)


def _frames() -> list[bytes | tuple[int, bytes]]:
    """Ethernet frames, or (linktype, frame) for other links."""
    v4 = bf.udp4(_SIP)
    v6 = bf.udp6(_SIP)
    frames: list[bytes | tuple[int, bytes]] = [
        bytes(bf.ether(v4)),
        bytes(bf.ether(bf.udp4(bf.SIP_200, sport=5060, dport=5062))),
        bytes(bf.ether(v6)),
        bytes(bf.vlan(v4)),
        bytes(bf.qinq(v4)),
        bf.qinq_9100(v4),
        bytes(bf.pppoe(v4)),
        bytes(bf.ether(bf.udp4(b"\x80\x00\x12\x34rtp"))),
        bytes(bf.ether(bf.udp4(b"GET / HTTP/1.1\r\n\r\n"))),
        bytes(bf.ether(v4)) + b"\x00" * 6,  # Ethernet padding after the datagram
        bytes(bf.ether(v4))[:50],  # cut inside the payload
        bytes(bf.ether(v4))[:30],  # cut inside the IP header
        bytes(bf.ether(bf.vxlan(bf.ether(v4)))),
        bytes(bf.ether(bf.gre(v4, 0x0800))),
        (113, bytes(bf.sll(v4))),
        (276, bytes(bf.sll2(v4))),
        (276, bytes(bf.sll2(v6, proto=0x86DD))),
        (0, bf.null_link(v4, 2, big_endian=False)),
        (0, bf.null_link(v6, 30, big_endian=False)),
        (108, bf.null_link(v6, 24, big_endian=True)),
        (101, bytes(v4)),
        (101, bytes(v6)),
        (228, bytes(v4)),
        (229, bytes(v6)),
        (9, bf.ppp_link(v4)),
        (147, bytes(v4)),  # a link type sipwatch does not know
    ]
    for chain in bf.v6_ext_chain():
        frames.append(bytes(bf.ether(chain)))
    # HEP v1/v2/v3 in UDP (any port): the Python decoder's HEP stage, through both engines.
    from tests.hep_packets import hep2, hep3

    for hep in (
        hep3(_SIP),
        hep3(_SIP, src=("2001:db8::1", 5070), proto=6),
        hep2(_SIP),
        hep2(_SIP, version=1),
        b"HEP3\x00\x05junk",
        b"\x02\x10\x02\x11short",
    ):
        frames.append(bytes(bf.ether(bf.udp4(hep, sport=9060, dport=9060))))
    frames += [bytes(bf.ether(raw)) for raw in bf.frag4(bf.udp4(_BIG), 600)]
    frames += [bytes(bf.ether(raw)) for raw in bf.frag6(bf.udp6(_BIG), 600)]
    return frames


def _by_link(frames: list[bytes | tuple[int, bytes]]) -> dict[int, list[bytes]]:
    links: dict[int, list[bytes]] = {}
    for frame in frames:
        link, data = frame if isinstance(frame, tuple) else (1, frame)
        links.setdefault(link, []).append(data)
    return links


def _captures(tmp: Path) -> list[Path]:
    """The built frames in every container: pcap µs/ns both byte orders, pcapng, gzip."""
    paths = []
    for link, frames in _by_link(_frames()).items():
        records = [(1_700_000_000.25 + i * 0.001, f) for i, f in enumerate(frames)]
        variants = {
            "le.pcap": bf.pcap_bytes(records, link),
            "be-ns.pcap": bf.pcap_bytes(records, link, big_endian=True, nanos=True),
            "le.pcapng": bf.pcapng_bytes(records, link),
            "be.pcapng": bf.pcapng_bytes(records, link, big_endian=True),
        }
        variants["le.pcap.gz"] = gzip.compress(variants["le.pcap"])
        for name, data in variants.items():
            path = tmp / f"link{link}-{name}"
            path.write_bytes(data)
            paths.append(path)
    return paths


def test_each_frame_is_decoded_as_python_decodes_it_or_handed_back() -> None:
    from collections import Counter

    from sipwatch.capture.decode import Decoder
    from sipwatch.capture.types import Frame, Segment

    handled = handed_back = 0
    for number, frame in enumerate(_frames(), 1):
        link, data = frame if isinstance(frame, tuple) else (1, frame)
        core = CORE.Decoder(Segment)
        segments = core.feed(data, link, 1.5, number)
        if segments is None:
            handed_back += 1
            continue
        handled += 1
        python = Decoder(skipped=Counter(), notes=Counter())
        assert segments == python.feed(Frame(1.5, link, data, number)), number
        skipped, notes = core.take_counts()
        assert (skipped, notes) == (dict(python.skipped), dict(python.notes)), number
    # The core takes SIP on the common links; fragments, tunnels, PPP/PPPoE, unknown links and
    # UDP that is not SIP (HEP to unwrap, RTP for the media analysis) go back.
    assert handled >= 20 and handed_back >= 10, (handled, handed_back)


def test_built_captures_of_every_link_are_identical(tmp_path: Path) -> None:
    paths = _captures(tmp_path)
    assert len(paths) >= 40
    for path in paths:
        assert_same(path, MODES[:2])


def _mixed_pcapng() -> bytes:
    """One pcapng file with an interface per link type, SPB/OPB records and time going back."""
    links = _by_link(_frames())
    parts = [bf.ng_shb()]
    for link in links:
        parts.append(bf.ng_idb(link, tsresol=9, tsoffset=5, snaplen=200))
    ticks = 1_700_000_000 * 10**9
    for iface, frames in enumerate(links.values()):
        for i, frame in enumerate(frames):
            stamp = ticks + (i * 7919 - iface * 1000) * 10**6
            parts.append(
                bf.ng_epb(iface, stamp, frame) if i % 3 else bf.ng_opb(iface, stamp, frame)
            )
    parts.append(bf.ng_spb(links[1][0]))
    parts.append(bf.ng_shb(big_endian=True))
    parts.append(bf.ng_idb(1, tsresol=0x80 | 20, big_endian=True))
    parts.append(bf.ng_epb(0, 1 << 50, links[1][0], big_endian=True))
    return b"".join(parts)


def test_pcapng_sections_options_and_odd_blocks_are_identical(tmp_path: Path) -> None:
    path = tmp_path / "mixed.pcapng"
    path.write_bytes(_mixed_pcapng())
    assert_same(path, MODES[:2])
    summary = _run(path, "python", "jsonl", "problems", "en").splitlines()[-1]
    assert "more than the snapshot length 200" in summary
    assert "timestamp goes backwards" in summary


_DAMAGE = ("cut", "corrupt-length", "bad-block")


@pytest.mark.parametrize("damage", _DAMAGE)
def test_damaged_files_give_the_same_problem_lines(tmp_path: Path, damage: str) -> None:
    frame = bytes(bf.ether(bf.udp4(_SIP)))
    records = [(1_700_000_000.0 + i, frame) for i in range(5)]
    pcap = bytearray(bf.pcap_bytes(records, 1))
    pcapng = bytearray(bf.pcapng_bytes(records, 1))
    second = 24 + 16 + len(frame)  # the second pcap record header
    last_block = len(pcapng) - len(bf.ng_epb(0, 0, frame))
    if damage == "cut":
        pcap, pcapng = pcap[:-20], pcapng[:-20]
    elif damage == "corrupt-length":
        pcap[second + 8 : second + 12] = (1 << 30).to_bytes(4, "little")
        pcapng[last_block + 4 : last_block + 8] = (0xFFFF0000).to_bytes(4, "little")
    else:
        pcap[second + 8 : second + 12] = (7).to_bytes(4, "little")  # records misaligned from here
        pcapng[-4:] = b"\x01\x00\x00\x00"  # trailing length differs
    for name, data in (
        ("x.pcap", pcap),
        ("x.pcapng", pcapng),
        ("x.pcap.gz", gzip.compress(bytes(pcap))[:-9]),
    ):
        path = tmp_path / name
        path.write_bytes(bytes(data))
        reference = _run(path, "python", "jsonl", "problems", "en")
        assert '"problems":[]' not in reference, name
        assert _run(path, "native", "jsonl", "problems", "en") == reference, name


def test_interfaces_beyond_the_cap_are_refused_alike(tmp_path: Path) -> None:
    from sipwatch.capture import pcapng

    count = pcapng.MAX_INTERFACES + 3
    frame = bytes(bf.ether(bf.udp4(_SIP)))
    idbs = b"".join(bf.ng_idb(1, snaplen=1000 + n % 7) for n in range(count))
    path = tmp_path / "idbs.pcapng"
    path.write_bytes(bf.ng_shb() + idbs + bf.ng_epb(0, 1, frame) + bf.ng_epb(count - 1, 2, frame))
    reference = _run(path, "python", "jsonl", "problems", "en")
    assert "more than 65536 interfaces in one section" in reference
    assert _run(path, "native", "jsonl", "problems", "en") == reference


# -- hypothesis: mutated captures through both engines -----------------------------------------

_SEED_PCAP = bf.pcap_bytes(
    [(1_700_000_000.5 + i, f) for i, f in enumerate(_by_link(_frames())[1])], 1
)
_SEED_PCAPNG = _mixed_pcapng()


@st.composite
def _mutated(draw: st.DrawFn) -> bytes:
    data = bytearray(draw(st.sampled_from((_SEED_PCAP, _SEED_PCAPNG))))
    for _ in range(draw(st.integers(1, 8))):
        at = draw(st.integers(0, len(data) - 1))
        kind = draw(st.sampled_from(("byte", "zero", "cut", "insert")))
        if kind == "byte":
            data[at] = draw(st.integers(0, 255))
        elif kind == "zero":
            data[at : at + 4] = b"\x00\x00\x00\x00"
        elif kind == "cut":
            del data[at : at + draw(st.integers(1, 64))]
        else:
            data[at:at] = draw(st.binary(min_size=1, max_size=16))
    return bytes(data[:4] + data[4:]) if len(data) >= 4 else bytes(data)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=_mutated())
def test_mutated_captures_are_identical_and_never_crash(tmp_path: Path, data: bytes) -> None:
    path = tmp_path / "mutated.cap"
    path.write_bytes(data)
    assert _run(path, "native", "jsonl", "problems", "en") == _run(
        path, "python", "jsonl", "problems", "en"
    )


@settings(max_examples=300, deadline=None)
@given(raw=st.one_of(st.binary(min_size=4, max_size=4), st.binary(min_size=16, max_size=16),
                     st.lists(st.sampled_from([b"\x00\x00", b"\x00\x01", b"\xff\xff", b"\x12\x34"]),
                              min_size=8, max_size=8).map(b"".join)))  # fmt: skip
def test_addresses_are_named_as_inet_ntop_names_them(raw: bytes) -> None:
    family = socket.AF_INET if len(raw) == 4 else socket.AF_INET6
    assert CORE.format_address(raw) == socket.inet_ntop(family, raw)


_SIPISH = st.one_of(
    st.binary(max_size=80),
    st.builds(lambda a, b: a + b,
              st.sampled_from([b"SIP/2.0 ", b"INVITE ", b"SIP/2.0 200", b"x y SIP/2.0"]),
              st.binary(max_size=40)),
    st.from_regex(rb"\A[A-Za-z][!-~]{0,8} [!-\xff]{1,12} SIP/2\.0[\r\n]{1,2}", fullmatch=True),
    st.from_regex(rb"\ASIP/2\.0 [0-9]{3}[ \t]?[\x00-\xff]{0,12}[\r\n]", fullmatch=True),
)  # fmt: skip


@settings(max_examples=500, deadline=None)
@given(data=_SIPISH)
def test_sip_is_recognised_as_the_python_detector_does(data: bytes) -> None:
    assert CORE.looks_like_sip(data) is looks_like_sip(data)


_SIP_SEEDS = (bf.sip_request(), bf.SIP_200, bf.sip_request("INVITE", "x@y", body_size=40))


@st.composite
def _mutated_sip(draw: st.DrawFn) -> bytes:
    data = bytearray(draw(st.sampled_from(_SIP_SEEDS)))
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, len(data) - 1))
        if draw(st.booleans()):
            data[at] = draw(st.sampled_from(b" \t\r\n\x00\x7f\xff:;,<>0aZ"))
        else:
            del data[at : at + draw(st.integers(1, 8))]
    return bytes(data)


@settings(
    max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(payloads=st.lists(_mutated_sip(), min_size=1, max_size=4))
def test_mutated_sip_bytes_are_identical(tmp_path: Path, payloads: list[bytes]) -> None:
    frames = [bytes(bf.ether(bf.udp4(p, sport=5060 + i))) for i, p in enumerate(payloads)]
    path = tmp_path / "sip.pcap"
    path.write_bytes(bf.pcap_bytes([(1_700_000_000.0 + i, f) for i, f in enumerate(frames)], 1))
    assert _run(path, "native", "jsonl", "all", "en") == _run(path, "python", "jsonl", "all", "en")


_HEADER_LINES = (
    b"Via: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bK1",
    b"v : SIP/2.0/UDP h;branch=z9hG4bK2",
    b"CALL-ID:\t abc@x \x0b",
    b"i: short@x",
    b"Content-Length: 4",
    b"l: 2",
    b"Content-Length: x1",
    b"CSeq: 7 OPTIONS",
    b"CSeq: 8 INVITE",
    b"X-Odd:",
    b"x-odd: \xc3\xa9",
    b" folded continuation",
    b"NoColon",
    b": no name",
    b"From: <sip:a@b>;tag=1",
    b"To: <sip:b@c>",
    b"Max-Forwards: 70",
)
_START_LINES = (
    b"OPTIONS sip:a@b SIP/2.0", b"INVITE  sip:a@b  SIP/2.0", b"SIP/2.0 200 OK", b"SIP/2.0 180",
    b"sip/2.0 486 Busy", b"SIP/2.0 099 x", b"OPTIONS sip:a@b sip/2.0", b"BAD(METHOD sip:a SIP/2.0",
    b"SIP/2.0 2000 Long", b"OPTIONS sip:a\rb SIP/2.0",
)  # fmt: skip


@st.composite
def _sip_messages(draw: st.DrawFn) -> bytes:
    end = draw(st.sampled_from((b"\r\n", b"\r\n", b"\n")))
    lines = [draw(st.sampled_from(_START_LINES))]
    lines += draw(st.lists(st.sampled_from(_HEADER_LINES), max_size=8))
    body = draw(st.sampled_from((b"", b"abcd", b"v=0\r\n")))
    lead = draw(st.sampled_from((b"", b"", b"\r\n")))
    head = end.join(lines) + end + (end if draw(st.booleans()) or body else b"")
    return lead + head + body


@settings(max_examples=400, deadline=None)
@given(data=st.one_of(_sip_messages(), _mutated_sip()))
def test_the_native_split_parses_as_the_python_parser(data: bytes) -> None:
    from sipwatch.native_parse import native_parser
    from sipwatch.sip.parser import parse_message

    native, reference = native_parser()(data), parse_message(data)
    assert native == reference
    assert getattr(native, "_cseq", None) == getattr(reference, "_cseq", None)


def test_plain_messages_are_split_natively() -> None:
    from sipwatch.sip.compact import NAME_TABLE

    splitter = CORE.SipSplitter(NAME_TABLE)
    assert splitter.split(bf.sip_request()) is not None
    assert splitter.split(bf.SIP_200)[:5] == (True, "", "", 200, "OK")
    assert splitter.split(b"OPTIONS sip:a SIP/2.0\r\n folded\r\n\r\n") is None


# -- generated traffic: sipp calls on loopback, and slices of the benchmark captures -----------

_RECORD = """
ip link set lo up
tcpdump -i lo -s 0 -U -w "$1" udp 2>/dev/null & dump=$!
sleep 0.7
sipp -sf "$2/uas.xml" -i 127.0.0.13 -p 5060 -nostdin -t u1 >/dev/null 2>&1 & uas=$!
sleep 0.5
sipp -sf "$2/uac.xml" -i 127.0.0.11 -p 5060 127.0.0.13:5060 -s callee -m 400 -r 400 -l 400 \
    -nostdin -timeout 30 -t u1 >/dev/null 2>&1
sleep 0.5
kill $uas $dump
wait
"""


@pytest.mark.root
@pytest.mark.sipp
def test_sipp_traffic_is_identical(tmp_path: Path) -> None:
    import shutil

    tools = ("sipp", "tcpdump", "unshare", "ip")
    if os.geteuid() != 0 or any(shutil.which(tool) is None for tool in tools):
        pytest.skip("needs root, sipp, tcpdump, unshare and ip to record sipp calls in a netns")
    capture = tmp_path / "sipp.pcap"
    scenarios = REPO / "benchmarks" / "scenarios"
    subprocess.run(
        ["unshare", "--net", "sh", "-c", _RECORD, "sh", str(capture), str(scenarios)],
        check=True, timeout=90,
    )  # fmt: skip
    messages = _run(capture, "python", "jsonl", "problems", "en").count('"type":"message"')
    assert messages >= 2000  # 400 calls of 7 messages, a few may still be in flight
    assert_same(capture, MODES[:2])


_BENCH = [REPO / "benchmarks" / "out" / f"{name}.pcap" for name in ("udp", "tcp", "trunk")]


@pytest.mark.parametrize("bench", _BENCH, ids=[p.stem for p in _BENCH])
def test_benchmark_capture_slices_are_identical(tmp_path: Path, bench: Path) -> None:
    if not bench.exists():
        pytest.skip(f"{bench} not built (python3 benchmarks/bench_pcap.py build)")
    head = bench.read_bytes()[: 6 << 20]  # the first ~6 MB: a cut last record, reported alike
    path = tmp_path / bench.name
    path.write_bytes(head)
    assert_same(path, MODES[:1])


# -- a panic in the core -----------------------------------------------------------------------


def test_a_panic_is_one_line_exit_2_after_what_was_decoded(tmp_path: Path) -> None:
    capture = REPO / "captures" / "auth-challenge.pcap"
    env = {**os.environ, "SIPWATCH_CORE_TEST_PANIC_AT_FRAME": "3"}
    run = subprocess.run(
        [sys.executable, "-m", "sipwatch", "pcap", "--engine", "native", "--format", "jsonl",
         str(capture)],
        capture_output=True, text=True, env=env, timeout=60, check=False,
    )  # fmt: skip
    assert run.returncode == 2
    frames = [line for line in run.stdout.splitlines() if '"type":"message"' in line]
    assert [f'"frame":{n},' in line for n, line in zip((1, 2), frames, strict=True)] == [True] * 2
    assert run.stderr.count("\n") == 1, run.stderr
    assert run.stderr.startswith("sipwatch: error: native core failed decoding frame 3: test panic")
    assert run.stderr.rstrip().endswith("--engine python avoids it")


# -- engine selection --------------------------------------------------------------------------


def test_the_default_is_native_when_built_and_python_is_honoured() -> None:
    assert select_engine().engine == "native"
    assert select_engine("native").engine == "native"
    assert select_engine("python") == select_engine("python")
    assert select_engine("python").engine == "python"
    assert describe_engine().startswith("engine: native (the default; core ")


def test_without_the_core_native_falls_back_with_one_note(monkeypatch: pytest.MonkeyPatch) -> None:
    from sipwatch import engine

    monkeypatch.setattr(engine, "native_core", lambda: None)
    asked = engine.select_engine("native")
    assert (asked.engine, asked.note) == (
        "python",
        "note: the native core (sipwatch._core) is not built: scripts/setup.sh builds it with "
        "cargo; using the pure-Python engine",
    )
    default = engine.select_engine()
    assert (default.engine, default.note) == ("python", None)
    assert engine.describe_engine().startswith("engine: python (the native core")


def test_version_names_the_engine() -> None:
    run = subprocess.run(
        [sys.executable, "-m", "sipwatch", "--version"], capture_output=True, text=True,
        timeout=60, check=True,
    )  # fmt: skip
    lines = run.stdout.splitlines()
    assert lines[0].startswith("sipwatch ")
    assert lines[1] == describe_engine()


def test_options_default_to_the_reference_engine() -> None:
    assert dataclasses.replace(PipelineOptions()).engine == "python"


def test_check_gives_the_same_verdicts_with_both_engines() -> None:
    import re

    from typer.testing import CliRunner

    from sipwatch.cli import app

    def verdicts(engine: str) -> tuple[int, list[str]]:
        args = [
            "check",
            str(REPO / "captures"),
            "--rules",
            str(REPO / "captures" / "sipwatch.toml"),
        ]
        result = CliRunner().invoke(app, [*args, "--format", "jsonl", "--engine", engine])
        lines = [
            re.sub(r'"duration":[0-9.e-]+', '"duration":0', line)
            for line in result.stdout.splitlines()
        ]
        return result.exit_code, lines

    reference = verdicts("python")
    assert reference[0] == 0 and len(reference[1]) > len(BUNDLED)
    assert verdicts("native") == reference


def test_native_asked_for_without_the_core_is_one_note_then_python(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from typer.testing import CliRunner

    from sipwatch import engine
    from sipwatch.cli import app

    capture = str(REPO / "captures" / "auth-challenge.pcap")
    monkeypatch.setattr(engine, "native_core", lambda: None)
    result = CliRunner().invoke(app, ["pcap", "--engine", "native", "--format", "jsonl", capture])
    assert result.exit_code == 0
    assert result.stderr == (
        "note: the native core (sipwatch._core) is not built: scripts/setup.sh builds it with "
        "cargo; using the pure-Python engine\n"
    )
    assert result.stdout == _run(Path(capture), "python", "jsonl", "problems", "en")
    default = CliRunner().invoke(app, ["pcap", "--format", "jsonl", capture])
    assert (default.stderr, default.stdout) == ("", result.stdout)
