"""message/sipfrag status lines (RFC 3420), synthetic and from real NOTIFYs."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sipwatch.sip.message import SipMessage
from sipwatch.sip.parser import parse_message
from sipwatch.sip.sipfrag import parse_sipfrag, sipfrag_method
from tests.conftest import public_capture
from tests.helpers import udp_payloads


@pytest.mark.parametrize(
    ("body", "status"),
    [
        (b"SIP/2.0 200 OK\r\n", (200, "OK")),
        (b"SIP/2.0 100 Trying", (100, "Trying")),  # no CRLF at all
        (b"SIP/2.0 200 OK\r\n\x00", (200, "OK")),  # attended_transfer.pcap's trailing NUL
        (b"\r\n  SIP/2.0 180 Ringing\r\n", (180, "Ringing")),  # leading whitespace
        (b"sip/2.0 603 Declined\r\nContact: <sip:x>\r\n\r\n", (603, "Declined")),
        (b"SIP/2.0  486  Busy Here  \r\n", (486, "Busy Here")),
        (b"SIP/2.0 503\r\n", (503, "")),
        (b"SIP/2.0 202 Accept\nCSeq: 1 REFER\n", (202, "Accept")),
        (
            "SIP/2.0 480 Temporairement indisponible ☎\r\n".encode(),
            (480, "Temporairement indisponible ☎"),
        ),
    ],
)
def test_status_lines(body: bytes, status: tuple[int, str]) -> None:
    assert parse_sipfrag(body) == status
    assert sipfrag_method(body) is None


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"\r\n",
        b"SIP/2.0 99 Low\r\n",
        b"SIP/2.0 700 High",
        b"SIP/2.0 2OO OK",
        b"SIP/2.0",
        b"HTTP/1.1 200 OK",
        b"\xff\xfe",
    ],
)
def test_not_a_status(body: bytes) -> None:
    assert parse_sipfrag(body) is None


def test_request_line_fragment() -> None:
    """RFC 3420 §2: a fragment may start with a request line; it carries no status."""
    body = b"INVITE sip:bob@example.com SIP/2.0\r\nCall-ID: x\r\n"
    assert parse_sipfrag(body) is None
    assert sipfrag_method(body) == "INVITE"


@given(st.binary(max_size=200))
def test_never_raises(body: bytes) -> None:
    parse_sipfrag(body)
    sipfrag_method(body)


def sipfrag_notifies(name: str) -> list[SipMessage]:
    messages = [parse_message(p) for _, p in udp_payloads(public_capture(name))]
    return [
        m
        for m in messages
        if isinstance(m, SipMessage) and m.kind == "request" and m.content_type == "message/sipfrag"
    ]


@pytest.mark.shared
def test_voip_extension_notifies() -> None:
    """voip-extension.pcap: the transferee reports 100 then 180 (tshark: 2 sipfrag bodies)."""
    notifies = sipfrag_notifies("voip-extension.pcap")
    assert [parse_sipfrag(m.body) for m in notifies] == [(100, "Trying"), (180, "Ringing")]
    assert [m.body for m in notifies] == [b"SIP/2.0 100 Trying", b"SIP/2.0 180 Ringing"]
    assert all(m.warnings == [] for m in notifies)


@pytest.mark.shared
def test_attended_transfer_notifies() -> None:
    """attended_transfer.pcap: one NOTIFY seen twice through the proxy, sipfrag 200 OK."""
    notifies = sipfrag_notifies("attended_transfer.pcap")
    assert [parse_sipfrag(m.body) for m in notifies] == [(200, "OK"), (200, "OK")]
    # Content-Length 17 counts a NUL after the status line's CRLF.
    assert [m.body for m in notifies] == [b"SIP/2.0 200 OK\r\n\x00"] * 2
