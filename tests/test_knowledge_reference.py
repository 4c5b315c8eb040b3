"""Methods, header fields and Warning bands in the knowledge base, and ``explain`` on them.

The entries are checked against the registry copies they describe (registry/methods.tsv,
registry/compact_forms.tsv, the Warning codes of warnings.toml), in both languages, and
resolved and rendered through the real command line.
"""

from __future__ import annotations

import csv
import json
import re
import shutil
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from sipwatch.cli import app
from sipwatch.errors import KnowledgeError, UnknownTermError
from sipwatch.knowledge import load_knowledge
from sipwatch.knowledge.lookup import resolve_term
from sipwatch.knowledge.lookup.terms import BandCode
from tests.conftest import REPO

KNOWLEDGE = REPO / "knowledge"
KB = load_knowledge()


def registry(name: str) -> list[dict[str, str]]:
    with (KNOWLEDGE / "registry" / name).open(encoding="utf-8") as f:
        return list(csv.DictReader(f, delimiter="\t"))


def explain(*args: str) -> Any:
    return CliRunner().invoke(app, ["explain", *args], env={"COLUMNS": "80", "NO_COLOR": "1"})


# -- the data ---------------------------------------------------------------------------------


def test_every_registered_method_has_an_entry_citing_its_rfc() -> None:
    rows = {
        row["method"]: row for row in registry("methods.tsv") if row["iana_registered"] == "yes"
    }
    assert sorted(KB.methods) == sorted(rows)
    for name, entry in KB.methods.items():
        assert entry.rfc in rows[name]["rfc"], name
        assert re.fullmatch(r"\d+(\.\d+)*", entry.section), name
        for header in entry.headers:
            # Every header a method page names has an entry, but for a few of RFCs beyond
            # RFC 3261's core that only that method uses.
            rare = {"Info-Package", "Recv-Info", "Accept", "Path", "SIP-ETag", "SIP-If-Match"}
            assert KB.header(header) is not None or header in rare, (name, header)


def test_every_compact_form_has_a_header_entry() -> None:
    compact = {row["compact"]: row["header"] for row in registry("compact_forms.tsv")}
    assert {h.compact: h.name for h in KB.headers.values() if h.compact} == compact
    for letter, name in compact.items():
        entry = KB.header(letter)
        assert entry is not None and entry.name == name
        assert KB.header(letter.upper()) is entry  # compact forms fold case too (§7.3.1)


def test_headers_the_findings_talk_about_have_entries() -> None:
    names = ["Require", "Proxy-Require", "Unsupported", "Supported", "Refer-Sub", "Refer-To"]
    names += ["Subscription-State", "Event", "Reason", "Warning", "CSeq", "Via", "Contact"]
    names += ["Proxy-Authenticate", "WWW-Authenticate", "Record-Route", "Route", "Max-Forwards"]
    names += ["User-Agent", "Server", "Retry-After", "RSeq", "RAck", "Allow", "Expires"]
    for name in names:
        assert KB.header(name) is not None, name


def test_bands_cover_every_warning_code_without_gaps() -> None:
    codes = [code for band in KB.warning_bands for code in range(band.low, band.high + 1)]
    assert codes == list(range(300, 400))
    for code in KB.warnings:  # a registered code lies in an RFC 3261 band, or its band names it
        band = KB.warning_band(code)
        assert band is not None, code
        assert band.assigned or str(code) in band.en.summary + band.ja.summary, code
    assert KB.warning_band(299) is None and KB.warning_band(400) is None


@pytest.mark.parametrize("lang", ["en", "ja"])
def test_texts_are_written_in_each_language(lang: str) -> None:
    entries = [*KB.methods.values(), *KB.headers.values(), *KB.warning_bands]
    for entry in entries:
        text = entry.text(lang)
        assert text.summary.strip() and text.description.strip()
        assert not text.summary.endswith((".", "。")), text.summary
        japanese = re.search(r"[\u3040-\u30ff\u4e00-\u9fff]", text.summary + text.description)
        assert (japanese is not None) == (lang == "ja"), text.summary
        if lang == "ja":  # です/ます style (knowledge/SCHEMA.md)
            assert text.summary.endswith(("す", "ん")), text.summary
            assert text.description.endswith("。"), text.description


def test_a_broken_reference_entry_names_its_file_and_key(tmp_path: Path) -> None:
    copy = tmp_path / "knowledge"
    shutil.copytree(KNOWLEDGE, copy)
    path = copy / "methods.toml"
    path.write_text(path.read_text(encoding="utf-8").replace('section = "9.1"', 'sektion = "9.1"'))
    with pytest.raises(
        KnowledgeError, match=r"methods\.toml: method CANCEL: unknown key 'sektion'"
    ):
        load_knowledge(copy)
    shutil.copy(KNOWLEDGE / "methods.toml", path)
    bands = copy / "warning_bands.toml"
    bands.write_text(bands.read_text(encoding="utf-8").replace("high = 339", "high = 341"))
    with pytest.raises(KnowledgeError, match=r"band 340-369 overlaps 330-341"):
        load_knowledge(copy)


# -- explain ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "kind", "key"),
    [
        ("4xx", "class", "4xx"),
        ("6XX", "class", "6xx"),
        ("class:2", "class", "2xx"),
        ("REFER", "method", "REFER"),
        ("refer", "method", "REFER"),
        ("method:prack", "method", "PRACK"),
        ("Require", "header", "Require"),
        ("refer-sub", "header", "Refer-Sub"),
        ("Refer-Sub:", "header", "Refer-Sub"),
        ("k", "header", "Supported"),
        ("header:i", "header", "Call-ID"),
        ("warning:392", "warning_band", "warning:392"),
        ("warning:399", "warning", "warning:399"),  # a registered code keeps its own entry
        ("timer", "option_tag", "timer"),  # option tags still come first
    ],
)
def test_terms_resolve(typed: str, kind: str, key: str) -> None:
    term = resolve_term(KB, typed)
    assert (term.kind, term.key) == (kind, key)


def test_unknown_spellings_suggest_methods_and_headers() -> None:
    with pytest.raises(UnknownTermError) as caught:
        resolve_term(KB, "REFR")
    assert caught.value.suggestions[0] == "REFER"
    with pytest.raises(UnknownTermError) as caught:
        resolve_term(KB, "7xx")  # no such class (RFC 3261 §7.2)
    assert all(re.fullmatch("[1-6]xx", s) for s in caught.value.suggestions)


def test_explain_a_warning_band_exactly() -> None:
    result = explain("warning:392")
    assert result.exit_code == 0
    assert result.stdout.splitlines()[:6] == [
        "Warning 392: miscellaneous (390-399)",
        "Warning header code · RFC 3261 §20.43",
        "",
        "A miscellaneous warning: free text for people and logs, which no system may act",
        "on automatically.",
        "",
    ]
    assert "392 has no entry of its own: it is explained by its band, 390-399." in result.stdout
    band = json.loads(explain("warning:392", "--format", "json").stdout)
    assert (band["type"], band["code"], band["band"], band["assigned"]) == (
        "warning_band",
        392,
        [390, 399],
        True,
    )


def test_explain_a_class_a_method_and_a_compact_header() -> None:
    klass = explain("4xx").stdout.splitlines()
    assert klass[:2] == ["4xx Request Failure", "Response class · RFC 3261 §21.4"]
    method = explain("REFER").stdout.splitlines()
    assert method[:2] == ["REFER", "Request method · RFC 3515 §2"]
    header = explain("r", "--lang", "ja").stdout
    assert header.startswith("Refer-To\nヘッダフィールド · RFC 3515 §2.1\n")
    assert "短縮形          r: ... (RFC 3261 §7.3.3)" in header
    data = json.loads(explain("k", "-f", "json").stdout)
    assert (data["type"], data["name"], data["compact"]) == ("header", "Supported", "k")


def test_the_band_page_says_what_pcap_says() -> None:
    """``pcap`` explains a Warning header by the same band of RFC 3261 §20.43."""
    band = KB.warning_band(392)
    assert isinstance(resolve_term(KB, "warning:392").entry, BandCode)
    assert band is not None and "free text for people and logs" in band.en.summary
    from sipwatch.correlate.notices import _warning_meaning

    assert "free text for people and logs" in _warning_meaning(392, 488)
