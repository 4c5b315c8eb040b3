"""Unit tests of the rule logic of ``sipwatch check`` on small hand-made records.

The rules are tested end to end on the bundled captures in test_check_cli.py; these cover the
corners the captures do not show (hop copies, CANCEL, auth retries, folding, the caps).
"""

from __future__ import annotations

from typing import Any

from sipwatch.check.config import parse_rules
from sipwatch.check.engine import RuleEngine
from sipwatch.check.rules import MAX_PROBLEMS_PER_RULE, RULES, Evaluation, finding_problem
from sipwatch.check.verdict import EXIT_ERROR, error_verdict, exit_code, judge
from sipwatch.records import FindingRecord, MalformedRecord, MessageRecord
from sipwatch.sip.message import SipMessage
from sipwatch.sip.parser import parse_message

ALICE, PROXY, BOB = "10.0.0.1:5060", "10.0.0.2:5060", "10.0.0.3:5060"


def sip(
    start: str,
    cseq: str,
    call_id: str = "call-1",
    branch: str = "z9hG4bK1",
    to_tag: str = "",
) -> SipMessage:
    to = "<sip:bob@b>" + (f";tag={to_tag}" if to_tag else "")
    raw = (
        f"{start}\r\nVia: SIP/2.0/UDP a;branch={branch}\r\nFrom: <sip:alice@a>;tag=f1\r\n"
        f"To: {to}\r\nCall-ID: {call_id}\r\nCSeq: {cseq}\r\nContent-Length: 0\r\n\r\n"
    ).encode()
    msg = parse_message(raw)
    assert isinstance(msg, SipMessage)
    return msg


def rec(
    frame: int,
    msg: SipMessage,
    src: str = ALICE,
    dst: str = BOB,
    ts: float | None = None,
    retransmission: bool = False,
) -> MessageRecord:
    return MessageRecord(
        frame / 10 if ts is None else ts, frame, src, dst, "udp", msg, retransmission
    )


def request(frame: int, method: str, cseq: int, **kw: Any) -> MessageRecord:
    src, dst = kw.pop("src", ALICE), kw.pop("dst", BOB)
    ts, retrans = kw.pop("ts", None), kw.pop("retransmission", False)
    return rec(
        frame, sip(f"{method} sip:bob@b SIP/2.0", f"{cseq} {method}", **kw), src, dst, ts, retrans
    )


def response(
    frame: int, status: str, cseq: int, method: str = "INVITE", **kw: Any
) -> MessageRecord:
    src, dst = kw.pop("src", BOB), kw.pop("dst", ALICE)
    ts, retrans = kw.pop("ts", None), kw.pop("retransmission", False)
    return rec(frame, sip(f"SIP/2.0 {status}", f"{cseq} {method}", **kw), src, dst, ts, retrans)


def evaluate(records: list[Any], rules: str = "", no_sip: bool = False) -> Evaluation:
    """Run the engine; the ``no-sip`` warning is dropped unless asked for (most tests feed
    findings only)."""
    engine = RuleEngine(parse_rules(rules, "r.toml"))
    for record in records:
        engine.feed(record)
    evaluation = engine.finish()
    if not no_sip:
        evaluation.problems = [p for p in evaluation.problems if p.rule != "no-sip"]
    return evaluation


def rules_of(evaluation: Evaluation) -> list[tuple[str, str]]:
    return [(p.rule, p.level) for p in evaluation.problems]


def finding(kind: str, **fields: Any) -> dict[str, Any]:
    return {
        "kind": kind,
        "severity": "error",
        "ts": 1.0,
        "call_id": "call-1",
        "frames": [5, 6],
        "text": f"{kind} text",
        "remedy": f"{kind} remedy",
        **fields,
    }


# -- findings ----------------------------------------------------------------------------------


def test_transfer_outcomes() -> None:
    failing = {"failed", "rejected", "no-notify"}
    for outcome in (
        "succeeded",
        "failed",
        "rejected",
        "no-subscription",
        "no-notify",
        "in-progress",
    ):
        problem = finding_problem(finding("transfer", outcome=outcome, accepted=603))
        assert (problem is not None) is (outcome in failing), outcome
        if problem is not None:
            assert (problem.rule, problem.level, problem.method) == (
                "failed-transfer",
                "fail",
                "REFER",
            )
            assert problem.text == "transfer text"
            assert problem.remedy == "transfer remedy"
    rejected = finding_problem(finding("transfer", outcome="rejected", accepted=603))
    assert rejected is not None and rejected.status == 603


def test_extension_retry() -> None:
    for kind, status in (("bad-extension", 420), ("extension-required", 421)):
        assert (
            finding_problem(finding(kind, method="INVITE", retry={"cseq": 2, "status": 200}))
            is None
        )
        for retry in (None, {"cseq": 2, "status": 420}, {"cseq": 2, "status": None}):
            problem = finding_problem(finding(kind, method="INVITE", retry=retry))
            assert problem is not None
            assert (problem.rule, problem.level, problem.status) == (
                "extension-retry",
                "fail",
                status,
            )


def test_other_finding_rules() -> None:
    cases = {
        "no-final-response": ("no-final-response", "fail"),
        "retransmissions": ("retransmission-storm", "warn"),
        "auth-loop": ("auth-loop", "warn"),
    }
    for kind, expected in cases.items():
        problem = finding_problem(finding(kind))
        assert problem is not None and (problem.rule, problem.level) == expected
    for kind in ("auth-challenge", "redirect", "reason", "glare", "protocol-violation"):
        assert finding_problem(finding(kind)) is None


def test_ignored_call_ids_hide_findings_and_messages() -> None:
    records = [
        FindingRecord(finding("transfer", outcome="failed", call_id="keepalive-9")),
        response(3, "503 Service Unavailable", 1, call_id="keepalive-9"),
        response(4, "503 Service Unavailable", 1, call_id="real"),
    ]
    result = evaluate(records, 'ignore_call_ids = ["keepalive-"]')
    assert [(p.rule, p.call_id) for p in result.problems] == [("server-or-global-failure", "real")]
    assert result.findings == []


# -- response codes ------------------------------------------------------------------------------


def test_5xx_seen_on_two_hops_and_retransmitted_is_one_problem() -> None:
    records = [
        request(1, "INVITE", 1),
        response(2, "503 Service Unavailable", 1, src=BOB, dst=PROXY, branch="z9hG4bKp"),
        response(3, "503 Service Unavailable", 1, src=PROXY, dst=ALICE),
        response(4, "503 Service Unavailable", 1, src=PROXY, dst=ALICE, retransmission=True),
    ]
    result = evaluate(records)
    assert rules_of(result) == [("server-or-global-failure", "fail")]
    problem = result.problems[0]
    assert problem.frames == (2, 3, 4)
    assert problem.text == (f"INVITE CSeq 1 got 503 Service Unavailable from {BOB} (frame 2).")
    assert (problem.method, problem.status, problem.kind) == ("INVITE", 503, "status")


def test_6xx_fails_4xx_warns_2xx_and_1xx_pass() -> None:
    records = [
        response(1, "100 Trying", 1),
        response(2, "200 OK", 1),
        response(3, "486 Busy Here", 2),
        response(4, "603 Decline", 3),
    ]
    assert rules_of(evaluate(records)) == [
        ("client-failure", "warn"),
        ("server-or-global-failure", "fail"),
    ]


def test_challenge_followed_by_successful_retry_is_normal() -> None:
    ok = [response(2, "407 Proxy Authentication Required", 1), response(5, "200 OK", 2)]
    assert evaluate(ok).problems == []
    # Challenged twice (proxy, then UAS), then through: still normal.
    twice = [
        response(2, "407 Proxy Authentication Required", 1),
        response(4, "401 Unauthorized", 2),
        response(6, "200 OK", 3),
    ]
    assert evaluate(twice).problems == []
    # The retry passed the challenge but failed otherwise: the 403 is reported, once.
    bad = [response(2, "407 Proxy Authentication Required", 1), response(5, "403 Forbidden", 2)]
    assert [p.status for p in evaluate(bad).problems] == [403]
    # Challenged again and again: every challenge is reported.
    loop = [response(2, "401 Unauthorized", 1), response(4, "401 Unauthorized", 2)]
    assert [p.frames for p in evaluate(loop).problems] == [(2,), (4,)]
    # A response to another method or another call does not count as the retry.
    other = [
        response(2, "401 Unauthorized", 1, method="REGISTER"),
        response(5, "200 OK", 2, method="INVITE"),
        response(6, "200 OK", 3, method="REGISTER", call_id="call-2"),
    ]
    assert [p.status for p in evaluate(other).problems] == [401]


def test_420_and_421_are_left_to_the_extension_rule() -> None:
    records = [response(2, "420 Bad Extension", 1), response(4, "421 Extension Required", 2)]
    assert evaluate(records).problems == []


def test_487_after_cancel_is_normal() -> None:
    cancelled = [
        request(1, "INVITE", 1),
        request(2, "CANCEL", 1),
        response(3, "487 Request Terminated", 1),
    ]
    assert evaluate(cancelled).problems == []
    not_cancelled = [request(1, "INVITE", 1), response(3, "487 Request Terminated", 1)]
    assert rules_of(evaluate(not_cancelled)) == [("client-failure", "warn")]


def test_status_allow_and_deny() -> None:
    records = [
        response(1, "486 Busy Here", 1),
        response(2, "503 Service Unavailable", 2),
        response(3, "481 Call/Transaction Does Not Exist", 3, method="BYE"),
        response(4, "200 OK", 4, method="OPTIONS"),
    ]
    rules = (
        '[status]\nallow = { INVITE = [486], "*" = ["5xx"] }\n'
        'deny = { BYE = [481], OPTIONS = ["2xx"] }\n'
    )
    result = evaluate(records, rules)
    assert [(p.rule, p.status) for p in result.problems] == [
        ("denied-status", 481),
        ("denied-status", 200),
    ]
    # deny wins over a "*" allow.
    both = evaluate(
        [response(2, "503 Service Unavailable", 2)],
        '[status]\nallow = { "*" = [503] }\ndeny = { INVITE = [503] }\n',
    )
    assert rules_of(both) == [("denied-status", "fail")]


def test_allow_applies_to_rejected_transfers_and_420() -> None:
    records = [
        FindingRecord(finding("transfer", outcome="rejected", accepted=603, frames=[5, 6])),
        FindingRecord(finding("bad-extension", method="INVITE", retry=None, frames=[1, 2])),
    ]
    assert len(evaluate(records).problems) == 2
    allowed = evaluate(records, "[status]\nallow = { REFER = [603], INVITE = [420] }\n")
    assert allowed.problems == []


def test_rule_levels_from_rules_table() -> None:
    records = [response(3, "486 Busy Here", 2), response(4, "603 Decline", 3)]
    result = evaluate(
        records, '[rules]\nclient-failure = "fail"\nserver-or-global-failure = "off"\n'
    )
    assert rules_of(result) == [("client-failure", "fail")]


def test_response_explained_by_a_finding_is_folded_into_it() -> None:
    records = [
        request(5, "REFER", 2),
        response(6, "603 Decline", 2, method="REFER"),
        FindingRecord(finding("transfer", outcome="rejected", accepted=603, frames=[5, 6])),
    ]
    assert rules_of(evaluate(records)) == [("failed-transfer", "fail")]
    # With the transfer rule off, the 603 is reported on its own again.
    alone = evaluate(records, '[rules]\nfailed-transfer = "off"\n')
    assert rules_of(alone) == [("server-or-global-failure", "fail")]
    # A warning does not swallow a failure.
    warned = evaluate(records, '[rules]\nfailed-transfer = "warn"\n')
    assert rules_of(warned) == [("failed-transfer", "warn"), ("server-or-global-failure", "fail")]


def test_annotation_feeds_the_text_and_remedy() -> None:
    record = response(3, "503 Service Unavailable", 1)
    record.annotation = {"summary": "Overloaded.", "diagnosis": "", "remedy": "Add capacity."}
    (problem,) = evaluate([record]).problems
    assert problem.text.endswith("(frame 3). Overloaded.")
    assert problem.remedy == "Add capacity."


# -- thresholds ----------------------------------------------------------------------------------


def test_setup_time_from_first_invite_to_first_ringing_at_the_caller() -> None:
    records = [
        request(1, "INVITE", 1, ts=10.0),
        response(2, "407 Proxy Authentication Required", 1, ts=10.1, src=PROXY),
        request(3, "INVITE", 2, ts=10.2, dst=PROXY),
        response(4, "180 Ringing", 2, ts=12.0, src=BOB, dst=PROXY),  # another hop
        response(5, "180 Ringing", 2, ts=13.5, src=PROXY, dst=ALICE),
        response(6, "200 OK", 2, ts=20.0, src=PROXY, dst=ALICE),
    ]
    assert evaluate(records, "max_setup_time = 3.5").problems == []
    (problem,) = evaluate(records, "max_setup_time = 3").problems
    assert (problem.rule, problem.frames) == ("setup-time", (1, 5))
    assert problem.details["setup_time"] == 3.5
    assert "3.500 s" in problem.text and "limit is 3 s" in problem.text
    # Without the option the rule does not run.
    assert evaluate(records).problems == []


def test_setup_time_ignores_reinvites_and_unanswered_calls() -> None:
    records = [
        request(1, "INVITE", 1, ts=0.0, to_tag="t1"),  # re-INVITE: in a dialog already
        response(2, "200 OK", 1, ts=9.0, to_tag="t1"),
        request(3, "INVITE", 1, ts=0.0, call_id="c2"),  # never answered
    ]
    assert evaluate(records, "max_setup_time = 1").problems == []


def test_max_retransmissions_per_transaction() -> None:
    records = [request(1, "INVITE", 1)] + [
        request(n, "INVITE", 1, retransmission=True) for n in range(2, 6)
    ]
    records += [request(9, "INVITE", 1, branch="z9hG4bKother", retransmission=True)]
    assert evaluate(records, "max_retransmissions = 4").problems == []
    (problem,) = evaluate(records, "max_retransmissions = 3").problems
    assert problem.rule == "max-retransmissions"
    assert problem.frames == (2, 3, 4, 5)
    assert problem.details["count"] == 4


# -- malformed and capture damage ------------------------------------------------------------------


def test_malformed_fails_and_is_capped() -> None:
    records = [
        MalformedRecord(float(n), n, ALICE, BOB, "udp", "bad start line", b"INVITE \x1b[31m")
        for n in range(1, MAX_PROBLEMS_PER_RULE + 6)
    ]
    result = evaluate(records)
    assert len(result.problems) == MAX_PROBLEMS_PER_RULE
    assert result.omitted["malformed-sip"] == 5
    assert result.malformed == MAX_PROBLEMS_PER_RULE + 5
    first = result.problems[0]
    assert (first.rule, first.level) == ("malformed-sip", "fail")
    assert first.details["excerpt"] == "INVITE \\x1b[31m"


def test_damaged_capture_warns() -> None:
    engine = RuleEngine(parse_rules("", "r.toml"))
    engine.feed(request(1, "OPTIONS", 1))
    engine.damaged(True, [])
    (problem,) = engine.finish().problems
    assert (problem.rule, problem.level) == ("damaged-capture", "warn")
    assert problem.text == "Capture damaged: the capture ends in the middle of a record"


def test_capture_without_sip_warns() -> None:
    (problem,) = evaluate([], no_sip=True).problems
    assert (problem.rule, problem.level, problem.kind) == ("no-sip", "warn", "capture")
    # Findings alone do not count as SIP; a malformed message does.
    only_finding = evaluate([FindingRecord(finding("reason", severity="info"))], no_sip=True)
    assert [p.rule for p in only_finding.problems] == ["no-sip"]
    malformed = MalformedRecord(1.0, 1, ALICE, BOB, "udp", "bad", b"X")
    assert [p.rule for p in evaluate([malformed], no_sip=True).problems] == ["malformed-sip"]


# -- verdicts ------------------------------------------------------------------------------------


def _failed_transfer_records() -> list[Any]:
    return [
        request(5, "REFER", 2),
        response(6, "200 OK", 2, method="REFER"),
        FindingRecord(finding("transfer", outcome="failed", frames=[5, 6, 7])),
        response(9, "486 Busy Here", 4, method="INVITE", call_id="other"),
    ]


def test_expectation_covers_its_exchange_only() -> None:
    text = '[[expect]]\ncapture = "x.pcap"\nkind = "transfer"\noutcome = "failed"\ncount = 1\n'
    config = parse_rules(text, "r.toml")
    verdict = judge("caps/x.pcap", evaluate(_failed_transfer_records()), config)
    assert verdict.outcome == "passed"
    assert [p.rule for p in verdict.expected] == ["failed-transfer"]
    assert [p.rule for p in verdict.warnings] == ["client-failure"]
    assert verdict.expectations[0].holds
    # The same rules on another capture do not apply.
    other = judge("caps/y.pcap", evaluate(_failed_transfer_records()), config)
    assert other.outcome == "failed" and other.expectations == []


def test_expectation_count_mismatch_fails_and_covers_nothing() -> None:
    text = '[[expect]]\ncapture = "x.pcap"\nkind = "transfer"\noutcome = "failed"\ncount = 2\n'
    verdict = judge("x.pcap", evaluate(_failed_transfer_records()), parse_rules(text, "r.toml"))
    assert verdict.outcome == "failed"
    (broken,) = verdict.broken_expectations
    assert broken.explain() == "expected 2 transfer finding(s) with outcome=failed, found 1"
    assert [p.rule for p in verdict.failures] == ["failed-transfer"]
    assert verdict.failure_count == 2


def test_expectation_without_count_means_at_least_one_and_zero_means_none() -> None:
    some = parse_rules('[[expect]]\ncapture = "x.pcap"\nkind = "transfer"\n', "r.toml")
    assert judge("x.pcap", evaluate(_failed_transfer_records()), some).outcome == "passed"
    none = parse_rules('[[expect]]\ncapture = "x.pcap"\nkind = "auth-loop"\ncount = 0\n', "r.toml")
    verdict = judge("x.pcap", evaluate(_failed_transfer_records()), none)
    assert verdict.expectations[0].holds
    assert verdict.outcome == "failed"  # the transfer failure itself is not expected


def test_strict_turns_warnings_into_failures() -> None:
    records = [response(3, "486 Busy Here", 2)]
    config = parse_rules("", "r.toml")
    assert judge("x.pcap", evaluate(records), config).outcome == "passed"
    strict = judge("x.pcap", evaluate(records), config, strict=True)
    assert strict.outcome == "failed"
    assert [p.rule for p in strict.failures] == ["client-failure"]


def test_rule_results_list_active_rules_only() -> None:
    default = judge("x.pcap", evaluate([]), parse_rules("", "r.toml"))
    assert [r.rule.id for r in default.rules] == [r.id for r in RULES if not r.optional]
    configured = judge(
        "x.pcap",
        evaluate([]),
        parse_rules(
            'max_setup_time = 1\nmax_retransmissions = 2\n[rules]\nauth-loop = "off"\n'
            "[status]\ndeny = { BYE = [481] }\n",
            "r.toml",
        ),
    )
    ids = [r.rule.id for r in configured.rules]
    assert "auth-loop" not in ids
    assert ids[-3:] == ["setup-time", "max-retransmissions", "denied-status"]


def test_exit_code_precedence() -> None:
    config = parse_rules("", "r.toml")
    passed = judge("a", evaluate([]), config)
    failed = judge("b", evaluate([response(1, "500 Server Internal Error", 1)]), config)
    assert exit_code([passed]) == 0
    assert exit_code([passed, failed]) == 1
    assert exit_code([failed, error_verdict("c", "unreadable")]) == EXIT_ERROR


def test_response_problem_borrows_the_words_of_its_exchange_finding() -> None:
    records = [
        response(3, "503 Service Unavailable", 1),
        response(8, "500 Server Internal Error", 2),
        # The 503 exchange's finding also lists the retry's frames (8): matched by CSeq/status.
        FindingRecord(
            finding("unavailable", method="INVITE", cseq=1, status=503, frames=[1, 3, 7, 8])
        ),
        FindingRecord(finding("server-error", method="INVITE", cseq=2, status=500, frames=[7, 8])),
    ]
    first, second = evaluate(records).problems
    assert (first.kind, first.text, first.frames) == ("unavailable", "unavailable text", (3,))
    assert (second.kind, second.remedy) == ("server-error", "server-error remedy")
    assert second.as_finding()["status"] == 500


# -- other-findings and cut requests ------------------------------------------------------------


def test_findings_no_rule_judges_are_other_findings_warnings() -> None:
    records = [
        FindingRecord(finding("warning-header", severity="warning", frames=[2])),
        FindingRecord(finding("protocol-violation", severity="error", frames=[3])),
        FindingRecord(finding("redirect", severity="warning", status=302, frames=[4])),
        # info is normal behaviour worth knowing, never a problem on its own.
        FindingRecord(finding("reason", severity="info", frames=[5])),
        FindingRecord(finding("unregistered-option-tag", severity="info", frames=[6])),
    ]
    result = evaluate(records)
    assert [(p.rule, p.level, p.kind, p.frames) for p in result.problems] == [
        ("other-findings", "warn", "warning-header", (2,)),
        ("other-findings", "warn", "protocol-violation", (3,)),
        ("other-findings", "warn", "redirect", (4,)),
    ]
    assert result.problems[0].finding is records[0].data
    config = parse_rules("", "r.toml")
    assert judge("x.pcap", evaluate(records), config).outcome == "passed"
    strict = judge("x.pcap", evaluate(records), config, strict=True)
    assert (strict.outcome, len(strict.failures)) == ("failed", 3)


def test_findings_a_rule_judges_are_not_reported_again() -> None:
    records = [
        # Judged harmless by extension-retry (the retry got a 2xx) although severity warning.
        FindingRecord(
            finding("bad-extension", severity="warning", retry={"cseq": 2, "status": 200})
        ),
        FindingRecord(finding("transfer", severity="warning", outcome="in-progress")),
        # A 4xx: client-failure judges the response (a retried 401 is normal).
        FindingRecord(finding("auth-challenge", severity="warning", status=401, method="INVITE")),
        FindingRecord(finding("request-failed", severity="warning", status=486, method="INVITE")),
    ]
    assert evaluate(records).problems == []
    # A rule turned off takes its findings with it.
    off = evaluate(
        [FindingRecord(finding("retransmissions"))], '[rules]\nretransmission-storm = "off"\n'
    )
    assert off.problems == []


def test_other_findings_respect_allow_and_fold_nothing() -> None:
    reason = finding("reason", severity="warning", method="INVITE", status=503, frames=[3])
    records = [response(3, "503 Service Unavailable", 1), FindingRecord(reason)]
    # The 503 and its Reason header are two things: both reported, in the order of judgement.
    assert rules_of(evaluate(records)) == [
        ("other-findings", "warn"),
        ("server-or-global-failure", "fail"),
    ]
    allowed = evaluate(records, "[status]\nallow = { INVITE = [503] }\n")
    assert allowed.problems == []


def test_expectation_covers_other_findings_of_its_exchange() -> None:
    records = [
        FindingRecord(finding("transfer", outcome="failed", frames=[5, 6])),
        FindingRecord(finding("reason", severity="warning", frames=[6])),
        FindingRecord(finding("warning-header", severity="warning", frames=[9])),
    ]
    config = parse_rules(
        '[[expect]]\ncapture = "x.pcap"\nkind = "transfer"\noutcome = "failed"\n', "r.toml"
    )
    verdict = judge("x.pcap", evaluate(records), config, strict=True)
    assert [(p.rule, p.kind) for p in verdict.expected] == [
        ("failed-transfer", "transfer"),
        ("other-findings", "reason"),
    ]
    assert [(p.rule, p.kind) for p in verdict.failures] == [("other-findings", "warning-header")]


def test_no_final_response_fails_on_timeouts_and_warns_on_cuts() -> None:
    base = {"method": "INVITE", "timer": "B", "timeout": 32.0}
    timed_out = finding_problem(finding("no-final-response", timed_out=True, **base))
    assert timed_out is not None and timed_out.level == "fail"
    assert timed_out.text == "no-final-response text"
    # Without the field the finding is taken as a timeout, as before.
    legacy = finding_problem(finding("no-final-response", **base))
    assert legacy is not None and legacy.level == "fail"
    cut = finding_problem(finding("no-final-response", timed_out=False, remedy="", **base))
    assert cut is not None and (cut.rule, cut.level, cut.ceiling) == (
        "no-final-response",
        "warn",
        "warn",
    )
    assert cut.text == (
        "no-final-response text Not a timeout: the capture ended before Timer B (32 s, RFC 3261 "
        "§17.1.1.2) could fire, so whether a final response would have come cannot be told (a "
        "warning, which fails only under --strict)."
    )
    assert cut.remedy.startswith("Keep recording until every transaction has ended (Timer B")
    # "fail" in [rules] cannot lift a cut above a warning; only --strict fails it.
    records = [FindingRecord(finding("no-final-response", timed_out=False, **base))]
    result = evaluate(records, '[rules]\nno-final-response = "fail"\n')
    assert rules_of(result) == [("no-final-response", "warn")]
    config = parse_rules("", "r.toml")
    assert judge("x.pcap", evaluate(records), config).outcome == "passed"
    assert judge("x.pcap", evaluate(records), config, strict=True).outcome == "failed"


def test_omitted_cuts_do_not_fail_without_strict() -> None:
    cuts = [
        FindingRecord(finding("no-final-response", timed_out=False, call_id=f"c{n}", frames=[n]))
        for n in range(MAX_PROBLEMS_PER_RULE + 5)
    ]
    result = evaluate(cuts)
    assert (result.omitted["no-final-response"], result.omitted_failing["no-final-response"]) == (
        5,
        0,
    )
    config = parse_rules("", "r.toml")
    verdict = judge("x.pcap", result, config)
    assert (verdict.outcome, verdict.failure_count) == ("passed", 0)
    assert judge("x.pcap", evaluate(cuts), config, strict=True).outcome == "failed"
    timeouts = [
        FindingRecord(finding("no-final-response", timed_out=True, call_id=f"c{n}", frames=[n]))
        for n in range(MAX_PROBLEMS_PER_RULE + 5)
    ]
    result = evaluate(timeouts)
    assert result.omitted_failing["no-final-response"] == 5
    assert judge("x.pcap", result, config).failure_count == MAX_PROBLEMS_PER_RULE + 5
