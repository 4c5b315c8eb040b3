"""Which calls a listing shows, in what order, and the totals under it.

Filters are on what engineers search by: the final status (``4xx``, ``503``), a substring of
the From or To user or number, an element's IP, a Server/User-Agent substring.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

from sipwatch.calls.model import SEVERITY_ORDER, Call
from sipwatch.filters import FilterError, parse_status_filter

SORTS = ("problems", "time")


@dataclass(frozen=True, slots=True)
class CallFilter:
    """All given criteria must hold; the empty filter accepts every call."""

    classes: frozenset[int] = frozenset()
    codes: frozenset[int] = frozenset()
    from_user: str = ""
    to_user: str = ""
    ip: str = ""
    ua: str = ""

    @classmethod
    def build(
        cls,
        status: str | None = None,
        from_user: str | None = None,
        to_user: str | None = None,
        ip: str | None = None,
        ua: str | None = None,
    ) -> CallFilter:
        classes, codes = parse_status_filter(status) if status else (frozenset(), frozenset())
        return cls(
            classes,
            codes,
            (from_user or "").lower(),
            (to_user or "").lower(),
            (ip or "").strip(),
            (ua or "").lower(),
        )

    def accepts(self, call: Call) -> bool:
        if self.classes or self.codes:
            status = call.final_status
            if status is None or (status // 100 not in self.classes and status not in self.codes):
                return False
        if self.from_user and self.from_user not in call.from_party.user.lower():
            return False
        if self.to_user and self.to_user not in call.to_party.user.lower():
            return False
        if self.ip and not any(_host(a) == self.ip for a in call.elements):
            return False
        if self.ua:
            agents = [e.agent.lower() for e in call.elements.values()]
            if not any(self.ua in agent for agent in agents):
                return False
        return True


def _host(address: str) -> str:
    """``10.0.0.1`` of ``10.0.0.1:5060``, ``2001:db8::1`` of ``[2001:db8::1]:5060``."""
    host = address.rpartition(":")[0] if ":" in address else address
    return host.strip("[]")


def sort_calls(calls: Iterable[Call], sort: str) -> list[Call]:
    """``time``: by start. ``problems``: worst severity first, newest first within it."""
    if sort not in SORTS:
        raise FilterError(f"bad --sort value {sort!r}: use one of {', '.join(SORTS)}")
    ordered = sorted(calls, key=lambda c: (c.start_ts, c.first_frame))
    if sort == "time":
        return ordered
    rank = {name: i for i, name in enumerate(SEVERITY_ORDER)}
    failed = {"failed": 1}
    return sorted(
        ordered,
        key=lambda c: (-rank.get(c.severity, 1), -failed.get(c.state, 0), -c.start_ts),
    )


@dataclass(slots=True)
class CallTotals:
    """Answered / failed / in progress, and calls by final status."""

    calls: int = 0
    by_state: Counter[str] = field(default_factory=Counter)
    by_status: Counter[int] = field(default_factory=Counter)

    @classmethod
    def of(cls, calls: Iterable[Call]) -> CallTotals:
        totals = cls()
        for call in calls:
            totals.calls += 1
            totals.by_state[call.state] += 1
            if call.final_status is not None:
                totals.by_status[call.final_status] += 1
        return totals
