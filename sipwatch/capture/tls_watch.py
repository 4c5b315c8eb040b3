"""TLS handshake failures seen without keys: plaintext alerts, and ClientHellos nobody answers.

"The trunk is down" is often a certificate. Before a TLS session has keys, part of the
handshake travels in clear, and so do the alerts that end a failed one: TLS 1.2's whole
handshake (RFC 5246 §7.4) and its alerts until ChangeCipherSpec, and in TLS 1.3 the
ClientHello, the ServerHello and an alert sent before the ServerHello (RFC 8446 §5.1, §6). This
watches the records at the start of each TLS segment of a stream (no keys, no decryption):

* a ClientHello (handshake type 1) opens a pending handshake for the connection; a ServerHello
  (type 2) from the other side answers it. A ClientHello still unanswered after
  :data:`HELLO_TIMEOUT` seconds of capture time is a failure (nothing, or no TLS, answers);
* an alert record with a 2-byte body (level, description; RFC 8446 §6, RFC 5246 §7.2) is a
  plaintext alert; a fatal one (level 2) is a failure, reported with its description.
  Encrypted alerts (a longer body) cannot be read and are not guessed at.

Facts come out as :class:`TlsFailure` values; the words are made in
:mod:`sipwatch.tls_findings`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from sipwatch.capture.types import Endpoint

#: Capture seconds a ClientHello may wait for its ServerHello before it counts as unanswered.
HELLO_TIMEOUT: Final = 5.0
#: Handshakes waiting for a ServerHello at most (the oldest is forgotten first).
MAX_PENDING: Final = 4096
_HANDSHAKE: Final = 22
_ALERT: Final = 21
_CLIENT_HELLO: Final = 1
_SERVER_HELLO: Final = 2


@dataclass(frozen=True, slots=True)
class TlsFailure:
    """One failed TLS handshake: ``kind`` is ``alert`` or ``no-server-hello``."""

    kind: str
    ts: float
    frames: tuple[int, ...]
    client: Endpoint
    server: Endpoint
    #: Who sent the alert (``client`` or ``server``), its description code and level.
    sent_by: str | None = None
    alert: int | None = None
    level: int | None = None
    waited: float | None = None


class TlsHandshakeWatch:
    """Fed the TLS segments of each stream direction; collects :class:`TlsFailure` facts."""

    def __init__(self) -> None:
        #: (client, server) -> (ts, frame) of a ClientHello not answered yet.
        self._pending: dict[tuple[Endpoint, Endpoint], tuple[float, int]] = {}
        #: Connections whose ClientHello was seen (to tell who sent an alert).
        self._clients: dict[tuple[Endpoint, Endpoint], None] = {}
        self.failures: list[TlsFailure] = []

    def segment(self, src: Endpoint, dst: Endpoint, ts: float, frame: int, data: bytes) -> None:
        """Look at the TLS records that start at the beginning of ``data``."""
        pos = 0
        end = len(data)
        while end - pos >= 6:
            kind = data[pos]
            if not (20 <= kind <= 24 and data[pos + 1] == 3):
                return
            length = data[pos + 3] << 8 | data[pos + 4]
            body = pos + 5
            if kind == _HANDSHAKE:
                self._handshake(src, dst, ts, frame, data[body])
            elif kind == _ALERT and length == 2 and end - body >= 2:
                self._alert(src, dst, ts, frame, data[body], data[body + 1])
            pos = body + length

    def _handshake(self, src: Endpoint, dst: Endpoint, ts: float, frame: int, hs: int) -> None:
        if hs == _CLIENT_HELLO:
            key = (src, dst)
            if key not in self._pending:
                if len(self._pending) >= MAX_PENDING:
                    del self._pending[next(iter(self._pending))]
                self._pending[key] = (ts, frame)
            if len(self._clients) >= MAX_PENDING:
                del self._clients[next(iter(self._clients))]
            self._clients[key] = None
        elif hs == _SERVER_HELLO:
            self._pending.pop((dst, src), None)

    def _alert(
        self, src: Endpoint, dst: Endpoint, ts: float, frame: int, level: int, code: int
    ) -> None:
        if level != 2:
            return  # a warning (close_notify, user_canceled): not a failure
        if (dst, src) in self._clients:
            client, server, sent_by = dst, src, "server"
        else:
            client, server, sent_by = src, dst, "client"
        self._pending.pop((client, server), None)
        self.failures.append(
            TlsFailure("alert", ts, (frame,), client, server, sent_by, code, level)
        )

    def expire(self, ts: float, *, final: bool = False) -> None:
        """ClientHellos unanswered for :data:`HELLO_TIMEOUT` become failures; ``final`` (the
        end of the capture) reports only those that had waited that long too."""
        for key, (since, frame) in list(self._pending.items()):
            if ts - since >= HELLO_TIMEOUT:
                del self._pending[key]
                failure = TlsFailure(
                    "no-server-hello", since, (frame,), key[0], key[1], waited=ts - since
                )
                self.failures.append(failure)
        if final:
            self._pending.clear()

    def take(self) -> list[TlsFailure]:
        failures, self.failures = self.failures, []
        return failures
