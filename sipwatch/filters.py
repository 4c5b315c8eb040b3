"""Display filters shared by ``pcap``, ``live`` and ``check``.

Filters narrow what is *shown*; the correlator still sees every message, so a 420 hidden by
``--method REGISTER`` still finishes its exchange correctly and the summary still counts it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Final

from sipwatch.errors import SipwatchError
from sipwatch.records import MessageRecord


class FilterError(SipwatchError):
    """A filter option could not be understood (e.g. ``--status 4yz``)."""


#: RFC 3261 §25.1 ``token``: a method is one (§7.1 ``Method = ... / extension-method``,
#: ``extension-method = token``), so anything else can never match a message.
_TOKEN: Final = re.compile(r"[A-Za-z0-9\-.!%*_+`'~]+")
#: The finding fields that name an element as ``ip:port`` (docs/findings.md).
_ENDPOINT_FIELDS: Final = ("src", "dst", "answered_from", "referrer", "referee")


def parse_method_filter(items: list[str]) -> frozenset[str]:
    """``["invite,BYE", "ack"]`` → {INVITE, BYE, ACK}; each must be an RFC 3261 token."""
    methods: set[str] = set()
    for item in items:
        parts = [part.strip() for part in item.split(",")]
        if not any(parts):
            raise FilterError(f"bad --method value {item!r}: name a method, e.g. INVITE")
        for part in filter(None, parts):
            if not _TOKEN.fullmatch(part):
                raise FilterError(
                    f"bad --method value {part!r}: a method is an RFC 3261 token "
                    "(letters, digits and -.!%*_+`'~)"
                )
            methods.add(part.upper())
    return frozenset(methods)


def parse_port_filter(ports: list[int]) -> frozenset[int]:
    """The ``--port`` values, each a TCP/UDP/SCTP port number (1 to 65535)."""
    for port in ports:
        if not 1 <= port <= 65535:
            raise FilterError(f"bad --port value {port}: a port is 1 to 65535")
    return frozenset(ports)


def _port_of(endpoint: str) -> int | None:
    """The port of an ``ip:port`` (``[v6]:port``) string, or None."""
    _, sep, port = endpoint.rpartition(":")
    return int(port) if sep and port.isdigit() else None


def parse_status_filter(spec: str) -> tuple[frozenset[int], frozenset[int]]:
    """``"4xx,503"`` → (classes {4}, codes {503})."""
    classes: set[int] = set()
    codes: set[int] = set()
    for part in spec.replace(" ", "").split(","):
        if not part:
            continue
        low = part.lower()
        if len(low) == 3 and low[0] in "123456" and low[1:] == "xx":
            classes.add(int(low[0]))
        elif low.isdigit() and 100 <= int(low) <= 699:
            codes.add(int(low))
        else:
            raise FilterError(
                f"bad --status value {part!r}: use a code like 420 or a class like 4xx"
            )
    return frozenset(classes), frozenset(codes)


@dataclass(slots=True)
class MessageFilter:
    """All set criteria must hold; an empty filter accepts everything.

    With ``ports`` set the filter remembers which frames carried a message to or from one of
    them (one bit per frame number, so 100 million frames cost 12.5 MB), because a finding
    names the frames of its messages, not always their ports. The memory belongs to one
    capture: frame numbers start again at 1 in the next file, so each capture gets its own
    filter (:meth:`fresh`).
    """

    call_ids: tuple[str, ...] = ()
    methods: frozenset[str] = field(default_factory=frozenset)
    status_classes: frozenset[int] = field(default_factory=frozenset)
    status_codes: frozenset[int] = field(default_factory=frozenset)
    ports: frozenset[int] = field(default_factory=frozenset)
    #: With a status filter, show before each shown response the request it answers (as
    #: context, once per transaction and hop), so a failure reads whole: the terminal does.
    with_requests: bool = False
    #: Bit ``n`` set: frame ``n`` completed a message to or from one of ``ports``.
    _port_frames: bytearray = field(
        default_factory=bytearray, init=False, repr=False, compare=False
    )

    @classmethod
    def build(
        cls,
        call_ids: list[str] | None = None,
        methods: list[str] | None = None,
        status: str | None = None,
        ports: list[int] | None = None,
        with_requests: bool = False,
    ) -> MessageFilter:
        """The filter for the command-line options; :class:`FilterError` for a bad value
        (``--status 4yz``, ``--method "IN VITE"``, ``--port 70000``)."""
        classes, codes = parse_status_filter(status) if status else (frozenset(), frozenset())
        return cls(
            call_ids=tuple(call_ids or ()),
            methods=parse_method_filter(methods or []),
            status_classes=classes,
            status_codes=codes,
            ports=parse_port_filter(ports or []),
            with_requests=with_requests,
        )

    def fresh(self) -> MessageFilter:
        """The same criteria, with nothing remembered of frames seen (for the next capture)."""
        return MessageFilter(
            self.call_ids,
            self.methods,
            self.status_classes,
            self.status_codes,
            self.ports,
            self.with_requests,
        )

    @property
    def wants_requests(self) -> bool:
        """Whether requests the status filter hides are kept as context (:attr:`with_requests`)."""
        return self.with_requests and bool(self.status_classes or self.status_codes)

    def accepts_as_context(self, record: MessageRecord) -> bool:
        """A request every criterion but the status one accepts: context for its responses.

        Call after :meth:`accepts` (which remembers the frame for the port filter)."""
        msg = record.msg
        if msg.kind != "request" or not self._call_id_ok(msg.call_id):
            return False
        if self.ports and not self._frame_on_port(record.frame):
            return False
        return not self.methods or msg.method.upper() in self.methods

    @property
    def active(self) -> bool:
        return bool(
            self.call_ids or self.methods or self.status_classes or self.status_codes or self.ports
        )

    def _call_id_ok(self, call_id: str) -> bool:
        # Prefix match: the timeline shows the first 8 characters of each Call-ID.
        return not self.call_ids or any(call_id.startswith(c) for c in self.call_ids)

    def _port_ok(self, record: MessageRecord) -> bool:
        """Whether the message is to or from one of ``ports``; remembers the frame if so."""
        src_port = int(record.src.rsplit(":", 1)[1])
        dst_port = int(record.dst.rsplit(":", 1)[1])
        if src_port not in self.ports and dst_port not in self.ports:
            return False
        bits = self._port_frames
        index = record.frame >> 3
        if index >= len(bits):
            bits.extend(bytes(max(index + 1 - len(bits), len(bits))))  # doubling: amortised
        bits[index] |= 1 << (record.frame & 7)
        return True

    def _frame_on_port(self, frame: object) -> bool:
        bits = self._port_frames
        if not isinstance(frame, int) or frame < 0 or frame >> 3 >= len(bits):
            return False
        return bool(bits[frame >> 3] & (1 << (frame & 7)))

    def accepts(self, record: MessageRecord) -> bool:
        if not self.active:
            return True
        # First, so that every message's frame is remembered whatever the other criteria say.
        if self.ports and not self._port_ok(record):
            return False
        msg = record.msg
        if not self._call_id_ok(msg.call_id):
            return False
        if self.methods:
            method = msg.method if msg.kind == "request" else msg.cseq_method
            if method.upper() not in self.methods:
                return False
        if self.status_classes or self.status_codes:
            if msg.kind != "response":
                return False
            if msg.status not in self.status_codes and msg.status // 100 not in self.status_classes:
                return False
        return True

    def accepts_finding(self, data: dict[str, Any]) -> bool:
        """Findings follow the Call-ID filter, and the method and status filters where the
        finding names a method or a status (a transfer is a REFER exchange); a finding that
        names neither (e.g. an unanswered request has no status) is kept.

        The port filter keeps a finding when one of its messages went to or from one of the
        ports: one of its ``frames`` was such a message (the filter saw every message before
        the finding that names it), or one of the endpoints it names (``src``, ``dst``,
        ``answered_from``, ``referrer``, ``referee``) has such a port. A finding that names no
        frame and no endpoint cannot be placed and is kept, like one without a status.
        """
        if not self._call_id_ok(str(data.get("call_id", ""))):
            return False
        if self.ports and not self._finding_port_ok(data):
            return False
        method = data.get("method") or ("REFER" if data.get("kind") == "transfer" else None)
        if self.methods and isinstance(method, str) and method.upper() not in self.methods:
            return False
        if self.status_classes or self.status_codes:
            statuses = [
                data[key]
                for key in ("status", "accepted", "final_status")
                if isinstance(data.get(key), int)
            ]
            if statuses and not any(
                code in self.status_codes or code // 100 in self.status_classes for code in statuses
            ):
                return False
        return True

    def _finding_port_ok(self, data: dict[str, Any]) -> bool:
        frames = data.get("frames")
        frames = frames if isinstance(frames, list) else []
        if any(self._frame_on_port(frame) for frame in frames):
            return True
        endpoints = [data[key] for key in _ENDPOINT_FIELDS if isinstance(data.get(key), str)]
        if any(_port_of(endpoint) in self.ports for endpoint in endpoints):
            return True
        return not frames and not endpoints
