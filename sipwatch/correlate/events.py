"""What the correlator hands back: one :class:`MessageInfo` per message, and :class:`Finding`\\ s.

The correlator is sans-I/O (DESIGN §2 rule 1): :meth:`Correlator.feed`, ``expire`` and ``finish``
return lists of these events and nothing else. Findings and notes are frozen so a renderer or the
annotator can keep them without fear that later traffic changes what was reported; MessageInfo is
read-only by contract (see its docstring).

Ordering contract of one returned list: findings whose timers fell due *before* the message come
first, then the message's :class:`MessageInfo`, then findings the message itself completed. Every
finding appears exactly once in the whole event stream, as its own event; ``MessageInfo`` only
carries short :class:`Note`\\ s about its own message.

:meth:`Finding.to_json` is the ``"type": "finding"`` line of the JSON lines contract (DESIGN §3,
docs/findings.md): the common keys, then the fields of its kind in ``details``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from itertools import repeat
from operator import call
from typing import Any, Final, Literal, TypeAlias, TypeVar

from sipwatch.sip.message import SipMessage

Severity = Literal["info", "warning", "error"]
SEVERITY_RANK: Final[dict[str, int]] = {"info": 0, "warning": 1, "error": 2}

#: (IP address as text, port); the same shape as ``sipwatch.capture.types.Endpoint``, restated
#: here because the correlate layer may import only ``sip`` (DESIGN §2 layering table).
Endpoint: TypeAlias = tuple[str, int]

#: A JSON value as kind fields hold it. Sequences and mappings (not lists and dicts) so tuples and
#: read-only mappings fit; :meth:`Finding.to_json` turns them into plain lists and dicts.
JsonValue: TypeAlias = (
    "bool | int | float | str | Sequence[JsonValue] | Mapping[str, JsonValue] | None"
)

#: Version of the JSON lines contract (DESIGN §3).
SCHEMA_VERSION: Final = 1

#: Every finding kind the correlator emits (docs/findings.md describes each).
FINDING_KINDS: Final[tuple[str, ...]] = (
    "bad-extension",
    "extension-required",
    "transfer",
    "notify-rejected",
    "auth-challenge",
    "auth-loop",
    "session-interval-too-small",
    "interval-too-brief",
    "glare",
    "redirect",
    "server-error",
    "unavailable",
    "request-failed",
    "no-final-response",
    "late-response",
    "retransmissions",
    "icmp-error",
    "reason",
    "warning-header",
    "unregistered-option-tag",
    "protocol-violation",
    "tls-failure",
)

#: The outcome vocabulary of ``transfer`` findings (DESIGN §3), exactly.
TRANSFER_OUTCOMES: Final[tuple[str, ...]] = (
    "succeeded",
    "failed",
    "rejected",
    "no-subscription",
    "no-notify",
    "in-progress",
)


def format_endpoint(endpoint: Endpoint | None) -> str:
    """``"ip:port"``, or ``"[v6addr]:port"`` for IPv6 (the JSON contract's form)."""
    if endpoint is None:
        return "?"
    host, port = endpoint
    if ":" in host:
        return f"[{host}]:{port}"
    return f"{host}:{port}"


def _plain(value: JsonValue) -> object:
    """Deep copy of a JSON value with every sequence a list and every mapping a dict."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    return [_plain(v) for v in value]


@dataclass(frozen=True, slots=True)
class Finding:
    """One correlated exchange worth a human's attention (DESIGN §3 ``"type": "finding"``).

    ``details`` holds the fields of the kind (e.g. ``outcome`` for ``transfer``), in the order
    docs/findings.md lists them. ``remedy`` is ``""`` when the correlator knows nothing more
    specific than the knowledge base; the annotator fills it then.
    """

    kind: str
    severity: Severity
    ts: float
    call_id: str
    frames: tuple[int, ...]
    text: str
    remedy: str
    details: Mapping[str, JsonValue] = field(default_factory=dict, hash=False)

    def get(self, key: str, default: JsonValue = None) -> JsonValue:
        """A kind field, or ``default``."""
        return self.details.get(key, default)

    @property
    def outcome(self) -> str | None:
        """The transfer outcome (``transfer`` findings), else None: summaries count by it."""
        value = self.details.get("outcome")
        return value if isinstance(value, str) else None

    def with_changes(
        self,
        *,
        remedy: str | None = None,
        text: str | None = None,
        details: Mapping[str, JsonValue] | None = None,
    ) -> Finding:
        """A copy with some parts replaced (the annotator enriches findings this way)."""
        return replace(
            self,
            remedy=self.remedy if remedy is None else remedy,
            text=self.text if text is None else text,
            details=self.details if details is None else details,
        )

    def to_json(self) -> dict[str, Any]:
        """The JSON lines object: schema, type, common keys, then the kind's fields."""
        out: dict[str, Any] = {
            "schema": SCHEMA_VERSION,
            "type": "finding",
            "kind": self.kind,
            "severity": self.severity,
            "ts": self.ts,
            "call_id": self.call_id,
            "frames": list(self.frames),
            "text": self.text,
            "remedy": self.remedy,
        }
        for key, value in self.details.items():
            if key not in out:
                out[key] = _plain(value)
        return out


@dataclass(frozen=True, slots=True)
class Note:
    """A remark about one message: what it is in its exchange, or what is wrong with it."""

    text: str
    severity: Severity = "info"
    remedy: str | None = None


@dataclass(frozen=True, slots=True)
class RequestRef:
    """The request a response answers (or an ACK/CANCEL refers to): where and when it was seen."""

    method: str
    cseq: int
    frame: int
    ts: float


@dataclass(slots=True, eq=False)
class MessageInfo:
    """What the correlator learnt about one message (one per copy on the wire).

    Read-only by contract: the correlator never changes one after returning it, and consumers
    must not either. Unlike the other events it is not a frozen dataclass, because one is made
    for every message and a frozen dataclass with this many fields costs about ten times more to
    build (each field goes through ``object.__setattr__``).

    ``hop`` is 1 for the first copy of an exchange's message and 2, 3... for the copies seen on
    later hops (through proxies: same Call-ID, CSeq and From tag, another top Via branch);
    ``copy_of`` then names the frame of the first copy. ``retransmission_of`` names the frame
    this message repeats on the same hop. ``dialog_state`` is ``early``, ``confirmed``,
    ``terminated`` or None (no dialog yet, or not dialog-related).
    """

    ts: float
    frame: int
    src: Endpoint
    dst: Endpoint
    transport: str
    msg: SipMessage
    transaction: str
    exchange: str
    retransmission: bool = False
    retransmission_of: int | None = None
    hop: int = 1
    copy_of: int | None = None
    dialog_state: str | None = None
    answers: RequestRef | None = None
    notes: tuple[Note, ...] = ()

    @property
    def severity(self) -> Severity | None:
        """The worst severity among the notes, or None when there are none."""
        worst: Severity | None = None
        if not self.notes:
            return worst
        for note in self.notes:
            if worst is None or SEVERITY_RANK[note.severity] > SEVERITY_RANK[worst]:
                worst = note.severity
        return worst

    @property
    def problem(self) -> bool:
        """True when a note says something is wrong (warning or error)."""
        notes = self.notes
        return bool(notes) and any(note.severity != "info" for note in notes)


Event = MessageInfo | Finding

_T = TypeVar("_T")


def frozen_builder(cls: type[_T]) -> Callable[..., _T]:
    """A fast constructor for a frozen, slotted dataclass: ``build(*every_field_in_order)``.

    The correlator makes a :class:`Note` or a :class:`RequestRef` for most messages. A frozen
    dataclass's ``__init__`` sets each field through ``object.__setattr__`` (it must bypass the
    class's own, raising ``__setattr__``), which costs several times a plain assignment; this
    sets the slots through their descriptors in one C-level pass instead. The result is the
    same object ``cls(*values)`` would give (no defaults are filled and no ``__post_init__``
    runs: pass every field, in declaration order).
    """
    new = object.__new__
    try:
        new(cls)
        setters = [getattr(cls, f.name).__set__ for f in fields(cls)]  # type: ignore[arg-type]
    except (TypeError, AttributeError):
        # Not a plain slotted class (compiled with mypyc, for one): its own constructor is the
        # fast one there.
        return cls

    def build(*values: object) -> _T:
        obj = new(cls)
        any(map(call, setters, repeat(obj), values))
        return obj

    return build


new_note: Final[Callable[[str, Severity, str | None], Note]] = frozen_builder(Note)
new_request_ref: Final[Callable[[str, int, int, float], RequestRef]] = frozen_builder(RequestRef)


@dataclass(slots=True)
class CorrelatorStats:
    """Counters for the run summary: what was tracked, and what the bounds cost.

    Every table has a cap (sngrep silently stops at 20,000 dialogs; we evict the oldest entry and
    count it here instead), and every entry expires on an RFC timer in capture time.
    """

    messages: int = 0
    retransmissions: int = 0
    hop_copies: int = 0
    exchanges: int = 0
    orphan_responses: int = 0
    dialogs: int = 0
    transfers: int = 0
    violations: int = 0
    findings: Counter[str] = field(default_factory=Counter)
    evicted: Counter[str] = field(default_factory=Counter)
    expired: Counter[str] = field(default_factory=Counter)
    truncated_frames: int = 0
    #: Steps of capture time over a day: timers were moved across each (never judged over it).
    clock_jumps: int = 0

    @property
    def evictions(self) -> Counter[str]:
        """Entries dropped because a table was full, by table (the summary's ``evictions``)."""
        return self.evicted

    def to_json(self) -> dict[str, object]:
        return {
            "messages": self.messages,
            "retransmissions": self.retransmissions,
            "hop_copies": self.hop_copies,
            "exchanges": self.exchanges,
            "orphan_responses": self.orphan_responses,
            "dialogs": self.dialogs,
            "transfers": self.transfers,
            "violations": self.violations,
            "findings": dict(sorted(self.findings.items())),
            "evicted": dict(sorted(self.evicted.items())),
            "expired": dict(sorted(self.expired.items())),
            "truncated_frames": self.truncated_frames,
            "clock_jumps": self.clock_jumps,
        }
