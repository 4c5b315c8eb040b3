"""The FIFO-per-delay timer queues fire in exactly the order one heap would."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from sipwatch.correlate.timers import Deadlines

#: (start, delay index, cancel it) per timer; delays as the correlator uses them.
_DELAYS = (0.5, 32.0, 180.0)
_OPS = st.lists(
    st.tuples(
        st.floats(min_value=0.0, max_value=100.0, allow_nan=False),
        st.integers(min_value=0, max_value=len(_DELAYS)),  # the last one: a plain heap timer
        st.booleans(),
    ),
    max_size=60,
)


@settings(max_examples=200, deadline=None)
@given(_OPS, st.floats(min_value=0.0, max_value=300.0, allow_nan=False))
def test_timers_fire_in_due_then_scheduling_order(
    ops: list[tuple[float, int, bool]], now: float
) -> None:
    deadlines = Deadlines()
    order: list[int] = []
    expected: list[tuple[float, int]] = []  # (due, scheduling order) of the live timers

    def record(subject: int, due: float) -> None:
        order.append(subject)

    for seq, (start, which, cancel) in enumerate(ops):
        if which < len(_DELAYS):
            # Starts in random order: capture times that step back go to the heap.
            timer = deadlines.schedule_in(start, _DELAYS[which], record, seq)
            due = start + _DELAYS[which]
        else:
            timer = deadlines.schedule_for(start, record, seq)
            due = start
        if cancel:
            deadlines.cancel(timer)
        else:
            expected.append((due, seq))
    expected.sort()
    due_now = [seq for due, seq in expected if due <= now]
    assert deadlines.pop_due(now) == len(due_now)
    assert order == due_now
    later = [seq for due, seq in expected if due > now]
    assert deadlines.next_due() == (expected[len(due_now)][0] if later else None)
    assert [timer.seq for timer in deadlines.drain()] == [seq + 1 for seq in later]
    assert len(deadlines) == 0 and deadlines.next_due() is None


def test_a_step_back_in_capture_time_goes_to_the_heap() -> None:
    deadlines = Deadlines()
    fired: list[float] = []
    deadlines.schedule_in(10.0, 0.5, lambda s, n: fired.append(n), "a")
    deadlines.schedule_in(9.0, 0.5, lambda s, n: fired.append(n), "b")  # earlier: out of order
    assert deadlines.next_due() == 9.5
    assert deadlines.pop_due(20.0) == 2 and fired == [9.5, 10.5]


def test_cancelled_fifo_entries_are_bounded() -> None:
    deadlines = Deadlines()
    keep = deadlines.schedule_in(1e9, 32.0, lambda s, n: None, "kept")
    for i in range(10_000):
        deadlines.cancel(deadlines.schedule_in(1e9 + i, 32.0, lambda s, n: None, i))
    assert len(deadlines) < 3000
    assert deadlines.next_due() == 1e9 + 32.0 and not keep.cancelled
