"""Findings for final failure responses that are not about extensions, auth or transfers.

Kinds built here, with the rule each one explains:

* ``session-interval-too-small`` (422): RFC 4028 §6, the 422 MUST carry Min-SE; §3, the UAC
  retries with a Session-Expires of at least that value and a Min-SE header holding the largest
  Min-SE it has seen.
* ``interval-too-brief`` (423): RFC 3261 §21.4.17 and §20.23 (Min-Expires); §10.2.8, the UA MAY
  retry with every expiration at least Min-Expires. RFC 6665 uses the same for SUBSCRIBE.
* ``glare`` (491): RFC 3261 §14.1, two re-INVITEs (or UPDATEs, RFC 3311 §5.2) crossed; the UAC
  that owns the Call-ID retries after 2.1-4 s, the other after 0-2 s.
* ``redirect`` (3xx): RFC 3261 §8.1.3.4 and §21.3, retry at the Contact targets.
* ``unavailable`` (480, 503) and ``server-error`` (other 5xx): RFC 3261 §21.4.18, §21.5, and
  §20.33 (Retry-After: do not retry that server before then); RFC 3263 §4.3 (503: try the next).
* ``request-failed``: every other final >= 400 that no specific kind covers.
"""

from __future__ import annotations

from typing import Final

from sipwatch.correlate.context import capture_cut, duration, frame_ref, status_line
from sipwatch.correlate.events import Finding, JsonValue, Severity
from sipwatch.correlate.events import format_endpoint as ep
from sipwatch.correlate.origin import Origin
from sipwatch.correlate.timers import GLARE_OTHER_RANGE, GLARE_OWNER_RANGE, RETRY_WINDOW
from sipwatch.correlate.transactions import Exchange
from sipwatch.sip.headers import parse_params
from sipwatch.sip.message import SipMessage


def header_int(msg: SipMessage | None, name: str) -> int | None:
    """Leading integer of a header value (``Min-SE: 1800;x=y`` -> 1800), or None."""
    if msg is None:
        return None
    raw = msg.header(name)
    if raw is None:
        return None
    head = parse_params(raw)[0].split("(")[0].strip()
    return int(head) if head.isdigit() else None


def requested_expires(msg: SipMessage | None) -> int | None:
    """The shortest expiration a REGISTER/SUBSCRIBE asked for (Contact ;expires= or Expires)."""
    if msg is None:
        return None
    values: list[int] = []
    for contact in msg.header_values("contact"):
        value = parse_params(contact)[1].get("expires", "")
        if value.isdigit():
            values.append(int(value))
    top = header_int(msg, "expires")
    if top is not None:
        values.append(top)
    return min(values) if values else None


def _intro(ex: Exchange, origin: Origin) -> str:
    reason = ex.final_msg.reason if ex.final_msg is not None else ""
    target = f" to {ex.request.uri}" if ex.request is not None else ""
    request = (
        f"{ex.method} CSeq {ex.cseq}{target} ({frame_ref(ex.request_frame)}) from "
        f"{ep(ex.request_src)}"
    )
    if ex.request is None:
        request = f"{ex.method} CSeq {ex.cseq} (request not captured)"
    return (
        f"{request} got {status_line(ex.final, reason)} "
        f"({frame_ref(ex.final_frame, ex.final_ts, ex.request_ts)}) {origin.phrase()}"
    )


def _capital(text: str) -> str:
    return text[:1].upper() + text[1:]


def _retry(ex: Exchange) -> JsonValue:
    if ex.retry is None:
        return None
    return {"cseq": ex.retry.cseq, "status": ex.retry.final}


def _retry_sentence(ex: Exchange, about: str = "") -> str:
    retry = ex.retry
    if retry is None and ex.retry_cut is not None:
        return capture_cut(f"the {ex.final}", ex.retry_cut, RETRY_WINDOW)
    if retry is None:
        return "No retry followed."
    got = status_line(retry.final, retry.final_msg.reason if retry.final_msg else "")
    return (
        f"The UAC retried as CSeq {retry.cseq} "
        f"({frame_ref(retry.request_frame, retry.request_ts, ex.final_ts)}){about} and got {got}."
    )


def _finding(
    ex: Exchange,
    kind: str,
    severity: Severity,
    sentences: list[str],
    remedy: str,
    details: dict[str, JsonValue],
    origin: Origin,
    extra_frames: tuple[int, ...] = (),
) -> Finding:
    details.update(origin.fields())
    frames = set(ex.frames) | set(extra_frames)
    if ex.retry is not None:
        frames.update(ex.retry.frames)
    return Finding(
        kind=kind,
        severity=severity,
        ts=ex.final_ts if ex.final_ts is not None else ex.first_ts,
        call_id=ex.call_id,
        frames=tuple(sorted(frames)),
        text=" ".join(sentences),
        remedy=remedy,
        details=details,
    )


def _retry_ok(ex: Exchange) -> bool:
    return ex.retry is not None and ex.retry.final is not None and 200 <= ex.retry.final < 300


def build_session_interval(ex: Exchange, origin: Origin) -> Finding:
    """``session-interval-too-small`` (422, RFC 4028)."""
    min_se = header_int(ex.final_msg, "min-se")
    offered = header_int(ex.request, "session-expires")
    sentences = [_intro(ex, origin) + "."]
    if offered is not None:
        sentences.append(f"The request offered Session-Expires: {offered}.")
    if min_se is None:
        sentences.append(
            "The 422 has no Min-SE header, although RFC 4028 §6 requires it: the UAC cannot "
            "know what interval to use."
        )
    else:
        sentences.append(
            f"The element wants session refreshes no more often than every {min_se} s: retry "
            f"with Session-Expires >= {min_se} and Min-SE: {min_se} (RFC 4028 §3, §6)."
        )
    about = ""
    if ex.retry is not None and min_se is not None:
        used = header_int(ex.retry.request, "session-expires")
        if used is not None:
            about = f" with Session-Expires: {used}" + (
                f", still below {min_se}" if used < min_se else ""
            )
    sentences.append(_retry_sentence(ex, about))
    remedy = (
        f"Set the session timer of the UA at {ep(ex.request_src)} to at least "
        f"{min_se if min_se is not None else 'the Min-SE of'} s, or lower Min-SE on "
        f"{origin.element() or 'the element that answered'}."
    )
    return _finding(
        ex,
        "session-interval-too-small",
        "info" if _retry_ok(ex) else "warning",
        sentences,
        remedy,
        {
            "method": ex.method,
            "cseq": ex.cseq,
            "min_se": min_se,
            "session_expires": offered,
            "use_session_expires": min_se,
            "retry": _retry(ex),
        },
        origin,
    )


def build_interval_too_brief(ex: Exchange, origin: Origin) -> Finding:
    """``interval-too-brief`` (423 with Min-Expires)."""
    min_expires = header_int(ex.final_msg, "min-expires")
    asked = requested_expires(ex.request)
    sentences = [_intro(ex, origin) + "."]
    if asked is not None:
        sentences.append(f"The request asked for an expiration of {asked} s.")
    if min_expires is None:
        sentences.append(
            "The 423 has no Min-Expires header (RFC 3261 §21.4.17, §20.23): the UA cannot know "
            "what interval the server accepts."
        )
    else:
        sentences.append(
            f"The server accepts no less than {min_expires} s: retry with Expires (and every "
            f"Contact expires) >= {min_expires} (RFC 3261 §10.2.8)."
        )
    about = ""
    if ex.retry is not None and min_expires is not None:
        used = requested_expires(ex.retry.request)
        if used is not None:
            below = f", still below {min_expires}" if used < min_expires else ""
            about = f" asking for {used} s{below}"
    sentences.append(_retry_sentence(ex, about))
    remedy = (
        f"Raise the {ex.method.lower()} interval of the UA at {ep(ex.request_src)} to at least "
        f"{min_expires if min_expires is not None else 'Min-Expires'} s."
    )
    return _finding(
        ex,
        "interval-too-brief",
        "info" if _retry_ok(ex) else "warning",
        sentences,
        remedy,
        {
            "method": ex.method,
            "cseq": ex.cseq,
            "min_expires": min_expires,
            "expires": asked,
            "use_expires": min_expires,
            "retry": _retry(ex),
        },
        origin,
    )


def build_glare(
    ex: Exchange, origin: Origin, crossing: Exchange | None, owner: bool | None
) -> Finding:
    """``glare`` (491 Request Pending, RFC 3261 §14.1)."""
    sentences = [_intro(ex, origin) + "."]
    if crossing is not None:
        sentences.append(
            f"It crossed {crossing.method} CSeq {crossing.cseq} "
            f"({frame_ref(crossing.request_frame)}) sent the other way in the same dialog: both "
            "sides tried to change the session at once (glare)."
        )
    else:
        sentences.append(
            "The far end had its own INVITE/UPDATE pending in this dialog (glare); that request "
            "was not captured."
        )
    low, high = GLARE_OWNER_RANGE if owner else GLARE_OTHER_RANGE
    if owner is None:
        rule = "2.1-4 s if it owns the Call-ID, 0-2 s otherwise"
    else:
        rule = f"{low:g}-{high:g} s, as it {'owns' if owner else 'does not own'} the Call-ID"
    delay: float | None = None
    retry = ex.retry
    if retry is not None and retry.request_ts is not None and ex.final_ts is not None:
        delay = retry.request_ts - ex.final_ts
        inside = owner is None or low <= delay <= high
        sentences.append(
            f"The UAC retried as CSeq {retry.cseq} after {duration(delay)} (RFC 3261 §14.1: "
            f"{rule}){'' if inside else ', outside that window'} and got "
            f"{status_line(retry.final, retry.final_msg.reason if retry.final_msg else '')}."
        )
    elif ex.retry_cut is not None:
        sentences.append(capture_cut(f"the {ex.final}", ex.retry_cut, RETRY_WINDOW))
    else:
        sentences.append(f"No retry followed (RFC 3261 §14.1: retry after {rule}).")
    details: dict[str, JsonValue] = {
        "method": ex.method,
        "cseq": ex.cseq,
        "crossing": (
            {"method": crossing.method, "cseq": crossing.cseq, "frame": crossing.request_frame}
            if crossing is not None
            else None
        ),
        "retry": (
            {"cseq": retry.cseq, "status": retry.final, "delay": round(delay, 6)}
            if retry is not None and delay is not None
            else None
        ),
    }
    remedy = (
        "Usually harmless if the retry succeeds; if glare repeats, stagger session refreshes or "
        "hold/resume actions so both sides do not re-INVITE at the same moment."
    )
    extra = tuple(crossing.frames) if crossing is not None else ()
    severity: Severity = "info" if _retry_ok(ex) else "warning"
    return _finding(ex, "glare", severity, sentences, remedy, details, origin, extra)


def build_redirect(ex: Exchange, origin: Origin) -> Finding:
    """``redirect`` (3xx, RFC 3261 §8.1.3.4, §21.3)."""
    contacts = ex.final_msg.header_values("contact") if ex.final_msg is not None else []
    sentences = [_intro(ex, origin) + "."]
    if contacts:
        sentences.append(
            f"It points to {'; '.join(contacts)}: the UAC should retry there (RFC 3261 §8.1.3.4)."
        )
    else:
        sentences.append("It carries no Contact, so there is nowhere to retry (RFC 3261 §21.3).")
    about = ""
    retry = ex.retry
    if retry is not None and retry.request is not None:
        about = f" to {retry.request.uri}"
    sentences.append(_retry_sentence(ex, about))
    remedy = "" if contacts else f"Have {origin.element()} include Contact targets in its 3xx."
    return _finding(
        ex,
        "redirect",
        "info" if contacts else "warning",
        sentences,
        remedy,
        {
            "method": ex.method,
            "cseq": ex.cseq,
            "status": ex.final,
            "contacts": contacts,
            "retry": _retry(ex),
        },
        origin,
    )


def retry_after(msg: SipMessage | None) -> tuple[int | None, str | None, int | None]:
    """(seconds, comment, duration) of Retry-After (RFC 3261 §20.33), Nones when absent."""
    if msg is None:
        return None, None, None
    raw = msg.header("retry-after")
    if raw is None:
        return None, None, None
    main, params = parse_params(raw)
    comment = None
    if "(" in main:
        main, _, rest = main.partition("(")
        comment = rest.rsplit(")", 1)[0].strip() or None
    seconds = int(main.strip()) if main.strip().isdigit() else None
    dur = params.get("duration", "")
    return seconds, comment, int(dur) if dur.isdigit() else None


_SERVER_NOTES: Final[dict[int, str]] = {
    500: "The server hit an internal error processing the request (RFC 3261 §21.5.1).",
    501: "The server does not implement this method (RFC 3261 §21.5.2).",
    502: "A gateway or proxy got an invalid response from the next hop (RFC 3261 §21.5.3).",
    504: (
        "A server on the path timed out waiting for another one, e.g. DNS or the next hop "
        "(RFC 3261 §21.5.5)."
    ),
    505: "The server does not support the SIP version of the request (RFC 3261 §21.5.6).",
    513: (
        "The message was too large for the server; requests near the path MTU must go over TCP "
        "(RFC 3261 §18.1.1, §21.5.7)."
    ),
    580: "A precondition (QoS) could not be met (RFC 3312 §8).",
    480: (
        "The callee's UA was reached or is known but is not available now: not registered, do "
        "not disturb, or offline (RFC 3261 §21.4.18)."
    ),
    503: (
        "The server is overloaded or in maintenance, or a proxy found no usable route "
        "(RFC 3261 §21.5.4); RFC 3263 §4.3: the UAC should try the next server."
    ),
}


def build_server_failure(ex: Exchange, origin: Origin) -> Finding:
    """``unavailable`` (480, 503) or ``server-error`` (other 5xx)."""
    status = ex.final or 500
    seconds, comment, dur = retry_after(ex.final_msg)
    sentences = [_intro(ex, origin) + "."]
    if status in _SERVER_NOTES:
        sentences.append(_SERVER_NOTES[status])
    if seconds is not None:
        sentences.append(
            f"Retry-After: {seconds} s{f' ({comment})' if comment else ''}"
            f"{f', duration {dur} s' if dur is not None else ''}: do not retry this server "
            "before then (RFC 3261 §20.33)."
        )
    elif status == 503:
        sentences.append(
            "There is no Retry-After; a 503 generated by a proxy without one usually means it "
            "had no route or every target was down."
        )
    kind = "unavailable" if status in (480, 503) else "server-error"
    remedy = ""
    if status == 513:
        remedy = f"Send large requests from {ep(ex.request_src)} over TCP (RFC 3261 §18.1.1)."
    elif status == 501:
        remedy = (
            f"{_capital(origin.element())} does not support {ex.method}: stop sending it there, "
            "or enable "
            "the feature on that server."
        )
    severity: Severity = "warning" if kind == "unavailable" else "error"
    return _finding(
        ex,
        kind,
        severity,
        sentences,
        remedy,
        {
            "method": ex.method,
            "cseq": ex.cseq,
            "status": status,
            "retry_after": seconds,
            "retry_after_comment": comment,
            "answered_from": ep(ex.final_src),
        },
        origin,
    )


_FAILED_NOTES: Final[dict[int, str]] = {
    400: "The server could not parse the request (RFC 3261 §21.4.1): look for a malformed header.",
    403: "The server understood the request and refuses it; authorization will not help (§21.4.4).",
    404: "The user or number is unknown at the server (RFC 3261 §21.4.5).",
    405: "The method is not allowed for this target; the Allow header lists what is (§21.4.6).",
    408: "No timely answer from downstream: the target did not respond (RFC 3261 §21.4.9).",
    481: (
        "The far end has no dialog or transaction matching this request (RFC 3261 §21.4.19): it "
        "already ended, or the request went to the wrong place or with wrong tags."
    ),
    482: "A proxy saw the request loop back to itself (RFC 3261 §21.4.20).",
    483: "Max-Forwards ran out: the request went through too many hops (RFC 3261 §21.4.21).",
    484: "The number or address is incomplete (RFC 3261 §21.4.22): overlap dialling/dial plan.",
    486: "The callee is busy (RFC 3261 §21.4.24).",
    487: "The request was terminated, normally by a CANCEL that was not captured (§21.4.25).",
    488: "The session description (SDP) was not acceptable: codecs, media or crypto (§21.4.26).",
    600: "The callee is busy everywhere (RFC 3261 §21.6.1).",
    603: "The callee declined (RFC 3261 §21.6.2).",
    604: "The user does not exist anywhere (RFC 3261 §21.6.3).",
    606: "No part of the session description is acceptable anywhere (RFC 3261 §21.6.4).",
}


def build_request_failed(ex: Exchange, origin: Origin) -> Finding:
    """``request-failed``: a final >= 400 no specific kind explains."""
    status = ex.final or 400
    sentences = [_intro(ex, origin) + "."]
    if status in _FAILED_NOTES:
        sentences.append(_FAILED_NOTES[status])
    if status == 481 and ex.method == "BYE":
        sentences.append("For a BYE this usually means the other side had already ended the call.")
    severity: Severity = "error" if status in (400, 482, 483) else "warning"
    reason = ex.final_msg.reason if ex.final_msg is not None else ""
    return _finding(
        ex,
        "request-failed",
        severity,
        sentences,
        "",
        {
            "method": ex.method,
            "cseq": ex.cseq,
            "status": status,
            "reason": reason,
            "answered_from": ep(ex.final_src),
            "request_uri": ex.request.uri if ex.request is not None else None,
        },
        origin,
    )
