"""``sipwatch compare``: curated pairs, differences derived from fields, and the CLI around them."""

from __future__ import annotations

import itertools
import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from sipwatch.cli import app
from sipwatch.knowledge import Knowledge, ResponseEntry, load_knowledge
from sipwatch.knowledge.lookup import contrast
from sipwatch.knowledge.lookup.compare import derived_differences, derived_which

FIXTURE = Path(__file__).parent / "data" / "knowledge"
PLAIN: dict[str, str | None] = {"FORCE_COLOR": None, "TTY_COMPATIBLE": None}
ENV: dict[str, str | None] = {**PLAIN, "SIPWATCH_KNOWLEDGE_DIR": str(FIXTURE), "COLUMNS": "80"}
REAL: dict[str, str | None] = {**PLAIN, "SIPWATCH_KNOWLEDGE_DIR": None, "COLUMNS": "100"}

#: The pairs engineers confuse; each must have a curated contrast in knowledge/comparisons.toml.
REQUIRED_PAIRS = [
    (420, 421), (202, 200), (401, 407), (403, 401), (404, 480), (404, 604), (480, 486),
    (486, 600), (486, 603), (408, 504), (408, 487), (502, 503), (500, 503), (488, 606),
    (415, 488), (481, 487), (422, 423), (301, 302), (403, 405), (405, 501), (489, 481),
    (202, 420), (183, 180), (100, 180), (482, 483), (400, 500),
]  # fmt: skip


def run(*args: str, env: dict[str, str | None] | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args), env=env or ENV)
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture(scope="module")
def fixture_kb() -> Knowledge:
    return load_knowledge(FIXTURE)


@pytest.fixture(scope="module")
def real_kb() -> Knowledge:
    return load_knowledge(Path(__file__).resolve().parents[1] / "knowledge")


# -- exact output -------------------------------------------------------------------------------

COMPARE_420_421 = """\
420 Bad Extension vs 421 Extension Required

What each is

  420 Bad Extension
    4xx Request Failure · RFC 3261 §21.4.15

    A Require or Proxy-Require option tag is not supported; the response lists
    it in Unsupported.

    The server did not understand an extension the request insisted on. It lists
    the tags it lacks in Unsupported, and the client should retry without them
    (RFC 3261 §8.1.3.5).

  421 Extension Required
    4xx Request Failure · RFC 3261 §21.4.16

    The UAS needs an extension the request did not list in Supported; the
    Require header names it.

    The UAS cannot serve the request without an extension the client did not
    offer. The 421 carries a Require header naming it.

When you see each

  420 Bad Extension
    • An INVITE carries Require: 100rel towards a gateway without PRACK support.
    • A REFER carries Require: norefersub and the recipient does not know RFC
      4488.

  421 Extension Required
    • A carrier trunk demands session timers and the PBX sends no Supported:
      timer.

How to fix each

  420 Bad Extension
    1. Read the Unsupported header of the 420.
    2. Retry with those tags moved from Require to Supported, as a new
       transaction with CSeq + 1.

  421 Extension Required
    1. Read the Require header of the 421.
    2. Enable that extension on the client and list it in Supported.

Key differences

  1. 420 means the request asked for too much: a Require or Proxy-Require tag
     the server lacks, listed in Unsupported.
  2. 421 means the request offered too little: the UAS needs a tag missing from
     Supported, named in Require.

Which applies when

  Retry without the Unsupported tags after 420; enable the Require tags after
  421.
"""


def test_curated_pair_text_exact() -> None:
    assert run("compare", "420", "421") == (0, COMPARE_420_421, "")


COMPARE_180_486_JA_TAIL = """\
主な違い

  1. 180 は「1xx 暫定応答」、486 は「4xx クライアントエラー」の応答です。
  2. 180 は暫定応答で、この後に最終応答が届きます。486 は最終応答で、トランザク
     ションを終わらせます。
  3. 180 では Contact、Require、RSeq を、486 では Retry-After を確認します。
  4. 180 の後、クライアントは最終応答を待ち続けます。486 の後、クライアントは別
     の宛先 (示された Contact や別のサーバ) を試します。

どちらをいつ使うか

  180 (呼び出し中): 着信側の電話機が鳴っています。発信側はローカルで呼び出し音を
  鳴らせます。486 (話し中): 着信側の端末が話し中です。ボイスメールなど別の宛先な
  ら届く可能性があります。
"""


def test_derived_pair_japanese_text_exact() -> None:
    code, out, err = run("compare", "180", "486", "--lang", "ja")
    assert (code, err) == (0, "")
    assert out.startswith(
        "180 Ringing (呼び出し中) と 486 Busy Here (話し中) の比較\n\n説明\n\n"
        "  180 Ringing (呼び出し中)\n    1xx 暫定応答 · RFC 3261 §21.1.2\n"
    )
    for heading in (
        "説明",
        "このコードが表示される場合",
        "解決方法",
        "主な違い",
        "どちらをいつ使うか",
    ):
        assert f"\n{heading}\n" in f"\n{out}"
    assert out.endswith(COMPARE_180_486_JA_TAIL)


def test_derived_pair_json_exact() -> None:
    code, out, err = run("compare", "202", "420", "--format", "json")
    assert (code, err) == (0, "")
    data = json.loads(out)
    assert list(data) == [
        "schema", "type", "lang", "codes", "curated", "entries", "differences", "which",
    ]  # fmt: skip
    assert (data["schema"], data["type"], data["lang"]) == (1, "comparison", "en")
    assert (data["codes"], data["curated"]) == ([202, 420], False)
    assert [e["code"] for e in data["entries"]] == [202, 420]
    assert data["entries"][0]["status"] == "deprecated"
    assert data["entries"][0]["text"]["status_note"].startswith("Deprecated by RFC 6665")
    assert data["differences"] == [
        "202 is a 2xx Successful response and 420 is a 4xx Request Failure response.",
        "202 is sent by a UAS; 420 is sent by a UAS or a proxy.",
        "To act on 202, read Event and Refer-Sub; for 420, read Require, Proxy-Require and "
        "Unsupported.",
        "After 202, there is nothing to resend; after 420, the client retries with a changed "
        "request.",
        "202 is deprecated and 420 is not. Deprecated by RFC 6665 §8.3.1 and, for REFER, "
        "RFC 7647 §5: send 200 and treat a received 202 as 200.",
        "202 is defined in RFC 6665 §8.3.1 and 420 in RFC 3261 §21.4.15.",
    ]
    assert data["which"] == (
        "202 Accepted — The REFER or SUBSCRIBE was accepted; the outcome arrives later in "
        "NOTIFY. 420 Bad Extension — A Require or Proxy-Require option tag is not supported; "
        "the response lists it in Unsupported."
    )
    assert out.startswith('{\n  "schema": 1,\n  "type": "comparison",\n  "lang": "en",\n')


def test_curated_json_says_so() -> None:
    data = json.loads(run("compare", "421", "420", "-f", "json", "-l", "ja")[1])
    assert (data["codes"], data["curated"], data["lang"]) == ([421, 420], True, "ja")
    assert data["differences"][0].startswith("420 はリクエストの要求が多すぎる")


def test_markdown_compare() -> None:
    code, out, _ = run("compare", "420", "421", "-f", "markdown")
    assert code == 0
    assert out.startswith("# 420 Bad Extension vs 421 Extension Required\n\n## What each is\n\n")
    assert "\n### 421 Extension Required\n" in out
    assert "\n## Key differences\n\n1. 420 means the request asked for too much" in out


# -- derived differences read like prose --------------------------------------------------------


def test_provisional_versus_final_and_global(fixture_kb: Knowledge) -> None:
    def get(code: int) -> ResponseEntry:
        entry = fixture_kb.response_or_class(code)
        assert entry is not None
        return entry

    assert derived_differences(fixture_kb, get(180), get(486), "en") == (
        "180 is a 1xx Provisional response and 486 is a 4xx Request Failure response.",
        "180 is provisional: a final response is still to come. 486 is final: it ends the "
        "transaction.",
        "To act on 180, read Contact, Require and RSeq; for 486, read Retry-After.",
        "After 180, the client keeps waiting for the final response; after 486, the client "
        "tries another target (the Contact given, or another server).",
    )
    global_vs_local = derived_differences(fixture_kb, get(603), get(486), "en")
    assert global_vs_local[1] == (
        "603 is global: a forking proxy stops trying the user's other locations. 486 speaks "
        "only for the element that sent it; another location may still succeed."
    )
    assert derived_differences(fixture_kb, get(499), get(420), "en")[0] == (
        "Both 499 and 420 are 4xx Request Failure responses."
    )


GLITCHES = re.compile(
    r"\ban [1-7]\d\d\b|\ban [1-7]xx\b|\ba 8|\bwhen when\b|\bwhen after\b|  |"
    r"(?<!\.)\.\.(?!\.)|\. \.|\bNone\b|[{}]|。。|、、|:\.|;\."
)


def test_no_template_glitches_in_any_derived_pair(real_kb: Knowledge) -> None:
    """Every pair of codes (registered, plus unregistered ones) in both languages."""
    codes = [*sorted(real_kb.responses), 150, 299, 399, 499, 599, 699]
    entries = [real_kb.response_or_class(code) for code in codes]
    checked = 0
    for a, b in itertools.combinations(entries, 2):
        assert a is not None and b is not None
        for lang in ("en", "ja"):
            texts = [*derived_differences(real_kb, a, b, lang), derived_which(a, b, lang)]
            for text in texts:
                assert not GLITCHES.search(text), f"{a.code}/{b.code} {lang}: {text!r}"
                assert text.endswith(("." if lang == "en" else "。", ".")), text
                if lang == "ja":
                    assert re.search(r"[\u3040-\u30ff\u4e00-\u9fff]", text), text
            checked += 1
    assert checked == len(entries) * (len(entries) - 1)


def test_curated_pairs_win_over_derived(real_kb: Knowledge) -> None:
    a, b = real_kb.response(202), real_kb.response(420)
    assert a is not None and b is not None
    result = contrast(real_kb, a, b, "en")
    assert result.curated
    assert result.differences == real_kb.comparison(420, 202).en.differences  # type: ignore[union-attr]


@pytest.mark.parametrize(("a", "b"), REQUIRED_PAIRS, ids=[f"{a}-{b}" for a, b in REQUIRED_PAIRS])
def test_required_pairs_are_curated(real_kb: Knowledge, a: int, b: int) -> None:
    pair = real_kb.comparison(a, b)
    assert pair is not None, f"no curated comparison for {a}/{b}"
    for lang in ("en", "ja"):
        text = pair.text(lang)
        assert len(text.differences) >= 3
        assert text.which


def test_readme_example_explains_notify_and_unsupported(real_kb: Knowledge) -> None:
    """202 vs 420: acceptance with the outcome in NOTIFY, versus rejection naming Unsupported."""
    pair = real_kb.comparison(202, 420)
    assert pair is not None
    en = " ".join(pair.en.differences)
    for fact in ("NOTIFY", "message/sipfrag", "RFC 7647 §5", "RFC 6665 §8.3.1", "Unsupported"):
        assert fact in en
    assert "Require" in en and "Proxy-Require" in en
    ja = " ".join(pair.ja.differences)
    assert "NOTIFY" in ja and "Unsupported" in ja and "非推奨" in ja


# -- CLI behaviour ------------------------------------------------------------------------------


def test_same_code_twice_is_an_error() -> None:
    assert run("compare", "420", "420") == (
        2,
        "",
        "sipwatch: error: compare needs two different codes (got 420 twice)\n",
    )


def test_non_code_is_an_unknown_response_code() -> None:
    assert run("compare", "timer", "420") == (
        2,
        "",
        "sipwatch: error: unknown response code 'timer'\n",
    )
    code, _, err = run("compare", "420", "48")
    assert (code, err) == (2, "sipwatch: error: unknown response code '48' (did you mean: 486?)\n")


def test_unregistered_codes_can_be_compared() -> None:
    code, out, _ = run("compare", "499", "420")
    assert code == 0
    assert "  1. Both 499 and 420 are 4xx Request Failure responses.\n" in out
    assert "Note: 499 is not a registered SIP response code" in out


def test_real_knowledge_compare_202_420() -> None:
    code, out, err = run("compare", "202", "420", env=REAL)
    assert (code, err) == (0, "")
    assert out.startswith("202 Accepted vs 420 Bad Extension\n")
    for heading in (
        "What each is",
        "When you see each",
        "How to fix each",
        "Key differences",
        "Which applies when",
    ):
        assert f"\n{heading}\n" in out
    assert "  1. 202 Accepted is a success" in out


def test_real_knowledge_compare_in_japanese() -> None:
    code, out, err = run("compare", "202", "420", "--lang", "ja", env=REAL)
    assert (code, err) == (0, "")
    for heading in (
        "説明",
        "このコードが表示される場合",
        "解決方法",
        "主な違い",
        "どちらをいつ使うか",
    ):
        assert f"\n{heading}\n" in out
    assert "What each is" not in out
