"""Events + knowledge -> what the user reads: each message's annotation, enriched findings.

The correlator knows *this* exchange (which request a response answers, which tokens were in
play, what the retry did); the knowledge base knows what a code, option tag, Q.850 cause or
Warning code means in general and how to fix it. The annotator joins the two:

* :meth:`Annotator.annotate_message` builds the ``annotation`` object of a message line (DESIGN §3:
  ``code, title, class, summary, remedy, diagnosis``). ``summary`` and ``title`` come from the
  knowledge base in the chosen language; ``diagnosis`` is the correlator's notes about this very
  message; ``remedy`` is the correlator's specific one when it has one, else the first fix step of
  the knowledge entry.
* :meth:`Annotator.annotate_finding` fills a finding's empty ``remedy`` from the knowledge base
  (only for findings that call for action: severity warning or error), and adds the meaning of
  Q.850 causes and Warning codes to ``reason`` and ``warning-header`` findings.

``explain`` decides which messages get an annotation: ``problems`` (default) annotates the first
copy of every final response >= 300, unregistered status codes, and any message the correlator
flagged; ``all`` annotates every response and every request with notes, copies included;
``none`` annotates nothing (findings are still enriched). The correlator's own words are English;
with ``lang="ja"`` the knowledge-base parts are Japanese and the diagnosis stays English.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from sipwatch.correlate.events import SEVERITY_RANK, Finding, JsonValue, MessageInfo, Note
from sipwatch.knowledge import Knowledge, ResponseEntry
from sipwatch.sip.message import SipMessage

EXPLAIN_MODES: Final = ("problems", "all", "none")

#: The status code a finding kind is about, when the kind itself fixes it.
_KIND_STATUS: Final[dict[str, int]] = {
    "bad-extension": 420,
    "extension-required": 421,
    "session-interval-too-small": 422,
    "interval-too-brief": 423,
    "glare": 491,
}


@dataclass(frozen=True, slots=True)
class Annotation:
    """The ``annotation`` object of a message line (DESIGN §3)."""

    code: int | None
    title: str
    klass: str
    summary: str
    remedy: str | None
    diagnosis: str | None

    def to_json(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "title": self.title,
            "class": self.klass,
            "summary": self.summary,
            "remedy": self.remedy,
            "diagnosis": self.diagnosis,
        }


def _worst(notes: tuple[Note, ...]) -> Note | None:
    worst: Note | None = None
    for note in notes:
        if worst is None or SEVERITY_RANK[note.severity] > SEVERITY_RANK[worst.severity]:
            worst = note
    return worst


def _sentence(text: str) -> str:
    text = text.strip()
    if not text:
        return text
    text = text[0].upper() + text[1:]
    return text if text.endswith((".", "!", "?")) else text + "."


class Annotator:
    """Knowledge-backed explanations for messages and findings, in one language."""

    __slots__ = ("explain", "kb", "lang")

    def __init__(self, kb: Knowledge, lang: str = "en", explain: str = "problems") -> None:
        if explain not in EXPLAIN_MODES:
            raise ValueError(f"explain must be one of {', '.join(EXPLAIN_MODES)}, not {explain!r}")
        kb.response_or_class(200)  # fail early on a knowledge base without the basics
        self.kb = kb
        self.lang = lang
        self.explain = explain

    # -- messages --------------------------------------------------------------------------

    def annotate_message(
        self, msg: SipMessage, info: MessageInfo | None = None
    ) -> Annotation | None:
        """The annotation of one message line, or None when ``explain`` leaves it bare."""
        explain = self.explain
        if explain == "none":
            return None
        notes = info.notes if info is not None else ()
        if msg.kind == "response":
            entry = self.kb.response_or_class(msg.status)
            if entry is None:
                return None
            copy = info is not None and (info.retransmission or info.copy_of is not None)
            # The cheap tests first (this runs for every response); a message without notes
            # is never flagged.
            wanted = (
                explain == "all"
                or (not copy and (msg.status >= 300 or not entry.registered))
                or (bool(notes) and info is not None and info.problem)
            )
            return self._response(msg, entry, info, notes) if wanted else None
        # A request gets an annotation only for its notes (most have none).
        if not notes or not (explain == "all" or (info is not None and info.problem)):
            return None
        worst = _worst(notes)
        assert worst is not None
        return Annotation(
            code=None,
            title=msg.method,
            klass="request",
            summary=_sentence(worst.text),
            remedy=next((n.remedy for n in notes if n.remedy), None),
            diagnosis=" ".join(_sentence(n.text) for n in notes),
        )

    def _response(
        self,
        msg: SipMessage,
        entry: ResponseEntry,
        info: MessageInfo | None,
        notes: tuple[Note, ...],
    ) -> Annotation:
        words = entry.text(self.lang)
        parts: list[str] = []
        if words.status_note and (not entry.registered or entry.status == "deprecated"):
            parts.append(_sentence(words.status_note))
        parts.extend(_sentence(n.text) for n in notes)
        if not notes and info is not None and info.answers is not None:
            ref = info.answers
            parts.append(
                f"Answers {ref.method} CSeq {ref.cseq} (frame {ref.frame}, "
                f"{(info.ts - ref.ts) * 1000:.0f} ms earlier)."
            )
        remedy = next((n.remedy for n in notes if n.remedy), None)
        if remedy is not None:
            remedy = _sentence(remedy)
        elif msg.status >= 400 and words.fix:
            remedy = words.fix[0]
        return Annotation(
            code=msg.status,
            title=words.reason,
            klass=self.kb.class_label(msg.status, self.lang),
            summary=words.summary,
            remedy=remedy,
            diagnosis=" ".join(parts) or None,
        )

    def shows_note(self, note: Note, annotated: bool = False) -> bool:
        """Whether a correlator note gets its own line under the message in the terminal.

        An annotation's ``diagnosis`` already holds every note of its message (the JSON output
        has no other place for them), so pass ``annotated=True`` for a message that got an
        annotation to avoid saying things twice. With ``explain="none"`` nothing is shown.
        """
        return self.explain != "none" and not annotated and bool(note.text)

    # -- findings --------------------------------------------------------------------------

    def annotate_finding(self, finding: Finding) -> Finding:
        """The finding with an empty remedy filled from knowledge and codes explained."""
        kind = finding.kind
        if kind == "reason":
            return self._reason(finding)
        if kind == "warning-header":
            return self._warning(finding)
        if finding.remedy or finding.severity == "info":
            return finding
        status = self._status_of(finding)
        if status is None:
            return finding
        entry = self.kb.response_or_class(status)
        if entry is None or not entry.text(self.lang).fix:
            return finding
        return finding.with_changes(remedy=entry.text(self.lang).fix[0])

    def _status_of(self, finding: Finding) -> int | None:
        if finding.kind in _KIND_STATUS:
            return _KIND_STATUS[finding.kind]
        for key in ("status", "accepted"):
            value = finding.get(key)
            if isinstance(value, int) and not isinstance(value, bool) and value >= 300:
                return value
        return None

    def _reason(self, finding: Finding) -> Finding:
        protocol = str(finding.get("protocol") or "").upper()
        cause = finding.get("cause")
        if protocol != "Q.850" or not isinstance(cause, int):
            if protocol == "SIP" and isinstance(cause, int) and not finding.remedy:
                return self._with_status_remedy(finding, cause)
            return finding
        entry = self.kb.q850(cause)
        if entry is None:
            return finding
        words = entry.text(self.lang)
        details: dict[str, JsonValue] = dict(finding.details)
        details["cause_name"] = words.name
        details["sip_status"] = entry.sip_status or None
        text = finding.text
        if words.name.lower() not in text.lower():
            text += f" Q.850 cause {cause} is {words.name}: {_sentence(words.summary)}"
        remedy = finding.remedy
        if not remedy and finding.severity != "info" and words.fix:
            remedy = words.fix[0]
        return finding.with_changes(text=text, remedy=remedy, details=details)

    def _with_status_remedy(self, finding: Finding, status: int) -> Finding:
        if finding.severity == "info" or not 300 <= status <= 699:
            return finding
        entry = self.kb.response_or_class(status)
        if entry is None or not entry.text(self.lang).fix:
            return finding
        return finding.with_changes(remedy=entry.text(self.lang).fix[0])

    def _warning(self, finding: Finding) -> Finding:
        code = finding.get("code")
        if not isinstance(code, int):
            return finding
        entry = self.kb.warning(code)
        if entry is None:
            return finding
        words = entry.text(self.lang)
        details: dict[str, JsonValue] = dict(finding.details)
        details["meaning"] = words.summary
        text = f"{finding.text} Warning {code} ({entry.warn_text}): {_sentence(words.summary)}"
        remedy = finding.remedy or (words.fix[0] if words.fix else "")
        return finding.with_changes(text=text, remedy=remedy, details=details)


def annotation_json(annotation: Annotation | None) -> Mapping[str, Any] | None:
    """The JSON form of an annotation, or None (the contract's ``"annotation": null``)."""
    return None if annotation is None else annotation.to_json()
