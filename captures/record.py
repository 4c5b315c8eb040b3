#!/usr/bin/env python3
"""Re-record the bundled captures with real SIP software on loopback.

Each case runs sipp as Alice (UAC, 127.0.0.11) and sipp as Bob (UAS, 127.0.0.13), with Kamailio
as a record-routing proxy (127.0.0.12) where the case needs a second hop, while tcpdump records
``lo``. Everything runs inside a private network namespace (``unshare --net``), so no other SIP
traffic on the machine can leak into a capture and nothing leaves the machine.

    sudo python3 captures/record.py            # all cases
    sudo python3 captures/record.py transfer-succeeded bad-extension-proxy

The sipp scenarios are built from the fragments below and written to ``captures/scenarios/``
(committed, so they can be read and reused); the golden JSON lines files are regenerated with
``python3 captures/make_golden.py`` afterwards.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
SCENARIOS = HERE / "scenarios"
ALICE, PROXY, BOB = "127.0.0.11", "127.0.0.12", "127.0.0.13"
T = "[transport]"

# --------------------------------------------------------------------------------------------
# Fragments of sipp scenarios. Alice's side uses sipp's own dialog keywords ([next_url], [routes],
# [last_To:]); Bob remembers Alice's From/To so that he can send in-dialog requests himself.


def _xml(name: str, comment: str, body: str) -> str:
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<!DOCTYPE scenario SYSTEM "sipp.dtd">\n'
        f"<!-- {comment} -->\n"
        f'<scenario name="{name}">\n{body}</scenario>\n'
    )


def _send(text: str, retrans: bool = False) -> str:
    attr = ' retrans="500"' if retrans else ""
    lines = "\n".join("      " + line if line else "" for line in text.strip("\n").split("\n"))
    return f"  <send{attr}>\n    <![CDATA[\n{lines}\n    ]]>\n  </send>\n"


SDP_ALICE = """v=0
o=alice 1 1 IN IP4 [local_ip]
s=-
c=IN IP4 [local_ip]
t=0 0
m=audio [auto_media_port] RTP/AVP 0
a=rtpmap:0 PCMU/8000"""

SDP_BOB = SDP_ALICE.replace("alice", "bob")


def alice_invite(cseq: int, target: str, extra: str = "") -> str:
    extra_lines = (extra.strip() + "\n") if extra.strip() else ""
    return _send(
        f"""INVITE sip:bob@{target} SIP/2.0
Via: SIP/2.0/{T} [local_ip]:[local_port];branch=[branch]
From: "Alice" <sip:alice@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
To: <sip:bob@{target}>
Call-ID: [call_id]
CSeq: {cseq} INVITE
Contact: <sip:alice@[local_ip]:[local_port]>
Max-Forwards: 70
{extra_lines}Allow: INVITE, ACK, CANCEL, BYE, REFER, NOTIFY, OPTIONS
Content-Type: application/sdp
Content-Length: [len]

{SDP_ALICE}""",
        retrans=True,
    )


def alice_ack_failure(cseq: int, target: str) -> str:
    """ACK to a non-2xx final response: same branch and Request-URI as the INVITE (§17.1.1.3)."""
    return _send(
        f"""ACK sip:bob@{target} SIP/2.0
[last_Via:]
From: "Alice" <sip:alice@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
[last_To:]
Call-ID: [call_id]
CSeq: {cseq} ACK
Max-Forwards: 70
Content-Length: 0"""
    )


def alice_in_dialog(method: str, cseq: int, extra: str = "", retrans: bool = True) -> str:
    extra_lines = (extra.strip() + "\n") if extra.strip() else ""
    contact = "" if method == "ACK" else "Contact: <sip:alice@[local_ip]:[local_port]>\n"
    return _send(
        f"""{method} [next_url] SIP/2.0
Via: SIP/2.0/{T} [local_ip]:[local_port];branch=[branch]
[routes]
From: "Alice" <sip:alice@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
[last_To:]
Call-ID: [call_id]
CSeq: {cseq} {method}
{contact}Max-Forwards: 70
{extra_lines}Content-Length: 0""",
        retrans=retrans,
    )


OK_TO_LAST = _send(
    """SIP/2.0 200 OK
[last_Via:]
[last_From:]
[last_To:]
[last_Call-ID:]
[last_CSeq:]
Content-Length: 0"""
)


def recv(what: str, optional: bool = False, extra: str = "") -> str:
    kind = "response" if what.isdigit() else "request"
    opt = ' optional="true"' if optional else ""
    return f'  <recv {kind}="{what}"{opt}{extra}/>\n'


def pause(milliseconds: int) -> str:
    return f'  <pause milliseconds="{milliseconds}"/>\n'


def alice_answer_notify() -> str:
    return recv("NOTIFY") + OK_TO_LAST


def alice_setup(target: str, extra: str = "", cseq: int = 1) -> str:
    """INVITE → 100/180 → 200 → ACK: an established call."""
    return (
        alice_invite(cseq, target, extra)
        + recv("100", optional=True)
        + recv("180", optional=True)
        + recv("200", extra=' rtd="true" rrs="true"')
        + alice_in_dialog("ACK", cseq, retrans=False)
    )


def alice_hangup(cseq: int) -> str:
    return alice_in_dialog("BYE", cseq) + recv("200")


BOB_RECV_INVITE = """  <recv request="INVITE" rrs="true">
    <action>
      <ereg regexp="[^ ].*" search_in="hdr" header="From:" check_it="true" assign_to="alice"/>
      <ereg regexp="[^ ].*" search_in="hdr" header="To:" check_it="true" assign_to="bob"/>
    </action>
  </recv>
"""


def bob_reply(status: str, extra: str = "", sdp: bool = False, tag: bool = True) -> str:
    to_tag = ";tag=[pid]SIPpTag01[call_number]" if tag else ""
    extra_lines = (extra.strip() + "\n") if extra.strip() else ""
    body = (
        f"Content-Type: application/sdp\nContent-Length: [len]\n\n{SDP_BOB}"
        if sdp
        else ("Content-Length: 0")
    )
    return _send(
        f"""SIP/2.0 {status}
[last_Via:]
[last_Record-Route:]
[last_From:]
[last_To:]{to_tag}
[last_Call-ID:]
[last_CSeq:]
Contact: <sip:bob@[local_ip]:[local_port]>
{extra_lines}{body}""",
        retrans=status.startswith("2") and sdp,
    )


def bob_reply_in_dialog(status: str, extra: str = "") -> str:
    """A response to an in-dialog request: the To tag is already there."""
    extra_lines = (extra.strip() + "\n") if extra.strip() else ""
    return _send(
        f"""SIP/2.0 {status}
[last_Via:]
[last_From:]
[last_To:]
[last_Call-ID:]
[last_CSeq:]
Contact: <sip:bob@[local_ip]:[local_port]>
{extra_lines}Content-Length: 0"""
    )


def bob_answer(remember: bool = False) -> str:
    """Receive an INVITE and answer 180, 200; ``remember`` keeps From/To for Bob's own requests."""
    return (
        (BOB_RECV_INVITE if remember else '  <recv request="INVITE" rrs="true"/>\n')
        + bob_reply("180 Ringing")
        + bob_reply("200 OK", sdp=True)
        + recv("ACK")
    )


def bob_request(method: str, cseq: int, extra: str = "", body: str = "") -> str:
    extra_lines = (extra.strip() + "\n") if extra.strip() else ""
    if body:
        tail = f"Content-Type: message/sipfrag;version=2.0\nContent-Length: [len]\n\n{body}"
    else:
        tail = "Content-Length: 0"
    return _send(
        f"""{method} [next_url] SIP/2.0
Via: SIP/2.0/{T} [local_ip]:[local_port];branch=[branch]
[routes]
From: [$bob];tag=[pid]SIPpTag01[call_number]
To: [$alice]
Call-ID: [call_id]
CSeq: {cseq} {method}
Contact: <sip:bob@[local_ip]:[local_port]>
Max-Forwards: 70
{extra_lines}{tail}""",
        retrans=True,
    )


def bob_notify(cseq: int, frag: str, state: str, event: str = "refer") -> str:
    return bob_request(
        "NOTIFY", cseq, f"Event: {event}\nSubscription-State: {state}", body=f"SIP/2.0 {frag}"
    ) + recv("200")


def bob_hangup(cseq: int) -> str:
    return bob_request("BYE", cseq) + recv("200")


def alice_wait_bye() -> str:
    return recv("BYE") + OK_TO_LAST


def bob_wait_bye() -> str:
    return recv("BYE") + bob_reply_in_dialog("200 OK")


# Media cases: RTP from sipp's own pcap player (sip-tester ships a G.711 A-law recording).
G711A_PCAP = "/usr/share/sip-tester/g711a.pcap"


def sdp_with(user: str, formats: str, rtpmap: str) -> str:
    return f"""v=0
o={user} 1 1 IN IP4 [local_ip]
s=-
c=IN IP4 [local_ip]
t=0 0
m=audio [auto_media_port] RTP/AVP {formats}
{rtpmap}"""


SDP_ALICE_G711 = sdp_with("alice", "8 0", "a=rtpmap:8 PCMA/8000\na=rtpmap:0 PCMU/8000")
SDP_BOB_G711 = sdp_with("bob", "8 0", "a=rtpmap:8 PCMA/8000\na=rtpmap:0 PCMU/8000")
SDP_ALICE_SRTP = sdp_with(
    "alice",
    "8",
    "a=rtpmap:8 PCMA/8000\n"
    "a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:d0RmdmcmVCspeEc3QGZiNWpVLFJhQX1cfHAwJSoj",
).replace("RTP/AVP", "RTP/SAVP")
SDP_ALICE_G729 = sdp_with("alice", "18", "a=rtpmap:18 G729/8000\na=fmtp:18 annexb=no")


def _as_sent(text: str) -> str:
    """``text`` indented as :func:`_send` writes it into the CDATA section."""
    return "\n".join("      " + line if line else "" for line in text.split("\n"))


def alice_invite_sdp(cseq: int, target: str, sdp: str) -> str:
    """An INVITE like :func:`alice_invite` with the SDP body given."""
    return alice_invite(cseq, target).replace(_as_sent(SDP_ALICE), _as_sent(sdp))


def play_audio(path: str) -> str:
    """sipp plays the RTP of a pcap to the media address of the peer's SDP."""
    return f"""  <nop>
    <action>
      <exec play_pcap_audio="{path}"/>
    </action>
  </nop>
"""


def bob_reply_sdp(status: str, sdp: str, extra: str = "") -> str:
    """Like :func:`bob_reply` with an SDP body of its own (retransmitted when it is a 2xx)."""
    return bob_reply(status, extra, sdp=True).replace(_as_sent(SDP_BOB), _as_sent(sdp))


# --------------------------------------------------------------------------------------------
# The cases.


@dataclass
class Case:
    name: str
    #: One line on what the case shows; it becomes the comment at the top of the committed
    #: scenario files, so rewording it changes those files (tests/test_record_script.py holds
    #: them equal to what :func:`scenario_xml` renders).
    about: str
    alice: str
    bob: str | None
    proxy: bool = False
    #: Kamailio preprocessor defines (``-A NAME``) for this case.
    proxy_defines: list[str] = field(default_factory=list)
    alice_args: list[str] = field(default_factory=list)
    #: Seconds to keep recording after Alice's sipp exits (lets late retransmissions in).
    linger: float = 0.5
    #: Kill Alice after this many seconds (unanswered cases); None: wait for her to finish.
    alice_deadline: float | None = None


REFER_TO = "Refer-To: <sip:carol@127.0.0.14:5060>\nReferred-By: <sip:alice@[local_ip]:[local_port]>"
DIRECT = f"{BOB}:5060"


def alice_refers(refer: str = REFER_TO, supported: str = "") -> str:
    """An established call, a short pause, then Alice's REFER (CSeq 2) to Bob."""
    return alice_setup(DIRECT, supported) + pause(200) + alice_in_dialog("REFER", 2, refer)


def bob_answers_refer(status: str, extra: str = "") -> str:
    """Bob answers the call and the REFER with ``status``, sends no NOTIFY, and waits for BYE."""
    return bob_answer() + recv("REFER") + bob_reply_in_dialog(status, extra) + bob_wait_bye()


def alice_retries(target: str, first: str, refused: str, retry: str = "", auth: str = "") -> str:
    """INVITE with ``first`` headers, refused with ``refused`` (and ACKed); the retry with
    ``retry`` headers (CSeq 2) establishes the call, and Alice hangs up (CSeq 3)."""
    return (
        alice_invite(1, target, first)
        + recv("100", optional=True)
        + recv(refused, extra=auth)
        + alice_ack_failure(1, target)
        + alice_setup(target, retry, cseq=2)
        + pause(200)
        + alice_hangup(3)
    )


def bob_refuses_then_answers(status: str, extra: str) -> str:
    """Bob refuses the first INVITE himself (``status`` with ``extra``), then answers the retry."""
    return (
        '  <recv request="INVITE"/>\n'
        + bob_reply(status, extra)
        + recv("ACK")
        + bob_answer()
        + bob_wait_bye()
    )


def transfer_case(name: str, about: str, refer_status: str, final: str) -> Case:
    alice = (
        alice_refers()
        + recv(refer_status.split(maxsplit=1)[0])
        + alice_answer_notify()
        + alice_answer_notify()
        + alice_wait_bye()
    )
    bob = (
        bob_answer(remember=True)
        + recv("REFER")
        + bob_reply_in_dialog(refer_status)
        + bob_notify(1, "100 Trying", "active;expires=60")
        + pause(300)
        + bob_notify(2, final, "terminated;reason=noresource")
        + pause(200)
        + bob_hangup(3)
    )
    return Case(name, about, alice, bob)


def cases() -> list[Case]:
    result = [
        transfer_case(
            "transfer-succeeded",
            "Blind transfer: REFER accepted with 202, NOTIFY 100 Trying, NOTIFY 200 OK "
            "(terminated).",
            "202 Accepted",
            "200 OK",
        ),
        transfer_case(
            "transfer-failed",
            "Blind transfer that fails: REFER accepted with 200 (RFC 7647), final sipfrag 486 "
            "Busy Here.",
            "200 OK",
            "486 Busy Here",
        ),
        transfer_case(
            "transfer-declined",
            "Blind transfer that fails: REFER accepted with 202, final sipfrag 603 Declined.",
            "202 Accepted",
            "603 Declined",
        ),
    ]
    # The REFER itself is refused.
    result.append(
        Case(
            "transfer-rejected",
            "REFER rejected with 603 Decline: no subscription, no NOTIFY; Alice hangs up.",
            alice_refers() + recv("603") + alice_hangup(3),
            bob_answers_refer("603 Decline"),
        )
    )
    # Accepted, then silence: the refer subscription never reports.
    result.append(
        Case(
            "transfer-no-notify",
            "REFER accepted with 202 but no NOTIFY ever comes; Alice hangs up 34 s later.",
            alice_refers() + recv("202") + pause(34000) + alice_hangup(3),
            bob_answers_refer("202 Accepted"),
        )
    )
    # RFC 4488: Refer-Sub: false accepted, so no NOTIFY is due.
    norefersub = "Refer-Sub: false\nSupported: norefersub"
    result.append(
        Case(
            "transfer-norefersub",
            "REFER with Refer-Sub: false accepted with 200 and Refer-Sub: false: no NOTIFY is due.",
            alice_refers(f"{REFER_TO}\n{norefersub}", "Supported: norefersub")
            + recv("200")
            + pause(500)
            + alice_hangup(3),
            bob_answers_refer("200 OK", norefersub),
        )
    )
    # RFC 3515 §2.4.6: two REFERs in one dialog, NOTIFYs told apart by Event: refer;id=CSeq.
    result.append(
        Case(
            "transfer-two-refers",
            "Two REFERs in one dialog: the first fails (503 via id=2), the second succeeds (id=3).",
            alice_refers()
            + recv("202")
            + alice_answer_notify()
            + alice_answer_notify()
            + pause(200)
            + alice_in_dialog("REFER", 3, REFER_TO.replace("carol", "dave"))
            + recv("202")
            + alice_answer_notify()
            + alice_answer_notify()
            + alice_wait_bye(),
            bob_answer(remember=True)
            + recv("REFER")
            + bob_reply_in_dialog("202 Accepted")
            + bob_notify(1, "100 Trying", "active;expires=60", "refer;id=2")
            + bob_notify(2, "503 Service Unavailable", "terminated;reason=noresource", "refer;id=2")
            + recv("REFER")
            + bob_reply_in_dialog("202 Accepted")
            + bob_notify(3, "100 Trying", "active;expires=60", "refer;id=3")
            + bob_notify(4, "200 OK", "terminated;reason=noresource", "refer;id=3")
            + pause(200)
            + bob_hangup(5),
        )
    )
    # RFC 3261 §8.2.2.3: the UAS does not know an option tag in Require.
    result.append(
        Case(
            "bad-extension-uas",
            "INVITE with Require: 100rel, foo; Bob answers 420 with Unsupported: foo; the retry "
            "without foo succeeds.",
            alice_retries(
                DIRECT, "Require: 100rel, foo\nSupported: 100rel", "420", "Supported: 100rel"
            ),
            bob_refuses_then_answers("420 Bad Extension", "Unsupported: foo"),
        )
    )
    # RFC 3261 §16.3 step 5: a proxy does not know an option tag in Proxy-Require.
    via_proxy = f"{BOB}:5060"
    result.append(
        Case(
            "bad-extension-proxy",
            "INVITE through Kamailio with Proxy-Require: foo; Kamailio answers 420 "
            "Unsupported: foo; the retry without it is relayed to Bob and succeeds.",
            alice_retries(via_proxy, "Proxy-Require: foo", "420"),
            bob_answer() + bob_wait_bye(),
            proxy=True,
        )
    )
    # RFC 3261 §8.2.4 / §21.4.16: the UAS requires an extension the request did not offer.
    result.append(
        Case(
            "extension-required",
            "INVITE without Supported: timer; Bob answers 421 with Require: timer; the retry with "
            "Supported: timer and Session-Expires succeeds.",
            alice_retries(
                DIRECT,
                "Supported: replaces",
                "421",
                "Supported: replaces, timer\nSession-Expires: 1800;refresher=uac",
            ),
            bob_refuses_then_answers("421 Extension Required", "Require: timer"),
        )
    )
    # RFC 3261 §22.3: a proxy challenge and the retry with credentials.
    result.append(
        Case(
            "auth-challenge",
            "INVITE through Kamailio, challenged with 407; the retry with Proxy-Authorization is "
            "relayed to Bob and succeeds.",
            alice_retries(
                via_proxy,
                "",
                "407",
                "[authentication username=alice password=secret]",
                auth=' auth="true"',
            ),
            bob_answer() + bob_wait_bye(),
            proxy=True,
            proxy_defines=["WITH_AUTH"],
        )
    )
    # RFC 3261 §17.1.1.2: nobody answers; Timer A retransmissions until Timer B (32 s).
    result.append(
        Case(
            "invite-unanswered",
            "INVITE to an address where nothing answers SIP: retransmitted on Timer A until "
            "Timer B.",
            alice_invite(1, DIRECT) + recv("100"),
            None,
            alice_args=["-max_invite_retrans", "6"],
            alice_deadline=34.0,
        )
    )
    # One-way audio: Alice's RTP reaches Bob, Bob sends none back.
    result.append(
        Case(
            "media-one-way",
            "Call with PCMA offered both ways; Alice plays 7 s of G.711 RTP to Bob's SDP address, "
            "Bob sends no RTP back; Alice hangs up.",
            alice_invite_sdp(1, DIRECT, SDP_ALICE_G711)
            + recv("100", optional=True)
            + recv("180", optional=True)
            + recv("200", extra=' rtd="true" rrs="true"')
            + alice_in_dialog("ACK", 1, retrans=False)
            + play_audio(G711A_PCAP)
            + pause(7500)
            + alice_hangup(2),
            '  <recv request="INVITE" rrs="true"/>\n'
            + bob_reply("180 Ringing")
            + bob_reply_sdp("200 OK", SDP_BOB_G711)
            + recv("ACK")
            + bob_wait_bye(),
            linger=1.0,
        )
    )
    # RFC 3261 §21.4.26 / §20.43: no common codec, 488 with Warning 305 and Bob's own SDP.
    result.append(
        Case(
            "media-codec-488",
            "INVITE offering only G.729; Bob answers 488 Not Acceptable Here with Warning 305 "
            "and his PCMA/PCMU SDP.",
            alice_invite_sdp(1, DIRECT, SDP_ALICE_G729)
            + recv("100", optional=True)
            + recv("488")
            + alice_ack_failure(1, DIRECT),
            '  <recv request="INVITE" rrs="true"/>\n'
            + bob_reply_sdp(
                "488 Not Acceptable Here",
                SDP_BOB_G711,
                'Warning: 305 127.0.0.13 "Incompatible media format: G729 not supported"',
            )
            + recv("ACK"),
        )
    )
    # RFC 3711 / RFC 4568: SRTP offered, plain RTP answered.
    result.append(
        Case(
            "media-srtp-mismatch",
            "INVITE offering RTP/SAVP with a=crypto; Bob answers 200 with plain RTP/AVP; Alice "
            "hangs up.",
            alice_invite_sdp(1, DIRECT, SDP_ALICE_SRTP)
            + recv("100", optional=True)
            + recv("180", optional=True)
            + recv("200", extra=' rtd="true" rrs="true"')
            + alice_in_dialog("ACK", 1, retrans=False)
            + pause(500)
            + alice_hangup(2),
            '  <recv request="INVITE" rrs="true"/>\n'
            + bob_reply("180 Ringing")
            + bob_reply_sdp("200 OK", SDP_BOB_G711)
            + recv("ACK")
            + bob_wait_bye(),
        )
    )
    return result


def sides(case: Case) -> dict[str, str]:
    """The sipp script of each side ``case`` plays: ``alice``, and ``bob`` unless nobody answers."""
    return {"alice": case.alice} | ({"bob": case.bob} if case.bob is not None else {})


def scenario_xml(case: Case, who: str) -> str:
    """The scenario file ``captures/scenarios/NAME.WHO.xml`` exactly as a recording writes it.

    The one place a case becomes XML: :func:`record` writes this text before it plays it, and the
    test compares it with the committed files, so the bundled captures stay reproducible from
    the committed scenarios.
    """
    return _xml(f"{case.name}-{who}", case.about, sides(case)[who])


# --------------------------------------------------------------------------------------------
# Recording.

KAMAILIO_CFG = HERE / "scenarios" / "kamailio.cfg"


def _wait_port(proto_flag: str, ip: str, timeout: float = 5.0) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        out = subprocess.run(
            ["ss", "-lnu" if proto_flag == "u" else "-lnt"],
            check=False,
            capture_output=True,
            text=True,
        ).stdout
        if f"{ip}:5060" in out:
            return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {ip}:5060")


def _sipp(case: Case, who: str, ip: str, work: Path, *args: str) -> subprocess.Popen[bytes]:
    """Write ``who``'s scenario of ``case`` to captures/scenarios/ and play it once from ``ip``.

    Errors go to ``WORK/NAME.WHO.err``, which :func:`record` prints after the case.
    """
    scenario = SCENARIOS / f"{case.name}.{who}.xml"
    scenario.write_text(scenario_xml(case, who))
    return subprocess.Popen(
        [
            "sipp",
            "-sf",
            str(scenario),
            "-i",
            ip,
            "-p",
            "5060",
            "-m",
            "1",
            "-nostdin",
            "-trace_err",
            "-error_file",
            str(work / f"{case.name}.{who}.err"),
            *args,
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        cwd=work,
    )


def record(case: Case, work: Path) -> None:
    procs: list[subprocess.Popen[bytes]] = []
    out = HERE / f"{case.name}.pcap"
    dump = subprocess.Popen(
        ["tcpdump", "-i", "lo", "--immediate-mode", "-U", "-s", "0", "-w", str(out), "udp or tcp"],
        stderr=subprocess.DEVNULL,
    )
    time.sleep(0.7)
    try:
        if case.proxy:
            procs.append(
                subprocess.Popen(
                    [
                        "kamailio",
                        "-f",
                        str(KAMAILIO_CFG),
                        "-DD",
                        "-E",
                        "-n",
                        "1",
                        "-Y",
                        str(work),
                        *(arg for name in case.proxy_defines for arg in ("-A", name)),
                    ],
                    stdout=subprocess.DEVNULL,
                    stderr=(work / "kamailio.log").open("wb"),
                )
            )
            _wait_port("u", PROXY)
        if case.bob is not None:
            procs.append(_sipp(case, "bob", BOB, work))
            _wait_port("u", BOB)
        elif case.alice_deadline is not None:
            # A socket that swallows every datagram: the INVITE reaches a host, nothing answers.
            procs.append(
                subprocess.Popen(
                    [
                        sys.executable,
                        "-c",
                        "import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); "
                        f"s.bind(('{BOB}', 5060))\nwhile True: s.recv(65535)",
                    ],
                )
            )
            _wait_port("u", BOB)
        remote = f"{PROXY if case.proxy else BOB}:5060"
        limits = ["-timeout", "60", *case.alice_args]
        alice = _sipp(case, "alice", ALICE, work, *limits, remote)
        try:
            alice.wait(timeout=case.alice_deadline or 70)
        except subprocess.TimeoutExpired:
            alice.kill()
            alice.wait()
        rc = alice.returncode
        if case.alice_deadline is None and rc != 0:
            err = work / f"{case.name}.alice.err"
            detail = err.read_text(errors="replace") if err.exists() else ""
            raise RuntimeError(f"{case.name}: Alice's sipp exited {rc}\n{detail}")
        time.sleep(case.linger)
        for err in sorted(work.glob(f"{case.name}.*.err")):
            print(err.read_text(errors="replace"))
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
        dump.terminate()
        dump.wait()
    print(f"recorded {out.relative_to(HERE.parent)}")


def main(argv: list[str]) -> int:
    if os.environ.get("SIPWATCH_RECORD_NETNS") != "1":
        env = dict(os.environ, SIPWATCH_RECORD_NETNS="1")
        return subprocess.call(["unshare", "--net", sys.executable, __file__, *argv], env=env)
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    for tool in ("sipp", "tcpdump", "kamailio"):
        if shutil.which(tool) is None:
            print(f"record.py: {tool} not found (apt-get install sip-tester tcpdump kamailio)")
            return 2
    wanted = set(argv)
    SCENARIOS.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        for case in cases():
            if wanted and case.name not in wanted:
                continue
            record(case, Path(tmp))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
