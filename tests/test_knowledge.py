"""The knowledge base: loading, validation errors, lookups, and coverage of every registry row.

The registry-coverage tests read the IANA copies in knowledge/registry/*.tsv directly (not
through the loader) and demand a complete English and Japanese entry for every row of them.
"""

from __future__ import annotations

import csv
import re
import shutil
from pathlib import Path

import pytest

from sipwatch.errors import KnowledgeError
from sipwatch.knowledge import (
    ENV_VAR,
    Knowledge,
    ResponseEntry,
    clear_cache,
    load_knowledge,
    locate_knowledge,
)

REPO = Path(__file__).resolve().parents[1]
KNOWLEDGE = REPO / "knowledge"
REGISTRY = KNOWLEDGE / "registry"
FIXTURE = Path(__file__).parent / "data" / "knowledge"

#: Hiragana, katakana or kanji: proof that a Japanese field is actually Japanese.
JAPANESE = re.compile(r"[\u3040-\u30ff\u4e00-\u9fff]")
#: knowledge/SCHEMA.md: "Text is plain: no Markdown, no rich markup, no HTML."
MARKUP = re.compile(r"\*\*|`|\[/|\[bold|<br|</")


def registry(name: str) -> list[dict[str, str]]:
    with (REGISTRY / name).open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle, delimiter="\t"))


RESPONSE_ROWS = registry("response_codes.tsv")
OPTION_TAG_ROWS = registry("option_tags.tsv")
WARNING_ROWS = registry("warning_codes.tsv")
CAUSE_ROWS = registry("q850_causes.tsv")
REASON_ROWS = registry("subscription_state_reasons.tsv")


@pytest.fixture(scope="module")
def kb() -> Knowledge:
    """The real knowledge base, loaded once for the module."""
    return load_knowledge(KNOWLEDGE)


@pytest.fixture(scope="module")
def fixture_kb() -> Knowledge:
    return load_knowledge(FIXTURE)


def texts_of(obj: object) -> list[str]:
    """Every string (and string in a tuple) held by a text record."""
    out: list[str] = []
    for name in obj.__slots__:  # type: ignore[attr-defined]
        value = getattr(obj, name)
        if isinstance(value, str):
            out.append(value)
        elif isinstance(value, tuple):
            out.extend(v for v in value if isinstance(v, str))
    return out


def assert_japanese(obj: object, where: str) -> None:
    for text in texts_of(obj):
        assert JAPANESE.search(text), f"{where}: Japanese field has no Japanese text: {text!r}"


def assert_plain(obj: object, where: str) -> None:
    for text in texts_of(obj):
        assert not MARKUP.search(text), f"{where}: markup in plain text: {text!r}"


# -- registry coverage (fails until knowledge/ is complete) --------------------------------------


def test_registry_row_counts() -> None:
    """The registry copies are what the coverage tests iterate; pin their size."""
    assert (len(RESPONSE_ROWS), len(OPTION_TAG_ROWS), len(WARNING_ROWS)) == (75, 36, 15)
    assert (len(CAUSE_ROWS), len(REASON_ROWS)) == (73, 8)


@pytest.mark.parametrize("row", RESPONSE_ROWS, ids=lambda r: r["code"])
def test_every_registered_response_has_a_complete_entry(kb: Knowledge, row: dict[str, str]) -> None:
    code = int(row["code"])
    entry = kb.response(code)
    assert entry is not None, f"no entry for registered code {code}"
    assert entry.reason == row["reason_phrase"], "reason phrase must match IANA exactly"
    assert entry.rfc == row["rfc"]
    if row["rfc_section"]:
        assert entry.section == row["rfc_section"].split(" ", 1)[1]
    assert entry.status == row["status"]
    assert entry.klass[:3] == row["class"][:3] == f"{code // 100}xx"
    for lang in ("en", "ja"):
        text = entry.text(lang)
        assert 2 <= len(text.when) <= 5, f"{code} {lang}: 2-5 'when' items (SCHEMA.md)"
        assert 2 <= len(text.fix) <= 6, f"{code} {lang}: 2-6 'fix' steps (SCHEMA.md)"
        assert "\n" not in text.summary
        assert (text.status_note is not None) == (entry.status == "deprecated")
        assert_plain(text, f"{code} {lang}")
    assert len(entry.en.summary) <= 130, f"{code}: summary is one sentence of ~110 chars"
    assert_japanese(entry.ja, f"response {code} [ja]")


def test_202_is_deprecated_with_notes_in_both_languages(kb: Knowledge) -> None:
    entry = kb.response(202)
    assert entry is not None
    assert entry.status == "deprecated"
    assert entry.en.status_note and "7647" in entry.en.status_note
    assert entry.ja.status_note and JAPANESE.search(entry.ja.status_note)


@pytest.mark.parametrize("row", OPTION_TAG_ROWS, ids=lambda r: r["option_tag"])
def test_every_registered_option_tag_has_a_complete_entry(
    kb: Knowledge, row: dict[str, str]
) -> None:
    entry = kb.option_tag(row["option_tag"])
    assert entry is not None, f"no entry for option tag {row['option_tag']}"
    assert entry.tag == row["option_tag"]
    assert entry.rfc == row["rfc"]
    assert entry.en.fix and entry.ja.fix
    assert_plain(entry.en, entry.tag)
    assert_japanese(entry.ja, f"option tag {entry.tag} [ja]")


@pytest.mark.parametrize("row", WARNING_ROWS, ids=lambda r: r["warn_code"])
def test_every_registered_warning_has_a_complete_entry(kb: Knowledge, row: dict[str, str]) -> None:
    entry = kb.warning(int(row["warn_code"]))
    assert entry is not None, f"no entry for warning {row['warn_code']}"
    assert entry.warn_text == row["warn_text"]
    assert entry.rfc == row["rfc"]
    assert_plain(entry.en, str(entry.code))
    assert_japanese(entry.ja, f"warning {entry.code} [ja]")


@pytest.mark.parametrize("row", CAUSE_ROWS, ids=lambda r: r["cause"])
def test_every_q850_cause_has_a_complete_entry(kb: Knowledge, row: dict[str, str]) -> None:
    entry = kb.q850(int(row["cause"]))
    assert entry is not None, f"no entry for Q.850 cause {row['cause']}"
    assert entry.name == row["name_wireshark_q850"]
    mapped = row["rfc3398_isup_to_sip_code"]
    assert entry.sip_status == (int(mapped) if mapped.isdigit() else 0)
    assert 1 <= len(entry.en.fix) <= 4 and 1 <= len(entry.ja.fix) <= 4
    assert_plain(entry.en, str(entry.cause))
    assert_japanese(entry.ja, f"cause {entry.cause} [ja]")


@pytest.mark.parametrize("row", REASON_ROWS, ids=lambda r: r["reason"])
def test_every_subscription_reason_has_a_complete_entry(kb: Knowledge, row: dict[str, str]) -> None:
    entry = kb.subscription_reason(row["reason"])
    assert entry is not None, f"no entry for Subscription-State reason {row['reason']}"
    assert entry.rfc == row["rfc"]
    assert_plain(entry.en, entry.reason)
    assert_japanese(entry.ja, f"reason {entry.reason} [ja]")


def test_knowledge_describes_only_registered_items(kb: Knowledge) -> None:
    """An entry outside the registry would have no reason phrase to check against."""
    assert set(kb.responses) <= {int(r["code"]) for r in RESPONSE_ROWS}
    assert set(kb.option_tags) <= {r["option_tag"] for r in OPTION_TAG_ROWS}
    assert set(kb.warnings) <= {int(r["warn_code"]) for r in WARNING_ROWS}
    assert set(kb.causes) <= {int(r["cause"]) for r in CAUSE_ROWS}
    assert set(kb.subscription_reasons) <= {r["reason"] for r in REASON_ROWS}


def test_cross_references_point_at_registered_items(kb: Knowledge) -> None:
    codes = {int(r["code"]) for r in RESPONSE_ROWS}
    tags = {r["option_tag"] for r in OPTION_TAG_ROWS}
    for entry in kb.responses.values():
        assert set(entry.related) <= codes, f"{entry.code}: related {entry.related}"
        assert set(entry.option_tags) <= tags, f"{entry.code}: option_tags {entry.option_tags}"
    for tag in kb.option_tags.values():
        assert set(tag.related) <= codes, f"{tag.tag}: related {tag.related}"
    for pair in kb.comparisons.values():
        assert set(pair.codes) <= codes, f"pair {pair.codes}"


def test_classes_are_complete_in_both_languages(kb: Knowledge) -> None:
    assert sorted(kb.classes) == [1, 2, 3, 4, 5, 6]
    for cls in kb.classes.values():
        assert_japanese(cls.ja, f"class {cls.digit} [ja]")
        assert "{code}" in cls.en.unregistered and "{code}" in cls.ja.unregistered


def test_comparisons_are_complete_in_both_languages(kb: Knowledge) -> None:
    for pair in kb.comparisons.values():
        where = f"pair {pair.codes}"
        assert 3 <= len(pair.en.differences) <= 6, where
        assert len(pair.ja.differences) == len(pair.en.differences), where
        for code in pair.codes:
            assert any(str(code) in d for d in pair.en.differences), f"{where}: names {code}"
        assert_plain(pair.en, where)
        assert_japanese(pair.ja, where)


# -- the API other layers use -------------------------------------------------------------------


def test_response_lookup_and_class_names(fixture_kb: Knowledge) -> None:
    entry = fixture_kb.response(420)
    assert isinstance(entry, ResponseEntry)
    assert (entry.code, entry.reason, entry.klass) == (420, "Bad Extension", "4xx Request Failure")
    assert entry.text("ja").reason == "拡張機能が不正"
    assert fixture_kb.response(499) is None
    assert [fixture_kb.response_or_class(c).klass for c in (180, 202, 302, 499, 503, 699)] == [  # type: ignore[union-attr]
        "1xx Provisional",
        "2xx Successful",
        "3xx Redirection",
        "4xx Request Failure",
        "5xx Server Failure",
        "6xx Global Failure",
    ]


def test_class_entry_for_an_unregistered_code(fixture_kb: Knowledge) -> None:
    entry = fixture_kb.class_entry(499)
    assert (entry.code, entry.status, entry.registered) == (499, "unregistered", False)
    assert entry.klass == "4xx Request Failure"
    assert entry.en.status_note == (
        "499 is not a registered SIP response code; treated as a generic 4xx "
        "(RFC 3261 §8.1.3.2: an unknown final response is treated as the x00 code of its class)"
    )
    assert entry.ja.status_note and entry.ja.status_note.startswith("499 は IANA に登録された")
    # RFC 3261 §8.1.3.2: unknown provisional responses (other than 100) are treated as 183.
    assert "183" in (fixture_kb.class_entry(150).en.status_note or "")


@pytest.mark.parametrize("code", [0, 99, 700, 999])
def test_codes_outside_the_classes_have_no_entry(fixture_kb: Knowledge, code: int) -> None:
    assert fixture_kb.response_or_class(code) is None
    with pytest.raises(ValueError, match="not a SIP status code"):
        fixture_kb.class_entry(code)


def test_other_lookups(fixture_kb: Knowledge) -> None:
    kb = fixture_kb
    assert kb.option_tag("Timer") is kb.option_tag("timer") is not None
    assert kb.is_registered_option_tag("NoReferSub") and not kb.is_registered_option_tag("foo")
    cause = kb.q850(17)
    assert cause is not None
    assert (cause.sip_status, cause.text("ja").name) == (486, "ユーザー話し中")
    warning = kb.warning(399)
    assert warning is not None and warning.text("en").text == "Miscellaneous warning"
    assert kb.subscription_reason("NORESOURCE") is kb.subscription_reason("noresource")
    assert kb.comparison(421, 420) is kb.comparison(420, 421) is not None
    assert kb.comparison(420, 486) is None
    assert kb.reason_phrase(603) == "Decline"  # registry row without an entry
    assert kb.is_registered_code(603) and not kb.is_registered_code(499)
    with pytest.raises(ValueError, match="unknown language"):
        kb.response(420).text("fr")  # type: ignore[union-attr]


# -- validation errors name the file and the entry ---------------------------------------------


@pytest.fixture
def kb_copy(tmp_path: Path) -> Path:
    """A writable copy of the fixture knowledge base, named knowledge/ like the real one."""
    target = tmp_path / "knowledge"
    shutil.copytree(FIXTURE, target)
    return target


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


BROKEN = [
    pytest.param(
        "responses/4xx.toml",
        'retry = "modify"\n\n[response.en]\nsummary',
        'retry = "modify"\nsummry = "x"\n\n[response.en]\nsummary',
        "responses/4xx.toml: response 420: unknown key 'summry'",
        id="unknown-key-top",
    ),
    pytest.param(
        "responses/4xx.toml",
        'summary = "A Require',
        'summry = "A Require',
        "responses/4xx.toml: response 420: unknown key 'summry' in [response.en]",
        id="unknown-key-en",
    ),
    pytest.param(
        "responses/4xx.toml",
        'fix = ["プロキシで話し中の呼をボイスメールへ転送します。"]\n',
        "",
        "responses/4xx.toml: response 486: missing key 'fix' in [response.ja]",
        id="missing-ja-fix",
    ),
    pytest.param(
        "responses/4xx.toml",
        'retry = "elsewhere"\n',
        "",
        "responses/4xx.toml: response 486: missing key 'retry'",
        id="missing-retry",
    ),
    pytest.param(
        "responses/4xx.toml",
        'status = "current"\nsent_by = ["uas", "proxy"]',
        'status = "obsolete"\nsent_by = ["uas", "proxy"]',
        "response 420: 'status' must be one of 'current', 'deprecated', got 'obsolete'",
        id="bad-status",
    ),
    pytest.param(
        "responses/4xx.toml",
        'sent_by = ["uas", "proxy"]',
        'sent_by = ["uas", "gateway"]',
        "response 420: 'sent_by' must be a list of",
        id="bad-sent-by",
    ),
    pytest.param(
        "responses/4xx.toml",
        "code = 420",
        'code = "420"',
        "response 420: 'code' must be an integer from 100 to 699, got '420'",
        id="code-as-string",
    ),
    pytest.param(
        "responses/4xx.toml",
        "code = 486",
        "code = 420",
        "responses/4xx.toml: response 420: duplicate entry (already defined in",
        id="duplicate",
    ),
    pytest.param(
        "responses/2xx.toml",
        'status_note = "Deprecated by RFC 6665',
        'note = "Deprecated by RFC 6665',
        "response 202: unknown key 'note' in [response.en]",
        id="deprecated-note-misspelt",
    ),
    pytest.param(
        "responses/2xx.toml",
        'status = "deprecated"',
        'status = "current"',
        "response 202: 'status_note' in [response.en] is only allowed when status = 'deprecated'",
        id="note-on-current",
    ),
    pytest.param(
        "responses/1xx.toml",
        '[response.ja]\nreason = "呼び出し中"\n',
        "[response.ja]\n",
        "responses/1xx.toml: response 180: missing key 'reason' in [response.ja]",
        id="missing-ja-reason",
    ),
    pytest.param(
        "responses/1xx.toml",
        'reason = "Ringing"',
        'reason = "Ringing',
        "responses/1xx.toml: invalid TOML",
        id="invalid-toml",
    ),
    pytest.param(
        "option_tags.toml",
        'trouble = "A trunk',
        'troubles = "A trunk',
        "option_tags.toml: option tag timer: unknown key 'troubles' in [option_tag.en]",
        id="option-tag-key",
    ),
    pytest.param(
        "option_tags.toml",
        'tag = "timer"',
        'tag = "Timer"',
        "option tag Timer: 'tag' must be a lower-case SIP token, got 'Timer'",
        id="option-tag-case",
    ),
    pytest.param(
        "q850.toml",
        'name = "ユーザー話し中"\n',
        "",
        "q850.toml: cause 17: missing key 'name' in [cause.ja]",
        id="cause-ja-name",
    ),
    pytest.param(
        "warnings.toml",
        'text = "その他の警告"',
        'txt = "その他の警告"',
        "warnings.toml: warning 399: unknown key 'txt' in [warning.ja]",
        id="warning-key",
    ),
    pytest.param(
        "subscription_reasons.toml",
        'section = "4.1.3"',
        'sections = "4.1.3"',
        "subscription_reasons.toml: reason noresource: unknown key 'sections'",
        id="reason-key",
    ),
    pytest.param(
        "comparisons.toml",
        "codes = [420, 421]",
        "codes = [420, 420]",
        "comparisons.toml: pair 420/420: 'codes' must be two different response codes",
        id="pair-codes",
    ),
    pytest.param(
        "comparisons.toml",
        'which = "Retry without',
        'whitch = "Retry without',
        "comparisons.toml: pair 420/421: unknown key 'whitch' in [pair.en]",
        id="pair-key",
    ),
    pytest.param(
        "classes.toml",
        'unregistered = "{code} is not a registered SIP response code; treated as 183',
        'unregistered = "not a registered SIP response code; treated as 183',
        "classes.toml: class 1: 'unregistered' in [class.en] must contain the placeholder {code}",
        id="class-placeholder",
    ),
]


@pytest.mark.parametrize(("name", "old", "new", "message"), BROKEN)
def test_broken_entries_name_file_and_entry(
    kb_copy: Path, name: str, old: str, new: str, message: str
) -> None:
    edit(kb_copy / name, old, new)
    with pytest.raises(KnowledgeError) as caught:
        load_knowledge(kb_copy)
    assert message in str(caught.value)
    assert "\n" not in str(caught.value).split(": invalid TOML")[0]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (
            "[[responses]]\ncode = 180\n",
            "unknown top-level key 'responses' (expected [[response]])",
        ),
        ("[response]\ncode = 180\n", "[[response]] must be an array of tables"),
        ("response = [1]\n", "response #1: entry must be a table"),
    ],
)
def test_malformed_files_are_named(kb_copy: Path, content: str, message: str) -> None:
    (kb_copy / "responses" / "9xx.toml").write_text(content, encoding="utf-8")
    with pytest.raises(KnowledgeError) as caught:
        load_knowledge(kb_copy)
    assert f"responses/9xx.toml: {message}" in str(caught.value)


def test_error_paths_are_relative_to_the_working_directory(
    kb_copy: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The operator sees the path they would open: "knowledge/responses/4xx.toml: ..."."""
    edit(kb_copy / "responses/4xx.toml", 'summary = "A Require', 'summry = "A Require')
    monkeypatch.chdir(kb_copy.parent)
    with pytest.raises(KnowledgeError) as caught:
        load_knowledge(kb_copy)
    assert str(caught.value) == (
        "knowledge/responses/4xx.toml: response 420: unknown key 'summry' in [response.en]"
    )


def test_missing_class_and_missing_registry_fail(kb_copy: Path) -> None:
    edit(kb_copy / "classes.toml", "class = 6", "class = 5")
    with pytest.raises(KnowledgeError, match="class 5: duplicate entry"):
        load_knowledge(kb_copy)
    shutil.copy(FIXTURE / "classes.toml", kb_copy / "classes.toml")
    (kb_copy / "registry" / "option_tags.tsv").unlink()
    with pytest.raises(KnowledgeError, match=r"registry/option_tags.tsv: missing"):
        load_knowledge(kb_copy)


def test_content_files_may_be_absent(kb_copy: Path) -> None:
    """Content is written file by file; a missing file is an empty one (tests demand coverage)."""
    for name in ("option_tags.toml", "q850.toml", "warnings.toml", "comparisons.toml"):
        (kb_copy / name).unlink()
    shutil.rmtree(kb_copy / "responses")
    kb = load_knowledge(kb_copy)
    assert (kb.responses, kb.option_tags, kb.causes, kb.comparisons) == ({}, {}, {}, {})
    assert kb.response_or_class(420).klass == "4xx Request Failure"  # type: ignore[union-attr]


# -- where the data comes from -----------------------------------------------------------------


def test_env_override_is_used_and_cached(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV_VAR, str(FIXTURE))
    first = load_knowledge()
    assert first is load_knowledge(), "load_knowledge() is cached"
    assert Path(first.root) == FIXTURE
    assert sorted(first.responses) == [180, 183, 202, 420, 421, 486]
    assert load_knowledge(FIXTURE) is not first, "an explicit path reads afresh"
    clear_cache()
    assert load_knowledge() is not first


def test_env_override_must_be_a_knowledge_dir(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv(ENV_VAR, str(tmp_path))
    with pytest.raises(KnowledgeError, match=f"{ENV_VAR}=.*not a knowledge directory"):
        load_knowledge()


def test_checkout_copy_is_found_without_override(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENV_VAR, raising=False)
    assert Path(str(locate_knowledge())) == KNOWLEDGE


def test_installed_copy_wins_over_checkout(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """A wheel puts the data at sipwatch/_knowledge (pyproject force-include)."""
    package = tmp_path / "sipwatch"
    shutil.copytree(FIXTURE, package / "_knowledge")
    monkeypatch.delenv(ENV_VAR, raising=False)
    monkeypatch.setattr("sipwatch.knowledge.loader.resources.files", lambda name: package)
    assert Path(str(locate_knowledge())) == package / "_knowledge"
