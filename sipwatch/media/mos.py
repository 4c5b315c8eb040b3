"""A MOS estimate from the ITU-T G.107 E-model, from what a capture can see.

The E-model rates a call with R = Ro - Is - Id - Ie,eff + A (G.107 §7.1); with the default
values of every other parameter R = 93.2 - Id - Ie,eff. A capture does not know the mouth-to-ear
delay, so ``Id`` is taken from a jitter buffer sized to twice the mean jitter plus one packet
time (the usual simplification, as VoIPmonitor and sip-doctor do), and ``Ie,eff`` from the
measured loss with the codec's equipment impairment ``Ie`` and loss robustness ``Bpl`` (G.113
Appendix I). The result is labelled an estimate wherever it is shown: it is comparable between
calls of one capture, not a listening test.
"""

from __future__ import annotations

from typing import Final

#: G.113 Appendix I (Ie, Bpl) per encoding name, lower case; G.711 with packet loss concealment.
CODEC_IMPAIRMENT: Final[dict[str, tuple[float, float]]] = {
    "pcmu": (0.0, 25.1),
    "pcma": (0.0, 25.1),
    "g722": (0.0, 25.1),
    "g729": (11.0, 19.0),
    "g723": (15.0, 16.1),
    "gsm": (20.0, 10.0),
    "ilbc": (11.0, 32.0),
    "opus": (0.0, 30.0),
    "amr": (5.0, 10.0),
    "amr-wb": (0.0, 10.0),
    "speex": (11.0, 10.0),
}
#: What an unknown codec is rated as (a conservative narrow-band codec).
DEFAULT_IMPAIRMENT: Final = (11.0, 10.0)
#: G.107 §7.1 with default parameters: Ro - Is.
R_DEFAULT: Final = 93.2


def r_factor(codec: str, loss: float, jitter_ms: float, packet_ms: float = 20.0) -> float:
    """G.107 R from the loss ratio (0..1), the mean jitter and the packet time."""
    ie, bpl = CODEC_IMPAIRMENT.get(codec.lower(), DEFAULT_IMPAIRMENT)
    ppl = max(0.0, min(loss, 1.0)) * 100.0
    # G.107 §7.4 (7-29), random loss (BurstR = 1).
    ie_eff = ie + (95.0 - ie) * ppl / (ppl + bpl)
    delay = 2.0 * jitter_ms + packet_ms + 10.0
    # G.107 §7.3 simplified (Cole and Rosenbluth): Id = 0.024 d + 0.11 (d - 177.3) H(d - 177.3).
    idd = 0.024 * delay + (0.11 * (delay - 177.3) if delay > 177.3 else 0.0)
    return R_DEFAULT - idd - ie_eff


def mos_from_r(r: float) -> float:
    """G.107 Annex B (B-4): the MOS (conversational quality, 1 to 4.5) for a rating R."""
    if r <= 0:
        return 1.0
    if r >= 100:
        return 4.5
    return 1.0 + 0.035 * r + 7e-6 * r * (r - 60.0) * (100.0 - r)


def mos_estimate(codec: str, loss: float, jitter_ms: float) -> float:
    """The MOS estimate, rounded to two decimals."""
    return round(mos_from_r(r_factor(codec, loss, jitter_ms)), 2)
