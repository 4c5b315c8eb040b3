"""Glue between the pipeline and the media tracker: facts in, records and sentences out.

The tracker (:mod:`sipwatch.media.tracker`) returns :class:`StreamReport` and
:class:`MediaFinding` values with no words; this is the one place that turns each media finding
kind into its sentence and remedy (docs/findings.md), counts them in the summary, and wraps
streams as :class:`StreamRecord`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from sipwatch.filters import MessageFilter
from sipwatch.media.model import MediaFinding, StreamReport
from sipwatch.media.tracker import MediaTracker
from sipwatch.records import MAX_SUMMARY_STREAMS, FindingRecord, Record, StreamRecord, Summary


def _list(values: object) -> str:
    if isinstance(values, list) and values:
        return ", ".join(str(v) for v in values)
    return "none"


def _sdp(d: dict[str, Any]) -> str:
    """Where the quoted SDP came from: ``the caller's INVITE (frame 3): c=IN IP4 ...``."""
    line = d.get("sdp_line") or ""
    media = d.get("media_line") or ""
    quoted = " / ".join(x for x in (line, media) if x)
    return f"the {d.get('party')}'s {d.get('sdp_message')} (frame {d.get('sdp_frame')}): {quoted}"


def _private_address(d: dict[str, Any]) -> tuple[str, str]:
    what = []
    if d.get("sdp_private"):
        what.append(f"its SDP announces the private address {d.get('sdp_address')}")
    if d.get("contact"):
        what.append(f"its Contact is private ({d.get('contact')})")
    via = ""
    if d.get("via_received") or d.get("via_rport"):
        via = (
            f"; the Via says a proxy saw it from received={d.get('via_received') or '-'} "
            f"rport={d.get('via_rport') or '-'}"
        )
    text = (
        f"The {d.get('party')} signals from the public address {d.get('signalling_from')} but "
        f"{' and '.join(what)}{via}. The far side cannot reach a private address: the "
        f"{d.get('party')} is behind a NAT that does not rewrite SIP."
    )
    if d.get("sdp_line"):
        text += f" SDP: {_sdp(d)}."
    remedy = (
        "Have the SBC/proxy fix the SDP and Contact (NAT traversal, e.g. rtpengine or "
        "nat_uac_test + fix_nated_sdp), or use STUN/ICE on the client; the far end must latch "
        "onto the source of the RTP it receives (symmetric RTP, RFC 4961)."
    )
    return text, remedy


def _codec_mismatch(d: dict[str, Any]) -> tuple[str, str]:
    status = d.get("status")
    theirs = d.get("answered")
    theirs_text = (
        f"the other side offers {_list(theirs)}"
        if theirs is not None
        else "the other side's codecs were not in the capture"
    )
    if status:
        text = f"{status} rejected the offer of frame {d.get('offer_frame')}: offered " + (
            f"{_list(d.get('offered'))}; {theirs_text}."
        )
    else:
        text = (
            f"The answer shares no codec with the offer of frame {d.get('offer_frame')}: "
            f"offered {_list(d.get('offered'))}, answered {_list(theirs)} (RFC 3264 §6.1)."
        )
    if d.get("warning"):
        text += f" Warning: {d.get('warning')}."
    remedy = "Enable a common codec on both sides (G.711 PCMU/PCMA is the usual common ground)."
    return text, remedy


def _srtp_mismatch(d: dict[str, Any]) -> tuple[str, str]:
    offered = d.get("offered_proto") or "?"
    answered = d.get("answered_proto") or "?"
    if d.get("status"):
        text = (
            f"{d.get('status')} rejected the offer of frame {d.get('offer_frame')}: it asked "
            f"for {offered} but the other side speaks {answered}."
        )
    else:
        text = (
            f"The offer of frame {d.get('offer_frame')} uses {offered} and the answer "
            f"{answered}: one side will send SRTP the other cannot read (RFC 3711)."
        )
    remedy = (
        "Set the media encryption the same on both sides (SRTP mandatory, optional or off), "
        "or let an SBC convert between SRTP and RTP."
    )
    return text, remedy


def _one_way(d: dict[str, Any]) -> tuple[str, str]:
    silent = d.get("silent_toward")
    text = (
        f"One-way audio: RTP reaches the {d.get('receiving')} ({d.get('packets')} packets, "
        f"{_list(d.get('flowing'))}) but none reaches the {silent} at "
        f"{d.get('sdp_address')}, announced in {_sdp(d)}."
    )
    if d.get("private_sdp"):
        text += (
            f" That address is private while the {silent} signals from "
            f"{d.get('signalling_from')}: the RTP is sent into a NAT that drops it."
        )
        remedy = (
            "Fix the SDP address of the NATed party (SBC/rtpengine, STUN) or have the far end "
            "use symmetric RTP (latch onto the RTP source address)."
        )
    else:
        remedy = (
            f"Check that the {d.get('receiving')} sends RTP at all (muted, codec refused, media "
            f"not started) and that no firewall drops the direction toward the {silent}."
        )
    return text, remedy


def _no_audio(d: dict[str, Any]) -> tuple[str, str]:
    text = (
        f"The call was answered but no RTP was seen in either direction: the caller announced "
        f"{d.get('caller_address')} ({d.get('caller_line')}), the callee "
        f"{d.get('callee_address')} ({d.get('callee_line')})."
    )
    if d.get("caller_private") or d.get("callee_private"):
        text += " A private address was announced from a public signalling address (NAT)."
    remedy = (
        "Check the firewall/NAT for the RTP port range of both parties, and that the capture "
        "point sees the media path."
    )
    return text, remedy


def _address_mismatch(d: dict[str, Any]) -> tuple[str, str]:
    text = (
        f"RTP to {d.get('rtp_to')} comes from {d.get('rtp_from')}, not from "
        f"{d.get('sdp_address')} that {_sdp(d)} announced."
    )
    if d.get("nat"):
        text += " The announced address is private and the packets come from a public one: NAT."
    remedy = (
        "Sending RTP back to the announced address will not reach this party; the far end "
        "should use symmetric RTP (RFC 4961) or an SBC should anchor the media."
    )
    return text, remedy


def _rtp_timeout(d: dict[str, Any]) -> tuple[str, str]:
    end = "the call ended" if d.get("call_ended") else "the capture ended"
    text = (
        f"RTP {d.get('src')} -> {d.get('dst')} (SSRC {d.get('ssrc')}) stopped "
        f"{d.get('silence_s')} s before {end} (timeout {d.get('timeout_s')} s)."
    )
    remedy = (
        "A stream stopping mid-call is usually a NAT binding or firewall pinhole timing out, "
        "or a re-INVITE/UPDATE that moved the media elsewhere; look at what changed then."
    )
    return text, remedy


def _quality(d: dict[str, Any]) -> tuple[str, str]:
    mos = d.get("mos_estimate")
    text = (
        f"RTP {d.get('src')} -> {d.get('dst')} ({d.get('codec') or 'unknown codec'}): "
        f"{d.get('lost')} of {d.get('expected')} packets lost ({100 * d.get('loss_ratio', 0):.1f} "
        f"%), max jitter {d.get('jitter_max_ms')} ms, MOS estimate "
        f"{mos if mos is not None else 'n/a'}; above the thresholds for "
        f"{_list(d.get('exceeded'))}."
    )
    remedy = "Look for congestion or a lossy link on that path (QoS marking, Wi-Fi, VPN)."
    return text, remedy


_WORDS: dict[str, Callable[[dict[str, Any]], tuple[str, str]]] = {
    "private-address": _private_address,
    "codec-mismatch": _codec_mismatch,
    "srtp-mismatch": _srtp_mismatch,
    "one-way-audio": _one_way,
    "no-audio": _no_audio,
    "media-address-mismatch": _address_mismatch,
    "rtp-timeout": _rtp_timeout,
    "media-quality": _quality,
}


def finding_record(finding: MediaFinding) -> FindingRecord:
    details: dict[str, Any] = dict(finding.details)
    text, remedy = _WORDS[finding.kind](details)
    data: dict[str, Any] = {
        "kind": finding.kind,
        "severity": finding.severity,
        "ts": finding.ts,
        "call_id": finding.call_id,
        "frames": list(finding.frames),
        "text": text,
        "remedy": remedy,
    }
    for key, value in details.items():
        data.setdefault(key, value)
    return FindingRecord(data)


class MediaRecords:
    """Owns the tracker for one run and turns what it returns into records."""

    def __init__(
        self, tracker: MediaTracker, summary: Summary, display: MessageFilter | None = None
    ) -> None:
        self.tracker = tracker
        self._summary = summary
        #: The display filters (``--call-id``, ``--port``, ...): they narrow the stream and
        #: media finding lines as they do the findings; the summary counts every one.
        self._display = display if display is not None and display.active else None

    def convert(self, items: Iterable[StreamReport | MediaFinding]) -> list[Record]:
        records: list[Record] = []
        summary = self._summary
        for item in items:
            display = self._display
            if isinstance(item, StreamReport):
                summary.streams_total += 1
                where = {"call_id": item.call_id, "src": item.src, "dst": item.dst}
                if display is not None and not display.accepts_finding(where):
                    continue
                records.append(StreamRecord(item))
                if len(summary.streams) < MAX_SUMMARY_STREAMS:
                    summary.streams.append(item)
                continue
            summary.findings_by_kind[item.kind] += 1
            summary.findings_by_severity[item.severity] += 1
            record = finding_record(item)
            if display is None or display.accepts_finding(record.data):
                records.append(record)
        return records

    def count(self) -> None:
        """The tracker's counts into the summary's notes (only those above zero, so a
        capture without media keeps the summary it had)."""
        notes = self._summary.notes
        tracker = self.tracker
        for name, value in (
            ("rtp-packets", tracker.rtp_packets),
            ("rtcp-packets", tracker.rtcp_packets),
            ("rtp-streams", tracker.streams_reported),
            ("rtp-flows-over-limit", tracker.flows_over_limit),
        ):
            if value:
                notes[name] = value
