"""The SIP message model shared by every layer.

A :class:`SipMessage` keeps headers as an ordered list of ``(name, value)`` pairs in wire order
(RFC 3261 §7.3.1: the relative order of same-named fields is significant, e.g. Via), with compact
forms already expanded to their long names (§7.3.3). Raw bytes are kept so renderers can show
exactly what was on the wire. Lookups by name go through a small index built once at parse time,
because the correlator asks for the same handful of headers for every message.

A :class:`Malformed` is what a broken message becomes: peer misbehaviour is data, not an
exception (DESIGN §2 rule 4).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from sipwatch.sip.compact import header_key
from sipwatch.sip.headers import header_param, split_header, split_values
from sipwatch.sip.uri import Address, read_address

MessageKind = Literal["request", "response"]

#: RFC 3261 §8.1.1.7: a branch starting with this cookie was built by an RFC 3261 element and is
#: unique per transaction; without it, transaction matching falls back to RFC 2543 rules (§17.2.3).
MAGIC_COOKIE = "z9hG4bK"


def status_class(status: int) -> int:
    """Return the class digit of a status code (4 for 420)."""
    return status // 100


@dataclass(slots=True)
class SipMessage:
    """One parsed SIP request or response.

    ``headers`` holds ``(canonical name, value)`` pairs in wire order; ``index`` maps the
    lower-case canonical name to the positions of that header in ``headers``.
    """

    kind: MessageKind
    method: str  # request method; for a response, the CSeq method ("" if unknown)
    uri: str  # request-URI; "" for a response
    status: int  # 0 for a request
    reason: str  # reason phrase; "" for a request
    headers: list[tuple[str, str]]
    index: dict[str, list[int]]
    body: bytes
    raw: bytes
    #: Problems that did not stop parsing (e.g. Content-Length larger than the datagram).
    warnings: list[str] = field(default_factory=list)
    # Caches of the fields every stage asks for (correlator, annotator, renderers, summary):
    # each is read from the headers once per message. None means "not computed yet".
    _call_id: str | None = field(default=None, init=False, repr=False, compare=False)
    _cseq: tuple[int, str] | None = field(default=None, init=False, repr=False, compare=False)
    _from_tag: str | None = field(default=None, init=False, repr=False, compare=False)
    _to_tag: str | None = field(default=None, init=False, repr=False, compare=False)
    _top_via: str | None = field(default=None, init=False, repr=False, compare=False)
    _branch: str | None = field(default=None, init=False, repr=False, compare=False)

    # -- generic header access -------------------------------------------------------------

    def _positions(self, name: str) -> list[int] | None:
        positions = self.index.get(name.lower())
        if positions is None and len(name) == 1:  # a compact form such as "i" (§7.3.3)
            positions = self.index.get(header_key(name))
        return positions

    def header(self, name: str) -> str | None:
        """First value of header ``name`` (long, canonical or compact name, any case), or None."""
        positions = self._positions(name)
        if not positions:
            return None
        return self.headers[positions[0]][1]

    def header_all(self, name: str) -> list[str]:
        """Every field value of ``name`` in wire order, without splitting on commas."""
        headers = self.headers
        return [headers[i][1] for i in self._positions(name) or ()]

    def has_header(self, name: str) -> bool:
        return bool(self._positions(name))

    def header_values(self, name: str) -> list[str]:
        """All values of ``name`` across every occurrence, in wire order.

        List headers are split on commas outside quoted strings, ``<...>`` and comments
        (RFC 3261 §7.3.1); headers whose grammar is not a list (WWW-Authenticate, Date, ...)
        are returned whole, see :data:`sipwatch.sip.headers.NO_SPLIT`.
        """
        values: list[str] = []
        for raw in self.header_all(name):
            values.extend(split_header(name, raw))
        return values

    def tokens(self, name: str) -> list[str]:
        """Option-tag style tokens of ``name`` (Require, Supported, ...), lower-cased."""
        return [v.strip().lower() for v in self.header_values(name) if v.strip()]

    # -- frequently used fields ------------------------------------------------------------

    @property
    def is_request(self) -> bool:
        return self.kind == "request"

    @property
    def call_id(self) -> str:
        value = self._call_id
        if value is None:
            positions = self.index.get("call-id")
            value = self.headers[positions[0]][1].strip() if positions else ""
            self._call_id = value
        return value

    @property
    def cseq(self) -> tuple[int, str]:
        """(sequence number, method) from CSeq; the number is 0 when absent or unreadable.

        RFC 3261 §20.16: the number is 1*DIGIT below 2**31, so anything else (signs, ``_``,
        non-ASCII digits, 5000-digit fuzz) reads as 0 rather than as whatever ``int`` accepts.
        """
        value = self._cseq
        if value is None:
            value = self._cseq = cseq_fields(self.header("cseq"))
        return value

    @property
    def cseq_num(self) -> int:
        return self.cseq[0]

    @property
    def cseq_method(self) -> str:
        return self.cseq[1]

    @property
    def from_tag(self) -> str:
        value = self._from_tag
        if value is None:
            positions = self.index.get("from")
            value = tag_param(self.headers[positions[0]][1]) if positions else ""
            self._from_tag = value
        return value

    @property
    def to_tag(self) -> str:
        value = self._to_tag
        if value is None:
            positions = self.index.get("to")
            value = tag_param(self.headers[positions[0]][1]) if positions else ""
            self._to_tag = value
        return value

    @property
    def top_via(self) -> str:
        """The first Via value (RFC 3261 §18.2.1: the one the receiver looks at)."""
        value = self._top_via
        if value is None:
            value = ""
            for raw in self.header_all("via"):
                values = split_values(raw)
                if values:
                    value = values[0]
                    break
            self._top_via = value
        return value

    @property
    def branch(self) -> str:
        value = self._branch
        if value is None:
            value = self._branch = branch_param(self.top_via)
        return value

    @property
    def from_address(self) -> Address | None:
        """URI, user and display name of From (RFC 3261 §20.20), or None without a From."""
        positions = self.index.get("from")
        return _address(self.headers[positions[0]][1]) if positions else None

    @property
    def to_address(self) -> Address | None:
        """URI, user and display name of To (RFC 3261 §20.39), or None without a To."""
        positions = self.index.get("to")
        return _address(self.headers[positions[0]][1]) if positions else None

    @property
    def contact_uri(self) -> str | None:
        """The URI of the first Contact value (RFC 3261 §20.10; ``*`` as written), or None."""
        positions = self.index.get("contact")
        if not positions:
            return None
        for position in positions:
            raw = self.headers[position][1]
            if raw and "," not in raw:
                return _address(raw).uri
            values = split_values(raw)
            if values:
                return _address(values[0]).uri
        return None

    @property
    def user_agent(self) -> str | None:
        """The first User-Agent value (RFC 3261 §20.41), or None."""
        positions = self.index.get("user-agent")
        return self.headers[positions[0]][1] if positions else None

    @property
    def server(self) -> str | None:
        """The first Server value (RFC 3261 §20.35), or None."""
        positions = self.index.get("server")
        return self.headers[positions[0]][1] if positions else None

    @property
    def via_count(self) -> int:
        return len(self.header_values("via"))

    @property
    def content_type(self) -> str:
        """Media type of the body, lower-cased, without parameters ("" when absent)."""
        raw = self.header("content-type") or ""
        return raw.split(";", 1)[0].strip().lower()

    def without_payload(self) -> SipMessage:
        """The same message without its raw bytes and body, for state kept after it was shown.

        The correlator keeps each open exchange's request for the findings it may still make
        (they read headers and the Request-URI, never the bytes); a table of tens of thousands
        of open exchanges then holds no datagram or SDP body each. Headers are shared.
        """
        slim = SipMessage(
            self.kind, self.method, self.uri, self.status, self.reason, self.headers,
            self.index, b"", b"", _NO_WARNINGS,
        )  # fmt: skip
        slim._cseq = self._cseq
        return slim

    def start_line(self) -> str:
        if self.kind == "request":
            return f"{self.method} {self.uri} SIP/2.0"
        return f"SIP/2.0 {self.status} {self.reason}"


def cseq_fields(raw: str | None) -> tuple[int, str]:
    """(number, method) of a CSeq value (see :attr:`SipMessage.cseq`); (0, "") for None."""
    if raw is None:
        return 0, ""
    parts = raw.split()
    if not parts:
        return 0, ""
    text = parts[0]
    number = int(text) if text.isascii() and text.isdigit() and len(text) <= 10 else 0
    method = parts[1] if len(parts) > 1 else ""
    return number, method


#: The warnings of a message kept without its payload (never appended to).
_NO_WARNINGS: list[str] = []

#: Header values seen recently -> their ``tag`` / ``branch`` parameter, for every layer (the
#: correlator's transaction keys and the printed tags read the same table). The messages of one
#: call repeat the same From, To and top Via text (a response copies them from its request), so
#: most lookups are found here instead of parsed again. Emptied when full: bounded memory.
_TAGS: dict[str, str] = {}
_BRANCHES: dict[str, str] = {}
_MEMO_MAX = 8192


def tag_param(value: str) -> str:
    """The ``tag`` of a From/To value (RFC 3261 §19.3), ``""`` when absent; memoised."""
    found = _TAGS.get(value)
    if found is None:
        found = header_param(value, "tag") or ""
        if len(_TAGS) >= _MEMO_MAX:
            _TAGS.clear()
        _TAGS[value] = found
    return found


def branch_param(value: str) -> str:
    """The ``branch`` of a Via value (RFC 3261 §8.1.1.7), ``""`` when absent; memoised."""
    found = _BRANCHES.get(value)
    if found is None:
        found = header_param(value, "branch") or ""
        if len(_BRANCHES) >= _MEMO_MAX:
            _BRANCHES.clear()
        _BRANCHES[value] = found
    return found


#: From, To and Contact values seen recently -> their :class:`Address` (bounded as above).
_ADDRESSES: dict[str, Address] = {}


def _address(value: str) -> Address:
    found = _ADDRESSES.get(value)
    if found is None:
        found = read_address(value)
        if len(_ADDRESSES) >= _MEMO_MAX:
            _ADDRESSES.clear()
        _ADDRESSES[value] = found
    return found


@dataclass(slots=True)
class Malformed:
    """Bytes that looked like SIP but could not be parsed, with the reason why."""

    reason: str
    raw: bytes
    #: Whatever could be read before the problem (e.g. the start line), for display.
    start_line: str = ""


#: What the parser returns for one message.
ParseResult = SipMessage | Malformed
