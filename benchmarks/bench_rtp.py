#!/usr/bin/env python3
"""Benchmark RTP accounting: sipwatch's media tracker beside ``tshark -q -z rtp,streams``.

    python3 benchmarks/bench_rtp.py build      # record benchmarks/out/rtp.pcap (root: unshare)
    python3 benchmarks/bench_rtp.py run        # time both tools on it
    python3 benchmarks/bench_rtp.py all

The capture: sipp's built-in ``uac_pcap`` scenario (INVITE, then 8 s of G.711 A-law RTP played
from sip-tester's g711a.pcap and an RFC 2833 DTMF digit, BYE) against sipp's ``uas``, a few
hundred calls on loopback inside a private network namespace, recorded with tcpdump. Both tools
read the same file once; sipwatch runs the full pipeline with JSON lines out (streams included),
tshark only its RTP stream statistics. Each is timed by wall clock; the figure is RTP packets
per second (packets counted by sipwatch, ``notes.rtp-packets``).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
OUT = HERE / "out"
REPO = HERE.parent
CAPTURE = OUT / "rtp.pcap"
UAC, UAS = "127.0.0.11", "127.0.0.13"
G711A = Path("/usr/share/sip-tester")


def _wait_listen(ip: str) -> None:
    end = time.monotonic() + 5
    while time.monotonic() < end:
        out = subprocess.run(["ss", "-lnu"], capture_output=True, text=True, check=False).stdout
        if f"{ip}:5060" in out:
            return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {ip}:5060")


def build(calls: int, rate: int) -> int:
    if os.environ.get("SIPWATCH_BENCH_NETNS") != "1":
        env = dict(os.environ, SIPWATCH_BENCH_NETNS="1")
        args = [sys.executable, __file__, "build", "--calls", str(calls), "--rate", str(rate)]
        return subprocess.call(["unshare", "--net", *args], env=env)
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    for tool in ("sipp", "tcpdump"):
        if shutil.which(tool) is None:
            print(f"bench_rtp.py: {tool} not found (apt-get install sip-tester tcpdump)")
            return 2
    OUT.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        (work / "pcap").symlink_to(G711A)  # uac_pcap plays pcap/g711a.pcap
        dump = subprocess.Popen(
            ["tcpdump", "-i", "lo", "-U", "-s", "0", "-w", str(CAPTURE), "udp"],
            stderr=subprocess.DEVNULL,
        )
        time.sleep(0.7)
        common = ["-nostdin", "-p", "5060", "-mp", "20000"]
        uas = subprocess.Popen(
            ["sipp", "-sn", "uas", "-i", UAS, *common],
            cwd=work,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            _wait_listen(UAS)
            limits = ["-m", str(calls), "-r", str(rate), "-l", str(rate * 12)]
            subprocess.run(
                ["sipp", "-sn", "uac_pcap", "-i", UAC, *common, *limits, f"{UAS}:5060"],
                cwd=work,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                timeout=calls / rate + 120,
                check=False,
            )
            time.sleep(1.0)
        finally:
            uas.terminate()
            uas.wait()
            dump.terminate()
            dump.wait()
    print(f"recorded {CAPTURE.relative_to(REPO)}")
    return 0


def _timed(args: list[str]) -> tuple[float, str]:
    start = time.perf_counter()
    out = subprocess.run(args, capture_output=True, text=True, check=True).stdout
    return time.perf_counter() - start, out


def run() -> int:
    if not CAPTURE.exists():
        print(f"bench_rtp.py: {CAPTURE} is missing; run 'build' first")
        return 2
    sipwatch = [sys.executable, "-m", "sipwatch", "pcap", str(CAPTURE), "--format", "jsonl"]
    took, out = _timed(sipwatch)
    lines = [json.loads(line) for line in out.splitlines()]
    summary = lines[-1]
    packets = int(summary["notes"].get("rtp-packets", 0))
    streams = sum(1 for line in lines if line["type"] == "stream")
    print(f"capture: {CAPTURE.stat().st_size / 1e6:.1f} MB, {summary['frames']} frames, ")
    print(f"  {summary['messages']} SIP messages, {packets} RTP packets in {streams} streams")
    print(f"sipwatch pcap --format jsonl: {took:.2f} s, {packets / took:,.0f} RTP packets/s")
    if shutil.which("tshark") is not None:
        took_t, _ = _timed(["tshark", "-q", "-z", "rtp,streams", "-r", str(CAPTURE)])
        print(
            f"tshark -q -z rtp,streams:      {took_t:.2f} s, {packets / took_t:,.0f} RTP packets/s"
        )
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("what", choices=["build", "run", "all"])
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument("--rate", type=int, default=20, help="new calls per second")
    args = parser.parse_args()
    if args.what in ("build", "all"):
        code = build(args.calls, args.rate)
        if code:
            return code
    return run() if args.what in ("run", "all") else 0


if __name__ == "__main__":
    sys.exit(main())
