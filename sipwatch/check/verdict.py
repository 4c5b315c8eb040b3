"""Per-capture verdicts: the rules' problems, the expectations of the rules file, pass or fail.

An ``[[expect]]`` entry turns a known-bad capture into a regression test: the capture passes
when it shows exactly the expected findings, and the expectation itself fails when they are
missing or too many. A holding expectation covers the problems of the exchange it describes
(every problem that shares a frame with a matched finding), so the 603 answering an expected
rejected REFER does not fail the capture either. An expectation that does not hold covers
nothing: the reports then show both the broken expectation and every problem.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Literal

from sipwatch.check.config import DEFAULT_RULES_NAME, CheckConfig, Expectation
from sipwatch.check.rules import RULES, Evaluation, Problem, Rule

Outcome = Literal["passed", "failed", "error"]
RuleOutcome = Literal["passed", "warned", "failed"]

#: Exit codes of ``sipwatch check`` (docs/check.md): stable, scripts depend on them.
EXIT_PASSED: Final = 0
EXIT_FAILED: Final = 1
EXIT_ERROR: Final = 2


@dataclass(slots=True)
class RuleResult:
    """One rule on one capture (a JUnit test case)."""

    rule: Rule
    level: str  # the level in force: "fail" or "warn"
    problems: list[Problem]
    omitted: int
    strict: bool
    #: How many of the omitted problems are at level ``fail`` (the rest are warnings).
    omitted_failing: int = 0

    @property
    def failures(self) -> list[Problem]:
        """Problems that fail the capture (warnings too under ``--strict``)."""
        return [p for p in self.problems if not p.expected and (p.level == "fail" or self.strict)]

    @property
    def warnings(self) -> list[Problem]:
        return [
            p for p in self.problems if not p.expected and p.level == "warn" and not self.strict
        ]

    @property
    def expected(self) -> list[Problem]:
        return [p for p in self.problems if p.expected]

    @property
    def outcome(self) -> RuleOutcome:
        if self.failures or self.omitted_failing or (self.omitted and self.strict):
            return "failed"
        if self.warnings or self.omitted:
            return "warned"
        return "passed"


@dataclass(slots=True)
class ExpectationResult:
    """One ``[[expect]]`` entry on one capture (a JUnit test case too)."""

    expectation: Expectation
    found: int
    matched: list[Mapping[str, Any]]

    @property
    def holds(self) -> bool:
        wanted = self.expectation.count
        return self.found > 0 if wanted is None else self.found == wanted

    @property
    def name(self) -> str:
        return f"expect {self.expectation.describe()}"

    def explain(self) -> str:
        """``expected 1 transfer finding(s) with outcome=failed, found 0``."""
        exp = self.expectation
        wanted = "at least 1" if exp.count is None else str(exp.count)
        what = exp.kind + (
            f" finding(s) with outcome={exp.outcome}" if exp.outcome else " finding(s)"
        )
        if exp.kind == "malformed":
            what = "malformed message(s)"
        return f"expected {wanted} {what}, found {self.found}"


@dataclass(slots=True)
class CaptureVerdict:
    """Everything the reports say about one capture."""

    capture: str
    rules: list[RuleResult] = field(default_factory=list)
    expectations: list[ExpectationResult] = field(default_factory=list)
    error: str | None = None
    duration: float = 0.0
    messages: int = 0
    findings: int = 0
    strict: bool = False
    #: The rules file the capture was judged by (None: the default rules).
    rules_source: str | None = None

    @property
    def outcome(self) -> Outcome:
        if self.error is not None:
            return "error"
        if any(r.outcome == "failed" for r in self.rules):
            return "failed"
        if any(not e.holds for e in self.expectations):
            return "failed"
        return "passed"

    @property
    def failures(self) -> list[Problem]:
        return [p for r in self.rules for p in r.failures]

    @property
    def warnings(self) -> list[Problem]:
        return [p for r in self.rules for p in r.warnings]

    @property
    def expected(self) -> list[Problem]:
        return [p for r in self.rules for p in r.expected]

    @property
    def broken_expectations(self) -> list[ExpectationResult]:
        return [e for e in self.expectations if not e.holds]

    @property
    def failure_count(self) -> int:
        """Failing problems (including omitted ones) plus broken expectations."""
        omitted = sum(r.omitted for r in self.rules if r.outcome == "failed")
        return len(self.failures) + omitted + len(self.broken_expectations)


def active_rules(config: CheckConfig) -> list[tuple[Rule, str]]:
    """The rules that run under ``config``, each with the level in force, in :data:`RULES` order."""
    configured = {
        "setup-time": config.max_setup_time is not None,
        "max-retransmissions": config.max_retransmissions is not None,
        "denied-status": bool(config.status.deny),
    }
    result: list[tuple[Rule, str]] = []
    for rule in RULES:
        if rule.optional and not configured.get(rule.id, False):
            continue
        setting = config.setting(rule.id, rule.level)
        if setting != "off":
            result.append((rule, setting))
    return result


def judge(
    capture: str,
    evaluation: Evaluation,
    config: CheckConfig,
    strict: bool = False,
    duration: float = 0.0,
    messages: int = 0,
) -> CaptureVerdict:
    """Apply the expectations for ``capture`` and group the problems by rule."""
    results: list[ExpectationResult] = []
    covered_frames: set[int] = set()
    covered_findings: list[Mapping[str, Any]] = []
    covers_malformed = False
    for expectation in config.expectations_for(capture):
        if expectation.kind == "malformed":
            found = evaluation.malformed
            matched: list[Mapping[str, Any]] = []
        else:
            matched = [f for f in evaluation.findings if expectation.selects(f)]
            found = len(matched)
        result = ExpectationResult(expectation, found, matched)
        results.append(result)
        if not result.holds:
            continue
        covers_malformed |= expectation.kind == "malformed" and found > 0
        covered_findings.extend(matched)
        for finding in matched:
            covered_frames.update(_frames(finding))
    for problem in evaluation.problems:
        problem.expected = (
            any(problem.finding is f for f in covered_findings)
            or bool(covered_frames.intersection(problem.frames))
            or (covers_malformed and problem.rule == "malformed-sip")
        )
    rules: list[RuleResult] = []
    for rule, level in active_rules(config):
        uncounted = covers_malformed and rule.id == "malformed-sip"
        rules.append(
            RuleResult(
                rule,
                level,
                [p for p in evaluation.problems if p.rule == rule.id],
                0 if uncounted else evaluation.omitted.get(rule.id, 0),
                strict,
                0 if uncounted else evaluation.omitted_failing.get(rule.id, 0),
            )
        )
    return CaptureVerdict(
        capture,
        rules,
        results,
        duration=duration,
        messages=messages,
        findings=len(evaluation.findings),
        strict=strict,
    )


def _frames(finding: Mapping[str, Any]) -> Iterable[int]:
    frames = finding.get("frames")
    if not isinstance(frames, list):
        return ()
    return (f for f in frames if isinstance(f, int) and not isinstance(f, bool))


def error_verdict(capture: str, message: str) -> CaptureVerdict:
    """A capture that could not be read: reported, and exit code 2 for the run."""
    return CaptureVerdict(capture, error=message)


def exit_code(verdicts: Sequence[CaptureVerdict]) -> int:
    """2 if any capture could not be read, else 1 if any failed, else 0."""
    outcomes = {v.outcome for v in verdicts}
    if "error" in outcomes:
        return EXIT_ERROR
    if "failed" in outcomes:
        return EXIT_FAILED
    return EXIT_PASSED


# -- the JSON lines form (docs/check.md "JSON lines") ----------------------------------------

#: Version of the check records; the same contract version as the pipeline's lines.
SCHEMA_VERSION: Final = 1


def problem_json(capture: str, problem: Problem, strict: bool) -> dict[str, Any]:
    """A ``finding`` line: the finding object plus what the check made of it."""
    if problem.expected:
        effect = "expected"
    elif problem.level == "fail" or strict:
        effect = "fail"
    else:
        effect = "warn"
    return {
        "schema": SCHEMA_VERSION,
        "type": "finding",
        "capture": capture,
        "rule": problem.rule,
        "verdict": effect,
        "level": problem.level,
        **problem.as_finding(),
    }


def verdict_json(verdict: CaptureVerdict) -> dict[str, Any]:
    """The ``verdict`` line closing one capture."""
    return {
        "schema": SCHEMA_VERSION,
        "type": "verdict",
        "capture": verdict.capture,
        "verdict": verdict.outcome,
        "failures": verdict.failure_count,
        "warnings": len(verdict.warnings),
        "expected": len(verdict.expected),
        "messages": verdict.messages,
        "findings": verdict.findings,
        "duration": round(verdict.duration, 6),
        "rules": {r.rule.id: r.outcome for r in verdict.rules},
        "expectations": [
            {
                "kind": e.expectation.kind,
                "outcome": e.expectation.outcome,
                "count": e.expectation.count,
                "found": e.found,
                "holds": e.holds,
            }
            for e in verdict.expectations
        ],
        "error": verdict.error,
        "rules_file": verdict.rules_source,
    }


def verdict_lines(verdict: CaptureVerdict) -> list[dict[str, Any]]:
    """Every problem of the capture (failing, warning or expected), then its verdict."""
    lines = [
        problem_json(verdict.capture, p, verdict.strict) for r in verdict.rules for p in r.problems
    ]
    lines.append(verdict_json(verdict))
    return lines


def rules_used(verdicts: Sequence[CaptureVerdict]) -> str:
    """Which rules judged the captures, in words every report uses the same way.

    One rules file (the usual case) is its path; the default rules are
    :data:`DEFAULT_RULES_NAME`; captures judged by different files (each finds the one nearest
    its folder) list each with its count: ``a/sipwatch.toml (3 captures), default rules (1
    capture)``.
    """
    counts: dict[str, int] = {}
    for verdict in verdicts:
        name = verdict.rules_source or DEFAULT_RULES_NAME
        counts[name] = counts.get(name, 0) + 1
    if len(counts) <= 1:
        return next(iter(counts), DEFAULT_RULES_NAME)
    return ", ".join(
        f"{name} ({count} capture{'' if count == 1 else 's'})" for name, count in counts.items()
    )
