"""SIP over SCTP (RFC 4168): user messages out of DATA and I-DATA chunks.

RFC 4168 §5 maps one SIP message to one SCTP user message, so no Content-Length framing is
needed: each reassembled user message that looks like SIP becomes one :class:`Segment`
(``transport="sctp"``). What is handled, with the rule it follows:

* The common header (RFC 9260 §3.1: ports, verification tag, checksum). The CRC32c checksum is
  not verified: captures taken on the sender carry checksums the NIC fills in later.
* Bundled chunks (§3.2): a packet holds any number of chunks, each padded to 4 bytes; a chunk
  whose length is impossible ends the packet (``skipped``/``notes["sctp-bad-chunk"]``).
* DATA (type 0, §3.3.1): U/B/E flags. A user message too large for one chunk is fragmented
  over consecutive TSNs, first fragment flagged B and last flagged E (§6.9), so fragments are
  reassembled per association direction by TSN, checking they share the stream identifier.
* I-DATA (type 64, RFC 8260 §2.1): fragments are identified by stream, U flag and Message
  Identifier and ordered by Fragment Sequence Number; the B fragment carries the PPID instead
  of an FSN and is fragment 0.
* Retransmitted chunks repeat their TSN (RFC 9260 §6.3): a TSN already seen in a direction is
  dropped and counted in ``notes["sctp-retransmission"]``, so a message is never counted twice.
  Each direction remembers the TSNs within :data:`TSN_WINDOW` of the highest one it has seen
  (see :class:`TsnWindow`) in 1 KiB, whatever the peer sends.
* Bounds: at most ``max_pending`` bytes of fragments wait per direction (beyond that the
  direction's fragments are dropped, ``notes["sctp-reassembly-overflow"]``), the recent-TSN
  memory is bounded, at most ``max_directions`` directions are tracked, and a direction idle
  for ``idle_timeout`` capture seconds is forgotten.
* Memory across directions: the fragment bytes of all directions together (each fragment
  charged as above) are bounded by ``max_total_bytes``, 64 MiB by default. ``max_pending``
  bounds one direction, not the sum over 65,536 of them. When the total passes the budget,
  the waiting fragments of the directions whose fragments changed least recently are dropped
  (the direction itself, with its TSN memory, is kept) until it fits again, each counted in
  ``notes["sctp-fragment-evicted-bytes"]``. The total is checked after each packet, so it may
  pass the budget by one packet's worth while that packet is processed.

A direction is ``(src_ip, sport, dst_ip, dport, verification tag)``: the tag changes with each
new association (§5.1), so a restarted association does not inherit old TSNs.
"""

from __future__ import annotations

import struct
from collections import Counter
from typing import Final

from sipwatch.capture.tsn_window import TsnWindow
from sipwatch.capture.types import Endpoint, Segment
from sipwatch.sip.detect import looks_like_sip

_COMMON: Final = struct.Struct("!HHI")
_CHUNK: Final = struct.Struct("!BBH")
_DATA: Final = struct.Struct("!IHHI")  # TSN, stream id, SSN, PPID
_IDATA: Final = struct.Struct("!IHHII")  # TSN, stream id, reserved, MID, PPID/FSN

CHUNK_DATA: Final = 0
CHUNK_IDATA: Final = 64
_FLAG_E: Final = 0x01
_FLAG_B: Final = 0x02
_FLAG_U: Final = 0x04
_MOD: Final = 0xFFFFFFFF

#: Default bound on fragment bytes waiting per direction.
MAX_PENDING: Final = (1 << 20) + 64 * 1024
#: Bytes charged per waiting fragment on top of its payload, so empty fragments are bounded too.
_FRAGMENT_COST: Final = 64
#: Default bound on fragment bytes waiting in all directions together.
MAX_TOTAL_BYTES: Final = 64 << 20
IDLE_TIMEOUT: Final = 120.0
_EXPIRE_EVERY: Final = 5.0

_DirectionKey = tuple[str, int, str, int, int]


class _Message:
    """The I-DATA fragments of one user message so far, by FSN (RFC 8260 §2.1)."""

    __slots__ = ("last", "parts", "top")

    def __init__(self) -> None:
        self.parts: dict[int, tuple[int, bytes]] = {}
        self.last = -1  # FSN of the fragment flagged E, once seen
        self.top = -1  # highest FSN seen


class _Direction:
    """Reassembly state of one direction of one association."""

    __slots__ = (
        "charged",
        "dst",
        "ends",
        "fragments",
        "ifragments",
        "last_ts",
        "pending",
        "recent",
        "src",
    )

    def __init__(self, src: Endpoint, dst: Endpoint, ts: float) -> None:
        self.src = src
        self.dst = dst
        self.last_ts = ts
        #: TSNs seen recently, to drop retransmitted chunks.
        self.recent = TsnWindow()
        #: DATA fragments by TSN: (flags, stream id, payload).
        self.fragments: dict[int, tuple[int, int, bytes]] = {}
        #: I-DATA fragments by (stream id, unordered, MID): {FSN: (flags, payload)}.
        self.ifragments: dict[tuple[int, bool, int], _Message] = {}
        self.pending = 0
        #: DATA fragments flagged E that wait: without one, no message can complete yet.
        self.ends = 0
        #: ``pending`` as last counted in the decoder's byte budget.
        self.charged = 0


class SctpDecoder:
    """Turn SCTP packets into one Segment per SIP user message.

    ``skipped`` counts packets that yield nothing (``sctp-control``, ``truncated-sctp``) and user
    messages that are not SIP (``non-sip-sctp``); ``notes`` counts retransmissions, reassembly
    and chunk problems.
    """

    def __init__(
        self,
        skipped: Counter[str],
        notes: Counter[str] | None = None,
        *,
        max_pending: int = MAX_PENDING,
        max_directions: int = 65536,
        idle_timeout: float = IDLE_TIMEOUT,
        max_total_bytes: int = MAX_TOTAL_BYTES,
    ) -> None:
        self.skipped = skipped
        self.notes: Counter[str] = notes if notes is not None else Counter()
        self.max_pending = max_pending
        self.max_directions = max_directions
        self.idle_timeout = idle_timeout
        self.max_total_bytes = max_total_bytes
        self._directions: dict[_DirectionKey, _Direction] = {}
        #: Directions with fragments waiting, least recently changed first (insertion order).
        self._holding: dict[_Direction, None] = {}
        self._bytes_held = 0
        self._next_expire = float("-inf")
        self._messages = 0
        self._retransmissions = 0
        # Context of the packet being processed (timestamp, frame number, output list).
        self._ts = 0.0
        self._frame = 0
        self._out: list[Segment] = []

    @property
    def messages(self) -> int:
        """SIP user messages returned so far."""
        return self._messages

    @property
    def retransmissions(self) -> int:
        """DATA/I-DATA chunks dropped because their TSN was already seen."""
        return self._retransmissions

    @property
    def bytes_held(self) -> int:
        """Fragment bytes (with their per-fragment charge) waiting in all directions now."""
        return self._bytes_held

    def feed(
        self, ts: float, frame: int, src_ip: str, dst_ip: str, sctp: bytes | memoryview
    ) -> list[Segment]:
        """Take one SCTP packet; return the SIP messages whose last fragment it carried."""
        size = len(sctp)
        if size < 12:
            self.skipped["truncated-sctp"] += 1
            return []
        sport, dport, vtag = _COMMON.unpack_from(sctp, 0)
        out: list[Segment] = []
        self._ts = ts
        self._frame = frame
        self._out = out
        direction: _Direction | None = None
        data_chunks = 0
        pos = 12
        while pos + 4 <= size:
            ctype, flags, length = _CHUNK.unpack_from(sctp, pos)
            if length < 4 or pos + length > size:
                self.notes["sctp-bad-chunk"] += 1
                break
            if ctype in (CHUNK_DATA, CHUNK_IDATA):
                data_chunks += 1
                if direction is None:
                    direction = self._direction((src_ip, sport, dst_ip, dport, vtag), ts)
                chunk = sctp[pos : pos + length]
                if ctype == CHUNK_DATA:
                    self._data(direction, flags, chunk)
                else:
                    self._idata(direction, flags, chunk)
            # RFC 9260 §3.2: chunks are padded to a multiple of 4 bytes.
            pos += (length + 3) & ~3
        if not data_chunks:
            self.skipped["sctp-control"] += 1
        elif direction is not None and direction.pending != direction.charged:
            self._charge(direction)
        return out

    def expire(self, ts: float) -> None:
        """Forget directions idle for ``idle_timeout`` capture seconds (fragments counted)."""
        if ts < self._next_expire:
            return
        self._next_expire = ts + _EXPIRE_EVERY
        limit = ts - self.idle_timeout
        for key in [k for k, d in self._directions.items() if d.last_ts < limit]:
            direction = self._directions.pop(key)
            self._uncharge(direction)
            if direction.pending:
                self.notes["sctp-incomplete-expired"] += 1

    def flush(self) -> list[Segment]:
        """End of capture: fragments still waiting can never complete; count them."""
        for direction in self._directions.values():
            if direction.pending:
                self.notes["sctp-incomplete-at-end"] += 1
        self._directions.clear()
        self._holding.clear()
        self._bytes_held = 0
        return []

    # -- internals -----------------------------------------------------------------------------

    def _direction(self, key: _DirectionKey, ts: float) -> _Direction:
        directions = self._directions
        direction = directions.get(key)
        if direction is None:
            if len(directions) >= self.max_directions:
                old = directions.pop(next(iter(directions)))
                self._uncharge(old)
                self.notes["sctp-direction-evicted"] += 1
                if old.pending:
                    self.notes["sctp-incomplete-evicted"] += 1
            direction = directions[key] = _Direction((key[0], key[1]), (key[2], key[3]), ts)
        direction.last_ts = ts
        return direction

    def _seen(self, direction: _Direction, tsn: int) -> bool:
        """True (and counted) when ``tsn`` was already seen: a retransmitted chunk."""
        if direction.recent.seen(tsn):
            self._retransmissions += 1
            self.notes["sctp-retransmission"] += 1
            return True
        return False

    def _emit(self, direction: _Direction, message: bytes) -> None:
        if looks_like_sip(message):
            self._out.append(
                Segment(self._ts, self._frame, direction.src, direction.dst, "sctp", message)
            )
            self._messages += 1
        else:
            self.skipped["non-sip-sctp"] += 1

    def _data(self, direction: _Direction, flags: int, chunk: bytes | memoryview) -> None:
        """One DATA chunk (RFC 9260 §3.3.1)."""
        if len(chunk) < 16:
            self.notes["sctp-bad-chunk"] += 1
            return
        tsn, sid, _ssn, _ppid = _DATA.unpack_from(chunk, 4)
        if self._seen(direction, tsn):
            return
        payload = bytes(chunk[16:])
        if flags & (_FLAG_B | _FLAG_E) == _FLAG_B | _FLAG_E:
            self._emit(direction, payload)
            return
        if not self._reserve(direction, len(payload) + _FRAGMENT_COST):
            return
        fragments = direction.fragments
        fragments[tsn] = (flags, sid, payload)
        if flags & _FLAG_E:
            direction.ends += 1
        elif not direction.ends:
            return  # nothing can complete before a last fragment arrives
        # Walk back to the B fragment and forward to the E fragment over consecutive TSNs, one
        # step each way in turn: the first gap on either side ends the search. Walking one side
        # to its end first cost the whole run per fragment, quadratic in fragments a peer can
        # send (16,000 middle fragments after an E: a minute); in turn it costs the shorter side.
        first = last = tsn
        back = not fragments[tsn][0] & _FLAG_B
        ahead = not fragments[tsn][0] & _FLAG_E
        while back or ahead:
            if back:
                prev = (first - 1) & _MOD
                part = fragments.get(prev)
                if part is None or part[1] != sid:
                    return
                first = prev
                back = not part[0] & _FLAG_B
            if ahead:
                nxt = (last + 1) & _MOD
                part = fragments.get(nxt)
                if part is None or part[1] != sid:
                    return
                last = nxt
                ahead = not part[0] & _FLAG_E
        parts: list[bytes] = []
        current = first
        while True:
            part = fragments.pop(current)
            parts.append(part[2])
            direction.pending -= len(part[2]) + _FRAGMENT_COST
            if current == last:
                break
            current = (current + 1) & _MOD
        direction.ends -= 1
        self.notes["sctp-reassembled"] += 1
        self._emit(direction, b"".join(parts))

    def _idata(self, direction: _Direction, flags: int, chunk: bytes | memoryview) -> None:
        """One I-DATA chunk (RFC 8260 §2.1)."""
        if len(chunk) < 20:
            self.notes["sctp-bad-chunk"] += 1
            return
        tsn, sid, _reserved, mid, ppid_fsn = _IDATA.unpack_from(chunk, 4)
        if self._seen(direction, tsn):
            return
        payload = bytes(chunk[20:])
        if flags & (_FLAG_B | _FLAG_E) == _FLAG_B | _FLAG_E:
            self._emit(direction, payload)
            return
        if not self._reserve(direction, len(payload) + _FRAGMENT_COST):
            return
        key = (sid, bool(flags & _FLAG_U), mid)
        pending = direction.ifragments.get(key)
        if pending is None:
            pending = direction.ifragments[key] = _Message()
        parts = pending.parts
        fsn = 0 if flags & _FLAG_B else ppid_fsn
        if fsn in parts:
            # Same fragment under another TSN: keep the first copy.
            direction.pending -= len(payload) + _FRAGMENT_COST
            self.notes["sctp-duplicate-fragment"] += 1
            return
        parts[fsn] = (flags, payload)
        pending.top = max(pending.top, fsn)
        if flags & _FLAG_E and pending.last < 0:
            pending.last = fsn
        # Complete when FSNs 0..last are all there: distinct FSNs, none above ``last``, and
        # last + 1 of them (kept in counters: a scan per fragment was quadratic).
        last = pending.last
        if last < 0 or pending.top != last or len(parts) != last + 1:
            return
        del direction.ifragments[key]
        message = b"".join(parts[f][1] for f in range(last + 1))
        direction.pending -= len(message) + _FRAGMENT_COST * (last + 1)
        self.notes["sctp-reassembled"] += 1
        self._emit(direction, message)

    def _reserve(self, direction: _Direction, size: int) -> bool:
        """Account ``size`` fragment bytes; on overflow drop the direction's fragments."""
        if direction.pending + size > self.max_pending:
            self.notes["sctp-reassembly-overflow"] += 1
            direction.fragments.clear()
            direction.ifragments.clear()
            direction.pending = 0
            direction.ends = 0
            return False
        direction.pending += size
        return True

    # -- byte budget across directions ---------------------------------------------------------

    def _charge(self, direction: _Direction) -> None:
        """Count ``direction.pending`` (now the most recently changed); evict if over budget."""
        holding = self._holding
        if direction.charged:
            del holding[direction]
        held = direction.pending
        self._bytes_held += held - direction.charged
        direction.charged = held
        if held:
            holding[direction] = None
            if self._bytes_held > self.max_total_bytes:
                self._evict_for_budget()

    def _uncharge(self, direction: _Direction) -> None:
        """A direction leaves the table: its fragments no longer count."""
        if direction.charged:
            del self._holding[direction]
            self._bytes_held -= direction.charged
            direction.charged = 0

    def _evict_for_budget(self) -> None:
        """Drop the fragments that changed least recently until the total fits."""
        holding = self._holding
        while self._bytes_held > self.max_total_bytes and holding:
            victim = next(iter(holding))
            self._uncharge(victim)
            victim.fragments.clear()
            victim.ifragments.clear()
            victim.pending = 0
            victim.ends = 0
            self.notes["sctp-fragment-evicted-bytes"] += 1
