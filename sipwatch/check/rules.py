"""The rules of ``sipwatch check``: their definitions, and the judgement of findings.

A rule turns records into :class:`Problem`\\ s. Most rules read the correlator's findings (a
transfer's outcome, a 420's retry): :func:`finding_problem` is that judgement. The rules about
response codes and thresholds read the messages themselves, in ``engine.py``, which feeds both
kinds through :func:`fold` so one cause is reported once.

Levels: ``fail`` breaks the build, ``warn`` is reported and breaks it only with ``--strict``.
docs/check.md lists the rules; :data:`RULES` is the one place they are defined.

``--strict`` promises that a warning fails the build, so a correlator finding of severity
``warning`` or ``error`` must never slip through just because no rule reads its kind (a Warning
header, an unregistered option tag, a protocol violation): :func:`unjudged_problem` turns such a
finding into an ``other-findings`` warning. Kinds that a rule does judge, even when it judged
them harmless (a 420 whose retry succeeded), are not reported twice.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Literal

from sipwatch.records import MalformedRecord
from sipwatch.render.safe import inert_bytes

Level = Literal["fail", "warn"]
RuleSetting = Literal["fail", "warn", "off"]

#: The catch-all rule: findings of severity warning or error that no other rule judges.
OTHER_FINDINGS: Final = "other-findings"

#: Problems kept per rule and capture; the rest are counted (a fuzzed capture can hold
#: thousands of malformed messages, and the first hundred tell the story).
MAX_PROBLEMS_PER_RULE: Final = 100


@dataclass(frozen=True, slots=True)
class Rule:
    """One rule: its id (used in the rules file and as the JUnit test case name)."""

    id: str
    title: str
    level: Level
    description: str
    #: Exists only when the rules file configures it (thresholds, ``[status] deny``).
    optional: bool = False


RULES: Final[tuple[Rule, ...]] = (
    Rule(
        "failed-transfer",
        "Transfers that fail",
        "fail",
        "A transfer (REFER) whose outcome is failed, rejected or no-notify.",
    ),
    Rule(
        "extension-retry",
        "420/421 without a successful retry",
        "fail",
        "A 420 Bad Extension or 421 Extension Required that no retry with a 2xx answer followed.",
    ),
    Rule(
        "server-or-global-failure",
        "5xx and 6xx final responses",
        "fail",
        "Any 5xx (server failure) or 6xx (global failure) final response.",
    ),
    Rule(
        "no-final-response",
        "Requests without a final response",
        "fail",
        "A request whose transaction timed out without a final response (a request the end of "
        "the capture cut short is only a warning).",
    ),
    Rule(
        "malformed-sip",
        "Malformed SIP",
        "fail",
        "A message that looks like SIP but does not parse.",
    ),
    Rule(
        "client-failure",
        "Other 4xx final responses",
        "warn",
        "A 4xx final response other than 420/421, a 401/407/422/423/491 that a retry got past, "
        "or a 487 to a cancelled INVITE.",
    ),
    Rule(
        "retransmission-storm",
        "Retransmission storms",
        "warn",
        "The correlator reported a retransmissions finding (a message repeated many times).",
    ),
    Rule(
        "auth-loop",
        "Authentication loops",
        "warn",
        "A request challenged again and again (401/407) without getting through.",
    ),
    Rule(
        "damaged-capture",
        "Damaged capture file",
        "warn",
        "The capture file is truncated or has damaged records; what was read was checked.",
    ),
    Rule(
        "no-sip",
        "Captures without SIP",
        "warn",
        "The capture holds no SIP message at all: every other rule would pass vacuously.",
    ),
    Rule(
        OTHER_FINDINGS,
        "Findings no other rule judges",
        "warn",
        "A finding of severity warning or error whose kind no other rule judges (a Reason or "
        "Warning header, an unregistered option tag, a protocol violation, a 3xx without "
        "Contact, ...).",
    ),
    Rule(
        "one-way-audio",
        "One-way and no audio",
        "fail",
        "An answered call whose RTP reached one party only (one-way-audio) or neither (no-audio) "
        "while the capture carried RTP.",
    ),
    Rule(
        "setup-time",
        "Call setup time",
        "fail",
        "An INVITE whose first 180/183/200 took longer than max_setup_time seconds.",
        optional=True,
    ),
    Rule(
        "max-retransmissions",
        "Retransmissions per transaction",
        "fail",
        "A transaction retransmitted more than max_retransmissions times.",
        optional=True,
    ),
    Rule(
        "mos-below",
        "RTP streams below a MOS estimate",
        "fail",
        "An RTP stream whose E-model MOS estimate is below mos_below.",
        optional=True,
    ),
    Rule(
        "denied-status",
        "Denied status codes",
        "fail",
        "A final response whose code the rules file lists in [status] deny for its method.",
        optional=True,
    ),
)
RULES_BY_ID: Final[dict[str, Rule]] = {rule.id: rule for rule in RULES}
RULE_IDS: Final[frozenset[str]] = frozenset(RULES_BY_ID)

_TRANSFER_FAILURES: Final = frozenset({"failed", "rejected", "no-notify"})
#: Finding kinds that a rule judges from the finding itself (:func:`finding_problem`), whatever
#: it concludes: a 420 whose retry succeeded is judged harmless, not left to ``other-findings``.
FINDING_RULES: Final[dict[str, str]] = {
    "transfer": "failed-transfer",
    "bad-extension": "extension-retry",
    "extension-required": "extension-retry",
    "no-final-response": "no-final-response",
    "retransmissions": "retransmission-storm",
    "auth-loop": "auth-loop",
    "one-way-audio": "one-way-audio",
    "no-audio": "one-way-audio",
}
#: Severities of the findings contract (DESIGN §3) that call for action: ``info`` is normal
#: behaviour worth knowing and never a problem on its own.
ACTION_SEVERITIES: Final = frozenset({"warning", "error"})
#: Rules about a response that a finding's rule may explain better (see ``_fold``).
STATUS_RULES: Final = frozenset({"server-or-global-failure", "client-failure"})
#: Rules whose problem is about a response code, so ``[status] allow`` applies to them (a
#: Warning header on a response the rules file allows is about an accepted response too).
ALLOWABLE: Final = frozenset({*STATUS_RULES, "extension-retry", "failed-transfer", OTHER_FINDINGS})
SEVERITY_OF_LEVEL: Final[dict[str, str]] = {"fail": "error", "warn": "warning"}
_LEVEL_RANK: Final[dict[str, int]] = {"warn": 1, "fail": 2}


@dataclass(slots=True)
class Problem:
    """One thing a rule objects to, with what is needed to explain it in every report.

    ``finding`` is the correlator's finding object behind it when there is one; otherwise
    ``kind`` and ``details`` describe it in the same shape (``status``, ``malformed``,
    ``setup-time``, ``retransmissions``).
    """

    rule: str
    level: Level
    text: str
    kind: str
    call_id: str = ""
    frames: tuple[int, ...] = ()
    ts: float | None = None
    remedy: str = ""
    method: str | None = None
    status: int | None = None
    finding: Mapping[str, Any] | None = None
    details: dict[str, Any] = field(default_factory=dict)
    #: Covered by an ``[[expect]]`` that holds: reported, but it does not fail the capture.
    expected: bool = False
    #: The highest level the problem can have whatever its rule's setting: a request cut by
    #: the end of the capture proves nothing, so it is at most a warning.
    ceiling: Level = "fail"

    def as_finding(self) -> dict[str, Any]:
        """A finding object (DESIGN §3 keys) for the JSON lines report."""
        if self.finding is not None:
            data = dict(self.finding)
        else:
            data = {
                "kind": self.kind,
                "severity": SEVERITY_OF_LEVEL[self.level],
                "ts": self.ts,
                "call_id": self.call_id,
                "frames": list(self.frames),
                "text": self.text,
                "remedy": self.remedy,
                **self.details,
            }
        return data


@dataclass(slots=True)
class Evaluation:
    """What the rules found in one capture, before expectations are applied."""

    problems: list[Problem]
    findings: list[Mapping[str, Any]]
    malformed: int
    #: Problems per rule beyond :data:`MAX_PROBLEMS_PER_RULE` (counted, not kept).
    omitted: Counter[str]
    #: Those of them at level ``fail`` (a rule can hold failures and warnings).
    omitted_failing: Counter[str] = field(default_factory=Counter)


def as_int(value: object) -> int | None:
    """``value`` when it is a JSON integer (not a boolean), else None."""
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _retry_succeeded(retry: object) -> bool:
    if not isinstance(retry, Mapping):
        return False
    status = as_int(retry.get("status"))
    return status is not None and 200 <= status < 300


def lower_level(level: Level, ceiling: Level) -> Level:
    """``level``, capped at ``ceiling``."""
    return level if _LEVEL_RANK[level] <= _LEVEL_RANK[ceiling] else ceiling


def capture_ended_first(finding: Mapping[str, Any]) -> bool:
    """A ``no-final-response`` finding made because the capture ended, not because a timer fired.

    RFC 3261 §17.1.1.2 (Timer B) and §17.1.2.2 (Timer F), 64*T1, and §16.6 step 11 (Timer C)
    bound how long a client transaction waits; before they fire, a final response may still
    come, so a capture that stops earlier shows no failure. The correlator says which case it
    saw in ``timed_out`` (docs/findings.md); a finding without the field is taken as a timeout,
    so the rule never passes what it used to fail.
    """
    return finding.get("kind") == "no-final-response" and finding.get("timed_out") is False


#: Where RFC 3261 sets each timer after which a client gives up on a final response.
_TIMER_SECTIONS: Final[dict[str, str]] = {"B": "§17.1.1.2", "F": "§17.1.2.2", "C": "§16.6 step 11"}


def _cut_reason(finding: Mapping[str, Any]) -> tuple[str, str]:
    """Why a cut request is only a warning, and how to record a capture that decides it."""
    timer = finding.get("timer")
    timeout = finding.get("timeout")
    name = f"Timer {timer}" if isinstance(timer, str) and timer else "its timer"
    where = [f"RFC 3261 {_TIMER_SECTIONS.get(str(timer), '§17.1')}"]
    if isinstance(timeout, int | float) and not isinstance(timeout, bool):
        where.insert(0, f"{timeout:g} s")
    reason = (
        f"Not a timeout: the capture ended before {name} ({', '.join(where)}) could fire, so "
        "whether a final response would have come cannot be told (a warning, which fails "
        "only under --strict)."
    )
    remedy = (
        f"Keep recording until every transaction has ended ({name} after its request at the "
        "latest), or list the Call-ID in ignore_call_ids if the capture is cut on purpose."
    )
    return reason, remedy


def finding_problem(finding: Mapping[str, Any]) -> Problem | None:
    """The problem a correlator finding raises under the default rules, or None."""
    kind = str(finding.get("kind", ""))
    method = finding.get("method")
    status: int | None = as_int(finding.get("status"))
    text = str(finding.get("text", ""))
    remedy = str(finding.get("remedy", "") or "")
    ceiling: Level = "fail"
    if kind == "transfer":
        outcome = finding.get("outcome")
        if outcome not in _TRANSFER_FAILURES:
            return None
        method = "REFER"
        status = as_int(finding.get("accepted")) if outcome == "rejected" else None
    elif kind in ("bad-extension", "extension-required"):
        if _retry_succeeded(finding.get("retry")):
            return None
        status = 420 if kind == "bad-extension" else 421
    elif kind == "no-final-response" and capture_ended_first(finding):
        ceiling = "warn"
        reason, advice = _cut_reason(finding)
        text = f"{text} {reason}".strip()
        remedy = remedy or advice
    elif kind not in FINDING_RULES:
        return None
    return _finding_based(finding, FINDING_RULES[kind], ceiling, text, remedy, method, status)


def unjudged_problem(finding: Mapping[str, Any]) -> Problem:
    """The ``other-findings`` warning for a finding no other rule judges (the caller decides
    which those are: it depends on what the response rules saw)."""
    return _finding_based(
        finding,
        OTHER_FINDINGS,
        "fail",
        str(finding.get("text", "")),
        str(finding.get("remedy", "") or ""),
        finding.get("method"),
        as_int(finding.get("status")),
    )


def _finding_based(
    finding: Mapping[str, Any],
    rule: str,
    ceiling: Level,
    text: str,
    remedy: str,
    method: object,
    status: int | None,
) -> Problem:
    frames = finding.get("frames")
    ts = finding.get("ts")
    return Problem(
        rule,
        lower_level(RULES_BY_ID[rule].level, ceiling),
        text,
        str(finding.get("kind", "")),
        call_id=str(finding.get("call_id", "")),
        frames=tuple(f for f in frames if as_int(f) is not None)
        if isinstance(frames, list)
        else (),
        ts=float(ts) if isinstance(ts, int | float) and not isinstance(ts, bool) else None,
        remedy=remedy,
        method=method if isinstance(method, str) else None,
        status=status,
        finding=finding,
        ceiling=ceiling,
    )


def malformed_problem(record: MalformedRecord) -> Problem:
    return Problem(
        "malformed-sip",
        "fail",
        f"Malformed SIP from {record.src} to {record.dst} (frame {record.frame}): {record.reason}.",
        "malformed",
        frames=(record.frame,),
        ts=record.ts,
        remedy="Fix the SIP stack that sent it; RFC 3261 §25 is the grammar.",
        details={
            "src": record.src,
            "dst": record.dst,
            "transport": record.transport,
            "reason": record.reason,
            "excerpt": inert_bytes(record.raw, 120),
        },
    )


def fold(problems: list[Problem]) -> list[Problem]:
    """Report one cause once: drop a response-code problem that a finding's problem explains.

    A REFER rejected with 603 is both a failed transfer and a 6xx response; the transfer finding
    says more (which transfer, who refused), so the 6xx is folded into it when the finding's
    frames include the response and its level is at least as high. An ``other-findings``
    problem folds nothing: a Warning header on a 503 says something else than the 503 does.
    """
    covered: dict[int, int] = {}
    for problem in problems:
        if problem.rule in STATUS_RULES or problem.rule == OTHER_FINDINGS:
            continue
        if problem.finding is None:
            continue
        rank = _LEVEL_RANK[problem.level]
        for frame in problem.frames:
            covered[frame] = max(covered.get(frame, 0), rank)
    if not covered:
        return problems
    return [
        p
        for p in problems
        if p.rule not in STATUS_RULES
        or not any(covered.get(f, 0) >= _LEVEL_RANK[p.level] for f in p.frames)
    ]
