"""The facts the media tracker hands out: closed streams and media findings.

Both are frozen, keyword-only dataclasses with no words in them beyond the SDP lines quoted as
evidence; ``sipwatch/media_records.py`` turns them into records and sentences.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final, Literal

Severity = Literal["info", "warning", "error"]

#: Every media finding kind (docs/findings.md), in the order the docs list them.
MEDIA_FINDING_KINDS: Final[tuple[str, ...]] = (
    "one-way-audio",
    "no-audio",
    "media-address-mismatch",
    "private-address",
    "codec-mismatch",
    "srtp-mismatch",
    "rtp-timeout",
    "media-quality",
)
#: How a stream was found: by an address an SDP body announced, or by RTP v2 heuristics alone.
StreamOrigin = Literal["sdp", "guess"]


@dataclass(frozen=True, slots=True, kw_only=True)
class StreamReport:
    """One RTP stream and direction, as counted by its receiver (RFC 3550 A.3, A.8)."""

    call_id: str  # "" for a guessed stream no SDP explains
    origin: StreamOrigin
    src: str  # "ip:port"
    dst: str
    ssrc: int
    payload_type: int
    codec: str  # "PCMU/8000", or "" when neither the SDP nor the static table names it
    clock_rate: int
    packets: int
    expected: int
    lost: int
    duplicates: int
    sequence_errors: int
    jitter_max_ms: float
    jitter_mean_ms: float
    longest_gap_ms: float
    mos_estimate: float | None
    first_ts: float
    last_ts: float
    first_frame: int
    last_frame: int
    #: What the receiver's RTCP reports said of this stream (RFC 3550 §6.4), if any arrived.
    rtcp_lost: int | None = None
    rtcp_jitter_ms: float | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class MediaFinding:
    """A media problem with its evidence (kinds in docs/findings.md)."""

    kind: str
    severity: Severity
    ts: float
    call_id: str
    frames: tuple[int, ...]
    #: The kind's facts, in the order docs/findings.md lists them (plain JSON values).
    details: dict[str, object] = field(default_factory=dict)
