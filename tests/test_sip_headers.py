"""Header value grammar, header names, URIs, and the SipMessage accessors built on them."""

from __future__ import annotations

import csv

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sipwatch.sip.compact import COMPACT_FORMS, NAME_TABLE, canonical_name, compact_form, header_key
from sipwatch.sip.headers import (
    NO_SPLIT,
    header_param,
    parse_params,
    split_header,
    split_values,
    unquote,
)
from sipwatch.sip.message import SipMessage
from sipwatch.sip.parser import parse_message
from sipwatch.sip.uri import (
    Replaces,
    SipUri,
    parse_address,
    parse_replaces,
    parse_uri,
    refer_to_replaces,
    split_name_addr,
)
from tests.conftest import REPO, public_capture
from tests.helpers import make_request, udp_payloads

# -- split_values / split_header (RFC 3261 §7.3.1) ----------------------------------------------


@pytest.mark.parametrize(
    ("raw", "values"),
    [
        ("timer, 100rel,replaces", ["timer", "100rel", "replaces"]),
        ("single", ["single"]),
        ("", []),
        ("  ", []),
        ("a,,b, ,", ["a", "b"]),
        ('"Doe, John" <sip:j@h>, <sip:k@h>', ['"Doe, John" <sip:j@h>', "<sip:k@h>"]),
        ('"say \\"hi, there\\"" <sip:a@h>, b', ['"say \\"hi, there\\"" <sip:a@h>', "b"]),
        ("<sip:a@h;x=1,2>;q=1, <sip:b@h>", ["<sip:a@h;x=1,2>;q=1", "<sip:b@h>"]),
        (
            "SIP/2.0/UDP h (comment, with comma);branch=1, SIP/2.0/TCP g",
            [
                "SIP/2.0/UDP h (comment, with comma);branch=1",
                "SIP/2.0/TCP g",
            ],
        ),
        ('x;p="a,b", y', ['x;p="a,b"', "y"]),
        ('\\"arik\\" <sip:a@h>, b', ['\\"arik\\" <sip:a@h>', "b"]),  # unclosed quote: ordinary
    ],
)
def test_split_values(raw: str, values: list[str]) -> None:
    assert split_values(raw) == values


@pytest.mark.parametrize(
    ("name", "raw"),
    [
        ("WWW-Authenticate", 'Digest realm="a.com", nonce="x", algorithm=MD5'),
        ("authorization", 'Digest username="bob", uri="sip:a.com", response="0f"'),
        ("Proxy-Authenticate", 'Digest realm="a", qop="auth,auth-int"'),
        ("Proxy-Authorization", "Digest username=bob, nc=00000001"),
        ("Date", "Sat, 13 Nov 2010 23:29:00 GMT"),
        ("User-Agent", "Foo/1.0 (Linux, x86)"),
        ("From", "Doe, John <sip:j@h>;tag=1"),
        ("Retry-After", "120 (I'm in a meeting, sorry)"),
    ],
)
def test_split_header_keeps_non_list_headers_whole(name: str, raw: str) -> None:
    assert split_header(name, raw) == [raw]
    assert name.lower() in NO_SPLIT


def test_split_header_splits_list_headers() -> None:
    assert split_header("Supported", "timer, 100rel") == ["timer", "100rel"]
    assert split_header("Date", "") == []
    assert split_header("f", "Doe, John <sip:j@h>") == ["Doe, John <sip:j@h>"]  # compact From


# -- parameters (RFC 3261 §7.3.1, §20.10) -------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "name", "param"),
    [
        ('"Bob" <sip:b@h;tag=uri>;tag=hdr', "tag", "hdr"),
        ("<sip:b@h;tag=uri>", "tag", None),
        ("sip:b@h;tag=addr-spec", "tag", "addr-spec"),
        ("<sip:b@h>;TAG=Case", "tag", "Case"),
        ("<sip:b@h>;tag = spaced ", "Tag", "spaced"),
        ('<sip:b@h>;reason="a;b=c"', "reason", "a;b=c"),
        ('<sip:b@h>;x="esc \\"q\\""', "x", 'esc "q"'),
        ("<sip:p@h;lr>;lr", "lr", ""),
        ("SIP/2.0/UDP 10.0.0.1:5060;rport;branch=z9hG4bK776", "branch", "z9hG4bK776"),
        ("SIP/2.0/UDP 10.0.0.1:5060;rport;branch=z9hG4bK776", "rport", ""),
        ('"a;b<c>" <sip:x@h>;tag=1', "tag", "1"),
        ('\\"arik\\" <sip:816666@h>;tag=6433ef9', "tag", "6433ef9"),
        ("<sip:b@h", "tag", None),
        ("", "tag", None),
    ],
)
def test_header_param(value: str, name: str, param: str | None) -> None:
    assert header_param(value, name) == param


def test_parse_params() -> None:
    assert parse_params('"Bob" <sip:b@h;lr>;tag=1;Foo="a;b";flag;tag=2') == (
        '"Bob" <sip:b@h;lr>',
        {"tag": "1", "foo": "a;b", "flag": ""},
    )
    assert parse_params("application/sdp") == ("application/sdp", {})
    assert parse_params("refer;id=93809824") == ("refer", {"id": "93809824"})


@pytest.mark.parametrize(
    ("quoted", "text"),
    [('"abc"', "abc"), ('"a\\"b\\\\c"', 'a"b\\c'), ("plain", "plain"), ('"', '"'), ('""', "")],
)
def test_unquote(quoted: str, text: str) -> None:
    assert unquote(quoted) == text


@given(st.text(max_size=60), st.text(max_size=10))
def test_grammar_helpers_never_raise(value: str, name: str) -> None:
    split_values(value)
    header_param(value, name)
    parse_params(value)
    split_name_addr(value)
    parse_address(value)
    parse_replaces(value)
    refer_to_replaces(value)


# -- header names (RFC 3261 §7.3.3, §7.3.5) -----------------------------------------------------


def test_compact_table_matches_the_knowledge_registry() -> None:
    with (REPO / "knowledge" / "registry" / "compact_forms.tsv").open(newline="") as handle:
        rows = list(csv.DictReader(handle, delimiter="\t"))
    assert len(rows) == 20
    assert {row["compact"]: row["header"] for row in rows} == COMPACT_FORMS


@pytest.mark.parametrize(
    ("wire", "canonical"),
    [
        ("i", "Call-ID"),
        ("CALL-ID", "Call-ID"),
        ("cseq", "CSeq"),
        ("www-authenticate", "WWW-Authenticate"),
        ("content-length", "Content-Length"),
        ("rseq", "RSeq"),
        ("RACK", "RAck"),
        ("p-asserted-identity", "P-Asserted-Identity"),
        ("refer-to", "Refer-To"),
        ("X-Custom", "X-Custom"),
        ("x-custom", "x-custom"),
    ],
)
def test_canonical_name(wire: str, canonical: str) -> None:
    assert canonical_name(wire) == canonical
    assert header_key(wire) == canonical.lower()


def test_compact_form_lookup() -> None:
    assert compact_form("Call-ID") == "i"
    assert compact_form("refer-to") == "r"
    assert compact_form("Max-Forwards") is None
    assert all(key == name.lower() for key, (name, _) in NAME_TABLE.items() if len(key) > 1)


# -- URIs and addresses -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "display", "uri"),
    [
        ('"Alice Smith" <sip:alice@example.com>;tag=1', "Alice Smith", "sip:alice@example.com"),
        ('"A \\"Q\\" <x>" <sip:a@h>', 'A "Q" <x>', "sip:a@h"),
        ("Bob Jones <sip:bob@h;transport=tcp>;tag=2", "Bob Jones", "sip:bob@h;transport=tcp"),
        ('"testtest"<sip:10.0.1.199>', "testtest", "sip:10.0.1.199"),
        ("<tel:+15551234>", "", "tel:+15551234"),
        ("sip:carol@h;tag=3", "", "sip:carol@h"),
        ("  sip:dave@h  ", "", "sip:dave@h"),
        ("*", "", "*"),
        (
            '\\"arik\\" <sip:816666@voip.brurjula.net>;tag=6433ef9',
            '\\"arik\\"',
            "sip:816666@voip.brurjula.net",
        ),
    ],
)
def test_split_name_addr(value: str, display: str, uri: str) -> None:
    assert split_name_addr(value) == (display, uri)


@pytest.mark.parametrize(
    ("uri", "parsed"),
    [
        ("sip:alice@example.com", SipUri("sip", "alice", "example.com")),
        (
            "sips:bob:secret@[2001:db8::1]:5061;transport=tls;lr",
            SipUri("sips", "bob", "[2001:db8::1]", 5061, {"transport": "tls", "lr": ""}),
        ),
        ("sip:192.0.2.1:5060", SipUri("sip", "", "192.0.2.1", 5060)),
        (
            "SIP:+1555;npdi@gw.example.com;user=phone",
            SipUri("sip", "+1555;npdi", "gw.example.com", None, {"user": "phone"}),
        ),
        ("sip:@127.0.0.1", SipUri("sip", "", "127.0.0.1")),
        ("sip:h:99999", SipUri("sip", "", "h", None)),
        ("sip:h:" + "9" * 5000, SipUri("sip", "", "h", None)),
        (
            "tel:+15551234;phone-context=x",
            SipUri("tel", "+15551234", "", None, {"phone-context": "x"}),
        ),
        (
            "sip:b@h?Subject=hi%20there&Call-Info=x",
            SipUri("sip", "b", "h", None, {}, {"subject": "hi there", "call-info": "x"}),
        ),
    ],
)
def test_parse_uri(uri: str, parsed: SipUri) -> None:
    assert parse_uri(uri) == parsed


@pytest.mark.parametrize("uri", ["http://example.com", "mailto:a@b", "nocolon", ""])
def test_parse_uri_other_schemes(uri: str) -> None:
    assert parse_uri(uri) is None


def test_replaces() -> None:
    """RFC 3891 §6.1; the Replaces in a Refer-To URI is percent-encoded (RFC 3891 §7)."""
    assert parse_replaces("abc@h;to-tag=1;from-tag=2;early-only") == Replaces(
        "abc@h", "1", "2", True
    )
    assert parse_replaces("abc;from-tag=2") == Replaces("abc", "", "2", False)
    assert parse_replaces(";to-tag=1") is None
    refer_to = "<sip:carol@h?Replaces=abc%40h%3Bto-tag%3D1%3Bfrom-tag%3D2>"
    assert refer_to_replaces(refer_to) == Replaces("abc@h", "1", "2", False)
    assert refer_to_replaces("<sip:carol@h>") is None
    assert refer_to_replaces("<http://x>") is None


@pytest.mark.shared
def test_attended_transfer_refer_to() -> None:
    """attended_transfer.pcap: MicroSIP's REFER carries Require and Replaces in the URI."""
    payloads = udp_payloads(public_capture("attended_transfer.pcap"))
    refers = [
        m
        for m in (parse_message(p) for _, p in payloads)
        if isinstance(m, SipMessage) and m.method == "REFER" and m.kind == "request"
    ]
    assert len(refers) == 2
    for refer in refers:
        refer_to = refer.header("refer-to")
        assert refer_to is not None
        uri = parse_address(refer_to)
        assert uri is not None
        assert (uri.user, uri.host, uri.headers["require"]) == (
            "1000",
            "sip.domain.com",
            "replaces",
        )
        assert refer_to_replaces(refer_to) == Replaces(
            "46e232784bc14e94b8b1ad4fce85ed23",
            "3b32e370",
            "844ffc8ae2514607931dc5eccbe02d82",
        )
        assert refer.tokens("supported") == ["replaces", "100rel", "timer", "norefersub"]
        assert refer.header("content-length") == "0"  # "Content-Length:  0" on the wire


@pytest.mark.shared
def test_voip_extension_refer_to_lowercase_name() -> None:
    payloads = udp_payloads(public_capture("voip-extension.pcap"))
    [refer] = [
        m
        for m in (parse_message(p) for _, p in payloads)
        if isinstance(m, SipMessage) and m.method == "REFER" and m.kind == "request"
    ]
    # "Refer-to:" on the wire, shown and indexed as Refer-To
    assert refer.headers[refer.index["refer-to"][0]] == ("Refer-To", "<sip:204@192.168.5.11>")
    assert refer_to_replaces(refer.header("refer-to") or "") is None
    assert split_name_addr(refer.header("referred-by") or "") == ("", "sip:0@192.168.5.11")
    assert (
        header_param(refer.header("referred-by") or "", "cid")
        == "673b0437-dc3f99dd-699f99a7-92fd8066@192.168.5.10"
    )


# -- SipMessage accessors -----------------------------------------------------------------------


def test_message_accessors() -> None:
    msg = make_request(
        "INVITE",
        via=["SIP/2.0/UDP p1;branch=z9hG4bKtop, SIP/2.0/UDP p2;branch=z9hG4bK2", "SIP/2.0/TCP p3"],
        from_='"A, B" <sip:a@h>;tag=ft',
        to="<sip:b@h>;tag=tt",
        cseq="42 INVITE",
        supported="Timer, 100REL",
        www_authenticate='Digest realm="r", nonce="n"',
        content_type="Application/SDP; charset=utf-8",
        body="v=0\r\n",
    )
    assert msg.top_via == "SIP/2.0/UDP p1;branch=z9hG4bKtop"
    assert (msg.branch, msg.via_count) == ("z9hG4bKtop", 3)
    assert (msg.from_tag, msg.to_tag) == ("ft", "tt")
    assert (msg.cseq, msg.cseq_num, msg.cseq_method) == ((42, "INVITE"), 42, "INVITE")
    assert msg.tokens("Supported") == ["timer", "100rel"]
    assert msg.header_values("www-authenticate") == ['Digest realm="r", nonce="n"']
    assert msg.header_values("from") == ['"A, B" <sip:a@h>;tag=ft']
    assert msg.content_type == "application/sdp"
    assert msg.header("k") == "Timer, 100REL"  # compact names work for lookups too
    assert msg.has_header("v") and msg.has_header("VIA") and not msg.has_header("require")
    assert msg.header_all("x") == [] and msg.header("require") is None


def test_unreadable_cseq() -> None:
    assert make_request("INVITE", cseq="abc INVITE").cseq == (0, "INVITE")
    for number in ("9" * 5000, "-1", "1_0", "+5", "١٢"):
        assert make_request("INVITE", cseq=f"{number} INVITE").cseq == (0, "INVITE")
    msg = parse_message(b"SIP/2.0 200 OK\r\nCSeq:\r\n\r\n")
    assert isinstance(msg, SipMessage)
    assert (msg.cseq, msg.method) == ((0, ""), "")


def test_parse_params_quote_in_a_parameter_value_is_not_a_display_name() -> None:
    """A Reason header: the quote belongs to ``text=``, after the first ``;``."""
    from sipwatch.sip.headers import parse_params

    assert parse_params('Q.850;cause=16;text="Normal; clearing"') == (
        "Q.850",
        {"cause": "16", "text": "Normal; clearing"},
    )
