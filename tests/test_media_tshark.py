"""RTP streams agree with tshark's ``-z rtp,streams`` on every public capture with RTP.

tshark decodes a UDP flow as RTP when an SDP body announced one of its ends (its default), or,
with ``-o rtp.heuristic_rtp:TRUE``, by the RTP header alone. sipwatch labels the first kind
``origin: "sdp"`` and the second ``"guess"``, so each is compared with the matching tshark run:
per stream (source, destination, SSRC) the packets and lost counts must be equal and the max
and mean jitter within 0.01 ms. Every kept difference is listed in :data:`KEPT` with its reason,
and the test checks that it is still there (a fixed difference must leave the list).
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from sipwatch.capture.readers import open_capture
from sipwatch.media.model import StreamReport
from sipwatch.pipeline import Pipeline, PipelineOptions
from sipwatch.records import StreamRecord
from tests.conftest import CAPTURES, PUBLIC

pytestmark = [pytest.mark.tshark]

_ROW = re.compile(
    r"^\s*[\d.]+\s+[\d.]+\s+(?P<src>\S+)\s+(?P<sport>\d+)\s+(?P<dst>\S+)\s+(?P<dport>\d+)\s+"
    r"0x(?P<ssrc>[0-9A-Fa-f]+)\s+.*?\s(?P<packets>\d+)\s+(?P<lost>-?\d+) \([^)]*\)\s+"
    r"\S+\s+\S+\s+\S+\s+\S+\s+(?P<mean>\S+)\s+(?P<max>\S+)"
)

#: (capture, "src -> dst", field) -> why sipwatch differs from tshark 4.0 there.
KEPT: dict[tuple[str, str, str], str] = {
    # tshark's "Mean Jitter" is its own running figure, not the mean of the RFC 3550 A.8
    # estimate that sipwatch reports; on streams of evenly spaced audio both agree to 0.001
    # ms, and they part where packets are left out of the statistics (markers, comfort noise)
    # or several packets share one timestamp (video frames).
    ("rtp-protocol.pcap", "10.33.6.101:6040 -> 10.33.6.100:6020", "mean"): "comfort noise",
    ("rtp-protocol.pcap", "10.33.6.100:6020 -> 10.33.6.101:6040", "mean"): "comfort noise",
    ("h263-over-rtp.pcap", "192.168.6.199:57128 -> 192.168.6.199:32976", "mean"): "video",
    ("sip_ipv4_tcp.pcap", "10.33.6.101:6050 -> 10.33.6.100:6000", "mean"): "markers",
    # RFC 4733 §2.5.1: the packets of one DTMF event all carry the event's start timestamp;
    # tshark feeds them into the jitter (a 20 ms step per packet), sipwatch leaves them out.
    ("voip-extension.pcap", "192.168.5.10:8000 -> 192.168.5.11:25426", "mean"): "RFC 4733",
    ("voip-extension.pcap", "192.168.5.10:8000 -> 192.168.5.11:25426", "max"): "RFC 4733",
    ("sip_dtmf2.cap", "192.168.105.172:4376 -> 192.168.105.110:4376", "mean"): "RFC 4733",
    ("sip_dtmf2.cap", "192.168.105.172:4376 -> 192.168.105.110:4376", "max"): "RFC 4733",
    # After the re-INVITE to T.38 (m=image udptl) tshark decodes the port as UDPTL and stops
    # counting the RTP that keeps arriving on it; sipwatch counts every RTP packet of the SSRC.
    ("fax-call-t38-ca-tdm-sip-fb-1.pcap", "10.35.60.100:15580 -> 10.23.1.52:16756", "packets"): (
        "T.38 switch"
    ),
    ("fax-call-t38-ca-tdm-sip-fb-1.pcap", "10.35.60.100:15580 -> 10.23.1.52:16756", "lost"): (
        "T.38 switch"
    ),
    ("fax-call-t38-ca-tdm-sip-fb-1.pcap", "10.35.60.100:15580 -> 10.23.1.52:16756", "mean"): (
        "T.38 switch"
    ),
    ("fax-call-t38-ca-tdm-sip-fb-1.pcap", "10.35.60.100:15580 -> 10.23.1.52:16756", "max"): (
        "T.38 switch"
    ),
    ("fax-call-t38-ca-tdm-sip-fb-1.pcap", "10.23.1.52:16756 -> 10.35.60.100:15580", "mean"): (
        "comfort noise and dynamic payload types"
    ),
    ("fax-call-t38-ca-tdm-sip-fb-1.pcap", "10.23.1.52:16756 -> 10.35.60.100:15580", "max"): (
        "comfort noise and dynamic payload types"
    ),
    # A fuzzed capture: the stream's first packet has payload type 99, which no SDP maps, and
    # sipwatch takes a stream's clock rate from its first packet (no jitter without one);
    # tshark looks the rate up per packet.
    ("fuzz-2006-06-26-2594.pcap", "192.168.1.2:30000 -> 212.242.33.36:40392", "mean"): "fuzz",
    ("fuzz-2006-06-26-2594.pcap", "192.168.1.2:30000 -> 212.242.33.36:40392", "max"): "fuzz",
}


def _endpoint(host: str, port: str) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def tshark_streams(path: Path, heuristic: bool) -> dict[tuple[str, str, int], dict[str, float]]:
    args = ["tshark", "-q", "-r", str(path), "-z", "rtp,streams"]
    if heuristic:
        args[1:1] = ["-o", "rtp.heuristic_rtp:TRUE"]
    out = subprocess.run(args, capture_output=True, text=True, check=True).stdout
    streams: dict[tuple[str, str, int], dict[str, float]] = {}
    for line in out.splitlines():
        row = _ROW.match(line)
        if row is None:
            continue
        key = (
            _endpoint(row["src"], row["sport"]),
            _endpoint(row["dst"], row["dport"]),
            int(row["ssrc"], 16),
        )
        streams[key] = {
            "packets": int(row["packets"]),
            "lost": int(row["lost"]),
            "mean": float(row["mean"]),
            "max": float(row["max"]),
        }
    return streams


def sipwatch_streams(path: Path) -> list[StreamReport]:
    pipeline = Pipeline(PipelineOptions(), source=path.name)
    with open_capture(path) as source:
        return [r.stream for r in pipeline.run(source) if isinstance(r, StreamRecord)]


def _captures() -> list[Path]:
    """Every public capture, and the bundled ones recorded with RTP."""
    bundled = sorted(CAPTURES.glob("media-*.pcap"))
    if not PUBLIC.is_dir():
        return bundled
    suffixes = {".pcap", ".pcapng", ".cap", ".gz"}
    return [p for p in sorted(PUBLIC.iterdir()) if p.suffix in suffixes] + bundled


def _differences(
    path: Path, ours: list[StreamReport], theirs: dict[tuple[str, str, int], dict[str, float]]
) -> set[tuple[str, str, str]]:
    found: set[tuple[str, str, str]] = set()
    for stream in ours:
        name = f"{stream.src} -> {stream.dst}"
        expected = theirs.get((stream.src, stream.dst, stream.ssrc))
        assert expected is not None, f"{path.name}: {name} SSRC {stream.ssrc:#x} not in tshark"
        mine = {
            "packets": stream.packets,
            "lost": stream.lost,
            "mean": stream.jitter_mean_ms,
            "max": stream.jitter_max_ms,
        }
        for field, value in mine.items():
            tolerance = 0.0101 if field in {"mean", "max"} else 0
            if abs(value - expected[field]) > tolerance:
                found.add((path.name, name, field))
    return found


@pytest.mark.parametrize("path", _captures(), ids=lambda p: p.name)
def test_streams_found_by_sdp_agree_with_tshark(path: Path) -> None:
    if shutil.which("tshark") is None:
        pytest.skip("tshark is not installed")
    theirs = tshark_streams(path, heuristic=False)
    ours = [s for s in sipwatch_streams(path) if s.origin == "sdp"]
    # The same streams, then the same numbers except where a difference is kept.
    assert sorted((s.src, s.dst, s.ssrc) for s in ours) == sorted(theirs)
    found = _differences(path, ours, theirs)
    kept = {key for key in KEPT if key[0] == path.name}
    assert found == kept


@pytest.mark.parametrize("path", _captures(), ids=lambda p: p.name)
def test_guessed_streams_agree_with_tshark_heuristics(path: Path) -> None:
    if shutil.which("tshark") is None:
        pytest.skip("tshark is not installed")
    ours = [s for s in sipwatch_streams(path) if s.origin == "guess"]
    if not ours:
        return
    theirs = tshark_streams(path, heuristic=True)
    assert _differences(path, ours, theirs) == set()
