"""The rules of ``sipwatch check``: their definitions, and the judgement of findings.

A rule turns records into :class:`Problem`\\ s. Most rules read the correlator's findings (a
transfer's outcome, a 420's retry): :func:`finding_problem` is that judgement. The rules about
response codes and thresholds read the messages themselves, in ``engine.py``, which feeds both
kinds through :func:`fold` so one cause is reported once.

Levels: ``fail`` breaks the build, ``warn`` is reported and breaks it only with ``--strict``.
docs/check.md lists the rules; :data:`RULES` is the one place they are defined.
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
        "A request that never got a final response (the transaction timed out).",
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
#: Rules about a response that a finding's rule may explain better (see ``_fold``).
STATUS_RULES: Final = frozenset({"server-or-global-failure", "client-failure"})
#: Rules whose problem is about a response code, so ``[status] allow`` applies to them.
ALLOWABLE: Final = frozenset({*STATUS_RULES, "extension-retry", "failed-transfer"})
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


def as_int(value: object) -> int | None:
    """``value`` when it is a JSON integer (not a boolean), else None."""
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _retry_succeeded(retry: object) -> bool:
    if not isinstance(retry, Mapping):
        return False
    status = as_int(retry.get("status"))
    return status is not None and 200 <= status < 300


def finding_problem(finding: Mapping[str, Any]) -> Problem | None:
    """The problem a correlator finding raises under the default rules, or None."""
    kind = str(finding.get("kind", ""))
    method = finding.get("method")
    status: int | None = as_int(finding.get("status"))
    if kind == "transfer":
        outcome = finding.get("outcome")
        if outcome not in _TRANSFER_FAILURES:
            return None
        rule = "failed-transfer"
        method = "REFER"
        status = as_int(finding.get("accepted")) if outcome == "rejected" else None
    elif kind in ("bad-extension", "extension-required"):
        if _retry_succeeded(finding.get("retry")):
            return None
        rule = "extension-retry"
        status = 420 if kind == "bad-extension" else 421
    elif kind == "no-final-response":
        rule = "no-final-response"
    elif kind == "retransmissions":
        rule = "retransmission-storm"
    elif kind == "auth-loop":
        rule = "auth-loop"
    else:
        return None
    frames = finding.get("frames")
    ts = finding.get("ts")
    return Problem(
        rule,
        RULES_BY_ID[rule].level,
        str(finding.get("text", "")),
        kind,
        call_id=str(finding.get("call_id", "")),
        frames=tuple(f for f in frames if as_int(f) is not None)
        if isinstance(frames, list)
        else (),
        ts=float(ts) if isinstance(ts, int | float) else None,
        remedy=str(finding.get("remedy", "") or ""),
        method=method if isinstance(method, str) else None,
        status=status,
        finding=finding,
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
    frames include the response and its level is at least as high.
    """
    covered: dict[int, int] = {}
    for problem in problems:
        if problem.rule in STATUS_RULES or problem.finding is None:
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
