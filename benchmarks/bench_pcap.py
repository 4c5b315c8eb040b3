#!/usr/bin/env python3
"""Benchmark ``sipwatch pcap`` against tshark on large SIP captures made here with sipp.

    python3 benchmarks/bench_pcap.py build      # record the captures (root: uses unshare --net)
    python3 benchmarks/bench_pcap.py run        # time sipwatch and tshark on them
    python3 benchmarks/bench_pcap.py all

Captures (in benchmarks/out/, not committed):
- ``udp.pcap``   >= 200k SIP messages over UDP, sipp caller and callee.
- ``tcp.pcap``   the same over one TCP connection (several messages per segment happen).
- ``trunk.pcap`` >= 20,000 calls through Kamailio as a record-routing proxy: all traffic runs
  between a few address pairs, like a trunk (tshark goes quadratic on it).

Both tools run on the same file in one run; each is timed by wall clock and its peak RSS read from
``wait4``. sipwatch runs the full pipeline with JSON lines out; tshark prints one line per SIP
frame (``-Y sip -T fields``). On the trunk capture, tshark only gets the first 40,000 packets
unless ``--tshark-full`` is given (it needs about 20 minutes for the whole file on 2 cores).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
OUT = HERE / "out"
REPO = HERE.parent
KAMAILIO_CFG = REPO / "captures" / "scenarios" / "kamailio.cfg"
CALLER, PROXY, CALLEE = "127.0.0.11", "127.0.0.12", "127.0.0.13"


# -- building the captures ------------------------------------------------------------------


def _wait_listen(ip: str, tcp: bool) -> None:
    end = time.monotonic() + 5
    while time.monotonic() < end:
        out = subprocess.run(
            ["ss", "-lnt" if tcp else "-lnu"], check=False, capture_output=True, text=True
        ).stdout
        if f"{ip}:5060" in out:
            return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {ip}:5060")


def _record(name: str, calls: int, rate: int, transport: str, via_proxy: bool) -> None:
    OUT.mkdir(exist_ok=True)
    out = OUT / f"{name}.pcap"
    dump = subprocess.Popen(
        ["tcpdump", "-i", "lo", "-s", "0", "-B", "65536", "-w", str(out), "udp or tcp"],
        stderr=subprocess.DEVNULL,
    )
    time.sleep(0.7)
    procs: list[subprocess.Popen[bytes]] = []
    targs = ["-t", transport]
    try:
        if via_proxy:
            procs.append(
                subprocess.Popen(
                    ["kamailio", "-f", str(KAMAILIO_CFG), "-DD", "-E", "-n", "2", "-Y", str(OUT)],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            )
            _wait_listen(PROXY, tcp=False)
        procs.append(
            subprocess.Popen(
                [
                    "sipp",
                    "-sf",
                    str(HERE / "scenarios" / "uas.xml"),
                    "-i",
                    CALLEE,
                    "-p",
                    "5060",
                    "-nostdin",
                    "-bg",
                    *targs,
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        )
        _wait_listen(CALLEE, tcp=transport == "t1")
        # The Request-URI names the callee; through the proxy, sipp sends to the proxy instead
        # (-rsa), which relays by the Request-URI. Naming the proxy in the Request-URI would make
        # it relay to itself until Max-Forwards runs out (483/408 instead of calls).
        proxy_args = ["-rsa", f"{PROXY}:5060"] if via_proxy else []
        subprocess.run(
            [
                "sipp",
                "-sf",
                str(HERE / "scenarios" / "uac.xml"),
                "-i",
                CALLER,
                "-p",
                "5060",
                f"{CALLEE}:5060",
                *proxy_args,
                "-s",
                "callee",
                "-m",
                str(calls),
                "-r",
                str(rate),
                "-l",
                "2000",
                "-nostdin",
                "-timeout",
                "300",
                *targs,
            ],
            check=False,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            timeout=400,
        )
        time.sleep(1.0)
    finally:
        subprocess.run(["pkill", "-f", "sipp -sf"], check=False)
        for proc in procs:
            proc.terminate()
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
        dump.terminate()
        dump.wait()
    print(f"built {out} ({out.stat().st_size / 1e6:.1f} MB)", flush=True)


def build() -> int:
    if os.environ.get("SIPWATCH_BENCH_NETNS") != "1":
        env = dict(os.environ, SIPWATCH_BENCH_NETNS="1")
        return subprocess.call(["unshare", "--net", sys.executable, __file__, "build"], env=env)
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    _record("udp", calls=32_000, rate=1500, transport="u1", via_proxy=False)
    _record("tcp", calls=32_000, rate=1500, transport="t1", via_proxy=False)
    _record("trunk", calls=21_000, rate=400, transport="u1", via_proxy=True)
    return 0


# -- timing ---------------------------------------------------------------------------------


def _timed(cmd: list[str]) -> tuple[float, float, int, bytes]:
    """Run ``cmd``; return (wall seconds, peak RSS in MB, lines printed, last line)."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    stdout = proc.stdout
    assert stdout is not None
    lines = 0
    tail = b""
    while chunk := stdout.read(1 << 20):
        lines += chunk.count(b"\n")
        tail = (tail + chunk)[-65536:]
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} exited {proc.returncode}")
    last = tail.rstrip(b"\n").rsplit(b"\n", 1)[-1]
    return wall, usage.ru_maxrss / 1024, lines, last


def _sipwatch(path: Path) -> dict[str, float]:
    wall, rss, _, last = _timed(
        [sys.executable, "-m", "sipwatch", "pcap", str(path), "--format", "jsonl"]
    )
    summary = json.loads(last)  # the closing summary record
    messages = int(summary["messages"])
    return {"seconds": wall, "rss_mb": rss, "messages": messages, "rate": messages / wall}


def _tshark(path: Path) -> dict[str, float]:
    wall, rss, lines, _ = _timed(
        [
            "tshark",
            "-n",
            "-r",
            str(path),
            "-Y",
            "sip",
            "-T",
            "fields",
            "-e",
            "frame.number",
            "-e",
            "sip.Method",
            "-e",
            "sip.Status-Code",
            "-e",
            "sip.Call-ID",
        ]
    )
    return {"seconds": wall, "rss_mb": rss, "messages": lines, "rate": lines / wall}


def _first_packets(path: Path, count: int) -> Path:
    head = path.with_name(f"{path.stem}-first{count // 1000}k.pcap")
    if not head.exists():
        subprocess.run(["editcap", "-r", str(path), str(head), f"1-{count}"], check=True)
    return head


def run(tshark_full: bool) -> int:
    results: dict[str, dict[str, dict[str, float]]] = {}
    for name in ("udp", "tcp", "trunk"):
        path = OUT / f"{name}.pcap"
        if not path.exists():
            print(f"missing {path}: run `bench_pcap.py build` first", file=sys.stderr)
            return 2
        row: dict[str, dict[str, float]] = {"sipwatch": _sipwatch(path)}
        if name == "trunk":
            head = _first_packets(path, 40_000)
            row["sipwatch_first40k"] = _sipwatch(head)
            row["tshark_first40k"] = _tshark(head)
            if tshark_full:
                row["tshark"] = _tshark(path)
        else:
            row["tshark"] = _tshark(path)
        results[name] = row
        _print_row(name, row)
    (OUT / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    return 0


def _print_row(name: str, row: dict[str, dict[str, float]]) -> None:
    for tool, r in row.items():
        print(
            f"{name:6} {tool:18} {r['messages']:>8.0f} msgs {r['seconds']:8.2f} s "
            f"{r['rate']:>9.0f} msgs/s  peak RSS {r['rss_mb']:6.0f} MB",
            flush=True,
        )
    pairs = [("sipwatch", "tshark"), ("sipwatch_first40k", "tshark_first40k")]
    for mine, theirs in pairs:
        if mine in row and theirs in row:
            ratio = row[mine]["rate"] / row[theirs]["rate"]
            print(f"{name:6} throughput ratio {mine} / {theirs}: {ratio:.1f}x", flush=True)
    if "sipwatch_first40k" in row:
        per_msg_head = row["sipwatch_first40k"]["seconds"] / row["sipwatch_first40k"]["messages"]
        per_msg_all = row["sipwatch"]["seconds"] / row["sipwatch"]["messages"]
        print(
            f"{name:6} sipwatch µs/message: first 40k packets {per_msg_head * 1e6:.1f}, "
            f"whole file {per_msg_all * 1e6:.1f}",
            flush=True,
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("step", choices=["build", "run", "all"])
    parser.add_argument(
        "--tshark-full", action="store_true", help="also run tshark on all of trunk.pcap"
    )
    args = parser.parse_args()
    for tool in ("sipp", "tcpdump", "tshark", "editcap", "kamailio"):
        if shutil.which(tool) is None:
            print(f"bench_pcap.py: {tool} not found", file=sys.stderr)
            return 2
    if args.step in ("build", "all"):
        rc = build()
        if rc:
            return rc
    if args.step in ("run", "all"):
        return run(args.tshark_full)
    return 0


if __name__ == "__main__":
    sys.exit(main())
