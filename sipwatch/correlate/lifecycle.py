"""The life of an exchange after its messages: settle, wait for the retry, time out, close.

An exchange *settles* a short while after its first final response (the copies on other hops
arrive within milliseconds; waiting keeps them in one finding), and then gets its findings.
Kinds that hinge on what the UAC does next wait for the retry (RFC 3261 §8.1.3.4-5 and §22.2,
§14.1, RFC 4028) and report its result. An exchange with no final response times out on Timer B
or F (RFC 3261 §17.1.1.2, §17.1.2.2), or Timer C (§16.6 step 11) once an INVITE got a
provisional. 64*T1 after its last activity it is closed: retransmission storms are judged on the
final counts, and its state is dropped.

Timer callbacks get their due time as the current time (see :mod:`sipwatch.correlate.timers`).
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import Final

from sipwatch.correlate import auth, delivery, extensions, failures, notices
from sipwatch.correlate.context import Reporter
from sipwatch.correlate.dialogs import DialogTracker
from sipwatch.correlate.events import Finding
from sipwatch.correlate.origin import Origin, relays_in, response_origin
from sipwatch.correlate.refer import TransferTracker, build_notify_rejected
from sipwatch.correlate.statetable import Transition, Violation
from sipwatch.correlate.timers import LINGER, T1, Deadlines
from sipwatch.correlate.transactions import (
    INVITE_TABLE,
    NON_INVITE_TABLE,
    Exchange,
    ExchangeTable,
    InviteState,
    NonInviteState,
    Transaction,
    TxAction,
    TxInput,
    retry_key,
)

#: Kinds whose finding waits for the UAC's retry (RFC 3261 §8.1.3.4-5, §14.1, §22.2; RFC 4028).
RETRY_KINDS: Final = frozenset(
    {
        "auth",
        "bad-extension",
        "extension-required",
        "session-interval-too-small",
        "interval-too-brief",
        "glare",
        "redirect",
    }
)


@dataclass(frozen=True, slots=True)
class Timing:
    """The capture-time durations and thresholds the lifecycle works with."""

    transaction_timeout: float
    settle: float
    retry_window: float
    proceeding_timeout: float
    storm_threshold: int
    auth_loop_threshold: int


class Lifecycle:
    """Timers, findings and closing for the exchanges of one correlator."""

    def __init__(
        self,
        timing: Timing,
        *,
        exchanges: ExchangeTable,
        deadlines: Deadlines,
        reporter: Reporter,
        transfers: TransferTracker,
        dialogs: DialogTracker,
        retry_index: dict[tuple[str, str, str], Exchange],
        registered_option_tags: Collection[str] | None,
    ) -> None:
        self.timing = timing
        self._exchanges = exchanges
        self._deadlines = deadlines
        self._reporter = reporter
        self._transfers = transfers
        self._dialogs = dialogs
        self._retry_index = retry_index
        self.registered_option_tags = registered_option_tags
        #: Capture time of the end of the capture, once :meth:`Correlator.finish` runs: what is
        #: resolved then was cut short, not timed out.
        self.capture_end: float | None = None
        #: File runs hold a timed-out exchange's finding until it closes (a late final may
        #: replace it); live runs emit it at once and revise it (``revises``) if one comes.
        self.hold_timeouts = True
        # Timer callbacks, bound once (a timer holds its callback for up to 64*T1: see Timer).
        self._on_timeout_cb = self.on_timeout
        self._on_settle_cb = self.on_settle
        self._on_close_timer_cb = self._on_close_timer
        self._on_retry_window_cb = self._on_retry_window

    # -- arming ------------------------------------------------------------------------------

    def opened(self, ex: Exchange, ts: float) -> None:
        """A new exchange: arm Timer B/F (moved to Timer C by provisionals, see provisional)."""
        timeout = self.timing.transaction_timeout
        ex.deadline = ts + timeout
        ex.timer_due = self._deadlines.schedule_in(ts, timeout, self._on_timeout_cb, ex)

    def provisional(self, ex: Exchange, ts: float) -> None:
        """RFC 3261 §17.1.1.2: a provisional moves an INVITE to Proceeding, where Timer B no
        longer runs; a proxy's Timer C (§16.6 step 11) is reset by each provisional."""
        if ex.invite and ex.final is None:
            ex.deadline = ts + self.timing.proceeding_timeout

    def first_final(self, ex: Exchange, ts: float) -> None:
        """The first final response of the exchange: settle a little later."""
        if not ex.settled:
            self._deadlines.cancel(ex.timer_due)
            ex.timer_due = self._deadlines.schedule_in(
                ts, self.timing.settle, self._on_settle_cb, ex
            )

    def step_tx(
        self, tx: Transaction, event: TxInput, ts: float, frame: int | None
    ) -> TxAction | None:
        """Move a transaction through its table; a missing pair is reported, not raised."""
        state = tx.state
        found: Transition[InviteState, TxAction] | Transition[NonInviteState, TxAction] | None
        if isinstance(state, InviteState):
            found = INVITE_TABLE.find(state, event)
        else:
            found = NON_INVITE_TABLE.find(state, event)
        if found is not None:  # the common case: a listed pair
            tx.state = found.next_state
            return found.action
        step: (
            Transition[InviteState, TxAction]
            | Transition[NonInviteState, TxAction]
            | Violation[InviteState, TxInput]
            | Violation[NonInviteState, TxInput]
        )
        if isinstance(state, InviteState):
            step = INVITE_TABLE.step(state, event)
        else:
            step = NON_INVITE_TABLE.step(state, event)
        if isinstance(step, Violation):
            ex = tx.exchange
            self._reporter.violation(
                step,
                ts=ts,
                call_id=ex.call_id,
                frames=[f for f in (ex.request_frame, frame) if f is not None],
                what=_TX_VIOLATIONS.get(event, f"{event.value} out of order"),
                detail=f"{ex.method} CSeq {ex.cseq}",
            )
            return None
        tx.state = step.next_state
        return step.action

    # -- timers ----------------------------------------------------------------------------------

    def on_timeout(self, ex: Exchange, now: float) -> None:
        """Timer B/F/C: fires at the deadline, which provisionals may have pushed back."""
        if ex.closed or ex.settled or ex.final is not None:
            return
        if now < ex.deadline:
            ex.timer_due = self._deadlines.schedule_for(ex.deadline, self._on_timeout_cb, ex)
            return
        self._no_final(ex, now, timed_out=True)

    def _no_final(self, ex: Exchange, now: float, timed_out: bool) -> None:
        ex.settled = True
        if timed_out:
            ex.timed_out = True
            for tx in ex.transactions:
                if tx.final is None:
                    self.step_tx(tx, TxInput.TIMEOUT, now, None)
        timer, timeout = self._timer(ex)
        finding = delivery.build_no_final_response(ex, now, timeout, timed_out, timer)
        if timed_out and self.hold_timeouts:
            if self.capture_end is None:
                # A final response may still come (late): the verdict waits for the exchange
                # to close, so a file's findings tell the whole story once.
                ex.held_timeout = finding
            else:
                self._reporter.emit(finding)
        elif timed_out:
            ex.timeout_id = self._reporter.next_id()
            self._reporter.emit(
                finding.with_changes(details={**finding.details, "id": ex.timeout_id})
            )
        else:
            self._reporter.emit(finding)
        self._emit_observations(ex)
        if ex.method == "REFER":
            self._transfers.on_refer_timeout(ex, now)
        if ex.retry_of is not None:
            self._resolve_retry(ex.retry_of, now)
        self._schedule_close(ex, now)

    def _timer(self, ex: Exchange) -> tuple[str, float]:
        """The transaction timer that applies to ``ex`` and its duration."""
        if ex.invite and ex.provisional is not None:
            return "C", self.timing.proceeding_timeout
        return ("B" if ex.invite else "F"), self.timing.transaction_timeout

    def late_final(self, ex: Exchange, ts: float) -> None:
        """The first final response came after Timer B/F/C: it replaces the timeout verdict
        (held in a file run, emitted and now revised live) with a ``late-response``."""
        timer, timeout = self._timer(ex)
        revises = ex.timeout_id
        if ex.held_timeout is None and revises is None:
            return
        ex.held_timeout = None
        invite = ex.parent if ex.method == "CANCEL" else None
        self._reporter.emit(delivery.build_late_response(ex, ts, timeout, timer, invite, revises))

    def on_settle(self, ex: Exchange, now: float) -> None:
        """``settle`` after the first final: make the findings, release the one we retried."""
        if ex.closed or ex.settled:
            return
        ex.settled = True
        if ex.transfer is not None and ex.method == "REFER" and ex.final is not None:
            self._transfers.on_refer_settled(ex, self.origin(ex))
        self._settle_findings(ex, now)
        if ex.retry_of is not None:
            self._resolve_retry(ex.retry_of, now)
        if ex.final is not None and ex.final < 300 and ex.held is None:
            # A successful exchange needs no header analysis any more (the request it retried
            # was just resolved, and a 2xx is never retried): drop the messages so a busy live
            # session keeps ids and counters per exchange, not whole messages.
            ex.request = None
            ex.final_msg = None
        self._schedule_close(ex, now)

    def settle_now(self, ex: Exchange, now: float) -> None:
        """End of capture or eviction: settle without waiting for timers.

        An exchange still unanswered within T1 of its Timer B/F (or C) deadline counts as timed
        out: the last retransmission Timer A/E allows is due at 64*T1 - T1 (RFC 3261
        §17.1.1.2, §17.1.2.2), so a capture whose last packet is that late has seen everything
        the UAC sends before it gives up, and a recording stopped right after it (as most are)
        must not turn a timeout into "the capture ended".
        """
        self._deadlines.cancel(ex.timer_due)
        if ex.final is not None:
            self.on_settle(ex, now)
        else:
            self._no_final(ex, now, timed_out=now + T1 >= ex.deadline)

    def _schedule_close(self, ex: Exchange, now: float) -> None:
        self._deadlines.cancel(ex.timer_close)
        ex.timer_close = self._deadlines.schedule_in(
            max(now, ex.last_ts), LINGER, self._on_close_timer_cb, ex
        )

    def _on_close_timer(self, ex: Exchange, now: float) -> None:
        if ex.closed:
            return
        waiting = ex.held is not None and not ex.resolved_retry
        if ex.last_ts + LINGER > now or (waiting and now < self._wait_limit(ex)):
            due = max(ex.last_ts + LINGER, now + T1)
            ex.timer_close = self._deadlines.schedule_for(due, self._on_close_timer_cb, ex)
            return
        self.close(ex, now)

    def _wait_limit(self, ex: Exchange) -> float:
        """Capture time after which nothing can resolve a held exchange any more.

        A retry starts within ``retry_window`` and, as a transaction, ends within Timer B/F or C
        plus the linger (RFC 3261 §17.1.1.2, §16.6); past that, :meth:`close` resolves the held
        finding with what is known. Without this bound an exchange whose retry closed without
        resolving it was re-checked every T1 for ever: memory held for the whole run, and after
        a forward jump in capture time (a damaged timestamp) one check per T1 of the jump.
        """
        timing = self.timing
        longest = max(timing.transaction_timeout, timing.proceeding_timeout)
        return ex.last_ts + timing.retry_window + longest + 2 * LINGER

    def _on_retry_window(self, ex: Exchange, now: float) -> None:
        if ex.closed or ex.resolved_retry:
            return
        if ex.retry is None:
            self._resolve_retry(ex, now)
        # else: the retry's own settle or timeout resolves it.

    # -- findings -------------------------------------------------------------------------------

    def _emit_observations(self, ex: Exchange) -> None:
        observations = ex.observations
        if not observations:
            return
        reasons = [o for o in observations if o.kind == "reason"]
        if reasons:
            self._reporter.emit(notices.build_reason(ex, reasons))
        warnings = [o for o in observations if o.kind == "warning-header"]
        if warnings:
            self._reporter.emit(notices.build_warning_header(ex, warnings))
        registered = self.registered_option_tags or frozenset()
        for obs in observations:
            if obs.kind == "unregistered-option-tag":
                self._reporter.emit(extensions.build_unregistered_tag(ex, obs, registered))
        ex.observations = None

    def _classify(self, ex: Exchange) -> str | None:
        status = ex.final
        if status is None or status < 300:
            return None
        if status in (401, 407):
            return "auth"
        if ex.method == "REFER" and ex.transfer is not None:
            return None  # the transfer finding tells it
        if ex.method == "NOTIFY" and ex.transfer is not None:
            return "notify-rejected"
        special = {
            420: "bad-extension",
            421: "extension-required",
            422: "session-interval-too-small",
            423: "interval-too-brief",
            491: "glare",
        }
        if status in special:
            return special[status]
        if status < 400:
            return "redirect"
        if status == 487 and ex.cancel_frame is not None:
            return None  # RFC 3261 §9.2: the expected answer to a cancelled INVITE
        if status in (480, 503) or 500 <= status < 600:
            return "server-failure"
        return "request-failed"

    def _settle_findings(self, ex: Exchange, now: float) -> None:
        self._emit_observations(ex)
        kind = self._classify(ex)
        if kind is None:
            return
        if kind in RETRY_KINDS:
            ex.held = kind
            if kind == "auth":
                auth.extend_chain(ex)
            ex.timer_retry = self._deadlines.schedule_in(
                now, self.timing.retry_window, self._on_retry_window_cb, ex
            )
            return
        finding = self._build(ex, kind)
        if finding is not None:
            self._reporter.emit(finding)

    def origin(self, ex: Exchange) -> Origin:
        """The element that generated the exchange's final response (see
        :mod:`sipwatch.correlate.origin`)."""
        relays = relays_in(self._exchanges.in_call(ex.call_id))
        start = ex.request_ts if ex.request_ts is not None else ex.first_ts
        return response_origin(ex, relays, others=self._exchanges.since(start))

    def _build(self, ex: Exchange, kind: str) -> Finding | None:
        if kind == "bad-extension":
            return extensions.build_bad_extension(ex, self.timing.retry_window, self.origin(ex))
        if kind == "extension-required":
            return extensions.build_extension_required(
                ex, self.timing.retry_window, self.origin(ex)
            )
        origin = self.origin(ex)
        if kind == "session-interval-too-small":
            return failures.build_session_interval(ex, origin)
        if kind == "interval-too-brief":
            return failures.build_interval_too_brief(ex, origin)
        if kind == "glare":
            return failures.build_glare(ex, origin, self._crossing(ex), self._owns_call_id(ex))
        if kind == "redirect":
            return failures.build_redirect(ex, origin)
        if kind == "notify-rejected":
            return build_notify_rejected(ex, origin)
        if kind == "server-failure":
            return failures.build_server_failure(ex, origin)
        return failures.build_request_failed(ex, origin)

    def _resolve_retry(self, ex: Exchange, now: float) -> None:
        """The retry of ``ex`` settled or timed out, or none came in time: emit what waited."""
        if ex.held is None or ex.resolved_retry:
            return
        ex.resolved_retry = True
        self._deadlines.cancel(ex.timer_retry)
        if self.capture_end is not None and ex.retry is None:
            since = self.capture_end - (ex.final_ts if ex.final_ts is not None else ex.first_ts)
            if since < self.timing.retry_window:
                ex.retry_cut = max(since, 0.0)
        if ex.held == "auth":
            chain = ex.auth_chain
            retry = ex.retry
            if retry is not None and retry.auth_chain is chain and retry is not ex:
                return  # challenged again: the chain goes on with the retry
            if chain is not None and not chain.emitted:
                chain.result = retry
                chain.emitted = True
                self._reporter.emit(
                    auth.build_auth_finding(
                        chain, self.timing.auth_loop_threshold, self.timing.retry_window
                    )
                )
            if retry is None and ex.method == "REFER":
                self._transfers.on_no_retry(ex, now)
            return
        finding = self._build(ex, ex.held)
        if finding is not None:
            self._reporter.emit(finding)

    def _crossing(self, ex: Exchange) -> Exchange | None:
        """The request that crossed a 491'd one: INVITE/UPDATE the other way in the same call."""
        for other in self._exchanges.in_call(ex.call_id):
            if (
                other is not ex
                and other.method in ("INVITE", "UPDATE")
                and other.from_tag != ex.from_tag
                and other.request_frame is not None
                and other.in_dialog
                and other.first_ts <= (ex.final_ts or ex.first_ts)
                and other.first_ts >= ex.first_ts - 32.0
            ):
                return other
        return None

    def _owns_call_id(self, ex: Exchange) -> bool | None:
        req = ex.request
        if req is None or not req.to_tag:
            return None
        caller = self._dialogs.caller(ex.call_id, req.from_tag, req.to_tag)
        return None if caller is None else caller == ex.from_tag

    # -- closing ---------------------------------------------------------------------------------

    def close(self, ex: Exchange, now: float) -> None:
        """Drop the exchange: settle it if needed, emit whatever waited, judge storms."""
        if ex.closed:
            return
        if not ex.settled:
            self.settle_now(ex, now)
        self._emit_observations(ex)  # headers seen after the exchange settled
        if ex.held_timeout is not None:
            self._reporter.emit(ex.held_timeout)
            ex.held_timeout = None
        if ex.held is not None and not ex.resolved_retry:
            self._resolve_retry(ex, now)
        prev = ex.retry_of
        if prev is not None and prev.held is not None and not prev.resolved_retry:
            self._resolve_retry(prev, now)
        storm = delivery.build_retransmissions(ex, self.timing.storm_threshold)
        if storm is not None and not (ex.timed_out and ex.final is not None):
            # (a late final's finding already counts the retransmissions)
            self._reporter.emit(storm)
        ex.closed = True
        for timer in (ex.timer_due, ex.timer_retry, ex.timer_close):
            self._deadlines.cancel(timer)
        self._exchanges.remove(ex)
        index = retry_key(ex)
        if self._retry_index.get(index) is ex:
            del self._retry_index[index]
        # Each transaction points back at its exchange: drop the forward links so reference
        # counting frees a closed exchange with its messages, instead of leaving a cycle for the
        # garbage collector (which the pipeline runs rarely, for speed: memory then grew by
        # about 3 KB per call until a full collection). Nothing reads a closed exchange's
        # transactions: its findings were all made above.
        ex.transactions = []


_TX_VIOLATIONS: Final[dict[TxInput, str]] = {
    TxInput.ACK: "ACK before any final response to the INVITE",
    TxInput.PROVISIONAL: "provisional response after the final response",
    TxInput.SUCCESS: "2xx after a failure response on the same hop",
    TxInput.FAILURE: "failure response after a 2xx on the same hop",
    TxInput.REQUEST: "request repeated after the transaction was confirmed",
    TxInput.TIMEOUT: "timeout in a finished transaction",
}
