"""Markdown report of ``sipwatch check`` (``--markdown FILE``), e.g. for ``$GITHUB_STEP_SUMMARY``.

A heading with the totals, a table with one row per capture, then one section per capture that
did not pass, listing each failure with its remedy; warnings fold into a ``<details>`` block.

Everything from the wire is escaped: a GitHub job summary renders Markdown *and* inline HTML,
so a ``From`` header holding ``<img src=…>`` or ``[click](…)`` must come out as text. Only what
Markdown or HTML would act on in the middle of a line is backslash-escaped (CommonMark §2.4), so
the source stays readable in a pull request: code spans, emphasis, links and images, table
cells, strikethrough, GitHub's math, tags and entities, and, at a word's edge only, ``_``
emphasis, ``@`` mentions and ``#123`` references. Control characters are made visible first
(:func:`sipwatch.render.safe.inert`). Escaped text never starts a line, so the characters that
act only there (``#``, ``>``, ``-``, ``+``, ``=``) need nothing.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Final

from sipwatch.check.rules import Problem
from sipwatch.check.verdict import CaptureVerdict, rules_used
from sipwatch.render.safe import inert

#: What acts anywhere in a line: the backslash itself, code spans, ``*`` emphasis (also inside
#: words), links and images (``(`` and ``!`` do nothing without ``[``), table cells, ``~~``,
#: ``$`` math, tags and entities; then what acts only at a word's edge (GFM ignores ``_``
#: inside a word, and ``a@b`` is an address, not a mention).
_MARKUP: Final = re.compile(
    r"([\\`*\[\]|~<&$])|((?<![0-9A-Za-z])_|_(?![0-9A-Za-z])|(?<!\w)@(?=\w)|(?<!\w)#(?=\d))"
)
_TEXT_LIMIT: Final = 1000
_ICON: Final[dict[str, str]] = {"passed": "✅", "failed": "❌", "error": "⚠️"}


def md_escape(text: str, limit: int | None = _TEXT_LIMIT) -> str:
    """One line of inert, escaped text: safe inside a paragraph, list item or table cell."""
    flat = inert(" ".join(text.splitlines()), limit)
    return _MARKUP.sub(lambda match: "\\" + match.group(0), flat)


def _problem_item(problem: Problem) -> list[str]:
    where = []
    if problem.call_id:
        where.append(f"Call-ID {md_escape(problem.call_id, 80)}")
    if problem.frames:
        shown = ", ".join(str(f) for f in problem.frames[:12])
        label = "frame" if len(problem.frames) == 1 else "frames"
        where.append(f"{label} {shown}{', …' if len(problem.frames) > 12 else ''}")
    line = f"- **{problem.rule}**: {md_escape(problem.text)}"
    if where:
        line += f" ({'; '.join(where)})"
    lines = [line]
    if problem.remedy:
        lines.append(f"  *Remedy:* {md_escape(problem.remedy)}")
    return lines


def _section(verdict: CaptureVerdict) -> list[str]:
    lines = [f"### {_ICON[verdict.outcome]} {md_escape(verdict.capture, None)}", ""]
    if verdict.error is not None:
        lines += [f"Could not be read: {md_escape(verdict.error)}", ""]
        return lines
    for problem in verdict.failures:
        lines += _problem_item(problem)
    for result in verdict.rules:
        if result.outcome == "failed" and result.omitted:
            lines.append(f"- **{result.rule.id}**: … and {result.omitted} more")
    for expectation in verdict.broken_expectations:
        lines.append(
            f"- **{md_escape(expectation.name, None)}** "
            f"(\\[\\[expect\\]\\] #{expectation.expectation.index}): "
            f"{md_escape(expectation.explain())}"
        )
    warnings = verdict.warnings
    if warnings:
        lines += ["", f"<details><summary>Warnings ({len(warnings)})</summary>", ""]
        for problem in warnings:
            lines += _problem_item(problem)
        lines += ["", "</details>"]
    lines.append("")
    return lines


def markdown_report(verdicts: Sequence[CaptureVerdict], strict: bool = False) -> str:
    """The whole report as Markdown text."""
    counts = {"passed": 0, "failed": 0, "error": 0}
    for verdict in verdicts:
        counts[verdict.outcome] += 1
    parts = [f"{counts['passed']} passed", f"{counts['failed']} failed"]
    if counts["error"]:
        parts.append(f"{counts['error']} unreadable")
    icon = "❌" if counts["failed"] or counts["error"] else "✅"
    lines = [
        f"## {icon} sipwatch check: {', '.join(parts)}",
        "",
        f"Rules: {md_escape(rules_used(verdicts), None)}"
        + (" (strict: warnings fail)" if strict or any(v.strict for v in verdicts) else ""),
        "",
        "| | Capture | Failures | Warnings | Expected | Messages |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for verdict in verdicts:
        lines.append(
            f"| {_ICON[verdict.outcome]} | {md_escape(verdict.capture, None)} | "
            f"{verdict.failure_count} | {len(verdict.warnings)} | {len(verdict.expected)} | "
            f"{verdict.messages} |"
        )
    lines.append("")
    for verdict in verdicts:
        if verdict.outcome != "passed" or verdict.warnings:
            lines += _section(verdict)
    return "\n".join(lines).rstrip("\n") + "\n"


def write_markdown(
    verdicts: Sequence[CaptureVerdict],
    target: str,
    strict: bool = False,
) -> None:
    """Write the report (UTF-8), replacing the file like ``--junit`` does.

    GitHub gives every step its own ``$GITHUB_STEP_SUMMARY`` file, so ``--markdown
    "$GITHUB_STEP_SUMMARY"`` replaces nothing another step wrote.
    """
    Path(target).write_text(markdown_report(verdicts, strict), encoding="utf-8")
