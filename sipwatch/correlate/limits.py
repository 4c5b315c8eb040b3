"""The caps on the correlator's tables.

Every table is bounded: when one is full its oldest entry is evicted and the eviction counted in
:class:`~sipwatch.correlate.events.CorrelatorStats` (sngrep silently stops at 20,000 dialogs;
counting tells the user the picture is incomplete). Entries also expire on RFC timers in capture
time, so in a steady live session the caps are only reached by real overload.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Limits:
    """Caps on every table; the oldest entry is evicted (and counted) when one is full."""

    #: An open exchange costs about 5.5 KB while its request is kept (an unanswered one until
    #: Timer B/F), about 9 KB for a REFER with its 202 and transfer: the cap keeps a crafted
    #: flood of either (a scanner, a dead trunk) under 300 MB in all (docs/limits.md gives the
    #: measured figure per table). A settled exchange lingers 64*T1 for retransmissions.
    exchanges: int = 24_576
    #: About 1.3 KB a dialog beyond its exchange.
    dialogs: int = 32_768
    transfers: int = 10_000
    hops: int = 16  # transactions (hop copies) per exchange
    frames: int = 64  # frames remembered per exchange and per finding
    memo: int = 100_000  # per-call memos: reported option tags, reported violations
