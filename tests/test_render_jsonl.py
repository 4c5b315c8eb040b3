"""The JSON lines renderer's directly built message line equals the generic ``json`` form.

``message_line`` exists only for speed; the contract is ``dumps(message_json(record))``. These
tests hold the two byte-identical on every bundled and public capture (in every explain mode, so
annotations of all shapes appear) and on values chosen to hit each escape and number rule.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from sipwatch.capture.readers import open_capture
from sipwatch.pipeline import Pipeline, PipelineOptions
from sipwatch.records import MessageRecord
from sipwatch.render.jsonl import JsonlRenderer, dumps, message_json, message_line
from sipwatch.sip.message import SipMessage
from sipwatch.sip.parser import parse_message
from tests.conftest import CAPTURES, PUBLIC, require_corpus

_SKIP = (".json", ".md")


def _captures(where: Path) -> list[Path]:
    if where == CAPTURES:
        return sorted(CAPTURES.glob("*.pcap"))
    require_corpus()
    return sorted(p for p in PUBLIC.iterdir() if p.is_file() and p.suffix not in _SKIP)


def _records(path: Path, explain: str) -> list[MessageRecord]:
    pipeline = Pipeline(PipelineOptions(explain=explain), source=str(path))
    try:
        source = open_capture(path)
    except Exception:  # not a capture (a README next to the public captures)
        return []
    with source:
        return [r for r in pipeline.run(source) if isinstance(r, MessageRecord)]


#: Where the captures are, and how many message lines (and annotated ones) each set must give,
#: so an empty or unreadable set fails instead of passing vacuously.
_CAPTURE_SETS = [(CAPTURES, 100, 10), (PUBLIC, 1000, 50)]


@pytest.mark.parametrize(
    ("where", "min_checked", "min_annotated"), _CAPTURE_SETS, ids=["bundled", "public"]
)
def test_fast_line_equals_generic_json_on_real_captures(
    where: Path, min_checked: int, min_annotated: int
) -> None:
    checked = annotated = 0
    for path in _captures(where):
        # "all" annotates every response and every request with notes: every shape appears.
        for record in _records(path, "all"):
            assert message_line(record) == dumps(message_json(record)), (path.name, record)
            checked += 1
            annotated += record.annotation is not None
    assert checked > min_checked and annotated > min_annotated


def _message(text: str) -> SipMessage:
    parsed = parse_message(text.replace("\n", "\r\n").encode("utf-8"))
    assert isinstance(parsed, SipMessage)
    return parsed


RESPONSE = """SIP/2.0 480 Temporarily \u00e9\u2028 "Unavailable"\\
Via: SIP/2.0/UDP [::1]:5060;branch=z9hG4bK\u00fc\x01
From: <sip:a@h>;tag="q\\"t"
To: <sip:b@h>;tag=\u65e5\u672c
Call-ID: c\x7f"\\/@h
CSeq: 0042 INVITE
Content-Length: 0

"""

REQUEST = """OPTIONS sip:b@h SIP/2.0
Via: SIP/2.0/TCP h
From: <sip:a@h>
To: <sip:b@h>
Call-ID: x
CSeq: 99999999999 OPTIONS
Content-Length: 0

"""


@pytest.mark.parametrize("text", [RESPONSE, REQUEST], ids=["response", "request"])
@pytest.mark.parametrize(
    "ts", [0.0, 1.0, 1700000000.123456, 1e-7, 1e22, 5, float("nan"), float("inf")]
)
@pytest.mark.parametrize("retransmission", [False, True])
def test_fast_line_equals_generic_json_on_edge_values(
    text: str, ts: float, retransmission: bool
) -> None:
    record = MessageRecord(ts, 7, "[fe80::1]:5060", "10.0.0.1:5060", "tcp", _message(text))
    record.retransmission = retransmission
    assert message_line(record) == dumps(message_json(record))
    record.annotation = {"code": 480, "title": "T\u00e9", "remedy": None, "x": [1.5, True]}
    assert message_line(record) == dumps(message_json(record))
    json.loads(message_line(record))


def test_renderer_writes_the_same_lines_as_the_generic_form() -> None:
    records = _records(CAPTURES / "bad-extension-proxy.pcap", "all")
    out = io.StringIO()
    renderer = JsonlRenderer(out, flush=False)
    for record in records:
        renderer.record(record)
    expected = "".join(dumps(message_json(r)) + "\n" for r in records)
    assert out.getvalue() == expected and expected


SEARCH_FIELDS_REQUEST = """INVITE sip:+15551234@gw.example;user=phone SIP/2.0
Via: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bK1
From: "Doe, \\"J\\" \u00e9" <sip:alice@a.example;transport=tcp>;tag=1
t: tel:+15551234;phone-context=x
Call-ID: x
CSeq: 1 INVITE
m: <sip:alice@10.0.0.1:5062;ob>;expires=60, <sip:other@h>
User-Agent: Phone\x1b[31m 1.0
Content-Length: 0

"""

SEARCH_FIELDS_RESPONSE = """SIP/2.0 200 OK
Via: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bK1
From: Alice <sip:alice@a.example>;tag=1
To: sip:gw.example;tag=2
Call-ID: x
CSeq: 1 INVITE
Contact: *
Server: Gateway (v2, build 7)
Content-Length: 0

"""


def test_message_lines_carry_the_searchable_fields() -> None:
    """request_uri, from, to, user_agent, server and contact, after annotation, in that order
    (then the HEP agent, null outside HEP)."""
    request = MessageRecord(1.0, 1, "a:1", "b:2", "udp", _message(SEARCH_FIELDS_REQUEST))
    line = message_line(request)
    assert line == dumps(message_json(request))
    assert line.endswith(
        '"annotation":null,"request_uri":"sip:+15551234@gw.example;user=phone",'
        '"from":{"uri":"sip:alice@a.example;transport=tcp","user":"alice",'
        '"display":"Doe, \\"J\\" \\u00e9"},'
        '"to":{"uri":"tel:+15551234","user":"+15551234","display":null},'
        '"user_agent":"Phone\\u001b[31m 1.0","server":null,'
        '"contact":"sip:alice@10.0.0.1:5062;ob","agent":null,"icmp":null}'
    )
    response = MessageRecord(1.0, 2, "b:2", "a:1", "udp", _message(SEARCH_FIELDS_RESPONSE))
    line = message_line(response)
    assert line == dumps(message_json(response))
    assert line.endswith(
        '"annotation":null,"request_uri":null,'
        '"from":{"uri":"sip:alice@a.example","user":"alice","display":"Alice"},'
        '"to":{"uri":"sip:gw.example","user":null,"display":null},'
        '"user_agent":null,"server":"Gateway (v2, build 7)","contact":"*","agent":null,"icmp":null}'
    )
    # Without From, To, Contact, User-Agent and Server: nulls, never missing keys.
    bare = MessageRecord(1.0, 3, "a:1", "b:2", "udp", _message("OPTIONS sip:h SIP/2.0\n\n"))
    assert message_line(bare) == dumps(message_json(bare))
    decoded = json.loads(message_line(bare))
    assert list(decoded)[-9:] == [
        "annotation",
        "request_uri",
        "from",
        "to",
        "user_agent",
        "server",
        "contact",
        "agent",
        "icmp",
    ]
    assert decoded["request_uri"] == "sip:h"
    assert [decoded[k] for k in ("from", "to", "user_agent", "server", "contact")] == [None] * 5
