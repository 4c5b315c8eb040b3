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

    #: An open exchange costs about 5.5 KB while its request is kept (until it settles: an
    #: unanswered one keeps it until Timer B/F), so 40,000 keep a flood of unanswered requests
    #: (a scanner, a dead trunk) near 250 MB in all (docs/limits.md). A settled exchange
    #: lingers 64*T1 for retransmissions and costs far less.
    exchanges: int = 32_768
    dialogs: int = 50_000
    transfers: int = 10_000
    hops: int = 16  # transactions (hop copies) per exchange
    frames: int = 64  # frames remembered per exchange and per finding
    memo: int = 100_000  # per-call memos: reported option tags, reported violations
