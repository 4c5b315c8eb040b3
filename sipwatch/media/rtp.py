"""RTP and RTCP packets (RFC 3550) and the per-stream statistics of its appendix A.

One :class:`StreamStats` per stream and direction (source, destination, SSRC) counts what a
receiver would: packets, the extended highest sequence number and so the expected and lost
counts (A.1, A.3), sequence errors and duplicates, the interarrival jitter estimate (A.8) in
the codec's clock rate, and the longest silence between two packets. RTCP sender and receiver
reports (§6.4) are read for what the *other* side says about a stream: its loss and jitter.

This is the per-packet path of a call capture (50 packets per second per direction), so the
update is a handful of integer operations on slots, and nothing is allocated per packet.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import Final

#: RFC 3550 A.1: a jump of more than this many sequence numbers is not counted as loss at once.
MAX_DROPOUT: Final = 3000
#: Width of the window in which a sequence number already seen counts as a duplicate.
DUPLICATE_WINDOW: Final = 64
#: RFC 3550 A.1: a number this far behind the highest is a late packet, further a restart.
MAX_MISORDER: Final = 100
_WINDOW_MASK: Final = (1 << DUPLICATE_WINDOW) - 1
_SEQ_MOD: Final = 1 << 16
_TS_MOD: Final = 1 << 32

_RTCP_HEADER: Final = struct.Struct("!BBH")
_REPORT_BLOCK: Final = struct.Struct("!IIIIII")


def is_rtp_v2(data: bytes, off: int = 0) -> bool:
    """RFC 3550 §5.1: version 2 and a fixed header of 12 bytes plus the CSRC list.

    RFC 5761 §4: a second byte of 192-223 (marker set, payload type 64-95) is RTCP, not RTP.
    """
    if len(data) - off < 12 or data[off] & 0xC0 != 0x80:
        return False
    return not 192 <= data[off + 1] <= 223 and len(data) - off >= 12 + 4 * (data[off] & 0x0F)


def is_rtcp(data: bytes, off: int = 0) -> bool:
    """RFC 3550 §6.4: version 2 and a packet type SR..APP (200-204), or XR (207, RFC 3611)."""
    return (
        len(data) - off >= 8
        and data[off] & 0xC0 == 0x80
        and (200 <= data[off + 1] <= 204 or data[off + 1] == 207)
    )


@dataclass(slots=True)
class StreamStats:
    """Receiver statistics of one RTP stream and direction."""

    ssrc: int
    first_ts: float
    first_frame: int
    clock_rate: int  # Hz, from the SDP or the static payload type; 0 when unknown
    last_ts: float = 0.0
    last_frame: int = 0
    packets: int = 0
    payload_types: dict[int, int] = field(default_factory=dict)
    base_seq: int = 0
    max_seq: int = 0  # extended (with cycles, RFC 3550 A.1)
    sequence_errors: int = 0
    duplicates: int = 0
    jitter: float = 0.0  # RFC 3550 A.8, in timestamp units
    jitter_max: float = 0.0
    jitter_sum: float = 0.0
    longest_gap: float = 0.0
    #: Payload types that carry comfort noise in this stream (13, or CN of the SDP).
    comfort_noise: frozenset[int] = frozenset({13})
    #: Payload types of RFC 4733 telephone events in this stream (left out of the jitter).
    events: frozenset[int] = frozenset()
    jitter_count: int = 0
    _after_comfort: bool = False
    _window: int = 0
    _transit: float = 0.0
    _last_rtp_ts: int = 0
    _rtp_elapsed: int = 0
    _expected_before: int = 0

    def add(
        self, ts: float, frame: int, seq: int, rtp_ts: int, payload_type: int, marker: bool
    ) -> None:
        """Account one packet (arrival time ``ts``, the header's sequence number, timestamp,
        payload type and marker bit)."""
        counts = self.payload_types
        counts[payload_type] = counts.get(payload_type, 0) + 1
        if self.packets == 0:
            self.packets = 1
            self.base_seq = self.max_seq = seq
            self._window = 1
            self.last_ts, self.last_frame = ts, frame
            self._last_rtp_ts = rtp_ts
            self._after_comfort = payload_type in self.comfort_noise
            return
        self.packets += 1
        gap = ts - self.last_ts
        self.longest_gap = max(self.longest_gap, gap)
        self.last_ts, self.last_frame = ts, frame
        # RFC 3550 A.1: place the 16-bit number relative to the extended highest one.
        highest = self.max_seq
        delta = (seq - highest) % _SEQ_MOD
        if delta == 0:
            self.duplicates += 1
            return
        if delta < MAX_DROPOUT:
            if delta != 1:
                self.sequence_errors += 1
            self.max_seq = highest + delta
            self._window = ((self._window << delta) | 1) & _WINDOW_MASK
        else:
            back = _SEQ_MOD - delta
            self.sequence_errors += 1
            if back < DUPLICATE_WINDOW:
                bit = 1 << back
                if self._window & bit:
                    self.sequence_errors -= 1
                    self.duplicates += 1
                    return
                self._window |= bit  # late, not lost after all
            elif back > MAX_MISORDER:
                # A.1: a very large jump is a restart of the sender; count on from it.
                self._expected_before += highest - self.base_seq + 1
                self.base_seq = self.max_seq = seq
                self._window = 1
        rate = self.clock_rate
        if payload_type in self.events:
            # RFC 4733 §2.5.1: every packet of one DTMF event carries the event's start
            # timestamp, so its transit time says nothing about the network.
            return
        if rate:
            # RFC 3550 A.8: D from the transit times, J += (|D| - J) / 16, in timestamp units.
            # The 32-bit timestamp difference is read as signed (a late packet goes back).
            step = (rtp_ts - self._last_rtp_ts) % _TS_MOD
            if step >= _TS_MOD // 2:
                step -= _TS_MOD
            self._last_rtp_ts = rtp_ts
            self._rtp_elapsed += step
            transit = (ts - self.first_ts) * rate - self._rtp_elapsed
            d = abs(transit - self._transit)
            self._transit = transit
            jitter = self.jitter + (d - self.jitter) / 16.0
            self.jitter = jitter
            # The estimate runs on every packet; its max and mean leave out the packets whose
            # timestamp jump is silence rather than network delay: a marker bit (the start of
            # a talkspurt, RFC 3551 §4.1) and comfort noise and the packet after it (RFC 3389).
            # tshark's RTP statistics leave out the same packets.
            comfort = payload_type in self.comfort_noise
            if not (marker or comfort or self._after_comfort):
                self.jitter_max = max(self.jitter_max, jitter)
                self.jitter_sum += jitter
                self.jitter_count += 1
            self._after_comfort = comfort

    @property
    def expected(self) -> int:
        """RFC 3550 A.3: extended highest sequence number minus the first, plus one."""
        if not self.packets:
            return 0
        return self._expected_before + self.max_seq - self.base_seq + 1

    @property
    def lost(self) -> int:
        """RFC 3550 A.3: expected minus received, where received includes late and duplicated
        packets, "and hence may be negative" (tshark counts the same way)."""
        return self.expected - self.packets

    @property
    def payload_type(self) -> int:
        """The payload type most packets carried."""
        return max(self.payload_types.items(), key=lambda item: item[1])[0]

    def _ms(self, units: float) -> float:
        return units * 1000.0 / self.clock_rate if self.clock_rate else 0.0

    @property
    def jitter_max_ms(self) -> float:
        return self._ms(self.jitter_max)

    @property
    def jitter_mean_ms(self) -> float:
        """Mean of the running estimate over the packets counted in :meth:`add`."""
        count = self.jitter_count
        return self._ms(self.jitter_sum / count) if count else 0.0


@dataclass(frozen=True, slots=True, kw_only=True)
class ReportBlock:
    """RFC 3550 §6.4.1: what the reporter says of the stream ``ssrc`` it receives."""

    reporter: int  # SSRC of the sender of the report
    ssrc: int  # the stream reported on
    fraction_lost: float  # 0..1, since the previous report
    cumulative_lost: int
    jitter: int  # in timestamp units of the reported stream


def rtcp_report_blocks(data: bytes) -> list[ReportBlock]:
    """The report blocks of every SR and RR in a compound RTCP packet (RFC 3550 §6.1).

    A packet whose length field runs past the datagram ends the walk; never raises.
    """
    blocks: list[ReportBlock] = []
    off = 0
    while len(data) - off >= 8:
        first, packet_type, length = _RTCP_HEADER.unpack_from(data, off)
        if first & 0xC0 != 0x80:
            break
        end = off + 4 * (length + 1)
        if end > len(data):
            break
        count = first & 0x1F
        if packet_type in (200, 201):
            reporter = int.from_bytes(data[off + 4 : off + 8], "big")
            pos = off + (28 if packet_type == 200 else 8)  # SR: NTP, RTP ts, counts
            for _ in range(count):
                if pos + 24 > end:
                    break
                ssrc, lost_word, _highest, jitter, _lsr, _dlsr = _REPORT_BLOCK.unpack_from(
                    data, pos
                )
                cumulative = lost_word & 0xFFFFFF
                if cumulative & 0x800000:  # 24-bit signed (RFC 3550 §6.4.1)
                    cumulative -= 1 << 24
                blocks.append(
                    ReportBlock(
                        reporter=reporter,
                        ssrc=ssrc,
                        fraction_lost=(lost_word >> 24) / 256.0,
                        cumulative_lost=cumulative,
                        jitter=jitter,
                    )
                )
                pos += 24
        off = end
    return blocks
