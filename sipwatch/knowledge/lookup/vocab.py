"""Fixed words of the explain and compare pages, in English and Japanese.

The knowledge files hold what each code *means*; this module holds the page furniture (headings,
fact labels) and the phrases for the schema's small vocabularies (``sent_by``, ``retry``,
``status``), which are part of the program: a new ``retry`` value needs code that handles it,
so its wording lives beside that code. Every table has the same keys in both languages (a test
checks it).
"""

from __future__ import annotations

from typing import Final

from sipwatch.knowledge.lookup.grammar import join_words, with_article

LABELS: Final[dict[str, dict[str, str]]] = {
    "en": {
        "what": "What it means",
        "when": "When you see it",
        "fix": "How to fix",
        "trouble": "Typical trouble",
        "facts": "Facts",
        "compare_what": "What each is",
        "compare_when": "When you see each",
        "compare_fix": "How to fix each",
        "differences": "Key differences",
        "which": "Which applies when",
        "note": "Note",
        "sent_by": "Sent by",
        "headers": "Headers",
        "option_tags": "Option tags",
        "next_step": "Next step",
        "related": "Related",
        "used_in": "Used in",
        "sip_status": "SIP equivalent",
        "header_form": "On the wire",
        "option_tag": "Option tag",
        "not_registered_tag": "not in the IANA option-tag registry",
        "q850": "Q.850 cause",
        "q850_kind": "ISDN/ISUP release cause (Q.850)",
        "no_sip_status": "none given by RFC 3398",
        "warning": "Warning",
        "warning_kind": "Warning header code",
        "subscription": "Subscription-State reason",
        "class_kind": "Response class",
        "method_kind": "Request method",
        "header_kind": "Header field",
        "compact": "Compact form",
        "band_note": "{code} has no entry of its own: it is explained by its band, {span}",
        "vs": "vs",
    },
    "ja": {
        "what": "説明",
        "when": "このコードが表示される場合",
        "fix": "解決方法",
        "trouble": "よくあるトラブル",
        "facts": "基本情報",
        "compare_what": "説明",
        "compare_when": "このコードが表示される場合",
        "compare_fix": "解決方法",
        "differences": "主な違い",
        "which": "どちらをいつ使うか",
        "note": "注記",
        "sent_by": "送信元",
        "headers": "関連ヘッダ",
        "option_tags": "オプションタグ",
        "next_step": "次の動作",
        "related": "関連コード",
        "used_in": "使われるヘッダ",
        "sip_status": "対応する SIP 応答",
        "header_form": "ヘッダでの表記",
        "option_tag": "オプションタグ",
        "not_registered_tag": "IANA のオプションタグ登録簿にありません",
        "q850": "Q.850 cause",
        "q850_kind": "ISDN/ISUP の切断理由 (Q.850)",
        "no_sip_status": "RFC 3398 に対応付けなし",
        "warning": "Warning",
        "warning_kind": "Warning ヘッダのコード",
        "subscription": "Subscription-State の reason",
        "class_kind": "応答クラス",
        "method_kind": "リクエストメソッド",
        "header_kind": "ヘッダフィールド",
        "compact": "短縮形",
        "band_note": "{code} には個別の項目がないため、属する範囲 {span} で説明します",
        "vs": "と",
    },
}

#: Status words shown next to the class ("current" is not shown: it is the normal case).
STATUS_WORDS: Final[dict[str, dict[str, str]]] = {
    "en": {"current": "current", "deprecated": "deprecated", "unregistered": "not registered"},
    "ja": {"current": "現行", "deprecated": "非推奨", "unregistered": "未登録"},
}

#: Who sends a response, as a noun phrase without article.
SENDERS: Final[dict[str, dict[str, str]]] = {
    "en": {
        "uas": "UAS",
        "proxy": "proxy",
        "registrar": "registrar",
        "redirect": "redirect server",
        "b2bua": "B2BUA",
        "any": "any SIP element",
    },
    "ja": {
        "uas": "UAS",
        "proxy": "プロキシ",
        "registrar": "レジストラ",
        "redirect": "リダイレクトサーバ",
        "b2bua": "B2BUA",
        "any": "任意の SIP 要素",
    },
}

#: What the client does next, as an imperative for the explain page's fact line.
NEXT_STEP: Final[dict[str, dict[str, str]]] = {
    "en": {
        "done": "nothing to resend: the request succeeded",
        "none": "do not resend the same request unchanged",
        "modify": "retry with a changed request",
        "later": "retry after a delay (honour Retry-After)",
        "elsewhere": "try another target (the Contact given, or another server)",
        "credentials": "retry with credentials (Authorization or Proxy-Authorization)",
        "wait": "wait for the final response",
    },
    "ja": {
        "done": "再送は不要です (リクエストは成功しています)",
        "none": "同じリクエストをそのまま再送しません",
        "modify": "リクエストを修正して再送します",
        "later": "時間をおいて再送します (Retry-After に従います)",
        "elsewhere": "別の宛先 (示された Contact や別のサーバ) を試します",
        "credentials": "認証情報 (Authorization または Proxy-Authorization) を付けて再送します",
        "wait": "最終応答を待ちます",
    },
}

#: The same, as a clause with the client as subject, for generated comparison sentences.
RETRY_CLAUSE: Final[dict[str, dict[str, str]]] = {
    "en": {
        "done": "there is nothing to resend",
        "none": "the client must not resend the same request unchanged",
        "modify": "the client retries with a changed request",
        "later": "the client may retry after a delay (see Retry-After)",
        "elsewhere": "the client tries another target (the Contact given, or another server)",
        "credentials": "the client retries with credentials",
        "wait": "the client keeps waiting for the final response",
    },
    "ja": {
        "done": "再送するものはありません",
        "none": "クライアントは同じリクエストをそのまま再送してはいけません",
        "modify": "クライアントはリクエストを修正して再送します",
        "later": "クライアントは時間をおいて再送できます (Retry-After を参照)",
        "elsewhere": "クライアントは別の宛先 (示された Contact や別のサーバ) を試します",
        "credentials": "クライアントは認証情報を付けて再送します",
        "wait": "クライアントは最終応答を待ち続けます",
    },
}


def label(lang: str, key: str) -> str:
    """A fixed page word in ``lang``."""
    return LABELS[lang][key]


def retry_key(retry: str, code: int) -> str:
    """The vocabulary key for a ``retry`` value; "none" after a 2xx means success, not refusal."""
    return "done" if retry == "none" and 200 <= code < 300 else retry


def senders(sent_by: tuple[str, ...], lang: str) -> str:
    """ "a UAS or a proxy" / "UAS またはプロキシ"."""
    words = SENDERS[lang]
    if lang == "en":
        phrases = [words[s] if s == "any" else with_article(words[s]) for s in sent_by]
    else:
        phrases = [words[s] for s in sent_by]
    return join_words(phrases, "or", lang)
