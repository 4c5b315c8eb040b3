"""The native engine's capture stages, behind the interfaces of the Python ones.

The compiled core (:mod:`sipwatch._core`) runs the pcap and pcapng record loops and decodes the
common links (Ethernet and VLAN tags, Linux SLL/SLL2, BSD NULL/LOOP, raw IP) down to UDP. What
it does not model (IP fragments, tunnels, TCP, SCTP, ICMP, other links) it hands back frame by
frame, and the Python :class:`~sipwatch.capture.decode.Decoder` decodes that frame, so each
frame is decoded by exactly one engine and the rest of the pipeline cannot tell them apart.
The core returns facts; their words come from :mod:`sipwatch.capture.reader_facts`.

A panic in the core arrives as ``CorePanic`` and leaves here as :class:`NativeCoreError`: one
line for the operator, after everything decoded before it has been printed.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from sipwatch.capture import reader_facts
from sipwatch.capture.types import Frame, Segment
from sipwatch.engine import native_core
from sipwatch.errors import NativeCoreError

if TYPE_CHECKING:
    from sipwatch.capture.decode import Decoder
    from sipwatch.capture.readers import CaptureStats, ChunkedInput


def core_module() -> Any:
    """The compiled core (the engine was chosen native, so it is there)."""
    core = native_core()
    if core is None:  # callers check the engine first; this is a broken install
        raise NativeCoreError("the native core (sipwatch._core) is not built")
    return core


def failure(what: str, exc: BaseException) -> NativeCoreError:
    return NativeCoreError(f"native core failed {what}: {exc}; --engine python avoids it")


def _reporter(stats: CaptureStats) -> Any:
    def report(kind: str, *args: Any) -> None:
        reader_facts.BY_KIND[kind](stats, *args)

    return report


def _frames(records: Any, stats: CaptureStats) -> Iterator[Frame]:
    core = core_module()
    try:
        yield from records
    except core.CorePanic as exc:
        raise failure(f"reading record {stats.frames + 1}", exc) from None


def pcap_records(
    inp: ChunkedInput, *, little: bool, unit: float, rec_len: int, snaplen: int, link: int
) -> Iterator[Frame]:
    """The frames of a pcap file whose header :func:`~sipwatch.capture.pcap.read_pcap` read."""
    stats = inp.stats
    records = core_module().Records.pcap(
        inp.buf[inp.pos :], little, unit, rec_len, snaplen, link,
        inp.more, _reporter(stats), Frame, stats,
    )  # fmt: skip
    return _frames(records, stats)


def pcapng_blocks(inp: ChunkedInput) -> Iterator[Frame]:
    """The frames of a pcapng file from its first Section Header Block on."""
    stats = inp.stats
    blocks = core_module().Records.pcapng(
        inp.buf[inp.pos :], inp.more, _reporter(stats), Frame, stats
    )
    return _frames(blocks, stats)


class NativeDecoder:
    """:class:`~sipwatch.capture.decode.Decoder`'s interface: the core first, Python for the rest.

    The core counts its skip reasons and notes itself; they are added to the shared tables
    (the ones the Python decoder and the stream stages count into) at every timer run and at
    the end, so the summary holds the same numbers as with the Python engine alone.
    """

    def __init__(self, python: Decoder) -> None:
        self._python = python
        self._core = core_module().Decoder(Segment)
        self._panic = core_module().CorePanic
        self.skipped = python.skipped
        self.notes = python.notes

    def feed(self, frame: Frame) -> list[Segment]:
        try:
            segments: list[Segment] | None = self._core.feed(
                frame.data, frame.linktype, frame.ts, frame.number
            )
        except self._panic as exc:
            raise failure(f"decoding frame {frame.number}", exc) from None
        if segments is None:
            return self._python.feed(frame)
        return segments

    def _merge_counts(self) -> None:
        skipped, notes = self._core.take_counts()
        self.skipped.update(skipped)
        self.notes.update(notes)

    def expire(self, ts: float) -> None:
        self._merge_counts()
        self._python.expire(ts)

    def flush(self) -> list[Segment]:
        self._merge_counts()
        return self._python.flush()
