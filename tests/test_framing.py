"""StreamFramer: SIP message boundaries on a byte stream (RFC 3261 §18.3).

Every framing case is checked fed whole, one byte at a time, and with trailing bytes (the h11
``tests/test_io.py`` idea), and hypothesis checks that any split gives the same output and that
random bytes never raise.
"""

from __future__ import annotations

import itertools

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sipwatch.sip.framing import (
    MAX_START_LINE,
    Framed,
    FramingError,
    StreamFramer,
    find_start_line,
)

INVITE = (
    b"INVITE sip:bob@example.com SIP/2.0\r\n"
    b"Via: SIP/2.0/TCP pc33.example.com;branch=z9hG4bK776asdhds\r\n"
    b"To: Bob <sip:bob@example.com>\r\n"
    b"From: Alice <sip:alice@example.com>;tag=1928301774\r\n"
    b"Call-ID: a84b4c76e66710@pc33.example.com\r\n"
    b"CSeq: 314159 INVITE\r\n"
    b"Content-Type: application/sdp\r\n"
    b"Content-Length: 14\r\n"
    b"\r\n"
    b"v=0\r\no=- 1 1\r\n"
)
TRYING = (
    b"SIP/2.0 100 Trying\r\n"
    b"Via: SIP/2.0/TCP pc33.example.com;branch=z9hG4bK776asdhds\r\n"
    b"CSeq: 314159 INVITE\r\n"
    b"Content-Length: 0\r\n"
    b"\r\n"
)
#: Compact form ``l`` (RFC 3261 §7.3.3), odd case and whitespace before the colon (§7.3.1).
COMPACT = b"MESSAGE sip:x@y SIP/2.0\r\ni: 1@h\r\nL : 5\r\n\r\nhello"
#: Bare LF line ends (accepted, §7.5 robustness).
BARE_LF = b"OPTIONS sip:x@y SIP/2.0\nCall-ID: 2@h\ncontent-length: 2\n\nok"
#: A body that itself contains a SIP status line (message/sipfrag, RFC 3420).
NOTIFY = (
    b"NOTIFY sip:a@b SIP/2.0\r\n"
    b"Event: refer\r\n"
    b"Content-Type: message/sipfrag\r\n"
    b"Content-Length: 18\r\n"
    b"\r\n"
    b"SIP/2.0 200 OK\r\n\r\n"
)

MESSAGE_SETS = {
    "one": [INVITE],
    "three": [INVITE, TRYING, COMPACT],
    "bare-lf": [BARE_LF, TRYING],
    "sipfrag-body": [NOTIFY, TRYING],
    "all": [INVITE, TRYING, COMPACT, BARE_LF, NOTIFY],
}


def feed_all(framer: StreamFramer, chunks: list[bytes]) -> list[Framed]:
    out: list[Framed] = []
    for chunk in chunks:
        out.extend(framer.feed(chunk))
    return out


def whole(data: bytes, **kwargs: int) -> list[Framed]:
    framer = StreamFramer(**kwargs)
    return framer.feed(data) + framer.close()


def bytewise(data: bytes, **kwargs: int) -> list[Framed]:
    framer = StreamFramer(**kwargs)
    out = feed_all(framer, [data[i : i + 1] for i in range(len(data))])
    return out + framer.close()


def split_at(data: bytes, cuts: list[int], **kwargs: int) -> list[Framed]:
    framer = StreamFramer(**kwargs)
    points = [0, *sorted({c for c in cuts if 0 < c < len(data)}), len(data)]
    out = feed_all(framer, [data[a:b] for a, b in itertools.pairwise(points)])
    return out + framer.close()


def reasons(items: list[Framed]) -> list[str]:
    return [i.reason for i in items if isinstance(i, FramingError)]


def messages(items: list[Framed]) -> list[bytes]:
    return [i for i in items if isinstance(i, bytes)]


# -- whole / byte by byte / trailing bytes ---------------------------------------------------


@pytest.mark.parametrize("name", sorted(MESSAGE_SETS))
def test_whole(name: str) -> None:
    msgs = MESSAGE_SETS[name]
    assert whole(b"".join(msgs)) == msgs


@pytest.mark.parametrize("name", sorted(MESSAGE_SETS))
def test_one_byte_at_a_time(name: str) -> None:
    msgs = MESSAGE_SETS[name]
    assert bytewise(b"".join(msgs)) == msgs


@pytest.mark.parametrize("name", sorted(MESSAGE_SETS))
def test_trailing_bytes_wait_then_complete(name: str) -> None:
    msgs = MESSAGE_SETS[name]
    framer = StreamFramer()
    trailing = INVITE[:50]
    assert framer.feed(b"".join(msgs) + trailing) == msgs
    assert framer.buffered == len(trailing)
    # The rest of the trailing message completes it.
    assert framer.feed(INVITE[50:]) == [INVITE]
    assert framer.buffered == 0
    assert framer.close() == []


@pytest.mark.parametrize("cut", range(1, len(INVITE)))
def test_every_two_way_split(cut: int) -> None:
    framer = StreamFramer()
    assert framer.feed(INVITE[:cut]) == []
    assert framer.feed(INVITE[cut:] + TRYING) == [INVITE, TRYING]


def test_trailing_bytes_at_close_are_reported_truncated() -> None:
    framer = StreamFramer()
    assert framer.feed(TRYING + INVITE[:-3]) == [TRYING]
    out = framer.close()
    assert reasons(out) == ["truncated"]
    assert isinstance(out[0], FramingError)
    assert out[0].skipped == len(INVITE) - 3
    assert out[0].excerpt.startswith(b"INVITE sip:bob")


# -- keep-alives ------------------------------------------------------------------------------


def test_crlf_keepalives_between_messages_are_silent() -> None:
    # RFC 5626 §4.4.1: CRLFCRLF ping, CRLF pong.
    data = b"\r\n\r\n" + INVITE + b"\r\n" + b"\r\n\r\n" + TRYING + b"\r\n\r\n"
    assert whole(data) == [INVITE, TRYING]
    assert bytewise(data) == [INVITE, TRYING]


def test_keepalive_only_stream_yields_nothing() -> None:
    framer = StreamFramer()
    assert framer.feed(b"\r\n\r\n" * 100) == []
    assert framer.buffered == 0
    assert framer.close() == []


# -- Content-Length problems ------------------------------------------------------------------


def test_missing_content_length_reported_and_body_taken_as_empty() -> None:
    no_length = b"OPTIONS sip:x@y SIP/2.0\r\nCall-ID: 3@h\r\n\r\n"
    out = whole(no_length + TRYING)
    assert reasons(out) == ["missing-content-length"]
    assert messages(out) == [no_length, TRYING]
    # The problem comes right before the message it concerns.
    assert isinstance(out[0], FramingError) and out[1] == no_length


@pytest.mark.parametrize("value", [b"-5", b"abc", b"5x", b"", b"1e3"])
def test_garbage_content_length_reported(value: bytes) -> None:
    bad = b"OPTIONS sip:x@y SIP/2.0\r\nContent-Length: " + value + b"\r\n\r\n"
    out = whole(bad + TRYING)
    assert reasons(out)[0] == "bad-content-length"
    assert messages(out)[0] == bad
    assert messages(out)[-1] == TRYING


def test_conflicting_content_lengths_first_wins() -> None:
    msg = b"MESSAGE sip:x@y SIP/2.0\r\nContent-Length: 2\r\nl: 4\r\n\r\nhi"
    out = whole(msg + TRYING)
    assert reasons(out) == ["conflicting-content-length"]
    assert messages(out) == [msg, TRYING]


def test_identical_repeated_content_length_is_fine() -> None:
    msg = b"MESSAGE sip:x@y SIP/2.0\r\nContent-Length: 2\r\nContent-Length:  2\r\n\r\nhi"
    assert whole(msg) == [msg]


def test_folded_content_length_value() -> None:
    msg = b"MESSAGE sip:x@y SIP/2.0\r\nContent-Length:\r\n  2\r\n\r\nhi"
    assert whole(msg) == [msg]


def test_header_named_like_l_prefix_is_not_content_length() -> None:
    msg = b"SIP/2.0 302 Moved\r\nLocation: x\r\nl: 0\r\n\r\n"
    assert whole(msg + TRYING) == [msg, TRYING]


# -- bounds and resynchronisation -------------------------------------------------------------


def test_oversize_header_block_reported_and_resynced() -> None:
    big = b"INVITE sip:x@y SIP/2.0\r\n" + b"X-Pad: " + b"a" * 400 + b"\r\n" + b"l: 0\r\n\r\n"
    for out in (whole(big + TRYING, max_header=200), bytewise(big + TRYING, max_header=200)):
        assert reasons(out) == ["oversize-headers"]
        assert messages(out) == [TRYING]


def test_oversize_header_never_buffers_without_limit() -> None:
    framer = StreamFramer(max_header=1000)
    framer.feed(b"INVITE sip:x@y SIP/2.0\r\n")
    out: list[Framed] = []
    for _ in range(1000):
        out += framer.feed(b"X-Pad: aaaaaaaaaaaaaaaaaaaaaaaa\r\n")
        assert framer.buffered <= 1000 + MAX_START_LINE
    assert reasons(out) == ["oversize-headers"]


def test_oversize_body_reported_and_resynced() -> None:
    # The framer resynchronises on line starts, so the next message is found after a body that
    # ends with a line end (as SDP and text bodies do).
    big = b"MESSAGE sip:x@y SIP/2.0\r\nContent-Length: 5000\r\n\r\n" + b"zz" + b"z\r\n" * 1666
    for out in (whole(big + TRYING, max_body=1000), bytewise(big + TRYING, max_body=1000)):
        assert reasons(out) == ["oversize-body"]
        assert messages(out) == [TRYING]


def test_junk_before_message_is_skipped_and_reported_once() -> None:
    junk = b"\x16\x03\x01 hello\r\nmore junk\r\nGET / HTTP/1.1\r\n"
    for out in (whole(junk + INVITE), bytewise(junk + INVITE)):
        assert messages(out) == [INVITE]
        errors = [i for i in out if isinstance(i, FramingError)]
        assert [e.reason for e in errors] == ["junk"]
        assert errors[0].skipped == len(junk)
        assert errors[0].excerpt == junk


def test_wrong_content_length_too_short_resyncs_on_next_message() -> None:
    # Declares 5 body bytes but carries 14: the rest of the body is junk before the next one.
    short = INVITE.replace(b"Content-Length: 14", b"Content-Length: 5")
    out = whole(short + TRYING)
    assert messages(out) == [short[: short.index(b"\r\n\r\n") + 4 + 5], TRYING]
    assert reasons(out) == ["junk"]


def test_junk_without_newline_is_bounded() -> None:
    framer = StreamFramer()
    out: list[Framed] = []
    for _ in range(200):
        out += framer.feed(b"\x00" * 1000)
        assert framer.buffered <= MAX_START_LINE
    out += framer.feed(b"\r\n" + TRYING)
    assert messages(out) == [TRYING]
    assert reasons(out) == ["junk"]


def test_start_line_split_across_junk_resync() -> None:
    data = b"junk line\r\n" + TRYING
    for cut in range(len(data)):
        assert messages(split_at(data, [cut])) == [TRYING]


# -- gaps -------------------------------------------------------------------------------------


def test_gap_inside_body_loses_only_that_message() -> None:
    framer = StreamFramer()
    head_len = NOTIFY.index(b"\r\n\r\n") + 4
    assert framer.feed(NOTIFY[: head_len + 2]) == []
    # 4 body bytes never arrive; the framer skips the rest of the body exactly, so the
    # SIP status line inside the sipfrag body is not taken for a message.
    out = framer.gap(4)
    assert reasons(out) == ["lost-in-gap"]
    out = framer.feed(NOTIFY[head_len + 6 :] + TRYING)
    assert out == [TRYING]


def test_gap_at_message_boundary_resyncs_on_next_start_line() -> None:
    framer = StreamFramer()
    assert framer.feed(TRYING) == [TRYING]
    assert framer.gap(len(INVITE)) == []
    assert framer.feed(TRYING) == [TRYING]


def test_gap_inside_header_block_resyncs() -> None:
    framer = StreamFramer()
    assert framer.feed(INVITE[:40]) == []
    assert reasons(framer.gap(30)) == ["lost-in-gap"]
    out = framer.feed(INVITE[70:] + TRYING)
    assert messages(out) == [TRYING]
    assert reasons(out) == []  # bytes skipped after a reported gap are not junk again


def test_gap_spanning_message_end_resyncs() -> None:
    framer = StreamFramer()
    assert framer.feed(INVITE[:-5]) == []
    assert reasons(framer.gap(5 + 10)) == ["lost-in-gap"]
    assert messages(framer.feed(TRYING[10:] + INVITE)) == [INVITE]


# -- find_start_line ----------------------------------------------------------------------------


def test_find_start_line_skips_via_and_cut_lines() -> None:
    data = b"Via: SIP/2.0/TCP x\r\nVITE\r\n" + TRYING
    start, _, _ = find_start_line(data, 0, True)
    assert start == data.index(b"SIP/2.0 100")


def test_find_start_line_ignores_first_line_when_not_a_line_start() -> None:
    data = b"SIP/2.0 200 OK\r\nrest"
    assert find_start_line(data, 0, False)[0] == -1
    assert find_start_line(data, 0, True)[0] == 0


# -- properties -------------------------------------------------------------------------------

_PIECES = st.sampled_from(
    [
        INVITE,
        TRYING,
        COMPACT,
        BARE_LF,
        NOTIFY,
        b"\r\n",
        b"\r\n\r\n",
        b"\n",
        b"junk\r\n",
        b"\x00\xff\x16\x03",
        b"SIP/2.0",
        b"Content-Length: 99999\r\n",
        b"l: -1\r\n",
        b"INVITE sip:a@b SIP/2.0\r\n",
        b"SIP/2.0 200 OK\r\n",
    ]
)
_STREAMS = st.lists(_PIECES, max_size=25).map(b"".join)
_LIMITS = st.sampled_from([{}, {"max_header": 60, "max_body": 20}])
_PROPERTY = settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))


@_PROPERTY
@given(_STREAMS, st.lists(st.integers(min_value=0, max_value=3000), max_size=20), _LIMITS)
def test_random_splits_give_identical_output(
    data: bytes, cuts: list[int], limits: dict[str, int]
) -> None:
    assert split_at(data, cuts, **limits) == whole(data, **limits)


@_PROPERTY
@given(_STREAMS, _LIMITS)
def test_byte_at_a_time_equals_whole(data: bytes, limits: dict[str, int]) -> None:
    assert bytewise(data, **limits) == whole(data, **limits)


@_PROPERTY
@given(st.lists(st.sampled_from([INVITE, TRYING, COMPACT, BARE_LF, NOTIFY]), max_size=10))
def test_well_formed_messages_come_back_unchanged(msgs: list[bytes]) -> None:
    assert whole(b"\r\n".join(msgs)) == msgs


@_PROPERTY
@given(st.binary(max_size=3000), st.lists(st.integers(min_value=0, max_value=3000), max_size=8))
def test_random_bytes_never_raise(data: bytes, cuts: list[int]) -> None:
    out = split_at(data, cuts, max_header=200, max_body=200)
    assert out == whole(data, max_header=200, max_body=200)
    for item in out:
        assert isinstance(item, bytes | FramingError)


@_PROPERTY
@given(st.binary(max_size=500), st.integers(min_value=1, max_value=5000), st.binary(max_size=500))
def test_gaps_never_raise(before: bytes, missing: int, after: bytes) -> None:
    framer = StreamFramer(max_header=200, max_body=100)
    framer.feed(before + TRYING[:30])
    framer.gap(missing)
    out = framer.feed(after + b"\r\n" + TRYING)
    out += framer.close()
    assert TRYING in messages(out)
