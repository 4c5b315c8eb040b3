"""WebSocketDeframer: RFC 6455 frames to SIP messages (RFC 7118)."""

from __future__ import annotations

import os
import struct
import zlib

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sipwatch.capture.websocket import (
    WebSocketDeframer,
    frame_carries_sip,
    is_upgrade_request,
    unmask,
    upgrade_response,
)
from sipwatch.sip.framing import Framed, FramingError

REGISTER = (
    b"REGISTER sip:example.com SIP/2.0\r\n"
    b"Via: SIP/2.0/WSS df7jal23ls0d.invalid;branch=z9hG4bKasudf\r\n"
    b"Call-ID: 1@ws\r\nCSeq: 1 REGISTER\r\nContent-Length: 0\r\n\r\n"
)
OK = b"SIP/2.0 200 OK\r\nCall-ID: 1@ws\r\nCSeq: 1 REGISTER\r\nContent-Length: 0\r\n\r\n"


def frame(
    payload: bytes,
    opcode: int = 1,
    fin: bool = True,
    mask: bytes | None = None,
    rsv1: bool = False,
    force_len: int | None = None,
) -> bytes:
    """Encode one RFC 6455 §5.2 frame (client frames pass a 4-byte ``mask``)."""
    b0 = (0x80 if fin else 0) | (0x40 if rsv1 else 0) | opcode
    n = len(payload)
    width = force_len if force_len is not None else (7 if n < 126 else 16 if n < 65536 else 64)
    mask_bit = 0x80 if mask else 0
    if width == 7:
        head = bytes([b0, mask_bit | n])
    elif width == 16:
        head = bytes([b0, mask_bit | 126]) + struct.pack("!H", n)
    else:
        head = bytes([b0, mask_bit | 127]) + struct.pack("!Q", n)
    if mask:
        return head + mask + unmask(payload, mask)
    return head + payload


def deframe(data: bytes, chunk: int = 0) -> list[Framed]:
    ws = WebSocketDeframer()
    if chunk <= 0:
        return ws.feed(data) + ws.close()
    out: list[Framed] = []
    for i in range(0, len(data), chunk):
        out += ws.feed(data[i : i + chunk])
    return out + ws.close()


def reasons(items: list[Framed]) -> list[str]:
    return [i.reason for i in items if isinstance(i, FramingError)]


# -- frames -----------------------------------------------------------------------------------


@pytest.mark.parametrize("chunk", [0, 1, 7])
def test_unmasked_server_frames(chunk: int) -> None:
    data = frame(REGISTER) + frame(OK, opcode=2)
    assert deframe(data, chunk) == [REGISTER, OK]


@pytest.mark.parametrize("chunk", [0, 1, 5])
def test_masked_client_frames(chunk: int) -> None:
    data = frame(REGISTER, mask=b"\x37\xfa\x21\x3d") + frame(OK, mask=b"\x00\x01\x02\x03")
    assert deframe(data, chunk) == [REGISTER, OK]


def test_unmask_matches_bytewise_xor() -> None:
    payload = os.urandom(1001)
    key = b"\x12\x34\x56\x78"
    expected = bytes(b ^ key[i % 4] for i, b in enumerate(payload))
    assert unmask(payload, key) == expected
    assert unmask(b"", key) == b""


@pytest.mark.parametrize("width", [7, 16, 64])
def test_every_length_encoding(width: int) -> None:
    # RFC 6455 §5.2: "the minimal number of bytes MUST be used", but a lenient reader
    # accepts the longer encodings too.
    payload = REGISTER if width != 7 else REGISTER[:100]
    data = frame(payload, force_len=width, mask=b"abcd")
    assert deframe(data) == [payload]


def test_large_message_with_16_and_64_bit_lengths() -> None:
    body = b"x" * 70000
    big = b"MESSAGE sip:a@b SIP/2.0\r\nContent-Length: 70000\r\n\r\n" + body
    medium = big[:40000]
    assert deframe(frame(medium) + frame(big, mask=b"kkkk"), 4096) == [medium, big]


@pytest.mark.parametrize("chunk", [0, 1, 3])
def test_fragmented_message_with_interleaved_control_frames(chunk: int) -> None:
    # RFC 6455 §5.4: control frames may be injected between fragments.
    data = (
        frame(REGISTER[:10], opcode=1, fin=False, mask=b"1234")
        + frame(b"ping", opcode=9, mask=b"5678")
        + frame(REGISTER[10:50], opcode=0, fin=False, mask=b"9abc")
        + frame(b"", opcode=10)
        + frame(REGISTER[50:], opcode=0, fin=True, mask=b"defg")
        + frame(OK)
    )
    assert deframe(data, chunk) == [REGISTER, OK]


def test_close_frame_is_not_a_message() -> None:
    ws = WebSocketDeframer()
    out = ws.feed(frame(REGISTER) + frame(struct.pack("!H", 1000), opcode=8))
    assert out == [REGISTER]
    assert ws.closed


def test_orphan_continuation_and_reserved_opcode_reported() -> None:
    data = frame(b"stray", opcode=0) + frame(b"x", opcode=3) + frame(REGISTER)
    out = deframe(data)
    assert reasons(out) == ["ws-bad-frame", "ws-bad-frame"]
    assert out[-1] == REGISTER


def test_new_message_before_final_fragment_reported() -> None:
    data = frame(b"abc", fin=False) + frame(REGISTER)
    out = deframe(data)
    assert reasons(out) == ["ws-bad-frame"]
    assert out[-1] == REGISTER


def test_top_bit_of_64_bit_length_is_invalid() -> None:
    bad = bytes([0x81, 127]) + struct.pack("!Q", 1 << 63) + b"rest"
    out = deframe(bad)
    assert reasons(out)[0] == "ws-bad-frame"


def test_incomplete_message_at_close_is_truncated() -> None:
    ws = WebSocketDeframer()
    assert ws.feed(frame(REGISTER)[:-5]) == []
    assert reasons(ws.close()) == ["ws-truncated"]


# -- permessage-deflate -----------------------------------------------------------------------


def _deflate(compressor: zlib._Compress, payload: bytes) -> bytes:
    data = compressor.compress(payload) + compressor.flush(zlib.Z_SYNC_FLUSH)
    assert data.endswith(b"\x00\x00\xff\xff")
    return data[:-4]  # RFC 7692 §7.2.1: the tail is removed


def test_permessage_deflate_with_context_takeover() -> None:
    compressor = zlib.compressobj(wbits=-zlib.MAX_WBITS)
    data = frame(_deflate(compressor, REGISTER), rsv1=True, mask=b"mask") + frame(
        _deflate(compressor, REGISTER), rsv1=True, mask=b"ksam"
    )
    assert deframe(data) == [REGISTER, REGISTER]
    assert deframe(data, 3) == [REGISTER, REGISTER]


def test_broken_deflate_data_reported() -> None:
    out = deframe(frame(b"\xff\xff\xff\xff\xff", rsv1=True) + frame(OK))
    assert reasons(out) == ["ws-bad-deflate"]
    assert out[-1] == OK


def test_deflate_bomb_is_bounded() -> None:
    compressor = zlib.compressobj(wbits=-zlib.MAX_WBITS)
    bomb = _deflate(compressor, b"\x00" * 5_000_000)
    ws = WebSocketDeframer(max_message=100_000)
    out = ws.feed(frame(bomb, rsv1=True))
    assert reasons(out) == ["ws-oversize"]


# -- bounds and gaps --------------------------------------------------------------------------


def test_oversize_message_skipped_without_buffering() -> None:
    ws = WebSocketDeframer(max_message=1000)
    big = frame(b"A" * 50000, mask=b"abcd")
    out: list[Framed] = []
    for i in range(0, len(big), 1000):
        out += ws.feed(big[i : i + 1000])
        assert ws.buffered < 1100
    out += ws.feed(frame(REGISTER))
    assert reasons(out) == ["ws-oversize"]
    assert out[-1] == REGISTER


def test_oversize_fragmented_message_drops_all_its_fragments() -> None:
    ws = WebSocketDeframer(max_message=1000)
    data = (
        frame(b"A" * 600, fin=False)
        + frame(b"B" * 600, opcode=0, fin=False)
        + frame(b"C" * 600, opcode=0, fin=True)
        + frame(OK)
    )
    out = ws.feed(data)
    assert reasons(out) == ["ws-oversize"]
    assert out[-1] == OK


def test_gap_inside_payload_keeps_alignment() -> None:
    ws = WebSocketDeframer()
    first = frame(REGISTER, mask=b"abcd")
    assert ws.feed(first[:30]) == []
    out = ws.gap(20)
    assert reasons(out) == ["ws-lost-in-gap"]
    assert ws.feed(first[50:] + frame(OK, mask=b"efgh")) == [OK]


def test_gap_between_frames_resyncs_on_next_sip_frame() -> None:
    ws = WebSocketDeframer()
    assert ws.feed(frame(REGISTER)) == [REGISTER]
    assert ws.gap(100) == []
    # Bytes after the hole start mid-frame: skipped until a frame that carries SIP.
    tail = frame(b"y" * 300)[150:]
    assert ws.feed(tail + frame(OK, mask=b"abcd")) == [OK]


# -- helpers ----------------------------------------------------------------------------------


def test_frame_carries_sip() -> None:
    assert frame_carries_sip(frame(REGISTER, mask=b"abcd"))
    assert frame_carries_sip(frame(OK))
    assert not frame_carries_sip(frame(b"hello world, not sip at all"))
    assert not frame_carries_sip(frame(b"ping", opcode=9))
    assert not frame_carries_sip(frame(REGISTER)[:10])


def test_handshake_helpers() -> None:
    request = (
        b"GET / HTTP/1.1\r\nHost: example.com\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Protocol: sip\r\n\r\n"
    )
    assert is_upgrade_request(request)
    assert not is_upgrade_request(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    response = (
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits=15\r\n\r\n"
    )
    assert upgrade_response(response) == (True, True)
    assert upgrade_response(b"HTTP/1.1 101 Switching\r\n\r\n") == (True, False)
    assert upgrade_response(b"HTTP/1.1 403 Forbidden\r\n\r\n") == (False, False)


# -- properties -------------------------------------------------------------------------------

_FRAMES = st.lists(
    st.sampled_from(
        [
            frame(REGISTER),
            frame(OK, mask=b"abcd"),
            frame(REGISTER[:20], fin=False),
            frame(REGISTER[20:], opcode=0),
            frame(b"ping", opcode=9),
            frame(b"x" * 300, opcode=2, mask=b"zzzz"),
            b"\x81",
            b"\x00\x00",
        ]
    ),
    max_size=15,
).map(b"".join)
_PROPERTY = settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))


@_PROPERTY
@given(_FRAMES, st.integers(min_value=1, max_value=400))
def test_random_splits_give_identical_output(data: bytes, chunk: int) -> None:
    assert deframe(data, chunk) == deframe(data)


@_PROPERTY
@given(st.binary(max_size=2000), st.integers(min_value=0, max_value=300))
def test_random_bytes_never_raise(data: bytes, chunk: int) -> None:
    ws = WebSocketDeframer(max_message=500)
    out = deframe(data, chunk)
    out += ws.feed(data)
    out += ws.gap(7)
    out += ws.feed(data[::-1])
    out += ws.close()
    assert all(isinstance(item, bytes | FramingError) for item in out)


def test_oversize_control_frame_is_skipped_without_buffering() -> None:
    ws = WebSocketDeframer()
    bogus = bytes([0x89, 127]) + struct.pack("!Q", 10_000_000)
    out = ws.feed(bogus)
    for _ in range(100):
        out += ws.feed(b"\x00" * 100_000)
        assert ws.buffered == 0
    out += ws.feed(frame(OK))
    assert reasons(out) == ["ws-bad-frame"]
    assert out[-1] == OK
