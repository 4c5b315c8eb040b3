#!/usr/bin/env python3
"""Benchmark ``sipwatch hep``: HEP messages per second it takes with no drop.

    python3 benchmarks/bench_hep.py                     # 1,000 to 8,000 messages/s, 5 s each
    python3 benchmarks/bench_hep.py --rates 3000 --seconds 10

For each rate, ``sipwatch hep --listen udp:127.0.0.1:PORT --format jsonl`` runs (its output
written to a file), and a sender process paces HEP v3 packets to it: the SIP
messages of the bundled ``transfer-succeeded`` capture (a call with a transfer, 12 messages),
each repetition with its own Call-ID so the correlator tracks as many calls as arrive, stamped
with the current time. sipwatch is stopped with SIGINT once the sender is done and its summary
read: messages decoded, and drops (``kernel``: the socket's SO_RXQ_OVFL count; ``ours``: the
analysis queue was full). A rate holds when every message sent was decoded with 0 drops.

Runs as root inside a private network namespace (``unshare --net``) when it can, else on this
machine's loopback. Results are printed and written to benchmarks/out/hep-*.json.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
PORT = 29060


def _chunk(kind: int, value: bytes) -> bytes:
    return struct.pack("!HHH", 0, kind, 6 + len(value)) + value


def hep3(payload: bytes, src: tuple[str, int], dst: tuple[str, int], now: float) -> bytes:
    """A HEP v3 packet as Kamailio's siptrace lays it out (the chunks it sends)."""
    seconds = int(now)
    chunks = _chunk(1, b"\x02") + _chunk(2, b"\x11")
    chunks += _chunk(3, socket.inet_aton(src[0])) + _chunk(4, socket.inet_aton(dst[0]))
    chunks += _chunk(7, struct.pack("!H", src[1])) + _chunk(8, struct.pack("!H", dst[1]))
    chunks += _chunk(9, struct.pack("!I", seconds))
    chunks += _chunk(10, struct.pack("!I", int((now - seconds) * 1e6)))
    chunks += _chunk(11, b"\x01") + _chunk(12, struct.pack("!I", 2001)) + _chunk(15, payload)
    return b"HEP3" + struct.pack("!H", 6 + len(chunks)) + chunks


def call_messages() -> list[tuple[bytes, tuple[str, int], tuple[str, int]]]:
    """The SIP datagrams of captures/transfer-succeeded.pcap (read with scapy)."""
    from scapy.layers.inet import IP, UDP
    from scapy.utils import rdpcap

    out = []
    for packet in rdpcap(str(REPO / "captures" / "transfer-succeeded.pcap")):
        if packet.haslayer(UDP):
            ip, udp = packet[IP], packet[UDP]
            out.append((bytes(udp.payload), (ip.src, udp.sport), (ip.dst, udp.dport)))
    return out


def send(rate: float, seconds: float) -> int:
    """Pace HEP packets at ``rate`` per second for ``seconds``; returns how many were sent."""
    messages = call_messages()
    call_id = messages[0][0].split(b"Call-ID: ", 1)[1].split(b"\r\n", 1)[0]
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    total = int(rate * seconds)
    start = time.monotonic()
    sent = 0
    repetition = 0
    while sent < total:
        repetition += 1
        fresh = b"%d-" % repetition + call_id
        for payload, src, dst in messages:
            if sent >= total:
                break
            due = start + sent / rate
            pause = due - time.monotonic()
            if pause > 0:
                time.sleep(pause)
            packet = hep3(payload.replace(call_id, fresh), src, dst, time.time())
            sock.sendto(packet, ("127.0.0.1", PORT))
            sent += 1
    return sent


def _wait_listening(timeout: float = 20.0) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        out = subprocess.run(["ss", "-lnu"], capture_output=True, text=True, check=False).stdout
        if f"127.0.0.1:{PORT}" in out:
            return
        time.sleep(0.05)
    raise RuntimeError("sipwatch hep did not start listening")


def one_rate(rate: float, seconds: float) -> dict[str, object]:
    # The output goes to a file: a pipe nobody reads until the end would fill up and stall
    # sipwatch on its own writes.
    with tempfile.TemporaryFile("w+") as output:
        proc = subprocess.Popen(
            [sys.executable, "-m", "sipwatch", "hep", "--listen", f"udp:127.0.0.1:{PORT}",
             "--format", "jsonl"],
            stdout=output, stderr=subprocess.DEVNULL, text=True, cwd=REPO,
        )  # fmt: skip
        _wait_listening()
        sender = subprocess.run(
            [sys.executable, __file__, "--send", str(rate), str(seconds)],
            capture_output=True, text=True, check=True,
        )  # fmt: skip
        sent = int(sender.stdout.strip())
        time.sleep(1.0)
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=120)
        output.seek(0)
        summary = json.loads(output.read().splitlines()[-1])
    result = {
        "rate": rate,
        "seconds": seconds,
        "sent": sent,
        "messages": summary["messages"],
        "drops": summary["drops"],
    }
    drops = summary["drops"]
    result["holds"] = summary["messages"] == sent and not any(drops.values())
    return result


def main() -> int:
    if sys.argv[1:2] == ["--send"]:
        print(send(float(sys.argv[2]), float(sys.argv[3])))
        return 0
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rates", type=float, nargs="+", default=[1000, 2000, 4000, 8000])
    parser.add_argument("--seconds", type=float, default=5.0)
    args = parser.parse_args()
    if os.geteuid() == 0 and os.environ.get("SIPWATCH_BENCH_NETNS") != "1":
        env = dict(os.environ, SIPWATCH_BENCH_NETNS="1")
        inner = [sys.executable, __file__, "--rates", *map(str, args.rates)]
        inner += ["--seconds", str(args.seconds)]
        return subprocess.call(["unshare", "--net", *inner], env=env)
    if os.environ.get("SIPWATCH_BENCH_NETNS") == "1":
        subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    results = []
    for rate in args.rates:
        result = one_rate(rate, args.seconds)
        results.append(result)
        print(json.dumps(result), flush=True)
    held = [r["rate"] for r in results if r["holds"]]
    best = max(held) if held else None
    print(f"highest rate with every message decoded and 0 drops: {best} messages/s")
    out_dir = HERE / "out"
    out_dir.mkdir(exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    (out_dir / f"hep-{stamp}.json").write_text(json.dumps({"results": results, "best": best}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
