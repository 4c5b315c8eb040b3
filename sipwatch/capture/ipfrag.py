"""IPv4 and IPv6 fragment reassembly, bounded in memory and in time.

SIP over UDP routinely exceeds the path MTU (an INVITE with SDP and a few Via/Record-Route
headers easily passes 1500 bytes), so its datagrams arrive in fragments. A datagram is
identified by (source, destination, protocol, identification) for IPv4 (RFC 791 §3.2
"Fragmentation and Reassembly") and by (source, destination, identification) for IPv6 (RFC 8200
§4.5), and is complete when the last fragment (More Fragments = 0) is known and the pieces cover
every byte from 0 to its end. Fragments may come in any order, twice, or overlapping.

Overlaps: RFC 5722 says an IPv6 receiver must drop a datagram with overlapping fragments, and
real IPv4 stacks differ on which copy wins. For an annotator the useful answer is "show what
was sent first": the first-arrived bytes win, and every overlap is counted in ``notes`` so the
report can mention it (overlapping fragments are a classic evasion technique).

Bounds, because a capture is untrusted input: at most ``max_datagrams`` datagrams and
``max_bytes`` bytes wait at once (the oldest is evicted to make room), a datagram cannot grow
past 65535 bytes of payload or ``max_fragments`` pieces, and a datagram still incomplete
``timeout`` seconds of *capture* time after its first fragment is dropped (RFC 791 suggests a
15 s lower bound for the reassembly timer; Linux uses 30 s, taken here). Each drop is counted.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Hashable
from typing import Final

#: The largest IP payload a datagram can carry without IPv6 jumbograms.
MAX_DATAGRAM: Final = 65535


class _Pending:
    """One datagram being reassembled."""

    __slots__ = ("first_ts", "pieces", "proto", "size", "total")

    def __init__(self, first_ts: float) -> None:
        self.first_ts = first_ts
        self.pieces: list[tuple[int, bytes]] = []  # (offset, bytes) in arrival order
        self.proto = -1  # upper-layer protocol, known once the offset-0 fragment arrived
        self.size = 0  # bytes held
        self.total = -1  # payload length, known once the last fragment arrived


class FragmentReassembler:
    """Collects fragments and returns each datagram's payload once it is complete.

    ``notes`` receives counters named ``ip-fragment-*`` (pass the decoder's own Counter so the
    report shows them); nothing here raises on bad input.
    """

    def __init__(
        self,
        notes: Counter[str] | None = None,
        *,
        max_datagrams: int = 4096,
        max_bytes: int = 64 << 20,
        max_fragments: int = 1024,
        timeout: float = 30.0,
    ) -> None:
        self.notes: Counter[str] = notes if notes is not None else Counter()
        self.max_datagrams = max_datagrams
        self.max_bytes = max_bytes
        self.max_fragments = max_fragments
        self.timeout = timeout
        self._pending: dict[Hashable, _Pending] = {}
        self._bytes = 0

    def __len__(self) -> int:
        return len(self._pending)

    @property
    def bytes_held(self) -> int:
        """Payload bytes currently waiting for their datagram to complete."""
        return self._bytes

    def add(
        self, key: Hashable, ts: float, offset: int, more: bool, data: bytes, *, proto: int
    ) -> tuple[int, bytes] | None:
        """Add one fragment; return ``(protocol, payload)`` when this completes its datagram.

        ``offset`` is in bytes, ``more`` is the More Fragments flag, ``proto`` the protocol
        (IPv4 header) or Next Header (IPv6 Fragment header) this fragment carries; for IPv6
        only the offset-0 fragment's value counts (RFC 8200 §4.5).
        """
        notes = self.notes
        self.expire(ts)
        end = offset + len(data)
        if end > MAX_DATAGRAM:
            notes["ip-fragment-oversize"] += 1
            self._drop(key)
            return None
        pending = self._pending.get(key)
        if pending is None:
            if len(self._pending) >= self.max_datagrams:
                self._evict_oldest("ip-fragment-evicted-count")
            pending = self._pending[key] = _Pending(ts)
        if not more:
            if pending.total < 0:
                pending.total = end
            elif pending.total != end:
                notes["ip-fragment-conflicting-end"] += 1
        if pending.total >= 0 and end > pending.total:
            notes["ip-fragment-beyond-end"] += 1
            data = data[: max(0, pending.total - offset)]
            end = offset + len(data)
        if offset == 0 and pending.proto < 0:
            pending.proto = proto
        for old_off, old in pending.pieces:
            if old_off < end and offset < old_off + len(old):
                if old_off == offset and old == data:
                    notes["ip-fragment-duplicate"] += 1
                    return None
                notes["ip-fragment-overlap"] += 1
                break
        if len(pending.pieces) >= self.max_fragments:
            notes["ip-fragment-too-many"] += 1
            self._drop(key)
            return None
        pending.pieces.append((offset, data))
        pending.size += len(data)
        self._bytes += len(data)
        while self._bytes > self.max_bytes and self._pending:
            self._evict_oldest("ip-fragment-evicted-bytes")
        if key not in self._pending or pending.total < 0 or pending.proto < 0:
            return None
        return self._complete(key, pending)

    def _complete(self, key: Hashable, pending: _Pending) -> tuple[int, bytes] | None:
        """Assemble the datagram if its pieces cover 0..total."""
        total = pending.total
        covered = 0
        for off, piece in sorted(pending.pieces, key=_offset):
            if off > covered:
                return None
            covered = max(covered, off + len(piece))
            if covered >= total:
                break
        if covered < total:
            return None
        out = bytearray(total)
        # Written newest first, so where pieces overlap the first-arrived bytes end on top.
        for off, piece in reversed(pending.pieces):
            out[off : off + len(piece)] = piece
        self._drop(key)
        self.notes["ip-fragment-reassembled"] += 1
        return pending.proto, bytes(out[:total])

    def expire(self, ts: float) -> None:
        """Drop datagrams whose first fragment is more than ``timeout`` s older than ``ts``."""
        limit = ts - self.timeout
        pending = self._pending
        while pending:
            key = next(iter(pending))
            if pending[key].first_ts >= limit:
                break
            self._drop(key)
            self.notes["ip-fragment-timeout"] += 1

    def flush(self) -> int:
        """Forget every incomplete datagram (end of capture); returns how many there were."""
        count = len(self._pending)
        if count:
            self.notes["ip-fragment-incomplete-at-end"] += count
        self._pending.clear()
        self._bytes = 0
        return count

    def _evict_oldest(self, reason: str) -> None:
        self._drop(next(iter(self._pending)))
        self.notes[reason] += 1

    def _drop(self, key: Hashable) -> None:
        pending = self._pending.pop(key, None)
        if pending is not None:
            self._bytes -= pending.size


def _offset(piece: tuple[int, bytes]) -> int:
    return piece[0]
