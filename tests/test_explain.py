"""``sipwatch explain``: term parsing, page text, Markdown, JSON, errors, and the CLI around them.

Exact-output tests run against the frozen fixture knowledge base (tests/data/knowledge) through
``$SIPWATCH_KNOWLEDGE_DIR``, so edits to the real content do not break them; smoke tests check
the real knowledge base renders.
"""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path

import pytest
from rich.cells import cell_len
from typer.testing import CliRunner

from sipwatch.cli import EXIT_CODES, app, error_line, exit_code
from sipwatch.errors import (
    CaptureFormatError,
    CaptureReadError,
    KnowledgeError,
    LiveCaptureError,
    RulesError,
    SipwatchError,
    UnknownTermError,
)
from sipwatch.knowledge import Knowledge, load_knowledge
from sipwatch.knowledge.lookup import explain_page, resolve_term, suggest
from sipwatch.knowledge.lookup.grammar import (
    indefinite_article,
    ja_spacing,
    join_words,
    sentence,
    with_article,
)
from sipwatch.knowledge.lookup.terms import candidates
from sipwatch.knowledge.lookup.vocab import LABELS, NEXT_STEP, RETRY_CLAUSE, SENDERS, STATUS_WORDS
from sipwatch.knowledge.model import RETRY, SENT_BY
from sipwatch.render.explain import explain_json, page_markdown, page_text, wrap, write_page

FIXTURE = Path(__file__).parent / "data" / "knowledge"
#: Colour forcing from the developer's environment would add escape codes to exact output.
PLAIN: dict[str, str | None] = {"FORCE_COLOR": None, "TTY_COMPATIBLE": None}
ENV: dict[str, str | None] = {**PLAIN, "SIPWATCH_KNOWLEDGE_DIR": str(FIXTURE), "COLUMNS": "80"}


@pytest.fixture(scope="module")
def kb() -> Knowledge:
    return load_knowledge(FIXTURE)


def run(*args: str, env: dict[str, str | None] | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args), env={**PLAIN, **(env or ENV)})
    return result.exit_code, result.stdout, result.stderr


# -- term parsing -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "kind", "key"),
    [
        ("420", "response", "420"),
        (" 420 ", "response", "420"),
        ("code:486", "response", "486"),
        ("499", "response", "499"),
        ("timer", "option_tag", "timer"),
        ("TIMER", "option_tag", "timer"),
        ("tag:timer", "option_tag", "timer"),
        ("q850:17", "q850", "q850:17"),
        ("Q.850=17", "q850", "q850:17"),
        ("cause:17", "q850", "q850:17"),
        ("Q.850;cause=17", "q850", "q850:17"),
        ('Q.850;cause=17;text="User busy"', "q850", "q850:17"),
        ("SIP;cause=486", "response", "486"),
        ("reason:SIP;cause=420", "response", "420"),
        ("reason:noresource", "subscription_reason", "subscription:noresource"),
        ("warning:399", "warning", "warning:399"),
        ("warn=399", "warning", "warning:399"),
        ("subscription:noresource", "subscription_reason", "subscription:noresource"),
        ("noresource", "subscription_reason", "subscription:noresource"),
    ],
)
def test_terms_resolve(kb: Knowledge, text: str, kind: str, key: str) -> None:
    term = resolve_term(kb, text)
    assert (term.kind, term.key) == (kind, key)


@pytest.mark.parametrize(
    ("text", "suggestions"),
    [
        ("tmer", ["timer"]),
        ("42", ["420", "421"]),
        ("999", []),
        ("q850:18", ["q850:17"]),
        ("warning:398", ["warning:399"]),
        ("noresorce", ["subscription:noresource"]),
        ("", []),
    ],
)
def test_unknown_terms_carry_suggestions(kb: Knowledge, text: str, suggestions: list[str]) -> None:
    with pytest.raises(UnknownTermError) as caught:
        resolve_term(kb, text)
    assert caught.value.suggestions == suggestions


def test_suggestions_can_be_limited_to_a_kind(kb: Knowledge) -> None:
    assert suggest(kb, "48", "response") == ["486"]
    assert suggest(kb, "q850:1", "q850") == ["q850:17"]


# -- grammar ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("phrase", "article"),
    [
        ("1xx Provisional", "a"),
        ("4xx Request Failure", "a"),
        ("8xx thing", "an"),
        ("18-second timer", "an"),
        ("11", "an"),
        ("110 ms delay", "a"),
        ("UAS", "a"),
        ("B2BUA", "a"),
        ("SBC", "an"),
        ("RFC", "an"),
        ("proxy", "a"),
        ("registrar", "a"),
        ("redirect server", "a"),
        ("invalid response", "an"),
        ("user", "a"),
        ("unknown code", "an"),
        ("hour", "an"),
        ("", "a"),
    ],
)
def test_indefinite_article(phrase: str, article: str) -> None:
    assert indefinite_article(phrase) == article


def test_joining_and_sentences() -> None:
    assert with_article("4xx Request Failure") == "a 4xx Request Failure"
    assert join_words(["a UAS"], "or", "en") == "a UAS"
    assert join_words(["a UAS", "a proxy"], "or", "en") == "a UAS or a proxy"
    assert join_words(["A", "B", "C"], "and", "en") == "A, B and C"
    assert (
        join_words(["UAS", "プロキシ", "レジストラ"], "or", "ja") == "UAS、プロキシまたはレジストラ"
    )
    assert join_words(["Require", "Supported"], "and", "ja") == "Require、Supported"
    assert join_words([], "and", "en") == ""
    assert sentence("Busy here", "en") == "Busy here."
    assert sentence("Done.", "en") == "Done."
    assert sentence("(see RFC 3261 §8.1.3.2)", "en") == "(see RFC 3261 §8.1.3.2)."
    assert sentence("話し中です", "ja") == "話し中です。"
    assert sentence("話し中です。", "ja") == "話し中です。"


@pytest.mark.parametrize(
    ("raw", "spaced"),
    [
        ("202は「2xx 成功」の応答です。", "202 は「2xx 成功」の応答です。"),
        ("再送します(Retry-Afterに従います)", "再送します (Retry-After に従います)"),
        ("RFC 3261 §21.4.15で定義", "RFC 3261 §21.4.15 で定義"),
        ("認証情報(Authorizationなど)", "認証情報 (Authorization など)"),
        ("Require、Supportedを確認", "Require、Supported を確認"),
        ("180 (呼び出し中): 鳴っています。", "180 (呼び出し中): 鳴っています。"),
    ],
)
def test_japanese_spacing(raw: str, spaced: str) -> None:
    assert ja_spacing(raw) == spaced
    assert ja_spacing(spaced) == spaced


def test_vocabularies_cover_both_languages_and_every_value() -> None:
    for table in (LABELS, STATUS_WORDS, SENDERS, NEXT_STEP, RETRY_CLAUSE):
        assert set(table["en"]) == set(table["ja"])
    assert set(SENDERS["en"]) == set(SENT_BY)
    assert set(NEXT_STEP["en"]) == set(RETRY_CLAUSE["en"]) == {*RETRY, "done"}


# -- wrapping -----------------------------------------------------------------------------------


def test_wrap_english_on_spaces() -> None:
    text = "The client should retry without the unsupported option tags listed in Unsupported."
    assert wrap(text, 30) == [
        "The client should retry",
        "without the unsupported option",
        "tags listed in Unsupported.",
    ]


def test_wrap_cuts_words_longer_than_a_line() -> None:
    assert wrap("see sip:averyveryverylongusername@example.com now", 20) == [
        "see",
        "sip:averyveryverylon",
        "gusername@example.co",
        "m now",
    ]


def test_wrap_japanese_by_cells_without_closing_marks_at_line_start() -> None:
    lines = wrap("UASは、クライアントが提示しなかった拡張がないと処理できません。", 20)
    assert lines == ["UASは、クライアント", "が提示しなかった拡張", "がないと処理できませ", "ん。"]
    # A closing mark that would start a line takes the character before it along.
    assert wrap("あいうえおかきくけ。", 18) == ["あいうえおかきく", "け。"]
    # An opening bracket never ends a line.
    assert wrap("あいうえおかき「くけ」", 16) == ["あいうえおかき", "「くけ」"]


# -- text, Markdown and JSON through the CLI ----------------------------------------------------

EXPLAIN_420 = """\
420 Bad Extension
4xx Request Failure · RFC 3261 §21.4.15

A Require or Proxy-Require option tag is not supported; the response lists it in
Unsupported.

What it means

  The server did not understand an extension the request insisted on. It lists
  the tags it lacks in Unsupported, and the client should retry without them
  (RFC 3261 §8.1.3.5).

When you see it

  • An INVITE carries Require: 100rel towards a gateway without PRACK support.
  • A REFER carries Require: norefersub and the recipient does not know RFC
    4488.

How to fix

  1. Read the Unsupported header of the 420.
  2. Retry with those tags moved from Require to Supported, as a new transaction
     with CSeq + 1.

Facts

  Sent by    a UAS or a proxy
  Headers    Require, Proxy-Require, Unsupported
  Next step  retry with a changed request
  Related    421 Extension Required
"""


def test_explain_text_exact() -> None:
    assert run("explain", "420") == (0, EXPLAIN_420, "")


EXPLAIN_421_JA = """\
421 Extension Required (拡張機能が必要)
4xx クライアントエラー · RFC 3261 §21.4.16

UAS が必要とする拡張が Supported にありません。Require ヘッダにその名前がありま
す。

説明

  UAS は、クライアントが提示しなかった拡張がないとリクエストを処理できません。
  421 の Require ヘッダにその拡張が示されます。

このコードが表示される場合

  • 通信事業者のトランクがセッションタイマーを要求し、PBX が Supported: timer を
    付けていない場合です。

解決方法

  1. 421 の Require ヘッダを確認します。
  2. クライアントでその拡張を有効にし、Supported に入れます。

基本情報

  送信元          UAS
  関連ヘッダ      Require、Supported
  オプションタグ  100rel、timer
  次の動作        リクエストを修正して再送します
  関連コード      420 Bad Extension
"""


def test_explain_japanese_text_exact() -> None:
    assert run("explain", "421", "--lang", "ja") == (0, EXPLAIN_421_JA, "")


EXPLAIN_202_DEPRECATED = """\
202 Accepted
2xx Successful · RFC 6665 §8.3.1 · deprecated

The REFER or SUBSCRIBE was accepted; the outcome arrives later in NOTIFY.

Note: Deprecated by RFC 6665 §8.3.1 and, for REFER, RFC 7647 §5: send 200 and
treat a received 202 as 200.
"""


def test_deprecated_code_shows_status_and_note() -> None:
    code, out, _ = run("explain", "202")
    assert code == 0
    assert out.startswith(EXPLAIN_202_DEPRECATED)
    assert "Next step  nothing to resend: the request succeeded\n" in out


def test_unregistered_code_gets_its_class_page() -> None:
    code, out, _ = run("explain", "499")
    assert code == 0
    assert out.startswith("499 Unregistered 4xx response\n4xx Request Failure · RFC 3261 §21.4 · ")
    assert "Note: 499 is not a registered SIP response code; treated as a generic 4xx (RFC\n" in out


EXPLAIN_420_MARKDOWN = """\
# 420 Bad Extension

*4xx Request Failure · RFC 3261 §21.4.15*

A Require or Proxy-Require option tag is not supported; the response lists it in Unsupported.

## What it means

The server did not understand an extension the request insisted on. It lists the tags it lacks \
in Unsupported, and the client should retry without them (RFC 3261 §8.1.3.5).

## When you see it

- An INVITE carries Require: 100rel towards a gateway without PRACK support.
- A REFER carries Require: norefersub and the recipient does not know RFC 4488.

## How to fix

1. Read the Unsupported header of the 420.
2. Retry with those tags moved from Require to Supported, as a new transaction with CSeq + 1.

## Facts

- **Sent by:** a UAS or a proxy
- **Headers:** Require, Proxy-Require, Unsupported
- **Next step:** retry with a changed request
- **Related:** 421 Extension Required
"""


def test_explain_markdown_exact() -> None:
    assert run("explain", "420", "--format", "markdown") == (0, EXPLAIN_420_MARKDOWN, "")


def test_explain_json_for_a_response() -> None:
    code, out, _ = run("explain", "420", "-f", "json")
    assert code == 0
    assert json.loads(out) == {
        "schema": 1,
        "type": "response",
        "lang": "en",
        "code": 420,
        "reason": "Bad Extension",
        "registered": True,
        "status": "current",
        "class": "4xx Request Failure",
        "class_label": "4xx Request Failure",
        "rfc": "RFC 3261",
        "section": "21.4.15",
        "sent_by": ["uas", "proxy"],
        "headers": ["Require", "Proxy-Require", "Unsupported"],
        "option_tags": [],
        "related": [{"code": 421, "reason": "Extension Required"}],
        "retry": "modify",
        "text": {
            "reason": "Bad Extension",
            "summary": "A Require or Proxy-Require option tag is not supported; "
            "the response lists it in Unsupported",
            "description": "The server did not understand an extension the request insisted "
            "on. It lists the tags it lacks in Unsupported, and the client should retry without "
            "them (RFC 3261 §8.1.3.5).",
            "when": [
                "An INVITE carries Require: 100rel towards a gateway without PRACK support.",
                "A REFER carries Require: norefersub and the recipient does not know RFC 4488.",
            ],
            "fix": [
                "Read the Unsupported header of the 420.",
                "Retry with those tags moved from Require to Supported, as a new transaction "
                "with CSeq + 1.",
            ],
            "status_note": None,
        },
    }
    assert out.startswith('{\n  "schema": 1,\n  "type": "response",\n')


EXPLAIN_Q850_JA_JSON = """\
{
  "schema": 1,
  "type": "q850",
  "lang": "ja",
  "cause": 17,
  "name": "User busy",
  "sip_status": 486,
  "sip_reason": "Busy Here",
  "text": {
    "name": "ユーザー話し中",
    "summary": "着信側が話し中です",
    "fix": [
      "時間をおいて再発信するか、話し中の呼をボイスメールへ転送します。"
    ]
  }
}
"""


def test_explain_json_exact_text_keeps_japanese_readable() -> None:
    assert run("explain", "Q.850;cause=17", "-l", "ja", "-f", "json") == (
        0,
        EXPLAIN_Q850_JA_JSON,
        "",
    )


@pytest.mark.parametrize(
    ("term", "kind", "key", "value"),
    [
        ("timer", "option_tag", "tag", "timer"),
        ("warning:399", "warning", "warn_text", "Miscellaneous warning"),
        ("noresource", "subscription_reason", "reason", "noresource"),
    ],
)
def test_explain_json_for_other_kinds(term: str, kind: str, key: str, value: str) -> None:
    code, out, _ = run("explain", term, "-f", "json")
    data = json.loads(out)
    assert (code, data["schema"], data["type"], data[key]) == (0, 1, kind, value)
    assert set(data["text"]) >= {"summary", "fix"}


EXPLAIN_TIMER = """\
timer
Option tag · RFC 4028

Session timers: periodic re-INVITE or UPDATE keeps the dialog alive.

What it means

  A UA listing timer in Supported can refresh the session with Session-Expires
  and Min-SE.

Typical trouble

  A trunk answers 421 with Require: timer, or calls drop when refreshes are
  never sent.

How to fix

  1. Enable session timers on the PBX.
  2. Align Session-Expires with the trunk's Min-SE.

Facts

  Used in  Require, Supported
  Related  421 Extension Required, 422
"""


def test_explain_option_tag_text_exact() -> None:
    assert run("explain", "timer") == (0, EXPLAIN_TIMER, "")


def test_explain_other_kinds_text() -> None:
    assert run("explain", "q850:17")[1].startswith(
        "Q.850 cause 17: User busy\nISDN/ISUP release cause (Q.850)\n\nThe called party is busy.\n"
    )
    assert "  SIP equivalent  486 Busy Here (RFC 3398)\n" in run("explain", "q850:17")[1]
    assert run("explain", "warning:399")[1].startswith(
        "Warning 399: Miscellaneous warning\nWarning header code · RFC 3261 §20.43\n"
    )
    assert run("explain", "noresource", "-l", "ja")[1].startswith(
        "Subscription-State の reason: noresource\nRFC 6665 §4.1.3\n\n"
        "リソースがなくなったためサブスクリプションが終了しました。\n"
    )


# -- errors -------------------------------------------------------------------------------------


def test_unknown_term_is_one_line_with_suggestions() -> None:
    assert run("explain", "tmer") == (
        2,
        "",
        "sipwatch: error: unknown term 'tmer' (did you mean: timer?)\n",
    )


def test_unknown_term_without_suggestions() -> None:
    assert run("explain", "zzzzzz") == (2, "", "sipwatch: error: unknown term 'zzzzzz'\n")


@pytest.mark.parametrize("term", ["99", "700", "1000"])
def test_codes_outside_100_699_are_unknown(term: str) -> None:
    code, out, err = run("explain", term)
    assert (code, out) == (2, "")
    assert err.startswith(f"sipwatch: error: unknown term '{term}'")


def test_broken_knowledge_is_an_operator_error(tmp_path: Path) -> None:
    target = tmp_path / "kb"
    shutil.copytree(FIXTURE, target)
    path = target / "responses" / "4xx.toml"
    path.write_text(path.read_text().replace('summary = "A Require', 'summry = "A Require'))
    code, out, err = run("explain", "420", env={"SIPWATCH_KNOWLEDGE_DIR": str(target)})
    assert (code, out) == (2, "")
    assert err.startswith("sipwatch: error: ")
    assert err.endswith("responses/4xx.toml: response 420: unknown key 'summry' in [response.en]\n")
    assert err.count("\n") == 1


def test_exit_code_table_covers_every_operator_error() -> None:
    errors = [
        UnknownTermError("x", ["a"]),
        KnowledgeError("x"),
        CaptureFormatError("x"),
        CaptureReadError("x"),
        RulesError("x"),
        LiveCaptureError("x"),
        SipwatchError("x"),
    ]
    assert [exit_code(e) for e in errors] == [2] * len(errors)
    assert EXIT_CODES[-1][0] is SipwatchError, "the base class is the last resort"
    assert error_line(UnknownTermError("unknown term 'x'", ["a", "b"])) == (
        "sipwatch: error: unknown term 'x' (did you mean: a, b?)"
    )
    assert error_line(KnowledgeError("f.toml: bad")) == "sipwatch: error: f.toml: bad"


# -- data is never markup -----------------------------------------------------------------------


def test_rich_markup_in_data_is_printed_literally(tmp_path: Path) -> None:
    target = tmp_path / "kb"
    shutil.copytree(FIXTURE, target)
    path = target / "responses" / "4xx.toml"
    path.write_text(
        path.read_text().replace(
            'summary = "A Require', 'summary = "[bold red]Loud[/bold red] [link=x]A Require'
        )
    )
    code, out, _ = run("explain", "420", env={"SIPWATCH_KNOWLEDGE_DIR": str(target)})
    assert code == 0
    assert "[bold red]Loud[/bold red] [link=x]A Require" in out


def test_no_escape_codes_off_a_terminal(monkeypatch: pytest.MonkeyPatch, kb: Knowledge) -> None:
    page = explain_page(kb, resolve_term(kb, "420"), "en")
    monkeypatch.delenv("FORCE_COLOR", raising=False)
    monkeypatch.delenv("TTY_COMPATIBLE", raising=False)
    stream = io.StringIO()
    write_page(page, "text", stream)
    assert stream.getvalue().startswith("420 Bad Extension\n4xx Request Failure")
    assert "\x1b" not in stream.getvalue()
    # Forcing a terminal is the user's explicit request for styles.
    monkeypatch.setenv("FORCE_COLOR", "1")
    forced = io.StringIO()
    write_page(page, "text", forced)
    assert forced.getvalue().startswith("\x1b[1m420 Bad Extension\x1b[0m\n")


def test_styles_exist_for_terminals(kb: Knowledge) -> None:
    text = page_text(explain_page(kb, resolve_term(kb, "420"), "en"), 80)
    styled = {text.plain[span.start : span.end]: str(span.style) for span in text.spans}
    assert styled["420 Bad Extension"] == "bold"
    assert styled["How to fix"] == "bold underline"


def test_width_is_capped_for_readability(kb: Knowledge) -> None:
    text = page_text(explain_page(kb, resolve_term(kb, "420"), "en"), 300).plain
    assert max(len(line) for line in text.splitlines()) <= 100


# -- the real knowledge base --------------------------------------------------------------------


REAL: dict[str, str | None] = {"COLUMNS": "100", "SIPWATCH_KNOWLEDGE_DIR": None}


def test_real_knowledge_explain_420() -> None:
    code, out, err = run("explain", "420", env=REAL)
    assert (code, err) == (0, "")
    assert out.startswith("420 Bad Extension\n4xx Request Failure · RFC 3261 §21.4.15\n")
    for heading in ("What it means", "When you see it", "How to fix", "Facts"):
        assert f"\n{heading}\n" in out
    assert "Unsupported" in out


def test_real_knowledge_explain_420_in_japanese() -> None:
    code, out, err = run("explain", "420", "--lang", "ja", env=REAL)
    assert (code, err) == (0, "")
    assert out.startswith("420 Bad Extension (")
    for heading in ("説明", "このコードが表示される場合", "解決方法"):
        assert f"\n{heading}\n" in out


@pytest.mark.parametrize("term", ["100", "202", "603", "timer", "100rel", "q850:16", "warning:399"])
def test_real_knowledge_explains_all_kinds(term: str) -> None:
    for fmt in ("text", "markdown", "json"):
        code, out, err = run("explain", term, "-f", fmt, "-l", "ja", env=REAL)
        assert (code, err) == (0, ""), (term, fmt)
        assert out.strip()


def test_every_real_entry_renders_in_every_format() -> None:
    """Every term the real knowledge base knows renders in all three formats and both languages."""
    kb = load_knowledge(Path(__file__).resolve().parents[1] / "knowledge")
    terms = [*candidates(kb), "150", "499", "699"]
    assert len(terms) >= 75 + 36 + 73 + 15 + 8
    for spelling in terms:
        term = resolve_term(kb, spelling)
        assert term.key == spelling or spelling in ("150", "499", "699")
        for lang in ("en", "ja"):
            page = explain_page(kb, term, lang)
            text = page_text(page, 100).plain
            assert max(cell_len(line) for line in text.splitlines()) <= 100
            assert "\n\n\n" not in text
            assert page_markdown(page).startswith("# ")
            assert json.loads(json.dumps(explain_json(kb, term, lang)))["lang"] == lang
