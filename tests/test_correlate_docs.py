"""docs/findings.md is the contract CI users parse: keep it true to the code.

Each kind has a section whose field table and JSON example list exactly the keys the correlator
(plus the annotator) produces; :func:`example_findings` replays the scripted exchanges the
examples were taken from and compares.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from sipwatch.annotate import Annotator
from sipwatch.capture.tls_watch import TlsFailure
from sipwatch.correlate.events import FINDING_KINDS
from sipwatch.knowledge import load_knowledge
from sipwatch.media.model import MEDIA_FINDING_KINDS
from sipwatch.sip.message import SipMessage
from sipwatch.tls_findings import tls_failure_data
from tests.test_correlate_factory import (
    PROXY,
    UAC,
    UAS,
    Run,
    forward,
    request,
    response,
    strip_via,
)

DOC = Path(__file__).resolve().parents[1] / "docs" / "findings.md"
#: A header as the request and response builders take it: (name, value).
Header = tuple[str, str]
COMMON = ["schema", "type", "kind", "severity", "ts", "call_id", "frames", "text", "remedy"]


def _sections() -> dict[str, tuple[list[str], dict[str, Any]]]:
    text = DOC.read_text(encoding="utf-8")
    found: dict[str, tuple[list[str], dict[str, Any]]] = {}
    chunks = re.split(r"^## `([a-z-]+)`$", text, flags=re.M)
    for kind, body in zip(chunks[1::2], chunks[2::2], strict=True):
        table = body.split("| field | type | meaning |", 1)
        fields = []
        if len(table) == 2:
            for line in table[1].splitlines()[2:]:
                match = re.match(r"\| `([a-z_]+)` \|", line)
                if match is None:
                    break
                fields.append(match.group(1))
        same = re.search(r"Fields as `([a-z-]+)`", body)
        if same and not fields:
            fields = found[same.group(1)][0]
        example = re.search(r"```json\n(.*?)\n```", body, flags=re.S)
        assert example is not None, kind
        found[kind] = (fields, json.loads(example.group(1)))
    return found


def test_every_kind_is_documented_with_an_example() -> None:
    sections = _sections()
    # The media tracker's kinds are documented on the same page (tests/test_media_findings.py
    # compares their keys with what the tracker produces).
    assert sorted(sections) == sorted(FINDING_KINDS + MEDIA_FINDING_KINDS)
    for kind, (fields, example) in sections.items():
        assert example["kind"] == kind and example["schema"] == 1 and example["type"] == "finding"
        assert list(example)[: len(COMMON)] == COMMON, kind
        assert list(example)[len(COMMON) :] == fields, kind


@pytest.mark.parametrize("kind", FINDING_KINDS)
def test_documented_keys_match_the_code(kind: str) -> None:
    live = _live()[kind]
    _, example = _sections()[kind]
    assert list(live) == list(example)
    assert live["severity"] == example["severity"]


_CACHE: dict[str, dict[str, Any]] = {}


def _live() -> dict[str, dict[str, Any]]:
    if not _CACHE:
        _CACHE.update(example_findings())
    return _CACHE


def example_findings() -> dict[str, dict[str, Any]]:
    """One annotated finding per kind from scripted exchanges (the docs' examples)."""
    out: dict[str, dict[str, Any]] = {}
    annotator = Annotator(load_knowledge())

    T0 = 1700000000.0

    @contextmanager
    def scenario() -> Iterator[Run]:
        """A fresh exchange; at the end, a minute on, the first finding of each kind is kept."""
        run = Run(hold_timeouts=True)  # as a file run: the docs show pcap's output
        yield run
        run.finish(T0 + 60)
        for f in run.findings():
            out.setdefault(f.kind, annotator.annotate_finding(f).to_json())

    def answered(run: Run, ts: float, q: SipMessage, status: int, *extra: Header) -> None:
        """``q`` from the UAC at ``ts``, and the UAS's ``status`` response 10 ms later."""
        run.send(ts, UAC, UAS, q)
        run.send(ts + 0.01, UAS, UAC, response(q, status, extra=extra))

    # bad-extension
    with scenario() as run:
        inv = request(
            "INVITE",
            1,
            call_id="a84b4c76e66710",
            extra=[("Require", "100rel"), ("Proxy-Require", "foo")],
        )
        run.send(T0, UAC, PROXY, inv)
        run.send(
            T0 + 0.002, PROXY, UAC, response(inv, 420, to_tag=None, extra=[("Unsupported", "foo")])
        )
        run.send(
            T0 + 0.003, UAC, PROXY, request("ACK", 1, call_id="a84b4c76e66710", branch=inv.branch)
        )
        r = request("INVITE", 2, call_id="a84b4c76e66710", extra=[("Require", "100rel")])
        run.send(T0 + 0.010, UAC, PROXY, r)
        f = forward(r)
        run.send(T0 + 0.011, PROXY, UAS, f)
        ok = response(f, 200)
        run.send(T0 + 0.05, UAS, PROXY, ok)
        run.send(T0 + 0.051, PROXY, UAC, strip_via(ok))

    # extension-required
    with scenario() as run:
        inv = request("INVITE", 1, call_id="3848276298220188511", extra=[("Supported", "timer")])
        run.send(T0, UAC, UAS, inv)
        run.send(T0 + 0.01, UAS, UAC, response(inv, 421, extra=[("Require", "100rel")]))
        r = request(
            "INVITE", 2, call_id="3848276298220188511", extra=[("Supported", "100rel, timer")]
        )
        run.send(T0 + 0.02, UAC, UAS, r)
        run.send(T0 + 0.1, UAS, UAC, response(r, 200))

    # transfer + notify-rejected
    with scenario() as run:
        cid = "f81d4fae-7dec-11d0"
        ref = request(
            "REFER", 5, call_id=cid, to_tag="b1", extra=[("Refer-To", "<sip:carol@10.0.0.4>")]
        )
        run.send(T0, UAC, UAS, ref)
        run.send(T0 + 0.1, UAS, UAC, response(ref, 202))

        def nt(cseq: int, frag: str, state: str) -> SipMessage:
            return request(
                "NOTIFY",
                cseq,
                call_id=cid,
                from_tag="b1",
                to_tag="a1",
                via_host="10.0.0.3",
                extra=[
                    ("Event", "refer;id=5"),
                    ("Subscription-State", state),
                    ("Content-Type", "message/sipfrag;version=2.0"),
                ],
                body=(frag + "\r\n").encode(),
            )

        n1 = nt(1, "SIP/2.0 100 Trying", "active;expires=60")
        run.send(T0 + 0.2, UAS, UAC, n1)
        run.send(T0 + 0.21, UAC, UAS, response(n1, 481, to_tag=None))
        n2 = nt(2, "SIP/2.0 200 OK", "terminated;reason=noresource")
        run.send(T0 + 1.5, UAS, UAC, n2)
        run.send(T0 + 1.51, UAC, UAS, response(n2, 200, to_tag=None))

    def challenged(run: Run, ts: float, q: SipMessage, nonce: str) -> None:
        answered(
            run, ts, q, 401, ("WWW-Authenticate", f'Digest realm="pbx.example", nonce="{nonce}"')
        )

    def register(cseq: int, cid: str) -> SipMessage:
        credentials = 'Digest username="1001", realm="pbx.example", nonce="n1", response="x"'
        return request("REGISTER", cseq, call_id=cid, extra=[("Authorization", credentials)])

    # auth-challenge (one 401, then the registration succeeds) and auth-loop (401 after 401)
    with scenario() as run:
        cid = "843817637684230@998sdasdh09"
        challenged(run, T0, request("REGISTER", 1, call_id=cid), "n1")
        r = register(2, cid)
        run.send(T0 + 0.05, UAC, UAS, r)
        run.send(T0 + 0.06, UAS, UAC, response(r, 200))
    with scenario() as run:
        cid = "7ba6c43b02@10.0.0.1"
        challenged(run, T0, request("REGISTER", 1, call_id=cid), "n1")
        for c in (2, 3):
            challenged(run, T0 + c * 0.1, register(c, cid), f"n{c}")

    # 422, 423, 491, 302, 503, 500, 404 + reason + warning
    with scenario() as run:
        cid = "c422"
        inv = request("INVITE", 1, call_id=cid, extra=[("Session-Expires", "90")])
        answered(run, T0, inv, 422, ("Min-SE", "1800"))
        r = request(
            "INVITE", 2, call_id=cid, extra=[("Session-Expires", "1800"), ("Min-SE", "1800")]
        )
        run.send(T0 + 0.02, UAC, UAS, r)
        run.send(T0 + 0.1, UAS, UAC, response(r, 200))
        q = request(
            "REGISTER", 5, call_id="c423", extra=[("Contact", "<sip:alice@10.0.0.1>;expires=60")]
        )
        answered(run, T0 + 1, q, 423, ("Min-Expires", "3600"))
        r = request(
            "REGISTER", 6, call_id="c423", extra=[("Contact", "<sip:alice@10.0.0.1>;expires=3600")]
        )
        answered(run, T0 + 1.02, r, 200)
        m = request("INVITE", 1, call_id="c302")
        answered(run, T0 + 2, m, 302, ("Contact", "<sip:bob@10.0.0.9>;q=0.7"))
        m = request("INVITE", 1, call_id="c503")
        answered(
            run, T0 + 3, m, 503, ("Retry-After", "120 (maintenance)"), ("Reason", "Q.850;cause=34")
        )
        answered(run, T0 + 4, request("OPTIONS", 1, call_id="c500"), 500)
        m = request("INVITE", 1, call_id="c488")
        answered(run, T0 + 5, m, 488, ("Warning", '305 gw.example "Incompatible media format"'))
        m = request("OPTIONS", 1, call_id="c408", extra=[("Supported", "timer, precondtion")])
        run.send(T0 + 6, UAC, UAS, m)

    # late-response: a CANCEL answered 408 after its Timer F, its INVITE 408 instead of 487
    with scenario() as run:
        cid = "clate"
        inv = request("INVITE", 1, call_id=cid)
        run.send(T0, UAC, UAS, inv)
        run.send(T0 + 0.1, UAS, UAC, response(inv, 100, to_tag=None))
        cancel = request("CANCEL", 1, call_id=cid, branch=inv.branch)
        for d in (0.0, 0.5, 1.5):
            run.send(T0 + 10 + d, UAC, UAS, cancel)
        run.send(T0 + 12.6, UAS, UAC, response(inv, 408, "Request Timeout"))
        run.send(T0 + 12.61, UAC, UAS, request("ACK", 1, call_id=cid, branch=inv.branch))
        for d in (3.5, 7.5, 11.5, 15.5, 19.5, 23.5, 27.5, 31.5):
            run.send(T0 + 10 + d, UAC, UAS, cancel)
        run.send(T0 + 43, UAS, UAC, response(cancel, 408, "Request Timeout"))

    # glare
    with scenario() as run:
        cid = "cglare"
        inv = request("INVITE", 1, call_id=cid)
        run.send(T0, UAC, UAS, inv)
        run.send(T0 + 0.1, UAS, UAC, response(inv, 200))
        run.send(T0 + 0.2, UAC, UAS, request("ACK", 1, call_id=cid, to_tag="b1"))
        mine = request("INVITE", 2, call_id=cid, to_tag="b1")
        theirs = request("INVITE", 7, call_id=cid, from_tag="b1", to_tag="a1", via_host="10.0.0.3")
        run.send(T0 + 10, UAC, UAS, mine)
        run.send(T0 + 10.001, UAS, UAC, theirs)
        run.send(T0 + 10.01, UAS, UAC, response(mine, 491, to_tag=None))
        r = request("INVITE", 3, call_id=cid, to_tag="b1")
        run.send(T0 + 12.61, UAC, UAS, r)
        run.send(T0 + 12.7, UAS, UAC, response(r, 200, to_tag=None))

    # no-final-response + retransmissions + protocol violation
    with scenario() as run:
        m = request("INVITE", 1, call_id="cnoanswer")
        for d in (0, 0.5, 1.5, 3.5, 7.5, 15.5, 31.5):
            run.send(T0 + d, UAC, UAS, m)
        o = request("OPTIONS", 1, call_id="cstorm")
        for i in range(6):
            run.send(T0 + i * 0.5, UAC, UAS, o)
        run.send(T0 + 3.1, UAS, UAC, response(o, 200))
        q = request("OPTIONS", 1, call_id="cicmp")
        run.send(T0 + 2, UAC, UAS, q)
        run.quoted(T0 + 2.0001, UAC, UAS, q, (3, 3, UAS[0]))
        i2 = request("INVITE", 1, call_id="cviol")
        run.send(T0 + 1, UAC, UAS, i2)
        run.send(T0 + 1.1, UAS, UAC, response(i2, 180))
        run.send(T0 + 1.2, UAC, UAS, request("ACK", 1, call_id="cviol", to_tag="b1"))
    # tls-failure comes from the TCP stage, not the correlator: its one producer.
    failure = TlsFailure(
        "alert", T0, (4,), ("192.0.2.10", 40123), ("192.0.2.20", 5061), "client", 48, 2
    )
    out["tls-failure"] = {"schema": 1, "type": "finding", **tls_failure_data(failure)}
    return out
