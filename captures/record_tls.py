#!/usr/bin/env python3
"""Record the bundled SIP-over-TLS capture and the key log that decrypts it.

    sudo python3 captures/record_tls.py       # writes captures/tls-call.pcap and tls-call.keys

Alice (127.0.0.11) calls Bob (127.0.0.13) twice over TLS, once with TLS 1.3 on port 5061 and
once with TLS 1.2 on port 5071 (not a SIP port, so decryption cannot lean on the port number):
OPTIONS/200, then INVITE/180/200, ACK, BYE/200. Both peers are Python's ``ssl`` module; Alice's
context writes the session keys (``SSLContext.keylog_filename``, the NSS key log format that
Wireshark reads), and Bob's certificate is a throwaway self-signed one made by ``openssl`` for
this run. Everything runs inside a private network namespace (``unshare --net``) while tcpdump
records ``lo``; ``python3 captures/make_golden.py`` then writes the golden file, decrypted with
the key log.
"""

from __future__ import annotations

import os
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ALICE, BOB = "127.0.0.11", "127.0.0.13"
NAME = "tls-call"


def _message(start: str, headers: list[str], call: str, cseq: str, body: str = "") -> bytes:
    lines = [
        start,
        *headers,
        f"Call-ID: {call}",
        f"CSeq: {cseq}",
        "Max-Forwards: 70",
    ]
    if body:
        lines.append("Content-Type: application/sdp")
    lines.append(f"Content-Length: {len(body.encode())}")
    return ("\r\n".join(lines) + "\r\n\r\n" + body).encode()


SDP = "v=0\r\no=- 1 1 IN IP4 127.0.0.11\r\ns=-\r\nc=IN IP4 127.0.0.11\r\nt=0 0\r\n"
SDP += "m=audio 40000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n"


def _request(method: str, port: int, cseq: int, branch: str, call: str, to_tag: str = "") -> bytes:
    to = f"<sip:bob@{BOB}:{port};transport=tls>" + (f";tag={to_tag}" if to_tag else "")
    return _message(
        f"{method} sip:bob@{BOB}:{port};transport=tls SIP/2.0",
        [
            f"Via: SIP/2.0/TLS {ALICE}:40{port % 100:03d};branch={branch}",
            f"From: <sip:alice@{ALICE}>;tag=alice{port}",
            f"To: {to}",
            f"Contact: <sip:alice@{ALICE}:40{port % 100:03d};transport=tls>",
        ],
        call,
        f"{cseq} {method}",
        SDP if method == "INVITE" else "",
    )


def _response(request: bytes, status: str, to_tag: str, port: int) -> bytes:
    head = request.split(b"\r\n\r\n", 1)[0].decode().split("\r\n")
    keep = [h for h in head[1:] if h.split(":", 1)[0] in ("Via", "From", "Call-ID", "CSeq")]
    to = next(h for h in head if h.startswith("To:"))
    if ";tag=" not in to and not status.startswith("100"):
        to += f";tag={to_tag}"
    call = next(h for h in keep if h.startswith("Call-ID:")).split(": ", 1)[1]
    cseq = next(h for h in keep if h.startswith("CSeq:")).split(": ", 1)[1]
    via_from = [h for h in keep if h.startswith(("Via", "From"))]
    contact = f"Contact: <sip:bob@{BOB}:{port};transport=tls>"
    return _message(f"SIP/2.0 {status}", [*via_from, to, contact], call, cseq)


def _read_message(conn: ssl.SSLSocket, buf: bytearray) -> bytes:
    """One SIP message from the TLS stream, framed by Content-Length (RFC 3261 §18.3)."""
    while True:
        end = buf.find(b"\r\n\r\n")
        if end >= 0:
            head = bytes(buf[:end]).decode()
            length = 0
            for line in head.split("\r\n"):
                if line.lower().startswith("content-length:"):
                    length = int(line.split(":", 1)[1])
            total = end + 4 + length
            if len(buf) >= total:
                message = bytes(buf[:total])
                del buf[:total]
                return message
        chunk = conn.recv(65536)
        if not chunk:
            raise ConnectionError("peer closed")
        buf += chunk


def _bob(server: socket.socket, context: ssl.SSLContext, port: int) -> None:
    raw, _ = server.accept()
    with context.wrap_socket(raw, server_side=True) as conn:
        buf = bytearray()
        tag = f"bob{port}"
        options = _read_message(conn, buf)
        conn.sendall(_response(options, "200 OK", tag, port))
        invite = _read_message(conn, buf)
        conn.sendall(_response(invite, "180 Ringing", tag, port))
        time.sleep(0.05)
        conn.sendall(_response(invite, "200 OK", tag, port))
        _read_message(conn, buf)  # ACK
        bye = _read_message(conn, buf)
        conn.sendall(_response(bye, "200 OK", tag, port))
        time.sleep(0.1)


def _call(port: int, version: ssl.TLSVersion, cert: Path, key: Path, keylog: Path) -> None:
    server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_context.load_cert_chain(cert, key)
    server_context.minimum_version = server_context.maximum_version = version
    server = socket.create_server((BOB, port))
    bob = threading.Thread(target=_bob, args=(server, server_context, port))
    bob.start()
    client_context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    client_context.load_verify_locations(cert)
    client_context.check_hostname = False
    client_context.minimum_version = client_context.maximum_version = version
    client_context.keylog_filename = str(keylog)
    call = f"tls-{port}@{ALICE}"
    raw = socket.create_connection((BOB, port), source_address=(ALICE, 40000 + port % 100))
    with client_context.wrap_socket(raw) as conn:
        buf = bytearray()
        conn.sendall(_request("OPTIONS", port, 1, f"z9hG4bK-opt-{port}", call + "-options"))
        _read_message(conn, buf)
        conn.sendall(_request("INVITE", port, 1, f"z9hG4bK-inv-{port}", call))
        _read_message(conn, buf)  # 180
        _read_message(conn, buf)  # 200
        tag = f"bob{port}"
        conn.sendall(_request("ACK", port, 1, f"z9hG4bK-ack-{port}", call, tag))
        time.sleep(0.1)
        conn.sendall(_request("BYE", port, 2, f"z9hG4bK-bye-{port}", call, tag))
        _read_message(conn, buf)
    bob.join()
    server.close()


def main() -> int:
    if os.environ.get("SIPWATCH_RECORD_NETNS") != "1":
        env = dict(os.environ, SIPWATCH_RECORD_NETNS="1")
        return subprocess.call(["unshare", "--net", sys.executable, __file__], env=env)
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    out, keylog = HERE / f"{NAME}.pcap", HERE / f"{NAME}.keys"
    keylog.unlink(missing_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        cert, key = Path(tmp) / "bob.crt", Path(tmp) / "bob.key"
        subprocess.run(
            ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
             "-nodes", "-keyout", str(key), "-out", str(cert), "-days", "1",
             "-subj", "/CN=bob.example.test"],
            check=True, capture_output=True,
        )  # fmt: skip
        dump = subprocess.Popen(
            ["tcpdump", "-i", "lo", "--immediate-mode", "-U", "-s", "0", "-w", str(out), "tcp"],
            stderr=subprocess.DEVNULL,
        )
        time.sleep(0.7)
        try:
            _call(5061, ssl.TLSVersion.TLSv1_3, cert, key, keylog)
            time.sleep(0.2)
            _call(5071, ssl.TLSVersion.TLSv1_2, cert, key, keylog)
            time.sleep(0.5)
        finally:
            dump.terminate()
            dump.wait()
    print(f"recorded {out.relative_to(HERE.parent)} and {keylog.relative_to(HERE.parent)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
