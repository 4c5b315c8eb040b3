"""Dialogs by Call-ID and tags: early, confirmed, terminated (RFC 3261 §12).

A dialog is identified by the Call-ID and the two tags (§12: local and remote tag). The observer
does not know which side is "local", so the key holds the two tags in sorted order; requests in
either direction then find the same dialog.

Inputs reach the dialog machine once per exchange (hop copies and retransmissions do not count
twice), and responses once per distinct To tag, because forking creates one early dialog per tag
(§12.1, §13.2.2.4). A dialog that began before the capture is *adopted* on the first in-dialog
request, since captures often start mid-call.

Bounds: a cap on the table (oldest evicted and counted), terminated dialogs kept 64*T1 to absorb
late copies, early dialogs dropped after Timer C without news, confirmed ones after an idle time.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from typing import Final

from sipwatch.correlate.statetable import StateTable, Transition, Violation
from sipwatch.correlate.timers import LINGER, TIMER_C, Deadlines, Timer

DialogKey = tuple[str, str, str]


class DialogState(Enum):
    NONE = "none"  # no dialog known yet (initial state of the machine)
    EARLY = "early"
    CONFIRMED = "confirmed"
    TERMINATED = "terminated"


class DialogInput(Enum):
    PROVISIONAL = "provisional"  # 1xx with a To tag to the dialog-forming request
    SUCCESS = "success"  # 2xx to the dialog-forming request
    FAILURE = "failure"  # 3xx-6xx to the dialog-forming request
    ACK = "ack"
    BYE = "bye"
    CANCEL = "cancel"
    REQUEST = "request"  # any other request inside the dialog (re-INVITE, UPDATE, INFO, ...)
    SUBSCRIPTION = "subscription"  # NOTIFY, SUBSCRIBE, REFER: their usage outlives the call


class DialogAction(Enum):
    CREATE = "create"
    ADOPT = "adopt"  # the dialog began before the capture
    CONFIRM = "confirm"
    TERMINATE = "terminate"
    KEEP = "keep"
    LATE_CANCEL = "late-cancel"


_S, _I, _A = DialogState, DialogInput, DialogAction

#: Missing pairs are violations: an ACK in an early dialog (no final response yet), a failure
#: response on a confirmed dialog's tag, a non-subscription request after BYE (§15: the dialog is
#: gone once BYE is sent; RFC 5057 §5: subscription usages may outlive it).
DIALOG_TABLE: Final = StateTable[DialogState, DialogInput, DialogAction](
    "dialog",
    DialogState,
    DialogInput,
    {
        # §12.1: a 1xx with a To tag creates an early dialog, a 2xx a confirmed one; a failure
        # creates none.
        (_S.NONE, _I.PROVISIONAL): (_A.CREATE, _S.EARLY),
        (_S.NONE, _I.SUCCESS): (_A.CREATE, _S.CONFIRMED),
        (_S.NONE, _I.FAILURE): (_A.KEEP, _S.NONE),
        (_S.NONE, _I.ACK): (_A.ADOPT, _S.CONFIRMED),
        (_S.NONE, _I.BYE): (_A.ADOPT, _S.TERMINATED),
        (_S.NONE, _I.REQUEST): (_A.ADOPT, _S.CONFIRMED),
        (_S.NONE, _I.SUBSCRIPTION): (_A.ADOPT, _S.CONFIRMED),
        # §13.2.2.4: a 2xx confirms; a non-2xx final ends every early dialog it names. §15: the
        # caller MAY send BYE in an early dialog. RFC 3262/3311/6086: PRACK, UPDATE and INFO are
        # allowed in early dialogs. §9.1: CANCEL leaves it to the 487 to end the dialog.
        (_S.EARLY, _I.PROVISIONAL): (_A.KEEP, _S.EARLY),
        (_S.EARLY, _I.SUCCESS): (_A.CONFIRM, _S.CONFIRMED),
        (_S.EARLY, _I.FAILURE): (_A.TERMINATE, _S.TERMINATED),
        (_S.EARLY, _I.BYE): (_A.TERMINATE, _S.TERMINATED),
        (_S.EARLY, _I.CANCEL): (_A.KEEP, _S.EARLY),
        (_S.EARLY, _I.REQUEST): (_A.KEEP, _S.EARLY),
        (_S.EARLY, _I.SUBSCRIPTION): (_A.KEEP, _S.EARLY),
        # Late copies of provisional/2xx responses are harmless; §9.2: a CANCEL after the 2xx has
        # no effect on the call.
        (_S.CONFIRMED, _I.PROVISIONAL): (_A.KEEP, _S.CONFIRMED),
        (_S.CONFIRMED, _I.SUCCESS): (_A.KEEP, _S.CONFIRMED),
        (_S.CONFIRMED, _I.ACK): (_A.KEEP, _S.CONFIRMED),
        (_S.CONFIRMED, _I.BYE): (_A.TERMINATE, _S.TERMINATED),
        (_S.CONFIRMED, _I.CANCEL): (_A.LATE_CANCEL, _S.CONFIRMED),
        (_S.CONFIRMED, _I.REQUEST): (_A.KEEP, _S.CONFIRMED),
        (_S.CONFIRMED, _I.SUBSCRIPTION): (_A.KEEP, _S.CONFIRMED),
        # After the end: ACKs for the failure, 2xx retransmissions, both sides' BYEs, and
        # NOTIFYs of a transfer (RFC 5057 §5) still arrive legitimately.
        (_S.TERMINATED, _I.PROVISIONAL): (_A.KEEP, _S.TERMINATED),
        (_S.TERMINATED, _I.SUCCESS): (_A.KEEP, _S.TERMINATED),
        (_S.TERMINATED, _I.FAILURE): (_A.KEEP, _S.TERMINATED),
        (_S.TERMINATED, _I.ACK): (_A.KEEP, _S.TERMINATED),
        (_S.TERMINATED, _I.BYE): (_A.KEEP, _S.TERMINATED),
        (_S.TERMINATED, _I.CANCEL): (_A.KEEP, _S.TERMINATED),
        (_S.TERMINATED, _I.SUBSCRIPTION): (_A.KEEP, _S.TERMINATED),
    },
)


DialogStep = Transition[DialogState, DialogAction] | Violation[DialogState, DialogInput]


def dialog_key(call_id: str, tag_a: str, tag_b: str) -> DialogKey:
    """Direction-free dialog id: Call-ID and the two tags in sorted order."""
    return (call_id, tag_a, tag_b) if tag_a <= tag_b else (call_id, tag_b, tag_a)


@dataclass(slots=True, eq=False)
class Dialog:
    key: DialogKey
    state: DialogState
    created_ts: float
    last_ts: float
    adopted: bool = False
    #: From tag of the dialog-forming request: that side owns the Call-ID (RFC 3261 §14.1).
    caller: str | None = None
    timer: Timer | None = None


class DialogTracker:
    """The dialog table: bounded, expiring in capture time, driven by :data:`DIALOG_TABLE`."""

    __slots__ = (
        "_by_call",
        "_count",
        "_deadlines",
        "_dialogs",
        "_expire_cb",
        "_on_evict",
        "_on_expire",
        "cap",
        "idle",
    )

    def __init__(
        self,
        deadlines: Deadlines,
        cap: int,
        idle: float,
        on_evict: Callable[[], None],
        on_expire: Callable[[], None],
        on_create: Callable[[], None] | None = None,
    ) -> None:
        self._deadlines = deadlines
        self._expire_cb = self._expire  # bound once: see timers.Timer
        self._dialogs: OrderedDict[DialogKey, Dialog] = OrderedDict()
        self._by_call: dict[str, list[Dialog]] = {}
        self.cap = cap
        self.idle = idle
        self._on_evict = on_evict
        self._on_expire = on_expire
        self._count = on_create

    def __len__(self) -> int:
        return len(self._dialogs)

    def state(self, call_id: str, tag_a: str, tag_b: str) -> DialogState | None:
        dialog = self._dialogs.get(dialog_key(call_id, tag_a, tag_b))
        return None if dialog is None else dialog.state

    def early_dialogs(self, call_id: str, tag: str) -> list[Dialog]:
        """Early dialogs of ``call_id`` one of whose tags is ``tag`` (a CANCEL reaches them all)."""
        return [
            d
            for d in self._by_call.get(call_id, ())
            if tag in d.key[1:] and d.state is DialogState.EARLY
        ]

    def caller(self, call_id: str, tag_a: str, tag_b: str) -> str | None:
        dialog = self._dialogs.get(dialog_key(call_id, tag_a, tag_b))
        return None if dialog is None else dialog.caller

    def feed(
        self,
        call_id: str,
        tag_a: str,
        tag_b: str,
        event: DialogInput,
        ts: float,
        caller: str | None = None,
    ) -> tuple[DialogState, DialogStep]:
        """Apply ``event`` to the dialog ``(call_id, tags)``; returns its state and the step.

        ``caller`` is the From tag of the dialog-forming request, when the input comes from a
        response to it."""
        key = dialog_key(call_id, tag_a, tag_b)
        dialog = self._dialogs.get(key)
        state = DialogState.NONE if dialog is None else dialog.state
        step = DIALOG_TABLE.step(state, event)
        if isinstance(step, Violation):
            if dialog is not None:
                dialog.last_ts = ts
            return state, step
        new_state = step.next_state
        if dialog is None:
            if new_state is DialogState.NONE:
                return new_state, step
            dialog = Dialog(
                key, new_state, ts, ts, adopted=step.action is DialogAction.ADOPT, caller=caller
            )
            self._insert(dialog)
        dialog.state = new_state
        dialog.last_ts = ts
        self._arm(dialog, ts)
        return new_state, step

    def _insert(self, dialog: Dialog) -> None:
        if len(self._dialogs) >= self.cap:
            oldest = next(iter(self._dialogs.values()))
            self._remove(oldest)
            self._deadlines.cancel(oldest.timer)
            self._on_evict()
        self._dialogs[dialog.key] = dialog
        self._by_call.setdefault(dialog.key[0], []).append(dialog)
        if self._count is not None:
            self._count()

    def _remove(self, dialog: Dialog) -> None:
        if self._dialogs.get(dialog.key) is dialog:
            del self._dialogs[dialog.key]
        peers = self._by_call.get(dialog.key[0])
        if peers is not None:
            if dialog in peers:
                peers.remove(dialog)
            if not peers:
                del self._by_call[dialog.key[0]]

    def _lifetime(self, dialog: Dialog) -> float:
        if dialog.state is DialogState.TERMINATED:
            return LINGER
        if dialog.state is DialogState.EARLY:
            return TIMER_C
        return self.idle

    def _arm(self, dialog: Dialog, ts: float) -> None:
        lifetime = self._lifetime(dialog)
        due = ts + lifetime
        if dialog.timer is not None and not dialog.timer.cancelled:
            if dialog.timer.due <= due:
                return  # re-checked when it fires (lazy: no heap churn per message)
            self._deadlines.cancel(dialog.timer)
        dialog.timer = self._deadlines.schedule_in(ts, lifetime, self._expire_cb, dialog)

    def _expire(self, dialog: Dialog, now: float) -> None:
        if self._dialogs.get(dialog.key) is not dialog:
            return
        lifetime = self._lifetime(dialog)
        if dialog.last_ts + lifetime > now:
            dialog.timer = self._deadlines.schedule_in(
                dialog.last_ts, lifetime, self._expire_cb, dialog
            )
            return
        self._remove(dialog)
        if dialog.state is not DialogState.TERMINATED:
            self._on_expire()

    def clear(self) -> None:
        for dialog in self._dialogs.values():
            self._deadlines.cancel(dialog.timer)
        self._dialogs.clear()
        self._by_call.clear()
