"""Extension negotiation: 420 Bad Extension, 421 Extension Required, unregistered option tags.

RFC 3261 rules behind the diagnosis:

* §8.2.2.3 / §21.4.15: a UAS that does not understand an option tag in Require answers 420 and
  MUST list the tags in Unsupported. §16.3 step 5: a proxy does the same for Proxy-Require.
  A UAS does not look at Proxy-Require, and a proxy does not look at Require (§16.3 lists the
  checks a proxy makes; §20.29/§20.32).
* §8.1.3.5: on 420 the UAC SHOULD retry without the listed extensions, in a new transaction with
  the same Call-ID, To and From and CSeq + 1.
* §8.2.4 / §21.4.16: 421 carries a Require listing what the UAS insists on; it SHOULD NOT be used
  unless the UAS truly cannot serve the request otherwise.
* §8.1.1.9 / §19.2: option tags come from standards-track RFCs and are registered with IANA.

Which element answered a 420 (``answered_by``), in order of strength:

1. the tokens: if every Unsupported tag was only in Proxy-Require, a proxy answered (UASs ignore
   Proxy-Require); if every tag was only in Require, the UAS answered (proxies ignore Require);
2. the wire: a 420 without a To tag is typical of a proxy rejecting statelessly (a UAS adds a To
   tag to every non-100 response, §8.2.6.2); a 420 from an element that was seen forwarding the
   request onwards was relayed from further downstream, so it came from the UAS side;
3. otherwise ``unknown``. ``answered_from`` is always the address the deepest copy came from.
"""

from __future__ import annotations

import difflib
from collections.abc import Collection
from typing import Final

from sipwatch.correlate.context import capture_cut, duration, frame_ref, quoted, status_line
from sipwatch.correlate.events import Endpoint, Finding, JsonValue, Severity
from sipwatch.correlate.events import format_endpoint as ep
from sipwatch.correlate.origin import Origin
from sipwatch.correlate.transactions import Exchange, Observation
from sipwatch.sip.headers import split_values
from sipwatch.sip.message import SipMessage

#: Headers whose tokens must be registered option tags (RFC 3261 §19.2).
OPTION_TAG_HEADERS: Final = ("Require", "Proxy-Require", "Supported")

#: What a few option tags are, for 421 texts (RFC numbers from the IANA option-tag registry).
_TAG_HINTS: Final[dict[str, str]] = {
    "100rel": "reliable provisional responses with PRACK (RFC 3262)",
    "timer": "session timers (RFC 4028)",
    "sec-agree": "the security agreement of RFC 3329 (IMS access)",
    "precondition": "QoS preconditions (RFC 3312)",
    "replaces": "the Replaces header (RFC 3891)",
    "path": "the Path header for registrations (RFC 3327)",
    "outbound": "SIP outbound (RFC 5626)",
    "gruu": "GRUUs (RFC 5627)",
}


def unregistered_tags(msg: SipMessage, registered: Collection[str]) -> list[tuple[str, str]]:
    """(header, tag) for every token of Require/Proxy-Require/Supported not in ``registered``."""
    found: list[tuple[str, str]] = []
    index, headers = msg.index, msg.headers
    for header, key in _OPTION_TAG_KEYS:
        positions = index.get(key)
        if positions is None:
            continue
        for position in positions:  # ``msg.tokens(header)``, one field line at a time
            for tag in _tokens(headers[position][1]):
                if tag not in registered and (header, tag) not in found:
                    found.append((header, tag))
    return found


_OPTION_TAG_KEYS: Final = tuple((header, header.lower()) for header in OPTION_TAG_HEADERS)
#: Field value -> its option tags as ``SipMessage.tokens`` reads them (comma-split, stripped,
#: lower-cased, empty ones dropped). Every message of a call repeats the same Supported line, so
#: most are found here. Emptied when full, so memory stays bounded.
_TOKENS: dict[str, tuple[str, ...]] = {}
_TOKENS_MAX: Final = 4096


def _tokens(raw: str) -> tuple[str, ...]:
    tokens = _TOKENS.get(raw)
    if tokens is None:
        # Option-tag headers are comma lists (not in headers.NO_SPLIT): split_header's rule.
        tokens = tuple(t for t in (v.strip().lower() for v in split_values(raw)) if t)
        if len(_TOKENS) >= _TOKENS_MAX:
            _TOKENS.clear()
        _TOKENS[raw] = tokens
    return tokens


def _answer_source(ex: Exchange, status: int) -> tuple[Endpoint | None, bool]:
    """Address of the deepest captured copy of ``status``; True if that element forwarded the
    request onwards (so the response was relayed from further downstream)."""
    copies = [tx for tx in ex.transactions if tx.final == status]
    if not copies:
        return ex.final_src, False
    deepest = max(copies, key=lambda tx: tx.via_count)
    source = deepest.final_src
    forwarded = any(tx.src == source and tx.via_count > deepest.via_count for tx in ex.transactions)
    return source, forwarded


def answering_element(
    ex: Exchange, required: list[str], proxy_required: list[str], unsupported: list[str]
) -> tuple[str, str]:
    """(``proxy`` | ``uas`` | ``unknown``, the reason in words); see the module docstring."""
    if unsupported and all(t in proxy_required and t not in required for t in unsupported):
        return "proxy", (
            "every unsupported tag was only in Proxy-Require, which a UAS does not check "
            "(RFC 3261 §8.2.2.3) and a proxy must (§16.3 step 5)"
        )
    if unsupported and all(t in required and t not in proxy_required for t in unsupported):
        return "uas", (
            "every unsupported tag was only in Require, which proxies do not inspect (RFC 3261 "
            "§16.3, §20.32), so the UAS (or a B2BUA acting as one) answered"
        )
    resp = ex.final_msg
    _, forwarded = _answer_source(ex, ex.final or 0)
    if forwarded:
        return "uas", "the element it came from had forwarded the request, so it was relayed"
    if resp is not None and not resp.to_tag and proxy_required:
        return "proxy", (
            "the 420 has no To tag, typical of a proxy rejecting statelessly (a UAS adds one, "
            "RFC 3261 §8.2.6.2)"
        )
    return "unknown", "neither the tokens nor the wire tell whether a proxy or the UAS answered"


def _retry_json(ex: Exchange) -> JsonValue:
    retry = ex.retry
    if retry is None:
        return None
    return {"cseq": retry.cseq, "status": retry.final}


def _retry_sentence(ex: Exchange, window: float, about: str) -> str:
    retry = ex.retry
    if retry is None and ex.retry_cut is not None:
        return capture_cut(f"the {ex.final}", ex.retry_cut, window)
    if retry is None:
        return (
            f"No retry with a higher CSeq followed within {duration(window)}: the "
            f"{ex.method} failed for good."
        )
    got = status_line(retry.final, retry.final_msg.reason if retry.final_msg else "")
    if retry.final is None:
        got = "no final response"
    return (
        f"The UAC retried as CSeq {retry.cseq} "
        f"({frame_ref(retry.request_frame, retry.request_ts, ex.final_ts)}){about} and got {got}."
    )


def _intro(ex: Exchange, status: int) -> str:
    reason = ex.final_msg.reason if ex.final_msg is not None else ""
    request = f"{ex.method} CSeq {ex.cseq} ({frame_ref(ex.request_frame)})"
    if ex.request is None:
        request = f"{ex.method} CSeq {ex.cseq} (request not captured)"
    return (
        f"{request} was refused with {status_line(status, reason)} "
        f"({frame_ref(ex.final_frame, ex.final_ts, ex.request_ts)})"
    )


def _retry_ok(ex: Exchange) -> bool:
    return ex.retry is not None and ex.retry.final is not None and 200 <= ex.retry.final < 300


def build_bad_extension(ex: Exchange, window: float, origin: Origin) -> Finding:
    """The ``bad-extension`` finding for a settled 420 exchange."""
    req = ex.request
    resp = ex.final_msg
    required = req.tokens("require") if req is not None else []
    proxy_required = req.tokens("proxy-require") if req is not None else []
    unsupported = resp.tokens("unsupported") if resp is not None else []
    has_unsupported = resp is not None and resp.has_header("unsupported")
    source, _ = _answer_source(ex, 420)
    role, why = answering_element(ex, required, proxy_required, unsupported)
    who = {"proxy": "the proxy", "uas": "the UAS"}.get(role, "the element")
    sentences = [f"{_intro(ex, 420)} {origin.phrase(who, 'by')}."]
    if unsupported:
        sentences.append(f"It does not support {quoted(unsupported)} (Unsupported).")
    elif has_unsupported:
        sentences.append(
            "Its Unsupported header is empty, although RFC 3261 §8.2.2.3 and §21.4.15 require "
            "it to list the tags it does not understand."
        )
    else:
        sentences.append(
            "It has no Unsupported header, although RFC 3261 §8.2.2.3 and §21.4.15 require one "
            "listing the tags it does not understand; the culprit is among the tags below."
        )
    if req is not None:
        sentences.append(
            f"The request had Require: {quoted(required)}; Proxy-Require: {quoted(proxy_required)}."
        )
    stray = [t for t in unsupported if t not in required and t not in proxy_required]
    if stray and req is not None:
        sentences.append(f"{quoted(stray)} in Unsupported was never asked for in this request.")
    sentences.append(f"Answered by: {role} ({why}).")
    culprits = [t for t in unsupported if t in required or t in proxy_required] or (
        unsupported or required + [t for t in proxy_required if t not in required]
    )
    about = ""
    retry = ex.retry
    if retry is not None and retry.request is not None and culprits:
        still = [
            t
            for t in culprits
            if t in retry.request.tokens("require") or t in retry.request.tokens("proxy-require")
        ]
        about = f" still requiring {quoted(still)}" if still else f" without {quoted(culprits)}"
    sentences.append(_retry_sentence(ex, window, about))

    src = ep(ex.request_src)
    if role == "proxy":
        remedy = (
            f"Remove {quoted(culprits)} from Proxy-Require on the UA at {src}, or make the proxy "
            f"at {ep(source)} support it."
        )
    elif role == "uas":
        remedy = (
            f"Remove {quoted(culprits)} from Require on the UA at {src} (list it in Supported if "
            f"it is optional), or enable it on {origin.element('the UAS')}."
        )
    else:
        remedy = (
            f"Remove {quoted(culprits)} from Require/Proxy-Require on the UA at {src}, or enable "
            f"it on {origin.element()}."
        )
    if _retry_ok(ex):
        remedy = "The retry worked; to save the round trip: " + remedy[0].lower() + remedy[1:]
    return _negotiation_finding(
        "bad-extension",
        ex,
        sentences,
        remedy,
        {
            "method": ex.method,
            "cseq": ex.cseq,
            "required": required,
            "proxy_required": proxy_required,
            "unsupported": unsupported,
            "retry": _retry_json(ex),
            "answered_by": role,
            "answered_from": ep(source),
            "unsupported_header": has_unsupported,
            "answered_by_element": origin.answered_by_json(),
            "relayed_by": origin.relayed_by_json(),
        },
    )


def build_extension_required(ex: Exchange, window: float, origin: Origin) -> Finding:
    """The ``extension-required`` finding for a settled 421 exchange."""
    req = ex.request
    resp = ex.final_msg
    needed = resp.tokens("require") if resp is not None else []
    supported = req.tokens("supported") if req is not None else []
    missing = [t for t in needed if t not in supported]
    source, _ = _answer_source(ex, 421)
    sentences = [f"{_intro(ex, 421)} {origin.phrase(preposition='by')}."]
    if needed:
        hints = [f"'{t}' means {_TAG_HINTS[t]}" for t in needed if t in _TAG_HINTS]
        sentences.append(f"It insists on {quoted(needed)} (Require in the 421).")
        if hints:
            sentences.append("; ".join(hints) + ".")
    else:
        sentences.append(
            "The 421 carries no Require header, which RFC 3261 §21.4.16 makes mandatory: it did "
            "not say which extension it needs."
        )
    if req is not None:
        offered = f"The request offered Supported: {quoted(supported)}"
        if missing and needed:
            offered += f", without {quoted(missing)}"
        sentences.append(offered + ".")
    sentences.append(
        "RFC 3261 §21.4.16: a UAS SHOULD NOT use 421 unless it truly cannot serve the request "
        "with baseline SIP."
    )
    about = ""
    retry = ex.retry
    if retry is not None and retry.request is not None and needed:
        offered_now = retry.request.tokens("supported") + retry.request.tokens("require")
        lacking = [t for t in needed if t not in offered_now]
        about = (
            f" still without {quoted(lacking)}" if lacking else f" now offering {quoted(needed)}"
        )
    sentences.append(_retry_sentence(ex, window, about))
    wanted = missing or needed
    remedy = (
        f"Enable {quoted(wanted)} on the UA at {ep(ex.request_src)} so it lists them in "
        f"Supported, or configure {origin.element()} not to require them (RFC 3261 §21.4.16)."
    )
    if not needed:
        remedy = (
            f"Ask the operator of {origin.element()} which extension it requires: its 421 names "
            "none."
        )
    return _negotiation_finding(
        "extension-required",
        ex,
        sentences,
        remedy,
        {
            "method": ex.method,
            "cseq": ex.cseq,
            "required": needed,
            "supported": supported,
            "missing": missing,
            "retry": _retry_json(ex),
            "answered_from": ep(source),
            **origin.fields(),
        },
    )


def _negotiation_finding(
    kind: str, ex: Exchange, sentences: list[str], remedy: str, details: dict[str, JsonValue]
) -> Finding:
    """A 420/421 finding: a warning when the retry succeeded, an error when it did not."""
    severity: Severity = "warning" if _retry_ok(ex) else "error"
    return Finding(
        kind=kind,
        severity=severity,
        ts=ex.final_ts if ex.final_ts is not None else ex.first_ts,
        call_id=ex.call_id,
        frames=_frames(ex),
        text=" ".join(sentences),
        remedy=remedy,
        details=details,
    )


_CONSEQUENCE: Final[dict[str, str]] = {
    "Require": (
        "A UAS that does not know it must reject the request with 420 Bad Extension "
        "(RFC 3261 §8.2.2.3)."
    ),
    "Proxy-Require": (
        "Every proxy on the path that does not know it must answer 420 (§16.3 step 5)."
    ),
    "Supported": (
        "Peers ignore tags they do not know in Supported, so the extension it stands for is "
        "silently not negotiated."
    ),
}


def build_unregistered_tag(ex: Exchange, obs: Observation, registered: Collection[str]) -> Finding:
    """``unregistered-option-tag``: a token no IANA registration defines (RFC 3261 §19.2)."""
    tag = obs.value
    close = difflib.get_close_matches(tag, sorted(registered), n=1, cutoff=0.75)
    suggestion = close[0] if close else None
    if obs.status is None:
        where = f"{obs.method} CSeq {ex.cseq} (frame {obs.frame}) from {ep(obs.src)}"
    else:
        where = (
            f"The {obs.status} to {obs.method} CSeq {ex.cseq} (frame {obs.frame}) from "
            f"{ep(obs.src)}"
        )
    text = (
        f"{where} lists '{tag}' in {obs.header}; it is not an IANA-registered option tag "
        "(RFC 3261 §19.2, §8.1.1.9: only standards-track option tags belong there)"
    )
    text += f"; it looks like a misspelling of '{suggestion}'." if suggestion else "."
    text += " " + _CONSEQUENCE[obs.header]
    if suggestion:
        remedy = (
            f"Correct the option tag on the UA at {ep(obs.src)}: '{tag}' -> '{suggestion}' in "
            f"{obs.header}."
        )
    else:
        remedy = (
            f"Remove '{tag}' from {obs.header} on the UA at {ep(obs.src)}, or check its vendor "
            "documentation for the standard tag it means."
        )
    severity: Severity = "info" if obs.header == "Supported" else "warning"
    return Finding(
        kind="unregistered-option-tag",
        severity=severity,
        ts=obs.ts,
        call_id=ex.call_id,
        frames=(obs.frame,),
        text=text,
        remedy=remedy,
        details={
            "tag": tag,
            "header": obs.header,
            "method": obs.method,
            "status": obs.status,
            "suggestion": suggestion,
        },
    )


def _frames(ex: Exchange) -> tuple[int, ...]:
    frames = set(ex.frames)
    retry = ex.retry
    if retry is not None:
        frames.update(retry.frames)
    return tuple(sorted(frames))
