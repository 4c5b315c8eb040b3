"""SIP message framing on byte streams (RFC 3261 §18.3), sans-I/O.

On a stream transport (TCP, and the reassembled byte stream of TLS) nothing marks where one SIP
message ends and the next begins: the receiver reads the header block up to the first empty line
and then exactly ``Content-Length`` body bytes. :class:`StreamFramer` does that on bytes fed to it
in any split, returning each complete message as ``bytes`` and each problem as a
:class:`FramingError` value, in stream order. Nothing here raises on peer input: a broken stream is
data to report (DESIGN §2 rule 4).

Decisions, each with its reason:

* Header names are matched case-insensitively and the compact form ``l`` is accepted
  (RFC 3261 §7.3.1, §7.3.3, §20.14).
* The header block ends at the first empty line. ``CRLF CRLF`` is the rule (§7), but a bare
  ``LF LF`` (and the mixed ``LF CRLF``) is accepted too, because §7.5 asks implementations to be
  liberal with line ends and broken stacks do send bare LF.
* CRLF / double-CRLF keep-alive pings between messages (RFC 5626 §4.4.1; RFC 3261 §7.5 allows
  stray CRLFs before a start line) are skipped silently.
* A missing Content-Length is a protocol violation on a stream (§18.3, §20.14). The message is
  still returned with an empty body, so the user sees it, preceded by a ``missing-content-length``
  problem. A negative or non-numeric value is reported as ``bad-content-length`` and treated the
  same way; several Content-Length fields with different values are reported as
  ``conflicting-content-length`` and the first one wins.
* Memory is bounded: a header block over ``max_header`` bytes or a declared body over ``max_body``
  bytes is reported (``oversize-headers`` / ``oversize-body``) and the framer resynchronises on the
  next SIP start line instead of buffering. Skipping exactly the declared body length was rejected
  because a garbage Content-Length would then swallow the rest of the stream.
* Bytes that do not start a SIP message are skipped up to the next line that does (``junk``,
  reported once per run of junk with the number of bytes skipped). Only line starts qualify, so
  after an oversize body the next message is found when the body ended with a line end (SDP and
  text bodies do).
* Holes in the stream (a capture that lost a TCP segment) are announced with
  :meth:`StreamFramer.gap`: a hole inside a body of known length costs only that message and
  framing stays exact; anywhere else the framer resynchronises on the next start line.
* The output (messages, problems and their fields) is the same however the stream is split into
  feeds, which the tests check property-based; excerpts are cut accordingly.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final, TypeAlias

from sipwatch.sip.detect import looks_like_sip

#: Largest header block accepted (start line included) before reporting ``oversize-headers``.
MAX_HEADER_BYTES: Final = 64 * 1024
#: Largest declared body accepted before reporting ``oversize-body``.
MAX_BODY_BYTES: Final = 1 << 20
#: Longest start line looked at when hunting for the next message (matches sip.detect).
MAX_START_LINE: Final = 8300
#: Bytes of the affected data kept in a problem for display.
EXCERPT_BYTES: Final = 200

_VERSION: Final = b"SIP/2.0"
#: End of the header block: the first empty line (CRLF CRLF, or a bare LF, see above). One regex
#: pass is cheaper than two substring searches.
_HEAD_END: Final = re.compile(rb"\n\r?\n")
#: RFC 3261 §20.14 Content-Length, or its compact form ``l`` (§7.3.3); names are case-insensitive
#: and whitespace may precede the colon (§7.3.1 ``HCOLON``). A value folded onto the next line
#: (§7.3.1 LWS) is accepted.
_CONTENT_LENGTH: Final = re.compile(
    rb"\n(?:content-length|l)[ \t]*:[ \t]*(?:\r?\n[ \t]+)?([^\r\n]*)", re.IGNORECASE
)

# Framer states.
_START: Final = 0  # at a message boundary: skip keep-alives, read a header block
_RESYNC: Final = 1  # hunting for the next SIP start line
_DISCARD: Final = 2  # dropping the rest of a body whose middle fell into a gap


@dataclass(frozen=True, slots=True)
class FramingError:
    """A problem found while framing, returned in stream order among the messages.

    ``reason`` is a short stable code (``junk``, ``missing-content-length``,
    ``bad-content-length``, ``conflicting-content-length``, ``oversize-headers``,
    ``oversize-body``, ``lost-in-gap``, ``truncated``, and the WebSocket codes of
    :mod:`sipwatch.capture.websocket`) meant for counting; ``detail`` is for people;
    ``skipped`` is how many stream bytes were discarded because of it; ``excerpt`` holds the first
    bytes concerned.
    """

    reason: str
    detail: str
    skipped: int = 0
    excerpt: bytes = b""


#: What a framer returns: complete messages and problems, in stream order.
Framed: TypeAlias = bytes | FramingError


def find_start_line(buf: bytes | bytearray, pos: int, first_line_ok: bool) -> tuple[int, int, bool]:
    """Find the next SIP start line in ``buf[pos:]``.

    Returns ``(start, keep, keep_ok)``: ``start`` is the offset of the start line or -1;
    when -1, ``buf[keep:]`` is the tail worth keeping (a possibly incomplete line) and ``keep_ok``
    tells whether it begins at a real line start. ``first_line_ok`` says whether ``pos`` itself
    is a line start that may qualify.

    Every start line contains ``SIP/2.0`` (RFC 3261 §7.1, §7.2), so candidates are found with a
    fast substring search and only their lines go through :func:`looks_like_sip`.
    """
    length = len(buf)
    hit = buf.find(_VERSION, pos)
    while hit >= 0:
        nl_before = buf.rfind(b"\n", pos, hit)
        if nl_before >= 0:
            line, eligible = nl_before + 1, True
        else:
            line, eligible = pos, first_line_ok
        nl = buf.find(b"\n", hit)
        if nl < 0:
            # The candidate line is not complete yet: keep it whole (bounded) and wait.
            if eligible and length - line <= MAX_START_LINE:
                return -1, line, True
            break
        if (
            eligible
            and nl + 1 - line <= MAX_START_LINE
            and looks_like_sip(bytes(buf[line : nl + 1]))
        ):
            return line, line, True
        hit = buf.find(_VERSION, nl + 1)
    last_nl = buf.rfind(b"\n", pos)
    if last_nl >= 0:
        if length - (last_nl + 1) <= MAX_START_LINE:
            return -1, last_nl + 1, True
        return -1, length, False
    if first_line_ok and length - pos <= MAX_START_LINE:
        return -1, pos, True
    return -1, length, False


class StreamFramer:
    """Split one direction of a byte stream into SIP messages by Content-Length.

    Feed bytes with :meth:`feed` as they arrive; tell the framer about missing bytes with
    :meth:`gap`; call :meth:`close` at the end of the stream. Each returns a list of complete
    messages (``bytes``, start line through body) and :class:`FramingError` problems in stream
    order. The buffer never holds more than about ``max_header + max_body`` bytes.

    Cost: a feed that completes nothing returns after an append and a length or newline check
    (a body of known length is only looked at once it is complete; a header block only when a
    newline arrives), so feeding one byte at a time stays linear.
    """

    __slots__ = (
        "_body_end",
        "_buf",
        "_discard",
        "_junk",
        "_junk_excerpt",
        "_line_checked",
        "_line_ok",
        "_lost_excerpt",
        "_need",
        "_scanned",
        "_state",
        "_wait_newline",
        "max_body",
        "max_header",
    )

    def __init__(self, max_header: int = MAX_HEADER_BYTES, max_body: int = MAX_BODY_BYTES) -> None:
        self.max_header = max_header
        self.max_body = max_body
        self._buf = bytearray()
        self._state = _START
        #: Buffered length below which nothing can complete (a body of known length).
        self._need = 0
        #: Nothing can complete before a newline arrives, unless the buffer passes this length.
        self._wait_newline = -1
        #: In _START with a parsed header: total length of the message from buffer offset 0.
        self._body_end = -1
        #: In _START: offset up to which the header terminator was searched for.
        self._scanned = 0
        #: In _START: whether the start line of the buffered message was already validated.
        self._line_checked = False
        #: In _RESYNC: whether the buffered tail begins at a real line start.
        self._line_ok = True
        #: In _RESYNC: junk bytes skipped so far that still have to be reported (-1: silent).
        self._junk = -1
        self._junk_excerpt = b""
        #: In _DISCARD: body bytes still to drop, and the start of the lost message.
        self._discard = 0
        self._lost_excerpt = b""

    @property
    def buffered(self) -> int:
        """Bytes held waiting for the rest of a message."""
        return len(self._buf)

    def feed(self, data: bytes) -> list[Framed]:
        """Add stream bytes; return the messages and problems they complete."""
        out: list[Framed] = []
        if not data:
            return out
        buf = self._buf
        if buf:
            buf += data
            size = len(buf)
            if size < self._need or (size <= self._wait_newline and b"\n" not in data):
                return out
            work = bytes(buf)
        else:
            work = data
        self._need = 0
        self._wait_newline = -1
        pos = self._run(work, out)
        if pos < len(work):
            self._buf = bytearray(memoryview(work)[pos:])
        elif buf:
            self._buf = bytearray()
        return out

    def gap(self, missing: int) -> list[Framed]:
        """Record that ``missing`` stream bytes will never arrive (a capture hole).

        A message whose header block is complete and whose body spans the hole is reported as
        ``lost-in-gap`` and framing continues right after its body; otherwise the framer
        resynchronises on the next SIP start line after the hole. The first line after the hole
        qualifies: data resumes at a TCP segment start, which is usually a message start, and
        losing every message that begins right after a hole is worse than the rare start line
        cut mid-way by a segment boundary.
        """
        out: list[Framed] = []
        buf = self._buf
        self._need = 0
        self._wait_newline = -1
        if self._state == _DISCARD:
            if missing <= self._discard:
                self._discard -= missing
                if self._discard == 0:
                    self._state = _START
                return out
            self._enter_resync(line_ok=True)
            return out
        if self._state == _START and self._body_end >= 0 and len(buf) + missing <= self._body_end:
            self._lost_excerpt = bytes(buf[:EXCERPT_BYTES])
            out.append(
                FramingError(
                    "lost-in-gap",
                    "part of this message's body is missing from the capture",
                    len(buf),
                    self._lost_excerpt,
                )
            )
            self._discard = self._body_end - len(buf) - missing
            self._reset_message()
            buf.clear()
            self._state = _DISCARD if self._discard else _START
            return out
        if self._state == _START and buf.strip(b"\r\n"):
            out.append(
                FramingError(
                    "lost-in-gap",
                    "a message was cut by a hole in the capture",
                    len(buf),
                    bytes(buf[:EXCERPT_BYTES]),
                )
            )
        elif self._state == _RESYNC:
            self._count_junk(buf, 0, len(buf))
            self._flush_junk(out)
        buf.clear()
        self._enter_resync(line_ok=True)
        return out

    def close(self) -> list[Framed]:
        """End of stream: report whatever incomplete data is left and reset."""
        out: list[Framed] = []
        buf = self._buf
        if self._state == _RESYNC:
            self._count_junk(buf, 0, len(buf))
            self._flush_junk(out)
        elif self._state == _DISCARD:
            pass  # already reported as lost-in-gap
        elif buf.strip(b"\r\n"):
            out.append(
                FramingError(
                    "truncated",
                    "stream ended before the message was complete",
                    len(buf),
                    bytes(buf[:EXCERPT_BYTES]),
                )
            )
        buf.clear()
        self._state = _START
        self._reset_message()
        self._junk = -1
        self._need = 0
        self._wait_newline = -1
        return out

    # -- internals -----------------------------------------------------------------------------

    def _reset_message(self) -> None:
        self._body_end = -1
        self._scanned = 0
        self._line_checked = False

    def _enter_resync(self, line_ok: bool, report_junk: bool = False) -> None:
        self._state = _RESYNC
        self._line_ok = line_ok
        self._junk = 0 if report_junk else -1
        self._reset_message()

    def _flush_junk(self, out: list[Framed]) -> None:
        if self._junk > 0:
            out.append(
                FramingError(
                    "junk",
                    f"skipped {self._junk} bytes that do not start a SIP message",
                    self._junk,
                    self._junk_excerpt,
                )
            )
        self._junk = -1
        self._junk_excerpt = b""

    def _run(self, buf: bytes, out: list[Framed]) -> int:
        """Frame as much of ``buf`` as possible; return how many bytes were consumed.

        When it stops early, ``buf[pos:]`` is kept for the next feed, so offsets remembered
        for the message being read (``_body_end``, ``_scanned``) count from that position.
        """
        n = len(buf)
        pos = 0
        while pos < n:
            state = self._state
            if state == _START:
                end = self._body_end
                if end >= 0:
                    # Header parsed in an earlier feed; the message starts at offset 0.
                    if end > n:
                        self._need = end
                        return pos
                    out.append(buf[:end])
                    pos = end
                    self._reset_message()
                    continue
                # RFC 5626 §4.4.1 / RFC 3261 §7.5: CRLF keep-alives between messages.
                while pos < n and buf[pos] in b"\r\n":
                    pos += 1
                if pos >= n:
                    return pos
                pos = self._message(buf, pos, out)
                if self._body_end >= 0 or self._wait_newline >= 0:
                    return pos
            elif state == _RESYNC:
                start, keep, keep_ok = find_start_line(buf, pos, self._line_ok)
                if start < 0:
                    self._count_junk(buf, pos, keep)
                    self._line_ok = keep_ok
                    self._wait_newline = MAX_START_LINE
                    return keep
                self._count_junk(buf, pos, start)
                self._flush_junk(out)
                self._state = _START
                pos = start
            else:  # _DISCARD
                take = min(self._discard, n - pos)
                pos += take
                self._discard -= take
                if self._discard == 0:
                    self._state = _START
                    self._lost_excerpt = b""
        return pos

    def _message(self, buf: bytes, pos: int, out: list[Framed]) -> int:
        """Frame the message starting at ``pos``; return the position after what was used.

        Sets ``_body_end`` (a known length is missing) or ``_wait_newline`` (the start line or
        header block is incomplete) when it has to wait, returning ``pos`` unchanged.
        """
        n = len(buf)
        if not self._line_checked:
            # Fast path for the usual case, a whole well-formed message: every check of the
            # general path below, done once and in the cheapest order.
            nl = buf.find(b"\n", pos, pos + MAX_START_LINE)
            if nl >= 0:
                found = _HEAD_END.search(buf, nl)
                if found is not None and looks_like_sip(buf[pos : nl + 1]):
                    head_end = found.end()
                    values = _CONTENT_LENGTH.findall(buf, nl, head_end)
                    if (
                        len(values) == 1
                        and values[0].isdigit()
                        and head_end - pos <= self.max_header
                    ):
                        end = head_end + int(values[0])
                        if end <= n and end - head_end <= self.max_body:
                            out.append(buf[pos:end])
                            return end
        found = _HEAD_END.search(buf, pos + self._scanned)
        if not self._line_checked:
            nl = buf.find(b"\n", pos, pos + MAX_START_LINE)
            if nl < 0:
                if n - pos < MAX_START_LINE:
                    self._wait_newline = MAX_START_LINE
                    return pos
                return self._junk_at(pos)
            if not looks_like_sip(buf[pos : nl + 1]):
                return self._junk_at(pos)
            self._line_checked = True
        if found is None or found.end() - pos > self.max_header:
            if found is None and n - pos <= self.max_header:
                self._scanned = max(0, n - pos - 2)
                self._wait_newline = self.max_header
                return pos
            # Whether or not the end has arrived yet, drop exactly max_header + 1 bytes and hunt
            # for the next start line from there, so the outcome does not depend on how the
            # stream was split.
            out.append(
                FramingError(
                    "oversize-headers",
                    f"header block longer than {self.max_header} bytes",
                    self.max_header + 1,
                    buf[pos : pos + min(EXCERPT_BYTES, self.max_header + 1)],
                )
            )
            self._enter_resync(line_ok=False)
            return pos + self.max_header + 1
        head_end = found.end()
        head_len = head_end - pos
        values = _CONTENT_LENGTH.findall(buf, pos, head_end)
        if len(values) == 1 and values[0].isdigit():
            body = int(values[0])  # the usual case, checked without a call
        else:
            body = self._content_length(values, buf[pos : min(head_end, pos + EXCERPT_BYTES)], out)
        if body > self.max_body:
            out.append(
                FramingError(
                    "oversize-body",
                    f"Content-Length {body} exceeds {self.max_body}",
                    head_len,
                    buf[pos : min(head_end, pos + EXCERPT_BYTES)],
                )
            )
            self._enter_resync(line_ok=True)
            return head_end
        end = head_end + body
        if end > n:
            # The caller keeps buf[pos:], so the message will start at offset 0.
            self._body_end = end - pos
            self._need = end - pos
            return pos
        out.append(buf[pos:end])
        self._line_checked = False
        self._scanned = 0
        return end

    def _junk_at(self, pos: int) -> int:
        """The data at ``pos`` is not a SIP start line: hunt for the next one."""
        self._enter_resync(line_ok=False, report_junk=True)
        return pos

    def _count_junk(self, buf: bytes | bytearray, start: int, end: int) -> None:
        """Account skipped bytes ``buf[start:end]`` to the junk being reported, if any."""
        if self._junk < 0 or end <= start:
            return
        self._junk += end - start
        room = EXCERPT_BYTES - len(self._junk_excerpt)
        if room > 0:
            self._junk_excerpt += buf[start : min(end, start + room)]

    @staticmethod
    def _content_length(values: list[bytes], excerpt: bytes, out: list[Framed]) -> int:
        """Body length from the Content-Length values found (0 when unusable), with problems."""
        if not values:
            # RFC 3261 §18.3 / §20.14: mandatory on stream transports.
            out.append(
                FramingError(
                    "missing-content-length",
                    "no Content-Length on a stream transport (RFC 3261 §18.3); body taken as empty",
                    0,
                    excerpt,
                )
            )
            return 0
        first = values[0].strip()
        if len(values) > 1 and any(v.strip() != first for v in values[1:]):
            out.append(
                FramingError(
                    "conflicting-content-length",
                    "several Content-Length values differ; the first is used",
                    0,
                    excerpt,
                )
            )
        # RFC 3261 §20.14: Content-Length = 1*DIGIT.
        if first.isdigit():
            return int(first)
        out.append(
            FramingError(
                "bad-content-length",
                f"Content-Length {first[:40]!r} is not a number; body taken as empty",
                0,
                excerpt,
            )
        )
        return 0
