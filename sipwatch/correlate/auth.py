"""Digest challenges: 401/407, the retry with credentials, and loops of challenges.

RFC 3261 §22.2 (UAS: 401 with WWW-Authenticate) and §22.3 (proxy: 407 with Proxy-Authenticate):
the UAC SHOULD retry with Authorization / Proxy-Authorization, a new transaction with CSeq + 1
and the same Call-ID (§8.1.3.5 style). A retry challenged again without ``stale=true`` means the
credentials were not accepted (RFC 2617 §3.2.1: stale=true only says the nonce expired).

One *chain* is the first challenged request and every retry that was challenged again; it ends
with the first non-challenge final response (``result``), or when no retry comes. One finding per
chain: ``auth-challenge``, or ``auth-loop`` when the chain holds ``loop_threshold`` challenges or
more, which is what a UA with a wrong password looks like on the wire.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Final

from sipwatch.correlate.context import duration, frame_ref, status_line
from sipwatch.correlate.events import Finding, JsonValue, Severity
from sipwatch.correlate.events import format_endpoint as ep
from sipwatch.correlate.transactions import Exchange
from sipwatch.sip.message import SipMessage

#: ``name = token`` or ``name = "quoted"`` (RFC 3261 §25.1 auth-param). A name starts only at a
#: word start and the quantifiers are possessive: otherwise a long header value without ``=`` is
#: rescanned from every character, quadratic in a length the peer chooses (64 KB: a minute).
_PARAM: Final = re.compile(
    r'(?<![\w-])([A-Za-z][\w-]*+)\s*+=\s*+(?:"((?:[^"\\]|\\.)*+)"|([^\s,]++))'
)


def auth_params(value: str) -> dict[str, str]:
    """Parameters of a challenge or credentials value (``Digest realm="x", nonce=...``)."""
    params: dict[str, str] = {}
    for match in _PARAM.finditer(value):
        name = match.group(1).lower()
        if name not in params:
            params[name] = match.group(2) if match.group(2) is not None else match.group(3)
    return params


def _header_pair(status: int) -> tuple[str, str]:
    """(challenge header, credentials header) for 401 or 407."""
    if status == 407:
        return "Proxy-Authenticate", "Proxy-Authorization"
    return "WWW-Authenticate", "Authorization"


@dataclass(slots=True, eq=False)
class Challenge:
    exchange: Exchange
    status: int
    header: str
    realm: str | None
    stale: bool
    #: Username of the credentials the challenged request carried (None: it carried none).
    username: str | None
    #: Whether the response carried the challenge header at all.
    present: bool = True


@dataclass(slots=True, eq=False)
class AuthChain:
    challenges: list[Challenge] = field(default_factory=list)
    result: Exchange | None = None
    emitted: bool = False

    @property
    def head(self) -> Exchange:
        return self.challenges[0].exchange


def credentials_username(msg: SipMessage | None, header: str) -> str | None:
    if msg is None:
        return None
    raw = msg.header(header)
    if raw is None:
        return None
    return auth_params(raw).get("username", "")


def make_challenge(ex: Exchange) -> Challenge:
    status = ex.final or 401
    challenge_header, credentials_header = _header_pair(status)
    resp = ex.final_msg
    params = auth_params(resp.header(challenge_header) or "") if resp is not None else {}
    return Challenge(
        exchange=ex,
        status=status,
        header=challenge_header,
        realm=params.get("realm"),
        stale=params.get("stale", "").lower() == "true",
        username=credentials_username(ex.request, credentials_header),
        present=resp is not None and resp.has_header(challenge_header),
    )


def extend_chain(ex: Exchange) -> AuthChain:
    """File the settled 401/407 exchange ``ex`` into its chain (new, or its predecessor's)."""
    prev = ex.retry_of
    chain = prev.auth_chain if prev is not None and prev.auth_chain is not None else None
    if chain is None or chain.emitted or chain.result is not None:
        chain = AuthChain()
    chain.challenges.append(make_challenge(ex))
    ex.auth_chain = chain
    return chain


def build_auth_finding(chain: AuthChain, loop_threshold: int, window: float) -> Finding:
    """``auth-challenge`` or ``auth-loop`` for a finished chain."""
    head = chain.head
    first = chain.challenges[0]
    realm = next((c.realm for c in chain.challenges if c.realm), None)
    realm_text = f'realm "{realm}"' if realm else "the challenging realm"
    reason = head.final_msg.reason if head.final_msg is not None else ""
    sentences = [
        f"{head.method} CSeq {head.cseq} ({frame_ref(head.request_frame)}) from "
        f"{ep(head.request_src)} was challenged with {status_line(first.status, reason)} "
        f"({frame_ref(head.final_frame, head.final_ts, head.request_ts)}; "
        + (f"{first.header} {realm_text})." if realm else f"no realm in {first.header}).")
    ]
    if not first.present:
        sentences.append(
            f"The {first.status} carries no {first.header} header, although RFC 3261 §22.2 and "
            "§22.3 require one: the UA cannot answer the challenge."
        )
    if first.username is not None:
        sentences.append(
            f'That request already carried credentials (username "{first.username}"), so they '
            "were not accepted."
        )
    rejected_credentials = first.username is not None and not first.stale
    for challenge in chain.challenges[1:]:
        ex = challenge.exchange
        creds = (
            f'carried credentials (username "{challenge.username}")'
            if challenge.username is not None
            else "carried no credentials"
        )
        why = (
            "stale=true: the nonce had expired, a normal refresh"
            if challenge.stale
            else "not stale: the credentials were rejected"
        )
        if not challenge.stale and challenge.username is not None:
            rejected_credentials = True
        sentences.append(
            f"The retry CSeq {ex.cseq} ({frame_ref(ex.request_frame)}) {creds} and was challenged "
            f"again with {challenge.status} ({frame_ref(ex.final_frame)}; {why})."
        )
    last = chain.challenges[-1]
    _, credentials_header = _header_pair(last.status)
    result = chain.result
    username: str | None = next(
        (c.username for c in reversed(chain.challenges) if c.username), None
    )
    if result is not None:
        result_user = credentials_username(result.request, credentials_header)
        username = result_user or username
        creds = (
            f'carried {credentials_header} (username "{result_user}")'
            if result_user is not None
            else f"carried no {credentials_header}"
        )
        got = status_line(result.final, result.final_msg.reason if result.final_msg else "")
        if result.final is None:
            got = "no final response"
        verdict = ""
        if result.final is not None and 200 <= result.final < 300:
            verdict = ": authentication worked"
        elif result.final == 403:
            verdict = (
                ": the credentials were refused (wrong password, or the account may not do this)"
            )
        elif result.final is not None:
            verdict = ": authentication passed; the request failed for another reason"
        sentences.append(
            f"The retry CSeq {result.cseq} "
            f"({frame_ref(result.request_frame, result.request_ts, last.exchange.final_ts)}) "
            f"{creds} and got {got}{verdict}."
        )
    elif last.exchange.retry_cut is not None:
        retry_kind = "a further retry" if username is not None else "a retry with credentials"
        sentences.append(
            f"The capture ended {duration(last.exchange.retry_cut)} after the {last.status}, "
            f"before the {duration(window)} {retry_kind} may take: whether the UA retries is "
            "not known."
        )
    elif username is not None:
        sentences.append(f"No further retry followed within {duration(window)}: the UA gave up.")
    else:
        sentences.append(
            f"No retry with credentials followed within {duration(window)}: the UA has no "
            f"credentials for {realm_text}, or gave up."
        )
    loop = len(chain.challenges) >= loop_threshold
    if loop:
        sentences.append(
            f"Challenged {len(chain.challenges)} times in a row: the UA keeps sending "
            "credentials the server does not accept (wrong password, username/realm mismatch, "
            "or a digest computed over the wrong URI or method)."
        )
    src = ep(head.request_src)
    ok = result is not None and result.final is not None and 200 <= result.final < 300
    remedy = ""
    if loop or rejected_credentials or (result is not None and result.final == 403):
        who = f'username "{username}"' if username else "username"
        remedy = f"Check the {who} and password for {realm_text} on the UA at {src}."
        if loop and all(c.stale for c in chain.challenges[1:]):
            remedy += (
                " Every re-challenge said stale=true: the server's nonce lifetime is too short."
            )
    elif result is None and last.exchange.retry_cut is not None:
        remedy = "Capture for longer to see whether the UA retries with credentials."
    elif result is None:
        remedy = f"Configure credentials for {realm_text} on the UA at {src}."
        if not first.present:
            remedy = (
                f"Fix {ep(head.final_src)}: its {first.status} must carry {first.header} "
                "(RFC 3261 §22.2, §22.3)."
            )
    cut = result is None and last.exchange.retry_cut is not None
    severity: Severity = "error" if loop else ("info" if ok or cut else "warning")
    challenges: list[JsonValue] = [
        {
            "cseq": c.exchange.cseq,
            "status": c.status,
            "frame": c.exchange.final_frame,
            "realm": c.realm,
            "stale": c.stale,
        }
        for c in chain.challenges
    ]
    first_retry = head.retry
    frames: set[int] = set()
    for challenge in chain.challenges:
        frames.update(challenge.exchange.frames)
    if result is not None:
        frames.update(result.frames)
    return Finding(
        kind="auth-loop" if loop else "auth-challenge",
        severity=severity,
        ts=head.final_ts if head.final_ts is not None else head.first_ts,
        call_id=head.call_id,
        frames=tuple(sorted(frames)),
        text=" ".join(sentences),
        remedy=remedy,
        details={
            "method": head.method,
            "cseq": head.cseq,
            "status": first.status,
            "realm": realm,
            "username": username,
            "challenges": challenges,
            "count": len(chain.challenges),
            "retry": (
                {"cseq": first_retry.cseq, "status": first_retry.final}
                if first_retry is not None
                else None
            ),
            "result": (
                {"cseq": result.cseq, "status": result.final} if result is not None else None
            ),
        },
    )
