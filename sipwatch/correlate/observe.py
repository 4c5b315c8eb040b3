"""Headers that earn findings of their own: Reason, Warning, unregistered option tags.

They are noted on the exchange when the first copy of a message carries them and turned into
findings when the exchange settles (:mod:`sipwatch.correlate.notices`,
:func:`sipwatch.correlate.extensions.build_unregistered_tag`). An unregistered option tag is
reported once per Call-ID, header and tag (a memo bounded like every table).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Collection
from typing import Final

from sipwatch.correlate import extensions
from sipwatch.correlate.context import Reporter
from sipwatch.correlate.events import CorrelatorStats, Endpoint
from sipwatch.correlate.transactions import Exchange, Observation
from sipwatch.sip.message import SipMessage

#: Observations kept per exchange.
MAX_OBSERVATIONS: Final = 16
#: Index keys (lower-case long header names) worth a look.
_OBSERVED: Final = frozenset({"reason", "warning", "require", "proxy-require", "supported"})


class HeaderObserver:
    """Collects observations on exchanges; remembers which option tags were reported."""

    __slots__ = ("_cap", "_reported", "_reporter", "_stats", "registered")

    def __init__(
        self,
        reporter: Reporter,
        stats: CorrelatorStats,
        registered: Collection[str] | None,
        cap: int,
    ) -> None:
        self._reporter = reporter
        self._stats = stats
        #: None disables the option-tag check (no registry was given to the correlator).
        self.registered = registered
        self._cap = cap
        self._reported: OrderedDict[tuple[str, str, str], None] = OrderedDict()

    def observe(self, ex: Exchange, msg: SipMessage, ts: float, frame: int, src: Endpoint) -> None:
        """Note Reason, Warning and unregistered option tags of one message of ``ex``."""
        index = msg.index  # lower-case long names (the parser expands compact forms)
        if index.keys().isdisjoint(_OBSERVED):
            return  # the common case, decided with five lookups and no allocation
        status = None if msg.kind == "request" else msg.status

        def keep(kind: str, header: str, value: str) -> None:
            if ex.observations is None:
                ex.observations = []
            if len(ex.observations) < MAX_OBSERVATIONS:
                ex.observations.append(
                    Observation(kind, frame, ts, ex.method, status, header, value, src)
                )

        if "reason" in index:
            for value in msg.header_values("reason"):
                keep("reason", "Reason", value)
        if "warning" in index:
            for value in msg.header_values("warning"):
                keep("warning-header", "Warning", value)
        if self.registered is None:
            return
        for header, tag in extensions.unregistered_tags(msg, self.registered):
            memo = (ex.call_id, header, tag)
            self._reporter.note(f"'{tag}' in {header} is not a registered option tag", "warning")
            if memo in self._reported:
                continue
            if len(self._reported) >= self._cap:
                self._reported.popitem(last=False)
                self._stats.evicted["tag_memo"] += 1
            self._reported[memo] = None
            keep("unregistered-option-tag", header, tag)
