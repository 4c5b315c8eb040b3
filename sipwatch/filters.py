"""Display filters shared by ``pcap``, ``live`` and ``check``.

Filters narrow what is *shown*; the correlator still sees every message, so a 420 hidden by
``--method REGISTER`` still finishes its exchange correctly and the summary still counts it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sipwatch.errors import SipwatchError
from sipwatch.records import MessageRecord


class FilterError(SipwatchError):
    """A filter option could not be understood (e.g. ``--status 4yz``)."""


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
    """All set criteria must hold; an empty filter accepts everything."""

    call_ids: tuple[str, ...] = ()
    methods: frozenset[str] = field(default_factory=frozenset)
    status_classes: frozenset[int] = field(default_factory=frozenset)
    status_codes: frozenset[int] = field(default_factory=frozenset)
    ports: frozenset[int] = field(default_factory=frozenset)

    @classmethod
    def build(
        cls,
        call_ids: list[str] | None = None,
        methods: list[str] | None = None,
        status: str | None = None,
        ports: list[int] | None = None,
    ) -> MessageFilter:
        method_set: set[str] = set()
        for item in methods or []:
            method_set.update(m.strip().upper() for m in item.split(",") if m.strip())
        classes, codes = parse_status_filter(status) if status else (frozenset(), frozenset())
        return cls(
            call_ids=tuple(call_ids or ()),
            methods=frozenset(method_set),
            status_classes=classes,
            status_codes=codes,
            ports=frozenset(ports or ()),
        )

    @property
    def active(self) -> bool:
        return bool(
            self.call_ids or self.methods or self.status_classes or self.status_codes or self.ports
        )

    def _call_id_ok(self, call_id: str) -> bool:
        # Prefix match: the timeline shows the first 8 characters of each Call-ID.
        return not self.call_ids or any(call_id.startswith(c) for c in self.call_ids)

    def accepts(self, record: MessageRecord) -> bool:
        if not self.active:
            return True
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
        if self.ports:
            src_port = int(record.src.rsplit(":", 1)[1])
            dst_port = int(record.dst.rsplit(":", 1)[1])
            if src_port not in self.ports and dst_port not in self.ports:
                return False
        return True

    def accepts_finding(self, data: dict[str, Any]) -> bool:
        """Findings follow the Call-ID filter, and the method and status filters where the
        finding names a method or a status (a transfer is a REFER exchange); a finding that
        names neither (e.g. an unanswered request has no status) is kept."""
        if not self._call_id_ok(str(data.get("call_id", ""))):
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
