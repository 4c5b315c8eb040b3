"""RFC timer values and a deadline queue driven by capture time only.

The correlator never reads a clock (DESIGN §2 rule 1): every deadline is a capture timestamp,
and :meth:`Deadlines.pop_due` runs what is due when the caller says what time it is (a packet's
timestamp, or an ``expire(ts)`` tick). A pcap post-mortem and a live session therefore fire the
same timers at the same capture instants, and tests need no sleeps.
"""

from __future__ import annotations

import heapq
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
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
#: How long the correlator waits for a UAC's retry after a challenge or a 42x/491/3xx
#: (64*T1, the transaction timeout: a retry is a new transaction, RFC 3261 §8.1.3.5).
RETRY_WINDOW: Final = 64 * T1
#: RFC 3261 §14.1: a UAC that gets 491 retries after 2.1-4 s if it owns the Call-ID, else 0-2 s.
GLARE_OWNER_RANGE: Final = (2.1, 4.0)
GLARE_OTHER_RANGE: Final = (0.0, 2.0)

Callback = Callable[[float], None]
Subject = TypeVar("Subject")


@dataclass(slots=True, eq=False)
class Timer:
    """A scheduled callback; :meth:`cancel` makes it a no-op without touching the queues.

    A timer for an object (an exchange, a transfer) keeps the object in ``subject`` and calls
    ``callback(subject, due)``: the callback is then a bound method made once by its owner, not
    a ``functools.partial`` and a bound method per timer. The correlator keeps a few timers for
    each of tens of thousands of exchanges, so those two objects were a tenth of its memory.
    ``seq`` orders timers with the same due time (scheduling order).
    """

    due: float
    callback: Callable[..., None]
    subject: Any = None
    cancelled: bool = False
    seq: int = 0

    def cancel(self) -> None:
        self.cancelled = True
        # The subject usually holds this timer (an exchange, a dialog): dropping it once the
        # timer can no longer run lets reference counting free both at once, instead of leaving
        # a cycle for the garbage collector.
        self.callback = _spent
        self.subject = None


def _spent(now: float) -> None:
    """The callback of a timer that fired or was cancelled."""


class Deadlines:
    """Timers in due order: a FIFO per constant delay, a min-heap for the rest.

    Most deadlines are "capture time now + a constant" (settle T1, Timer B/F, the 64*T1 linger,
    the retry window) and capture time hardly ever goes backwards, so each such timer is due no
    earlier than the last one with the same delay: appending to a FIFO keeps it sorted, in O(1),
    with no heap entry. :meth:`schedule_in` does that, and falls back to the heap when the
    capture time did step back. With ~200,000 live timers a heap push and pop cost ~3.6 µs, a
    FIFO append and pop ~0.9 µs, and the heap's ``(due, seq, timer)`` tuple is gone.
    :meth:`pop_due` merges the heap and the FIFO heads by ``(due, seq)``, so timers run in
    exactly the order a single heap would give.

    Cancelled timers stay queued until they are popped, or until they outnumber live ones, when
    the queues are rebuilt without them; so they never hold more than about twice the number of
    live timers, however often entries are rescheduled.
    """

    __slots__ = ("_cancelled", "_fifos", "_heap", "_next", "_queued", "_queues", "_seq")

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, Timer]] = []
        #: delay -> timers scheduled with it, in (due, seq) order.
        self._fifos: dict[float, deque[Timer]] = {}
        self._queues: list[deque[Timer]] = []  # the values of _fifos, for the merge
        self._queued = 0  # entries in the FIFOs, live or cancelled
        self._seq = 0
        self._cancelled = 0
        #: No live timer is due before this (it may be earlier than the first live one).
        self._next = _INF

    def schedule(self, due: float, callback: Callback) -> Timer:
        self._seq += 1
        timer = Timer(due, callback, None, False, self._seq)
        heapq.heappush(self._heap, (due, self._seq, timer))
        self._next = min(self._next, due)
        return timer

    def schedule_for(
        self, due: float, callback: Callable[[Subject, float], None], subject: Subject
    ) -> Timer:
        """Like :meth:`schedule`, calling ``callback(subject, due)`` (see :class:`Timer`)."""
        self._seq += 1
        timer = Timer(due, callback, subject, False, self._seq)
        heapq.heappush(self._heap, (due, self._seq, timer))
        self._next = min(self._next, due)
        return timer

    def schedule_in(
        self,
        start: float,
        delay: float,
        callback: Callable[[Subject, float], None],
        subject: Subject,
    ) -> Timer:
        """:meth:`schedule_for` at ``start + delay``, in the FIFO of ``delay`` when in order."""
        due = start + delay
        self._seq += 1
        timer = Timer(due, callback, subject, False, self._seq)
        fifo = self._fifos.get(delay)
        if fifo is None:
            fifo = self._fifos[delay] = deque()
            self._queues.append(fifo)
        if fifo and fifo[-1].due > due:  # capture time stepped back: keep the FIFO sorted
            heapq.heappush(self._heap, (due, self._seq, timer))
        else:
            fifo.append(timer)
            self._queued += 1
        self._next = min(self._next, due)
        return timer

    def cancel(self, timer: Timer | None) -> None:
        if timer is None or timer.cancelled:
            return
        timer.cancel()
        self._cancelled += 1
        if self._cancelled > 1024 and self._cancelled * 2 > len(self):
            self._heap = [entry for entry in self._heap if not entry[2].cancelled]
            heapq.heapify(self._heap)
            self._queued = 0
            for fifo in self._queues:
                live = [timer for timer in fifo if not timer.cancelled]
                fifo.clear()
                fifo.extend(live)
                self._queued += len(live)
            self._cancelled = 0

    def due(self, now: float) -> bool:
        """Whether :meth:`pop_due` might run something at ``now`` (cheap: one comparison)."""
        return self._next <= now

    def _head(self) -> tuple[float, deque[Timer] | None]:
        """Due time of the earliest entry, live or cancelled, and its FIFO (None: the heap)."""
        heap = self._heap
        if heap:
            top = heap[0]
            due, seq = top[0], top[1]
        else:
            due, seq = _INF, 0
        source = None
        for fifo in self._queues:
            if fifo:
                timer = fifo[0]
                if timer.due < due or (timer.due == due and timer.seq < seq):
                    due, seq, source = timer.due, timer.seq, fifo
        return due, source

    def _pop(self, source: deque[Timer] | None) -> Timer:
        if source is None:
            timer = heapq.heappop(self._heap)[2]
        else:
            timer = source.popleft()
            self._queued -= 1
        if timer.cancelled:
            self._cancelled = max(0, self._cancelled - 1)
        return timer

    def next_due(self) -> float | None:
        while True:
            due, source = self._head()
            if due == _INF:
                self._next = _INF
                return None
            first = self._heap[0][2] if source is None else source[0]
            if not first.cancelled:
                self._next = due
                return due
            self._pop(source)

    def pop_due(self, now: float) -> int:
        """Run every live timer with ``due <= now`` in due order (ties: scheduling order).

        Each callback gets its own due time as the current time: the timer fired then, however
        coarsely the caller ticks, so chained deadlines (settle, then retry window, then close)
        do not drift with the tick rate. Callbacks may schedule further timers; those due by
        ``now`` run in the same call. Returns how many callbacks ran.
        """
        ran = 0
        while True:
            due, source = self._head()
            if due > now:
                self._next = due
                return ran
            timer = self._pop(source)
            if timer.cancelled:
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

    def shift(self, step: float) -> None:
        """Move every queued timer ``step`` seconds later (a jump of the capture clock). All
        move together, so every queue stays in order."""
        self._heap = [(due + step, seq, timer) for due, seq, timer in self._heap]
        for entry in self._heap:
            entry[2].due += step
        for fifo in self._queues:
            for timer in fifo:
                timer.due += step
        if self._next != _INF:
            self._next += step

    def drain(self) -> list[Timer]:
        """Remove and return every live timer (end of capture), in due order."""
        live = [timer for _, _, timer in self._heap if not timer.cancelled]
        for fifo in self._queues:
            live.extend(timer for timer in fifo if not timer.cancelled)
            fifo.clear()
        self._queued = 0
        live.sort(key=lambda timer: (timer.due, timer.seq))
        self._heap = []
        self._cancelled = 0
        self._next = _INF
        for timer in live:
            timer.cancelled = True
        return live

    def __len__(self) -> int:
        return len(self._heap) + self._queued


_INF: Final = float("inf")
