"""``sipwatch hep``: the HEP receiver on real loopback sockets, and the command end to end.

The receiver tests bind port 0 on 127.0.0.1 (no fixed port, so they run in parallel) and send
real datagrams and TCP streams to it. The command test runs ``sipwatch hep`` as a process in a
private network namespace, sends HEP to it, stops it with SIGINT (Ctrl-C) and reads what it
printed, and the ``--write`` file is read back by tshark and by ``sipwatch pcap``.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from sipwatch.capture.hep_listen import (
    HepReceiver,
    ListenAddress,
    parse_allow,
    parse_listen,
)
from sipwatch.capture.types import Frame
from sipwatch.capture.writer import CaptureWriter
from sipwatch.commands.pcap import run_pcap
from sipwatch.errors import LiveCaptureError
from sipwatch.pipeline import Pipeline, PipelineOptions
from sipwatch.records import MessageRecord
from tests.build_frames import sip_request
from tests.hep_packets import hep2, hep3

REPO = Path(__file__).resolve().parents[1]


def test_parse_listen() -> None:
    assert parse_listen("udp:0.0.0.0:9060") == ListenAddress("udp", "0.0.0.0", 9060)
    assert parse_listen("tcp:[::1]:9061") == ListenAddress("tcp", "::1", 9061)
    assert parse_listen("udp:9060") == ListenAddress("udp", "0.0.0.0", 9060)
    assert str(parse_listen("tcp:[::]:9")) == "tcp:[::]:9"
    for bad in ("9060", "sctp:1.2.3.4:9060", "udp:host.example:9060", "udp:1.2.3.4:99999"):
        with pytest.raises(LiveCaptureError, match="--listen"):
            parse_listen(bad)


def test_parse_allow() -> None:
    assert [str(n) for n in parse_allow([])] == ["127.0.0.0/8", "::1/128"]
    assert [str(n) for n in parse_allow(["10.0.0.0/8,192.0.2.7", "::/0"])] == [
        "10.0.0.0/8",
        "192.0.2.7/32",
        "::/0",
    ]
    with pytest.raises(LiveCaptureError, match="--allow 'nope'"):
        parse_allow(["nope"])


def _receive(receiver: HepReceiver, want: int, timeout: float = 5.0) -> list[Frame]:
    frames: list[Frame] = []
    deadline = time.monotonic() + timeout
    while len(frames) < want and time.monotonic() < deadline:
        frames += receiver.get(0.05)
    return frames


def _messages(frames: list[Frame]) -> list[MessageRecord]:
    pipeline = Pipeline(PipelineOptions(correlate=False))
    records = [r for frame in frames for r in pipeline.feed(frame)] + pipeline.finish()
    return [r for r in records if isinstance(r, MessageRecord)]


def _listen(**kwargs: object) -> HepReceiver:
    receiver = HepReceiver(
        [ListenAddress("udp", "127.0.0.1", 0), ListenAddress("tcp", "127.0.0.1", 0)],
        **kwargs,  # type: ignore[arg-type]
    )
    receiver.start()
    return receiver


def test_udp_and_tcp_packets_become_messages_with_agent_time_and_id() -> None:
    with _listen() as receiver:
        udp, tcp = (b.port for b in receiver.bound)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender:
            sender.sendto(
                hep3(sip_request("INVITE", call_id="u1"), capture_id=11), ("127.0.0.1", udp)
            )
            sender.sendto(hep2(sip_request("OPTIONS", call_id="u2")), ("127.0.0.1", udp))
        with socket.create_connection(("127.0.0.1", tcp)) as stream:
            both = hep3(sip_request("BYE", call_id="t1"), node=b"edge")
            both += hep3(sip_request("BYE", call_id="t2"))
            stream.sendall(both[:5])
            time.sleep(0.05)
            stream.sendall(both[5:])
        frames = _receive(receiver, 4)
        messages = _messages(frames)
    assert [m.msg.call_id for m in messages] == ["u1", "u2", "t1", "t2"]
    assert [m.agent for m in messages] == ["11", "7", "edge", "2001"]
    assert [m.frame for m in messages] == [1, 2, 3, 4]
    assert messages[0].ts == pytest.approx(1_700_000_000.25)
    assert messages[0].src == "10.0.0.1:5060"
    assert receiver.drops() == {"kernel": 0, "ours": 0}
    assert receiver.refusals() == {}
    assert receiver.buffers[str(ListenAddress("udp", "127.0.0.1", 0))] > 212992  # above default


def _assert_closed(stream: socket.socket) -> None:
    """The receiver closed the connection (a reset when our bytes were still unread)."""
    stream.settimeout(2)
    with contextlib.suppress(ConnectionResetError):
        assert stream.recv(10) == b""


def test_senders_outside_allow_are_refused() -> None:
    with _listen(allow=parse_allow(["192.0.2.0/24"])) as receiver:
        udp, tcp = (b.port for b in receiver.bound)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender:
            sender.sendto(hep3(sip_request()), ("127.0.0.1", udp))
        with socket.create_connection(("127.0.0.1", tcp)) as stream:
            stream.sendall(hep3(sip_request()))
            _assert_closed(stream)
        time.sleep(0.2)
        assert _receive(receiver, 1, timeout=0.3) == []
    assert receiver.refusals() == {"not-allowed": 2}


def test_auth_key_is_checked_when_given() -> None:
    with _listen(auth_key=b"s3cret") as receiver:
        udp = receiver.bound[0].port
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender:
            for packet in (
                hep3(sip_request(call_id="good"), auth_key=b"s3cret"),
                hep3(sip_request(call_id="wrong"), auth_key=b"guess"),
                hep3(sip_request(call_id="none")),
                hep2(sip_request(call_id="v2")),  # v2 cannot carry a key
            ):
                sender.sendto(packet, ("127.0.0.1", udp))
        frames = _receive(receiver, 1)
        time.sleep(0.2)
        frames += receiver.get(0)
    assert [m.msg.call_id for m in _messages(frames)] == ["good"]
    assert receiver.refusals() == {"auth-key": 3}


def test_a_tcp_stream_that_is_not_hep_is_closed_and_counted() -> None:
    with _listen() as receiver:
        tcp = receiver.bound[1].port
        with socket.create_connection(("127.0.0.1", tcp)) as stream:
            stream.sendall(sip_request())
            _assert_closed(stream)
    assert receiver.refusals() == {"tcp-not-hep": 1}


def test_a_port_in_use_is_a_one_line_error() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as taken:
        taken.bind(("127.0.0.1", 0))
        port = taken.getsockname()[1]
        receiver = HepReceiver([ListenAddress("udp", "127.0.0.1", port)])
        with pytest.raises(LiveCaptureError, match=f"cannot listen on udp:127.0.0.1:{port}"):
            receiver.start()


def _jsonl(path: Path) -> list[dict[str, object]]:
    out = io.StringIO()
    run_pcap([str(path)], PipelineOptions(), "jsonl", out)
    return [json.loads(line) for line in out.getvalue().splitlines()]


@pytest.mark.tshark
def test_write_file_is_a_pcap_tshark_and_sipwatch_read(tmp_path: Path) -> None:
    if shutil.which("tshark") is None:
        pytest.skip("tshark is not installed")
    target = tmp_path / "hep.pcap"
    packets = [hep3(sip_request(call_id=f"w{i}"), capture_id=i) for i in range(3)]
    with _listen(writer=CaptureWriter(target)) as receiver:
        udp = receiver.bound[0].port
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender:
            for packet in packets:
                sender.sendto(packet, ("127.0.0.1", udp))
        assert len(_receive(receiver, 3)) == 3
    fields = subprocess.run(
        ["tshark", "-r", str(target), "-T", "fields", "-e", "ip.src", "-e", "udp.dstport",
         "-e", "data.data"],
        capture_output=True, text=True, check=True,
    ).stdout.splitlines()  # fmt: skip
    assert [line.split("\t")[2] for line in fields] == [p.hex() for p in packets]
    assert {line.split("\t")[:2][1] for line in fields} == {str(udp)}
    records = _jsonl(target)
    assert [(r["call_id"], r["agent"]) for r in records if r["type"] == "message"] == [
        ("w0", "0"),
        ("w1", "1"),
        ("w2", "2"),
    ]


def _netns_available() -> bool:
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        return False
    probe = subprocess.run(["unshare", "--net", "true"], capture_output=True, check=False)
    return probe.returncode == 0


@pytest.mark.root
def test_hep_command_prints_messages_and_the_summary_on_ctrl_c(tmp_path: Path) -> None:
    if not _netns_available():
        pytest.skip("needs root and unshare --net (a private network namespace)")
    script = tmp_path / "run.py"
    script.write_text(
        f"""
import signal, socket, subprocess, sys, time
sys.path.insert(0, {str(REPO)!r})
from tests.build_frames import sip_request
from tests.hep_packets import hep3
subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
proc = subprocess.Popen(
    [{sys.executable!r}, "-m", "sipwatch", "hep", "--listen", "udp:127.0.0.1:9060",
     "--listen", "tcp:127.0.0.1:9060", "--allow", "127.0.0.1", "--no-color"],
    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
)
deadline = time.monotonic() + 20
while time.monotonic() < deadline:
    try:
        socket.create_connection(("127.0.0.1", 9060), timeout=0.2).close()
        break
    except OSError:
        time.sleep(0.1)
now = int(time.time())
sender = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
sender.sendto(hep3(sip_request("OPTIONS", call_id="cli-1"), ts=(now, 0), capture_id=42),
              ("127.0.0.1", 9060))
stranger = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
stranger.bind(("127.0.0.2", 0))
stranger.sendto(hep3(sip_request("OPTIONS", call_id="refused"), ts=(now, 0)), ("127.0.0.1", 9060))
time.sleep(1.0)
proc.send_signal(signal.SIGINT)
out, err = proc.communicate(timeout=20)
sys.stdout.write(out)
sys.stderr.write(err)
sys.exit(proc.returncode)
"""
    )
    env = {**os.environ, "COLUMNS": "120", "NO_COLOR": "1"}
    done = subprocess.run(
        ["unshare", "--net", sys.executable, str(script)],
        capture_output=True, text=True, timeout=60, cwd=REPO, env=env, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    message = [line for line in lines if "OPTIONS sip:bob@example.com" in line]
    assert len(message) == 1
    assert "10.0.0.1:5060 → 10.0.0.2:5060" in message[0]
    assert message[0].endswith("[agent 42]")
    assert "Summary of hep udp:127.0.0.1:9060,tcp:127.0.0.1:9060" in lines
    assert "skipped packets   hep-refused-not-allowed 1" in lines  # the stranger at 127.0.0.2
    assert "capture drops     kernel 0, ours 0" in lines
    assert "refused" not in done.stdout.replace("hep-refused-not-allowed", "")


def test_kernel_drops_are_read_from_so_rxq_ovfl() -> None:
    """A tiny receive buffer, 300 datagrams sent while nobody reads: the kernel drops most, and
    the count it reports (with the next datagram it queues) is what the summary shows."""
    receiver = HepReceiver([ListenAddress("udp", "127.0.0.1", 0)], rcvbuf=4096)
    receiver._open(receiver.listens[0])  # the socket alone: no reader thread
    sock, bound = receiver._sockets[0], receiver.bound[0]
    packet = hep3(sip_request(body_size=600))
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender:
            for _ in range(300):
                sender.sendto(packet, ("127.0.0.1", bound.port))
            frames: list[Frame] = []
            receiver._read_udp(sock, bound, frames)
            first = len(frames)
            sender.sendto(packet, ("127.0.0.1", bound.port))  # carries the drop count
            time.sleep(0.1)
            receiver._read_udp(sock, bound, frames)
    finally:
        receiver.close()
    assert 0 < first < 300
    assert len(frames) == first + 1
    assert receiver.drops() == {"kernel": 300 - first, "ours": 0}
