"""Transactions and exchanges as an observer on the wire sees them.

Two levels, because a capture point often sees one request several times:

* A :class:`Transaction` is one copy of a client/server transaction pair on one hop, keyed by the
  top Via branch, its sent-by and the CSeq method (RFC 3261 §17.1.3 for responses, §17.2.3 for
  requests). A branch without the ``z9hG4bK`` cookie was built by an RFC 2543 element; then the
  key falls back to Call-ID, CSeq, From tag and the top Via (§17.2.3, last paragraphs). The
  Request-URI and To tag of the 2543 rule are left out because responses do not carry the URI and
  add a To tag; they cannot tell copies of one transaction apart anyway.
* An :class:`Exchange` is one request as the UAC meant it: same Call-ID, CSeq number and method,
  and From tag. The copies a proxy forwards (it adds its own Via, so the branch differs) are
  transactions of the same exchange, one per hop. Findings are made per exchange, so a 420 relayed
  through two proxies is one finding, while every copy still gets its own message line.

An ACK for a non-2xx response has the INVITE's branch and belongs to the INVITE transaction
(§17.1.1.3); an ACK for a 2xx is a new request end to end (§13.2.2.4) and is filed under the
INVITE's exchange. A CANCEL has the INVITE's branch but is its own transaction (§9.1, §17.2.3:
the method is part of the key); its exchange points to the INVITE's through ``parent``.

The observer's transaction machine follows RFC 3261 Figures 5-8 with RFC 6026's Accepted state,
seen from outside: it only moves on what crossed the wire, and Timer B/F become "no final
response seen within 64*T1 of capture time".
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass, field
from enum import Enum
from typing import TYPE_CHECKING, Final

from sipwatch.correlate.events import Endpoint
from sipwatch.correlate.statetable import StateTable
from sipwatch.correlate.timers import Timer
from sipwatch.sip.headers import parse_params
from sipwatch.sip.message import MAGIC_COOKIE, SipMessage, branch_param

if TYPE_CHECKING:
    from sipwatch.correlate.auth import AuthChain
    from sipwatch.correlate.events import Finding
    from sipwatch.correlate.icmp import IcmpEvidence
    from sipwatch.correlate.transfer_model import Transfer

#: (Call-ID, CSeq number, method, From tag): one request as the UAC meant it.
ExchangeKey = tuple[str, int, str, str]


class TxInput(Enum):
    """What the wire showed for a transaction."""

    REQUEST = "request"  # a copy of the request on this hop
    PROVISIONAL = "provisional"  # 1xx
    SUCCESS = "success"  # 2xx
    FAILURE = "failure"  # 3xx-6xx
    ACK = "ack"  # ACK with the INVITE's branch (ACK for a non-2xx, or an RFC 2543 UA)
    TIMEOUT = "timeout"  # Timer B / F / C passed without a final response


class TxAction(Enum):
    START = "start"
    ORPHAN = "orphan"  # response whose request was not captured
    RETRANSMIT = "retransmit"
    PROCEED = "proceed"
    ACCEPT = "accept"
    COMPLETE = "complete"
    CONFIRM = "confirm"
    ABSORB = "absorb"  # retransmitted final or ACK: nothing changes
    TIME_OUT = "time-out"
    LATE = "late"  # something arrived after the observer gave up on the transaction


class InviteState(Enum):
    """RFC 3261 §17.1.1.2 (Figure 5) and RFC 6026 §7.2 states, seen from the wire."""

    INIT = "init"
    CALLING = "calling"
    PROCEEDING = "proceeding"
    COMPLETED = "completed"
    ACCEPTED = "accepted"
    CONFIRMED = "confirmed"
    TERMINATED = "terminated"


class NonInviteState(Enum):
    """RFC 3261 §17.1.2.2 (Figure 6) states, seen from the wire."""

    INIT = "init"
    TRYING = "trying"
    PROCEEDING = "proceeding"
    COMPLETED = "completed"
    TERMINATED = "terminated"


_I, _A = TxInput, TxAction
_IS = InviteState
_NS = NonInviteState

#: INVITE transactions. Missing pairs are violations, e.g. an ACK before any final response, a
#: 1xx after the final (§17.1.1.2: Completed/Accepted ignore nothing but retransmissions), or a
#: 2xx after a non-2xx on the same hop.
INVITE_TABLE: Final = StateTable[InviteState, TxInput, TxAction](
    "INVITE transaction",
    InviteState,
    TxInput,
    {
        (_IS.INIT, _I.REQUEST): (_A.START, _IS.CALLING),
        (_IS.INIT, _I.PROVISIONAL): (_A.ORPHAN, _IS.PROCEEDING),
        (_IS.INIT, _I.SUCCESS): (_A.ORPHAN, _IS.ACCEPTED),
        (_IS.INIT, _I.FAILURE): (_A.ORPHAN, _IS.COMPLETED),
        # §17.1.1.2: Calling -> Proceeding on 1xx, Completed on 300-699, Accepted (RFC 6026) on
        # 2xx, Terminated when Timer B fires.
        (_IS.CALLING, _I.REQUEST): (_A.RETRANSMIT, _IS.CALLING),
        (_IS.CALLING, _I.PROVISIONAL): (_A.PROCEED, _IS.PROCEEDING),
        (_IS.CALLING, _I.SUCCESS): (_A.ACCEPT, _IS.ACCEPTED),
        (_IS.CALLING, _I.FAILURE): (_A.COMPLETE, _IS.COMPLETED),
        (_IS.CALLING, _I.TIMEOUT): (_A.TIME_OUT, _IS.TERMINATED),
        # A retransmission seen after a 1xx: the 1xx was lost between us and the UAC.
        (_IS.PROCEEDING, _I.REQUEST): (_A.RETRANSMIT, _IS.PROCEEDING),
        (_IS.PROCEEDING, _I.PROVISIONAL): (_A.PROCEED, _IS.PROCEEDING),
        (_IS.PROCEEDING, _I.SUCCESS): (_A.ACCEPT, _IS.ACCEPTED),
        (_IS.PROCEEDING, _I.FAILURE): (_A.COMPLETE, _IS.COMPLETED),
        (_IS.PROCEEDING, _I.TIMEOUT): (_A.TIME_OUT, _IS.TERMINATED),
        # §17.2.1: in Completed the server answers request retransmissions with the final again
        # and waits for the ACK.
        (_IS.COMPLETED, _I.REQUEST): (_A.RETRANSMIT, _IS.COMPLETED),
        (_IS.COMPLETED, _I.FAILURE): (_A.ABSORB, _IS.COMPLETED),
        (_IS.COMPLETED, _I.ACK): (_A.CONFIRM, _IS.CONFIRMED),
        # RFC 6026 §7.2: Accepted absorbs request retransmissions and passes on further 2xx
        # (retransmissions, §13.3.1.4, or other forks). An ACK with the INVITE's branch is an RFC
        # 2543 ACK for the 2xx.
        (_IS.ACCEPTED, _I.REQUEST): (_A.RETRANSMIT, _IS.ACCEPTED),
        (_IS.ACCEPTED, _I.SUCCESS): (_A.ABSORB, _IS.ACCEPTED),
        (_IS.ACCEPTED, _I.ACK): (_A.ABSORB, _IS.ACCEPTED),
        # §17.2.1 Confirmed: retransmitted finals and ACKs crossing on the wire.
        (_IS.CONFIRMED, _I.REQUEST): (_A.LATE, _IS.CONFIRMED),
        (_IS.CONFIRMED, _I.FAILURE): (_A.ABSORB, _IS.CONFIRMED),
        (_IS.CONFIRMED, _I.ACK): (_A.ABSORB, _IS.CONFIRMED),
        (_IS.TERMINATED, _I.REQUEST): (_A.LATE, _IS.TERMINATED),
        (_IS.TERMINATED, _I.PROVISIONAL): (_A.LATE, _IS.TERMINATED),
        (_IS.TERMINATED, _I.SUCCESS): (_A.LATE, _IS.TERMINATED),
        (_IS.TERMINATED, _I.FAILURE): (_A.LATE, _IS.TERMINATED),
        (_IS.TERMINATED, _I.ACK): (_A.LATE, _IS.TERMINATED),
    },
)

#: Non-INVITE transactions. ACK never belongs to one (§17.1.2), so every ACK pair is missing.
NON_INVITE_TABLE: Final = StateTable[NonInviteState, TxInput, TxAction](
    "non-INVITE transaction",
    NonInviteState,
    TxInput,
    {
        (_NS.INIT, _I.REQUEST): (_A.START, _NS.TRYING),
        (_NS.INIT, _I.PROVISIONAL): (_A.ORPHAN, _NS.PROCEEDING),
        (_NS.INIT, _I.SUCCESS): (_A.ORPHAN, _NS.COMPLETED),
        (_NS.INIT, _I.FAILURE): (_A.ORPHAN, _NS.COMPLETED),
        # §17.1.2.2: Trying -> Proceeding on 1xx, Completed on any final, Terminated on Timer F;
        # retransmissions go on in Trying and Proceeding (Timer E).
        (_NS.TRYING, _I.REQUEST): (_A.RETRANSMIT, _NS.TRYING),
        (_NS.TRYING, _I.PROVISIONAL): (_A.PROCEED, _NS.PROCEEDING),
        (_NS.TRYING, _I.SUCCESS): (_A.COMPLETE, _NS.COMPLETED),
        (_NS.TRYING, _I.FAILURE): (_A.COMPLETE, _NS.COMPLETED),
        (_NS.TRYING, _I.TIMEOUT): (_A.TIME_OUT, _NS.TERMINATED),
        (_NS.PROCEEDING, _I.REQUEST): (_A.RETRANSMIT, _NS.PROCEEDING),
        (_NS.PROCEEDING, _I.PROVISIONAL): (_A.PROCEED, _NS.PROCEEDING),
        (_NS.PROCEEDING, _I.SUCCESS): (_A.COMPLETE, _NS.COMPLETED),
        (_NS.PROCEEDING, _I.FAILURE): (_A.COMPLETE, _NS.COMPLETED),
        (_NS.PROCEEDING, _I.TIMEOUT): (_A.TIME_OUT, _NS.TERMINATED),
        # §17.2.2: a server in Completed resends its final for each request retransmission.
        (_NS.COMPLETED, _I.REQUEST): (_A.RETRANSMIT, _NS.COMPLETED),
        (_NS.COMPLETED, _I.SUCCESS): (_A.ABSORB, _NS.COMPLETED),
        (_NS.COMPLETED, _I.FAILURE): (_A.ABSORB, _NS.COMPLETED),
        (_NS.TERMINATED, _I.REQUEST): (_A.LATE, _NS.TERMINATED),
        (_NS.TERMINATED, _I.PROVISIONAL): (_A.LATE, _NS.TERMINATED),
        (_NS.TERMINATED, _I.SUCCESS): (_A.LATE, _NS.TERMINATED),
        (_NS.TERMINATED, _I.FAILURE): (_A.LATE, _NS.TERMINATED),
    },
)


def response_input(status: int) -> TxInput:
    if status < 200:
        return TxInput.PROVISIONAL
    if status < 300:
        return TxInput.SUCCESS
    return TxInput.FAILURE


def via_sent_by(via: str) -> str:
    """``host:port`` of a Via value (``SIP/2.0/UDP host:port;params``), lower-cased."""
    main = via.split(";", 1)[0] if '"' not in via else parse_params(via)[0]
    parts = main.split()
    return parts[-1].lower() if parts else ""


def key_method(msg: SipMessage) -> str:
    """The method a message's transaction is keyed by: CSeq method, ACK filed under INVITE."""
    method = (msg.method if msg.kind == "request" else msg.cseq_method).upper()
    return "INVITE" if method == "ACK" else method


@dataclass(slots=True)
class Facts:
    """The header facts the correlator needs from one message, read once.

    :class:`SipMessage` parses parameters on demand (the parser stays fast); the correlator asks
    for the same tags and Via many times per message, so it reads them once here. Nothing
    changes a Facts after :func:`message_facts` made it (it is not frozen only because frozen
    dataclasses cost several times more to build, and one is built per message).
    """

    call_id: str
    cseq: int
    method: str  # request method, or the CSeq method of a response; upper case
    from_tag: str
    to_tag: str
    top_via: str
    via_count: int
    branch: str
    tx_key: str

    @property
    def ex_key(self) -> ExchangeKey:
        return (self.call_id, self.cseq, self.method, self.from_tag)


#: Top Via values -> the ``branch|sent-by|`` prefix of their transaction key ("" for an RFC 2543
#: branch). A transaction's responses repeat its top Via, so most messages are found here.
#: Emptied when full, so memory stays bounded. (Tags and branches themselves come from the
#: message's own memo, :func:`sipwatch.sip.message.tag_param`, shared with every renderer.)
_VIA_KEYS: dict[str, str] = {}
_MEMO_MAX: Final = 8192


def _via_key_prefix(top: str, branch: str) -> str:
    found = _VIA_KEYS.get(top)
    if found is None:
        found = f"{branch}|{via_sent_by(top)}|" if branch.startswith(MAGIC_COOKIE) else ""
        if len(_VIA_KEYS) >= _MEMO_MAX:
            _VIA_KEYS.clear()
        _VIA_KEYS[top] = found
    return found


def message_facts(msg: SipMessage) -> Facts:
    """Read the facts of ``msg`` and compute its transaction key (RFC 3261 §17.1.3, §17.2.3)."""
    # Direct index reads: the parser keys ``index`` by lower-case long names (compact forms
    # already expanded), and this runs for every message.
    index, headers = msg.index, msg.headers
    positions = index.get("via")
    if positions is None:
        vias = []
    elif len(positions) == 1:
        vias = [headers[positions[0]][1]]
    else:
        vias = [headers[i][1] for i in positions]
    for v in vias:
        if "," in v:  # several Vias folded into one line (§7.3.1)
            vias = msg.header_values("via")
            break
    top = vias[0] if vias else ""
    branch = branch_param(top) if top else ""
    prefix = _via_key_prefix(top, branch)
    call_id = msg.call_id
    cseq, cseq_method = msg.cseq
    method = (msg.method if msg.kind == "request" else cseq_method).upper()
    key_m = "INVITE" if method == "ACK" else method
    from_tag = msg.from_tag
    to_tag = msg.to_tag
    if prefix:
        key = prefix + key_m
    else:
        # RFC 2543 fallback: no unique branch, so match on the dialog-ish fields and the top
        # Via (protocol and sent-by only: the server adds received/rport to the copy in
        # responses).
        via = " ".join(parse_params(top)[0].split()).lower()
        key = f"2543|{call_id}|{cseq}|{key_m}|{from_tag}|{via}"
    return Facts(call_id, cseq, method, from_tag, to_tag, top, len(vias), branch, key)


def transaction_key(msg: SipMessage) -> str:
    """The transaction a message belongs to on its hop (RFC 3261 §17.1.3, §17.2.3)."""
    return message_facts(msg).tx_key


def exchange_key(msg: SipMessage) -> ExchangeKey:
    """(Call-ID, CSeq number, method, From tag) of a message."""
    return message_facts(msg).ex_key


@dataclass(slots=True, eq=False)
class Transaction:
    """One hop's copy of an exchange (see module docstring)."""

    key: str
    exchange: Exchange
    hop: int
    invite: bool
    state: InviteState | NonInviteState
    src: Endpoint | None = None  # the request's sender on this hop
    dst: Endpoint | None = None
    via_count: int = 0
    request_frame: int | None = None
    request_ts: float | None = None
    request_copies: int = 0
    #: (status, To tag, RSeq) of each distinct response on this hop -> frame of its first copy;
    #: later identical copies are retransmissions.
    responses: dict[tuple[int, str, str], int] = field(default_factory=dict)
    #: How many copies of each response seen more than once (made by the first retransmission:
    #: most responses are sent once, and a per-response record cost ~90 bytes for 32 s).
    response_copies: dict[tuple[int, str, str], int] | None = None
    final: int | None = None
    final_frame: int | None = None
    final_ts: float | None = None
    final_src: Endpoint | None = None
    final_to_tag: str = ""
    ack_frame: int | None = None
    ack_copies: int = 0


@dataclass(slots=True, eq=False)
class Observation:
    """A header worth a finding of its own, seen on one message of the exchange.

    ``kind`` is ``reason``, ``warning-header`` or ``unregistered-option-tag``.
    """

    kind: str
    frame: int
    ts: float
    method: str
    status: int | None
    header: str
    value: str
    src: Endpoint


@dataclass(slots=True, eq=False)
class Exchange:
    """One request as the UAC meant it, with every hop copy, response, ACK and CANCEL."""

    key: ExchangeKey
    first_ts: float
    request: SipMessage | None = None
    request_frame: int | None = None
    request_ts: float | None = None
    request_src: Endpoint | None = None
    request_dst: Endpoint | None = None
    transactions: list[Transaction] = field(default_factory=list)
    frames: list[int] = field(default_factory=list)
    last_ts: float = 0.0
    provisional: int | None = None
    provisional_ts: float | None = None
    final: int | None = None
    final_msg: SipMessage | None = None
    final_reason: str = ""
    final_frame: int | None = None
    final_ts: float | None = None
    final_src: Endpoint | None = None
    final_depth: int = 0  # Via count of the transaction the authoritative final came on
    #: (status, To tag) -> frame of its first copy on any hop (later hops are copies of it).
    response_ids: dict[tuple[int, str], int] = field(default_factory=dict)
    #: (ACK transaction key, src, dst) -> frame, to tell ACK retransmissions from hop copies;
    #: made by the first ACK for a 2xx (most exchanges never need one).
    ack_ids: dict[tuple[str, Endpoint | None, Endpoint | None], int] | None = None
    deadline: float = 0.0  # when Timer B/F/C fires (moved by provisionals for INVITE)
    settled: bool = False
    timed_out: bool = False
    closed: bool = False
    retry_of: Exchange | None = None
    retry: Exchange | None = None
    parent: Exchange | None = None  # a CANCEL's INVITE
    cancel_frame: int | None = None
    cancel_ts: float | None = None
    ack_frame: int | None = None
    transfer: Transfer | None = None
    auth_chain: AuthChain | None = None
    held: str | None = None  # finding kind waiting for the retry to resolve
    observations: list[Observation] | None = None  # made by the first one (they are rare)
    timer_due: Timer | None = None  # settle or timeout, whichever is armed
    timer_retry: Timer | None = None
    timer_close: Timer | None = None
    resolved_retry: bool = False
    name: str = ""  # cache of label
    #: The request carried a To tag: it is sent inside a dialog, so it cannot form one (§12.1).
    in_dialog: bool = False
    #: The first ICMP error that quoted a message of this exchange (RFC 3261 §18.4).
    icmp: IcmpEvidence | None = None
    #: A file run's ``no-final-response`` held until the exchange closes: a final response
    #: arriving after Timer B/F replaces it (see :meth:`Lifecycle.late_final`).
    held_timeout: Finding | None = None
    #: The id of the ``no-final-response`` already emitted (live), which a late final revises.
    timeout_id: int | None = None
    #: Seconds from the final response to the end of the capture, when the capture ended while
    #: the UAC could still retry (inside the retry window): no conclusion about a retry holds.
    retry_cut: float | None = None

    # The parts of ``key``, as attributes: every handler reads them, several times per message,
    # and a property call costs several times an attribute read (8 bytes each per exchange).
    call_id: str = field(init=False)
    cseq: int = field(init=False)
    method: str = field(init=False)
    from_tag: str = field(init=False)
    invite: bool = field(init=False)

    def __post_init__(self) -> None:
        self.call_id, self.cseq, self.method, self.from_tag = self.key
        self.invite = self.method == "INVITE"

    @property
    def label(self) -> str:
        """``Call-ID CSeq METHOD From-tag``: how MessageInfo names the exchange."""
        if not self.name:
            self.name = f"{self.call_id} {self.cseq} {self.method} {self.from_tag}"
        return self.name

    def add_frame(self, frame: int, cap: int) -> bool:
        """Record a frame of this exchange (bounded); False when the cap dropped it."""
        if self.frames and self.frames[-1] == frame:
            return True
        if len(self.frames) >= cap:
            return False
        self.frames.append(frame)
        return True

    def max_request_copies(self) -> int:
        return max((tx.request_copies for tx in self.transactions), default=0)


def retry_key(ex: Exchange) -> tuple[str, str, str]:
    """What a retry of ``ex`` shares with it: Call-ID, method and, inside a dialog, From tag.

    RFC 3261 §8.1.3.5 and §22.2 make a retry a new request with the same Call-ID and a higher
    CSeq. Inside a dialog the From tag is the dialog's own (§12.2.1.1), so it must match. Outside
    one, §8.1.1.3 has the UAC choose a new tag for each request, and many registrars' clients do
    exactly that between a 401 and the REGISTER with credentials (§10.2 keeps only the Call-ID
    and the CSeq sequence): keying those on the From tag took the retry for an unrelated request
    and reported "no retry with credentials" for a UA whose retry succeeded.
    """
    return (ex.call_id, ex.method, ex.from_tag if ex.in_dialog else "")


class ExchangeTable:
    """Exchanges by key and transactions by key, with a cap and oldest-first eviction."""

    __slots__ = ("_by_call", "_exchanges", "_tx", "cap")

    def __init__(self, cap: int) -> None:
        self.cap = cap
        self._exchanges: OrderedDict[ExchangeKey, Exchange] = OrderedDict()
        self._tx: dict[str, list[Transaction]] = {}
        self._by_call: dict[str, list[Exchange]] = {}

    def __len__(self) -> int:
        return len(self._exchanges)

    def values(self) -> list[Exchange]:
        return list(self._exchanges.values())

    def since(self, ts: float) -> Iterator[Exchange]:
        """The open exchanges that began at or after capture time ``ts``, newest first.

        The table is in insertion order and the correlator's clock never goes back, so this
        stops at the first older one instead of walking the whole table (do not change the
        table while iterating).
        """
        for exchange in reversed(self._exchanges.values()):
            if exchange.first_ts < ts:
                return
            yield exchange

    def get(self, key: ExchangeKey) -> Exchange | None:
        return self._exchanges.get(key)

    def in_call(self, call_id: str) -> list[Exchange]:
        return list(self._by_call.get(call_id, ()))

    def add(self, exchange: Exchange) -> Exchange | None:
        """Insert; returns the oldest exchange when the cap forces it out (caller closes it)."""
        evicted: Exchange | None = None
        if len(self._exchanges) >= self.cap:
            _, evicted = next(iter(self._exchanges.items()))
            self.remove(evicted)
        self._exchanges[exchange.key] = exchange
        self._by_call.setdefault(exchange.call_id, []).append(exchange)
        return evicted

    def remove(self, exchange: Exchange) -> None:
        if self._exchanges.get(exchange.key) is exchange:
            del self._exchanges[exchange.key]
        calls = self._by_call.get(exchange.call_id)
        if calls is not None:
            if exchange in calls:
                calls.remove(exchange)
            if not calls:
                del self._by_call[exchange.call_id]
        for tx in exchange.transactions:
            copies = self._tx.get(tx.key)
            if copies is not None:
                if tx in copies:
                    copies.remove(tx)
                if not copies:
                    del self._tx[tx.key]

    def transactions(self, key: str) -> list[Transaction]:
        return self._tx.get(key, [])

    def add_transaction(self, tx: Transaction) -> None:
        self._tx.setdefault(tx.key, []).append(tx)
        tx.exchange.transactions.append(tx)
