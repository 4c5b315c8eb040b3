"""The knowledge base as frozen, slotted records, and the :class:`Knowledge` lookup object.

Everything here is immutable once loaded: the annotator reads the same entries for every message,
possibly from several threads of a live capture, so nothing may change under it. Each entry keeps
its English and Japanese texts side by side (``en`` / ``ja``) and hands the right one out through
``.text(lang)``; an unknown language is a programming error (the CLI restricts ``--lang``), so it
raises :class:`ValueError` rather than an operator-facing error.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Final, Generic, Literal, TypeVar

if TYPE_CHECKING:  # the entries' module builds on _Localised below
    from sipwatch.knowledge.reference import HeaderEntry, MethodEntry, WarningBand

#: Languages every text field exists in (knowledge/SCHEMA.md: "Every text field exists in English
#: and Japanese").
LANGS: Final = ("en", "ja")

Lang = Literal["en", "ja"]

#: The six response classes by first digit (RFC 3261 §7.2, §21): the names the annotator and the
#: JSON output use. They are fixed by the protocol, so they live in code rather than in data.
CLASS_NAMES: Final[dict[int, str]] = {
    1: "1xx Provisional",
    2: "2xx Successful",
    3: "3xx Redirection",
    4: "4xx Request Failure",
    5: "5xx Server Failure",
    6: "6xx Global Failure",
}

#: Values allowed in ``sent_by`` (knowledge/SCHEMA.md).
SENT_BY: Final = ("uas", "proxy", "registrar", "redirect", "b2bua", "any")
#: Values allowed in ``retry``: what the client does next.
RETRY: Final = ("none", "modify", "later", "elsewhere", "credentials", "wait")
#: Values allowed in ``status`` in the data files. ``"unregistered"`` is only ever produced by
#: :meth:`Knowledge.class_entry` for a code IANA has not registered.
STATUS: Final = ("current", "deprecated")
#: Headers an option tag may be listed in (RFC 3261 §19.2).
OPTION_TAG_HEADERS: Final = ("Require", "Proxy-Require", "Supported", "Unsupported")


def class_name(code: int) -> str:
    """English class name of a status code: ``class_name(420) == "4xx Request Failure"``."""
    return CLASS_NAMES[code // 100]


def is_status_code(code: int) -> bool:
    """True for a code SIP can carry: three digits whose first is a class (RFC 3261 §21)."""
    return 100 <= code <= 699


_T = TypeVar("_T")


class _Localised(Generic[_T]):
    """The one ``.text(lang)`` accessor every entry shares over its ``en`` / ``ja`` fields.

    A plain base (not a dataclass) with no slots of its own: each entry declares ``en`` and
    ``ja`` as its last dataclass fields, so field order, equality and ``repr`` stay those of the
    entry, and only the language choice lives here, once.
    """

    __slots__ = ()
    en: _T
    ja: _T

    def text(self, lang: str) -> _T:
        """Texts in ``lang`` (``"en"`` or ``"ja"``); ValueError for any other language."""
        if lang == "en":
            return self.en
        if lang == "ja":
            return self.ja
        raise ValueError(f"unknown language {lang!r} (expected one of {', '.join(LANGS)})")


# -- responses ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ResponseText:
    """The words of a response entry in one language."""

    reason: str
    summary: str
    description: str
    when: tuple[str, ...]
    fix: tuple[str, ...]
    status_note: str | None


@dataclass(frozen=True, slots=True)
class ResponseEntry(_Localised[ResponseText]):
    """One SIP response code: registry facts, how it behaves, and its texts.

    ``status`` is ``"current"`` or ``"deprecated"`` for registered codes and ``"unregistered"``
    for the generic entries :meth:`Knowledge.class_entry` builds.
    """

    code: int
    reason: str
    rfc: str
    section: str
    status: str
    klass: str
    sent_by: tuple[str, ...]
    headers: tuple[str, ...]
    option_tags: tuple[str, ...]
    related: tuple[int, ...]
    retry: str
    en: ResponseText
    ja: ResponseText

    @property
    def registered(self) -> bool:
        """False for a generic class entry standing in for an unregistered code."""
        return self.status != "unregistered"

    @property
    def provisional(self) -> bool:
        """True for 1xx: the transaction goes on and a final response is still due."""
        return self.code < 200


@dataclass(frozen=True, slots=True)
class ClassText:
    """Generic words for a response class, used for codes IANA never registered."""

    name: str  # class name in this language ("4xx Request Failure", "4xx クライアントエラー")
    reason: str  # stands in for the reason phrase of an unregistered code
    summary: str
    description: str
    when: tuple[str, ...]
    fix: tuple[str, ...]
    unregistered: str  # note template; "{code}" is replaced with the code


@dataclass(frozen=True, slots=True)
class ClassEntry(_Localised[ClassText]):
    """One response class (first digit 1-6) from ``knowledge/classes.toml``."""

    digit: int
    rfc: str
    section: str
    sent_by: tuple[str, ...]
    headers: tuple[str, ...]
    retry: str
    en: ClassText
    ja: ClassText

    @property
    def name(self) -> str:
        """English class name, e.g. ``"4xx Request Failure"``."""
        return CLASS_NAMES[self.digit]


# -- option tags, Q.850 causes, warnings, subscription reasons ----------------------------------


@dataclass(frozen=True, slots=True)
class OptionTagText:
    summary: str
    description: str
    trouble: str
    fix: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class OptionTagEntry(_Localised[OptionTagText]):
    """An option tag as used in Require / Proxy-Require / Supported / Unsupported."""

    tag: str
    rfc: str
    headers: tuple[str, ...]
    related: tuple[int, ...]
    en: OptionTagText
    ja: OptionTagText


@dataclass(frozen=True, slots=True)
class CauseText:
    name: str
    summary: str
    fix: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class CauseEntry(_Localised[CauseText]):
    """A Q.850 cause value as carried in ``Reason: Q.850;cause=N`` (RFC 3326).

    ``sip_status`` is the RFC 3398 ISUP-to-SIP mapping, 0 where the RFC gives none.
    """

    cause: int
    name: str
    sip_status: int
    en: CauseText
    ja: CauseText


@dataclass(frozen=True, slots=True)
class WarningText:
    text: str
    summary: str
    description: str
    fix: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class WarningEntry(_Localised[WarningText]):
    """A Warning header code (RFC 3261 §20.43) with its registered warn-text."""

    code: int
    warn_text: str
    rfc: str
    section: str
    en: WarningText
    ja: WarningText


@dataclass(frozen=True, slots=True)
class ReasonText:
    summary: str
    description: str
    fix: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class ReasonEntry(_Localised[ReasonText]):
    """A ``Subscription-State: terminated;reason=`` value (RFC 6665 §4.1.3)."""

    reason: str
    rfc: str
    section: str
    en: ReasonText
    ja: ReasonText


@dataclass(frozen=True, slots=True)
class ComparisonText:
    differences: tuple[str, ...]
    which: str


@dataclass(frozen=True, slots=True)
class ComparisonEntry(_Localised[ComparisonText]):
    """A curated contrast between two codes engineers confuse (order as written in the file)."""

    codes: tuple[int, int]
    en: ComparisonText
    ja: ComparisonText


# -- registry facts -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RegisteredCode:
    """One row of ``registry/response_codes.tsv`` (the IANA registry copy)."""

    code: int
    reason: str
    rfc: str
    section: str  # "" when the registry copy gives none
    status: str


# -- the lookup object --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, eq=False)
class Knowledge:
    """The validated knowledge base. Build it with :func:`sipwatch.knowledge.load_knowledge`.

    Lookups never raise for an unknown key: a peer can put any code or tag on the wire, and
    that is data to report, not an error (DESIGN §2 rule 4). The object compares by identity
    (``eq=False``): there is one per loaded directory, and it can key caches.

    A Warning entry's registered warn-text is ``WarningEntry.warn_text`` (``text`` in the TOML),
    because ``.text(lang)`` is the accessor for the localised words, as on every entry.
    """

    root: str
    responses: dict[int, ResponseEntry]
    classes: dict[int, ClassEntry]
    option_tags: dict[str, OptionTagEntry]
    causes: dict[int, CauseEntry]
    warnings: dict[int, WarningEntry]
    subscription_reasons: dict[str, ReasonEntry]
    comparisons: dict[frozenset[int], ComparisonEntry]
    registered_codes: dict[int, RegisteredCode]
    registered_option_tags: frozenset[str]
    #: Method names IANA lists (registry/methods.tsv), upper case as on the wire.
    registered_methods: frozenset[str] = frozenset()
    #: Reference entries (sipwatch.knowledge.reference): methods by name, headers by lower-case
    #: name, Warning code bands in order.
    methods: dict[str, MethodEntry] = field(default_factory=dict)
    headers: dict[str, HeaderEntry] = field(default_factory=dict)
    warning_bands: tuple[WarningBand, ...] = ()

    def response(self, code: int) -> ResponseEntry | None:
        """The entry for a code the knowledge base describes, or None."""
        return self.responses.get(code)

    def class_entry(self, code: int) -> ResponseEntry:
        """A generic entry for ``code`` built from its class.

        RFC 3261 §8.1.3.2: a UAC treats an unrecognised final response as the x00 code of its
        class, and an unrecognised provisional response (other than 100) as 183. The entry says
        so in its ``status_note`` and has ``status == "unregistered"``.

        Raises ValueError for a code outside 100-699: no class exists to describe it.
        """
        if not is_status_code(code):
            raise ValueError(f"{code} is not a SIP status code (100-699)")
        cls = self.classes[code // 100]

        def text(lang: str) -> ResponseText:
            words = cls.text(lang)
            return ResponseText(
                reason=words.reason,
                summary=words.summary,
                description=words.description,
                when=words.when,
                fix=words.fix,
                status_note=words.unregistered.replace("{code}", str(code)),
            )

        return ResponseEntry(
            code=code,
            reason=cls.en.reason,
            rfc=cls.rfc,
            section=cls.section,
            status="unregistered",
            klass=cls.name,
            sent_by=cls.sent_by,
            headers=cls.headers,
            option_tags=(),
            related=(),
            retry=cls.retry,
            en=text("en"),
            ja=text("ja"),
        )

    def response_or_class(self, code: int) -> ResponseEntry | None:
        """The specific entry, else the generic class entry, else None outside 100-699.

        The one call an annotator needs for whatever status a peer sent.
        """
        entry = self.responses.get(code)
        if entry is not None:
            return entry
        return self.class_entry(code) if is_status_code(code) else None

    def reason_phrase(self, code: int) -> str | None:
        """The registered reason phrase of ``code`` (from its entry, else the registry copy)."""
        entry = self.responses.get(code)
        if entry is not None:
            return entry.reason
        registered = self.registered_codes.get(code)
        return registered.reason if registered is not None else None

    def class_label(self, code: int, lang: str) -> str:
        """Class name of ``code`` in ``lang`` ("4xx Request Failure", "4xx クライアントエラー")."""
        return self.classes[code // 100].text(lang).name

    def option_tag(self, tag: str) -> OptionTagEntry | None:
        """Entry for an option tag; case-insensitive (every registered tag is lower case)."""
        return self.option_tags.get(tag.strip().lower())

    def is_registered_option_tag(self, tag: str) -> bool:
        """True if IANA lists ``tag`` (registry/option_tags.tsv), whether or not it has an entry."""
        return tag.strip().lower() in self.registered_option_tags

    def is_registered_code(self, code: int) -> bool:
        """True if IANA lists ``code`` (registry/response_codes.tsv)."""
        return code in self.registered_codes

    def q850(self, cause: int) -> CauseEntry | None:
        return self.causes.get(cause)

    def warning(self, code: int) -> WarningEntry | None:
        return self.warnings.get(code)

    def subscription_reason(self, reason: str) -> ReasonEntry | None:
        """Entry for a Subscription-State reason; case-insensitive like other SIP tokens."""
        return self.subscription_reasons.get(reason.strip().lower())

    def method(self, name: str) -> MethodEntry | None:
        """Entry for a request method; case-insensitive (methods are upper case by convention)."""
        return self.methods.get(name.strip().upper())

    def header(self, name: str) -> HeaderEntry | None:
        """Entry for a header by its name or compact form, case-insensitive (RFC 3261 §7.3.1,
        §7.3.3); a trailing colon, as copied from a message, is allowed."""
        key = name.strip().rstrip(":").strip().lower()
        entry = self.headers.get(key)
        if entry is None and len(key) == 1:
            entry = next((h for h in self.headers.values() if h.compact == key), None)
        return entry

    def warning_band(self, code: int) -> WarningBand | None:
        """The band of RFC 3261 §20.43 a Warning code falls in, or None outside 300-399."""
        return next((band for band in self.warning_bands if code in band), None)

    def comparison(self, a: int, b: int) -> ComparisonEntry | None:
        """The curated pair for ``a`` and ``b`` in either order, or None."""
        return self.comparisons.get(frozenset((a, b)))
