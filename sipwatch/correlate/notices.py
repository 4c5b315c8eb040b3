"""Findings from informative headers: Reason (RFC 3326) and Warning (RFC 3261 §20.43).

* Reason says why a request was sent or a call ended: ``Q.850;cause=16`` carries the ISDN cause
  (RFC 3326 §2, causes per ITU-T Q.850), ``SIP;cause=200;text="Call completed elsewhere"`` a SIP
  status (RFC 3326 §2, used on CANCEL when a forked call was answered elsewhere). It appears on
  BYE and CANCEL, and on responses (RFC 3326 §2 allows it in any request or response).
* Warning codes 300-399 (RFC 3261 §20.43) tell what an element did not like, mostly in the SDP.

One finding per exchange and kind; its values come from the first message that carried them.
The annotator adds the Q.850 cause name and the warning text's meaning from the knowledge base.
"""

from __future__ import annotations

from typing import Final

from sipwatch.correlate.events import Finding, JsonValue, Severity
from sipwatch.correlate.events import format_endpoint as ep
from sipwatch.correlate.transactions import Exchange, Observation

#: Q.850 causes of the "normal event" kind that need no attention (16 normal clearing, 17 busy,
#: 18/19 no answer, 31 normal unspecified); SIP cause 200 is "completed elsewhere".
_ROUTINE_Q850: Final = frozenset({16, 17, 18, 19, 31})
_ROUTINE_SIP: Final = frozenset({200, 487})


def _reason_params(value: str) -> tuple[str, dict[str, str]]:
    """``protocol`` and its parameters. A Reason value has no display name or URI (RFC 3326
    §2: ``protocol *(SEMI reason-params)``), so the first ``;`` ends the protocol, and only the
    quoted ``text`` value needs care (it may hold ``;``)."""
    protocol, _, rest = value.partition(";")
    params: dict[str, str] = {}
    item: list[str] = []
    quoted = False
    escaped = False
    for char in rest + ";":
        if escaped:
            escaped = False
        elif char == "\\" and quoted:
            escaped = True
            continue
        elif char == '"':
            quoted = not quoted
            continue
        elif char == ";" and not quoted:
            name, _, raw = "".join(item).partition("=")
            name = name.strip().lower()
            if name and name not in params:
                params[name] = raw.strip()
            item = []
            continue
        item.append(char)
    return protocol.strip(), params


def parse_reason(value: str) -> tuple[str, int | None, str | None]:
    """(protocol, cause, text) of one Reason value (RFC 3326 §2)."""
    main, params = _reason_params(value)
    cause_raw = params.get("cause", "").strip()
    cause = int(cause_raw) if cause_raw.isdigit() else None
    return main.strip(), cause, params.get("text")


def parse_warning(value: str) -> tuple[int | None, str, str]:
    """(code, agent, text) of one Warning value (``warn-code SP warn-agent SP warn-text``)."""
    parts = value.strip().split(None, 2)
    code = int(parts[0]) if parts and parts[0].isdigit() else None
    agent = parts[1] if len(parts) > 1 else ""
    text = parts[2].strip() if len(parts) > 2 else ""
    if len(text) >= 2 and text[0] == '"' and text[-1] == '"':
        text = text[1:-1]
    return code, agent, text


def _carrier(ex: Exchange, obs: Observation) -> str:
    if obs.status is None:
        return f"{obs.method} CSeq {ex.cseq} (frame {obs.frame}) from {ep(obs.src)}"
    return f"The {obs.status} to {obs.method} CSeq {ex.cseq} (frame {obs.frame}) from {ep(obs.src)}"


def build_reason(ex: Exchange, observations: list[Observation]) -> Finding:
    """``reason``: the Reason header(s) of the first message in the exchange that had one."""
    first = observations[0]
    same = [o for o in observations if o.frame == first.frame]
    parsed = [parse_reason(o.value) for o in same]
    # Prefer the Q.850 value: it is the one gateways and carriers act on.
    protocol, cause, text = next((p for p in parsed if p[0].upper() == "Q.850"), parsed[0])
    sentences = [f"{_carrier(ex, first)} carries Reason: {'; '.join(o.value for o in same)}."]
    if protocol.upper() == "Q.850" and cause is not None:
        label = f" ({text})" if text else ""
        sentences.append(
            f"Q.850 cause {cause}{label}: the ISDN/telephony reason the call ended or the request "
            "was made (RFC 3326)."
        )
        routine = cause in _ROUTINE_Q850
    elif protocol.upper() == "SIP" and cause is not None:
        if cause == 200:
            sentences.append(
                "SIP cause 200: the call was answered elsewhere, so this branch was cancelled "
                "(RFC 3326 §2 with forking)."
            )
        else:
            sentences.append(f"SIP cause {cause}{f' ({text})' if text else ''} (RFC 3326).")
        routine = cause in _ROUTINE_SIP
    elif cause is None:
        sentences.append(
            "It has no cause parameter, only free text, so tools that act on causes ignore it "
            "(RFC 3326 §2: protocol-cause)."
        )
        routine = True
    else:
        sentences.append(f"Protocol {protocol!r} is not one RFC 3326 defines (Q.850 or SIP).")
        routine = False
    severity: Severity = "info" if routine else "warning"
    reasons: list[JsonValue] = [{"protocol": p, "cause": c, "text": t} for p, c, t in parsed]
    return Finding(
        kind="reason",
        severity=severity,
        ts=first.ts,
        call_id=ex.call_id,
        frames=tuple(sorted({o.frame for o in observations})),
        text=" ".join(sentences),
        remedy="",
        details={
            "method": first.method,
            "status": first.status,
            "protocol": protocol,
            "cause": cause,
            "reason_text": text,
            "reasons": reasons,
        },
    )


def build_warning_header(ex: Exchange, observations: list[Observation]) -> Finding:
    """``warning-header``: the Warning header(s) of the first message that had one."""
    first = observations[0]
    same = [o for o in observations if o.frame == first.frame]
    parsed = [parse_warning(o.value) for o in same]
    code, agent, text = parsed[0]
    sentences = [f"{_carrier(ex, first)} carries Warning: {'; '.join(o.value for o in same)}."]
    sentences.append(f"{agent or 'The element'} {_warning_meaning(code, first.status)}")
    # Only a rejection's session-description or QoS warning points at something to fix; the
    # miscellaneous band (390-399) is free text for people and logs.
    rejected = first.status is not None and first.status >= 300
    severity: Severity = (
        "warning" if rejected and code is not None and 300 <= code < 390 else "info"
    )
    warnings: list[JsonValue] = [{"code": c, "agent": a, "text": t} for c, a, t in parsed]
    return Finding(
        kind="warning-header",
        severity=severity,
        ts=first.ts,
        call_id=ex.call_id,
        frames=tuple(sorted({o.frame for o in observations})),
        text=" ".join(sentences),
        remedy="",
        details={
            "method": first.method,
            "status": first.status,
            "code": code,
            "agent": agent,
            "warn_text": text,
            "warnings": warnings,
        },
    )


def _warning_meaning(code: int | None, status: int | None) -> str:
    """What a warn-code says, by the bands of RFC 3261 §20.43, and on what kind of message."""
    if code is None or not 300 <= code <= 399:
        band = "adds a warn-code outside the 3xx range RFC 3261 §20.43 defines"
    elif code < 330:
        band = (
            "reports a problem with keywords in the session description (RFC 3261 §20.43: 300-329)"
        )
    elif code < 340:
        band = (
            "reports a basic network service the session description asked for that it cannot "
            "provide (RFC 3261 §20.43: 330-339)"
        )
    elif 370 <= code < 380:
        band = (
            "reports a quantitative QoS parameter in the session description it cannot meet "
            "(RFC 3261 §20.43: 370-379)"
        )
    elif code >= 390:
        band = (
            "adds a miscellaneous warning, free text for people and logs that no system may act "
            "on automatically (RFC 3261 §20.43: 390-399)"
        )
    else:
        band = "uses a warn-code in a range RFC 3261 §20.43 leaves unassigned (340-369, 380-389)"
    if status is None:
        return f"{band}; it rides on a request, so it rejects nothing."
    if status < 300:
        return f"{band}; it rides on a {status}, so nothing was rejected."
    return f"{band}, explaining the {status}."
