"""The reporter every tracker writes to, and the small text helpers findings share.

Trackers (transfers, extensions, auth, dialogs) do not build events themselves: they tell the
:class:`Reporter` what they noticed about the current message (a :class:`Note`), hand it finished
findings, and report state-table violations. The correlator drains it after each message or timer
run, which keeps the ordering contract of :mod:`sipwatch.correlate.events` in one place.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable
from typing import Any

from sipwatch.correlate.events import CorrelatorStats, Finding, Note, Severity, new_note
from sipwatch.correlate.statetable import Violation


class Reporter:
    """Collects notes for the current message and findings for the event stream."""

    __slots__ = ("_cap", "_ids", "_seen", "findings", "notes", "stats")

    def __init__(self, stats: CorrelatorStats, cap: int) -> None:
        self.stats = stats
        self.notes: list[Note] = []
        self.findings: list[Finding] = []
        self._seen: OrderedDict[tuple[str, str, str, str], None] = OrderedDict()
        self._cap = cap
        self._ids = 0

    def note(self, text: str, severity: Severity = "info", remedy: str | None = None) -> None:
        self.notes.append(new_note(text, severity, remedy))

    def next_id(self) -> int:
        """A new finding id (1, 2, ...: stable for a given capture), for findings a later
        message may revise."""
        self._ids += 1
        return self._ids

    def emit(self, finding: Finding) -> None:
        self.stats.findings[finding.kind] += 1
        self.findings.append(finding)

    def violation(
        self,
        violation: Violation[Any, Any],
        *,
        ts: float,
        call_id: str,
        frames: Iterable[int],
        what: str,
        detail: str = "",
    ) -> None:
        """Note a missing table pair on the current message and emit one finding per kind of
        violation per call (a misbehaving peer repeats itself; one report says it)."""
        self.stats.violations += 1
        state = str(violation.state.value)
        event = str(violation.input.value)
        text = f"protocol violation: {what} ({violation.machine} state '{state}', input '{event}')"
        if detail:
            text += f": {detail}"
        self.note(text, "warning")
        key = (call_id, violation.machine, state, event)
        if key in self._seen:
            return
        if len(self._seen) >= self._cap:
            self._seen.popitem(last=False)
            self.stats.evicted["violation_memo"] += 1
        self._seen[key] = None
        self.emit(
            Finding(
                kind="protocol-violation",
                severity="warning",
                ts=ts,
                call_id=call_id,
                frames=tuple(sorted(set(frames))),
                text=text[0].upper() + text[1:] + ".",
                remedy="",
                details={
                    "machine": violation.machine,
                    "state": state,
                    "input": event,
                },
            )
        )

    def take_notes(self) -> tuple[Note, ...]:
        notes = tuple(self.notes)
        self.notes.clear()
        return notes

    def take_findings(self) -> list[Finding]:
        findings = self.findings
        self.findings = []
        return findings


# -- text helpers ----------------------------------------------------------------------------


def duration(seconds: float) -> str:
    """``12 ms``, ``1.532 s`` or ``95 s``: precise for short gaps, short for long ones."""
    seconds = max(seconds, 0.0)
    if seconds < 1.0:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 100.0:
        return f"{seconds:.3f} s".replace(".000 s", " s")
    return f"{seconds:.0f} s"


def offset(later: float | None, earlier: float | None) -> str:
    """``+12 ms`` between two capture times ("" when either is unknown)."""
    if later is None or earlier is None:
        return ""
    return "+" + duration(later - earlier)


def quoted(tokens: Iterable[str]) -> str:
    """``'100rel', 'timer'`` or ``none``."""
    items = [f"'{t}'" for t in tokens]
    return ", ".join(items) if items else "none"


def status_line(status: int | None, reason: str = "") -> str:
    if status is None:
        return "no final response"
    return f"{status} {reason}".rstrip()


def frame_ref(frame: int | None, ts: float | None = None, since: float | None = None) -> str:
    """``frame 12`` or ``frame 12, +35 ms``."""
    if frame is None:
        return "not captured"
    gap = offset(ts, since)
    return f"frame {frame}, {gap}" if gap else f"frame {frame}"


def capture_cut(after: str, cut: float, window: float, who: str = "the UAC") -> str:
    """The sentence for a conclusion the end of the capture pre-empted: ``after`` happened
    ``cut`` seconds before the last packet, inside the ``window`` the next step may take."""
    return (
        f"The capture ended {duration(cut)} after {after}, before the {duration(window)} a retry "
        f"may take: whether {who} retries is not known."
    )
