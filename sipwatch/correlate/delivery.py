"""Findings about delivery: requests never answered, and retransmission storms.

* ``no-final-response``: RFC 3261 §17.1.1.2 Timer B (INVITE, 64*T1 = 32 s without any
  response) and §17.1.2.2 Timer F (non-INVITE, 64*T1 whatever provisionals came). Once an INVITE
  got a provisional response, Timer B no longer applies and a proxy's Timer C (§16.6 step 11,
  more than 3 minutes) bounds the wait instead. At the end of a capture, a request still waiting
  is reported too, marked ``timed_out: false``.
* ``retransmissions``: the same request (Timer A/E, §17.1.1.2/§17.1.2.2) or the same final
  response (a 2xx retransmitted until the ACK arrives, §13.3.1.4; a non-2xx until its ACK, §17.2.1
  Timer G) seen at least ``threshold`` extra times on one hop. An unanswered request's own
  retransmissions are part of its ``no-final-response`` finding instead.
"""

from __future__ import annotations

from sipwatch.correlate.context import duration, frame_ref, status_line
from sipwatch.correlate.events import Finding, JsonValue, Severity
from sipwatch.correlate.events import format_endpoint as ep
from sipwatch.correlate.icmp import icmp_name, icmp_remedy, meaning
from sipwatch.correlate.transactions import Exchange, Transaction, via_sent_by


def build_no_final_response(
    ex: Exchange, now: float, timeout: float, timed_out: bool, timer: str
) -> Finding:
    """``no-final-response`` for an exchange that never got a final response."""
    elapsed = now - (ex.request_ts if ex.request_ts is not None else ex.first_ts)
    sent = ex.max_request_copies()
    target = f" to {ex.request.uri}" if ex.request is not None else ""
    head = (
        f"{ex.method} CSeq {ex.cseq}{target} ({frame_ref(ex.request_frame)}) from "
        f"{ep(ex.request_src)} to {ep(ex.request_dst)}"
    )
    sentences: list[str] = []
    if ex.provisional is not None:
        got = f"got a {ex.provisional} provisional response but"
    else:
        got = "got"
    rule = {
        "B": "Timer B, RFC 3261 §17.1.1.2",
        "F": "Timer F, RFC 3261 §17.1.2.2",
        "C": "Timer C, RFC 3261 §16.6 step 11",
    }[timer]
    if timed_out:
        what = "no final response" if ex.provisional is not None else "no response at all"
        sentences.append(f"{head} {got} {what} within {duration(timeout)} ({rule}).")
    else:
        sentences.append(
            f"{head} had no final response when the capture ended {duration(elapsed)} after "
            f"the request, before {rule.split(',')[0]} ({duration(timeout)}) would fire"
            + (f"; it got a {ex.provisional} provisional response." if ex.provisional else ".")
        )
    if sent > 1:
        sentences.append(
            f"It was sent {sent} times on one hop (the original and {sent - 1} retransmissions)."
        )
    if ex.cancel_frame is not None:
        sentences.append(
            f"It was cancelled (CANCEL frame {ex.cancel_frame}) yet no 487 came back "
            "(RFC 3261 §9.2: the UAS answers the INVITE with 487 after a CANCEL)."
        )
    remedy = ""
    # At the end of a capture an unanswered request is only news, unless it was already being
    # retransmitted into silence: that is the start of a timeout the capture cut short.
    severity: Severity = "warning" if sent > 1 and ex.provisional is None else "info"
    if timed_out:
        severity = "error"
        if ex.provisional is None and ex.icmp is not None:
            evidence = ex.icmp
            said, _ = meaning(evidence)
            sentences.append(
                f"The {icmp_name(evidence.version, evidence.type, evidence.code)} from "
                f"{evidence.reporter} (frame {evidence.frame}) says why: {said}."
            )
            remedy = icmp_remedy(evidence)
        elif ex.provisional is None:
            sent_by = via_sent_by(ex.request.top_via) if ex.request is not None else "?"
            sentences.append(
                "The next hop is unreachable, dropped the request, or its responses do not come "
                "back (firewall or NAT, wrong Via sent-by/rport)."
            )
            remedy = (
                f"Check that {ep(ex.request_dst)} is reachable from {ep(ex.request_src)} and that "
                f"responses can reach the Via sent-by ({sent_by}); look for firewalls or NAT "
                "dropping SIP, or a transport mismatch."
            )
        else:
            remedy = (
                f"The far side behind {ep(ex.request_dst)} neither answered nor rejected: check "
                "the no-answer timers on the proxy and the callee's device."
            )
    return Finding(
        kind="no-final-response",
        severity=severity,
        ts=ex.request_ts if ex.request_ts is not None else ex.first_ts,
        call_id=ex.call_id,
        frames=tuple(sorted(set(ex.frames))),
        text=" ".join(sentences),
        remedy=remedy,
        details={
            "method": ex.method,
            "cseq": ex.cseq,
            "timer": timer,
            "timeout": timeout,
            "elapsed": round(elapsed, 6),
            "timed_out": timed_out,
            "sent": sent,
            "provisional": ex.provisional,
            "request_uri": ex.request.uri if ex.request is not None else None,
        },
    )


def _worst_response(ex: Exchange) -> tuple[Transaction | None, int, int]:
    """(transaction, status, retransmissions) of the most repeated final response on one hop."""
    best: tuple[Transaction | None, int, int] = (None, 0, 0)
    for tx in ex.transactions:
        counts = tx.response_copies
        if counts is None:
            continue  # every response was seen once
        for ident in tx.responses:  # first-seen order, so ties go to the earlier response
            status = ident[0]
            retransmissions = counts.get(ident, 1) - 1
            if status >= 200 and retransmissions > best[2]:
                best = (tx, status, retransmissions)
    return best


def build_retransmissions(ex: Exchange, threshold: int) -> Finding | None:
    """``retransmissions`` when a request or final response repeated ``threshold`` times."""
    request_tx = max(ex.transactions, key=lambda tx: tx.request_copies, default=None)
    request_retx = request_tx.request_copies - 1 if request_tx is not None else 0
    response_tx, status, response_retx = _worst_response(ex)
    answered = ex.final is not None
    what: str
    if response_retx >= threshold and response_retx >= request_retx:
        what = "response"
    elif request_retx >= threshold and answered:
        what = "request"
    else:
        return None
    sentences: list[str]
    if what == "request" and request_tx is not None:
        reason = ex.final_reason
        sentences = [
            f"{ex.method} CSeq {ex.cseq} was retransmitted {request_retx} times from "
            f"{ep(request_tx.src)} to {ep(request_tx.dst)} before "
            f"{status_line(ex.final, reason)} came back ({frame_ref(ex.final_frame)}).",
            "Responses were slow or lost on the way back (RFC 3261 §17.1.1.2 Timer A, "
            "§17.1.2.2 Timer E: each retransmission means no response had arrived yet).",
        ]
        remedy = (
            f"Check the path from {ep(request_tx.dst)} back to {ep(request_tx.src)}: responses "
            "go to the Via sent-by, received and rport."
        )
        count = request_retx
        src, dst = request_tx.src, request_tx.dst
    else:
        assert response_tx is not None
        src, dst = response_tx.dst, response_tx.src
        sentences = [
            f"The {status} to {ex.method} CSeq {ex.cseq} was retransmitted {response_retx} times "
            f"by {ep(src)} to {ep(dst)}."
        ]
        if ex.invite and 200 <= status < 300:
            sentences.append(
                "The UAS never saw the ACK: it retransmits the 2xx until the ACK arrives, for "
                "64*T1 = 32 s, then gives up and ends the call (RFC 3261 §13.3.1.4)."
            )
            if ex.ack_frame is not None:
                sentences.append(
                    f"An ACK was captured (frame {ex.ack_frame}), so it was lost or misrouted "
                    "between here and the UAS."
                )
            remedy = (
                f"Make sure the ACK reaches {ep(src)}: check the Contact of the 2xx and the "
                "Record-Route set (private addresses behind NAT are the usual cause)."
            )
        elif ex.invite:
            sentences.append(
                "The ACK for this failure never arrived (RFC 3261 §17.2.1: Timer G retransmits "
                "until the ACK, Timer H gives up)."
            )
            remedy = f"Check that ACKs from {ep(dst)} reach {ep(src)} (same path as the INVITE)."
        else:
            sentences.append(
                "It was resent for each retransmitted request: the response is lost on its way "
                "back (RFC 3261 §17.2.2)."
            )
            remedy = f"Check the path from {ep(src)} back to {ep(dst)}."
        count = response_retx
    return Finding(
        kind="retransmissions",
        severity="warning",
        ts=ex.first_ts,
        call_id=ex.call_id,
        frames=tuple(sorted(set(ex.frames))),
        text=" ".join(sentences),
        remedy=remedy,
        details={
            "method": ex.method,
            "cseq": ex.cseq,
            "what": what,
            "count": count,
            "status": status if what == "response" else None,
            "src": ep(src),
            "dst": ep(dst),
        },
    )


def build_late_response(
    ex: Exchange,
    now: float,
    timeout: float,
    timer: str,
    invite: Exchange | None,
    revises: int | None,
) -> Finding:
    """``late-response``: the first final response came after Timer B/F/C had expired.

    It replaces the exchange's ``no-final-response`` (RFC 3261 §17.1.1.2, §17.1.2.2: the client
    transaction had already terminated and reported a timeout to its user, so the late answer
    is lost on it). For a CANCEL, §9.2 says how it should have gone: 200 OK to the CANCEL at
    once, 487 Request Terminated to the INVITE.
    """
    sent_ts = ex.request_ts if ex.request_ts is not None else ex.first_ts
    delay = now - sent_ts
    sent = ex.max_request_copies()
    rule = {
        "B": "Timer B, RFC 3261 §17.1.1.2",
        "F": "Timer F, RFC 3261 §17.1.2.2",
        "C": "Timer C, RFC 3261 §16.6 step 11",
    }[timer]
    reason = ex.final_reason
    sentences = [
        f"{ex.method} CSeq {ex.cseq} ({frame_ref(ex.request_frame)}) from {ep(ex.request_src)} "
        f"to {ep(ex.request_dst)} got its final response, {status_line(ex.final, reason)} "
        f"({frame_ref(ex.final_frame)}), {duration(delay)} after the request: after "
        f"Timer {timer} ({duration(timeout)}, {rule.split(', ', 1)[1]}) had expired, so the "
        "UAC had already given up on the transaction."
    ]
    if sent > 1:
        sentences.append(
            f"It was sent {sent} times on one hop (the original and {sent - 1} retransmissions)."
        )
    invite_json: dict[str, JsonValue] | None = None
    severity: Severity = "warning"
    remedy = (
        f"Find why {ep(ex.final_src)} takes longer than {duration(timeout)} to answer "
        f"{ex.method}: a slow or unreachable next hop behind it, or responses lost on the way "
        "back."
    )
    if ex.method == "CANCEL":
        severity = "error"
        sentences.append(
            "RFC 3261 §9.2: a UAS answers a CANCEL at once with 200 OK, whether or not it still "
            f"has the INVITE; this CANCEL got no 200, only {ex.final} after its timeout."
        )
        remedy = (
            f"Have {ep(ex.final_src)} answer CANCEL with 200 OK at once and the cancelled INVITE "
            "with 487 Request Terminated (RFC 3261 §9.2)."
        )
        if invite is not None and invite.final is not None:
            after = (
                invite.final_ts - sent_ts
                if invite.final_ts is not None and invite.final_ts >= sent_ts
                else None
            )
            when = f", {duration(after)} after the CANCEL" if after is not None else ""
            expected = "as §9.2 expects" if invite.final == 487 else "instead of 487"
            sentences.append(
                f"The INVITE ({frame_ref(invite.request_frame)}) was answered "
                f"{status_line(invite.final, invite.final_reason)} "
                f"({frame_ref(invite.final_frame)}{when}) {expected}."
            )
            invite_json = {
                "status": invite.final,
                "frame": invite.final_frame,
                "after_cancel": round(after, 6) if after is not None else None,
            }
    return Finding(
        kind="late-response",
        severity=severity,
        ts=now,
        call_id=ex.call_id,
        frames=tuple(sorted(set(ex.frames))),
        text=" ".join(sentences),
        remedy=remedy,
        details={
            "method": ex.method,
            "cseq": ex.cseq,
            "status": ex.final,
            "timer": timer,
            "timeout": timeout,
            "delay": round(delay, 6),
            "sent": sent,
            "invite": invite_json,
            "revises": revises,
        },
    )
