"""The words for what a capture reader finds: damage that stops it, oddities it counts.

Both engines' readers (the Python loops in :mod:`~sipwatch.capture.pcap` and
:mod:`~sipwatch.capture.pcapng`, and the native core's) report the same facts through these
functions, so the problem lines of a damaged capture are written in one place and read the
same whichever engine ran. Record numbers are 1-based; ``after`` is the last complete record.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    from sipwatch.capture.readers import CaptureStats


def _stop(stats: CaptureStats, text: str) -> None:
    stats.truncated = True
    stats.problem(text)


def cut_header(stats: CaptureStats, record: int, have: int, need: int) -> None:
    _stop(
        stats,
        f"capture cut in the middle of record {record} (record header, {have} of {need} bytes)",
    )


def corrupt_length(stats: CaptureStats, record: int, incl: int) -> None:
    _stop(
        stats,
        f"record {record} claims {incl} captured bytes: corrupt record header, "
        "rest of the capture skipped",
    )


def cut_record(stats: CaptureStats, record: int, have: int, incl: int) -> None:
    _stop(stats, f"capture cut in the middle of record {record} ({have} of {incl} bytes)")


def longer_than_snaplen(stats: CaptureStats, record: int, caplen: int, snaplen: int) -> None:
    stats.count(
        "longer-than-snaplen",
        f"record {record} holds {caplen} bytes, more than the snapshot length {snaplen}",
    )


def time_went_back(
    stats: CaptureStats, record: int, ts: float, last: float, before_last: float
) -> None:
    stats.time_step(record, ts, last, before_last)


def cut_block(stats: CaptureStats, after: int, left: int) -> None:
    _stop(stats, f"capture cut in the middle of a block after record {after} ({left} bytes left)")


def bad_byte_order(stats: CaptureStats, after: int, bom: bytes) -> None:
    _stop(
        stats,
        f"section header after record {after} has an unknown byte-order magic "
        f"{bom.hex()}: rest of the capture skipped",
    )


def bad_block_length(stats: CaptureStats, after: int, btype: int, blen: int) -> None:
    _stop(
        stats,
        f"bad block length {blen} (block type {btype:#x}) after record {after}: "
        "rest of the capture skipped",
    )


def cut_block_body(stats: CaptureStats, record: int, btype: int, have: int, blen: int) -> None:
    _stop(
        stats,
        f"capture cut in the middle of record {record} "
        f"(block type {btype:#x}, {have} of {blen} bytes)",
    )


def bad_trailer(stats: CaptureStats, after: int, btype: int, trailer: int, blen: int) -> None:
    _stop(
        stats,
        f"block after record {after} (type {btype:#x}): trailing length "
        f"{trailer} differs from {blen}: rest of the capture skipped",
    )


def short_packet_block(stats: CaptureStats, record: int, btype: int, blen: int) -> None:
    # §4.3/§4.4: an EPB or OPB needs 32 bytes for its fixed fields, an SPB 16.
    stats.count(
        "bad-packet-length",
        f"record {record}: block of {blen} bytes is too short for its type {btype:#x}; skipped",
    )


def caplen_exceeds_block(stats: CaptureStats, record: int, caplen: int) -> None:
    stats.count(
        "bad-packet-length",
        f"record {record}: captured length {caplen} exceeds its block; skipped",
    )


def unknown_interface(stats: CaptureStats, record: int, iface: int) -> None:
    stats.count(
        "unknown-interface",
        f"record {record} refers to interface {iface}, not declared; skipped",
    )


def too_many_interfaces(stats: CaptureStats, after: int, limit: int) -> None:
    stats.count(
        "too-many-interfaces",
        f"after record {after}: more than {limit} interfaces in one "
        "section; the further ones are refused and their packets skipped",
    )


#: The native core names each fact by kind; the function that words it.
BY_KIND: Final[dict[str, Callable[..., Any]]] = {
    "cut-header": cut_header,
    "corrupt-length": corrupt_length,
    "cut-record": cut_record,
    "longer-than-snaplen": longer_than_snaplen,
    "time-went-back": time_went_back,
    "cut-block": cut_block,
    "bad-byte-order": bad_byte_order,
    "bad-block-length": bad_block_length,
    "cut-block-body": cut_block_body,
    "bad-trailer": bad_trailer,
    "short-packet-block": short_packet_block,
    "caplen-exceeds-block": caplen_exceeds_block,
    "unknown-interface": unknown_interface,
    "too-many-interfaces": too_many_interfaces,
}
