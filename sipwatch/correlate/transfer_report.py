"""The ``transfer`` and ``notify-rejected`` findings: words, remedies and JSON fields.

Kept apart from the tracker so the wording (what engineers read at 3 a.m.) can be reviewed in one
place. Every sentence cites the RFC rule it relies on; see :mod:`sipwatch.correlate.refer`.
"""

from __future__ import annotations

from itertools import pairwise
from typing import Final

from sipwatch.correlate.context import frame_ref, offset, status_line
from sipwatch.correlate.events import Endpoint, Finding, JsonValue, Severity
from sipwatch.correlate.events import format_endpoint as ep
from sipwatch.correlate.origin import Origin
from sipwatch.correlate.transactions import Exchange
from sipwatch.correlate.transfer_model import Attempt, Transfer

_SEVERITY: Final[dict[str, Severity]] = {
    "succeeded": "info",
    "no-subscription": "info",
    "in-progress": "info",
    "failed": "warning",
    "no-notify": "warning",
    "rejected": "error",
}


def _capital(text: str) -> str:
    return text[:1].upper() + text[1:]


def transferee(transfer: Transfer) -> str:
    """``the transferee at X``: the element that answered the REFER, or where the REFER went
    when its answer was not captured (a proxy between the parties relays both)."""
    answered = transfer.answered
    if answered is not None and (answered.address is not None or answered.relayed_by):
        return answered.element("the transferee")
    return f"the transferee at {ep(transfer.referee)}"


def _referee_part(transfer: Transfer) -> str:
    """Where the REFER went: the transferee, and the proxies that relayed it."""
    answered = transfer.answered
    name = transferee(transfer)
    if answered is not None and answered.address is not None and answered.relayed_by:
        hops = ", ".join(ep(hop) for hop in answered.relayed_by)
        plural = "proxies" if len(answered.relayed_by) > 1 else "proxy"
        name += f" through the {plural} at {hops}"
    return name


def _rejection_remedy(transfer: Transfer) -> str:
    referee = transferee(transfer)
    status = transfer.accepted
    if transfer.ended_by == "refer-timeout":
        return f"Check that {referee} is reachable and answers REFER; nothing came back."
    if transfer.ended_by == "unanswered-challenge":
        return (
            f"Give the UA at {ep(transfer.referrer)} credentials for the realm that challenged "
            "its REFER, or exempt in-dialog REFER from authentication on the proxy."
        )
    if status in (405, 501):
        return (
            f"{_capital(referee)} does not implement REFER: enable call transfer there, or let "
            "the PBX perform the transfer instead of the phone."
        )
    if status == 403:
        return f"Allow call transfer for this user/trunk on {referee}; it forbids the REFER."
    if status == 481:
        return (
            "The peer does not know the dialog the REFER was sent in: send it inside the call's "
            "dialog, following its route set (RFC 3515 §2)."
        )
    if status in (488, 400):
        return (
            f"Check the Refer-To the UA at {ep(transfer.referrer)} sends ({transfer.refer_to}): "
            f"escaping of ?Replaces=, the target URI, and whether {referee} allows transfers "
            "to that target."
        )
    return f"See why {referee} answers {status} to REFER; the transfer never started."


def build_transfer_finding(transfer: Transfer, notify_timeout: float, idle: float) -> Finding:
    """The ``transfer`` finding (DESIGN §3, docs/findings.md)."""
    outcome = transfer.outcome or "in-progress"
    attempts = transfer.attempts or [Attempt(0, transfer.refer_frame, transfer.first_ts)]
    first = attempts[0]
    last = attempts[-1]
    sentences: list[str] = []
    kind = "Attended transfer" if transfer.attended else "Transfer"
    opening = (
        f"{kind}: REFER CSeq {first.cseq} ({frame_ref(first.frame)}) from "
        f"{ep(transfer.referrer)} to {_referee_part(transfer)} asked it to call "
        f"{transfer.refer_to or '(no Refer-To)'}"
    )
    if transfer.replaces:
        opening += f", replacing call {transfer.replaces.call_id}"
    sentences.append(opening + ".")
    for before, after in pairwise(attempts):
        sentences.append(
            f"It was challenged with {before.status} ({frame_ref(before.status_frame)}) and "
            f"re-sent with credentials as CSeq {after.cseq} ({frame_ref(after.frame)})."
        )
    if transfer.accepted is not None and 200 <= transfer.accepted < 300:
        line = (
            f"The peer accepted it with {status_line(transfer.accepted, transfer.accepted_reason)} "
            f"({frame_ref(transfer.accept_frame, transfer.accept_ts, last.ts)})"
        )
        if transfer.accepted == 202:
            line += (
                "; RFC 7647 §5 replaces 202 with 200 for REFER, but both mean accepted, "
                "NOTIFYs to follow"
            )
        sentences.append(line + ".")
    elif transfer.accepted is not None:
        sentences.append(
            f"The peer rejected it with {status_line(transfer.accepted, transfer.accepted_reason)} "
            f"({frame_ref(transfer.accept_frame, transfer.accept_ts, last.ts)}): the transfer "
            "never started."
        )
    elif transfer.ended_by == "refer-timeout":
        sentences.append(
            "No final response to the REFER arrived within 32 s (RFC 3261 §8.1.3.1: treated as "
            "408): the transfer never started."
        )
    elif transfer.ended_by == "capture-end" and last.status in (401, 407):
        sentences.append(
            f"The REFER was challenged with {last.status} ({frame_ref(last.status_frame)}); the "
            "capture ended before it was re-sent with credentials."
        )
    elif transfer.ended_by == "unanswered-challenge":
        sentences.append(
            f"The REFER was challenged with {last.status} and never re-sent with credentials: "
            "the transfer never started."
        )
    if transfer.notifies:
        parts = []
        for n in transfer.notifies:
            frag = "no sipfrag"
            if n.sipfrag_status:
                frag = status_line(n.sipfrag_status, n.sipfrag_reason)
            state = n.subscription_state or "no Subscription-State"
            if n.terminated_reason:
                state += f";reason={n.terminated_reason}"
            if n.response is not None and n.response >= 300:
                state += f"; answered {n.response}"
            parts.append(f"{frag} (frame {n.frame}, {offset(n.ts, transfer.first_ts)}, {state})")
        label = "NOTIFY" if len(parts) == 1 else f"{len(parts)} NOTIFYs"
        sentences.append(f"{label}: " + "; ".join(parts) + ".")
        early = transfer.accept_ts is None or transfer.notifies[0].ts < transfer.accept_ts
        if early and transfer.accepted is not None:
            sentences.append(
                "The first NOTIFY arrived before the REFER's final response, which RFC 3515 "
                "§2.4.4 allows."
            )
    final = status_line(transfer.final_frag, transfer.final_frag_reason)
    if outcome == "succeeded":
        sentences.append(f"Outcome: succeeded, the referenced request got {final}.")
    elif outcome == "failed":
        if transfer.final_frag is not None:
            sentences.append(f"Outcome: failed, the referenced request got {final}.")
        else:
            sentences.append(
                "Outcome: failed, the subscription ended without a final status in any sipfrag."
            )
    elif outcome == "rejected":
        sentences.append("Outcome: rejected.")
    elif outcome == "no-subscription":
        sentences.append(
            "Outcome: no-subscription, the 2xx carried Refer-Sub: false (RFC 4488), so no NOTIFY "
            "will report whether the transfer worked."
        )
    elif outcome == "no-notify":
        sentences.append(
            f"Outcome: no-notify, no NOTIFY arrived within {notify_timeout:g} s of the acceptance "
            "although RFC 3515 §2.4.2 requires the subscription and NOTIFYs after a 2xx: the "
            "transferor cannot tell whether the transfer worked."
        )
    else:
        last_frag = next(
            (n for n in reversed(transfer.notifies) if n.sipfrag_status is not None), None
        )
        progress = "no NOTIFY yet"
        if last_frag is not None:
            progress = "last reported status " + status_line(
                last_frag.sipfrag_status, last_frag.sipfrag_reason
            )
        if transfer.ended_by == "idle":
            sentences.append(
                f"Outcome: in-progress, nothing more for {idle:g} s ({progress}); the final NOTIFY "
                "with Subscription-State: terminated (RFC 3515 §2.4.7) never came."
            )
        elif transfer.ended_by == "evicted":
            sentences.append(f"Outcome: in-progress when the transfer table was full ({progress}).")
        else:
            sentences.append(f"Outcome: in-progress when the capture ended ({progress}).")
    rejected = [n for n in transfer.notifies if n.response is not None and n.response >= 300]
    if rejected:
        codes = sorted({n.response for n in rejected if n.response is not None})
        sentences.append(
            f"The transferor answered {len(rejected)} NOTIFY(s) with "
            f"{', '.join(str(c) for c in codes)}: it lost or refuses the subscription (see the "
            "notify-rejected findings); RFC 3515 §2.4.4 says the referenced request goes on "
            "regardless."
        )
    if transfer.replacing_invite is not None:
        call_id, frame, _ = transfer.replacing_invite
        sentences.append(f"The INVITE with Replaces was seen (frame {frame}, Call-ID {call_id}).")
    elif transfer.attended and outcome in ("succeeded", "failed", "in-progress"):
        sentences.append("No INVITE carrying the Replaces header was captured.")
    sentences.extend(transfer.remarks)

    remedy = ""
    if outcome == "rejected":
        remedy = _rejection_remedy(transfer)
    elif outcome == "failed":
        remedy = (
            f"The transfer target {transfer.refer_to} answered {final}: check that it is "
            f"reachable and accepts calls from {transferee(transfer)}."
        )
        if transfer.attended and transfer.final_frag == 481:
            remedy += (
                " With Replaces, 481 means the target found no dialog matching the Replaces "
                "Call-ID and tags (RFC 3891 §3): check the tags in Refer-To."
            )
    elif outcome == "no-notify":
        remedy = (
            f"Check that {transferee(transfer)} sends NOTIFY (Event: refer) "
            f"after accepting, and that it can reach {ep(transfer.referrer)} (Contact, "
            "Record-Route, NAT)."
        )
    elif outcome == "in-progress" and transfer.ended_by == "idle":
        remedy = (
            f"Have {transferee(transfer)} send the final NOTIFY with "
            "Subscription-State: terminated;reason=noresource (RFC 3515 §2.4.7)."
        )
    elif outcome == "in-progress":
        remedy = (
            "Capture until the final NOTIFY (Subscription-State: terminated) to see the outcome."
        )

    notifies: list[JsonValue] = [
        {
            "ts": n.ts,
            "frame": n.frame,
            "sipfrag_status": n.sipfrag_status,
            "subscription_state": n.subscription_state,
        }
        for n in transfer.notifies
    ]
    details: dict[str, JsonValue] = {
        "cseq": last.cseq,
        "refer_to": transfer.refer_to,
        "accepted": transfer.accepted,
        "notifies": notifies,
        "outcome": outcome,
        "final_status": transfer.final_frag,
        "replaces_call_id": transfer.replaces.call_id if transfer.replaces else None,
        "replacing_invite": (
            {"call_id": transfer.replacing_invite[0], "frame": transfer.replacing_invite[1]}
            if transfer.replacing_invite
            else None
        ),
        "refer_sub": transfer.refer_sub,
        "attempts": [{"cseq": a.cseq, "status": a.status} for a in transfer.attempts],
        "rejected_notifies": [{"frame": n.frame, "status": n.response} for n in rejected],
        "ended_by": transfer.ended_by,
        "referrer": ep(transfer.referrer),
        "referee": ep(_referee_address(transfer)),
    }
    if transfer.answered is not None:
        details.update(transfer.answered.fields())
    else:
        details.update({"answered_by": None, "relayed_by": []})
    return Finding(
        kind="transfer",
        severity=_SEVERITY.get(outcome, "warning")
        if not (outcome == "in-progress" and transfer.ended_by in ("idle", "evicted"))
        else "warning",
        ts=transfer.first_ts,
        call_id=transfer.call_id,
        frames=tuple(sorted(set(transfer.frames))),
        text=" ".join(sentences),
        remedy=remedy,
        details=details,
    )


def _referee_address(transfer: Transfer) -> Endpoint | None:
    answered = transfer.answered
    if answered is not None and answered.address is not None:
        return answered.address
    return transfer.referee


def build_notify_rejected(ex: Exchange, origin: Origin) -> Finding | None:
    """``notify-rejected``: a refer NOTIFY answered with a failure (RFC 3265 §3.2.2: the notifier
    then removes the subscription; 481 means the subscriber has none)."""
    transfer = ex.transfer
    status = ex.final
    if transfer is None or status is None or status < 300 or status in (401, 407):
        return None
    record = next((n for n in transfer.notifies if n.exchange is ex), None)
    frag = (
        status_line(record.sipfrag_status, record.sipfrag_reason)
        if record is not None and record.sipfrag_status is not None
        else "no sipfrag"
    )
    reason = ex.final_msg.reason if ex.final_msg is not None else ""
    meaning = {
        481: "it has no such subscription (it never created it, or already dropped it)",
        489: "it does not accept the 'refer' event package",
        488: "it does not accept this NOTIFY (often its message/sipfrag body or the Event id)",
        400: "it found the NOTIFY malformed (check Event, Subscription-State and the sipfrag body)",
        415: "it does not accept message/sipfrag bodies",
    }.get(status, "it refuses the NOTIFY")
    relayed = f", relayed by {origin.relays()}" if origin.relayed_by else ""
    transferor = origin.element("the transferor")
    text = (
        f"{_capital(transferor)} answered NOTIFY CSeq {ex.cseq} "
        f"({frame_ref(ex.request_frame)}, sipfrag {frag}) for the transfer of REFER CSeq "
        f"{transfer.cseq} (frame {transfer.refer_frame}) with {status_line(status, reason)} "
        f"({frame_ref(ex.final_frame, ex.final_ts, ex.request_ts)}{relayed}): {meaning}. "
        "A failed NOTIFY "
        "ends the subscription at the notifier (RFC 3265 §3.2.2), so the transferor will not "
        "learn the outcome; RFC 3515 §2.4.4 says the referenced request is not withdrawn."
    )
    remedy = (
        f"Make {origin.element('the UA')} accept NOTIFY with Event: refer and "
        "message/sipfrag bodies for the REFER it sent (or send Refer-Sub: false, RFC 4488, if it "
        "does not want them)."
    )
    frames = [f for f in ex.frames]
    return Finding(
        kind="notify-rejected",
        severity="warning",
        ts=ex.final_ts if ex.final_ts is not None else ex.first_ts,
        call_id=ex.call_id,
        frames=tuple(sorted(set(frames))),
        text=text,
        remedy=remedy,
        details={
            "method": "NOTIFY",
            "cseq": ex.cseq,
            "status": status,
            "refer_cseq": transfer.cseq,
            "sipfrag_status": record.sipfrag_status if record else None,
            "subscription_state": record.subscription_state if record else None,
            **origin.fields(),
        },
    )
