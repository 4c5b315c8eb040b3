"""Media findings as facts: each with the SDP line, the addresses and the party responsible.

Two moments produce them. When an SDP body or a rejection is seen (:func:`sdp_findings`):
``private-address``, ``codec-mismatch``, ``srtp-mismatch``. When a call's streams are closed
(:func:`call_findings`): ``one-way-audio``, ``no-audio``, ``media-address-mismatch``,
``rtp-timeout``, ``media-quality``. The words are made in ``sipwatch/media_records.py``.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from functools import lru_cache

from sipwatch.media.model import MediaFinding, StreamReport
from sipwatch.media.negotiation import Announced, CallMedia, Party, common_codecs, other
from sipwatch.media.sdp import MediaDescription, SessionDescription
from sipwatch.media.thresholds import MediaThresholds
from sipwatch.sip.headers import header_param
from sipwatch.sip.message import SipMessage
from sipwatch.sip.uri import parse_address

#: Private address space: RFC 1918, RFC 6598 (carrier-grade NAT) and RFC 4193 (unique local).
#: Listed rather than ``is_private``, which also counts documentation and reserved ranges.
_PRIVATE = tuple(
    ipaddress.ip_network(net)
    for net in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "fc00::/7")
)
#: Packets toward a party before its direction counts as flowing (one stray packet is not audio).
MIN_FLOWING = 5


@lru_cache(maxsize=1024)
def address_class(address: str) -> str:
    """``private`` (RFC 1918, RFC 6598, RFC 4193), ``public``, or ``other`` (loopback, names...)."""
    try:
        ip = ipaddress.ip_address(address.strip("[]"))
    except ValueError:
        return "other"
    if any(ip in net for net in _PRIVATE if net.version == ip.version):
        return "private"
    return "public" if ip.is_global else "other"


def offered_formats(media: MediaDescription) -> list[str]:
    """The formats of an m= line for a message: codec names for RTP, ``image/t38`` style for
    others (a T.38 re-INVITE offers ``m=image ... udptl t38``)."""
    if media.is_rtp:
        return list(media.codecs)
    return [f"{media.media}/{fmt}" for fmt in media.formats]


def first_media(announced: Announced | None) -> MediaDescription | None:
    """The first m= line that is not rejected, audio or not."""
    if announced is None:
        return None
    return next((m for m in announced.sdp.media if not m.rejected), None)


def first_audio(announced: Announced | None) -> MediaDescription | None:
    """The first audio m= line that is not rejected (what a voice call is about)."""
    if announced is None:
        return None
    for media in announced.sdp.media:
        if media.media == "audio" and not media.rejected:
            return media
    return None


def _endpoint(media: MediaDescription) -> str:
    host = media.address
    return f"[{host}]:{media.port}" if ":" in host else f"{host}:{media.port}"


def _evidence(announced: Announced, media: MediaDescription) -> dict[str, object]:
    """The SDP facts every media finding quotes."""
    return {
        "party": announced.party,
        "sdp_frame": announced.frame,
        "sdp_message": announced.message,
        "sdp_line": media.connection_line,
        "media_line": media.line,
        "sdp_address": _endpoint(media),
        "signalling_from": announced.signalling,
    }


def sdp_findings(
    call: CallMedia, offer: Announced | None, recorded: Announced, msg: SipMessage
) -> list[MediaFinding]:
    """Findings an SDP body proves by itself or with the offer it answers."""
    out: list[MediaFinding] = []
    out.extend(_private_address(call, recorded, msg))
    if offer is not None:
        out.extend(_answer_mismatch(call, offer, recorded))
    return out


def _private_address(call: CallMedia, announced: Announced, msg: SipMessage) -> list[MediaFinding]:
    """RFC 3264 §5 asks for the address the party receives on; a private one sent from a public
    signalling address is unreachable from the far side unless something rewrites it."""
    flag = f"private-address:{announced.party}"
    if flag in call.flags or address_class(announced.signalling) != "public":
        return []
    media = first_audio(announced)
    sdp_private = media is not None and address_class(media.address) == "private"
    contact_value = msg.header("contact") or ""
    contact = parse_address(contact_value) if contact_value else None
    contact_host = contact.host.strip("[]") if contact is not None else ""
    contact_private = bool(contact_host) and address_class(contact_host) == "private"
    if not (sdp_private or contact_private):
        return []
    call.flags.add(flag)
    details: dict[str, object] = {}
    if media is not None:
        details.update(_evidence(announced, media))
    else:
        details.update({"party": announced.party, "sdp_frame": announced.frame})
    details["signalling_from"] = announced.signalling
    details["sdp_private"] = sdp_private
    details["contact"] = contact_value.strip() if contact_private else None
    # RFC 3261 §18.2.1 received, RFC 3581 §4 rport: what a proxy saw the request come from.
    via = msg.top_via if msg.kind == "request" else ""
    details["via_received"] = header_param(via, "received") if via else None
    details["via_rport"] = header_param(via, "rport") if via else None
    return [
        MediaFinding(
            kind="private-address",
            severity="warning",
            ts=announced.ts,
            call_id=call.call_id,
            frames=(announced.frame,),
            details=details,
        )
    ]


def _answer_mismatch(call: CallMedia, offer: Announced, answer: Announced) -> list[MediaFinding]:
    """RFC 3264 §6.1: an accepted stream must use a format of the offer; RFC 3711/RFC 4568:
    an SRTP offer answered in plain RTP (or the reverse) leaves each side unable to read the
    other."""
    out: list[MediaFinding] = []
    for offered, answered in zip(offer.sdp.media, answer.sdp.media, strict=False):
        if answered.rejected or not offered.is_rtp or not answered.is_rtp:
            continue
        offered_secure = offered.is_srtp or bool(offered.crypto)
        answered_secure = answered.is_srtp or bool(answered.crypto)
        if offered.is_srtp != answered.is_srtp or (offered.is_srtp and not answered_secure):
            out.append(
                _finding(
                    "srtp-mismatch",
                    call,
                    answer,
                    offered_proto=offered.proto,
                    answered_proto=answered.proto,
                    offered_crypto=list(offered.crypto),
                    answered_crypto=list(answered.crypto),
                    offered_secure=offered_secure,
                    offer_frame=offer.frame,
                    **_evidence(answer, answered),
                )
            )
        elif not common_codecs(offered, answered) and offered.payload_types:
            out.append(
                _finding(
                    "codec-mismatch",
                    call,
                    answer,
                    status=None,
                    offered=list(offered.codecs),
                    answered=list(answered.codecs),
                    warning=None,
                    offer_frame=offer.frame,
                    **_evidence(answer, answered),
                )
            )
    return out


def rejection_findings(
    call: CallMedia,
    offer: Announced,
    msg: SipMessage,
    frame: int,
    ts: float,
    own_sdp: SessionDescription | None = None,
) -> list[MediaFinding]:
    """RFC 3261 §21.4.26 (488) / §21.6.4 (606): the offer was not acceptable. The rejecting
    party's own codecs are known from an SDP body in the rejection or an earlier one; RFC 3261
    §20.43 Warning codes 304 (media type) and 305 (media format) say which part failed."""
    offered = first_media(offer)
    rejector: Party = other(offer.party)
    known = call.latest.get(rejector)
    theirs = first_media(known) if known is not None and known is not offer else None
    if own_sdp is not None:
        theirs = next((m for m in own_sdp.media if not m.rejected), theirs)
    warning = next(
        (w.strip() for w in msg.header_values("warning") if w.strip()[:3] in {"304", "305"}),
        None,
    )
    kind = "codec-mismatch"
    if (
        offered is not None
        and theirs is not None
        and (offered.is_srtp or bool(offered.crypto)) != (theirs.is_srtp or bool(theirs.crypto))
    ):
        kind = "srtp-mismatch"
    details: dict[str, object] = {
        "method": msg.cseq_method,
        "cseq": msg.cseq_num,
        "status": msg.status,
        "offered": offered_formats(offered) if offered else [],
        "answered": offered_formats(theirs) if theirs else None,
        "warning": warning,
        "offer_frame": offer.frame,
        "offered_proto": offered.proto if offered else None,
        "answered_proto": theirs.proto if theirs else None,
    }
    if offered is not None:
        details.update(_evidence(offer, offered))
    return [
        MediaFinding(
            kind=kind,
            severity="error",
            ts=ts,
            call_id=call.call_id,
            frames=(offer.frame, frame),
            details=details,
        )
    ]


def _finding(kind: str, call: CallMedia, at: Announced, **details: object) -> MediaFinding:
    return MediaFinding(
        kind=kind,
        severity="error",
        ts=at.ts,
        call_id=call.call_id,
        frames=(at.frame,),
        details=dict(details),
    )


def _behind_nat(announced: Announced, media: MediaDescription) -> bool:
    """A private SDP address sent from a public signalling address."""
    return (
        address_class(media.address) == "private"
        and address_class(announced.signalling) == "public"
    )


def _on_hold(announced: Announced | None) -> bool:
    media = first_audio(announced)
    return media is None or media.on_hold or media.direction == "recvonly"


def call_findings(
    call: CallMedia,
    streams: Sequence[StreamReport],
    *,
    end_ts: float,
    capture_has_rtp: bool,
    thresholds: MediaThresholds,
    nearby: Sequence[StreamReport] = (),
) -> list[MediaFinding]:
    """What the closed streams of an ended (or captured-to-the-end) call say.

    ``streams`` are the call's own; ``nearby`` every stream of the capture closed recently,
    whichever call it was put with: two calls may announce the same address and port one after
    the other, and a direction is only silent if no stream at all reached that address while
    the call was up.
    """
    out: list[MediaFinding] = []
    caller, callee = call.latest.get("caller"), call.latest.get("callee")
    caller_audio, callee_audio = first_audio(caller), first_audio(callee)
    answered = call.answered_ts is not None
    if answered and caller and callee and caller_audio and callee_audio and capture_has_rtp:
        start = call.answered_ts if call.answered_ts is not None else end_ts
        during = [s for s in (*streams, *nearby) if s.first_ts <= end_ts and s.last_ts >= start]
        unique = list({(s.src, s.dst, s.ssrc, s.first_ts): s for s in during}.values())
        out.extend(_direction_findings(call, unique, caller, callee, end_ts))
    for stream in streams:
        out.extend(_stream_findings(call, stream, end_ts, thresholds))
    return out


def _toward(streams: Sequence[StreamReport], media: MediaDescription) -> list[StreamReport]:
    where = _endpoint(media)
    return [s for s in streams if s.dst == where]


def _direction_findings(
    call: CallMedia,
    streams: Sequence[StreamReport],
    caller: Announced,
    callee: Announced,
    end_ts: float,
) -> list[MediaFinding]:
    out: list[MediaFinding] = []
    caller_audio, callee_audio = first_audio(caller), first_audio(callee)
    assert caller_audio is not None and callee_audio is not None  # checked by the caller
    answered_ts = call.answered_ts if call.answered_ts is not None else end_ts
    to_caller = _toward(streams, caller_audio)
    to_callee = _toward(streams, callee_audio)
    held = _on_hold(caller) or _on_hold(callee)
    endpoints = {_endpoint(caller_audio), _endpoint(callee_audio)}
    touching = [s for s in streams if s.src in endpoints or s.dst in endpoints]
    flowing_to_caller = sum(s.packets for s in to_caller) >= MIN_FLOWING
    flowing_to_callee = sum(s.packets for s in to_callee) >= MIN_FLOWING
    if not touching and not held and end_ts - answered_ts > 1.0:
        out.append(
            MediaFinding(
                kind="no-audio",
                severity="error",
                ts=answered_ts,
                call_id=call.call_id,
                frames=(caller.frame, callee.frame),
                details={
                    "caller_address": _endpoint(caller_audio),
                    "callee_address": _endpoint(callee_audio),
                    "caller_line": caller_audio.connection_line,
                    "callee_line": callee_audio.connection_line,
                    "caller_private": _behind_nat(caller, caller_audio),
                    "callee_private": _behind_nat(callee, callee_audio),
                },
            )
        )
    elif not held and flowing_to_caller != flowing_to_callee and not (to_caller and to_callee):
        # The party that receives nothing: its announced address got no RTP.
        deaf, deaf_sdp = (callee, callee_audio) if to_caller else (caller, caller_audio)
        heard = to_caller or to_callee
        out.append(
            MediaFinding(
                kind="one-way-audio",
                severity="error",
                ts=heard[0].first_ts,
                call_id=call.call_id,
                frames=(deaf.frame, heard[0].first_frame),
                details={
                    "receiving": other(deaf.party),
                    "silent_toward": deaf.party,
                    "flowing": [f"{s.src} -> {s.dst}" for s in heard],
                    "packets": sum(s.packets for s in heard),
                    "private_sdp": _behind_nat(deaf, deaf_sdp),
                    **_evidence(deaf, deaf_sdp),
                },
            )
        )
    # Symmetric RTP (RFC 4961): a party sends from the address it receives on. A stream toward
    # one party from somewhere else than the other party announced was rewritten on the way.
    for receiver_audio, sender, sender_audio, toward in (
        (caller_audio, callee, callee_audio, to_caller),
        (callee_audio, caller, caller_audio, to_callee),
    ):
        announced = _endpoint(sender_audio)
        foreign = [s for s in toward if s.src != announced]
        if not foreign:
            continue
        stream = foreign[0]
        out.append(
            MediaFinding(
                kind="media-address-mismatch",
                severity="warning",
                ts=stream.first_ts,
                call_id=call.call_id,
                frames=(sender.frame, stream.first_frame),
                details={
                    "rtp_from": stream.src,
                    "rtp_to": stream.dst,
                    "receiver_address": _endpoint(receiver_audio),
                    "nat": address_class(sender_audio.address) == "private"
                    and address_class(stream.src.rsplit(":", 1)[0].strip("[]")) == "public",
                    **_evidence(sender, sender_audio),
                },
            )
        )
    return out


def _stream_findings(
    call: CallMedia, stream: StreamReport, end_ts: float, thresholds: MediaThresholds
) -> list[MediaFinding]:
    out: list[MediaFinding] = []
    base = {"src": stream.src, "dst": stream.dst, "ssrc": stream.ssrc}
    answered = call.answered_ts is not None
    silence = end_ts - stream.last_ts
    if answered and silence > thresholds.rtp_timeout and stream.origin == "sdp":
        out.append(
            MediaFinding(
                kind="rtp-timeout",
                severity="warning",
                ts=stream.last_ts,
                call_id=call.call_id,
                frames=(stream.last_frame,),
                details={
                    **base,
                    "last_packet_ts": stream.last_ts,
                    "silence_s": round(silence, 3),
                    "call_ended": call.ended_ts is not None,
                    "timeout_s": thresholds.rtp_timeout,
                },
            )
        )
    if stream.packets >= thresholds.min_packets and stream.expected > 0:
        loss = max(stream.lost, 0) / stream.expected
        exceeded: list[str] = []
        if loss > thresholds.loss_max:
            exceeded.append("loss")
        if stream.jitter_max_ms > thresholds.jitter_max_ms:
            exceeded.append("jitter")
        if stream.mos_estimate is not None and stream.mos_estimate < thresholds.mos_min:
            exceeded.append("mos")
        if exceeded:
            out.append(
                MediaFinding(
                    kind="media-quality",
                    severity="warning",
                    ts=stream.first_ts,
                    call_id=call.call_id,
                    frames=(stream.first_frame, stream.last_frame),
                    details={
                        **base,
                        "exceeded": exceeded,
                        "codec": stream.codec,
                        "lost": stream.lost,
                        "expected": stream.expected,
                        "loss_ratio": round(loss, 4),
                        "jitter_max_ms": stream.jitter_max_ms,
                        "mos_estimate": stream.mos_estimate,
                        "thresholds": {
                            "loss_max": thresholds.loss_max,
                            "jitter_max_ms": thresholds.jitter_max_ms,
                            "mos_min": thresholds.mos_min,
                        },
                    },
                )
            )
    return out
