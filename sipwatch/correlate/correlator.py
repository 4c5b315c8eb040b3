"""The sans-I/O correlator: messages and capture timestamps in, events out.

Like h11's connection object, it owns no socket, file or clock (DESIGN §2 rule 1). It is fed
``(timestamp, frame, flow, message)`` in capture order and answers with events
(:mod:`sipwatch.correlate.events`); timeouts fire only when :meth:`Correlator.expire` (or the next
:meth:`feed`) is given a capture time past their deadline, and :meth:`finish` closes everything at
the end of a capture. A pcap post-mortem and a live session therefore behave the same.

What happens to one message:

1. it is filed under its transaction (one hop) and exchange (the request as the UAC meant it, all
   hops) — see :mod:`sipwatch.correlate.transactions`; retransmissions and hop copies are marked;
2. the *first* copy of each exchange-level event (the request; each distinct response; the ACK)
   drives the dialog, transfer and retry bookkeeping, so nothing counts twice;
3. an exchange *settles* ``settle`` seconds after its first final response (so the copies on the
   other hops are in), and its findings are made then; kinds that depend on the UAC's retry
   (challenges, 420, 421, 422, 423, 491, 3xx) wait for the retry's own result, or ``retry_window``;
4. an exchange without a final response gets ``no-final-response`` when Timer B/F (or C) passes;
5. 64*T1 after its last activity an exchange is closed: retransmission storms are judged then,
   and its state is dropped. Every table is capped; evictions are counted in :attr:`stats`.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Collection
from typing import Final

from sipwatch.correlate.context import Reporter
from sipwatch.correlate.dialogs import DialogTracker
from sipwatch.correlate.events import (
    CorrelatorStats,
    Endpoint,
    Event,
    Finding,
    MessageInfo,
    new_note,
)
from sipwatch.correlate.icmp import IcmpEvidence, build_icmp_error, quoted_note
from sipwatch.correlate.lifecycle import Lifecycle, Timing
from sipwatch.correlate.limits import Limits
from sipwatch.correlate.refer import TransferTracker
from sipwatch.correlate.routing import Router
from sipwatch.correlate.timers import RETRY_WINDOW, T1, TIMER_C, Deadlines
from sipwatch.correlate.transactions import Exchange, ExchangeKey, ExchangeTable, message_facts
from sipwatch.sip.message import SipMessage

__all__ = ["MAX_CLOCK_STEP", "Correlator", "Limits"]

#: A step of capture time larger than this (one day) is a damaged or reset clock, not traffic:
#: timers are not judged across it (see :meth:`Correlator._clock_jump`).
MAX_CLOCK_STEP: Final = 86400.0
_NEVER: Final = float("-inf")


class Correlator:
    """Feed messages in capture order; collect the events each call returns."""

    def __init__(
        self,
        notify_timeout: float = 32.0,
        transaction_timeout: float = 32.0,
        limits: Limits | None = None,
        *,
        registered_option_tags: Collection[str] | None = None,
        settle: float = T1,
        retry_window: float = RETRY_WINDOW,
        proceeding_timeout: float = TIMER_C,
        dialog_idle: float = 7200.0,
        transfer_idle: float = 300.0,
        storm_threshold: int = 4,
        auth_loop_threshold: int = 3,
        hold_timeouts: bool = False,
    ) -> None:
        self.limits = limits or Limits()
        self.notify_timeout = notify_timeout
        self.timing = Timing(
            transaction_timeout=transaction_timeout,
            settle=settle,
            retry_window=retry_window,
            proceeding_timeout=proceeding_timeout,
            storm_threshold=storm_threshold,
            auth_loop_threshold=auth_loop_threshold,
        )
        #: None disables the ``unregistered-option-tag`` check (the pipeline passes the IANA
        #: registry from the knowledge base; this layer may not read files).
        self.registered_option_tags = (
            frozenset(t.lower() for t in registered_option_tags)
            if registered_option_tags is not None
            else None
        )
        self.stats = CorrelatorStats()
        self._now = _NEVER
        self._deadlines = Deadlines()
        self._reporter = Reporter(self.stats, self.limits.memo)
        self._exchanges = ExchangeTable(self.limits.exchanges)
        self._retry_index: dict[tuple[str, str, str], Exchange] = {}
        #: Exchanges not in the table (their messages were not captured) already given an
        #: ``icmp-error`` finding: one per exchange, however many errors quote it.
        self._icmp_reported: OrderedDict[ExchangeKey, None] = OrderedDict()

        def count(counter: str, key: str) -> Callable[[], None]:
            def bump() -> None:
                getattr(self.stats, counter)[key] += 1

            return bump

        def created() -> None:
            self.stats.dialogs += 1

        self._dialogs = DialogTracker(
            self._deadlines,
            self.limits.dialogs,
            dialog_idle,
            on_evict=count("evicted", "dialogs"),
            on_expire=count("expired", "dialogs"),
            on_create=created,
        )
        self._transfers = TransferTracker(
            self._reporter,
            self._deadlines,
            self.stats,
            notify_timeout=notify_timeout,
            idle=transfer_idle,
            settle=settle,
            cap=self.limits.transfers,
            frame_cap=self.limits.frames,
        )
        self._life = Lifecycle(
            self.timing,
            exchanges=self._exchanges,
            deadlines=self._deadlines,
            reporter=self._reporter,
            transfers=self._transfers,
            dialogs=self._dialogs,
            retry_index=self._retry_index,
            registered_option_tags=self.registered_option_tags,
        )
        #: True for a whole file: a timed-out exchange's finding waits for the exchange to close
        #: (a late final replaces it). False live: it is emitted at once with an ``id``, and a
        #: late final emits a ``late-response`` that ``revises`` it.
        self._life.hold_timeouts = hold_timeouts
        self._router = Router(
            limits=self.limits,
            stats=self.stats,
            reporter=self._reporter,
            exchanges=self._exchanges,
            dialogs=self._dialogs,
            transfers=self._transfers,
            life=self._life,
            retry_index=self._retry_index,
            registered_option_tags=self.registered_option_tags,
        )

    # -- public API ---------------------------------------------------------------------------

    def feed(
        self,
        ts: float,
        frame: int,
        src: Endpoint,
        dst: Endpoint,
        transport: str,
        msg: SipMessage,
    ) -> list[Event]:
        """One message. Returns findings due before ``ts``, its MessageInfo, then findings it
        completed (see :mod:`sipwatch.correlate.events` for the ordering contract)."""
        reporter = self._reporter
        before: list[Event]
        if ts > self._now or reporter.findings or self._deadlines.due(self._now):
            # :meth:`_advance`, without its list copy: this runs for nearly every message.
            if ts > self._now:
                if ts - self._now > MAX_CLOCK_STEP:
                    self._clock_jump(ts)
                self._now = self._router.now = ts
            if self._deadlines.due(self._now):
                reporter.notes.clear()
                self._deadlines.pop_due(self._now)
            before = []
            if reporter.findings:
                before.extend(reporter.take_findings())
        else:  # nothing can fire and nothing is pending: :meth:`_advance` would do nothing
            before = []
        self.stats.messages += 1
        reporter.notes.clear()
        # The correlator's clock never goes back: a message stamped earlier than one already
        # seen is taken at the current time, so its timers cannot fire at once.
        info = self._message(self._now, frame, src, dst, transport, msg)
        if reporter.findings:
            before.append(info)
            before.extend(reporter.take_findings())
            return before
        before.append(info)
        return before

    def quoted(
        self,
        ts: float,
        frame: int,
        src: Endpoint,
        dst: Endpoint,
        transport: str,
        msg: SipMessage,
        *,
        icmp_type: int,
        icmp_code: int,
        reporter: str,
        version: int,
    ) -> list[Event]:
        """A message quoted inside an ICMP error (see :mod:`sipwatch.correlate.icmp`): evidence
        about the exchange it belongs to, never a retransmission or hop copy. Returns findings
        due before ``ts``, its MessageInfo, then the ``icmp-error`` finding (first error per
        exchange)."""
        events: list[Event] = list(self._advance(ts))
        self.stats.messages += 1
        facts = message_facts(msg)
        ex = self._exchanges.get(facts.ex_key)
        status = msg.status if msg.kind == "response" else None
        original: int | None = None
        if ex is not None:
            if msg.kind == "request":
                original = next(
                    (tx.request_frame for tx in ex.transactions if (tx.src, tx.dst) == (src, dst)),
                    None,
                )
            else:
                original = ex.response_ids.get((msg.status, facts.to_tag))
            ex.add_frame(frame, self.limits.frames)
        evidence = IcmpEvidence(
            type=icmp_type,
            code=icmp_code,
            reporter=reporter,
            version=version,
            frame=frame,
            ts=ts,
            src=src,
            dst=dst,
            kind=msg.kind,
            status=status,
        )
        info = MessageInfo(
            ts,
            frame,
            src,
            dst,
            transport,
            msg,
            facts.tx_key,
            ex.label if ex is not None else "",
            notes=(new_note(quoted_note(evidence, original), "warning", None),),
        )
        events.append(info)
        first = ex.icmp is None if ex is not None else facts.ex_key not in self._icmp_reported
        if first:
            if ex is not None:
                ex.icmp = evidence
            else:
                if len(self._icmp_reported) >= self.limits.memo:
                    self._icmp_reported.popitem(last=False)
                self._icmp_reported[facts.ex_key] = None
            self._reporter.emit(
                build_icmp_error(facts.call_id, facts.method, facts.cseq, evidence, original)
            )
            events.extend(self._reporter.take_findings())
        return events

    def expire(self, ts: float) -> list[Event]:
        """Run every timer due at or before capture time ``ts`` (live mode: call it ~1/s)."""
        return list(self._advance(ts))

    def finish(self, ts: float) -> list[Event]:
        """End of capture at ``ts``: report unanswered requests and open transfers, close all."""
        events: list[Event] = list(self._advance(ts))
        now = max(ts, self._now)
        self._life.capture_end = now
        for ex in self._exchanges.values():
            if not ex.settled and not ex.closed:
                self._life.settle_now(ex, now)
        self._transfers.finish(now)
        for ex in self._exchanges.values():
            self._life.close(ex, now)
        self._dialogs.clear()
        self._deadlines.drain()
        self._retry_index.clear()
        events.extend(self._reporter.take_findings())
        return events

    @property
    def open_exchanges(self) -> int:
        return len(self._exchanges)

    @property
    def open_dialogs(self) -> int:
        return len(self._dialogs)

    @property
    def open_transfers(self) -> int:
        return len(self._transfers)

    # -- time ------------------------------------------------------------------------------------

    def _clock_jump(self, ts: float) -> None:
        """Capture time leapt more than :data:`MAX_CLOCK_STEP` ahead (a damaged or reset
        clock: ``sip_ipv6_udp.pcap`` goes from 2012 to 2092 in six packets). No RFC timer can
        be judged across such a gap, so every pending deadline moves by the jump: a timer that
        had 10 s left still has 10 s of capture time after it."""
        if self._now == _NEVER:
            return
        step = ts - self._now
        self._deadlines.shift(step)
        for ex in self._exchanges.values():
            ex.deadline += step
        self.stats.clock_jumps += 1

    def _advance(self, ts: float) -> list[Finding]:
        if ts > self._now:
            if ts - self._now > MAX_CLOCK_STEP:
                self._clock_jump(ts)
            self._now = self._router.now = ts
        self._reporter.notes.clear()
        if self._deadlines.due(self._now):
            self._deadlines.pop_due(self._now)
            self._reporter.notes.clear()  # notes from timers belong to no message
        return self._reporter.take_findings()

    # -- one message -----------------------------------------------------------------------------

    def _message(
        self, ts: float, frame: int, src: Endpoint, dst: Endpoint, transport: str, msg: SipMessage
    ) -> MessageInfo:
        info = self._router.route(ts, frame, src, dst, transport, msg)
        if info.retransmission:
            self.stats.retransmissions += 1
        if self._reporter.notes:
            info.notes = self._reporter.take_notes()
        return info
