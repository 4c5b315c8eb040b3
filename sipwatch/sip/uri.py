"""Addresses and URIs inside header values: name-addr, SIP URI parts, embedded Replaces.

Only what the annotator needs to explain a call is read: who (display name, user, host), and the
embedded headers of a Refer-To URI, where an attended transfer carries ``?Replaces=`` naming the
dialog to be replaced (RFC 3515 §2.1, RFC 3891 §3). Nothing here raises on bad input; an
unreadable URI gives None or empty parts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple
from urllib.parse import unquote as percent_decode

from sipwatch.sip.headers import header_param, skip_quoted, unquote


@dataclass(slots=True)
class SipUri:
    """Parts of a ``sip:``/``sips:`` URI (RFC 3261 §19.1.1) or a ``tel:`` URI (RFC 3966).

    ``params`` are the URI parameters (names lower-cased, values as written; a flag such as
    ``lr`` maps to ``""``). ``headers`` are the ``?name=value&...`` URI headers, names
    lower-cased and values percent-decoded. For ``tel:``, ``user`` holds the number and
    ``host`` is empty.
    """

    scheme: str
    user: str
    host: str
    port: int | None = None
    params: dict[str, str] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(slots=True)
class Replaces:
    """The dialog a Replaces header names (RFC 3891 §6.1)."""

    call_id: str
    to_tag: str
    from_tag: str
    early_only: bool = False


def split_name_addr(value: str) -> tuple[str, str]:
    """``(display name, URI)`` of a From/To/Contact/Refer-To style value.

    Handles ``"Quoted \\"Name\\"" <uri>;params``, ``Token Name <uri>``, ``<uri>`` and a bare
    addr-spec. For a bare addr-spec the ``;`` parameters belong to the header, not the URI
    (RFC 3261 §20.10), so they are cut off. Header parameters after ``>`` are never included.
    """
    value = value.strip()
    display = ""
    rest = value
    end = skip_quoted(value, 0) if value.startswith('"') else -1
    if end > 0:
        display = unquote(value[:end])
        rest = value[end:]
    lt = rest.find("<")
    if lt >= 0:
        if not display:
            display = rest[:lt].strip()
        gt = rest.find(">", lt)
        uri = rest[lt + 1 :] if gt < 0 else rest[lt + 1 : gt]
        return display, uri.strip()
    if display:  # a quoted name with no <uri>: not a valid name-addr
        return display, rest.strip()
    return "", value.split(";", 1)[0].strip()


class Address(NamedTuple):
    """Who a From, To or Contact value names, as log shippers index it (docs/jsonl.md).

    ``user`` is the user part of a ``sip:``/``sips:`` URI or the number of a ``tel:`` URI;
    ``user`` and ``display`` are None when the value has none (an empty ``""`` display name
    included), so a reader tells "absent" from a value.
    """

    uri: str
    user: str | None
    display: str | None


def read_address(value: str) -> Address:
    """The :class:`Address` of a name-addr or addr-spec header value (RFC 3261 §20.10, §20.20)."""
    display, uri = split_name_addr(value)
    parsed = parse_uri(uri)
    user = parsed.user if parsed is not None and parsed.user else None
    return Address(uri, user, display or None)


def parse_uri(uri: str) -> SipUri | None:
    """Split a ``sip:``, ``sips:`` or ``tel:`` URI into its parts; None for other schemes.

    ``uri`` is a bare URI; use :func:`parse_address` for a header value with a display name.
    """
    scheme, colon, rest = uri.strip().partition(":")
    if not colon:
        return None
    scheme = scheme.lower()
    if scheme == "tel":
        number, _, params = rest.partition(";")
        return SipUri("tel", number, "", None, _uri_params(params))
    if scheme not in ("sip", "sips"):
        return None
    # userinfo "@" comes before any "?headers"; the user part itself may contain ";"
    # (telephone-subscriber parameters, §19.1.1), so ";" does not bound it.
    question = rest.find("?")
    at = rest.find("@", 0, question if question >= 0 else len(rest))
    user = ""
    if at >= 0:
        user = rest[:at].split(":", 1)[0]  # drop a (deprecated, §19.1.1) password
        rest = rest[at + 1 :]
    hostparams, _, headers = rest.partition("?")
    hostport, _, params = hostparams.partition(";")
    host, port = _split_hostport(hostport)
    return SipUri(scheme, user, host, port, _uri_params(params), _uri_headers(headers))


def parse_address(value: str) -> SipUri | None:
    """The URI of a name-addr or addr-spec header value, parsed (see :func:`parse_uri`)."""
    return parse_uri(split_name_addr(value)[1])


def _split_hostport(hostport: str) -> tuple[str, int | None]:
    hostport = hostport.strip()
    if hostport.startswith("["):  # IPv6 reference, RFC 3261 §25.1
        end = hostport.find("]")
        if end < 0:
            return hostport, None
        host, port_text = hostport[: end + 1], hostport[end + 1 :]
        port_text = port_text[1:] if port_text.startswith(":") else ""
    else:
        host, _, port_text = hostport.partition(":")
    if not (port_text.isascii() and port_text.isdigit() and len(port_text) <= 5):
        return host, None
    port = int(port_text)
    return host, port if port <= 65535 else None


def _uri_params(section: str) -> dict[str, str]:
    params: dict[str, str] = {}
    for item in section.split(";"):
        name, _, value = item.partition("=")
        name = name.strip().lower()
        if name and name not in params:
            params[name] = value.strip()
    return params


def _uri_headers(section: str) -> dict[str, str]:
    headers: dict[str, str] = {}
    for item in section.split("&"):
        name, _, value = item.partition("=")
        name = percent_decode(name).strip().lower()
        if name and name not in headers:
            headers[name] = percent_decode(value)
    return headers


def parse_replaces(value: str) -> Replaces | None:
    """Read a Replaces value: ``call-id;to-tag=...;from-tag=...[;early-only]`` (RFC 3891 §6.1).

    Returns None without a Call-ID; a missing tag is returned as ``""`` so the caller can
    report it (both tags are mandatory by the grammar).
    """
    call_id, _, _ = value.partition(";")
    call_id = call_id.strip()
    if not call_id:
        return None
    # The parameters follow the Call-ID exactly like header parameters follow an addr-spec.
    to_tag = header_param(value, "to-tag")
    from_tag = header_param(value, "from-tag")
    early = header_param(value, "early-only") is not None
    return Replaces(call_id, to_tag or "", from_tag or "", early)


def refer_to_replaces(refer_to: str) -> Replaces | None:
    """The Replaces embedded in a Refer-To value (attended transfer, RFC 3891 §7), or None.

    ``<sip:bob@h?Replaces=abc%40h%3Bto-tag%3D1%3Bfrom-tag%3D2>`` names dialog
    ``abc@h`` with to-tag ``1`` and from-tag ``2``.
    """
    uri = parse_address(refer_to)
    if uri is None:
        return None
    embedded = uri.headers.get("replaces")
    return parse_replaces(embedded) if embedded is not None else None
