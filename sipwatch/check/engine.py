"""Evaluating the rules over one capture's records, in capture order.

The :class:`RuleEngine` is fed the pipeline's records one at a time and keeps only what a rule
needs: the findings, the final failure responses (one entry however many hops and
retransmissions carried it), and a few numbers per call (the highest CSeq answered with a 2xx,
cancelled INVITEs, setup timing, retransmission counts when those thresholds are set). Memory
grows with the number of calls and problems, never with the number of messages.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from sipwatch.check.rules import (
    ACTION_SEVERITIES,
    ALLOWABLE,
    FINDING_RULES,
    MAX_PROBLEMS_PER_RULE,
    RULES_BY_ID,
    Evaluation,
    Problem,
    as_int,
    finding_problem,
    fold,
    lower_level,
    malformed_problem,
    unjudged_problem,
)
from sipwatch.media.model import StreamReport
from sipwatch.records import FindingRecord, MalformedRecord, MessageRecord, Record, StreamRecord

if TYPE_CHECKING:
    from sipwatch.check.config import CheckConfig

#: Challenges that a retry is meant to answer (RFC 3261 §22.2 and §22.3 credentials, RFC 4028
#: §6 422, RFC 3261 §10.2.8 423, §14.1 491 glare retried after a random delay). When a later
#: CSeq of the same method in the same call got a final response that is not one of these, the
#: challenge was met: the retry's own response is judged on its own (a 2xx passes, a 404 warns),
#: so the challenge is not reported a second time.
_RETRYABLE: Final = frozenset({401, 407, 422, 423, 491})

#: Finding kinds that explain one failure response; a response-code problem borrows the text and
#: remedy of the one describing its exchange (same Call-ID, method, CSeq and status).
_RESPONSE_KINDS: Final = frozenset(
    {
        "request-failed",
        # A 488/606 explained by its codec lists (media findings carry method, cseq, status).
        "codec-mismatch",
        "srtp-mismatch",
        "server-error",
        "unavailable",
        "redirect",
        "glare",
        "session-interval-too-small",
        "interval-too-brief",
        "notify-rejected",
        "auth-challenge",
    }
)


@dataclass(slots=True)
class _Final:
    """One final response, however many copies (hops, retransmissions) carried it."""

    call_id: str
    method: str
    cseq: int
    status: int
    reason: str
    ts: float
    src: str
    dst: str
    frames: list[int]
    annotation: Mapping[str, Any] | None


@dataclass(slots=True)
class _Setup:
    """The first initial INVITE of a call and the first 180/183/200 that answered it."""

    ts: float
    frame: int
    caller: str
    answer: tuple[float, int, int] | None = None  # ts, frame, status (delivered to the caller)
    any_answer: tuple[float, int, int] | None = None  # first seen anywhere (another hop)


class RuleEngine:
    """Fed one capture's records in order; :meth:`finish` returns the :class:`Evaluation`."""

    def __init__(self, config: CheckConfig) -> None:
        self.config = config
        self._findings: list[Mapping[str, Any]] = []
        self._malformed: list[MalformedRecord] = []
        self._malformed_count = 0
        self._finals: dict[tuple[str, int, str, int], _Final] = {}
        #: (Call-ID, method) -> highest CSeq whose final response was not a challenge.
        self._answered: dict[tuple[str, str], int] = {}
        self._cancelled: set[tuple[str, int]] = set()
        self._setup: dict[str, _Setup] = {}
        self._retrans: dict[tuple[str, int, str, str], list[int]] = {}
        self._damage: list[str] = []
        self._sip_seen = False
        self._streams: list[StreamReport] = []

    # -- feeding ---------------------------------------------------------------------------

    def feed(self, record: Record) -> None:
        if isinstance(record, StreamRecord):
            if not self.config.ignored(record.stream.call_id):
                self._streams.append(record.stream)
            return
        if not isinstance(record, FindingRecord):
            self._sip_seen = True
        if isinstance(record, FindingRecord):
            if not self.config.ignored(str(record.data.get("call_id", ""))):
                self._findings.append(record.data)
        elif isinstance(record, MalformedRecord):
            self._malformed_count += 1
            if len(self._malformed) < MAX_PROBLEMS_PER_RULE:
                self._malformed.append(record)
        elif not self.config.ignored(record.msg.call_id):
            self._message(record)

    def damaged(self, truncated: bool, problems: Sequence[str]) -> None:
        """What the capture reader reported about the file itself."""
        self._damage = list(problems)
        if truncated and not self._damage:
            self._damage.append("the capture ends in the middle of a record")

    def _message(self, record: MessageRecord) -> None:
        msg = record.msg
        call_id = msg.call_id
        cseq, method = msg.cseq
        if record.retransmission and self.config.max_retransmissions is not None:
            self._retrans.setdefault((call_id, cseq, method, msg.branch), []).append(record.frame)
        if msg.kind == "request":
            if msg.method == "CANCEL":
                self._cancelled.add((call_id, cseq))
            elif (
                msg.method == "INVITE"
                and not msg.to_tag
                and self.config.max_setup_time is not None
                and call_id not in self._setup
            ):
                self._setup[call_id] = _Setup(record.ts, record.frame, record.src)
            return
        status = msg.status
        if status in (180, 183, 200) and method == "INVITE":
            setup = self._setup.get(call_id)
            if setup is not None:
                answer = (record.ts, record.frame, status)
                if setup.any_answer is None:
                    setup.any_answer = answer
                if setup.answer is None and record.dst == setup.caller:
                    setup.answer = answer
        if status < 200:
            return
        if status not in _RETRYABLE:
            key2 = (call_id, method)
            self._answered[key2] = max(self._answered.get(key2, cseq), cseq)
        if status < 400 and not self.config.status.denied(method, status):
            return
        key = (call_id, cseq, method, status)
        seen = self._finals.get(key)
        if seen is not None:
            seen.frames.append(record.frame)
            return
        self._finals[key] = _Final(
            call_id,
            method,
            cseq,
            status,
            msg.reason,
            record.ts,
            record.src,
            record.dst,
            [record.frame],
            record.annotation,
        )

    # -- judging ---------------------------------------------------------------------------

    def finish(self) -> Evaluation:
        raw: list[Problem] = []
        explained: dict[tuple[str, str, int], list[Mapping[str, Any]]] = {}
        for finding in self._findings:
            problem = finding_problem(finding)
            if problem is not None:
                raw.append(problem)
            elif finding.get("kind") in _RESPONSE_KINDS:
                key = (
                    str(finding.get("call_id", "")),
                    str(finding.get("method", "")),
                    as_int(finding.get("cseq")) or 0,
                )
                explained.setdefault(key, []).append(finding)
            if not self._judged(finding) and finding.get("severity") in ACTION_SEVERITIES:
                raw.append(unjudged_problem(finding))
        for final in self._finals.values():
            problem = self._status_problem(final)
            if problem is not None:
                _explain(problem, final, explained)
                raw.append(problem)
        raw.extend(self._setup_problems())
        raw.extend(self._mos_problems())
        raw.extend(self._retransmission_problems())
        raw.extend(malformed_problem(record) for record in self._malformed)
        raw.extend(
            Problem("damaged-capture", "warn", f"Capture damaged: {text}", "capture")
            for text in self._damage
        )
        if not self._sip_seen:
            # A recording on the wrong interface, port or filter: say so rather than pass.
            raw.append(
                Problem(
                    "no-sip",
                    "warn",
                    "The capture holds no SIP message (recorded on the wrong interface or port, "
                    "with a filter that dropped SIP, or SIP over TLS that cannot be read).",
                    "capture",
                )
            )
        problems = fold(self._configure(raw))
        kept: list[Problem] = []
        per_rule: Counter[str] = Counter()
        omitted: Counter[str] = Counter()
        omitted_failing: Counter[str] = Counter()
        for problem in problems:
            per_rule[problem.rule] += 1
            if per_rule[problem.rule] > MAX_PROBLEMS_PER_RULE:
                omitted[problem.rule] += 1
                if problem.level == "fail":
                    omitted_failing[problem.rule] += 1
            else:
                kept.append(problem)
        extra_malformed = self._malformed_count - len(self._malformed)
        malformed_setting = self.config.setting("malformed-sip", "fail")
        if extra_malformed > 0 and malformed_setting != "off":
            omitted["malformed-sip"] += extra_malformed
            if malformed_setting == "fail":
                omitted_failing["malformed-sip"] += extra_malformed
        return Evaluation(
            kept, list(self._findings), self._malformed_count, omitted, omitted_failing
        )

    def _judged(self, finding: Mapping[str, Any]) -> bool:
        """Whether a rule other than ``other-findings`` reads this finding.

        The finding rules read their kinds whatever they conclude. The response rules read
        every final response >= 400 (``server-or-global-failure``, ``client-failure``,
        ``extension-retry``, with their exemptions for challenges met and cancelled INVITEs)
        and every denied one, so a finding that explains such a response is theirs. Turning one
        of these rules off leaves its findings unreported, as it should.
        """
        kind = finding.get("kind")
        if kind in FINDING_RULES:
            return True
        if kind not in _RESPONSE_KINDS:
            return False
        status = as_int(finding.get("status"))
        if status is None:
            return False
        method = finding.get("method")
        return status >= 400 or (
            isinstance(method, str) and self.config.status.denied(method, status)
        )

    def _configure(self, problems: list[Problem]) -> list[Problem]:
        """Apply ``[status] allow`` and the per-rule levels of ``[rules]``."""
        result: list[Problem] = []
        policy = self.config.status
        for problem in problems:
            if (
                problem.rule in ALLOWABLE
                and problem.method is not None
                and problem.status is not None
                and policy.allowed(problem.method, problem.status)
                and not policy.denied(problem.method, problem.status)
            ):
                continue
            setting = self.config.setting(problem.rule, RULES_BY_ID[problem.rule].level)
            if setting == "off":
                continue
            problem.level = lower_level(setting, problem.ceiling)
            result.append(problem)
        return result

    def _status_problem(self, final: _Final) -> Problem | None:
        status, method = final.status, final.method
        if self.config.status.denied(method, status):
            rule = "denied-status"
        elif status >= 500:
            rule = "server-or-global-failure"
        elif status in (420, 421):
            return None  # the extension-retry rule judges these from the finding
        elif status in _RETRYABLE and self._answered.get((final.call_id, method), 0) > final.cseq:
            return None
        elif (
            status == 487 and method == "INVITE" and (final.call_id, final.cseq) in self._cancelled
        ):
            return None  # RFC 3261 §9.2: the answer to an INVITE the caller cancelled
        elif status >= 400:
            rule = "client-failure"
        else:
            return None
        frame = final.frames[0]
        text = (
            f"{method} CSeq {final.cseq} got {status} {final.reason} from {final.src} "
            f"(frame {frame})."
        )
        remedy = ""
        if final.annotation:
            explanation = final.annotation.get("diagnosis") or final.annotation.get("summary")
            if explanation:
                text += f" {explanation}"
            remedy = str(final.annotation.get("remedy") or "")
        return Problem(
            rule,
            RULES_BY_ID[rule].level,
            text,
            "status",
            call_id=final.call_id,
            frames=tuple(final.frames),
            ts=final.ts,
            remedy=remedy,
            method=method,
            status=status,
            details={
                "method": method,
                "cseq": final.cseq,
                "status": status,
                "reason": final.reason,
                "src": final.src,
                "dst": final.dst,
            },
        )

    def _setup_problems(self) -> list[Problem]:
        limit = self.config.max_setup_time
        if limit is None:
            return []
        problems: list[Problem] = []
        for call_id, setup in self._setup.items():
            answer = setup.answer or setup.any_answer
            if answer is None:
                continue  # never answered: other rules say why
            ts, frame, status = answer
            took = ts - setup.ts
            if took <= limit:
                continue
            problems.append(
                Problem(
                    "setup-time",
                    "fail",
                    f"Call setup took {took:.3f} s from the INVITE (frame {setup.frame}) to the "
                    f"first {status} (frame {frame}); the limit is {limit:g} s.",
                    "setup-time",
                    call_id=call_id,
                    frames=(setup.frame, frame),
                    ts=setup.ts,
                    method="INVITE",
                    details={"setup_time": round(took, 6), "limit": limit, "status": status},
                )
            )
        return problems

    def _mos_problems(self) -> list[Problem]:
        """The ``mos-below`` rule: one problem per stream whose estimate is under the limit
        (a stream without an estimate, for want of a known codec, is not judged)."""
        limit = self.config.mos_below
        if limit is None:
            return []
        problems: list[Problem] = []
        for stream in self._streams:
            mos = stream.mos_estimate
            if mos is None or mos >= limit:
                continue
            problems.append(
                Problem(
                    "mos-below",
                    "fail",
                    f"RTP {stream.src} -> {stream.dst} ({stream.codec or 'unknown codec'}, "
                    f"SSRC {stream.ssrc:#010x}) has a MOS estimate of {mos:.2f}; the limit is "
                    f"{limit:g} ({stream.lost} of {stream.expected} packets lost, mean jitter "
                    f"{stream.jitter_mean_ms:g} ms).",
                    "media-quality",
                    call_id=stream.call_id,
                    frames=(stream.first_frame, stream.last_frame),
                    ts=stream.first_ts,
                    remedy="Look for congestion or a lossy link on that path.",
                    details={
                        "src": stream.src,
                        "dst": stream.dst,
                        "ssrc": stream.ssrc,
                        "mos_estimate": mos,
                        "limit": limit,
                    },
                )
            )
        return problems

    def _retransmission_problems(self) -> list[Problem]:
        limit = self.config.max_retransmissions
        if limit is None:
            return []
        problems: list[Problem] = []
        for (call_id, cseq, method, branch), frames in self._retrans.items():
            if len(frames) <= limit:
                continue
            problems.append(
                Problem(
                    "max-retransmissions",
                    "fail",
                    f"{method} CSeq {cseq} was retransmitted {len(frames)} times (frames "
                    f"{_frame_list(frames)}); the limit is {limit}.",
                    "retransmissions",
                    call_id=call_id,
                    frames=tuple(frames),
                    method=method,
                    details={
                        "method": method,
                        "cseq": cseq,
                        "branch": branch,
                        "count": len(frames),
                        "limit": limit,
                    },
                )
            )
        return problems


def _explain(
    problem: Problem,
    final: _Final,
    explained: Mapping[tuple[str, str, int], list[Mapping[str, Any]]],
) -> None:
    """Give a response-code problem the words of the finding about the same exchange."""
    for finding in explained.get((final.call_id, final.method, final.cseq), ()):
        status = as_int(finding.get("status"))
        if status is not None and status != final.status:
            continue
        problem.finding = finding
        problem.kind = str(finding.get("kind", problem.kind))
        problem.text = str(finding.get("text") or problem.text)
        problem.remedy = str(finding.get("remedy") or problem.remedy)
        return


def _frame_list(frames: Sequence[int], limit: int = 8) -> str:
    shown = ", ".join(str(f) for f in frames[:limit])
    return shown + (", …" if len(frames) > limit else "")
