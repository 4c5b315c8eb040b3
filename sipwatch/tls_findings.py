"""Words for TLS handshake failures (:mod:`sipwatch.capture.tls_watch`): the ``tls-failure``
finding, one place per fact turned into a sentence and a remedy.

The alert descriptions are those of RFC 8446 §6.2 (TLS 1.3) and RFC 5246 §7.2.2 (TLS 1.2).
"""

from __future__ import annotations

from typing import Any, Final

from sipwatch.capture.tls_watch import HELLO_TIMEOUT, TlsFailure
from sipwatch.capture.types import format_endpoint

#: description code -> (name, what it means, what to do). ``{peer}`` is who sent the alert,
#: ``{other}`` the side it refused.
ALERTS: Final[dict[int, tuple[str, str, str]]] = {
    40: (
        "handshake_failure",
        "no set of security parameters both accept (TLS versions, cipher suites, groups), or a "
        "required client certificate was missing",
        "Compare the TLS versions and cipher suites {peer} and {other} allow, and whether "
        "{peer} requires a client certificate.",
    ),
    42: (
        "bad_certificate",
        "the certificate {other} presented is corrupt or its signature does not verify",
        "Check the certificate {other} presents (openssl s_client -showcerts).",
    ),
    43: (
        "unsupported_certificate",
        "the certificate {other} presented is of a type {peer} does not support",
        "Give {other} a certificate of a type {peer} accepts (RSA or ECDSA, key usage).",
    ),
    44: (
        "certificate_revoked",
        "the certificate {other} presented was revoked by its issuer",
        "Install a new certificate on {other}.",
    ),
    45: (
        "certificate_expired",
        "the certificate {other} presented has expired or is not yet valid",
        "Renew the certificate of {other}, and check both clocks.",
    ),
    46: (
        "certificate_unknown",
        "{peer} would not accept the certificate {other} presented (often a name mismatch or "
        "an untrusted issuer)",
        "Check the certificate's name (SAN) against the name {peer} connects to, and its issuer "
        "against the trust store of {peer}.",
    ),
    48: (
        "unknown_ca",
        "the certificate chain of {other} leads to a CA that {peer} does not trust",
        "Add the CA that signed the certificate of {other} to the trust store of {peer}, or have "
        "{other} send its full chain (intermediate certificates).",
    ),
    70: (
        "protocol_version",
        "the TLS versions {peer} and {other} support do not overlap",
        "Enable a common TLS version on both (TLS 1.2 at least).",
    ),
    71: (
        "insufficient_security",
        "{peer} requires stronger cipher suites than {other} offered",
        "Enable stronger cipher suites on {other}.",
    ),
    112: (
        "unrecognized_name",
        "{peer} has no certificate for the server name (SNI) {other} asked for",
        "Connect with the name the certificate of {peer} is issued to, or add it there.",
    ),
    116: (
        "certificate_required",
        "{peer} requires a client certificate and {other} sent none (mutual TLS)",
        "Configure a client certificate on {other}.",
    ),
}
_GENERIC = (
    "the handshake failed",
    "Compare the TLS settings of {peer} and {other} (versions, cipher suites, certificates).",
)


def tls_failure_data(failure: TlsFailure) -> dict[str, Any]:
    """The ``tls-failure`` finding of one failed handshake (docs/findings.md)."""
    client = format_endpoint(failure.client)
    server = format_endpoint(failure.server)
    frame = failure.frames[0]
    if failure.kind == "alert":
        code = failure.alert if failure.alert is not None else -1
        name, meaning, remedy = ALERTS.get(code, (f"alert {code}", *_GENERIC))
        peer, other = (server, client) if failure.sent_by == "server" else (client, server)
        text = (
            f"TLS handshake between {client} and {server} failed: {peer} sent the fatal alert "
            f"{name} ({code}) in frame {frame}: {meaning.format(peer=peer, other=other)}. "
            "The SIP on this connection never started (RFC 8446 §6.2)."
        )
        fix = remedy.format(peer=peer, other=other)
    else:
        name = None
        text = (
            f"ClientHello from {client} to {server} (frame {frame}) got no ServerHello within "
            f"{HELLO_TIMEOUT:g} s: nothing answered TLS there (a port that does not speak TLS, "
            "a firewall or TLS inspection dropping the handshake, or a hung server)."
        )
        fix = (
            f"Check that {server} accepts TLS (openssl s_client -connect {server}) and that "
            "nothing between the two drops the handshake."
        )
    return {
        "kind": "tls-failure",
        "severity": "error",
        "ts": failure.ts,
        "call_id": "",
        "frames": list(failure.frames),
        "text": text,
        "remedy": fix,
        "outcome": failure.kind,
        "client": client,
        "server": server,
        "sent_by": failure.sent_by,
        "alert": name,
        "alert_code": failure.alert,
    }
