"""TLS handshake failures seen without keys, from real peers: Python ``ssl`` clients and servers
failing in the ways a trunk does, recorded by tcpdump in a private network namespace.

* TLS 1.2, the client does not trust the server's CA: it sends the fatal alert unknown_ca (48);
* TLS 1.2, the server requires a client certificate the client does not have: the server's
  fatal alert (handshake_failure, 40, from OpenSSL);
* TLS 1.3, the versions do not overlap (client 1.3 only, server 1.2 only): protocol_version
  (70), sent before any ServerHello, so in clear even in TLS 1.3;
* a ClientHello to a TCP server that accepts and never answers: no ServerHello within 5 s.

The unit tests at the end feed records to the watcher directly.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from sipwatch.capture.tls_watch import TlsHandshakeWatch
from sipwatch.commands.pcap import run_pcap
from sipwatch.pipeline import PipelineOptions

REPO = Path(__file__).resolve().parents[1]

DRIVER = r"""
import socket, ssl, subprocess, sys, threading, time
from pathlib import Path
work = Path(sys.argv[1])
subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
for name in ("ca", "other"):
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
        "ec_paramgen_curve:P-256", "-nodes", "-keyout", str(work / f"{name}.key"), "-out",
        str(work / f"{name}.crt"), "-days", "1", "-subj", f"/CN={name}.example.test"],
        check=True, capture_output=True)
dump = subprocess.Popen(["tcpdump", "-i", "lo", "-U", "-s", "0", "-w", str(work / "f.pcap"),
    "tcp"], stderr=subprocess.DEVNULL)
time.sleep(0.7)

def serve(port, version, require_client=False):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(work / "ca.crt", work / "ca.key")
    ctx.minimum_version = ctx.maximum_version = version
    if require_client:
        ctx.verify_mode = ssl.CERT_REQUIRED
        ctx.load_verify_locations(work / "ca.crt")
    srv = socket.create_server(("127.0.0.13", port))
    def run():
        raw, _ = srv.accept()
        try:
            ctx.wrap_socket(raw, server_side=True).recv(10)
        except (ssl.SSLError, OSError):
            pass
        raw.close()
    thread = threading.Thread(target=run)
    thread.start()
    return thread

def connect(port, version, trust):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.load_verify_locations(work / trust)
    ctx.minimum_version = ctx.maximum_version = version
    raw = socket.create_connection(("127.0.0.13", port), source_address=("127.0.0.11", 0))
    try:
        ctx.wrap_socket(raw).sendall(b"OPTIONS sip:x SIP/2.0\r\n\r\n")
    except (ssl.SSLError, OSError):
        pass
    raw.close()

V12, V13 = ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3
t = serve(5061, V12); connect(5061, V12, "other.crt"); t.join()            # unknown_ca
time.sleep(0.2)
t = serve(5062, V12, True); connect(5062, V12, "ca.crt"); t.join()         # no client cert
time.sleep(0.2)
t = serve(5063, V12); connect(5063, V13, "ca.crt"); t.join()               # versions
time.sleep(0.2)
mute = socket.create_server(("127.0.0.13", 5064))
def hello():
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    raw = socket.create_connection(("127.0.0.13", 5064), source_address=("127.0.0.11", 0))
    raw.settimeout(6.5)
    try:
        ctx.wrap_socket(raw)
    except (ssl.SSLError, OSError):
        pass
    raw.close()
client = threading.Thread(target=hello); client.start()
conn, _ = mute.accept(); client.join(); conn.close()
time.sleep(0.5)
dump.terminate(); dump.wait()
"""


def _need() -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root: a private network namespace (unshare --net)")
    for tool, package in (
        ("tcpdump", "tcpdump"),
        ("openssl", "openssl"),
        ("unshare", "util-linux"),
    ):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} not installed (apt-get install {package})")


@pytest.mark.root
def test_tls_failures_of_real_peers_are_findings(tmp_path: Path) -> None:
    _need()
    script = tmp_path / "driver.py"
    script.write_text(DRIVER)
    done = subprocess.run(
        ["unshare", "--net", sys.executable, str(script), str(tmp_path)],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    out = io.StringIO()
    run_pcap([str(tmp_path / "f.pcap")], PipelineOptions(), "jsonl", out)
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    found: list[dict[str, Any]] = [x for x in lines if x["type"] == "finding"]
    got = [(f["outcome"], f["server"].rsplit(":", 1)[1], f["sent_by"], f["alert"]) for f in found]
    assert got == [
        ("alert", "5061", "client", "unknown_ca"),
        ("alert", "5062", "server", "handshake_failure"),
        ("alert", "5063", "server", "protocol_version"),
        ("no-server-hello", "5064", None, None),
    ]
    assert all(f["kind"] == "tls-failure" and f["severity"] == "error" for f in found)
    assert all(f["client"].startswith("127.0.0.11:") for f in found)
    assert "does not trust" in found[0]["text"]
    assert "got no ServerHello within 5 s" in found[3]["text"]
    assert lines[-1]["findings"] == {"tls-failure": 4}


def _record(kind: int, body: bytes) -> bytes:
    return bytes([kind, 3, 3]) + len(body).to_bytes(2, "big") + body


A, B = ("10.0.0.1", 40000), ("10.0.0.2", 5061)


def test_watch_pairs_hellos_and_reads_plaintext_alerts_only() -> None:
    watch = TlsHandshakeWatch()
    watch.segment(A, B, 1.0, 1, _record(22, b"\x01\x00\x00\x00"))  # ClientHello
    watch.segment(B, A, 1.1, 2, _record(22, b"\x02\x00\x00\x00") + _record(21, b"\x02\x2a"))
    watch.segment(B, A, 1.2, 3, _record(21, b"\x01\x00"))  # a warning: close_notify
    watch.segment(B, A, 1.3, 4, _record(21, b"\x02" * 19))  # encrypted: not read
    failures = watch.take()
    assert [(f.kind, f.sent_by, f.alert, f.frames) for f in failures] == [
        ("alert", "server", 42, (2,))
    ]
    watch.expire(100.0, final=True)
    assert watch.take() == []  # the ServerHello answered the ClientHello


def test_watch_reports_an_unanswered_hello_only_after_the_timeout() -> None:
    watch = TlsHandshakeWatch()
    watch.segment(A, B, 10.0, 7, _record(22, b"\x01\x00\x00\x00"))
    watch.expire(14.0)
    assert watch.take() == []
    watch.expire(15.5)
    (failure,) = watch.take()
    assert (failure.kind, failure.client, failure.server, failure.frames) == (
        "no-server-hello",
        A,
        B,
        (7,),
    )
    other = TlsHandshakeWatch()
    other.segment(A, B, 10.0, 7, _record(22, b"\x01\x00\x00\x00"))
    other.expire(11.0, final=True)  # the capture ended 1 s after it: nothing can be said
    assert other.take() == []
