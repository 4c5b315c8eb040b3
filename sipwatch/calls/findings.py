"""The one place the call model reads a finding record.

Finding records carry many kind-specific facts; a call needs six of them. Reading them here,
and only here, keeps the call model independent of how findings are built.
"""

from __future__ import annotations

from sipwatch.calls.model import CallFinding
from sipwatch.records import FindingRecord


def finding_call_id(record: FindingRecord) -> str:
    return str(record.data.get("call_id") or "")


def finding_view(record: FindingRecord) -> CallFinding:
    """Kind, severity, frames, text and remedy of a finding, whatever else it carries."""
    data = record.data
    frames = data.get("frames") or []
    return CallFinding(
        kind=record.kind,
        severity=record.severity,
        frames=[int(f) for f in frames if isinstance(f, int)],
        text=str(data.get("text") or ""),
        remedy=str(data.get("remedy") or ""),
    )
