"""``sipwatch live``: the capture engine's parts, and real captures of real SIP traffic.

The end-to-end tests run sipp (Alice on 127.0.0.11, Bob on 127.0.0.13, the bundled scenarios of
``captures/scenarios``) and ``python -m sipwatch live lo`` together inside a private network
namespace (``unshare --net``), so nothing else on the machine leaks into the capture and no
packet leaves it. This module doubles as the driver that runs inside the namespace
(``python -m tests.test_live --netns-driver SPEC``): it starts sipwatch, plays the scenarios,
optionally sends SIGINT, and reports every line sipwatch printed with the moment it was read
and whether sipwatch was still running then.
"""

from __future__ import annotations

import functools
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from sipwatch.capture.interfaces import interface_exists, list_interfaces
from sipwatch.capture.live import FrameQueue
from sipwatch.capture.tcpdump import (
    DEFAULT_FILTER,
    PERMISSION_HINT,
    capture_filter,
    parse_stats,
    pcap_header_info,
    start_error,
    tcpdump_command,
)
from sipwatch.capture.types import Frame
from sipwatch.errors import LiveCaptureError
from sipwatch.render.status import LiveStatus, StreamStatus, show_interfaces, status_line

REPO = Path(__file__).resolve().parents[1]
SCENARIOS = REPO / "captures" / "scenarios"
ALICE, BOB = "127.0.0.11", "127.0.0.13"


# -- parts, no capture needed ------------------------------------------------------------------


def test_default_filter_is_the_documented_one() -> None:
    assert capture_filter() == DEFAULT_FILTER
    assert capture_filter("  ") == DEFAULT_FILTER
    assert capture_filter("udp port 5070") == "udp port 5070"


def test_port_narrows_the_filter_but_keeps_fragments() -> None:
    bpf = capture_filter(None, [5080, 5060, 5060])
    assert bpf.startswith(f"({DEFAULT_FILTER}) and (port 5060 or port 5080 or ")
    assert "(ip[6:2] & 0x1fff != 0)" in bpf.split(" and (", 1)[1]
    assert "ip6[6] == 44" in bpf
    with pytest.raises(LiveCaptureError, match="bad --port 70000"):
        capture_filter(None, [70000])


def test_default_filter_takes_icmp_errors_but_not_echo() -> None:
    """SIP quoted in ICMP errors is evidence (docs/live.md): the default filter and --port keep
    ICMP errors (RFC 792 types 3, 4, 5, 11, 12) and ICMPv6 errors (RFC 4443: types below 128)."""
    assert "icmp[0] == 3" in DEFAULT_FILTER and "icmp[0] == 11" in DEFAULT_FILTER
    narrowed = capture_filter(None, [5060])
    assert "icmp[0] == 3" in narrowed.split(" and (", 1)[1]
    assert "ip6[40] < 128" in narrowed.split(" and (", 1)[1]


@pytest.mark.parametrize("ports", [[], [5060], [5060, 5061]])
def test_tcpdump_compiles_the_filters(ports: list[int]) -> None:
    """tcpdump itself accepts every filter sipwatch builds (``-d`` compiles, captures nothing)."""
    tcpdump = shutil.which("tcpdump")
    if tcpdump is None:
        pytest.skip("tcpdump not installed (apt-get install tcpdump)")
    proc = subprocess.run(
        [tcpdump, "-d", "-y", "EN10MB", capture_filter(None, ports)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert "ret" in proc.stdout


def test_tcpdump_command_streams_pcap_at_once() -> None:
    cmd = tcpdump_command("/usr/bin/tcpdump", "lo", DEFAULT_FILTER)
    assert cmd[:3] == ["/usr/bin/tcpdump", "-i", "lo"]
    # Without --immediate-mode libpcap hands packets over in ~1 s blocks; -U flushes each one.
    assert "--immediate-mode" in cmd
    assert "-U" in cmd
    assert cmd[cmd.index("-w") + 1] == "-"
    assert cmd[-1] == DEFAULT_FILTER


def test_statistics_lines_of_tcpdump() -> None:
    # The SIGUSR1 one-liner and the exit lines, as tcpdump 4.99 prints them.
    running = (
        "tcpdump: 5 packets captured, 10 packets received by filter, 3 packets dropped by kernel"
    )
    assert parse_stats(running) == {
        "captured": 5,
        "received by filter": 10,
        "dropped by kernel": 3,
    }
    assert parse_stats("1 packet dropped by kernel") == {"dropped by kernel": 1}
    assert parse_stats("2 packets dropped by interface") == {"dropped by interface": 2}
    assert parse_stats("tcpdump: listening on lo, link-type EN10MB (Ethernet)") == {}


def test_start_errors_name_the_fix() -> None:
    # stderr of tcpdump 4.99 for each case, as captured on Debian.
    missing = start_error(
        "eth9", "udp", ["tcpdump: eth9: No such device exists", "(No such device exists)"]
    )
    assert str(missing) == "no such interface 'eth9' (see: sipwatch interfaces)"
    denied = start_error(
        "lo",
        "udp",
        [
            "tcpdump: lo: You don't have permission to perform this capture on that device",
            "(socket: Operation not permitted)",
        ],
    )
    assert "run as root" in str(denied)
    assert "setcap cap_net_raw,cap_net_admin=eip $(which tcpdump)" in str(denied)
    assert PERMISSION_HINT in str(denied)
    bad = start_error("lo", "udp or junk(", ["tcpdump: syntax error in filter expression"])
    assert (
        str(bad)
        == "capture filter rejected: syntax error in filter expression (filter: udp or junk()"
    )
    other = start_error("lo", "udp", [])
    assert "tcpdump could not capture on lo" in str(other)


def test_pcap_header_info_reads_link_type_and_snaplen() -> None:
    little = bytes.fromhex("d4c3b2a1020004000000000000000000") + (262144).to_bytes(4, "little")
    assert pcap_header_info(little + (1).to_bytes(4, "little")) == (1, 262144)
    big = bytes.fromhex("a1b2c3d4000200040000000000000000") + (65535).to_bytes(4, "big")
    # FCS bits in the top of the link-type field are not part of the type.
    assert pcap_header_info(big + (0x10000071).to_bytes(4, "big")) == (113, 65535)


def _frames(count: int, start: int = 1) -> list[Frame]:
    return [Frame(float(i), 1, b"x", i) for i in range(start, start + count)]


def test_frame_queue_drops_the_newest_when_full_and_counts_them() -> None:
    queue = FrameQueue(limit=5)
    queue.put(_frames(3))
    queue.put(_frames(4, start=4))  # only 2 fit
    assert queue.dropped == 2
    assert len(queue) == 5
    got = queue.get(0)
    assert [f.number for f in got] == [1, 2, 3, 4, 5]
    assert len(queue) == 0
    queue.put(_frames(1, start=9))
    assert [f.number for f in queue.get(0)] == [9]
    assert queue.dropped == 2


def test_frame_queue_get_waits_for_a_batch_from_another_thread() -> None:
    queue = FrameQueue()
    timer = threading.Timer(0.05, queue.put, args=(_frames(2),))
    timer.start()
    began = time.monotonic()
    got = queue.get(2.0)
    assert [f.number for f in got] == [1, 2]
    assert time.monotonic() - began < 1.0
    assert queue.get(0.05) == []


def test_status_line_has_every_figure() -> None:
    status = LiveStatus(
        source="lo",
        elapsed=3725.4,
        messages=1234,
        rate=411.6,
        calls=37,
        transfers_in_progress=2,
        findings=3,
        drops={"kernel": 0, "ours": 5},
    )
    assert status_line(status) == (
        "live lo 1:02:05 | 412 msg/s | 1234 messages | 37 calls | 2 transfers in progress | "
        "3 findings | drops: kernel 0, ours 5"
    )


def test_stream_status_writes_one_line_per_interval() -> None:
    out = io.StringIO()
    status = StreamStatus(out, every=0.05)
    snapshot = LiveStatus(source="lo", elapsed=1.0)
    status.update(snapshot)  # too early
    assert out.getvalue() == ""
    time.sleep(0.06)
    status.update(snapshot)
    status.update(snapshot)  # again too early
    assert out.getvalue().count("\n") == 1
    assert out.getvalue().startswith("sipwatch: live lo 0:00:01 |")


def test_interfaces_lists_any_and_loopback() -> None:
    rows = list_interfaces()
    names = [row.name for row in rows]
    assert names[0] == "any"
    assert "lo" in names
    lo = rows[names.index("lo")]
    assert lo.loopback
    assert interface_exists("lo")
    assert interface_exists("any")
    assert not interface_exists("nosuch0")
    out = io.StringIO()
    show_interfaces(rows, out, "jsonl")
    first = json.loads(out.getvalue().splitlines()[0])
    assert first == {
        "schema": 1,
        "type": "interface",
        "name": "any",
        "up": True,
        "state": "up",
        "loopback": False,
        "addresses": [],
    }


# -- the command, without traffic --------------------------------------------------------------


def sipwatch(
    *args: str, env: dict[str, str] | None = None, timeout: float = 30
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sipwatch", *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        env=env,
        timeout=timeout,
        check=False,
    )


def test_no_such_interface_is_one_line_and_exit_2() -> None:
    proc = sipwatch("live", "nosuch0", "--duration", "1")
    assert proc.returncode == 2
    assert proc.stdout == ""
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("sipwatch: error: no such interface 'nosuch0' (available: any, ")
    assert "Traceback" not in proc.stderr


def test_missing_tcpdump_names_the_debian_package(tmp_path: Path) -> None:
    # A PATH with python but without tcpdump.
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "python3").symlink_to(sys.executable)
    env = dict(os.environ, PATH=str(bin_dir))
    proc = sipwatch("live", "lo", "--duration", "1", env=env)
    assert proc.returncode == 2
    assert proc.stderr == "sipwatch: error: tcpdump not found: apt-get install tcpdump\n"


def test_no_interface_named_is_an_error() -> None:
    proc = sipwatch("live")
    assert proc.returncode == 2
    assert proc.stderr.strip() == (
        "sipwatch: error: name an interface to capture on (see: sipwatch interfaces)"
    )


def test_ring_size_without_ring_is_an_error(tmp_path: Path) -> None:
    proc = sipwatch("live", "lo", "--write", str(tmp_path / "x.pcap"), "--ring-size", "5")
    assert proc.returncode == 2
    assert (
        proc.stderr.strip() == "sipwatch: error: --ring-size needs --ring N (the number of files)"
    )


# -- real traffic in a private network namespace -----------------------------------------------


def _need_netns_tools() -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root: live capture in a private network namespace (unshare --net)")
    for tool, package in (
        ("sipp", "sip-tester"),
        ("tcpdump", "tcpdump"),
        ("unshare", "util-linux"),
    ):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} not installed (apt-get install {package})")
    probe = subprocess.run(["unshare", "--net", "true"], capture_output=True, check=False)
    if probe.returncode != 0:
        pytest.skip(f"cannot create a network namespace: {probe.stderr.decode().strip()}")


def run_in_netns(spec: dict[str, Any], timeout: float = 60) -> dict[str, Any]:
    """Run the driver below inside a new network namespace; return its report."""
    _need_netns_tools()
    proc = subprocess.run(
        [
            "unshare",
            "--net",
            sys.executable,
            "-m",
            "tests.test_live",
            "--netns-driver",
            json.dumps(spec),
        ],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=timeout,
        check=False,
    )
    assert proc.returncode == 0, f"driver failed: {proc.stderr}"
    report: dict[str, Any] = json.loads(proc.stdout)
    return report


def objects(report: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [
        json.loads(item["line"])
        for item in report["lines"]
        if json.loads(item["line"])["type"] == kind
    ]


def ladder(messages: list[dict[str, Any]]) -> list[tuple[str, str, str, int | None, int]]:
    """What must match between captures: direction, method, status and CSeq of each message.

    Retransmissions are left out: on a busy machine sipp may retransmit (Timer A, 500 ms)
    where the bundled recording did not, and that is not what these tests are about.
    """
    return [
        (m["src"], m["dst"], m["method"], m["status"], m["cseq"])
        for m in messages
        if not m["retransmission"]
    ]


def bundled_ladder(name: str) -> list[tuple[str, str, str, int | None, int]]:
    """The same scenario as recorded in the bundled capture, decoded by ``sipwatch pcap``."""
    return list(_bundled_ladder(name))


@functools.cache
def _bundled_ladder(name: str) -> tuple[tuple[str, str, str, int | None, int], ...]:
    proc = sipwatch("pcap", str(REPO / "captures" / f"{name}.pcap"), "--format", "jsonl")
    assert proc.returncode == 0, proc.stderr
    lines = [json.loads(line) for line in proc.stdout.splitlines()]
    return tuple(ladder([o for o in lines if o["type"] == "message"]))


def decode_file(path: str) -> list[dict[str, Any]]:
    proc = sipwatch("pcap", path, "--format", "jsonl")
    assert proc.returncode == 0, proc.stderr
    return [json.loads(line) for line in proc.stdout.splitlines()]


@pytest.mark.root
def test_tcpdump_start_errors_are_one_line() -> None:
    """What tcpdump says when it cannot start is mapped to one line: a down interface (lo in a
    fresh namespace), and a filter it rejects (compiled after the interface is open)."""
    _need_netns_tools()
    live = [sys.executable, "-m", "sipwatch", "live", "lo", "--duration", "3"]
    cases = [
        (live, "sipwatch: error: interface lo is down: lo: That device is not up\n"),
        (
            ["sh", "-c", 'ip link set lo up && exec "$@"', "sh", *live, "--filter", "udp or junk("],
            "sipwatch: error: capture filter rejected: syntax error in filter expression "
            "(filter: udp or junk()\n",
        ),
    ]
    for command, expected in cases:
        proc = subprocess.run(
            ["unshare", "--net", *command],
            capture_output=True,
            text=True,
            cwd=REPO,
            timeout=30,
            check=False,
        )
        assert proc.returncode == 2, proc.stderr
        assert proc.stdout == ""
        assert proc.stderr == expected


@pytest.mark.root
@pytest.mark.sipp
def test_live_transfer_and_420_as_they_happen(tmp_path: Path) -> None:
    pcap = tmp_path / "live.pcap"
    report = run_in_netns(
        {
            "args": ["--duration", "6", "--write", str(pcap)],
            "scenarios": ["transfer-succeeded", "bad-extension-uas"],
            "write": str(pcap),
        }
    )
    assert report["rc"] == 0, report["stderr"]
    assert report["scenario_rc"] == [0, 0]
    assert report["stderr"] == ""
    messages = objects(report, "message")
    expected = bundled_ladder("transfer-succeeded") + bundled_ladder("bad-extension-uas")
    assert ladder(messages) == expected
    assert [m["frame"] for m in messages] == sorted(m["frame"] for m in messages)
    findings = objects(report, "finding")
    transfer = [f for f in findings if f["kind"] == "transfer"]
    assert len(transfer) == 1
    assert transfer[0]["outcome"] == "succeeded"
    assert transfer[0]["accepted"] == 202
    assert [n["sipfrag_status"] for n in transfer[0]["notifies"]] == [100, 200]
    bad = [f for f in findings if f["kind"] == "bad-extension"]
    assert len(bad) == 1
    assert bad[0]["unsupported"] == ["foo"]
    assert bad[0]["retry"] == {"cseq": 2, "status": 200}
    # Each finding is printed while sipwatch still runs, not only at the end.
    printed = [item for item in report["lines"] if json.loads(item["line"])["type"] == "finding"]
    assert all(item["alive"] for item in printed)
    summary = objects(report, "summary")
    assert len(summary) == 1
    assert report["lines"][-1]["line"] == json.dumps(summary[0], separators=(",", ":"))
    assert summary[0]["messages"] == len(messages)
    assert len(messages) >= len(expected)
    assert summary[0]["transfers"] == {"succeeded": 1}
    assert summary[0]["drops"]["ours"] == 0
    assert summary[0]["drops"]["kernel"] == 0
    # The saved file decodes to the very same messages, frame numbers included.
    again = [o for o in decode_file(str(pcap)) if o["type"] == "message"]
    strip = ("ts", "frame", "src", "dst", "method", "status", "cseq", "call_id", "branch")
    assert [{k: m[k] for k in strip} for m in again] == [{k: m[k] for k in strip} for m in messages]


@pytest.mark.root
@pytest.mark.sipp
def test_live_icmp_port_unreachable_is_evidence_not_a_retransmission() -> None:
    """An OPTIONS to a port nothing listens on: the kernel answers ICMP port unreachable, which
    the default filter captures; the quoted copy is marked, and the finding says why."""
    options = (
        "OPTIONS sip:probe@127.0.0.1:5099 SIP/2.0\r\n"
        "Via: SIP/2.0/UDP 127.0.0.11:5070;branch=z9hG4bK-icmp-1\r\n"
        "Max-Forwards: 70\r\nFrom: <sip:alice@127.0.0.11>;tag=a1\r\n"
        "To: <sip:probe@127.0.0.1>\r\nCall-ID: icmp-live@127.0.0.11\r\n"
        "CSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
    )
    report = run_in_netns(
        {
            "args": ["--duration", "3"],
            "scenarios": [],
            "datagrams": [
                {"from": ["127.0.0.11", 5070], "to": ["127.0.0.1", 5099], "text": options}
            ],
        }
    )
    assert report["rc"] == 0, report["stderr"]
    messages = objects(report, "message")
    assert [(m["frame"], m["retransmission"], m["icmp"]) for m in messages] == [
        (1, False, None),
        (2, False, {"type": 3, "code": 3, "from": "127.0.0.1"}),
    ]
    icmp = [f for f in objects(report, "finding") if f["kind"] == "icmp-error"]
    assert len(icmp) == 1
    assert icmp[0]["frames"] == [1, 2]
    assert icmp[0]["meaning"] == "nothing listens on 127.0.0.1:5099"
    assert "ICMP port unreachable from 127.0.0.1, frame 2" in icmp[0]["text"]


@pytest.mark.root
@pytest.mark.sipp
def test_no_notify_timeout_fires_live(tmp_path: Path) -> None:
    """REFER accepted, then silence: the no-notify finding comes ~3 s later, while capturing."""
    report = run_in_netns(
        {
            "args": ["--duration", "7", "--notify-timeout", "3"],
            "scenarios": ["transfer-no-notify"],
            "alice_deadline": 5.0,
        }
    )
    assert report["rc"] == 0, report["stderr"]
    lines = [(item, json.loads(item["line"])) for item in report["lines"]]
    accepted = next(item for item, o in lines if o["type"] == "message" and o["status"] == 202)
    finding = next(
        (item, o) for item, o in lines if o["type"] == "finding" and o["kind"] == "transfer"
    )
    item, data = finding
    assert data["outcome"] == "no-notify"
    assert data["accepted"] == 202
    assert item["alive"], "the finding must arrive while sipwatch is still capturing"
    waited = item["t"] - accepted["t"]
    assert 2.5 <= waited <= 5.0, f"finding came {waited:.2f} s after the 202"
    assert item["t"] < report["t_exit"] - 1.0


@pytest.mark.root
@pytest.mark.sipp
def test_ctrl_c_stops_cleanly_with_a_complete_file(tmp_path: Path) -> None:
    pcap = tmp_path / "ctrl-c.pcap"
    report = run_in_netns(
        {
            "args": ["--write", str(pcap), "--status-every", "0.5"],
            "scenarios": ["transfer-succeeded"],
            "write": str(pcap),
            "sigint_after": 2.0,
        }
    )
    assert report["rc"] == 0, report["stderr"]
    assert report["t_exit"] - report["t_sigint"] < 3.0
    summary = objects(report, "summary")
    assert len(summary) == 1
    assert ladder(objects(report, "message")) == bundled_ladder("transfer-succeeded")
    assert summary[0]["messages"] == len(objects(report, "message"))
    assert set(summary[0]["drops"]) >= {"kernel", "ours"}
    # While running, the status went to stderr (not into the JSON lines), drops included once
    # tcpdump had answered a SIGUSR1 with its counters.
    status = [
        line for line in report["stderr"].splitlines() if line.startswith("sipwatch: live lo")
    ]
    assert status, report["stderr"]
    assert any("drops: kernel 0, ours 0" in line for line in status)
    assert "Traceback" not in report["stderr"]
    # The file is complete: tcpdump reads every record without complaint.
    read = subprocess.run(
        ["tcpdump", "-r", str(pcap), "-n"], capture_output=True, text=True, check=False
    )
    assert read.returncode == 0, read.stderr
    assert "truncated" not in read.stderr.lower()
    decoded = decode_file(str(pcap))
    assert next(o for o in decoded if o["type"] == "summary")["truncated"] is False
    assert ladder([o for o in decoded if o["type"] == "message"]) == ladder(
        objects(report, "message")
    )


@pytest.mark.root
@pytest.mark.sipp
def test_count_stops_after_n_messages(tmp_path: Path) -> None:
    """--count stops at the Nth message shown; --port narrows the capture filter too."""
    report = run_in_netns(
        {
            "args": ["--count", "4", "--port", "5060", "--duration", "20"],
            "scenarios": ["transfer-succeeded"],
        }
    )
    assert report["rc"] == 0, report["stderr"]
    messages = objects(report, "message")
    assert len(messages) == 4
    shown = ladder(messages)
    assert shown == bundled_ladder("transfer-succeeded")[: len(shown)]
    assert len(shown) >= 3
    summary = objects(report, "summary")
    assert len(summary) == 1
    assert summary[0]["shown"] == 4
    assert report["t_exit"] < 12, "sipwatch must stop at the 4th message, not at --duration"


def test_interfaces_command_lists_loopback() -> None:
    proc = sipwatch("interfaces", "--format", "jsonl")
    assert proc.returncode == 0, proc.stderr
    rows = [json.loads(line) for line in proc.stdout.splitlines()]
    assert rows[0]["name"] == "any"
    lo = next(row for row in rows if row["name"] == "lo")
    assert lo["loopback"] is True
    assert "127.0.0.1/8" in lo["addresses"]
    text = sipwatch("interfaces")
    assert text.returncode == 0
    assert text.stdout.splitlines()[0].split() == ["interface", "state", "addresses"]


# -- the driver, run inside the namespace ------------------------------------------------------


def _wait_listening(ip: str, timeout: float = 5.0) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        out = subprocess.run(["ss", "-lnu"], capture_output=True, text=True, check=False).stdout
        if f"{ip}:5060" in out:
            return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {ip}:5060")


def _play(name: str, work: Path, alice_deadline: float | None) -> int:
    """One bundled scenario: Bob (UAS) then Alice (UAC), as captures/record.py runs them."""
    common = ["-p", "5060", "-m", "1", "-nostdin", "-timeout", "30"]
    bob = subprocess.Popen(
        ["sipp", "-sf", str(SCENARIOS / f"{name}.bob.xml"), "-i", BOB, *common],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        cwd=work,
    )
    try:
        _wait_listening(BOB)
        alice = subprocess.Popen(
            [
                "sipp",
                "-sf",
                str(SCENARIOS / f"{name}.alice.xml"),
                "-i",
                ALICE,
                f"{BOB}:5060",
                *common,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            cwd=work,
        )
        try:
            rc = alice.wait(timeout=alice_deadline or 30)
        except subprocess.TimeoutExpired:
            alice.kill()
            alice.wait()
            rc = 0  # stopped on purpose (the scenario waits longer than the test)
        time.sleep(0.3)
        return rc
    finally:
        bob.terminate()
        bob.wait(5)


def _send_datagram(datagram: dict[str, Any]) -> None:
    """One UDP datagram from ``from`` to ``to`` (each ``[ip, port]``), then ``wait`` seconds."""
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(tuple(datagram["from"]))
        sock.sendto(datagram["text"].encode(), tuple(datagram["to"]))
    time.sleep(datagram.get("wait", 0.5))


def _driver(spec: dict[str, Any]) -> int:
    import tempfile

    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    scratch = tempfile.TemporaryDirectory()
    args = list(spec["args"])
    write = spec.get("write")
    if write is None:
        # The --write file appears once tcpdump has opened the interface: the one sure sign
        # that the capture runs, so the scenarios never start before it.
        write = str(Path(scratch.name) / "capture.pcap")
        args += ["--write", write]
    start = time.monotonic()
    proc = subprocess.Popen(
        [sys.executable, "-m", "sipwatch", "live", "lo", "--format", "jsonl", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=REPO,
    )
    lines: list[dict[str, Any]] = []

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(
                {
                    "t": time.monotonic() - start,
                    "alive": proc.poll() is None,
                    "line": line.rstrip("\n"),
                }
            )

    reader = threading.Thread(target=read)
    reader.start()
    end = time.monotonic() + 10
    while not Path(write).exists() and time.monotonic() < end and proc.poll() is None:
        time.sleep(0.05)
    time.sleep(0.2)
    rcs = []
    with tempfile.TemporaryDirectory() as work:
        for name in spec["scenarios"]:
            rcs.append(_play(name, Path(work), spec.get("alice_deadline")))
    for datagram in spec.get("datagrams", []):
        _send_datagram(datagram)
    t_sigint = None
    if spec.get("sigint_after") is not None:
        time.sleep(spec["sigint_after"])
        t_sigint = time.monotonic() - start
        proc.send_signal(signal.SIGINT)
    assert proc.stderr is not None
    stderr = proc.stderr.read()
    rc = proc.wait(timeout=30)
    t_exit = time.monotonic() - start
    reader.join()
    report = {
        "rc": rc,
        "lines": lines,
        "stderr": stderr,
        "scenario_rc": rcs,
        "t_exit": t_exit,
        "t_sigint": t_sigint,
    }
    print(json.dumps(report))
    scratch.cleanup()
    return 0


if __name__ == "__main__" and sys.argv[1:2] == ["--netns-driver"]:
    sys.exit(_driver(json.loads(sys.argv[2])))
