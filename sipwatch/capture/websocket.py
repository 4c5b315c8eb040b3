"""WebSocket deframing for SIP over WebSocket (RFC 6455, RFC 7118), sans-I/O.

SIP over WebSocket (RFC 7118 §5) puts exactly one SIP message in one WebSocket message, text or
binary, so no Content-Length framing is needed: a SIP message ends where its WebSocket message
ends. :class:`WebSocketDeframer` turns one direction of an upgraded TCP stream into complete,
unmasked WebSocket data messages; :mod:`sipwatch.capture.tcp` decides which of them are SIP.

Handled, with the rule each follows:

* Frame header (RFC 6455 §5.2): FIN, RSV1-3, opcode; 7-bit, 16-bit (126) and 64-bit (127)
  payload lengths; the masking key of client frames, removed per §5.3.
* Fragmented messages (§5.4): a text/binary frame without FIN is followed by continuation frames
  (opcode 0) up to the one with FIN; control frames may be interleaved and are ignored (§5.5:
  close, ping and pong carry no SIP).
* permessage-deflate (RFC 7692 §7.2.2): a message whose first frame has RSV1 set is inflated after
  appending ``00 00 FF FF``, with one decompressor per direction so context takeover works. RSV1
  is honoured even without a negotiated extension, because a capture may start after the
  handshake and RSV1 has no other registered meaning.
* Bounds: a message larger than ``max_message`` (or inflating beyond it) is reported as
  ``ws-oversize`` and its bytes are skipped without buffering.
* Holes in the capture: inside a frame's payload the frame is reported ``ws-lost-in-gap`` and
  deframing continues after it; elsewhere the deframer resynchronises on the next frame header
  whose payload begins like a SIP start line (:func:`frame_carries_sip`).

Problems come back as :class:`~sipwatch.sip.framing.FramingError` values among the messages.
"""

from __future__ import annotations

import re
import struct
import zlib
from typing import Final

from sipwatch.sip.framing import EXCERPT_BYTES, Framed, FramingError

#: Largest WebSocket message accepted (a SIP header block plus body, see sip.framing).
MAX_MESSAGE_BYTES: Final = (1 << 20) + 64 * 1024

_U16: Final = struct.Struct("!H")
_U64: Final = struct.Struct("!Q")
_DEFLATE_TAIL: Final = b"\x00\x00\xff\xff"

# RFC 6455 §5.2 opcodes.
OP_CONTINUATION: Final = 0x0
OP_TEXT: Final = 0x1
OP_BINARY: Final = 0x2
OP_CLOSE: Final = 0x8

#: First bytes of a SIP message: a status line, or a method followed by a URI scheme
#: (RFC 3261 §7.1, §19.1; ``tel:``/``urn:`` URIs included).
_SIP_PREFIX: Final = re.compile(rb"SIP/2\.0 \d|[A-Za-z][A-Za-z0-9.!%*_+`'~-]{0,31} [A-Za-z]{2,8}:")
#: Bytes that can begin an unfragmented or first text/binary frame (FIN and RSV1 optional).
_FRAME_START: Final = re.compile(rb"[\x01\x02\x81\x82]")
_PEEK: Final = 16

# HTTP upgrade handshake (RFC 6455 §4.1, §4.2.2), matched on the lower-cased header block.
_UPGRADE: Final = re.compile(rb"\nupgrade[ \t]*:[^\r\n]*websocket", re.IGNORECASE)
_EXTENSIONS_DEFLATE: Final = re.compile(
    rb"\nsec-websocket-extensions[ \t]*:[^\r\n]*permessage-deflate", re.IGNORECASE
)


def is_upgrade_request(head: bytes) -> bool:
    """True for an HTTP ``GET`` asking to switch to WebSocket (RFC 6455 §4.1, RFC 7118 §4)."""
    return head.startswith(b"GET ") and _UPGRADE.search(head) is not None


def upgrade_response(head: bytes) -> tuple[bool, bool]:
    """``(switched, deflate)`` for an HTTP response header block.

    ``switched`` when it is ``101 Switching Protocols`` (RFC 6455 §4.2.2 step 5), ``deflate``
    when it accepted permessage-deflate (RFC 7692 §5).
    """
    switched = head.startswith((b"HTTP/1.1 101", b"HTTP/1.0 101"))
    return switched, switched and _EXTENSIONS_DEFLATE.search(head) is not None


def unmask(payload: bytes | bytearray | memoryview, key: bytes | bytearray) -> bytes:
    """Remove the RFC 6455 §5.3 mask (XOR with the 4-byte key, repeated) in C speed."""
    n = len(payload)
    if n == 0:
        return b""
    mask = (bytes(key) * (n // 4 + 1))[:n]
    value = int.from_bytes(payload, "little") ^ int.from_bytes(mask, "little")
    return value.to_bytes(n, "little")


def _header(buf: bytes | bytearray, pos: int) -> tuple[int, int, bytes]:
    """``(header length, payload length, masking key)`` of the frame at ``pos``.

    Header length 0 means more bytes are needed; -1 means the header is invalid (a 64-bit length
    with its top bit set, RFC 6455 §5.2).
    """
    n = len(buf)
    if n - pos < 2:
        return 0, 0, b""
    b1 = buf[pos + 1]
    length = b1 & 0x7F
    head = 2
    if length == 126:
        if n - pos < 4:
            return 0, 0, b""
        (length,) = _U16.unpack_from(buf, pos + 2)
        head = 4
    elif length == 127:
        if n - pos < 10:
            return 0, 0, b""
        (length,) = _U64.unpack_from(buf, pos + 2)
        if length >> 63:
            return -1, 0, b""
        head = 10
    if b1 & 0x80:
        if n - pos < head + 4:
            return 0, 0, b""
        return head + 4, length, bytes(buf[pos + head : pos + head + 4])
    return head, length, b""


def frame_carries_sip(buf: bytes | bytearray, pos: int = 0) -> bool:
    """True when a text/binary frame starts at ``pos`` and its payload begins like SIP.

    Used to pick up a WebSocket stream whose handshake is not in the capture, and to find the
    next frame boundary after a hole. Compressed frames (RSV1) cannot be peeked and are refused.
    """
    b0 = buf[pos]
    if b0 & 0x70 or (b0 & 0x0F) not in (OP_TEXT, OP_BINARY):
        return False
    head, length, key = _header(buf, pos)
    if head <= 0 or length < 12 or length > MAX_MESSAGE_BYTES:
        return False
    start = pos + head
    peek = buf[start : start + min(_PEEK, length)]
    if len(peek) < min(_PEEK, length):
        return False
    if key:
        peek = unmask(peek, key)
    return _SIP_PREFIX.match(peek) is not None


class WebSocketDeframer:
    """Turn one direction of a WebSocket connection into complete data messages.

    :meth:`feed` returns unmasked (and inflated) text/binary messages as ``bytes`` and problems
    as :class:`FramingError`, in stream order; :meth:`gap` reports a capture hole; :meth:`close`
    reports a message left incomplete at the end.
    """

    __slots__ = (
        "_buf",
        "_closed",
        "_compressed",
        "_dropping",
        "_frag_size",
        "_fragments",
        "_inflater",
        "_resync",
        "_skip",
        "_skip_fin",
        "max_message",
    )

    def __init__(self, max_message: int = MAX_MESSAGE_BYTES) -> None:
        self.max_message = max_message
        self._buf = bytearray()
        #: Payload parts of a fragmented message waiting for its FIN frame (None: none open).
        self._fragments: list[bytes] | None = None
        self._frag_size = 0
        self._compressed = False
        #: Dropping the remaining frames of an oversize or damaged message until its FIN.
        self._dropping = False
        #: Payload bytes still to skip, and whether that frame ends the message being dropped.
        self._skip = 0
        self._skip_fin = False
        #: Hunting for a frame boundary after a hole.
        self._resync = False
        self._closed = False
        self._inflater: zlib._Decompress | None = None

    @property
    def buffered(self) -> int:
        """Bytes held waiting for the rest of a frame or message."""
        return len(self._buf) + self._frag_size

    @property
    def closed(self) -> bool:
        """True once a close frame was seen in this direction (RFC 6455 §5.5.1)."""
        return self._closed

    def feed(self, data: bytes) -> list[Framed]:
        """Add stream bytes; return the messages and problems they complete."""
        out: list[Framed] = []
        if not data:
            return out
        if self._buf:
            self._buf += data
            pos = self._run(self._buf, out)
            del self._buf[:pos]
        else:
            pos = self._run(data, out)
            if pos < len(data):
                self._buf = bytearray(data[pos:])
        return out

    def gap(self, missing: int) -> list[Framed]:
        """Record that ``missing`` stream bytes will never arrive (a capture hole).

        A hole inside a frame's payload costs that frame's message only: the deframer knows
        where the frame ends and stays aligned. Any other hole loses alignment, so the deframer
        resynchronises on the next frame that starts a SIP message.
        """
        out: list[Framed] = []
        buf = self._buf
        if self._skip and missing <= self._skip:
            # Inside the payload of a frame that is being skipped anyway.
            self._skip -= missing
            if self._skip == 0 and self._skip_fin:
                self._dropping = False
            return out
        head, length, _ = _header(buf, 0) if buf and not self._resync else (0, 0, b"")
        if head > 0 and missing <= head + length - len(buf):
            fin = bool(buf[0] & 0x80)
            if buf[0] & 0x0F < OP_CLOSE:
                out.append(self._lost_error(bytes(buf[head : head + EXCERPT_BYTES])))
                self._abandon_message()
                self._dropping = not (fin and head + length - len(buf) == missing)
            self._skip = head + length - len(buf) - missing
            self._skip_fin = fin
            buf.clear()
            return out
        if not self._resync and (self._fragments is not None or buf or self._skip):
            out.append(self._lost_error(bytes(buf[:EXCERPT_BYTES])))
        buf.clear()
        self._abandon_message()
        self._skip = 0
        self._dropping = False
        self._resync = True
        return out

    def close(self) -> list[Framed]:
        """End of stream: report an incomplete message and reset."""
        out: list[Framed] = []
        if (self._fragments is not None or self._buf) and not self._resync:
            out.append(
                FramingError(
                    "ws-truncated",
                    "stream ended inside a WebSocket message",
                    len(self._buf) + self._frag_size,
                    bytes(self._buf[:EXCERPT_BYTES]),
                )
            )
        self._buf.clear()
        self._abandon_message()
        self._skip = 0
        self._dropping = False
        self._resync = False
        return out

    # -- internals -----------------------------------------------------------------------------

    @staticmethod
    def _lost_error(excerpt: bytes) -> FramingError:
        return FramingError(
            "ws-lost-in-gap", "a WebSocket message was cut by a hole in the capture", 0, excerpt
        )

    def _abandon_message(self) -> None:
        self._fragments = None
        self._frag_size = 0
        self._compressed = False

    def _run(self, buf: bytes | bytearray, out: list[Framed]) -> int:
        n = len(buf)
        pos = 0
        while pos < n:
            if self._skip:
                take = min(self._skip, n - pos)
                pos += take
                self._skip -= take
                if self._skip == 0 and self._skip_fin:
                    self._dropping = False
                continue
            if self._resync:
                found = self._find_frame(buf, pos)
                if found < 0:
                    # Keep a tail long enough to hold a frame header plus the peeked bytes.
                    return max(pos, n - (14 + _PEEK))
                pos = found
                self._resync = False
                continue
            head, length, key = _header(buf, pos)
            if head == 0:
                return pos
            if head < 0:
                out.append(
                    FramingError(
                        "ws-bad-frame",
                        "64-bit WebSocket payload length with the top bit set (RFC 6455 §5.2)",
                        0,
                        bytes(buf[pos : pos + 10]),
                    )
                )
                self._abandon_message()
                self._resync = True
                pos += 2
                continue
            b0 = buf[pos]
            fin = bool(b0 & 0x80)
            opcode = b0 & 0x0F
            if opcode >= OP_CLOSE and length > 125:
                # §5.5: control frames carry at most 125 bytes; skip it without buffering.
                out.append(
                    FramingError(
                        "ws-bad-frame",
                        f"control frame of {length} bytes (RFC 6455 §5.5 allows 125)",
                        length,
                        bytes(buf[pos : pos + head]),
                    )
                )
                self._skip_fin = False
                self._skip = length
                pos += head
                continue
            if opcode < OP_CLOSE and (
                self._dropping or length > self.max_message - self._frag_size
            ):
                if not self._dropping:
                    out.append(
                        FramingError(
                            "ws-oversize",
                            f"WebSocket message larger than {self.max_message} bytes",
                            self._frag_size + length,
                            bytes(buf[pos : pos + head]),
                        )
                    )
                self._abandon_message()
                self._dropping = True
                self._skip_fin = fin
                self._skip = length
                pos += head
                if length == 0 and fin:
                    self._dropping = False
                continue
            end = pos + head + length
            if end > n:
                return pos
            payload = buf[pos + head : end]
            pos = end
            if key:
                payload = unmask(payload, key)
            self._frame(b0, opcode, fin, bytes(payload), out)
        return pos

    def _frame(self, b0: int, opcode: int, fin: bool, payload: bytes, out: list[Framed]) -> None:
        """Apply one complete frame (RFC 6455 §5.4 fragmentation rules)."""
        if opcode >= OP_CLOSE:
            # §5.5 control frames: no SIP. A close ends the data in this direction.
            if opcode == OP_CLOSE:
                self._closed = True
            return
        if opcode in (OP_TEXT, OP_BINARY):
            if self._fragments is not None:
                out.append(
                    FramingError(
                        "ws-bad-frame",
                        "new data frame before the previous message's final fragment",
                        self._frag_size,
                    )
                )
            self._fragments = [payload]
            self._frag_size = len(payload)
            self._compressed = bool(b0 & 0x40)
        elif opcode == OP_CONTINUATION:
            if self._fragments is None:
                out.append(
                    FramingError(
                        "ws-bad-frame",
                        "continuation frame without a message to continue",
                        len(payload),
                        payload[:EXCERPT_BYTES],
                    )
                )
                return
            self._fragments.append(payload)
            self._frag_size += len(payload)
        else:
            out.append(
                FramingError(
                    "ws-bad-frame",
                    f"reserved WebSocket opcode {opcode:#x}",
                    len(payload),
                    payload[:EXCERPT_BYTES],
                )
            )
            return
        if not fin:
            return
        parts = self._fragments
        message = parts[0] if len(parts) == 1 else b"".join(parts)
        compressed = self._compressed
        self._abandon_message()
        if compressed:
            inflated = self._inflate(message, out)
            if inflated is None:
                return
            message = inflated
        if message:
            out.append(message)

    def _inflate(self, message: bytes, out: list[Framed]) -> bytes | None:
        """RFC 7692 §7.2.2: inflate one compressed message, bounded by ``max_message``."""
        inflater = self._inflater
        if inflater is None or inflater.eof:
            inflater = self._inflater = zlib.decompressobj(-zlib.MAX_WBITS)
        try:
            data = inflater.decompress(message + _DEFLATE_TAIL, self.max_message + 1)
        except zlib.error as exc:
            self._inflater = None
            out.append(
                FramingError(
                    "ws-bad-deflate",
                    f"permessage-deflate data does not inflate ({exc})",
                    len(message),
                )
            )
            return None
        if len(data) > self.max_message or inflater.unconsumed_tail:
            self._inflater = None
            out.append(
                FramingError(
                    "ws-oversize",
                    f"inflated WebSocket message larger than {self.max_message} bytes",
                    len(message),
                    data[:EXCERPT_BYTES],
                )
            )
            return None
        return data

    @staticmethod
    def _find_frame(buf: bytes | bytearray, pos: int) -> int:
        """Offset of the next frame header that carries the start of a SIP message, or -1."""
        for match in _FRAME_START.finditer(buf, pos):
            if frame_carries_sip(buf, match.start()):
                return match.start()
        return -1
