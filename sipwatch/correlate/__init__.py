"""sipwatch.correlate layer (see DESIGN.md): messages and capture times in, events out.

The public API is :class:`Correlator` (``feed``, ``expire``, ``finish``), its :class:`Limits`,
and the events it returns (:class:`MessageInfo`, :class:`Finding`, :class:`Note`,
:class:`CorrelatorStats`). The layer is sans-I/O: it imports only ``sipwatch.sip``.
"""

from __future__ import annotations

from sipwatch.correlate.correlator import Correlator, Limits
from sipwatch.correlate.events import (
    FINDING_KINDS,
    TRANSFER_OUTCOMES,
    CorrelatorStats,
    Event,
    Finding,
    MessageInfo,
    Note,
    RequestRef,
)

__all__ = [
    "FINDING_KINDS",
    "TRANSFER_OUTCOMES",
    "Correlator",
    "CorrelatorStats",
    "Event",
    "Finding",
    "Limits",
    "MessageInfo",
    "Note",
    "RequestRef",
]
