"""Build calls from the pipeline's records, in capture order, with bounded memory.

The tracker sees every message copy and every finding. Per Call-ID it keeps one
:class:`~sipwatch.calls.model.Call`; calls beyond :data:`MAX_CALLS` evict the oldest (counted
in :attr:`CallTracker.evicted`, docs/limits.md), and each call keeps at most
:data:`MAX_MESSAGES_PER_CALL` messages (the rest counted in ``dropped_messages``).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable
from typing import Final

from sipwatch.calls.findings import finding_call_id, finding_view
from sipwatch.calls.links import Linker
from sipwatch.calls.model import Call, CallMessage, Element, Party
from sipwatch.records import FindingRecord, MessageRecord, Record
from sipwatch.sip.message import SipMessage
from sipwatch.sip.uri import parse_address, split_name_addr

MAX_CALLS: Final = 50_000
MAX_MESSAGES_PER_CALL: Final = 2_000
#: Capture seconds a finished call is kept after its last message before :meth:`expire`
#: hands it out: 64*T1, the longest a transaction of it can still retransmit or time out
#: (RFC 3261 §17.2.1 Timer H, §17.2.2 Timer J), so its findings have all arrived.
CALL_LINGER: Final = 32.0
#: Longest Server/User-Agent text kept per element.
AGENT_MAX: Final = 120


def party(value: str | None) -> Party:
    """User (or number) and host of a From/To value."""
    if not value:
        return Party()
    display, written = split_name_addr(value)
    uri = parse_address(value)
    if uri is None:
        return Party(display=display, uri=written)
    return Party(uri.user, uri.host, display, written)


class CallTracker:
    """Feed records with :meth:`feed`; read :attr:`calls` (in order of first message)."""

    def __init__(
        self, keep_messages: bool = False, max_calls: int = MAX_CALLS, ladder: bool = True
    ) -> None:
        #: ``keep_messages``: each message's parsed form and annotation (the report shows
        #: them); ``ladder``: a :class:`CallMessage` per message (ladders); without either a
        #: call keeps only its frame numbers (the call list, ``live --calls``).
        self.keep_messages = keep_messages
        self.ladder = ladder or keep_messages
        self.max_calls = max_calls
        self.calls: OrderedDict[str, Call] = OrderedDict()
        self.evicted = 0
        self._linker = Linker()
        #: Call-ID -> (CSeq, method) -> the most Via headers a request of that transaction
        #: had: the copy that reached the UAS. Its response, with as many Vias, is the one the
        #: UAS generated (RFC 3261 §16.7 step 3: each proxy removes its own Via going back).
        self._depth: dict[str, dict[tuple[int, str], int]] = {}

    def expire(self, ts: float, linger: float = CALL_LINGER) -> list[Call]:
        """Remove and return the calls that ended ``linger`` seconds of capture time ago.

        A call has ended when its BYE or CANCEL was sent, or when it got a final failure
        (or, for a call that is no INVITE, any final response); a call still ringing or up
        stays until the end of the capture. This is how a live session reports each call when
        it ends; a file is simply read to the end.
        """
        done = [
            call for call in self.calls.values() if ts - call.last_ts >= linger and _ended(call)
        ]
        for call in done:
            del self.calls[call.call_id]
            self._depth.pop(call.call_id, None)
        return done

    def feed_all(self, records: Iterable[Record]) -> None:
        for record in records:
            self.feed(record)

    def feed(self, record: Record) -> None:
        if isinstance(record, MessageRecord):
            self._message(record)
        elif isinstance(record, FindingRecord):
            call = self.calls.get(finding_call_id(record))
            if call is not None:
                call.findings.append(finding_view(record))

    # -- messages --------------------------------------------------------------------------

    def _open(self, record: MessageRecord) -> Call:
        msg = record.msg
        call_id = msg.call_id
        if len(self.calls) >= self.max_calls:
            old, _ = self.calls.popitem(last=False)
            self._depth.pop(old, None)
            self.evicted += 1
        call = Call(
            call_id=call_id,
            start_ts=record.ts,
            first_frame=record.frame,
            method=msg.method if msg.kind == "request" else msg.cseq_method,
            from_party=party(msg.header("from")),
            to_party=party(msg.header("to")),
        )
        self.calls[call_id] = call
        self._depth[call_id] = {}
        return call

    def _message(self, record: MessageRecord) -> None:
        msg = record.msg
        call_id = msg.call_id
        if not call_id:
            return
        call = self.calls.get(call_id)
        opened = call is None
        if call is None:
            call = self._open(record)
        call.last_ts = max(call.last_ts, record.ts)
        self._keep(call, record)
        self._element(call, record.src)
        self._element(call, record.dst)
        if opened:
            self._linker.opened(call, msg, record.ts, self.calls)
        if msg.kind == "request":
            self._request(call, record)
        else:
            self._response(call, record)

    def _keep(self, call: Call, record: MessageRecord) -> None:
        if len(call.frames) >= MAX_MESSAGES_PER_CALL:
            call.dropped_messages += 1
            return
        call.frames.append(record.frame)
        if not self.ladder:
            return
        msg = record.msg
        cseq, cseq_method = msg.cseq
        call.messages.append(
            CallMessage(
                ts=record.ts,
                frame=record.frame,
                src=record.src,
                dst=record.dst,
                transport=record.transport,
                kind=msg.kind,
                method=msg.method if msg.kind == "request" else cseq_method,
                status=msg.status,
                reason=msg.reason,
                cseq=cseq,
                retransmission=record.retransmission,
                msg=msg if self.keep_messages else None,
                annotation=record.annotation if self.keep_messages else None,
            )
        )

    @staticmethod
    def _element(call: Call, address: str) -> Element:
        element = call.elements.get(address)
        if element is None:
            element = call.elements[address] = Element(address)
        return element

    def _request(self, call: Call, record: MessageRecord) -> None:
        msg = record.msg
        vias = msg.via_count
        key = msg.cseq
        depth = self._depth.setdefault(call.call_id, {})
        depth[key] = max(depth.get(key, 0), vias)
        sender = self._element(call, record.src)
        if vias > 1:
            # RFC 3261 §16.6 step 8: a proxy adds its Via above the one it received.
            sender.role = "proxy"
        elif vias == 1 and not sender.agent:
            # One Via: the sender built this request itself (§8.1.1.7), so its User-Agent is its.
            sender.agent = _agent(msg, "user-agent")
        method = msg.method
        if method == "INVITE" and not msg.to_tag and call.invite_ts is None:
            call.invite_ts = record.ts
        if method in ("BYE", "CANCEL") and not call.ended_with:
            call.ended_with = method
            call.ended_by = record.src
            call.end_ts = record.ts
        self._linker.request(call, msg, record.ts, self.calls)

    def _response(self, call: Call, record: MessageRecord) -> None:
        msg = record.msg
        status = msg.status
        key = msg.cseq
        generated = msg.via_count >= self._depth.get(call.call_id, {}).get(key, 1)
        sender = self._element(call, record.src)
        if generated and not sender.agent:
            sender.agent = _agent(msg, "server")
        method = msg.cseq_method
        if method == "INVITE" or (method == call.method and call.invite_ts is None):
            if 180 <= status < 190 and call.ringing_ts is None:
                call.ringing_ts = record.ts
            if status >= 200:
                self._final(call, record, generated)
        if method == "CANCEL" and call.ended_with == "CANCEL" and status >= 300:
            call.ended_with = ""
            call.ended_by = ""
            call.end_ts = None

    @staticmethod
    def _final(call: Call, record: MessageRecord, generated: bool) -> None:
        msg = record.msg
        status = msg.status
        # A 2xx is the answer (RFC 3261 §13.2.2.4) and stays the call's final status; a later
        # failure (a retried INVITE's, a re-INVITE's) does not undo it.
        answered = call.final_status is not None and 200 <= call.final_status < 300
        if answered and (not 200 <= status < 300 or call.answer_ts is not None):
            return
        if call.final_status == status and call.final_by and not generated:
            return
        call.final_status = status
        call.final_reason = msg.reason
        if generated or not call.final_by:
            call.final_by = record.src
            call.final_agent = _agent(msg, "server")
        if not call.final_agent:
            element = call.elements.get(call.final_by)
            call.final_agent = element.agent if element is not None else ""
        if 200 <= status < 300 and call.answer_ts is None:
            call.answer_ts = record.ts


def _ended(call: Call) -> bool:
    if call.ended_with:
        return True
    if call.final_status is None:
        return False
    return call.method != "INVITE" or not 200 <= call.final_status < 300


def _agent(msg: SipMessage, name: str) -> str:
    value = msg.header(name) or ""
    return value.strip()[:AGENT_MAX]
