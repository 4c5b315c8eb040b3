"""JUnit XML report of ``sipwatch check`` (``--junit FILE``), for Jenkins and GitLab CI.

One ``<testsuite>`` per capture, one ``<testcase>`` per active rule and per ``[[expect]]``
entry, so a CI server's test view lists "transfer-failed.pcap › failed-transfer" like any unit
test. A failing rule has one ``<failure>`` whose message is the first problem and whose text
lists them all with their remedies; warnings and expected problems go to ``<system-out>``. A
capture that could not be read is one test case with an ``<error>``.

The XML writer (``xml.etree.ElementTree``) escapes ``& < > "``, but XML 1.0 cannot carry most
control characters at all (a raw ESC makes the whole file unparseable for Jenkins), so all wire
text first goes through :func:`sipwatch.render.safe.inert`, line by line.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import IO, Final

from sipwatch.check.config import DEFAULT_RULES_NAME
from sipwatch.check.rules import Problem
from sipwatch.check.verdict import CaptureVerdict, ExpectationResult, RuleResult
from sipwatch.render.safe import inert

#: Characters XML 1.0 forbids that :func:`inert` leaves alone (noncharacters, lone surrogates).
_XML_FORBIDDEN: Final = re.compile("[\ufffe\uffff\ud800-\udfff]")
#: Suffixes a capture's class name drops (longest first: ``x.pcap.gz`` -> ``x``).
_CAPTURE_SUFFIXES: Final = (".pcapng.gz", ".pcap.gz", ".pcapng", ".pcap", ".cap", ".gz")
_MESSAGE_LIMIT: Final = 300
_TEXT_LIMIT: Final = 4000
#: Longest body of a ``<failure>`` or ``<system-out>``, in characters. A body lists a rule's
#: problems with their wire text, so a capture crafted with megabyte header values would
#: otherwise make a report that large, and CI servers load and display the report whole. Real
#: lists stay far below this; what is cut is counted in :func:`body_text`'s closing line.
BODY_LIMIT: Final = 64 * 1024


def xml_text(text: str, limit: int | None = _TEXT_LIMIT) -> str:
    """Wire text made safe for an XML text node or attribute (newlines kept between lines)."""
    lines = [inert(line) for line in text.split("\n")]
    safe = _XML_FORBIDDEN.sub("\ufffd", "\n".join(lines))
    if limit is not None and len(safe) > limit:
        safe = safe[:limit] + "…"
    return safe


def body_text(text: str, limit: int = BODY_LIMIT) -> str:
    """Text for a report body: :func:`xml_text`, cut after ``limit`` characters.

    A cut body ends with a line saying how many characters were left out, so the reader knows
    the list is incomplete. The count is of escaped characters, as they would have been written.
    """
    safe = xml_text(text, None)
    if len(safe) <= limit:
        return safe
    return (
        safe[:limit]
        + f"\n… {len(safe) - limit} more characters cut (report bodies stop at {limit})"
    )


def _problem_text(problem: Problem) -> str:
    where = []
    if problem.call_id:
        where.append(f"Call-ID {problem.call_id}")
    if problem.frames:
        label = "frame" if len(problem.frames) == 1 else "frames"
        where.append(f"{label} " + ", ".join(str(f) for f in problem.frames[:20]))
    text = problem.text
    if where:
        text += f" [{'; '.join(where)}]"
    if problem.remedy:
        text += f"\n  Remedy: {problem.remedy}"
    return text


def junit_classname(capture: str) -> str:
    """``captures/auth-challenge.pcap`` -> ``captures.auth-challenge``, as Java names classes.

    Jenkins and GitLab split ``classname`` at its last dot into package and class, so the
    folders become the package (dots only, never a mix with ``/``) and the file name without
    its capture suffix the class; dots inside a name would split it again, so they become
    ``_`` (``sip-tls-1_3.pcap`` -> ``sip-tls-1_3``).
    """
    parts = [part for part in re.split(r"[/\\]+", capture) if part not in ("", ".")]
    if not parts:
        return "stdin"
    name = parts[-1]
    lower = name.lower()
    for suffix in _CAPTURE_SUFFIXES:
        if lower.endswith(suffix) and len(name) > len(suffix):
            name = name[: -len(suffix)]
            break
    parts[-1] = name
    return ".".join(part.replace(".", "_") for part in parts)


def _rule_case(suite: ET.Element, capture: str, result: RuleResult) -> None:
    case = ET.SubElement(
        suite, "testcase", name=result.rule.id, classname=junit_classname(capture), time="0"
    )
    failures = result.failures
    if result.outcome == "failed":
        first = failures[0].text if failures else f"{result.omitted} problem(s)"
        body = [_problem_text(p) for p in failures]
        if result.omitted:
            body.append(f"… and {result.omitted} more (not listed)")
        failure = ET.SubElement(
            case,
            "failure",
            message=xml_text(first, _MESSAGE_LIMIT),
            type=result.rule.id,
        )
        failure.text = body_text("\n".join(body))
    notes = [f"warning: {_problem_text(p)}" for p in result.warnings]
    notes += [f"expected: {_problem_text(p)}" for p in result.expected]
    if notes:
        out = ET.SubElement(case, "system-out")
        out.text = body_text("\n".join(notes))


def _expect_case(suite: ET.Element, capture: str, result: ExpectationResult) -> None:
    case = ET.SubElement(
        suite, "testcase", name=result.name, classname=junit_classname(capture), time="0"
    )
    if not result.holds:
        failure = ET.SubElement(
            case, "failure", message=xml_text(result.explain(), _MESSAGE_LIMIT), type="expect"
        )
        failure.text = body_text(
            f"[[expect]] #{result.expectation.index} for capture "
            f"{result.expectation.capture!r}: {result.explain()}"
        )


def _suite(parent: ET.Element, verdict: CaptureVerdict) -> tuple[int, int, int]:
    suite = ET.SubElement(parent, "testsuite", name=xml_text(verdict.capture, None))
    props = ET.SubElement(suite, "properties")
    ET.SubElement(
        props, "property", name="rules", value=xml_text(verdict.rules_source or DEFAULT_RULES_NAME)
    )
    ET.SubElement(props, "property", name="messages", value=str(verdict.messages))
    tests = failures = errors = 0
    if verdict.error is not None:
        case = ET.SubElement(
            suite, "testcase", name="read", classname=junit_classname(verdict.capture), time="0"
        )
        error = ET.SubElement(
            case, "error", message=xml_text(verdict.error, _MESSAGE_LIMIT), type="capture"
        )
        error.text = xml_text(verdict.error)
        tests, errors = 1, 1
    for result in verdict.rules:
        _rule_case(suite, verdict.capture, result)
        tests += 1
        failures += result.outcome == "failed"
    for expectation in verdict.expectations:
        _expect_case(suite, verdict.capture, expectation)
        tests += 1
        failures += not expectation.holds
    suite.set("tests", str(tests))
    suite.set("failures", str(failures))
    suite.set("errors", str(errors))
    suite.set("skipped", "0")
    suite.set("time", f"{verdict.duration:.3f}")
    suite.set("timestamp", datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S"))
    return tests, failures, errors


def junit_tree(verdicts: Sequence[CaptureVerdict]) -> ET.ElementTree:
    """The whole report as an element tree (``<testsuites>`` root)."""
    root = ET.Element("testsuites", name="sipwatch check")
    tests = failures = errors = 0
    for verdict in verdicts:
        t, f, e = _suite(root, verdict)
        tests, failures, errors = tests + t, failures + f, errors + e
    root.set("tests", str(tests))
    root.set("failures", str(failures))
    root.set("errors", str(errors))
    root.set("time", f"{sum(v.duration for v in verdicts):.3f}")
    tree = ET.ElementTree(root)
    ET.indent(tree)
    return tree


def write_junit(verdicts: Sequence[CaptureVerdict], target: str | IO[bytes]) -> None:
    """Write the report to a file name or a binary stream, UTF-8 with an XML declaration."""
    junit_tree(verdicts).write(target, encoding="utf-8", xml_declaration=True)
