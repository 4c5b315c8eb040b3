"""The one-line diagnosis a response gets the moment it is seen.

Findings wait for an exchange to settle (copies from other hops, the retry and its result); the
message line should not wait. This module says, for the first copy of a final response, what it
means for *this* request: the tokens in play, the request it answers with its frame and delay, the
value to use next. The annotator shows it as the message's ``diagnosis``.
"""

from __future__ import annotations

from sipwatch.correlate.auth import auth_params
from sipwatch.correlate.context import frame_ref, quoted
from sipwatch.correlate.events import Note
from sipwatch.correlate.events import format_endpoint as ep
from sipwatch.correlate.failures import header_int, retry_after
from sipwatch.correlate.transactions import Exchange
from sipwatch.sip.message import SipMessage


def _request(ex: Exchange, ts: float) -> str:
    if ex.request_frame is None:
        return f"{ex.method} CSeq {ex.cseq} (request not captured)"
    return f"{ex.method} CSeq {ex.cseq} ({frame_ref(ex.request_frame, ts, ex.request_ts)} earlier)"


def response_note(ex: Exchange, msg: SipMessage, ts: float) -> Note | None:
    """A note for the first copy of a final response (or None when there is nothing to say)."""
    status = msg.status
    if status < 300:
        return None  # 1xx/2xx: the MessageInfo's answers field says all there is
    req = ex.request
    answered = _request(ex, ts).replace(", +", ", ")
    if status == 420:
        unsupported = msg.tokens("unsupported")
        required = req.tokens("require") if req is not None else []
        proxy_required = req.tokens("proxy-require") if req is not None else []
        text = (
            f"answers {answered}: not supported here: {quoted(unsupported)}; the request had "
            f"Require {quoted(required)}, Proxy-Require {quoted(proxy_required)}"
        )
        if not msg.has_header("unsupported"):
            text += " (no Unsupported header, which RFC 3261 §8.2.2.3 requires)"
        culprit = unsupported or required + proxy_required
        remedy = f"drop {quoted(culprit)} from the request or enable it at {ep(ex.final_src)}"
        return Note(text, "error", remedy)
    if status == 421:
        needed = msg.tokens("require")
        supported = req.tokens("supported") if req is not None else []
        return Note(
            f"answers {answered}: the UAS insists on {quoted(needed)}; the request offered "
            f"Supported {quoted(supported)}",
            "error",
            f"enable {quoted([t for t in needed if t not in supported] or needed)} on the UAC",
        )
    if status in (401, 407):
        header = "Proxy-Authenticate" if status == 407 else "WWW-Authenticate"
        realm = auth_params(msg.header(header) or "").get("realm")
        creds = "Proxy-Authorization" if status == 407 else "Authorization"
        had = req is not None and req.has_header(creds)
        text = f"challenge to {answered} (realm {realm!r})" if realm else f"challenge to {answered}"
        text += (
            f"; the request already carried {creds}, so it was not accepted"
            if had
            else f"; the UAC should retry with {creds}"
        )
        return Note(text, "warning" if had else "info")
    if status == 422:
        min_se = header_int(msg, "min-se")
        return Note(
            f"answers {answered}: session interval too small; retry with Session-Expires >= "
            f"{min_se if min_se is not None else '(no Min-SE given)'}",
            "warning",
        )
    if status == 423:
        min_expires = header_int(msg, "min-expires")
        return Note(
            f"answers {answered}: interval too brief; retry with Expires >= "
            f"{min_expires if min_expires is not None else '(no Min-Expires given)'}",
            "warning",
        )
    if status == 491:
        return Note(
            f"answers {answered}: glare, both sides changed the session at once; retry after a "
            "random delay (RFC 3261 §14.1)",
            "warning",
        )
    if 300 <= status < 400:
        contacts = msg.header_values("contact")
        return Note(
            f"answers {answered}: redirect to {'; '.join(contacts) if contacts else '(no Contact)'}"
        )
    if status == 487 and ex.cancel_frame is not None:
        return Note(f"answers {answered}: terminated by the CANCEL in frame {ex.cancel_frame}")
    if status >= 400:
        seconds, comment, _ = retry_after(msg)
        text = f"answers {answered}"
        if seconds is not None:
            text += f"; Retry-After {seconds} s" + (f" ({comment})" if comment else "")
        return Note(text, "error" if status >= 500 and status not in (503,) else "warning")
    return None
