"""Where each message goes: its transaction, its exchange, and the trackers it feeds.

RFC 3261 rules applied here (the keys themselves are in :mod:`sipwatch.correlate.transactions`):

* §17.1.3 / §17.2.3: a request is matched to its transaction on its hop; the same key with the
  same addresses again is a retransmission, with other addresses a copy on another hop.
* §17.1.1.3: an ACK for a non-2xx belongs to the INVITE transaction; §13.2.2.4: an ACK for a 2xx
  is a request of its own, filed under the INVITE's exchange; one ACK per 2xx retransmission.
* §9.1: a CANCEL names its INVITE by Call-ID, CSeq number, From tag (and branch); its frames are
  kept with the INVITE's exchange too.
* §8.1.3.5 / §22.2: a retry is a new request with the same Call-ID, From tag and method and a
  higher CSeq after a failure; it is linked to the request it retries.
* §12: dialog inputs come from the first copy of each exchange-level event only.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Final

from sipwatch.correlate.context import Reporter, offset
from sipwatch.correlate.diagnose import response_note
from sipwatch.correlate.dialogs import DialogInput, DialogTracker
from sipwatch.correlate.events import CorrelatorStats, Endpoint, MessageInfo, new_request_ref
from sipwatch.correlate.lifecycle import Lifecycle
from sipwatch.correlate.limits import Limits
from sipwatch.correlate.observe import HeaderObserver
from sipwatch.correlate.refer import TransferTracker
from sipwatch.correlate.statetable import Violation
from sipwatch.correlate.transactions import (
    Exchange,
    ExchangeKey,
    ExchangeTable,
    Facts,
    InviteState,
    NonInviteState,
    Transaction,
    TxAction,
    TxInput,
    message_facts,
    response_input,
    retry_key,
)
from sipwatch.sip.message import SipMessage


class Router:
    """Files each message and drives the dialog, transfer and retry bookkeeping."""

    def __init__(
        self,
        *,
        limits: Limits,
        stats: CorrelatorStats,
        reporter: Reporter,
        exchanges: ExchangeTable,
        dialogs: DialogTracker,
        transfers: TransferTracker,
        life: Lifecycle,
        retry_index: dict[tuple[str, str, str], Exchange],
        registered_option_tags: Collection[str] | None,
    ) -> None:
        self.limits = limits
        self.stats = stats
        self.now = float("-inf")
        self.registered_option_tags = registered_option_tags
        self._reporter = reporter
        self._exchanges = exchanges
        self._dialogs = dialogs
        self._transfers = transfers
        self._life = life
        self._retry_index = retry_index
        self._observer = HeaderObserver(reporter, stats, registered_option_tags, limits.memo)
        #: The exchange of the message being routed (None: it has none), set by the handlers.
        self.current: Exchange | None = None

    def route(
        self,
        ts: float,
        frame: int,
        src: Endpoint,
        dst: Endpoint,
        transport: str,
        msg: SipMessage,
    ) -> MessageInfo:
        """File one message; what was learnt about it is in the returned :class:`MessageInfo`
        (the caller adds the notes).

        The handlers fill the MessageInfo in place (one object per message: a separate record of
        what they learnt, copied into a MessageInfo afterwards, cost an allocation and fifteen
        attribute copies per message) and leave the message's exchange in :attr:`current`.
        """
        facts = message_facts(msg)
        info = MessageInfo(ts, frame, src, dst, transport, msg, facts.tx_key, "")
        self.current = None
        if msg.kind == "request":
            if facts.method == "ACK":  # the request method, upper-cased
                self._ack(info, facts, ts, frame, src, dst, msg)
            else:
                self._request(info, facts, ts, frame, src, dst, msg)
        else:
            self._response(info, facts, ts, frame, src, dst, msg)
        ex = self.current
        if ex is not None:
            info.exchange = ex.name or ex.label
        if facts.to_tag and facts.from_tag:
            dialog = self._dialogs.state(facts.call_id, facts.from_tag, facts.to_tag)
            if dialog is not None:
                info.dialog_state = dialog.value
        return info

    def _exchange_for(self, key: ExchangeKey, ts: float) -> tuple[Exchange, bool]:
        ex = self._exchanges.get(key)
        if ex is not None:
            return ex, False
        ex = Exchange(key=key, first_ts=ts, last_ts=ts)
        evicted = self._exchanges.add(ex)
        self.stats.exchanges += 1
        if evicted is not None:
            self.stats.evicted["exchanges"] += 1
            self._life.close(evicted, self.now)
        self._life.opened(ex, ts)
        return ex, True

    def _new_transaction(
        self, key: str, ex: Exchange, src: Endpoint | None, dst: Endpoint | None, vias: int
    ) -> Transaction:
        invite = ex.invite
        tx = Transaction(
            key=key,
            exchange=ex,
            hop=len(ex.transactions) + 1,
            invite=invite,
            state=InviteState.INIT if invite else NonInviteState.INIT,
            src=src,
            dst=dst,
            via_count=vias,
        )
        if len(ex.transactions) < self.limits.hops:
            self._exchanges.add_transaction(tx)
        else:
            self.stats.evicted["hops"] += 1
        return tx

    def _add_frame(self, ex: Exchange, frame: int) -> None:
        frames = ex.frames
        if frames and frames[-1] == frame:
            pass  # Exchange.add_frame, inlined: this runs for every message
        elif len(frames) < self.limits.frames:
            frames.append(frame)
        else:
            self.stats.truncated_frames += 1
        if ex.transfer is not None:
            self._transfers.add_frame(ex.transfer, frame)
        if ex.parent is not None and not ex.parent.add_frame(frame, self.limits.frames):
            self.stats.truncated_frames += 1

    # -- requests ------------------------------------------------------------------------------

    def _request(
        self,
        view: MessageInfo,
        f: Facts,
        ts: float,
        frame: int,
        src: Endpoint,
        dst: Endpoint,
        msg: SipMessage,
    ) -> None:
        tx = None
        for copy in self._exchanges.transactions(view.transaction):
            if copy.src == src and copy.dst == dst:
                tx = copy
                break
        if tx is None:
            ex, _ = self._exchange_for(f.ex_key, ts)
            tx = self._new_transaction(view.transaction, ex, src, dst, f.via_count)
        ex = tx.exchange
        self.current, view.hop = ex, tx.hop
        ex.last_ts = max(ex.last_ts, ts)
        self._add_frame(ex, frame)
        if tx.request_frame is not None:
            tx.request_copies += 1
            view.retransmission, view.retransmission_of = True, tx.request_frame
            self._reporter.note(
                f"retransmission #{tx.request_copies - 1} of frame {tx.request_frame} "
                f"({offset(ts, tx.request_ts)})"
            )
            self._life.step_tx(tx, TxInput.REQUEST, ts, frame)
            return
        tx.request_frame, tx.request_ts, tx.request_copies = frame, ts, 1
        tx.via_count = f.via_count
        self._life.step_tx(tx, TxInput.REQUEST, ts, frame)
        if ex.request_frame is not None:
            self.stats.hop_copies += 1
            view.copy_of = ex.request_frame
            self._reporter.note(
                f"same {ex.method} as frame {ex.request_frame} on another hop "
                f"({offset(ts, ex.request_ts)}, {f.via_count} Via)"
            )
            return
        self._first_request(ex, f, ts, frame, src, dst, msg)

    def _first_request(
        self,
        ex: Exchange,
        f: Facts,
        ts: float,
        frame: int,
        src: Endpoint,
        dst: Endpoint,
        msg: SipMessage,
    ) -> None:
        """Exchange-level handling of a request, once per exchange."""
        ex.request, ex.request_frame, ex.request_ts = msg.without_payload(), frame, ts
        ex.in_dialog = bool(f.to_tag)
        ex.request_src, ex.request_dst = src, dst
        method = ex.method
        if method == "CANCEL":
            self._cancel(ex, ts, frame, msg)
        else:
            self._link_retry(ex, ts)
        if f.to_tag and f.from_tag and method != "CANCEL":
            if method == "BYE":
                event = DialogInput.BYE
            elif method in ("NOTIFY", "SUBSCRIBE", "REFER"):
                event = DialogInput.SUBSCRIPTION
            else:
                event = DialogInput.REQUEST
            self._dialog(ex, f.from_tag, f.to_tag, event, ts, frame)
        if method == "REFER":
            self._transfers.on_refer(ex, msg, ts, frame)
        elif method == "NOTIFY" and _event_package(msg) == "refer":
            self._transfers.on_notify(ex, msg, ts, frame)
        elif method == "INVITE" and msg.has_header("replaces"):
            self._transfers.on_invite(ex, msg, ts, frame)
        self._observer.observe(ex, msg, ts, frame, src)

    def _link_retry(self, ex: Exchange, ts: float) -> None:
        """RFC 3261 §8.1.3.5 / §22.2: a retry is a new request, same Call-ID and method, higher
        CSeq, after a non-2xx final response to the previous one (see :func:`retry_key` for why
        the From tag counts only inside a dialog)."""
        index = retry_key(ex)
        prev = self._retry_index.get(index)
        if (
            prev is not None
            and prev is not ex
            and not prev.closed
            and prev.final is not None
            and prev.final >= 300
            and prev.retry is None
            and ex.cseq > prev.cseq
        ):
            prev.retry, ex.retry_of = ex, prev
            self._reporter.note(
                f"retry of {prev.method} CSeq {prev.cseq} (frame {prev.request_frame}) after "
                f"{prev.final} ({offset(ts, prev.final_ts)} later)"
            )
        self._retry_index[index] = ex

    def _cancel(self, ex: Exchange, ts: float, frame: int, msg: SipMessage) -> None:
        """RFC 3261 §9.1: CANCEL has the INVITE's Call-ID, CSeq number, From tag and branch."""
        parent = self._exchanges.get((ex.call_id, ex.cseq, "INVITE", ex.from_tag))
        if parent is None:
            self._reporter.note("CANCEL for an INVITE that is not in the capture")
            return
        ex.parent = parent
        parent.add_frame(frame, self.limits.frames)
        if parent.cancel_frame is None:
            parent.cancel_frame, parent.cancel_ts = frame, ts
        if parent.final is not None and parent.final < 300:
            self._reporter.note(
                f"CANCEL after the INVITE was answered {parent.final} (frame {parent.final_frame}):"
                " it has no effect on the call (RFC 3261 §9.1)",
                "warning",
            )
        else:
            self._reporter.note(
                f"cancels INVITE CSeq {parent.cseq} (frame {parent.request_frame}, "
                f"{offset(ts, parent.request_ts)})"
            )
        for dialog in self._dialogs.early_dialogs(ex.call_id, ex.from_tag):
            _, a, b = dialog.key
            self._dialog(ex, a, b, DialogInput.CANCEL, ts, frame)

    def _dialog(
        self,
        ex: Exchange,
        tag_a: str,
        tag_b: str,
        event: DialogInput,
        ts: float,
        frame: int,
        caller: str | None = None,
    ) -> None:
        _, step = self._dialogs.feed(ex.call_id, tag_a, tag_b, event, ts, caller)
        if isinstance(step, Violation):
            self._reporter.violation(
                step,
                ts=ts,
                call_id=ex.call_id,
                frames=[frame],
                what=_DIALOG_VIOLATIONS.get(event, f"{event.value} in this dialog state"),
                detail=f"{ex.method} CSeq {ex.cseq}",
            )

    # -- ACK -----------------------------------------------------------------------------------

    def _ack(
        self,
        view: MessageInfo,
        f: Facts,
        ts: float,
        frame: int,
        src: Endpoint,
        dst: Endpoint,
        msg: SipMessage,
    ) -> None:
        copies = self._exchanges.transactions(view.transaction)
        tx = copies[0] if copies else None
        for copy in copies:
            if copy.src == src and copy.dst == dst:
                tx = copy
                break
        if tx is not None and (tx.final is None or tx.final >= 300):
            # RFC 3261 §17.1.1.3: the ACK for a non-2xx is part of the INVITE transaction.
            ex = tx.exchange
            self.current, view.hop = ex, tx.hop
            ex.last_ts = max(ex.last_ts, ts)
            self._add_frame(ex, frame)
            if tx.ack_frame is not None:
                tx.ack_copies += 1
                view.retransmission, view.retransmission_of = True, tx.ack_frame
                self._reporter.note(f"ACK retransmission of frame {tx.ack_frame}")
                self._life.step_tx(tx, TxInput.ACK, ts, frame)
                return
            tx.ack_frame = frame
            self._life.step_tx(tx, TxInput.ACK, ts, frame)
            if tx.final is not None:
                if ex.ack_frame is None:
                    ex.ack_frame = frame
                    self._reporter.note(
                        f"ACK for {tx.final} (frame {tx.final_frame}, {offset(ts, tx.final_ts)})"
                    )
                else:
                    view.copy_of = ex.ack_frame
                    self._reporter.note(f"same ACK as frame {ex.ack_frame} on another hop")
            return
        # RFC 3261 §13.2.2.4: the ACK for a 2xx is its own transaction, sent end to end.
        invite = self._exchanges.get((f.call_id, f.cseq, "INVITE", f.from_tag))
        if invite is None:
            if f.to_tag and f.from_tag:
                self._dialog_free(f, DialogInput.ACK, ts, frame)
            self._reporter.note("ACK for an INVITE that is not in the capture")
            return
        ex = invite
        self.current = ex
        ex.last_ts = max(ex.last_ts, ts)
        self._add_frame(ex, frame)
        ident = (view.transaction, src, dst)
        if ex.ack_ids is None:
            ex.ack_ids = {}
        first = ex.ack_ids.get(ident)
        if first is not None:
            view.retransmission, view.retransmission_of = True, first
            self._reporter.note(f"ACK retransmission of frame {first} (one per 2xx retransmission)")
            return
        if len(ex.ack_ids) < self.limits.hops:
            ex.ack_ids[ident] = frame
        if ex.ack_frame is not None:
            view.hop, view.copy_of = len(ex.ack_ids), ex.ack_frame
            self._reporter.note(f"same ACK as frame {ex.ack_frame} on another hop")
            return
        ex.ack_frame = frame
        if ex.final is not None and ex.final < 300:
            # Name the 2xx this hop carried (the UAC acknowledges what it received), not the
            # first copy on another hop.
            status, answered, answered_ts = ex.final, ex.final_frame, ex.final_ts
            for tx in ex.transactions:
                if tx.src == src and tx.dst == dst and tx.final is not None and tx.final < 300:
                    status, answered, answered_ts = tx.final, tx.final_frame, tx.final_ts
                    break
            self._reporter.note(
                f"ACK for {status} (frame {answered}, {offset(ts, answered_ts)}): the UAC "
                "acknowledges the 2xx end to end, completing the INVITE handshake "
                "(RFC 3261 §13.2.2.4)"
            )
        if f.to_tag and f.from_tag:
            self._dialog(ex, f.from_tag, f.to_tag, DialogInput.ACK, ts, frame)

    def _dialog_free(self, f: Facts, event: DialogInput, ts: float, frame: int) -> None:
        _, step = self._dialogs.feed(f.call_id, f.from_tag, f.to_tag, event, ts)
        if isinstance(step, Violation):
            self._reporter.violation(
                step,
                ts=ts,
                call_id=f.call_id,
                frames=[frame],
                what=_DIALOG_VIOLATIONS.get(event, event.value),
            )

    # -- responses -------------------------------------------------------------------------------

    def _response(
        self,
        view: MessageInfo,
        f: Facts,
        ts: float,
        frame: int,
        src: Endpoint,
        dst: Endpoint,
        msg: SipMessage,
    ) -> None:
        copies = self._exchanges.transactions(view.transaction)
        tx = copies[0] if copies else None
        for copy in copies:
            if copy.src == dst and copy.dst == src:
                tx = copy
                break
        if tx is None:
            ex, new = self._exchange_for(f.ex_key, ts)
            if new:
                self.stats.orphan_responses += 1
                self._reporter.note("response to a request that is not in the capture")
            tx = self._new_transaction(view.transaction, ex, dst, src, f.via_count)
        ex = tx.exchange
        self.current, view.hop = ex, tx.hop
        ex.last_ts = max(ex.last_ts, ts)
        self._add_frame(ex, frame)
        ref_frame = tx.request_frame if tx.request_frame is not None else ex.request_frame
        ref_ts = tx.request_ts if tx.request_ts is not None else ex.request_ts
        if ref_frame is not None and ref_ts is not None:
            view.answers = new_request_ref(ex.method, ex.cseq, ref_frame, ref_ts)
        status = msg.status
        to_tag = f.to_tag
        rseq = msg.index.get("rseq")  # RFC 3262 §7.1: each reliable 1xx is its own response
        ident = (status, to_tag, msg.headers[rseq[0]][1].strip() if rseq else "")
        first = tx.responses.get(ident)
        if first is not None:
            counts = tx.response_copies
            if counts is None:
                counts = tx.response_copies = {}
            count = counts[ident] = counts.get(ident, 1) + 1
            view.retransmission, view.retransmission_of = True, first
            self._reporter.note(f"retransmission #{count - 1} of frame {first}")
            self._life.step_tx(tx, response_input(status), ts, frame)
            return
        if len(tx.responses) < self.limits.hops * 2:
            tx.responses[ident] = frame
        action = self._life.step_tx(tx, response_input(status), ts, frame)
        if action is TxAction.LATE:
            self._reporter.note(
                f"late response: the observer gave up on this transaction "
                f"{offset(ts, ex.request_ts)} after the request",
                "warning",
            )
        if status >= 200:
            if tx.final is None:
                tx.final, tx.final_frame, tx.final_ts = status, frame, ts
                tx.final_src, tx.final_to_tag = src, to_tag
            elif tx.final != status:
                self._reporter.note(
                    f"a second, different final response on the same hop (first {tx.final} in "
                    f"frame {tx.final_frame})",
                    "warning",
                )
        first_copy = ex.response_ids.get((status, to_tag))
        if first_copy is not None:
            view.copy_of = first_copy
            self._reporter.note(f"same {status} as frame {first_copy} on another hop")
            if status >= 200:
                self._take_final(ex, tx, msg, ts, frame, src)
            return
        if len(ex.response_ids) < self.limits.hops * 2:
            ex.response_ids[(status, to_tag)] = frame
        self._first_response(ex, tx, msg, to_tag, ts, frame, src)

    def _take_final(
        self, ex: Exchange, tx: Transaction, msg: SipMessage, ts: float, frame: int, src: Endpoint
    ) -> None:
        """Keep the final the UAC most likely saw: a 2xx beats a failure (forking), and among
        failures the copy closest to the UAC (fewest Vias) wins."""
        status, current = msg.status, ex.final
        if current is None:
            take = True
        elif 200 <= status < 300:
            take = not 200 <= current < 300
        else:
            take = status >= 300 and current >= 300 and tx.via_count < ex.final_depth
        if take:
            ex.final, ex.final_msg = status, msg.without_payload()
            ex.final_frame, ex.final_ts = frame, ts
            ex.final_reason = msg.reason
            ex.final_src, ex.final_depth = src, tx.via_count

    def _first_response(
        self,
        ex: Exchange,
        tx: Transaction,
        msg: SipMessage,
        to_tag: str,
        ts: float,
        frame: int,
        src: Endpoint,
    ) -> None:
        """Exchange-level handling of a distinct response (status, To tag), once per exchange."""
        status = msg.status
        forming = not ex.in_dialog
        if status < 200:
            ex.provisional, ex.provisional_ts = status, ts
            self._life.provisional(ex, ts)
            if ex.invite and forming and to_tag and status > 100:
                self._dialog(
                    ex, ex.from_tag, to_tag, DialogInput.PROVISIONAL, ts, frame, ex.from_tag
                )
            self._observer.observe(ex, msg, ts, frame, src)
            return
        had_final = ex.final is not None
        self._take_final(ex, tx, msg, ts, frame, src)
        if ex.timed_out:
            self._reporter.note(
                f"final response {offset(ts, ex.request_ts)} after the request, after the "
                "observer's transaction timeout",
                "warning",
            )
        if not had_final:
            self._life.first_final(ex, ts)
            if ex.timed_out:
                self._life.late_final(ex, ts)
        subscription_ok = 200 <= status < 300 and ex.method in ("SUBSCRIBE", "REFER")
        if to_tag and forming and (ex.invite or subscription_ok):
            event = DialogInput.SUCCESS if status < 300 else DialogInput.FAILURE
            self._dialog(ex, ex.from_tag, to_tag, event, ts, frame, ex.from_tag)
        if ex.method == "REFER" and ex.transfer is not None:
            self._transfers.on_refer_final(ex, msg, ts, frame)
        elif ex.method == "NOTIFY" and ex.transfer is not None:
            self._transfers.on_notify_final(ex, msg, ts, frame)
        note = response_note(ex, msg, ts)
        if note is not None:
            self._reporter.notes.append(note)
        self._observer.observe(ex, msg, ts, frame, src)


def _event_package(msg: SipMessage) -> str:
    raw = msg.header("event") or ""
    return raw.split(";", 1)[0].strip().lower()


_DIALOG_VIOLATIONS: Final[dict[DialogInput, str]] = {
    DialogInput.ACK: "ACK in an early dialog, before any final response",
    DialogInput.FAILURE: "failure response on a dialog that is already confirmed",
    DialogInput.REQUEST: "request in a dialog that has ended (after BYE)",
    DialogInput.CANCEL: "CANCEL for a dialog that does not exist",
}
