"""The SIP parse of the native engine: the core splits plain messages, Python does the rest.

:func:`native_parser` is :func:`~sipwatch.sip.parser.parse_message` for the native engine. The
core (``sipwatch._core.SipSplitter``) splits the start line and the header lines of the common
shape of message (ASCII, CRLF, well-formed); :func:`~sipwatch.sip.parser.finish_split` then
runs the body, Content-Length and mandatory-header checks shared with the Python parser, and
every other message is parsed by the Python parser alone. Header names are spelt and keyed
through the parser's own name table, handed to the core once.
"""

from __future__ import annotations

from collections.abc import Callable

from sipwatch.capture.native import core_module, failure
from sipwatch.sip.compact import NAME_TABLE
from sipwatch.sip.message import ParseResult
from sipwatch.sip.parser import finish_split, parse_message


def native_parser() -> Callable[[bytes], ParseResult]:
    """:func:`~sipwatch.sip.parser.parse_message` with the start line and header split of plain
    messages done by the core; the rest of the parse, and every unusual message, in Python."""
    splitter = core_module().SipSplitter(NAME_TABLE)
    split = splitter.split
    panic = core_module().CorePanic

    def parse(data: bytes) -> ParseResult:
        try:
            fields = split(data)
        except panic as exc:
            raise failure("splitting a SIP message", exc) from None
        if fields is None:
            return parse_message(data)
        return finish_split(data, *fields)

    return parse
