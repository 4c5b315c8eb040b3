"""Header names: compact forms and canonical spelling.

RFC 3261 §7.3.3 lets a header name be sent in a one-letter compact form (``i`` for Call-ID,
``v`` for Via, ...); later RFCs added more letters. The parser expands them so every other layer
asks for one spelling only. The table mirrors ``knowledge/registry/compact_forms.tsv`` (checked by
a test) but lives here as code because the ``sip`` layer may not import the knowledge base
(DESIGN §2: ``sip`` imports only ``errors``), and because it is consulted for every header line.

Header names are case-insensitive (RFC 3261 §7.3.5), yet people read them in their registered
spelling (``Call-ID``, ``CSeq``, ``WWW-Authenticate``), which plain title-casing gets wrong. Known
names are therefore shown in the spelling of their defining RFC; unknown names are kept exactly as
they appeared on the wire, because guessing would hide what the peer actually sent.
"""

from __future__ import annotations

from typing import Final

#: Compact form -> long name. RFC 3261 §7.3.3 (i m e l c f s k t v), RFC 6665 §7.3/§8.4 (o u),
#: RFC 3515 §2.1 (r), RFC 3892 (b), RFC 4028 (x), RFC 8224 (y), RFC 4474 (n, deprecated),
#: RFC 3841 (a j d).
COMPACT_FORMS: Final[dict[str, str]] = {
    "i": "Call-ID",
    "m": "Contact",
    "e": "Content-Encoding",
    "l": "Content-Length",
    "c": "Content-Type",
    "f": "From",
    "s": "Subject",
    "k": "Supported",
    "t": "To",
    "v": "Via",
    "o": "Event",
    "u": "Allow-Events",
    "r": "Refer-To",
    "b": "Referred-By",
    "x": "Session-Expires",
    "y": "Identity",
    "n": "Identity-Info",
    "a": "Accept-Contact",
    "j": "Reject-Contact",
    "d": "Request-Disposition",
}

#: Registered spellings (IANA SIP header field registry, and the RFCs that define them) of the
#: names a VoIP engineer meets in practice, plus a few widespread non-IANA ones (Diversion,
#: Remote-Party-ID) so they read naturally too.
_KNOWN_NAMES: Final[tuple[str, ...]] = (
    "Accept",
    "Accept-Contact",
    "Accept-Encoding",
    "Accept-Language",
    "Accept-Resource-Priority",
    "Alert-Info",
    "Allow",
    "Allow-Events",
    "Answer-Mode",
    "Authentication-Info",
    "Authorization",
    "Call-ID",
    "Call-Info",
    "Contact",
    "Content-Disposition",
    "Content-Encoding",
    "Content-ID",
    "Content-Language",
    "Content-Length",
    "Content-Type",
    "CSeq",
    "Date",
    "Diversion",
    "Error-Info",
    "Event",
    "Expires",
    "Feature-Caps",
    "Flow-Timer",
    "From",
    "Geolocation",
    "Geolocation-Error",
    "Geolocation-Routing",
    "History-Info",
    "Identity",
    "Identity-Info",
    "Info-Package",
    "In-Reply-To",
    "Join",
    "Max-Breadth",
    "Max-Forwards",
    "MIME-Version",
    "Min-Expires",
    "Min-SE",
    "Organization",
    "P-Access-Network-Info",
    "P-Asserted-Identity",
    "P-Asserted-Service",
    "P-Associated-URI",
    "P-Called-Party-ID",
    "P-Charging-Function-Addresses",
    "P-Charging-Vector",
    "P-Early-Media",
    "P-Preferred-Identity",
    "P-Preferred-Service",
    "P-Served-User",
    "P-Visited-Network-ID",
    "Path",
    "Permission-Missing",
    "Priority",
    "Priv-Answer-Mode",
    "Privacy",
    "Proxy-Authenticate",
    "Proxy-Authorization",
    "Proxy-Require",
    "RAck",
    "Reason",
    "Record-Route",
    "Recv-Info",
    "Refer-Events-At",
    "Refer-Sub",
    "Refer-To",
    "Referred-By",
    "Reject-Contact",
    "Remote-Party-ID",
    "Replaces",
    "Reply-To",
    "Request-Disposition",
    "Require",
    "Resource-Priority",
    "Retry-After",
    "Route",
    "RSeq",
    "Security-Client",
    "Security-Server",
    "Security-Verify",
    "Server",
    "Service-Route",
    "Session-Expires",
    "Session-ID",
    "SIP-ETag",
    "SIP-If-Match",
    "Subject",
    "Subscription-State",
    "Supported",
    "Suppress-If-Match",
    "Target-Dialog",
    "Timestamp",
    "To",
    "Trigger-Consent",
    "Unsupported",
    "User-Agent",
    "User-to-User",
    "Via",
    "Warning",
    "WWW-Authenticate",
)

#: Lower-case name (long or compact) -> (canonical name, index key). One dict lookup per header
#: line on the parser's hot path answers both "how do I show it" and "how do I index it".
NAME_TABLE: Final[dict[str, tuple[str, str]]] = {
    name.lower(): (name, name.lower()) for name in _KNOWN_NAMES
}
NAME_TABLE.update({letter: (name, name.lower()) for letter, name in COMPACT_FORMS.items()})

_LONG_TO_COMPACT: Final[dict[str, str]] = {
    name.lower(): letter for letter, name in COMPACT_FORMS.items()
}


def canonical_name(name: str) -> str:
    """Long name in its registered spelling; compact forms expanded; unknown names unchanged.

    >>> canonical_name("i"), canonical_name("CALL-id"), canonical_name("X-Foo")
    ('Call-ID', 'Call-ID', 'X-Foo')
    """
    entry = NAME_TABLE.get(name.lower())
    return entry[0] if entry is not None else name


def header_key(name: str) -> str:
    """The lower-case long name used as the key of :attr:`SipMessage.index`."""
    lower = name.lower()
    entry = NAME_TABLE.get(lower)
    return entry[1] if entry is not None else lower


def compact_form(name: str) -> str | None:
    """The one-letter compact form of a long header name, or None if it has none."""
    return _LONG_TO_COMPACT.get(name.lower())
