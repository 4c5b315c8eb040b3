"""Every (state, input) pair of every state machine, walked through the code that runs it.

A pair in a table must lead to its listed state through the tracker's own handling; a pair not
in the table must come back as a violation (a note and one ``protocol-violation`` finding), leave
the state alone, and never raise (DESIGN §2 rule 2).
"""

from __future__ import annotations

from itertools import product
from typing import Any

import pytest

from sipwatch.correlate.context import Reporter
from sipwatch.correlate.dialogs import (
    DIALOG_TABLE,
    DialogInput,
    DialogState,
    DialogTracker,
)
from sipwatch.correlate.events import TRANSFER_OUTCOMES, CorrelatorStats
from sipwatch.correlate.refer import TransferTracker
from sipwatch.correlate.statetable import StateTable, Transition, Violation
from sipwatch.correlate.timers import Deadlines
from sipwatch.correlate.transactions import (
    INVITE_TABLE,
    NON_INVITE_TABLE,
    Exchange,
    InviteState,
    NonInviteState,
    Transaction,
    TxInput,
)
from sipwatch.correlate.transfer_model import (
    TRANSFER_TABLE,
    Attempt,
    Transfer,
    TransferInput,
    TransferState,
)
from tests.test_correlate_factory import Run

TABLES: list[StateTable[Any, Any, Any]] = [
    INVITE_TABLE,
    NON_INVITE_TABLE,
    DIALOG_TABLE,
    TRANSFER_TABLE,
]


@pytest.mark.parametrize("table", TABLES, ids=lambda t: t.name)
def test_every_pair_steps_without_raising(table: StateTable[Any, Any, Any]) -> None:
    pairs = table.pairs()
    assert len(pairs) == len(table.states.__members__) * len(table.inputs.__members__)
    for state, event in pairs:
        step = table.step(state, event)
        if table.allows(state, event):
            assert isinstance(step, Transition) and step.next_state in table.states
        else:
            assert isinstance(step, Violation)
            assert step.state is state and step.input is event
            assert state.value in step.describe() and event.value in step.describe()


def test_documented_violations_are_missing_pairs() -> None:
    assert not INVITE_TABLE.allows(InviteState.CALLING, TxInput.ACK)
    assert not INVITE_TABLE.allows(InviteState.COMPLETED, TxInput.PROVISIONAL)
    assert not INVITE_TABLE.allows(InviteState.COMPLETED, TxInput.SUCCESS)
    assert not INVITE_TABLE.allows(InviteState.ACCEPTED, TxInput.FAILURE)
    assert all(not NON_INVITE_TABLE.allows(s, TxInput.ACK) for s in NonInviteState)
    assert not DIALOG_TABLE.allows(DialogState.EARLY, DialogInput.ACK)
    assert not DIALOG_TABLE.allows(DialogState.CONFIRMED, DialogInput.FAILURE)
    assert not DIALOG_TABLE.allows(DialogState.TERMINATED, DialogInput.REQUEST)
    assert DIALOG_TABLE.allows(DialogState.TERMINATED, DialogInput.SUBSCRIPTION)  # RFC 5057
    assert all(not TRANSFER_TABLE.allows(TransferState.DONE, i) for i in TransferInput)
    assert TRANSFER_TABLE.allows(TransferState.REFERRED, TransferInput.NOTIFY)  # RFC 3515 §2.4.4


# -- transactions, through the correlator's lifecycle ----------------------------------------


@pytest.mark.parametrize(
    ("state", "event"),
    list(product(InviteState, TxInput)) + list(product(NonInviteState, TxInput)),
    ids=lambda v: getattr(v, "value", str(v)),
)
def test_transaction_pairs_through_lifecycle(
    state: InviteState | NonInviteState, event: TxInput
) -> None:
    run = Run()
    life = run.correlator._life
    invite = isinstance(state, InviteState)
    ex = Exchange(key=("c", 1, "INVITE" if invite else "OPTIONS", "a"), first_ts=0.0)
    tx = Transaction(key="k", exchange=ex, hop=1, invite=invite, state=state)
    table = INVITE_TABLE if invite else NON_INVITE_TABLE
    action = life.step_tx(tx, event, 1.0, 7)
    findings = run.correlator._reporter.take_findings()
    if table.allows(state, event):  # type: ignore[arg-type]
        assert action is not None and tx.state is table.table[(state, event)].next_state  # type: ignore[index]
        assert findings == []
    else:
        assert action is None and tx.state is state
        assert [f.kind for f in findings] == ["protocol-violation"]
        assert findings[0].get("machine") == table.name and 7 in findings[0].frames


# -- dialogs, through the tracker -------------------------------------------------------------

_SETUP: dict[DialogState, list[DialogInput]] = {
    DialogState.NONE: [],
    DialogState.EARLY: [DialogInput.PROVISIONAL],
    DialogState.CONFIRMED: [DialogInput.SUCCESS],
    DialogState.TERMINATED: [DialogInput.SUCCESS, DialogInput.BYE],
}


@pytest.mark.parametrize(
    ("state", "event"), list(product(DialogState, DialogInput)), ids=lambda v: v.value
)
def test_dialog_pairs_through_tracker(state: DialogState, event: DialogInput) -> None:
    tracker = DialogTracker(Deadlines(), 10, 100.0, on_evict=lambda: None, on_expire=lambda: None)
    for setup in _SETUP[state]:
        tracker.feed("call", "a", "b", setup, 0.0)
    assert (tracker.state("call", "b", "a") or DialogState.NONE) is state  # direction-free key
    new_state, step = tracker.feed("call", "b", "a", event, 1.0)
    if DIALOG_TABLE.allows(state, event):
        assert isinstance(step, Transition) and new_state is step.next_state
        assert (tracker.state("call", "a", "b") or DialogState.NONE) is step.next_state
    else:
        assert isinstance(step, Violation) and new_state is state
        assert (tracker.state("call", "a", "b") or DialogState.NONE) is state


# -- transfers, through the tracker -----------------------------------------------------------


@pytest.mark.parametrize(
    ("state", "event"), list(product(TransferState, TransferInput)), ids=lambda v: v.value
)
def test_transfer_pairs_through_tracker(state: TransferState, event: TransferInput) -> None:
    stats = CorrelatorStats()
    reporter = Reporter(stats, 100)
    deadlines = Deadlines()
    tracker = TransferTracker(
        reporter,
        deadlines,
        stats,
        notify_timeout=32.0,
        idle=300.0,
        settle=0.5,
        cap=10,
        frame_cap=64,
    )
    transfer = Transfer(
        ident=1,
        call_id="call",
        referrer_tag="a",
        first_ts=0.0,
        refer_frame=1,
        referrer=("10.0.0.1", 5060),
        referee=("10.0.0.2", 5060),
        refer_to="<sip:c@h>",
        replaces=None,
        refer_sub_requested=None,
        attempts=[Attempt(5, 1, 0.0)],
        state=state,
        accept_ts=0.5,
    )
    tracker._step(transfer, event, 1.0, 9)
    after_step = transfer.state
    deadlines.pop_due(10_000.0)  # emission after the settle delay, idle timers
    findings = reporter.take_findings()
    if TRANSFER_TABLE.allows(state, event):
        expected = TRANSFER_TABLE.table[(state, event)].next_state
        assert after_step is expected
        if expected is TransferState.DONE:
            assert transfer.outcome in TRANSFER_OUTCOMES
            assert [f.kind for f in findings] == ["transfer"]
            assert findings[0].outcome == transfer.outcome
        else:
            assert all(f.kind == "transfer" for f in findings)  # idle timers may conclude later
    else:
        assert after_step is state
        assert [f.kind for f in findings][:1] == ["protocol-violation"]
        assert findings[0].get("machine") == "transfer"


def test_transfer_outcome_mapping() -> None:
    """Which concluding pair gives which outcome (data-free transfers: no sipfrag seen)."""
    expected = {
        (TransferState.REFERRED, TransferInput.REJECT): "rejected",
        (TransferState.REFERRED, TransferInput.REFER_TIMEOUT): "rejected",
        (TransferState.REFERRED, TransferInput.ACCEPT_NOSUB): "no-subscription",
        (TransferState.REFERRED, TransferInput.CLOSE): "in-progress",
        (TransferState.CHALLENGED, TransferInput.CLOSE): "rejected",
        (TransferState.ACCEPTED, TransferInput.TIMEOUT): "no-notify",
        (TransferState.ACCEPTED, TransferInput.NOTIFY_TERMINATED): "failed",
        (TransferState.ACTIVE, TransferInput.CLOSE): "in-progress",
    }
    for (state, event), outcome in expected.items():
        stats = CorrelatorStats()
        reporter = Reporter(stats, 10)
        tracker = TransferTracker(
            reporter,
            Deadlines(),
            stats,
            notify_timeout=32,
            idle=300,
            settle=0.5,
            cap=5,
            frame_cap=8,
        )
        transfer = Transfer(1, "c", "a", 0.0, 1, None, None, "<sip:x@y>", None, None, state=state)
        tracker._step(transfer, event, 1.0, None)
        assert transfer.outcome == outcome, (state, event)
