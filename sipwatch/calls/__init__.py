"""Calls as first-class objects: every Call-ID's messages and findings gathered into one
:class:`~sipwatch.calls.model.Call`, linked to the calls evidence ties to it.

Sans-I/O like the correlator: :class:`~sipwatch.calls.tracker.CallTracker` is fed the
pipeline's records in capture order and keeps no clock but their timestamps.
"""

from __future__ import annotations

from sipwatch.calls.model import Call, CallFinding, CallMessage, Element, Party, Related
from sipwatch.calls.tracker import CallTracker

__all__ = [
    "Call",
    "CallFinding",
    "CallMessage",
    "CallTracker",
    "Element",
    "Party",
    "Related",
]
