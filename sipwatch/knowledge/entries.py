"""Builders that turn one validated TOML table into one knowledge record.

Each builder reads its table through :class:`~sipwatch.knowledge.fields.Table`, so every key is
checked (type, presence, vocabulary) and a mistake names the file, the entry and the key. The
``*_KEYS`` sets are the schema of knowledge/SCHEMA.md in code form: a key missing from a set is
reported as unknown, which is how typos are caught.
"""

from __future__ import annotations

import re

from sipwatch.knowledge.fields import Table
from sipwatch.knowledge.model import (
    CLASS_NAMES,
    OPTION_TAG_HEADERS,
    RETRY,
    SENT_BY,
    STATUS,
    CauseEntry,
    CauseText,
    ClassEntry,
    ClassText,
    ComparisonEntry,
    ComparisonText,
    OptionTagEntry,
    OptionTagText,
    ReasonEntry,
    ReasonText,
    ResponseEntry,
    ResponseText,
    WarningEntry,
    WarningText,
    class_name,
)

#: RFC 3261 §25.1 token characters; option tags and reason values are tokens, stored lower case
#: so that lookups can fold case.
_TOKEN = re.compile(r"[a-z0-9][-a-z0-9.!%*_+`'~]*")

RESPONSE_KEYS = frozenset(
    {"code", "reason", "rfc", "section", "status", "sent_by", "headers", "option_tags"}
    | {"related", "retry", "en", "ja"}
)
RESPONSE_TEXT_KEYS = frozenset({"summary", "description", "when", "fix", "status_note"})


def _response_text(t: Table, lang: str, reason: str | None, deprecated: bool) -> ResponseText:
    allowed = RESPONSE_TEXT_KEYS | ({"reason"} if reason is None else set())
    section = f"[response.{lang}]"
    text = t.table(lang, allowed, section)
    note = text.optional_string("status_note")
    if deprecated and note is None:
        raise text.error(f"missing key 'status_note' in {section} (status is 'deprecated')")
    if not deprecated and note is not None:
        raise text.error(f"'status_note' in {section} is only allowed when status = 'deprecated'")
    return ResponseText(
        reason=reason if reason is not None else text.string("reason"),
        summary=text.string("summary"),
        description=text.string("description"),
        when=text.strings("when"),
        fix=text.strings("fix"),
        status_note=note,
    )


def build_response(t: Table) -> tuple[int, ResponseEntry]:
    code = t.integer("code", 100, 699)
    reason = t.string("reason")
    status = t.choice("status", STATUS)
    deprecated = status == "deprecated"
    entry = ResponseEntry(
        code=code,
        reason=reason,
        rfc=t.string("rfc"),
        section=t.string("section", allow_empty=True),
        status=status,
        klass=class_name(code),
        sent_by=t.strings("sent_by", choices=SENT_BY),
        headers=t.strings("headers", allow_empty=True),
        option_tags=t.strings("option_tags", allow_empty=True),
        related=t.integers("related", 100, 699),
        retry=t.choice("retry", RETRY),
        en=_response_text(t, "en", reason, deprecated),
        ja=_response_text(t, "ja", None, deprecated),
    )
    return code, entry


CLASS_KEYS = frozenset({"class", "rfc", "section", "sent_by", "headers", "retry", "en", "ja"})
CLASS_TEXT_KEYS = frozenset({"reason", "summary", "description", "when", "fix", "unregistered"})


def _class_text(t: Table, lang: str, digit: int) -> ClassText:
    section = f"[class.{lang}]"
    text = t.table(lang, CLASS_TEXT_KEYS | ({"name"} if lang != "en" else set()), section)
    note = text.string("unregistered")
    if "{code}" not in note:
        raise text.error(f"'unregistered' in {section} must contain the placeholder {{code}}")
    return ClassText(
        name=CLASS_NAMES[digit] if lang == "en" else text.string("name"),
        reason=text.string("reason"),
        summary=text.string("summary"),
        description=text.string("description"),
        when=text.strings("when"),
        fix=text.strings("fix"),
        unregistered=note,
    )


def build_class(t: Table) -> tuple[int, ClassEntry]:
    digit = t.integer("class", 1, 6)
    return digit, ClassEntry(
        digit=digit,
        rfc=t.string("rfc"),
        section=t.string("section", allow_empty=True),
        sent_by=t.strings("sent_by", choices=SENT_BY),
        headers=t.strings("headers", allow_empty=True),
        retry=t.choice("retry", RETRY),
        en=_class_text(t, "en", digit),
        ja=_class_text(t, "ja", digit),
    )


def _token(t: Table, key: str) -> str:
    value = t.string(key)
    if not _TOKEN.fullmatch(value):
        raise t.error(f"{key!r} must be a lower-case SIP token, got {value!r}")
    return value


OPTION_TAG_KEYS = frozenset({"tag", "rfc", "headers", "related", "en", "ja"})
OPTION_TAG_TEXT_KEYS = frozenset({"summary", "description", "trouble", "fix"})


def _option_tag_text(t: Table, lang: str) -> OptionTagText:
    text = t.table(lang, OPTION_TAG_TEXT_KEYS, f"[option_tag.{lang}]")
    return OptionTagText(
        summary=text.string("summary"),
        description=text.string("description"),
        trouble=text.string("trouble"),
        fix=text.strings("fix"),
    )


def build_option_tag(t: Table) -> tuple[str, OptionTagEntry]:
    tag = _token(t, "tag")
    return tag, OptionTagEntry(
        tag=tag,
        rfc=t.string("rfc"),
        headers=t.strings("headers", choices=OPTION_TAG_HEADERS),
        related=t.integers("related", 100, 699),
        en=_option_tag_text(t, "en"),
        ja=_option_tag_text(t, "ja"),
    )


CAUSE_KEYS = frozenset({"cause", "name", "sip_status", "en", "ja"})


def build_cause(t: Table) -> tuple[int, CauseEntry]:
    cause = t.integer("cause", 0, 127)
    name = t.string("name")
    sip_status = t.integer("sip_status", 0, 699)
    if 0 < sip_status < 100:
        raise t.error(f"'sip_status' must be 0 (no mapping) or a status code, got {sip_status}")
    en = t.table("en", {"summary", "fix"}, "[cause.en]")
    ja = t.table("ja", {"name", "summary", "fix"}, "[cause.ja]")
    return cause, CauseEntry(
        cause=cause,
        name=name,
        sip_status=sip_status,
        en=CauseText(name=name, summary=en.string("summary"), fix=en.strings("fix")),
        ja=CauseText(name=ja.string("name"), summary=ja.string("summary"), fix=ja.strings("fix")),
    )


WARNING_KEYS = frozenset({"code", "text", "rfc", "section", "en", "ja"})
WARNING_TEXT_KEYS = frozenset({"summary", "description", "fix"})


def build_warning(t: Table) -> tuple[int, WarningEntry]:
    code = t.integer("code", 300, 399)
    warn_text = t.string("text")
    texts = []
    for lang in ("en", "ja"):
        extra = {"text"} if lang == "ja" else set()
        text = t.table(lang, WARNING_TEXT_KEYS | extra, f"[warning.{lang}]")
        texts.append(
            WarningText(
                text=warn_text if lang == "en" else text.string("text"),
                summary=text.string("summary"),
                description=text.string("description"),
                fix=text.strings("fix"),
            )
        )
    return code, WarningEntry(
        code=code,
        warn_text=warn_text,
        rfc=t.string("rfc"),
        section=t.string("section", allow_empty=True),
        en=texts[0],
        ja=texts[1],
    )


REASON_KEYS = frozenset({"reason", "rfc", "section", "en", "ja"})


def _reason_text(t: Table, lang: str) -> ReasonText:
    text = t.table(lang, {"summary", "description", "fix"}, f"[reason.{lang}]")
    return ReasonText(
        summary=text.string("summary"),
        description=text.string("description"),
        fix=text.strings("fix"),
    )


def build_reason(t: Table) -> tuple[str, ReasonEntry]:
    reason = _token(t, "reason")
    return reason, ReasonEntry(
        reason=reason,
        rfc=t.string("rfc"),
        section=t.string("section", allow_empty=True),
        en=_reason_text(t, "en"),
        ja=_reason_text(t, "ja"),
    )


PAIR_KEYS = frozenset({"codes", "en", "ja"})


def _pair_text(t: Table, lang: str) -> ComparisonText:
    text = t.table(lang, {"differences", "which"}, f"[pair.{lang}]")
    return ComparisonText(differences=text.strings("differences"), which=text.string("which"))


def build_pair(t: Table) -> tuple[frozenset[int], ComparisonEntry]:
    codes = t.integers("codes", 100, 699)
    if len(codes) != 2 or codes[0] == codes[1]:
        raise t.error(f"'codes' must be two different response codes, got {list(codes)!r}")
    return frozenset(codes), ComparisonEntry(
        codes=(codes[0], codes[1]), en=_pair_text(t, "en"), ja=_pair_text(t, "ja")
    )
