"""Summary counters that stay small however long a run lasts and whatever peers send.

The run summary counts things whose keys come from the wire: distinct Call-IDs, request
methods, kinds of malformed message. A live session runs for hours and a scanner can send a new
Call-ID or method name in every packet, so a plain ``set`` or ``Counter`` would grow for ever
(the Call-ID set alone costs ~120 bytes per call: 120 MB per million calls).

* :class:`DistinctCounter` counts distinct strings exactly, keeping only a 64-bit hash of each
  in a flat open-addressing table: 8 bytes a slot, 12-24 bytes a distinct string. Two different
  strings with the same 64-bit hash count once; with Python's keyed SipHash that happens with
  probability about n²/2⁶⁵ (3·10⁻⁸ for a million calls), and the peer cannot aim for it because
  the key is random per process. An exact distinct count cannot take less than linear memory,
  so this is the bound that remains; docs/limits.md says so.
* :class:`CappedCounter` is a ``Counter`` that accepts at most ``cap`` distinct keys; counts for
  further new keys go to :data:`OTHER`, and ``overflow`` says how many were folded, so the
  summary can report that it capped rather than grow or silently drop.
"""

from __future__ import annotations

from array import array
from collections import Counter
from collections.abc import Iterable
from typing import Final

#: The key counts are folded into once a :class:`CappedCounter` is full.
OTHER: Final = "(other)"
_EMPTY: Final = 0
_INITIAL_SLOTS: Final = 1024


class DistinctCounter:
    """How many distinct strings were added; ``len()`` answers, nothing else is kept.

    Open addressing with CPython's perturbed probe sequence over a power-of-two ``array('q')``,
    grown (doubled) at two-thirds full.
    """

    __slots__ = ("_count", "_mask", "_table")

    def __init__(self, values: Iterable[str] = ()) -> None:
        self._table = array("q", bytes(8 * _INITIAL_SLOTS))
        self._mask = _INITIAL_SLOTS - 1
        self._count = 0
        for value in values:
            self.add(value)

    def __len__(self) -> int:
        return self._count

    def __contains__(self, value: object) -> bool:
        if not isinstance(value, str):
            return False
        return self._find(_key(value)) < 0

    def add(self, value: str) -> None:
        key = _key(value)
        free = self._find(key)
        if free < 0:
            return
        self._table[free] = key
        self._count += 1
        if self._count * 3 > (self._mask + 1) * 2:
            self._grow()

    @property
    def nbytes(self) -> int:
        """Bytes of the table (for the memory tests and docs)."""
        return (self._mask + 1) * 8

    def _find(self, key: int) -> int:
        """The slot index where ``key`` would go, or -1 when it is already there."""
        table = self._table
        mask = self._mask
        perturb = key & 0xFFFFFFFFFFFFFFFF
        index = perturb & mask
        while True:
            slot = table[index]
            if slot == key:
                return -1
            if slot == _EMPTY:
                return index
            perturb >>= 5
            index = (index * 5 + perturb + 1) & mask

    def _grow(self) -> None:
        old = self._table
        self._table = array("q", bytes(16 * (self._mask + 1)))
        self._mask = self._mask * 2 + 1
        for key in old:
            if key != _EMPTY:
                self._table[self._find(key)] = key


def _key(value: str) -> int:
    """A non-zero 64-bit key for ``value`` (0 marks an empty slot)."""
    return hash(value) or 1


class CappedCounter(Counter[str]):
    """A Counter of at most ``cap`` distinct keys; later new keys are counted under OTHER.

    ``overflow`` is how many increments were folded into OTHER.
    """

    def __init__(self, cap: int = 256) -> None:
        super().__init__()
        self.cap = cap
        self.overflow = 0

    def __setitem__(self, key: str, value: int) -> None:
        if key not in self and key != OTHER and len(self) >= self.cap:
            # A new key (its count so far is 0, so ``value`` is the increment) when full.
            self.overflow += value
            key = OTHER
            value += self.get(OTHER, 0)
        super().__setitem__(key, value)


__all__ = ["OTHER", "CappedCounter", "DistinctCounter"]
