"""Terminal report of ``sipwatch check``: one line per capture as it is checked, then each
failure with its explanation and remedy, then the totals.

The per-capture line is printed as soon as the capture is done, so a long CI log shows progress;
the details come last, where a reader scrolling up from the end of the log finds them first.
Wire text is never interpreted as markup: every piece is a ``rich.text.Text`` built from
:func:`sipwatch.render.safe.inert` output.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from rich.console import Console
from rich.text import Text

from sipwatch.check.config import CheckConfig
from sipwatch.check.rules import Problem
from sipwatch.check.verdict import CaptureVerdict, rules_used
from sipwatch.render.safe import inert

_LABEL: Final[dict[str, tuple[str, str]]] = {
    "passed": ("PASS ", "bold green"),
    "failed": ("FAIL ", "bold red"),
    "error": ("ERROR", "bold magenta"),
}
_TEXT_LIMIT: Final = 1200


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def capture_line(verdict: CaptureVerdict) -> Text:
    """``FAIL  captures/x.pcap  2 failures, 1 warning (14 messages)``."""
    label, style = _LABEL[verdict.outcome]
    line = Text()
    line.append(label, style=style)
    line.append("  " + inert(verdict.capture))
    if verdict.error is not None:
        line.append("  " + inert(verdict.error, 300), style="magenta")
        return line
    counts = []
    if verdict.failure_count:
        counts.append(_plural(verdict.failure_count, "failure"))
    if verdict.warnings:
        counts.append(_plural(len(verdict.warnings), "warning"))
    if verdict.expected:
        counts.append(f"{len(verdict.expected)} expected")
    detail = ", ".join(counts) if counts else "ok"
    line.append(f"  {detail} ({_plural(verdict.messages, 'message')})", style="dim")
    return line


class CheckTerminalReport:
    """Prints to a rich console (a real terminal, or a StringIO in tests)."""

    def __init__(self, console: Console, strict: bool = False) -> None:
        self.console = console
        self.strict = strict

    def capture(self, verdict: CaptureVerdict) -> None:
        # Never wrapped: one capture, one line, whatever the width (CI logs are grepped).
        self.console.print(capture_line(verdict), soft_wrap=True)

    def finish(self, verdicts: Sequence[CaptureVerdict], configs: Sequence[CheckConfig]) -> None:
        """Details of what failed or warned, notes on unused expectations, then the totals.

        ``configs`` are the rules that judged the captures (several when captures in
        different folders each found their own rules file).
        """
        for verdict in verdicts:
            if verdict.outcome == "failed" or verdict.warnings:
                self._details(verdict)
        for config in configs:
            judged = [v for v in verdicts if v.rules_source == config.source]
            self._unused_expectations(judged, config)
        self.console.print()
        self.console.print(self._totals(verdicts), soft_wrap=True)

    # -- pieces ----------------------------------------------------------------------------

    def _details(self, verdict: CaptureVerdict) -> None:
        console = self.console
        console.print()
        console.print(Text(inert(verdict.capture), style="bold"), soft_wrap=True)
        for problem in verdict.failures:
            self._problem(problem, "✗", "red")
        for result in verdict.rules:
            if result.outcome == "failed" and result.omitted:
                console.print(
                    Text(f"  ✗ {result.rule.id}: … and {result.omitted} more", style="red")
                )
        for expectation in verdict.broken_expectations:
            head = Text("  ✗ ", style="red")
            head.append(inert(expectation.name), style="bold")
            head.append(f"  ([[expect]] #{expectation.expectation.index})", style="dim")
            console.print(head, overflow="fold")
            self._indented(Text(inert(expectation.explain())))
        for problem in verdict.warnings:
            self._problem(problem, "!", "yellow")

    def _problem(self, problem: Problem, mark: str, style: str) -> None:
        head = Text(f"  {mark} ", style=style)
        head.append(problem.rule, style="bold")
        if problem.call_id:
            head.append(f"  [{inert(problem.call_id[:8])}]", style="dim")
        if problem.frames:
            frames = ", ".join(str(f) for f in problem.frames[:8])
            more = ", …" if len(problem.frames) > 8 else ""
            head.append(
                f"  frame{'s' if len(problem.frames) > 1 else ''} {frames}{more}", style="dim"
            )
        self.console.print(head, overflow="fold")
        self._indented(Text(inert(problem.text, _TEXT_LIMIT)))
        if problem.remedy:
            remedy = Text("→ ", style="green")
            remedy.append(inert(problem.remedy, _TEXT_LIMIT), style="italic")
            self._indented(remedy)

    def _indented(self, text: Text, indent: int = 4) -> None:
        """Word-wrapped under the heading, without the trailing blanks rich pads lines with."""
        width = max(20, self.console.width - indent)
        for line in text.wrap(self.console, width):
            line.rstrip()
            self.console.print(Text(" " * indent) + line, soft_wrap=True)

    def _unused_expectations(self, verdicts: Sequence[CaptureVerdict], config: CheckConfig) -> None:
        """An ``[[expect]]`` that names no checked capture is probably a typo: say so."""
        checked = [v.capture for v in verdicts]
        for expectation in config.expect:
            if not any(expectation.applies_to(c) for c in checked):
                self.console.print(
                    Text(
                        f"note: [[expect]] #{expectation.index} (capture "
                        f"{inert(expectation.capture)!r}) matched no checked capture",
                        style="yellow",
                    )
                )

    def _totals(self, verdicts: Sequence[CaptureVerdict]) -> Text:
        counts = {"passed": 0, "failed": 0, "error": 0}
        for verdict in verdicts:
            counts[verdict.outcome] += 1
        style = "bold red" if counts["failed"] or counts["error"] else "bold green"
        line = Text(f"{_plural(len(verdicts), 'capture')}: ", style=style)
        parts = [f"{counts['passed']} passed", f"{counts['failed']} failed"]
        if counts["error"]:
            parts.append(f"{counts['error']} unreadable")
        line.append(", ".join(parts), style=style)
        strict = self.strict or any(v.strict for v in verdicts)
        line.append(
            f" (rules: {inert(rules_used(verdicts))}{'; strict' if strict else ''})", style="dim"
        )
        return line
