"""A fixed-size memory of the TSNs an SCTP association direction has sent (RFC 9260 §6.3).

Kept apart from :mod:`sipwatch.capture.sctp` because it is a self-contained piece of serial
number arithmetic (RFC 1982) with its own tests; the decoder only asks :meth:`TsnWindow.seen`.
"""

from __future__ import annotations

from typing import Final

_MOD: Final = 0xFFFFFFFF

#: TSNs remembered per direction to recognise retransmissions: the highest seen and the
#: TSN_WINDOW - 1 below it, one bit each (see :class:`TsnWindow`).
TSN_WINDOW: Final = 8192
#: RFC 1982 with SERIAL_BITS = 32: TSNs are compared modulo 2**32, and ``a`` precedes ``b``
#: when ``(b - a) mod 2**32`` lies in ``1 .. 2**31 - 1``.
_SERIAL_HALF: Final = 1 << 31


class TsnWindow:
    """The TSNs one association direction has sent lately, to recognise retransmissions.

    RFC 9260 §6.3: a retransmitted DATA (or I-DATA, RFC 8260 §2.1) chunk keeps its TSN, so a
    TSN seen before marks a copy to drop. Remembering the last few thousand TSNs in a dict
    costs tens of bytes each, and a peer decides how many directions fill theirs; this keeps a
    fixed window of ``size`` bits instead: ``top``, the highest TSN seen, and one bit for each
    TSN in ``top - size + 1 .. top`` (mod 2**32). A direction costs ``size / 8`` bytes (1 KiB
    for the default 8,192) plus about 100 bytes of object headers, whatever the peer sends.

    "Highest" uses serial number arithmetic (RFC 9260 §1.6: RFC 1982 with SERIAL_BITS = 32):
    with ``d = (tsn - top) mod 2**32``, ``tsn`` is ahead of ``top`` when ``0 < d < 2**31`` and
    behind it otherwise, so the window follows TSNs across the wrap from 2**32 - 1 to 0. What
    :meth:`seen` answers for a ``tsn``:

    * the first TSN of the direction: False; it becomes ``top``;
    * ``tsn == top``: True;
    * ahead by ``d``: False; it becomes ``top`` and the window slides ``d`` places, so the TSNs
      ``size`` or more below the new ``top`` are forgotten. A jump of ``size`` or more clears
      the window, leaving only ``tsn``;
    * behind by ``1 .. size - 1``: True if its bit is set, otherwise False and the bit is set
      (chunks that arrive out of order);
    * behind by ``size`` or more (including ``d == 2**31``, which RFC 1982 leaves undefined):
      False and nothing recorded, as for a TSN already evicted from a memory of the last
      ``size`` TSNs. A copy of such a chunk is passed on again; that takes ``size`` or more
      newer chunks sent between the original and its retransmission.

    On traffic whose TSNs rise by one (RFC 9260 §6.1 assigns them in sequence) this answers as
    a memory of the last ``size`` distinct TSNs did; it differs only for TSNs far behind the
    highest, which a well-behaved association does not send.

    The bits are a ring indexed by ``tsn mod size`` (``size`` is a power of two, so it divides
    2**32 and the index is continuous across the wrap), as in RFC 6479's anti-replay window:
    sliding clears only the bits of the TSNs that enter the window instead of shifting the
    whole bitmap, so a chunk in sequence costs constant time.
    """

    __slots__ = ("ring", "top")

    def __init__(self, size: int = TSN_WINDOW) -> None:
        if size < 8 or size & (size - 1):
            raise ValueError(f"TSN window size must be a power of two >= 8, not {size}")
        self.ring = bytearray(size >> 3)
        self.top = -1  # no TSN yet

    @property
    def size(self) -> int:
        """TSNs the window covers, ``top`` included."""
        return len(self.ring) << 3

    def seen(self, tsn: int) -> bool:
        """True when ``tsn`` is remembered; otherwise remember it (if in reach) and say False."""
        ring = self.ring
        mask = (len(ring) << 3) - 1
        top = self.top
        ahead = (tsn - top) & _MOD
        if top < 0 or 0 < ahead < _SERIAL_HALF:
            if top < 0 or ahead > mask:
                ring[:] = bytes(len(ring))
            elif ahead > 1:
                # TSNs top+1 .. tsn-1 enter the window unseen: their slots held TSNs ``size``
                # older, which leave it.
                first = (top + 1) & mask
                count = ahead - 1
                room = mask + 1 - first
                if count <= room:
                    _clear_bits(ring, first, count)
                else:
                    _clear_bits(ring, first, room)
                    _clear_bits(ring, 0, count - room)
            self.top = tsn
            slot = tsn & mask
            ring[slot >> 3] |= 1 << (slot & 7)
            return False
        if ahead == 0:
            return True
        if (top - tsn) & _MOD > mask:
            return False
        slot = tsn & mask
        bit = 1 << (slot & 7)
        if ring[slot >> 3] & bit:
            return True
        ring[slot >> 3] |= bit
        return False


def _clear_bits(ring: bytearray, first: int, count: int) -> None:
    """Clear bits ``first .. first + count - 1`` of ``ring`` (bit ``i``: byte i // 8, bit i % 8)."""
    if count <= 0:
        return
    end = first + count
    low, high = first >> 3, end >> 3
    if low == high:
        ring[low] &= ~(((1 << count) - 1) << (first & 7)) & 0xFF
        return
    if first & 7:
        ring[low] &= (1 << (first & 7)) - 1
        low += 1
    if high > low:
        ring[low:high] = bytes(high - low)
    if end & 7:
        ring[high] &= ~((1 << (end & 7)) - 1) & 0xFF
