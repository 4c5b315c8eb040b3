"""Call transfer: REFER, its implicit subscription and the NOTIFYs that report progress.

RFC rules this module follows (RFC 3515 unless named):

* §2.4.2, RFC 7647 §5: a 2xx accepts the REFER. 202 is deprecated (RFC 7647 §5: answer 200,
  treat a received 202 as 200) but deployed; both mean "accepted". A final non-2xx rejects it.
  A 401/407 followed by a retry with credentials (RFC 3261 §22.2) is the *same* transfer attempt.
* §2.4.4: the REFER sender must be prepared for a NOTIFY before the REFER's final response.
  NOTIFYs are matched to the REFER like NOTIFYs to a SUBSCRIBE: same Call-ID, the NOTIFY's To tag
  is the REFER's From tag. §2.4.6: with several REFERs in a dialog, ``Event: refer;id=N`` names
  the REFER by its CSeq number (the id MAY appear on the first one too).
* §2.4.5: each NOTIFY body is a message/sipfrag whose status line reports the referenced request.
* §2.4.7: the final NOTIFY carries ``Subscription-State: terminated``. RFC 6665 §4.1.3 makes
  Subscription-State mandatory; a NOTIFY without it whose sipfrag is final (>= 200) is taken as the
  last one, because nothing more can follow a final status and real phones do send it so.
* RFC 4488: ``Refer-Sub: false`` in the 2xx means no subscription, so no NOTIFY is due.
* RFC 3891 §3 / RFC 3515 §2.1: a Refer-To with an escaped ``?Replaces=`` header asks for an
  attended transfer; the referee's INVITE then carries that Replaces header, which links it here.

The lifecycle is the table :data:`TRANSFER_TABLE`; the outcome (DESIGN §3 vocabulary) is computed
by the concluding action from what the NOTIFYs reported.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Final

from sipwatch.correlate.context import Reporter, status_line
from sipwatch.correlate.events import CorrelatorStats
from sipwatch.correlate.events import format_endpoint as ep
from sipwatch.correlate.origin import Origin
from sipwatch.correlate.statetable import Violation
from sipwatch.correlate.timers import LINGER, Deadlines
from sipwatch.correlate.transactions import Exchange
from sipwatch.correlate.transfer_model import (
    TRANSFER_TABLE,
    Attempt,
    NotifyRecord,
    Transfer,
    TransferAction,
    TransferInput,
    TransferState,
)
from sipwatch.correlate.transfer_report import build_notify_rejected, build_transfer_finding
from sipwatch.sip.headers import parse_params
from sipwatch.sip.message import SipMessage
from sipwatch.sip.sipfrag import parse_sipfrag
from sipwatch.sip.uri import parse_replaces, refer_to_replaces

__all__ = ["TransferTracker", "build_notify_rejected", "build_transfer_finding"]


class TransferTracker:
    """Transfers by REFER exchange, by subscription dialog and by Replaces Call-ID; bounded."""

    def __init__(
        self,
        reporter: Reporter,
        deadlines: Deadlines,
        stats: CorrelatorStats,
        *,
        notify_timeout: float,
        idle: float,
        settle: float,
        cap: int,
        frame_cap: int,
    ) -> None:
        self._reporter = reporter
        self._deadlines = deadlines
        self._fire_cb = self._fire  # bound once: see timers.Timer
        self._stats = stats
        self.notify_timeout = notify_timeout
        self.idle = idle
        self.settle = settle
        self.cap = cap
        self.frame_cap = frame_cap
        self._next_id = 0
        self._all: OrderedDict[int, Transfer] = OrderedDict()
        self._by_dialog: dict[tuple[str, str], list[Transfer]] = {}
        self._by_replaces: dict[str, Transfer] = {}

    def __len__(self) -> int:
        return len(self._all)

    # -- inputs from the correlator (first copy of each exchange-level event) ---------------

    def on_refer(self, ex: Exchange, msg: SipMessage, ts: float, frame: int) -> None:
        prev = ex.retry_of
        if prev is not None and prev.transfer is not None:
            transfer = prev.transfer
            if transfer.state is TransferState.CHALLENGED:
                ex.transfer = transfer
                transfer.attempts.append(Attempt(ex.cseq, frame, ts))
                self.add_frame(transfer, frame)
                self._reporter.note(
                    f"REFER re-sent with credentials after {transfer.attempts[-2].status} "
                    f"(CSeq {transfer.attempts[-2].cseq}, frame {transfer.attempts[-2].frame}): "
                    "same transfer attempt"
                )
                self._step(transfer, TransferInput.RETRY, ts, frame)
                return
        refer_tos = msg.header_all("refer-to")
        refer_to = refer_tos[0].strip() if refer_tos else ""
        replaces = refer_to_replaces(refer_to) if refer_to else None
        self._next_id += 1
        transfer = Transfer(
            ident=self._next_id,
            call_id=ex.call_id,
            referrer_tag=ex.from_tag,
            first_ts=ts,
            refer_frame=frame,
            referrer=ex.request_src,
            referee=ex.request_dst,
            refer_to=refer_to,
            replaces=replaces,
            refer_sub_requested=(msg.header("refer-sub") or "").strip().lower() or None,
            attempts=[Attempt(ex.cseq, frame, ts)],
            last_ts=ts,
        )
        self._insert(transfer)
        ex.transfer = transfer
        self.add_frame(transfer, frame)
        if len(refer_tos) != 1:
            # RFC 3515 §2.4.1 / §2.4.2: exactly one Refer-To, else 400.
            self._reporter.note(
                f"REFER carries {len(refer_tos)} Refer-To headers; RFC 3515 §2.4.1 requires "
                "exactly one (the recipient should answer 400)",
                "warning",
            )
            transfer.remarks.append(
                f"The REFER carried {len(refer_tos)} Refer-To headers (RFC 3515 §2.4.1: exactly "
                "one)."
            )
        kind = "attended transfer" if replaces else "transfer"
        target = refer_to or "(no Refer-To)"
        text = f"{kind}: asks {ep(ex.request_dst)} to send a request to {target}"
        if replaces:
            text += f", replacing call {replaces.call_id}"
        self._reporter.note(text)
        self._arm_idle(transfer, ts)

    def on_refer_final(self, ex: Exchange, msg: SipMessage, ts: float, frame: int) -> None:
        transfer = ex.transfer
        if transfer is None:
            return
        status = msg.status
        attempt = self._attempt(transfer, ex.cseq)
        if attempt is not None and attempt.status is None:
            attempt.status, attempt.status_frame = status, frame
        transfer.last_ts = ts
        if 200 <= status < 300:
            transfer.accepted, transfer.accepted_reason = status, msg.reason
            transfer.accept_frame, transfer.accept_ts = frame, ts
            refer_sub = (msg.header("refer-sub") or "").strip()
            transfer.refer_sub = refer_sub.lower() or None
            event = TransferInput.ACCEPT
            if parse_params(refer_sub)[0].lower() == "false":
                event = TransferInput.ACCEPT_NOSUB
                self._reporter.note(
                    "REFER accepted with Refer-Sub: false (RFC 4488): no NOTIFY due"
                )
            elif transfer.refer_sub_requested == "false":
                self._reporter.note(
                    "REFER asked for Refer-Sub: false but the 2xx does not confirm it: the "
                    "implicit subscription exists and NOTIFYs follow (RFC 4488, RFC 7647 §4)"
                )
            if status == 202:
                self._reporter.note(
                    "202 Accepted to REFER: RFC 7647 §5 deprecates it (answer 200); it still "
                    "means accepted, NOTIFYs with the progress are due",
                )
            else:
                self._reporter.note("REFER accepted: NOTIFYs with the progress are due")
        elif status in (401, 407):
            event = TransferInput.CHALLENGE
        else:
            transfer.accepted, transfer.accepted_reason = status, msg.reason
            transfer.accept_frame, transfer.accept_ts = frame, ts
            event = TransferInput.REJECT
            self._reporter.note(
                f"REFER rejected with {status}: the transfer does not start", "warning"
            )
        self._step(transfer, event, ts, frame)

    def on_refer_settled(self, ex: Exchange, origin: Origin) -> None:
        """Every copy of the REFER's final response is in: remember who answered it (a
        challenge comes from whoever holds the credentials, not from the transferee)."""
        transfer = ex.transfer
        if transfer is None or ex.final in (401, 407):
            return
        if self._attempt(transfer, ex.cseq) is transfer.attempts[-1]:
            transfer.answered = origin

    def on_refer_timeout(self, ex: Exchange, now: float) -> None:
        transfer = ex.transfer
        if (
            transfer is not None
            and transfer.state is not TransferState.DONE
            and self._attempt(transfer, ex.cseq) is transfer.attempts[-1]
        ):
            transfer.ended_by = "refer-timeout"
            self._step(transfer, TransferInput.REFER_TIMEOUT, now, None)

    def on_no_retry(self, ex: Exchange, now: float) -> None:
        """The retry window after a challenge passed without a retry (or the exchange closed)."""
        transfer = ex.transfer
        if transfer is not None and transfer.state is TransferState.CHALLENGED:
            transfer.ended_by = "unanswered-challenge"
            self._step(transfer, TransferInput.CLOSE, now, None)

    def on_notify(self, ex: Exchange, msg: SipMessage, ts: float, frame: int) -> None:
        transfer, mismatch = self._match(msg)
        if transfer is None:
            self._reporter.note(
                "NOTIFY (Event: refer) for a REFER that is not in the capture", "info"
            )
            return
        ex.transfer = transfer
        self.add_frame(transfer, frame)
        transfer.last_ts = ts
        if mismatch:
            transfer.remarks.append(mismatch)
            self._reporter.note(mismatch, "warning")
        frag = parse_sipfrag(msg.body) if "sipfrag" in msg.content_type else None
        raw_state = msg.header("subscription-state")
        state_token: str | None = None
        reason: str | None = None
        if raw_state is not None:
            main, params = parse_params(raw_state)
            state_token = main.lower() or None
            reason = params.get("reason")
        record = NotifyRecord(
            exchange=ex,
            ts=ts,
            frame=frame,
            cseq=ex.cseq,
            sipfrag_status=frag[0] if frag else None,
            sipfrag_reason=frag[1] if frag else "",
            subscription_state=state_token,
            terminated_reason=reason,
        )
        transfer.notifies.append(record)
        if frag is not None and frag[0] >= 200:
            transfer.final_frag, transfer.final_frag_reason = frag
        terminated = state_token == "terminated"
        if raw_state is None:
            # RFC 6665 §4.1.3: Subscription-State is mandatory in NOTIFY.
            note = "NOTIFY without Subscription-State (RFC 6665 §4.1.3 makes it mandatory)"
            if frag is not None and frag[0] >= 200:
                terminated = True
                note += "; its final sipfrag is taken as the end of the subscription"
            self._reporter.note(note, "warning")
            transfer.remarks.append(note[0].upper() + note[1:] + ".")
        if frag is None:
            self._reporter.note(
                "refer NOTIFY without a message/sipfrag status line (RFC 3515 §2.4.5)", "warning"
            )
        progress = status_line(frag[0], frag[1]) if frag else "no sipfrag status"
        refer = transfer.attempts[-1]
        self._reporter.note(
            f"transfer progress: {progress} (REFER CSeq {refer.cseq}, frame {refer.frame}"
            f"{', subscription terminated' if terminated else ''})"
        )
        if transfer.state in (TransferState.REFERRED,):
            self._reporter.note(
                "NOTIFY arrived before the REFER's final response (RFC 3515 §2.4.4 allows it)"
            )
        event = TransferInput.NOTIFY_TERMINATED if terminated else TransferInput.NOTIFY
        self._step(transfer, event, ts, frame)

    def on_notify_final(self, ex: Exchange, msg: SipMessage, ts: float, frame: int) -> None:
        transfer = ex.transfer
        if transfer is None:
            return
        for record in transfer.notifies:
            if record.exchange is ex and record.response is None:
                record.response, record.response_frame = msg.status, frame
        if msg.status >= 300 and msg.status not in (401, 407):
            self._reporter.note(
                f"the transferor rejected this refer NOTIFY with {msg.status}: it has lost or "
                "refuses the subscription",
                "warning",
            )

    def on_invite(self, ex: Exchange, msg: SipMessage, ts: float, frame: int) -> None:
        """An INVITE with Replaces (RFC 3891): link it to the attended transfer asking for it."""
        raw = msg.header("replaces")
        if raw is None:
            return
        replaces = parse_replaces(raw)
        if replaces is None:
            return
        transfer = self._by_replaces.get(replaces.call_id)
        if transfer is None or transfer.replacing_invite is not None:
            return
        transfer.replacing_invite = (ex.call_id, frame, ts)
        self.add_frame(transfer, frame)
        self._reporter.note(
            f"INVITE with Replaces: the attended transfer asked for by REFER CSeq "
            f"{transfer.cseq} (frame {transfer.refer_frame}); replaces call {replaces.call_id}"
        )

    def add_frame(self, transfer: Transfer, frame: int) -> None:
        if transfer.emitted or (transfer.frames and transfer.frames[-1] == frame):
            return
        if len(transfer.frames) < self.frame_cap:
            transfer.frames.append(frame)
        else:
            self._stats.truncated_frames += 1

    def finish(self, now: float) -> None:
        """End of capture: conclude what is still open, then emit everything concluded."""
        for transfer in list(self._all.values()):
            if transfer.state is not TransferState.DONE:
                transfer.ended_by = transfer.ended_by or "capture-end"
                self._step(transfer, TransferInput.CAPTURE_END, now, None)
        for transfer in list(self._all.values()):
            if not transfer.emitted and transfer.outcome is not None:
                self._emit(transfer)
            self._deadlines.cancel(transfer.timer)
        self._all.clear()
        self._by_dialog.clear()
        self._by_replaces.clear()

    # -- machinery ------------------------------------------------------------------------

    def _attempt(self, transfer: Transfer, cseq: int) -> Attempt | None:
        for attempt in transfer.attempts:
            if attempt.cseq == cseq:
                return attempt
        return None

    def _insert(self, transfer: Transfer) -> None:
        if len(self._all) >= self.cap:
            _, oldest = next(iter(self._all.items()))
            self._stats.evicted["transfers"] += 1
            if oldest.state is not TransferState.DONE:
                oldest.ended_by = "evicted"
                self._step(oldest, TransferInput.CLOSE, oldest.last_ts, None)
            if not oldest.emitted and oldest.outcome is not None:
                self._emit(oldest)
            self._remove(oldest)
        self._all[transfer.ident] = transfer
        self._by_dialog.setdefault((transfer.call_id, transfer.referrer_tag), []).append(transfer)
        if transfer.replaces:
            self._by_replaces[transfer.replaces.call_id] = transfer
        self._stats.transfers += 1

    def _remove(self, transfer: Transfer) -> None:
        self._deadlines.cancel(transfer.timer)
        self._all.pop(transfer.ident, None)
        key = (transfer.call_id, transfer.referrer_tag)
        peers = self._by_dialog.get(key)
        if peers is not None:
            if transfer in peers:
                peers.remove(transfer)
            if not peers:
                del self._by_dialog[key]
        if transfer.replaces:
            rcid = transfer.replaces.call_id
            if self._by_replaces.get(rcid) is transfer:
                del self._by_replaces[rcid]

    def _match(self, msg: SipMessage) -> tuple[Transfer | None, str]:
        """The transfer a refer NOTIFY reports on, and a remark when the match was not clean."""
        candidates = self._by_dialog.get((msg.call_id, msg.to_tag), [])
        if not candidates:
            return None, ""
        event_id = parse_params(msg.header("event") or "")[1].get("id")
        open_ones = [t for t in candidates if t.state is not TransferState.DONE] or candidates
        if event_id is None:
            if len(open_ones) > 1:
                return open_ones[0], (
                    "NOTIFY without Event id while several REFERs are open in this dialog: "
                    "RFC 3515 §2.4.6 requires id=<REFER CSeq>; matched to the oldest"
                )
            return open_ones[0], ""
        for transfer in reversed(candidates):
            if any(str(a.cseq) == event_id.strip() for a in transfer.attempts):
                return transfer, ""
        chosen = open_ones[-1]
        return chosen, (
            f"Event: refer;id={event_id} matches no REFER CSeq in this dialog (REFER CSeq "
            f"{chosen.cseq}; RFC 3515 §2.4.6: id is the REFER's CSeq number)"
        )

    def _arm(self, transfer: Transfer, due: float) -> None:
        self._deadlines.cancel(transfer.timer)
        transfer.timer = self._deadlines.schedule_for(due, self._fire_cb, transfer)

    def _arm_idle(self, transfer: Transfer, ts: float) -> None:
        self._arm(transfer, ts + self.idle)

    def _fire(self, transfer: Transfer, now: float) -> None:
        if transfer.state is TransferState.ACCEPTED:
            transfer.ended_by = "notify-timeout"
            self._step(transfer, TransferInput.TIMEOUT, now, None)
        elif transfer.state is TransferState.DONE:
            if not transfer.emitted:
                self._emit(transfer)
                self._arm(transfer, now + LINGER)
            else:
                self._remove(transfer)
        elif transfer.last_ts + self.idle > now:
            self._arm(transfer, transfer.last_ts + self.idle)
        else:
            transfer.ended_by = "idle"
            self._step(transfer, TransferInput.CLOSE, now, None)

    def _step(self, transfer: Transfer, event: TransferInput, ts: float, frame: int | None) -> None:
        step = TRANSFER_TABLE.step(transfer.state, event)
        if isinstance(step, Violation):
            self._reporter.violation(
                step,
                ts=ts,
                call_id=transfer.call_id,
                frames=[f for f in (transfer.refer_frame, frame) if f is not None],
                what=_VIOLATION_TEXT.get(event, f"{event.value} in a transfer"),
                detail=f"transfer of REFER CSeq {transfer.cseq} (frame {transfer.refer_frame})",
            )
            return
        transfer.state = step.next_state
        action = step.action
        if action is TransferAction.ARM_NOTIFY_TIMER:
            # No-notify fires exactly notify_timeout after the acceptance (capture time).
            self._arm(transfer, (transfer.accept_ts or ts) + self.notify_timeout)
        elif action is TransferAction.CONTRADICTION:
            transfer.remarks.append(
                "The 2xx carried Refer-Sub: false although NOTIFYs had already arrived."
            )
            self._arm_idle(transfer, ts)
        elif action in (TransferAction.RECORD, TransferAction.RESEND, TransferAction.WAIT_RETRY):
            self._arm_idle(transfer, ts)
        else:
            self._conclude(transfer, action, ts, immediate=frame is None)

    def _conclude(
        self, transfer: Transfer, action: TransferAction, ts: float, *, immediate: bool
    ) -> None:
        """Set the outcome. A message-driven conclusion is emitted after the settle delay, so
        the copies of that message on other hops are in its frames; a timer-driven one (no-notify
        exactly at accept + notify_timeout, capture end, eviction) is emitted at once."""
        if action is TransferAction.CONCLUDE_NO_SUBSCRIPTION:
            outcome = "no-subscription"
            transfer.ended_by = transfer.ended_by or "refer-response"
        elif action is TransferAction.CONCLUDE_REJECTED:
            outcome = "rejected"
            transfer.ended_by = transfer.ended_by or "refer-response"
        elif action is TransferAction.CONCLUDE_NO_NOTIFY:
            outcome = "no-notify"
        elif action is TransferAction.CONCLUDE_BY_NOTIFY:
            ok = transfer.final_frag is not None and 200 <= transfer.final_frag < 300
            outcome = "succeeded" if ok else "failed"
            transfer.ended_by = transfer.ended_by or "notify"
        elif transfer.final_frag is None:  # CONCLUDE_CLOSED without a final sipfrag
            outcome = "in-progress"
        else:
            outcome = "succeeded" if transfer.final_frag < 300 else "failed"
        transfer.outcome = outcome
        transfer.concluded_ts = ts
        if immediate:
            self._emit(transfer)
            self._arm(transfer, ts + LINGER)
        else:
            self._arm(transfer, ts + self.settle)

    def _emit(self, transfer: Transfer) -> None:
        transfer.emitted = True
        self._reporter.emit(build_transfer_finding(transfer, self.notify_timeout, self.idle))


_VIOLATION_TEXT: Final[dict[TransferInput, str]] = {
    TransferInput.NOTIFY: (
        "refer NOTIFY after the subscription ended or while the REFER is challenged"
    ),
    TransferInput.NOTIFY_TERMINATED: "terminating refer NOTIFY after the subscription ended",
    TransferInput.ACCEPT: "second final response accepting the REFER",
    TransferInput.ACCEPT_NOSUB: "second final response accepting the REFER",
    TransferInput.REJECT: "REFER rejected after it was accepted",
    TransferInput.CHALLENGE: "REFER challenged after the transfer had progressed",
    TransferInput.RETRY: "REFER retry without a challenge",
}


# -- the finding -------------------------------------------------------------------------------
