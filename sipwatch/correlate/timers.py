"""RFC timer values and a deadline queue driven by capture time only.

The correlator never reads a clock (DESIGN §2 rule 1): every deadline is a capture timestamp,
and :meth:`Deadlines.pop_due` runs what is due when the caller says what time it is (a packet's
timestamp, or an ``expire(ts)`` tick). A pcap post-mortem and a live session therefore fire the
same timers at the same capture instants, and tests need no sleeps.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Final, TypeVar

#: RFC 3261 §17.1.1.1 / Table 4: T1, the RTT estimate (500 ms).
T1: Final = 0.5
#: RFC 3261 §17.1.1.2: Timer B (INVITE transaction timeout) = 64*T1.
TIMER_B: Final = 64 * T1
#: RFC 3261 §17.1.2.2: Timer F (non-INVITE transaction timeout) = 64*T1.
TIMER_F: Final = 64 * T1
#: RFC 3261 §16.6 step 11 / §16.7: Timer C, a proxy's wait for a final response to an INVITE that
#: got a provisional, "MUST be larger than 3 minutes".
TIMER_C: Final = 180.0
#: RFC 3261 §17.1.1.2 Timer D / §17.2.1 Timer H / §17.1.2.2 Timer K and RFC 6026 Timer L/M: how
#: long transaction state lingers to absorb retransmissions; 64*T1 covers all of them.
LINGER: Final = 64 * T1
#: RFC 3261 §14.1: a UAC that gets 491 retries after 2.1-4 s if it owns the Call-ID, else 0-2 s.
GLARE_OWNER_RANGE: Final = (2.1, 4.0)
GLARE_OTHER_RANGE: Final = (0.0, 2.0)

Callback = Callable[[float], None]
Subject = TypeVar("Subject")


@dataclass(slots=True, eq=False)
class Timer:
    """A scheduled callback; :meth:`cancel` makes it a no-op without touching the heap.

    A timer for an object (an exchange, a transfer) keeps the object in ``subject`` and calls
    ``callback(subject, due)``: the callback is then a bound method made once by its owner, not
    a ``functools.partial`` and a bound method per timer. The correlator keeps a few timers for
    each of tens of thousands of exchanges, so those two objects were a tenth of its memory.
    """

    due: float
    callback: Callable[..., None]
    subject: Any = None
    cancelled: bool = False

    def cancel(self) -> None:
        self.cancelled = True
        # The subject usually holds this timer (an exchange, a dialog): dropping it once the
        # timer can no longer run lets reference counting free both at once, instead of leaving
        # a cycle for the garbage collector.
        self.callback = _spent
        self.subject = None


def _spent(now: float) -> None:
    """The callback of a timer that fired or was cancelled."""


@dataclass(slots=True)
class Deadlines:
    """A min-heap of :class:`Timer` with lazy cancellation and bounded garbage.

    Cancelled timers stay in the heap until they are popped, or until they outnumber live ones,
    when the heap is rebuilt without them; so the heap never grows beyond about twice the number
    of live timers, however often entries are rescheduled.
    """

    _heap: list[tuple[float, int, Timer]] = field(default_factory=list)
    _seq: int = 0
    _cancelled: int = 0

    def schedule(self, due: float, callback: Callback) -> Timer:
        timer = Timer(due, callback)
        self._seq += 1
        heapq.heappush(self._heap, (due, self._seq, timer))
        return timer

    def schedule_for(
        self, due: float, callback: Callable[[Subject, float], None], subject: Subject
    ) -> Timer:
        """Like :meth:`schedule`, calling ``callback(subject, due)`` (see :class:`Timer`)."""
        timer = Timer(due, callback, subject)
        self._seq += 1
        heapq.heappush(self._heap, (due, self._seq, timer))
        return timer

    def cancel(self, timer: Timer | None) -> None:
        if timer is None or timer.cancelled:
            return
        timer.cancel()
        self._cancelled += 1
        if self._cancelled > 1024 and self._cancelled * 2 > len(self._heap):
            self._heap = [entry for entry in self._heap if not entry[2].cancelled]
            heapq.heapify(self._heap)
            self._cancelled = 0

    def due(self, now: float) -> bool:
        """Whether :meth:`pop_due` might run something at ``now`` (cheap: one comparison)."""
        heap = self._heap
        return bool(heap) and heap[0][0] <= now

    def next_due(self) -> float | None:
        while self._heap and self._heap[0][2].cancelled:
            heapq.heappop(self._heap)
            self._cancelled = max(0, self._cancelled - 1)
        return self._heap[0][0] if self._heap else None

    def pop_due(self, now: float) -> int:
        """Run every live timer with ``due <= now`` in due order (ties: scheduling order).

        Each callback gets its own due time as the current time: the timer fired then, however
        coarsely the caller ticks, so chained deadlines (settle, then retry window, then close)
        do not drift with the tick rate. Callbacks may schedule further timers; those due by
        ``now`` run in the same call. Returns how many callbacks ran.
        """
        ran = 0
        heap = self._heap
        while heap and heap[0][0] <= now:
            _, _, timer = heapq.heappop(heap)
            if timer.cancelled:
                self._cancelled = max(0, self._cancelled - 1)
                continue
            timer.cancelled = True  # fired: a later cancel() must not count it again
            callback, timer.callback = timer.callback, _spent
            subject = timer.subject
            if subject is None:
                callback(timer.due)
            else:
                timer.subject = None
                callback(subject, timer.due)
            ran += 1
        return ran

    def drain(self) -> list[Timer]:
        """Remove and return every live timer (end of capture), in due order."""
        live = sorted((e for e in self._heap if not e[2].cancelled), key=lambda e: (e[0], e[1]))
        self._heap = []
        self._cancelled = 0
        for _, _, timer in live:
            timer.cancelled = True
        return [timer for _, _, timer in live]

    def __len__(self) -> int:
        return len(self._heap)
