"""HEP inside capture files: UDP and TCP payloads that are HEP are decoded to the SIP they carry,
found by shape on any port, with the agent's addresses, time and id.

The strongest check replays every bundled capture as HEP: each SIP datagram of the capture
(read with scapy, not with sipwatch) is wrapped in a HEP packet sent from a capture agent to a
collector; sipwatch must print from that file what it prints from the original, except the
``agent`` key (docs/jsonl.md).
"""

from __future__ import annotations

import io
import itertools
import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scapy.layers.inet import IP, TCP, UDP
from scapy.layers.l2 import Ether
from scapy.packet import Raw
from scapy.utils import rdpcap

from sipwatch.capture.types import Frame
from sipwatch.commands.pcap import run_pcap
from sipwatch.pipeline import Pipeline, PipelineOptions
from sipwatch.records import MessageRecord
from tests.build_frames import pcap_bytes, sip_request
from tests.conftest import CAPTURES
from tests.hep_packets import hep2, hep3

ETHERNET = 1
AGENT = ("198.51.100.7", 40000)
COLLECTOR = ("198.51.100.1", 9060)


def _udp_frame(payload: bytes, dport: int = COLLECTOR[1]) -> bytes:
    packet = (
        Ether()
        / IP(src=AGENT[0], dst=COLLECTOR[0])
        / UDP(sport=AGENT[1], dport=dport)
        / Raw(payload)
    )
    return bytes(packet)


def _messages(
    frames: list[bytes], ts: float = 1_800_000_000.0
) -> tuple[list[MessageRecord], Pipeline]:
    pipeline = Pipeline(PipelineOptions(correlate=False))
    records = []
    for number, data in enumerate(frames, 1):
        records += pipeline.feed(Frame(ts + number, ETHERNET, data, number))
    records += pipeline.finish()
    return [r for r in records if isinstance(r, MessageRecord)], pipeline


@pytest.mark.parametrize("dport", [9060, 5060, 4711])
def test_hep3_in_udp_on_any_port(dport: int) -> None:
    sip = sip_request("INVITE", call_id="hep-1")
    frame = _udp_frame(hep3(sip, src=("10.1.1.1", 5070), dst=("10.2.2.2", 5080), proto=6), dport)
    messages, pipeline = _messages([frame])
    assert len(messages) == 1
    message = messages[0]
    assert (message.src, message.dst, message.transport) == (
        "10.1.1.1:5070",
        "10.2.2.2:5080",
        "tcp",
    )
    assert message.ts == pytest.approx(1_700_000_000.25)  # the agent's time, not the frame's
    assert message.agent == "2001"
    assert message.frame == 1
    assert message.msg.call_id == "hep-1"
    assert pipeline.summary.notes["hep-v3"] == 1


def test_hep_v1_and_v2_in_udp() -> None:
    v1 = _udp_frame(hep2(sip_request(call_id="v1"), version=1))
    v2 = _udp_frame(hep2(sip_request(call_id="v2"), ts=(1_700_000_005, 0), capture_id=9))
    messages, pipeline = _messages([v1, v2], ts=1_800_000_000.0)
    assert [m.msg.call_id for m in messages] == ["v1", "v2"]
    assert messages[0].ts == pytest.approx(1_800_000_001.0)  # v1 carries no time: arrival
    assert messages[0].agent is None
    assert messages[1].ts == pytest.approx(1_700_000_005.0)
    assert messages[1].agent == "9"
    assert pipeline.summary.notes["hep-v1"] == pipeline.summary.notes["hep-v2"] == 1


def test_bad_hep_is_counted_not_decoded() -> None:
    frames = [_udp_frame(hep3(b"")), _udp_frame(hep3(sip_request(), proto_type=5))]
    messages, pipeline = _messages(frames)
    assert messages == []
    assert pipeline.summary.skipped["hep-no-payload"] == 1
    assert pipeline.summary.skipped["hep-not-sip"] == 1


def _tcp_frames(payload: bytes, cuts: list[int]) -> list[bytes]:
    """``payload`` sent as TCP segments cut at ``cuts`` (after a handshake)."""
    base = Ether() / IP(src=AGENT[0], dst=COLLECTOR[0])
    frames = [bytes(base / TCP(sport=AGENT[1], dport=COLLECTOR[1], flags="S", seq=99))]
    seq = 100
    bounds = [0, *cuts, len(payload)]
    for start, end in itertools.pairwise(bounds):
        segment = TCP(sport=AGENT[1], dport=COLLECTOR[1], flags="PA", seq=seq)
        frames.append(bytes(base / segment / Raw(payload[start:end])))
        seq += end - start
    return frames


def test_hep3_over_tcp_framed_by_length_across_segments() -> None:
    packets = [hep3(sip_request(call_id=f"tcp-{i}"), capture_id=i) for i in range(3)]
    stream = b"".join(packets)
    # One packet cut inside its header, two in one segment, one cut in its payload.
    cuts = [3, len(packets[0]) + 40, len(stream) - 10]
    messages, pipeline = _messages(_tcp_frames(stream, cuts))
    assert [m.msg.call_id for m in messages] == ["tcp-0", "tcp-1", "tcp-2"]
    assert [m.agent for m in messages] == ["0", "1", "2"]
    assert messages[0].src == "10.0.0.1:5060"
    assert pipeline.summary.notes["hep-tcp-streams"] == 1


def test_hep_tcp_stream_losing_its_framing_is_counted() -> None:
    stream = hep3(sip_request(call_id="ok")) + b"garbage that is not HEP"
    messages, pipeline = _messages(_tcp_frames(stream, []))
    assert [m.msg.call_id for m in messages] == ["ok"]
    assert pipeline.summary.notes["hep-tcp-desync"] == 1


def _as_hep(capture: Path, out: Path) -> int:
    """Rewrite ``capture`` with every UDP payload sent as HEP v3 from an agent to a collector;
    the frame times and numbers stay the same. Returns how many frames were rewritten."""
    records = []
    rewritten = 0
    for packet in rdpcap(str(capture)):
        ts = float(packet.time)
        if packet.haslayer(UDP) and packet.haslayer(IP):
            ip, udp = packet[IP], packet[UDP]
            seconds = int(ts)
            micros = round((ts - seconds) * 1e6)
            if micros == 1_000_000:
                seconds, micros = seconds + 1, 0
            hep = hep3(
                bytes(udp.payload),
                src=(ip.src, udp.sport),
                dst=(ip.dst, udp.dport),
                ts=(seconds, micros),
                capture_id=77,
            )
            records.append((ts, _udp_frame(hep)))
            rewritten += 1
        else:
            records.append((ts, bytes(packet)))
    out.write_bytes(pcap_bytes(records, ETHERNET))
    return rewritten


def _jsonl(path: Path) -> list[dict[str, object]]:
    out = io.StringIO()
    run_pcap([str(path)], PipelineOptions(), "jsonl", out)
    return [json.loads(line) for line in out.getvalue().splitlines()]


#: The bundled captures of SIP over UDP (tls-call is SIP over TLS: nothing to wrap; HEP carries
#: the SIP only, so the RTP of the media-* captures, and what sipwatch says of it, is not there).
UDP_CAPTURES = sorted(
    p for p in CAPTURES.glob("*.pcap") if p.stem not in {"tls-call", "media-one-way"}
)


@pytest.mark.parametrize("capture", UDP_CAPTURES, ids=lambda p: p.stem)
def test_bundled_capture_replayed_as_hep_prints_the_same(capture: Path, tmp_path: Path) -> None:
    hep_file = tmp_path / "hep.pcap"
    assert _as_hep(capture, hep_file) > 0
    original = _jsonl(capture)
    replayed = _jsonl(hep_file)
    assert len(replayed) == len(original)
    for before, after in zip(original, replayed, strict=True):
        if before["type"] == "message":
            assert before["agent"] is None
            assert after["agent"] == "77"
            after["agent"] = None
        if before["type"] == "summary":
            # What differs is how the packets travelled: the notes say HEP carried them.
            assert after["notes"].pop("hep-v3") == before["messages"]  # type: ignore[union-attr]
            after["source"] = before["source"]
        assert after == before


def test_check_reads_hep_in_a_capture_as_it_reads_the_capture(tmp_path: Path) -> None:
    """``check`` judges a capture replayed as HEP as it judges the original."""
    from sipwatch.check.config import CheckConfig
    from sipwatch.commands.check import check_capture

    original = CAPTURES / "transfer-failed.pcap"
    hep_file = tmp_path / "transfer-failed-hep.pcap"
    _as_hep(original, hep_file)
    before = check_capture(str(original), CheckConfig(), False, PipelineOptions())
    after = check_capture(str(hep_file), CheckConfig(), False, PipelineOptions())
    assert (after.outcome, after.messages, after.findings) == (
        before.outcome,
        before.messages,
        before.findings,
    )
    assert after.outcome == "failed"  # the failed transfer, found through HEP
    assert after.messages == 12


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(
    st.sampled_from([hep3(sip_request()), hep2(sip_request()), hep2(sip_request(), version=1)]),
    st.lists(st.tuples(st.integers(0, 600), st.integers(0, 255)), max_size=6),
    st.integers(0, 600),
    st.booleans(),
)
def test_mutated_hep_through_the_pipeline_never_raises(
    base: bytes, edits: list[tuple[int, int]], cut: int, over_tcp: bool
) -> None:
    data = bytearray(base)
    for pos, value in edits:
        data[pos % len(data)] = value
    payload = bytes(data[: max(1, len(data) - cut % len(data))])
    frames = _tcp_frames(payload, []) if over_tcp else [_udp_frame(payload)]
    messages, pipeline = _messages(frames)
    summary = pipeline.summary
    assert len(messages) <= 1
    assert summary.frames == len(frames)


def test_agent_is_the_last_json_key_in_both_writers_and_inert_in_the_terminal() -> None:
    from rich.console import Console

    from sipwatch.render.jsonl import dumps, message_json, message_line
    from sipwatch.render.terminal import TerminalRenderer

    hostile = b"edge\x1b[31m\xe2\x80\xae-1"  # an escape sequence and a bidi override
    (message,), _ = _messages([_udp_frame(hep3(sip_request(call_id="j1"), node=hostile))])
    line = message_line(message)
    assert line == dumps(message_json(message))
    assert list(json.loads(line))[-2:] == ["agent", "icmp"]  # icmp (ICMP-quoted copies) last
    assert json.loads(line)["agent"] == hostile.decode()
    out = io.StringIO()
    console = Console(file=out, width=140, color_system=None, force_terminal=False)
    TerminalRenderer(console).record(message)
    text = out.getvalue()
    assert "\x1b" not in text and "\u202e" not in text
    assert text.rstrip("\n").endswith("[agent edge\\x1b[31m\\u202e-1]")
