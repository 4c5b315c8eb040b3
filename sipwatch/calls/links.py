"""Which calls belong together, and by what evidence.

Each rule reads headers of a message and links two Call-IDs both ways. The indexes behind
them are bounded (:data:`INDEX_MAX` entries each, oldest dropped first), like every table
keyed by wire values (docs/limits.md).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping
from typing import Final

from sipwatch.calls.model import Call
from sipwatch.sip.message import SipMessage
from sipwatch.sip.uri import parse_address, refer_to_replaces

INDEX_MAX: Final = 4096
#: Headers in which B2BUAs (Asterisk, FreeSWITCH, SBCs) carry the Call-ID of the other leg.
B2BUA_HEADERS: Final[tuple[str, ...]] = (
    "x-call-id",
    "x-orig-call-id",
    "x-original-call-id",
    "x-cid",
    "x-leg-call-id",
)
#: How long after a REFER the INVITE it caused may start (RFC 3515's NOTIFY wait, 32 s).
TRANSFER_WINDOW: Final = 32.0
#: The same From and To users starting calls this close are linked, as a guess.
GUESS_WINDOW: Final = 1.0


def _put(index: OrderedDict[str, tuple[float, str]], key: str, value: tuple[float, str]) -> None:
    index[key] = value
    index.move_to_end(key)
    while len(index) > INDEX_MAX:
        index.popitem(last=False)


def _link(calls: Mapping[str, Call], a: str, b: str, relation: str, evidence: str) -> None:
    guess = relation == "same-parties"
    for one, other in ((a, b), (b, a)):
        call = calls.get(one)
        if call is not None:
            call.link(other, relation, evidence, guess)
    if relation in ("b2bua", "session-id") and a in calls and b in calls:
        _mark_b2bua(calls[a], calls[b])


def _host(address: str) -> str:
    return address.rpartition(":")[0] if ":" in address else address


def _mark_b2bua(a: Call, b: Call) -> None:
    """The element on both legs of calls a B2BUA bridges is that B2BUA (RFC 7092 §3.1: it
    terminates one dialog and originates the other), whatever port each leg uses."""
    shared = {_host(x) for x in a.elements} & {_host(x) for x in b.elements}
    for call in (a, b):
        for address, element in call.elements.items():
            if _host(address) in shared:
                element.role = "B2BUA"


def _session_uuids(value: str) -> set[str]:
    """The non-null UUIDs of a Session-ID value (RFC 7989 §5: local-uuid;remote=uuid)."""
    local, _, params = value.partition(";")
    uuids = {local.strip().lower()}
    for param in params.split(";"):
        name, _, uuid = param.partition("=")
        if name.strip().lower() == "remote":
            uuids.add(uuid.strip().lower())
    # §7: the null UUID stands for "not known yet" and ties nothing together.
    return {u for u in uuids if u and set(u) != {"0"}}


class Linker:
    """Indexes of recent evidence; fed by the tracker for every new call and request."""

    def __init__(self) -> None:
        #: Refer-To user -> (ts of the REFER, its Call-ID).
        self._refers: OrderedDict[str, tuple[float, str]] = OrderedDict()
        #: Session-ID UUID -> (ts, Call-ID that carried it first).
        self._sessions: OrderedDict[str, tuple[float, str]] = OrderedDict()
        #: "from-user\0to-user" -> (ts, Call-ID of the last call between them).
        self._parties: OrderedDict[str, tuple[float, str]] = OrderedDict()

    def opened(self, call: Call, msg: SipMessage, ts: float, calls: Mapping[str, Call]) -> None:
        """A new Call-ID: look for the calls it continues."""
        call_id = call.call_id
        for name, value in msg.headers:
            other = value.strip()
            if name.lower() in B2BUA_HEADERS and other and other != call_id:
                _link(calls, call_id, other, "b2bua", f"{name}: {other}")
        if msg.kind == "request" and msg.method == "INVITE":
            self._transfer(call, msg, ts, calls)
        users = f"{call.from_party.user}\0{call.to_party.user}"
        if call.from_party.user and call.to_party.user:
            seen = self._parties.get(users)
            if seen is not None and ts - seen[0] <= GUESS_WINDOW and seen[1] in calls:
                evidence = (
                    f"same From and To users ({call.from_party.user} to {call.to_party.user}) "
                    f"{(ts - seen[0]) * 1000:.0f} ms apart"
                )
                _link(calls, seen[1], call_id, "same-parties", evidence)
            _put(self._parties, users, (ts, call_id))

    def request(self, call: Call, msg: SipMessage, ts: float, calls: Mapping[str, Call]) -> None:
        """Every request: REFERs and Session-IDs are remembered."""
        if msg.method == "REFER":
            refer_to = msg.header("refer-to") or ""
            uri = parse_address(refer_to)
            if uri is not None and uri.user:
                _put(self._refers, uri.user.lower(), (ts, call.call_id))
            replaces = refer_to_replaces(refer_to)
            if replaces is not None:
                _link(calls, call.call_id, replaces.call_id, "replaces", "Refer-To ?Replaces=")
        session = msg.header("session-id")
        if session:
            for uuid in _session_uuids(session):
                seen = self._sessions.get(uuid)
                if seen is None:
                    _put(self._sessions, uuid, (ts, call.call_id))
                elif seen[1] != call.call_id:
                    _link(calls, seen[1], call.call_id, "session-id", f"Session-ID {uuid}")

    def _transfer(self, call: Call, msg: SipMessage, ts: float, calls: Mapping[str, Call]) -> None:
        # RFC 3891 §3: the INVITE names the dialog it replaces.
        replaces = msg.header("replaces")
        if replaces:
            other = replaces.split(";", 1)[0].strip()
            if other:
                _link(calls, call.call_id, other, "replaces", "Replaces header")
        # RFC 3515 §2.4.6 / RFC 3892: the INVITE a REFER caused goes to the Refer-To URI and
        # may carry Referred-By.
        target = parse_address(msg.uri or "") if msg.uri else None
        if target is None or not target.user:
            return
        seen = self._refers.get(target.user.lower())
        if seen is None or ts - seen[0] > TRANSFER_WINDOW or seen[1] == call.call_id:
            return
        evidence = "Referred-By and Refer-To" if msg.has_header("referred-by") else "Refer-To"
        _link(calls, seen[1], call.call_id, "transfer", f"{evidence} {target.user}")
