"""The transfer record and its lifecycle table (what :mod:`sipwatch.correlate.refer` drives).

The states follow one REFER from the transferor's point of view (RFC 3515): sent, challenged
(RFC 3261 §22.2: the retry with credentials is the same attempt), accepted (RFC 3515 §2.4.2,
RFC 7647 §5), NOTIFYs flowing (§2.4.4-§2.4.7), done. The outcome vocabulary of DESIGN §3 is set by
the concluding action from what the NOTIFYs' sipfrags reported.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Final

from sipwatch.correlate.events import Endpoint
from sipwatch.correlate.origin import Origin
from sipwatch.correlate.statetable import StateTable
from sipwatch.correlate.timers import Timer
from sipwatch.correlate.transactions import Exchange
from sipwatch.sip.uri import Replaces


class TransferState(Enum):
    REFERRED = "referred"  # REFER sent, no final response, no NOTIFY
    CHALLENGED = "challenged"  # 401/407: waiting for the retry with credentials
    EARLY = "early"  # NOTIFY arrived before the REFER's final response (§2.4.4)
    EARLY_TERMINATED = "early-terminated"  # even the terminating NOTIFY came first
    ACCEPTED = "accepted"  # 2xx, waiting for the first NOTIFY (no-notify timer armed)
    ACTIVE = "active"  # 2xx and NOTIFYs flowing
    DONE = "done"


class TransferInput(Enum):
    CHALLENGE = "challenge"  # 401/407 to the REFER
    RETRY = "retry"  # the REFER re-sent after a challenge
    ACCEPT = "accept"  # 2xx
    ACCEPT_NOSUB = "accept-nosub"  # 2xx with Refer-Sub: false (RFC 4488)
    REJECT = "reject"  # other final non-2xx
    REFER_TIMEOUT = "refer-timeout"  # no final response within Timer F
    NOTIFY = "notify"  # NOTIFY, subscription not terminated
    NOTIFY_TERMINATED = "notify-terminated"
    TIMEOUT = "notify-timeout"  # accepted, no NOTIFY within notify_timeout
    CLOSE = "close"  # idle too long, retry never came, or evicted
    #: The capture ended: like CLOSE, except that a challenged REFER may still be re-sent.
    CAPTURE_END = "capture-end"


class TransferAction(Enum):
    WAIT_RETRY = "wait-retry"
    RESEND = "resend"
    ARM_NOTIFY_TIMER = "arm-notify-timer"
    RECORD = "record"
    CONTRADICTION = "contradiction"  # Refer-Sub: false yet NOTIFYs already arrived
    CONCLUDE_NO_SUBSCRIPTION = "conclude-no-subscription"
    CONCLUDE_REJECTED = "conclude-rejected"
    CONCLUDE_BY_NOTIFY = "conclude-by-notify"
    CONCLUDE_NO_NOTIFY = "conclude-no-notify"
    CONCLUDE_CLOSED = "conclude-closed"


_S, _I, _A = TransferState, TransferInput, TransferAction

#: Missing pairs are violations: a NOTIFY after the terminating one, a NOTIFY while the REFER is
#: challenged (the peer cannot have accepted it), a second final response to the REFER.
TRANSFER_TABLE: Final = StateTable[TransferState, TransferInput, TransferAction](
    "transfer",
    TransferState,
    TransferInput,
    {
        (_S.REFERRED, _I.CHALLENGE): (_A.WAIT_RETRY, _S.CHALLENGED),
        (_S.REFERRED, _I.ACCEPT): (_A.ARM_NOTIFY_TIMER, _S.ACCEPTED),
        (_S.REFERRED, _I.ACCEPT_NOSUB): (_A.CONCLUDE_NO_SUBSCRIPTION, _S.DONE),
        (_S.REFERRED, _I.REJECT): (_A.CONCLUDE_REJECTED, _S.DONE),
        # RFC 3261 §8.1.3.1: a transaction timeout is treated as 408: the REFER failed.
        (_S.REFERRED, _I.REFER_TIMEOUT): (_A.CONCLUDE_REJECTED, _S.DONE),
        (_S.REFERRED, _I.NOTIFY): (_A.RECORD, _S.EARLY),
        (_S.REFERRED, _I.NOTIFY_TERMINATED): (_A.RECORD, _S.EARLY_TERMINATED),
        (_S.REFERRED, _I.CLOSE): (_A.CONCLUDE_CLOSED, _S.DONE),
        (_S.CHALLENGED, _I.RETRY): (_A.RESEND, _S.REFERRED),
        (_S.CHALLENGED, _I.CLOSE): (_A.CONCLUDE_REJECTED, _S.DONE),
        (_S.EARLY, _I.ACCEPT): (_A.RECORD, _S.ACTIVE),
        (_S.EARLY, _I.ACCEPT_NOSUB): (_A.CONTRADICTION, _S.ACTIVE),
        (_S.EARLY, _I.REJECT): (_A.CONCLUDE_REJECTED, _S.DONE),
        (_S.EARLY, _I.REFER_TIMEOUT): (_A.CONCLUDE_CLOSED, _S.DONE),
        (_S.EARLY, _I.NOTIFY): (_A.RECORD, _S.EARLY),
        (_S.EARLY, _I.NOTIFY_TERMINATED): (_A.RECORD, _S.EARLY_TERMINATED),
        (_S.EARLY, _I.CLOSE): (_A.CONCLUDE_CLOSED, _S.DONE),
        (_S.EARLY_TERMINATED, _I.ACCEPT): (_A.CONCLUDE_BY_NOTIFY, _S.DONE),
        (_S.EARLY_TERMINATED, _I.ACCEPT_NOSUB): (_A.CONCLUDE_BY_NOTIFY, _S.DONE),
        (_S.EARLY_TERMINATED, _I.REJECT): (_A.CONCLUDE_REJECTED, _S.DONE),
        (_S.EARLY_TERMINATED, _I.REFER_TIMEOUT): (_A.CONCLUDE_BY_NOTIFY, _S.DONE),
        (_S.EARLY_TERMINATED, _I.CLOSE): (_A.CONCLUDE_BY_NOTIFY, _S.DONE),
        (_S.ACCEPTED, _I.NOTIFY): (_A.RECORD, _S.ACTIVE),
        (_S.ACCEPTED, _I.NOTIFY_TERMINATED): (_A.CONCLUDE_BY_NOTIFY, _S.DONE),
        (_S.ACCEPTED, _I.TIMEOUT): (_A.CONCLUDE_NO_NOTIFY, _S.DONE),
        (_S.ACCEPTED, _I.CLOSE): (_A.CONCLUDE_CLOSED, _S.DONE),
        (_S.ACTIVE, _I.NOTIFY): (_A.RECORD, _S.ACTIVE),
        (_S.ACTIVE, _I.NOTIFY_TERMINATED): (_A.CONCLUDE_BY_NOTIFY, _S.DONE),
        (_S.ACTIVE, _I.CLOSE): (_A.CONCLUDE_CLOSED, _S.DONE),
        # The end of the capture concludes nothing the capture did not show: a challenged REFER
        # may still be re-sent with credentials (RFC 3261 §22.2), so it is in progress.
        (_S.REFERRED, _I.CAPTURE_END): (_A.CONCLUDE_CLOSED, _S.DONE),
        (_S.CHALLENGED, _I.CAPTURE_END): (_A.CONCLUDE_CLOSED, _S.DONE),
        (_S.EARLY, _I.CAPTURE_END): (_A.CONCLUDE_CLOSED, _S.DONE),
        (_S.EARLY_TERMINATED, _I.CAPTURE_END): (_A.CONCLUDE_BY_NOTIFY, _S.DONE),
        (_S.ACCEPTED, _I.CAPTURE_END): (_A.CONCLUDE_CLOSED, _S.DONE),
        (_S.ACTIVE, _I.CAPTURE_END): (_A.CONCLUDE_CLOSED, _S.DONE),
    },
)


@dataclass(slots=True, eq=False)
class NotifyRecord:
    exchange: Exchange
    ts: float
    frame: int
    cseq: int
    sipfrag_status: int | None
    sipfrag_reason: str
    subscription_state: str | None
    terminated_reason: str | None
    response: int | None = None
    response_frame: int | None = None


@dataclass(slots=True, eq=False)
class Attempt:
    cseq: int
    frame: int | None
    ts: float
    status: int | None = None
    status_frame: int | None = None


@dataclass(slots=True, eq=False)
class Transfer:
    """One transfer attempt (a REFER and its retries after challenges)."""

    ident: int
    call_id: str
    referrer_tag: str
    first_ts: float
    refer_frame: int | None
    referrer: Endpoint | None
    referee: Endpoint | None
    refer_to: str
    replaces: Replaces | None  # attended transfer: the dialog the Refer-To asks to replace
    refer_sub_requested: str | None
    attempts: list[Attempt] = field(default_factory=list)
    state: TransferState = TransferState.REFERRED
    accepted: int | None = None
    accepted_reason: str = ""
    accept_frame: int | None = None
    accept_ts: float | None = None
    refer_sub: str | None = None
    notifies: list[NotifyRecord] = field(default_factory=list)
    final_frag: int | None = None
    final_frag_reason: str = ""
    replacing_invite: tuple[str, int, float] | None = None
    frames: list[int] = field(default_factory=list)
    last_ts: float = 0.0
    outcome: str | None = None
    ended_by: str | None = None
    concluded_ts: float | None = None
    remarks: list[str] = field(default_factory=list)
    timer: Timer | None = None
    emitted: bool = False
    #: The element that answered the (last) REFER, once all its copies were in: the transferee,
    #: which a proxy between the two parties hides from ``referee`` (the next hop).
    answered: Origin | None = None

    @property
    def cseq(self) -> int:
        return self.attempts[-1].cseq if self.attempts else 0

    @property
    def attended(self) -> bool:
        return self.replaces is not None
