#!/usr/bin/env python3
"""Benchmark ``sipwatch live``: capture engines, then the whole command under sipp load.

    python3 benchmarks/bench_live.py engines      # tcpdump pipe vs scapy sniff, a few kpkt/s
    python3 benchmarks/bench_live.py run          # sipp at ~10,150 SIP messages/s for 30 s
    python3 benchmarks/bench_live.py run --cps 300 --seconds 20     # a rate it keeps up with
    python3 benchmarks/bench_live.py run --profile                  # + cProfile of sipwatch

Everything runs as root inside a private network namespace (``unshare --net``) on its
loopback: no other traffic leaks in and nothing leaves the machine.

``engines`` sends UDP SIP OPTIONS at a fixed rate from a separate process, each carrying its
send time, and receives them with (a) the live engine sipwatch uses (tcpdump ``-w -`` into the
pcap reader, frames only, no SIP analysis) and (b) scapy's ``sniff`` on a raw socket. It reports
packets received, CPU time per packet of the receiving Python process (and of tcpdump), and
latency from send to the frame in Python's hands.

``run`` drives sipp (benchmarks/scenarios/uac.xml and uas.xml: 7 messages per call) while
``sipwatch live lo --format jsonl`` runs and an independent tcpdump writes the reference pcap.
It reports the messages the reference file holds (counted by ``sipwatch pcap``), the messages
sipwatch printed, its drops (kernel and ours), and the latency from each message's capture
timestamp (``ts``) to the moment its line was read from sipwatch's stdout (median, p99, max).
Results are printed and written to benchmarks/out/live-*.json.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
OUT = HERE / "out"
CALLER, CALLEE = "127.0.0.11", "127.0.0.13"
PROBE_DST = ("127.0.0.99", 5060)
MESSAGES_PER_CALL = 7

# -- helpers -----------------------------------------------------------------------------------


def _in_netns(argv: list[str]) -> int | None:
    """Re-run this script inside a new network namespace unless already there."""
    if os.environ.get("SIPWATCH_BENCH_NETNS") == "1":
        subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
        return None
    env = dict(os.environ, SIPWATCH_BENCH_NETNS="1")
    return subprocess.call(["unshare", "--net", sys.executable, __file__, *argv], env=env)


def _percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


def _proc_cpu(pid: int) -> float:
    """CPU seconds (user + system) a running process has used, from /proc/PID/stat."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks


def _wait_listen(ip: str) -> None:
    end = time.monotonic() + 5
    while time.monotonic() < end:
        out = subprocess.run(["ss", "-lnu"], check=False, capture_output=True, text=True).stdout
        if f"{ip}:5060" in out:
            return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {ip}:5060")


def _stop(proc: subprocess.Popen[Any], sig: int = signal.SIGTERM) -> None:
    if proc.poll() is None:
        proc.send_signal(sig)
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def _options(seq: int, sent: float, size: int = 450) -> bytes:
    """A SIP OPTIONS whose Call-ID carries its sequence number and send time."""
    head = (
        f"OPTIONS sip:probe@127.0.0.1 SIP/2.0\r\n"
        f"Via: SIP/2.0/UDP 127.0.0.1:5062;branch=z9hG4bK-{seq}\r\n"
        f"From: <sip:bench@127.0.0.1>;tag=b{seq}\r\nTo: <sip:probe@127.0.0.1>\r\n"
        f"Call-ID: bench-{seq}-{sent:.6f}\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\n"
    )
    pad = max(0, size - len(head) - 20)
    return (head + f"X-Pad: {'x' * pad}\r\nContent-Length: 0\r\n\r\n").encode()


# -- engines -----------------------------------------------------------------------------------

SENDER = """
import socket, sys, time
sys.path.insert(0, {here!r})
from bench_live import _options
rate, seconds = {rate}, {seconds}
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
start = time.monotonic()
n = 0
while n < rate * seconds:
    due = start + n / rate
    now = time.monotonic()
    if due > now:
        time.sleep(due - now)
    s.sendto(_options(n, time.time()), ("127.0.0.1", 5060))
    n += 1
print(n)
"""


def _sender(rate: int, seconds: float) -> subprocess.Popen[str]:
    code = SENDER.format(here=str(HERE), rate=rate, seconds=seconds)
    return subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)


def _sent_time(payload: bytes) -> float | None:
    at = payload.find(b"Call-ID: bench-")
    if at < 0:
        return None
    end = payload.find(b"\r\n", at)
    try:
        return float(payload[at:end].rsplit(b"-", 1)[1])
    except ValueError:
        return None


def _engine_tcpdump(rate: int, seconds: float) -> dict[str, Any]:
    sys.path.insert(0, str(REPO))
    from sipwatch.capture.live import LiveCapture

    latencies: list[float] = []
    with LiveCapture(["lo"], "udp port 5060") as capture:
        capture.start()
        pid = capture.streams[0].pid or 0
        cpu0, tcpdump0 = time.process_time(), _proc_cpu(pid)
        sender = _sender(rate, seconds)
        received = 0
        quiet_since = None
        while True:
            frames = capture.get(0.2)
            now = time.time()
            for frame in frames:
                sent = _sent_time(frame.data)
                if sent is not None:
                    received += 1
                    latencies.append(now - sent)
            if sender.poll() is not None:
                if frames:
                    quiet_since = None
                elif quiet_since is None:
                    quiet_since = time.monotonic()
                elif time.monotonic() - quiet_since > 1.0:
                    break
        cpu = time.process_time() - cpu0
        tcpdump_cpu = _proc_cpu(pid) - tcpdump0
        capture.stop()
        drops = capture.drops()
    sent_count = int((sender.stdout.read() if sender.stdout else "0").strip() or 0)
    return _engine_result("tcpdump pipe", sent_count, received, cpu, latencies, drops, tcpdump_cpu)


def _engine_scapy(rate: int, seconds: float) -> dict[str, Any]:
    from scapy.all import sniff
    from scapy.packet import Raw

    latencies: list[float] = []
    unique: set[float] = set()
    copies = 0

    def seen(pkt: Any) -> None:
        # A packet socket on lo sees each datagram twice (going out and coming in); libpcap
        # drops the outgoing copy, scapy hands both over: count each datagram once.
        nonlocal copies
        now = time.time()
        if Raw in pkt:
            sent = _sent_time(bytes(pkt[Raw].load))
            if sent is not None:
                copies += 1
                if sent not in unique:
                    unique.add(sent)
                    latencies.append(now - sent)

    ready = threading.Event()
    cpu0 = time.process_time()
    sender_box: list[subprocess.Popen[str]] = []

    def start_sender() -> None:
        ready.wait()
        time.sleep(0.5)
        sender_box.append(_sender(rate, seconds))

    starter = threading.Thread(target=start_sender)
    starter.start()
    sniff(
        iface="lo",
        filter="udp port 5060",
        prn=seen,
        store=False,
        timeout=seconds + 3.0,
        started_callback=ready.set,
    )
    cpu = time.process_time() - cpu0
    starter.join()
    sender = sender_box[0]
    sender.wait()
    sent_count = int((sender.stdout.read() if sender.stdout else "0").strip() or 0)
    result = _engine_result("scapy sniff", sent_count, len(unique), cpu, latencies, {}, None)
    result["copies_handled"] = copies
    result["python_us_per_copy"] = round(cpu / copies * 1e6, 1) if copies else None
    return result


def _engine_result(
    name: str,
    sent: int,
    received: int,
    cpu: float,
    latencies: list[float],
    drops: dict[str, int],
    engine_cpu: float | None,
) -> dict[str, Any]:
    return {
        "engine": name,
        "sent": sent,
        "received": received,
        "python_cpu_s": round(cpu, 3),
        "python_us_per_packet": round(cpu / received * 1e6, 1) if received else None,
        "tcpdump_cpu_s": None if engine_cpu is None else round(engine_cpu, 3),
        "latency_median_ms": round(statistics.median(latencies) * 1e3, 3) if latencies else None,
        "latency_p99_ms": round(_percentile(latencies, 0.99) * 1e3, 3),
        "drops": drops,
    }


def engines(rate: int, seconds: float) -> int:
    results = []
    for measure in (_engine_tcpdump, _engine_scapy):
        result = measure(rate, seconds)
        results.append(result)
        print(json.dumps(result), flush=True)
    OUT.mkdir(exist_ok=True)
    (OUT / "live-engines.json").write_text(json.dumps(results, indent=2) + "\n")
    return 0


# -- the whole command under sipp load -----------------------------------------------------------


def _probe_until_seen(lines: list[tuple[float, bytes]], proc: subprocess.Popen[bytes]) -> None:
    """Send OPTIONS probes until sipwatch prints one: then the capture is surely running."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    end = time.monotonic() + 15
    seq = 0
    while time.monotonic() < end and proc.poll() is None:
        sock.sendto(_options(seq, time.time()).replace(b"bench-", b"probe-"), PROBE_DST)
        seq += 1
        time.sleep(0.1)
        if lines:
            return
    raise RuntimeError("sipwatch printed nothing: is the capture running?")


def _count_messages(pcap: Path) -> dict[str, Any]:
    """SIP messages in the reference capture (probes excluded): tshark, else ``sipwatch pcap``."""
    if shutil.which("tshark"):
        cmd = ["tshark", "-n", "-r", str(pcap), "-Y", "sip", "-T", "fields", "-e", "sip.Call-ID"]
        probe, message = b"probe-", b""
    else:
        cmd = [sys.executable, "-m", "sipwatch", "pcap", str(pcap), "--format", "jsonl"]
        probe, message = b'"call_id":"probe-', b'{"schema":1,"type":"message"'
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, cwd=REPO)
    assert proc.stdout is not None
    messages = probes = 0
    for line in proc.stdout:
        if line.startswith(message) and line.strip():
            if probe in line:
                probes += 1
            else:
                messages += 1
    proc.wait()
    return {"messages": messages, "probes": probes, "counted_by": Path(cmd[0]).name}


def run(cps: int, seconds: float, profile: bool, explain: str) -> int:
    OUT.mkdir(exist_ok=True)
    calls = int(cps * seconds)
    with tempfile.TemporaryDirectory(dir=OUT) as tmp:
        work = Path(tmp)
        ref_pcap = work / "reference.pcap"
        procs: list[subprocess.Popen[Any]] = []
        try:
            reference = subprocess.Popen(
                ["tcpdump", "-i", "lo", "-s", "0", "-B", "131072", "-w", str(ref_pcap), "udp"],
                stderr=subprocess.PIPE,
            )
            procs.append(reference)
            time.sleep(0.7)
            prefix = [sys.executable]
            if profile:
                prefix += ["-m", "cProfile", "-o", str(OUT / "live-profile.out")]
            cmd = [
                *prefix,
                "-m",
                "sipwatch",
                "live",
                "lo",
                "--format",
                "jsonl",
                "--explain",
                explain,
            ]
            sipwatch = subprocess.Popen(
                cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=REPO, bufsize=1 << 16
            )
            procs.append(sipwatch)
            lines: list[tuple[float, bytes]] = []

            def read() -> None:
                assert sipwatch.stdout is not None
                clock = time.time
                append = lines.append
                for line in sipwatch.stdout:
                    append((clock(), line))

            reader = threading.Thread(target=read, daemon=True)
            reader.start()
            _probe_until_seen(lines, sipwatch)
            uas_xml = str(HERE / "scenarios" / "uas.xml")
            uas = subprocess.Popen(
                ["sipp", "-sf", uas_xml, "-i", CALLEE, "-p", "5060", "-nostdin", "-t", "u1"],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                cwd=work,
            )
            procs.append(uas)
            _wait_listen(CALLEE)
            cpu0 = _proc_cpu(sipwatch.pid)
            began = time.monotonic()
            uac_xml = str(HERE / "scenarios" / "uac.xml")
            limits = [
                "-m",
                str(calls),
                "-r",
                str(cps),
                "-l",
                "20000",
                "-timeout",
                str(int(seconds * 4 + 60)),
            ]
            peer = [f"{CALLEE}:5060", "-s", "callee"]
            uac = subprocess.run(
                ["sipp", "-sf", uac_xml, "-i", CALLER, "-p", "5060", *peer, *limits, "-nostdin"],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                cwd=work,
                check=False,
            )
            load_seconds = time.monotonic() - began
            cpu_load = _proc_cpu(sipwatch.pid) - cpu0
            time.sleep(2.0)
            _stop(uas)
            stop_at = time.monotonic()
            if sipwatch.poll() is not None:
                err = sipwatch.stderr.read().decode(errors="replace") if sipwatch.stderr else ""
                raise RuntimeError(f"sipwatch exited early ({sipwatch.returncode}): {err}")
            sipwatch.send_signal(signal.SIGINT)
            _, status, usage = os.wait4(sipwatch.pid, 0)
            sipwatch.returncode = os.waitstatus_to_exitcode(status)
            stop_seconds = time.monotonic() - stop_at
            reader.join(timeout=60)
            stderr = sipwatch.stderr.read().decode(errors="replace") if sipwatch.stderr else ""
            _stop(reference)
            ref_err = reference.stderr.read().decode(errors="replace") if reference.stderr else ""
            reference_count = _count_messages(ref_pcap)
        finally:
            # Whatever went wrong, leave no capture or sipp running.
            for proc in procs:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()
    return _report(
        cps=cps,
        seconds=seconds,
        uac_rc=uac.returncode,
        load_seconds=load_seconds,
        cpu_load=cpu_load,
        cpu_total=usage.ru_utime + usage.ru_stime,
        stop_seconds=stop_seconds,
        rc=sipwatch.returncode,
        lines=lines,
        stderr=stderr,
        ref_err=ref_err,
        reference=reference_count,
        profile=profile,
    )


def _report(**r: Any) -> int:
    lines: list[tuple[float, bytes]] = r.pop("lines")
    latencies: list[float] = []
    printed = 0
    summary: dict[str, Any] = {}
    for read_at, raw in lines:
        if raw.startswith(b'{"schema":1,"type":"message"'):
            if b'"call_id":"probe-' in raw:
                continue
            printed += 1
            obj = json.loads(raw)
            latencies.append(read_at - float(obj["ts"]))
        elif raw.startswith(b'{"schema":1,"type":"summary"'):
            summary = json.loads(raw)
    reference = r["reference"]["messages"]
    result = {
        "offered_rate_msgs_per_s": r["cps"] * MESSAGES_PER_CALL,
        "load_seconds": round(r["load_seconds"], 1),
        "reference_messages": reference,
        "reference_rate_msgs_per_s": round(reference / r["load_seconds"]),
        "sipwatch_printed": printed,
        "sipwatch_share": round(printed / reference, 4) if reference else None,
        "drops": summary.get("drops"),
        "latency_median_ms": round(statistics.median(latencies) * 1e3, 1) if latencies else None,
        "latency_p99_ms": round(_percentile(latencies, 0.99) * 1e3, 1),
        "latency_max_ms": round(max(latencies) * 1e3, 1) if latencies else None,
        "sipwatch_cpu_s_during_load": round(r["cpu_load"], 1),
        "sipwatch_and_tcpdump_cpu_s_total": round(r["cpu_total"], 1),
        "cpu_us_per_printed_message": round(r["cpu_total"] / printed * 1e6, 1) if printed else None,
        "seconds_from_sigint_to_exit": round(r["stop_seconds"], 2),
        "exit_code": r["rc"],
        "uac_exit_code": r["uac_rc"],
        "reference_tcpdump": " ".join(r["ref_err"].split()),
        "sipwatch_stderr": r["stderr"][-500:],
        "load_average": os.getloadavg(),
    }
    print(json.dumps(result, indent=2), flush=True)
    name = f"live-run-{r['cps']}cps.json"
    (OUT / name).write_text(json.dumps(result, indent=2) + "\n")
    if r["profile"]:
        import pstats

        stats = pstats.Stats(str(OUT / "live-profile.out"))
        stats.sort_stats("tottime").print_stats(25)
        stats.sort_stats("cumulative").print_stats(25)
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="step", required=True)
    eng = sub.add_parser("engines", help="tcpdump pipe vs scapy sniff")
    eng.add_argument("--rate", type=int, default=3000, help="packets per second")
    eng.add_argument("--seconds", type=float, default=5.0)
    go = sub.add_parser("run", help="sipwatch live under sipp load")
    go.add_argument("--cps", type=int, default=1450, help="calls per second (7 messages each)")
    go.add_argument("--seconds", type=float, default=30.0)
    go.add_argument("--profile", action="store_true", help="run sipwatch under cProfile")
    go.add_argument("--explain", default="problems", choices=["problems", "all", "none"])
    args = parser.parse_args()
    for tool in ("sipp", "tcpdump", "unshare"):
        if subprocess.run(["which", tool], capture_output=True, check=False).returncode:
            print(f"bench_live.py: {tool} not found", file=sys.stderr)
            return 2
    outer = _in_netns(sys.argv[1:])
    if outer is not None:
        return outer
    if args.step == "engines":
        return engines(args.rate, args.seconds)
    return run(args.cps, args.seconds, args.profile, args.explain)


if __name__ == "__main__":
    sys.exit(main())
