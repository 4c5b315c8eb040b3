"""Where a stream's numbers become a ``media-quality`` or ``rtp-timeout`` finding."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True, kw_only=True)
class MediaThresholds:
    """Defaults follow common practice: ITU-T G.114 / Cisco guidance keeps loss under 1 % and
    jitter under 30 ms for toll quality; 5 % loss is where every codec is clearly degraded; a
    MOS of 3.6 is the usual "users notice" line; 10 s without RTP during an answered call is
    far beyond any packet time or comfort-noise interval and shorter than the usual PBX RTP
    timeouts (30-60 s), so the finding comes before the hang-up it explains."""

    loss_max: float = 0.05  # fraction of expected packets
    jitter_max_ms: float = 30.0
    mos_min: float = 3.6
    rtp_timeout: float = 10.0  # capture seconds
    #: A stream shorter than this is too short to rate (a few packets of early media).
    min_packets: int = 50
