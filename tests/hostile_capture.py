"""A small capture whose every wire field is hostile: markup, ``</svg>``, quotes, escapes.

Shared by the tests of the call list, the ladder, ``pcap --frame`` and the HTML report: each
view must show these bytes as text, never obey them.
"""

from __future__ import annotations

from pathlib import Path

from tests.build_frames import ether, pcap_bytes, udp4

#: Each payload, if a view ever let it run in a browser, marks the page ``data-pwned``.
PWN = "<script>document.documentElement.setAttribute('data-pwned','{}')</script>"
EVIL_DISPLAY = '"' + PWN.format(1) + ' \\"q\\"" '
EVIL_USER = "e\x1b[31mvil</svg>"
EVIL_AGENT = "X</svg>" + PWN.format(2) + "\x07"
BODY = "v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=" + PWN.format(3) + "\r\n"


def _invite() -> bytes:
    body = BODY.encode()
    head = (
        f"INVITE sip:bob@example.com SIP/2.0\r\n"
        "Via: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKevil1\r\n"
        "Max-Forwards: 70\r\n"
        f"From: {EVIL_DISPLAY}<sip:{EVIL_USER}@example.com>;tag=a1\r\n"
        "To: <sip:bob@example.com>\r\n"
        "Call-ID: evil-1@10.0.0.1\r\n"
        "CSeq: 1 INVITE\r\n"
        f"User-Agent: {EVIL_AGENT}\r\n"
        "Content-Type: application/sdp\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


def _response(status: int, reason: str) -> bytes:
    head = (
        f"SIP/2.0 {status} {reason}\r\n"
        "Via: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKevil1\r\n"
        f"From: {EVIL_DISPLAY}<sip:{EVIL_USER}@example.com>;tag=a1\r\n"
        "To: <sip:bob@example.com>;tag=b1\r\n"
        "Call-ID: evil-1@10.0.0.1\r\n"
        "CSeq: 1 INVITE\r\n"
        "Server: <b>bold</b>\r\n"
        "Content-Length: 0\r\n\r\n"
    )
    return head.encode()


def write_hostile_capture(directory: Path) -> Path:
    """Write ``hostile.pcap`` (INVITE, 180, 486) into ``directory`` and return its path."""
    frames = [
        (1700000000.0, bytes(ether(udp4(_invite())))),
        (
            1700000000.25,
            bytes(ether(udp4(_response(180, "<i>Ringing</i>"), src="10.0.0.2", dst="10.0.0.1"))),
        ),
        (
            1700000001.0,
            bytes(ether(udp4(_response(486, "Busy</svg>"), src="10.0.0.2", dst="10.0.0.1"))),
        ),
    ]
    path = directory / "hostile.pcap"
    path.write_bytes(pcap_bytes(frames, 1))
    return path
