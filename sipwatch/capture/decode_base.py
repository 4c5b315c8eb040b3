"""State and helpers shared by the decoder's layers, and the interfaces of its stream stages.

:class:`~sipwatch.capture.decode.Decoder` is assembled from one class per layer group (link
layers, IP and tunnels, ICMP-quoted SIP), each in its own module. The layers call one another
directly as methods of the one decoder object, so the modules cost a packet no extra call, and
each module only needs this base to know what the others provide. The declarations
below are overridden by those classes; they exist so each module can be type-checked alone.
"""

from __future__ import annotations

import socket
from collections import Counter
from collections.abc import Callable
from typing import Final, Protocol

from sipwatch.capture.ipfrag import FragmentReassembler
from sipwatch.capture.types import Segment


class TcpLike(Protocol):
    """The TCP stage: reassembles streams and frames SIP out of them."""

    def feed(
        self, ts: float, frame_no: int, src_ip: str, dst_ip: str, tcp: bytes, /
    ) -> list[Segment]: ...

    def expire(self, ts: float, /) -> None: ...

    def flush(self) -> list[Segment]: ...


class SctpLike(Protocol):
    """The SCTP stage: takes a whole SCTP packet (common header and chunks)."""

    def feed(
        self, ts: float, frame_no: int, src_ip: str, dst_ip: str, sctp: bytes, /
    ) -> list[Segment]: ...

    def expire(self, ts: float, /) -> None: ...

    def flush(self) -> list[Segment]: ...


#: Where UDP payloads that are not SIP but start like RTP/RTCP version 2 go:
#: ``(ts, frame, src ip, src port, dst ip, dst port, data, payload start, payload end)``.
MediaSink = Callable[[float, int, str, int, str, int, bytes, int, int], None]

#: Address-cache size before it is emptied (one dict lookup per address instead of formatting).
_NAME_CACHE_MAX: Final = 65536


class DecoderBase:
    """What every layer of the decoder shares: configuration, counters, caches, stream stages."""

    tcp: TcpLike | None
    sctp: SctpLike | None
    max_depth: int
    skipped: Counter[str]
    notes: Counter[str]
    fragments: FragmentReassembler
    _names: dict[bytes, str]
    #: The media tracker's packet entry, or None (then non-SIP UDP is only counted).
    media: MediaSink | None = None

    def _skip(self, reason: str) -> list[Segment]:
        self.skipped[reason] += 1
        return []

    def _name(self, raw: bytes) -> str:
        """Text form of a 4- or 16-byte address, cached (RFC 5952 form for IPv6, via inet_ntop)."""
        name = self._names.get(raw)
        if name is None:
            family = socket.AF_INET if len(raw) == 4 else socket.AF_INET6
            name = socket.inet_ntop(family, raw)
            if len(self._names) >= _NAME_CACHE_MAX:
                self._names.clear()
            self._names[raw] = name
        return name

    # -- layers provided by the classes in decode_link, decode_ip and decode_icmp ------------

    def _ether(
        self, data: bytes, off: int, end: int, ts: float, num: int, depth: int
    ) -> list[Segment]:
        raise NotImplementedError

    def _ethertype(
        self, et: int, data: bytes, off: int, end: int, ts: float, num: int, depth: int
    ) -> list[Segment]:
        raise NotImplementedError

    def _raw_ip(
        self, data: bytes, off: int, end: int, ts: float, num: int, depth: int
    ) -> list[Segment]:
        raise NotImplementedError

    def _ipv4(
        self, data: bytes, off: int, end: int, ts: float, num: int, depth: int
    ) -> list[Segment]:
        raise NotImplementedError

    def _ipv6(
        self, data: bytes, off: int, end: int, ts: float, num: int, depth: int
    ) -> list[Segment]:
        raise NotImplementedError

    def _udp(
        self,
        data: bytes,
        off: int,
        end: int,
        src: bytes,
        dst: bytes,
        ts: float,
        num: int,
        depth: int,
        quoted: bool,
    ) -> list[Segment]:
        raise NotImplementedError

    def _icmp_error(
        self,
        proto: int,
        data: bytes,
        off: int,
        end: int,
        reporter: bytes,
        ts: float,
        num: int,
        depth: int,
    ) -> list[Segment]:
        raise NotImplementedError
