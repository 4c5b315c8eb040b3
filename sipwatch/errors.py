"""Errors meant for the operator.

Peer misbehaviour (malformed SIP, broken packets) is *data* and never raises. Only conditions the
person running sipwatch must act on raise a :class:`SipwatchError`: a file that is not a capture,
an interface that does not exist, a rules file with a typo. The CLI maps each subclass to a
one-line message and an exit code in one table, so no traceback ever reaches the user.
"""

from __future__ import annotations


class SipwatchError(Exception):
    """Base class: an operator-facing error with a one-line message."""


class CaptureFormatError(SipwatchError):
    """The input is not a capture file sipwatch can read (wrong magic, unknown format)."""


class CaptureReadError(SipwatchError):
    """The capture could not be opened or read (missing file, permission, I/O error)."""


class UnknownTermError(SipwatchError):
    """``explain``/``compare`` was asked about a term the knowledge base does not know."""

    def __init__(self, message: str, suggestions: list[str] | None = None) -> None:
        super().__init__(message)
        self.suggestions = suggestions or []


class KnowledgeError(SipwatchError):
    """The knowledge base on disk is broken: names the file and entry."""


class RulesError(SipwatchError):
    """A ``sipwatch check`` rules file is invalid: names the line and key."""


class LiveCaptureError(SipwatchError):
    """Live capture could not start: no interface, no permission, engine missing."""


class NativeCoreError(SipwatchError):
    """The native core failed (a caught Rust panic): a bug, reported with a way around it."""
