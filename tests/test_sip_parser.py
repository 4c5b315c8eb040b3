"""Parser rules, one test per rule, then real captures checked against their tshark oracles."""

from __future__ import annotations

import json
import time
from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sipwatch.sip.compact import COMPACT_FORMS, canonical_name
from sipwatch.sip.detect import looks_like_sip
from sipwatch.sip.message import Malformed, SipMessage
from sipwatch.sip.parser import (
    MAX_BODY_BYTES,
    MAX_HEADER_LINES,
    MAX_LINE_BYTES,
    _headers_fast,
    _headers_slow,
    parse_message,
)
from tests.conftest import public_capture
from tests.helpers import make_request, request_bytes, udp_payloads

BASE = (
    "Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK1\r\n"
    "From: <sip:a@example.com>;tag=a1\r\n"
    "To: <sip:b@example.com>\r\n"
    "Call-ID: c1@192.0.2.1\r\n"
    "CSeq: 7 INVITE\r\n"
)


def ok(data: bytes) -> SipMessage:
    result = parse_message(data)
    assert isinstance(result, SipMessage), result
    return result


def bad(data: bytes) -> Malformed:
    result = parse_message(data)
    assert isinstance(result, Malformed), result
    return result


def request(head: str = BASE, body: bytes = b"", method: str = "INVITE") -> bytes:
    return f"{method} sip:b@example.com SIP/2.0\r\n{head}\r\n".encode() + body


def response(status_line: str, head: str = BASE) -> bytes:
    return f"{status_line}\r\n{head}\r\n".encode()


# -- start line (RFC 3261 §7.1, §7.2) -----------------------------------------------------------


def test_request_line() -> None:
    msg = ok(request())
    assert (msg.kind, msg.method, msg.uri, msg.status, msg.reason) == (
        "request",
        "INVITE",
        "sip:b@example.com",
        0,
        "",
    )
    assert msg.warnings == []
    assert msg.start_line() == "INVITE sip:b@example.com SIP/2.0"


@pytest.mark.parametrize("method", ["FOO-BAR.1", "invite", "x!%*_+`'~"])
def test_extension_and_odd_methods_are_tokens(method: str) -> None:
    msg = ok(request(BASE.replace("7 INVITE", f"7 {method}"), method=method))
    assert msg.method == method
    assert msg.warnings == []


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("INV@TE sip:b@h SIP/2.0", "method is not a token: 'INV@TE'"),
        ("INVITE<> sip:b@h SIP/2.0", "method is not a token: 'INVITE<>'"),
        ("  sip:b@h SIP/2.0", "request line starts with whitespace"),
        ("GET / HTTP/1.1", "no SIP request or status line"),
        ("INVITE sip:b@h", "no SIP request or status line"),
        ("INVITE sip:b@h SIP/3.0", "no SIP request or status line"),
        ("INVITE  SIP/2.0", "bad Request-URI"),
        ("INVITE sip:b@h x SIP/2.0", "bad Request-URI"),
        ("SIP/2.0 2x0 OK", "bad status code '2x0'"),
        ("SIP/2.0 2000 OK", "bad status code '2000'"),
        ("SIP/2.0 099 Early", "status code 99 out of range 100-699"),
        ("SIP/2.0 700 Late", "status code 700 out of range 100-699"),
        ("SIP/2.0 ", "bad status code ''"),
    ],
)
def test_bad_start_lines_are_malformed(line: str, reason: str) -> None:
    result = bad(f"{line}\r\n{BASE}\r\n".encode())
    assert result.reason == reason
    assert result.start_line == line
    assert result.raw == f"{line}\r\n{BASE}\r\n".encode()


def test_version_is_case_insensitive() -> None:
    assert ok(b"INVITE sip:b@h sip/2.0\r\n" + BASE.encode() + b"\r\n").method == "INVITE"
    assert ok(response("sip/2.0 180 Ringing")).status == 180


@pytest.mark.parametrize(
    ("line", "status", "reason"),
    [
        ("SIP/2.0 200 OK", 200, "OK"),
        ("SIP/2.0 100 Trying", 100, "Trying"),
        ("SIP/2.0 699 Whatever you say", 699, "Whatever you say"),
        ("SIP/2.0 202 Accept", 202, "Accept"),  # voip-extension.pcap's reason phrase
        ("SIP/2.0 486 Occupé ☎", 486, "Occupé ☎"),
        ("SIP/2.0 200 ", 200, ""),
        ("SIP/2.0 200", 200, ""),
    ],
)
def test_status_line(line: str, status: int, reason: str) -> None:
    msg = ok(response(line))
    assert (msg.kind, msg.status, msg.reason, msg.uri) == ("response", status, reason, "")
    assert msg.method == "INVITE"  # a response's method is its CSeq method


def test_leading_line_breaks_are_ignored() -> None:
    """RFC 3261 §7.5: CRLFs before the start line (keep-alives on a stream) are skipped."""
    msg = ok(b"\r\n\r\n" + request())
    assert msg.method == "INVITE"
    assert msg.raw.startswith(b"\r\n\r\nINVITE")


@pytest.mark.parametrize(
    ("data", "reason"),
    [(b"", "empty message"), (b"\r\n\r\n", "empty message (only line breaks)")],
)
def test_empty_input(data: bytes, reason: str) -> None:
    assert bad(data).reason == reason


# -- header lines (RFC 3261 §7.3) ---------------------------------------------------------------


def test_headers_keep_wire_order_and_index_positions() -> None:
    msg = ok(
        request(BASE + "Via: SIP/2.0/UDP 198.51.100.1;branch=z9hG4bK2\r\nSupported: timer\r\n")
    )
    assert [name for name, _ in msg.headers] == [
        "Via",
        "From",
        "To",
        "Call-ID",
        "CSeq",
        "Via",
        "Supported",
    ]
    assert msg.index["via"] == [0, 5]
    assert msg.index["call-id"] == [3]
    assert msg.header_all("via") == [
        "SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK1",
        "SIP/2.0/UDP 198.51.100.1;branch=z9hG4bK2",
    ]


@pytest.mark.parametrize(
    "line",
    ["Subject:x y", "Subject: x y", "Subject :x y", "Subject\t:\t x y \t", "Subject  :   x y  "],
)
def test_whitespace_around_the_colon(line: str) -> None:
    """HCOLON = *( SP / HTAB ) ":" SWS (RFC 3261 §25.1); trailing whitespace is not data."""
    assert ok(request(BASE + line + "\r\n")).headers[-1] == ("Subject", "x y")


def test_folded_lines_join_with_one_space() -> None:
    """RFC 3261 §7.3.1: a line starting with SP/HT continues the previous header."""
    msg = ok(request(BASE + "Subject: first\r\n   second\r\n\tthird  \r\nAllow: INVITE\r\n"))
    assert msg.header("subject") == "first second third"
    assert msg.headers[-1] == ("Allow", "INVITE")
    folded_empty = ok(request(BASE + "Subject:\r\n  late\r\n"))
    assert folded_empty.header("subject") == "late"


def test_continuation_before_any_header_is_skipped_with_a_warning() -> None:
    msg = ok(b"INVITE sip:b@h SIP/2.0\r\n  Via: x\r\nCall-ID: c\r\n\r\n")
    assert msg.headers == [("Call-ID", "c")]
    assert msg.warnings[0] == "continuation line before any header: '  Via: x'"


def test_bare_lf_and_mixed_line_ends_parse_the_same() -> None:
    crlf = request(BASE + "Content-Length: 4\r\n", b"abcd")
    expected = ok(crlf)
    for data in (
        crlf.replace(b"\r\n", b"\n"),
        crlf.replace(b"\r\n", b"\n", 3),
        crlf.replace(b"\r\n\r\n", b"\r\n\n"),
        crlf.replace(b"\r\n\r\n", b"\n\r\n"),
    ):
        msg = ok(data)
        assert (msg.headers, msg.body, msg.warnings) == (expected.headers, b"abcd", [])


def test_names_are_case_insensitive_and_shown_canonically() -> None:
    msg = ok(
        request(
            BASE.replace("Call-ID", "cALL-iD").replace("CSeq", "CSEQ") + "www-authenticate: x\r\n"
        )
    )
    names = [name for name, _ in msg.headers]
    assert names == ["Via", "From", "To", "Call-ID", "CSeq", "WWW-Authenticate"]
    assert msg.call_id == "c1@192.0.2.1"
    assert msg.header("CALL-ID") == msg.header("call-id") == "c1@192.0.2.1"


@pytest.mark.parametrize(("letter", "name"), sorted(COMPACT_FORMS.items()))
def test_compact_forms_expand(letter: str, name: str) -> None:
    """RFC 3261 §7.3.3 and later RFCs: every compact form becomes its long name."""
    for spelt in (letter, letter.upper()):
        msg = ok(request(BASE + f"{spelt}: value-{letter}\r\n"))
        assert msg.headers[-1] == (name, f"value-{letter}")
        assert msg.index[name.lower()][-1] == len(msg.headers) - 1
        assert msg.header(name) is not None


def test_unknown_names_keep_their_wire_spelling() -> None:
    msg = ok(request(BASE + "x-CusTom-Thing: 1\r\n"))
    assert msg.headers[-1] == ("x-CusTom-Thing", "1")
    assert msg.index["x-custom-thing"] == [5]
    assert msg.header("X-CUSTOM-THING") == "1"


def test_empty_values_are_allowed() -> None:
    msg = ok(request(BASE + "Subject:\r\nSupported: \r\n"))
    assert msg.headers[-2:] == [("Subject", ""), ("Supported", "")]
    assert msg.tokens("supported") == []


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("Garbage", "header line without a colon: 'Garbage'"),
        (": orphan value", "header line without a name: ': orphan value'"),
        ("  : x", "continuation line before any header"),
    ],
)
def test_header_line_problems_are_skipped_with_a_warning(line: str, reason: str) -> None:
    """Wireshark still counts such a message; sipwatch shows it and says what was skipped."""
    data = f"INVITE sip:b@h SIP/2.0\r\n{line}\r\n{BASE}\r\n".encode()
    msg = ok(data)
    assert msg.warnings[0].startswith(reason)
    assert msg.call_id  # the good headers around the bad line are kept
    assert ok(f"INVITE sip:b@h SIP/2.0\r\n{BASE}\r\n".encode()).headers == msg.headers


def test_header_text_is_utf8_with_replacement() -> None:
    assert ok(request(BASE + "Subject: Zoë ☎\r\n")).header("subject") == "Zoë ☎"
    broken = ok(request(BASE).replace(b"CSeq", b"Subject: caf\xe9\r\nCSeq"))
    assert broken.header("subject") == "caf\ufffd"


# -- body and Content-Length (RFC 3261 §20.14) --------------------------------------------------


def test_content_length_exact() -> None:
    msg = ok(request(BASE + "Content-Length: 5\r\n", b"hello"))
    assert (msg.body, msg.warnings) == (b"hello", [])


def test_content_length_smaller_cuts_the_body() -> None:
    msg = ok(request(BASE + "l: 3\r\n", b"hello"))
    assert msg.body == b"hel"
    assert msg.warnings == ["2 bytes after the body"]
    assert msg.raw.endswith(b"hello")


def test_content_length_larger_keeps_what_is_there() -> None:
    msg = ok(request(BASE + "Content-Length: 50\r\n", b"hello"))
    assert msg.body == b"hello"
    assert msg.warnings == ["Content-Length 50 but only 5 body bytes (truncated)"]


@pytest.mark.parametrize("value", ["bad", "-1", "5 5", "0x10", "٥"])
def test_invalid_content_length_is_a_warning(value: str) -> None:
    msg = ok(request(BASE + f"Content-Length: {value}\r\n", b"hello"))
    assert msg.body == b"hello"
    assert msg.warnings == [f"invalid Content-Length {value!r}"]


def test_absurd_content_length_is_a_warning() -> None:
    digits = "9" * 5000  # int() refuses more than 4300 digits
    msg = ok(request(BASE + f"Content-Length: {digits}\r\nCSeq: {digits} INVITE\r\n", b"hi"))
    assert msg.body == b"hi"
    assert msg.warnings[0] == f"Content-Length {digits[:80]}... but only 2 body bytes (truncated)"
    assert msg.cseq == (7, "INVITE")


def test_conflicting_content_lengths() -> None:
    msg = ok(request(BASE + "Content-Length: 5\r\nl: 4\r\n", b"hello"))
    assert msg.body == b"hello"
    assert msg.warnings == ["conflicting Content-Length headers"]


def test_no_content_length_takes_everything() -> None:
    msg = ok(request(BASE, b"v=0\r\n\r\nx"))
    assert (msg.body, msg.warnings) == (b"v=0\r\n\r\nx", [])


def test_missing_empty_line_is_a_warning() -> None:
    msg = ok(f"OPTIONS sip:b@h SIP/2.0\r\n{BASE.replace('INVITE', 'OPTIONS')}".encode())
    assert msg.headers[-1] == ("CSeq", "7 OPTIONS")
    assert (msg.body, msg.warnings) == (b"", ["no empty line after the headers"])


# -- mandatory headers (RFC 3261 §8.1.1) and CSeq (§8.1.1.5) ------------------------------------


def test_missing_mandatory_headers_are_warnings() -> None:
    msg = ok(b"REGISTER sip:1.1.1.1:5060 SIP/2.0\r\nExpires: 3600\r\n\r\n")
    assert msg.warnings == [
        "missing mandatory header Call-ID",
        "missing mandatory header CSeq",
        "missing mandatory header From",
        "missing mandatory header To",
        "missing mandatory header Via",
    ]
    assert (msg.call_id, msg.cseq, msg.from_tag, msg.branch) == ("", (0, ""), "", "")


def test_cseq_method_must_match_the_request() -> None:
    msg = ok(request(BASE, method="BYE"))
    assert msg.warnings == ["CSeq method 'INVITE' does not match request method"]


# -- hardening limits ---------------------------------------------------------------------------


def test_header_line_count_limit() -> None:
    lines = "".join(f"X-{i}: v\r\n" for i in range(MAX_HEADER_LINES - 5))
    assert len(ok(request(BASE + lines)).headers) == MAX_HEADER_LINES
    result = bad(request(BASE + lines + "X-last: v\r\n"))
    assert result.reason == f"oversized: more than {MAX_HEADER_LINES} header lines"


def test_line_length_limit() -> None:
    at_limit = "X: " + "a" * (MAX_LINE_BYTES - 3)  # MAX_LINE_BYTES bytes before the CRLF
    assert ok(request(BASE + at_limit + "\r\n")).headers[-1][1] == "a" * (MAX_LINE_BYTES - 3)
    result = bad(request(BASE + at_limit + "a\r\n"))
    assert (
        result.reason
        == f"oversized: a header line of {MAX_LINE_BYTES + 1} bytes (limit {MAX_LINE_BYTES})"
    )


def test_body_size_limit() -> None:
    assert len(ok(request(BASE, b"x" * MAX_BODY_BYTES)).body) == MAX_BODY_BYTES
    result = bad(request(BASE, b"x" * (MAX_BODY_BYTES + 1)))
    assert (
        result.reason == f"oversized: body of {MAX_BODY_BYTES + 1} bytes (limit {MAX_BODY_BYTES})"
    )


def test_hostile_sizes_are_rejected_cheaply() -> None:
    """64 MiB of one header line or of body is refused with a few C-level passes, not a loop."""
    huge = b"x" * (64 << 20)
    for data in (request(BASE, huge), b"INVITE sip:b@h SIP/2.0\r\nX: " + huge):
        began = time.perf_counter()
        assert bad(data).reason.startswith("oversized: ")
        assert time.perf_counter() - began < 2.0


# -- real captures ------------------------------------------------------------------------------


ORACLE_CAPTURES = [
    "sip_compact_form.pcap",
    "sip_header_multi_val.pcap",
    "sip-long-request-response-paths.pcap",
    "invalid-content-length.pcap",
    "sip-junk-before-request.pcap",
    "metasploit-sip-invite-spoof.pcap",
    "voip-extension.pcap",
    "attended_transfer.pcap",
    "c07-sip-r2.cap",
]


def parsed_capture(name: str) -> list[tuple[int, SipMessage | Malformed]]:
    return [
        (number, parse_message(payload)) for number, payload in udp_payloads(public_capture(name))
    ]


@pytest.mark.shared
@pytest.mark.parametrize("name", ORACLE_CAPTURES)
def test_messages_match_the_tshark_oracle(name: str) -> None:
    """Every datagram tshark counts as SIP parses, and nothing else does."""
    oracle = json.loads(public_capture(name + ".oracle.json").read_text())
    messages = [m for _, m in parsed_capture(name) if isinstance(m, SipMessage)]
    assert len(messages) == oracle["sip_messages"]
    assert (
        Counter(m.method for m in messages if m.kind == "request") == oracle["requests_by_method"]
    )
    statuses = Counter(str(m.status) for m in messages if m.kind == "response")
    assert statuses == oracle["responses_by_status"]
    calls = {m.call_id for m in messages if m.call_id}
    assert len(calls) == oracle["distinct_call_ids"]


@pytest.mark.shared
def test_compact_form_capture() -> None:
    [(_, msg)] = parsed_capture("sip_compact_form.pcap")
    assert isinstance(msg, SipMessage)
    assert [name for name, _ in msg.headers][:4] == ["Via", "From", "To", "Call-ID"]
    assert msg.branch == "z9hG4bKnp104984053-44ce4a41192.168.1.2"
    assert msg.from_tag == "6433ef9"
    assert msg.content_type == "application/sdp"
    # "l: 272" but 372 body bytes: tshark also hands SDP exactly 272 bytes.
    assert len(msg.body) == 272
    assert msg.body.endswith(b"z=2882844")
    assert msg.warnings == ["100 bytes after the body"]


@pytest.mark.shared
def test_duplicated_to_header_capture() -> None:
    [(_, msg)] = parsed_capture("sip_header_multi_val.pcap")
    assert isinstance(msg, SipMessage)
    assert msg.index["to"] == [2, 3]
    assert msg.header_all("to") == [
        "<sip:97239287044@voip.brujula.net>",
        "<sip:12345@voip.brujula.net>",
    ]
    assert msg.header("t") == "<sip:97239287044@voip.brujula.net>"


@pytest.mark.shared
def test_long_paths_capture() -> None:
    (_, options), (_, ok_200) = parsed_capture("sip-long-request-response-paths.pcap")
    assert isinstance(options, SipMessage) and isinstance(ok_200, SipMessage)
    assert options.via_count == ok_200.via_count > 5
    assert options.branch == ok_200.branch == "z9hG4bK0"
    assert ok_200.method == "OPTIONS"
    assert max(len(value) for _, value in options.headers) > 900


@pytest.mark.shared
def test_invalid_content_length_capture() -> None:
    """tshark counts both messages (2) and flags "Invalid content_length": so do we."""
    (_, invite), (_, ok_200) = parsed_capture("invalid-content-length.pcap")
    assert isinstance(invite, SipMessage) and isinstance(ok_200, SipMessage)
    assert invite.warnings == ["invalid Content-Length 'bad'"]
    assert ok_200.warnings == ["invalid Content-Length 'xyz'"]
    assert invite.body == ok_200.body == b""


@pytest.mark.shared
def test_junk_before_request_capture() -> None:
    """tshark counts 1 message in 2 frames, and the reason is that the junk is not *inside*
    a message: frame 1 is a separate 4-byte datagram of NULs that tshark leaves as Data, and
    frame 2 is a REGISTER without Via/From/To/Call-ID/CSeq that tshark still dissects as SIP.
    So the junk datagram is Malformed here (and the pipeline's content check skips it as not
    SIP), while the REGISTER parses, with one warning per missing mandatory header.
    """
    (first, junk), (second, register) = parsed_capture("sip-junk-before-request.pcap")
    assert (first, second) == (1, 2)
    assert isinstance(junk, Malformed)
    assert junk.raw == b"\x00\x00\x00\x00"
    assert junk.reason == "no SIP request or status line"
    assert not looks_like_sip(junk.raw)
    assert isinstance(register, SipMessage)
    assert (register.method, register.uri, register.headers) == (
        "REGISTER",
        "sip:1.1.1.1:5060",
        [("Expires", "3600")],
    )
    assert len(register.warnings) == 5


@pytest.mark.shared
def test_spoofed_invite_capture() -> None:
    (_, invite), (_, ringing), *_ = parsed_capture("metasploit-sip-invite-spoof.pcap")
    assert isinstance(invite, SipMessage) and isinstance(ringing, SipMessage)
    assert invite.uri == "sip:@127.0.0.1"
    assert invite.header("from") == '"testtest"<sip:10.0.1.199>'
    assert invite.branch == ""  # no branch at all: an RFC 2543-style Via
    assert (ringing.status, ringing.to_tag, ringing.method) == (180, "20d70673", "INVITE")


@pytest.mark.shared
def test_protos_capture() -> None:
    """PROTOS c07-sip-r2: tshark accepts 12 of the 32 SIP-like test datagrams; so do we, and
    the other 20 are Malformed for the reasons below (NetMon file, read by open_capture)."""
    pytest.importorskip("sipwatch.capture.readers")
    results = dict(parsed_capture("c07-sip-r2.cap"))
    accepted = sorted(number for number, m in results.items() if isinstance(m, SipMessage))
    assert accepted == [3, *range(5, 16)]
    reasons = {
        number: m.reason.split(":")[0] for number, m in results.items() if isinstance(m, Malformed)
    }
    assert {n for n, r in reasons.items() if r == "request line starts with whitespace"} == {
        4,
        *range(32, 40),
    }
    assert {n for n, r in reasons.items() if r == "method is not a token"} == set(range(20, 31))
    assert {n for n, r in reasons.items() if r == "no SIP request or status line"} == {
        1,
        2,
        16,
        17,
        18,
        19,
        31,
    }
    longest = results[15]
    assert isinstance(longest, SipMessage) and len(longest.method) == 4099


def test_helpers_build_messages_the_parser_accepts() -> None:
    invite = make_request("INVITE", supported="timer, 100rel", body="v=0\r\n")
    assert invite.warnings == []
    assert invite.body == b"v=0\r\n"
    assert invite.tokens("supported") == ["timer", "100rel"]
    assert request_bytes("BYE", call_id="x", via=None).count(b"Via") == 0


# -- properties (hypothesis) --------------------------------------------------------------------

SEEDS = [
    request(BASE + "Content-Length: 5\r\n", b"hello"),
    response("SIP/2.0 200 OK", BASE + 'Contact: "A, B" <sip:a@h;lr>;q=0.5, <sip:b@h>\r\n'),
    b"NOTIFY sip:a@h SIP/2.0\nv: SIP/2.0/UDP h;branch=z9hG4bKx\ni: 1\nf: <sip:a@h>;tag=1\n"
    b"t: <sip:b@h>;tag=2\nCSeq: 2 NOTIFY\nc: message/sipfrag\nl: 18\n\nSIP/2.0 100 Trying",
]
#: Bytes that matter to the grammar, so mutations hit interesting places often.
NASTY = b'\r\n:; \t,"<>\\=@?%\x00\xff\xc3SIP/2.0 '


def check_invariants(result: SipMessage | Malformed, data: bytes) -> None:
    """What must hold for any input, and every property must be readable without raising."""
    assert result.raw == data
    if isinstance(result, Malformed):
        assert result.reason
        assert not result.reason.startswith("internal parser error"), result.reason
        return
    positions = sorted(p for slots in result.index.values() for p in slots)
    assert positions == list(range(len(result.headers)))
    for key, slots in result.index.items():
        assert all(result.headers[p][0].lower() == key for p in slots)
    assert data.endswith(result.body) or result.body == b"" or result.warnings
    _ = (result.call_id, result.cseq, result.from_tag, result.to_tag, result.top_via)
    _ = (result.branch, result.via_count, result.content_type, result.start_line())
    for name, _value in result.headers:
        result.header_values(name)
        result.tokens(name)


@settings(max_examples=300)
@given(st.binary(max_size=3000))
def test_random_bytes_never_raise(data: bytes) -> None:
    check_invariants(parse_message(data), data)


@settings(max_examples=300)
@given(
    st.sampled_from(SEEDS),
    st.lists(
        st.tuples(
            st.floats(0, 1),
            st.sampled_from(["insert", "delete", "replace"]),
            st.binary(max_size=4) | st.sampled_from([bytes([b]) for b in NASTY]),
        ),
        max_size=8,
    ),
)
def test_mutated_messages_never_raise(seed: bytes, edits: list[tuple[float, str, bytes]]) -> None:
    data = bytearray(seed)
    for where, how, what in edits:
        at = int(where * len(data))
        if how == "insert":
            data[at:at] = what
        elif how == "delete":
            del data[at : at + len(what) + 1]
        else:
            data[at : at + len(what)] = what
    check_invariants(parse_message(bytes(data)), bytes(data))


WORD = st.text(
    st.characters(blacklist_categories=("Cc", "Cs", "Zs", "Zl", "Zp")), min_size=1, max_size=8
)
VALUE = st.lists(WORD, max_size=5).map(" ".join)
TOKEN = st.text(
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-.!%*_+`'~",
    min_size=1,
    max_size=12,
)
NAME = st.sampled_from(
    [
        n
        for n in (*COMPACT_FORMS, *COMPACT_FORMS.values(), "CSeq", "Max-Forwards", "Require")
        if n.lower() not in ("l", "content-length")
    ]
) | TOKEN.filter(lambda n: canonical_name(n).lower() != "content-length")
HEADERS = st.lists(st.tuples(NAME, VALUE), max_size=25)


def expected(headers: list[tuple[str, str]]) -> list[tuple[str, str]]:
    return [(canonical_name(name), value) for name, value in headers]


@given(TOKEN, HEADERS, st.binary(max_size=300))
def test_valid_messages_round_trip(
    method: str, headers: list[tuple[str, str]], body: bytes
) -> None:
    head = "".join(f"{name}: {value}\r\n" for name, value in headers)
    data = f"{method} sip:x@h SIP/2.0\r\n{head}Content-Length: {len(body)}\r\n\r\n".encode() + body
    msg = ok(data)
    assert msg.headers == [*expected(headers), ("Content-Length", str(len(body)))]
    assert msg.body == body
    for name, value in expected(headers):
        assert value in msg.header_all(name)


@given(
    HEADERS,
    st.data(),
)
def test_folding_whitespace_and_casing_do_not_change_headers(
    headers: list[tuple[str, str]], data: st.DataObject
) -> None:
    """RFC 3261 §7.3.1/§7.3.5: the same headers, however they are laid out on the wire."""
    lines = []
    wire_names = []
    for name, value in headers:
        wire = (
            "".join(c.upper() if data.draw(st.booleans()) else c.lower() for c in name)
            if name.isascii()
            else name
        )
        wire_names.append(wire)
        before = data.draw(st.sampled_from(["", " ", "\t", " \t "]))
        after = data.draw(st.sampled_from(["", " ", "  ", "\t"]))
        trailing = data.draw(st.sampled_from(["", " ", "\t "]))
        words = value.split(" ") if value else []
        folded = ""
        for i, word in enumerate(words):
            if i:
                folded += data.draw(st.sampled_from([" ", "\r\n ", "\n\t", "\r\n  \t"]))
            folded += word
        end = data.draw(st.sampled_from(["\r\n", "\n"]))
        lines.append(f"{wire}{before}:{after}{folded}{trailing}{end}")
    raw = ("SIP/2.0 200 OK\r\n" + "".join(lines) + "\r\n").encode()
    msg = ok(raw)
    assert msg.headers == [
        (canonical_name(w), v) for w, (_, v) in zip(wire_names, headers, strict=True)
    ]


LINE = st.text(st.sampled_from(list("ab:; \t\rIiVvCSeq-é")), max_size=12) | st.sampled_from(
    ["Via: x", "i:1", " folded", "\tx: y", ":", "CALL-ID : 9", "Call-Id: 9 ", "", "x"]
)


@given(st.lists(LINE, min_size=1, max_size=12))
def test_fast_path_agrees_with_slow_path(lines: list[str]) -> None:
    fast = _headers_fast(list(lines))
    if fast is not None:
        assert (*fast, []) == _headers_slow(list(lines))


def test_fast_path_is_used_for_ordinary_messages() -> None:
    lines = request(BASE).decode().split("\n")[1:-2]
    fast = _headers_fast(lines)
    assert fast is not None
    assert (*fast, []) == _headers_slow(lines)


@pytest.mark.parametrize(
    ("start", "is_message"),
    [
        (b"SIP/2.0 420 Bad \x1b[31mExtension", False),
        (b"SIP/2.0 200 O\x00K", False),
        (b"SIP/2.0 200 O\x7fK", False),
        (b"SIP/2.0 200 Very\tOK", True),  # RFC 3261 §25.1: HTAB is allowed in a Reason-Phrase
        (b"OPTIONS sip:a\x1b@h SIP/2.0", False),
        (b"OPTIONS sip:a\t@h SIP/2.0", False),
        (b"OPTIONS sip:a@h SIP/2.0", True),
    ],
)
def test_control_character_in_start_line_is_malformed_not_dropped(
    start: bytes, is_message: bool
) -> None:
    data = start + b"\r\nCall-ID: c\r\nCSeq: 1 OPTIONS\r\n\r\n"
    assert looks_like_sip(data)  # SIP, so never skipped as non-sip-udp
    parsed = parse_message(data)
    if is_message:
        assert isinstance(parsed, SipMessage)
    else:
        assert isinstance(parsed, Malformed)
        assert parsed.reason == "control character in the start line"
        assert parsed.start_line == start.decode("utf-8", "replace")
