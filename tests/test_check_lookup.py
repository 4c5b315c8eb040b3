"""Which rules ``sipwatch check`` applies without ``--rules``, and how every report names them.

Real runs of the command line on the bundled captures: from the project root (where
captures/sipwatch.toml must be found beside the captures), from elsewhere, and on captures in
folders with rules files of their own.
"""

from __future__ import annotations

import json
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from sipwatch.check.config import DEFAULT_RULES_NAME
from sipwatch.cli import app
from sipwatch.render.junit import junit_classname
from tests.conftest import CAPTURES, REPO

EXPECT_FAILED = (
    '[[expect]]\ncapture = "transfer-failed.pcap"\nkind = "transfer"\noutcome = "failed"\n'
)


def run(*args: str) -> Any:
    return CliRunner().invoke(app, ["check", *args, "--no-color"])


def totals(result: Any) -> str:
    return str(result.stdout.splitlines()[-1])


def test_from_the_project_root_captures_find_their_rules(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(REPO)
    junit, markdown = tmp_path / "r.xml", tmp_path / "r.md"
    result = run("captures/", "--junit", str(junit), "--markdown", str(markdown))
    assert result.exit_code == 0, result.stdout
    assert totals(result).endswith("(rules: captures/sipwatch.toml)")
    root = ET.parse(junit).getroot()
    rules = {p.get("value") for p in root.iter("property") if p.get("name") == "rules"}
    assert rules == {"captures/sipwatch.toml"}
    assert "\nRules: captures/sipwatch.toml\n" in markdown.read_text()
    lines = [json.loads(x) for x in run("captures/", "--format", "jsonl").stdout.splitlines()]
    verdicts = [x for x in lines if x["type"] == "verdict"]
    assert len(verdicts) == len(list(CAPTURES.glob("*.pcap")))
    assert {v["rules_file"] for v in verdicts} == {"captures/sipwatch.toml"}


def test_from_elsewhere_the_capture_folder_still_decides(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    result = run(str(CAPTURES / "transfer-failed.pcap"))
    assert result.exit_code == 0  # its failure is expected by captures/sipwatch.toml
    assert totals(result).endswith(f"(rules: {CAPTURES / 'sipwatch.toml'})")


def test_capture_folder_first_then_working_directory(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    own, plain, work = tmp_path / "own" / "deep", tmp_path / "plain", tmp_path / "work"
    for folder in (own, plain, work):
        folder.mkdir(parents=True)
    (tmp_path / "own" / "sipwatch.toml").write_text(EXPECT_FAILED)
    (plain / "pyproject.toml").write_text('[project]\nname = "x"\n')  # a root without rules
    (work / "sipwatch.toml").write_text("strict = true\n")
    for folder in (own, plain):
        shutil.copyfile(CAPTURES / "transfer-failed.pcap", folder / "transfer-failed.pcap")
    monkeypatch.chdir(work)
    code_lines = run(str(own / "transfer-failed.pcap"), str(plain / "transfer-failed.pcap"))
    # The first is judged by its folder's rules (failure expected: passes), the second by the
    # working directory's (strict, no expectation: fails).
    assert code_lines.exit_code == 1
    lines = code_lines.stdout.splitlines()
    assert lines[0].startswith(f"PASS   {own / 'transfer-failed.pcap'}  1 expected")
    assert lines[1].startswith(f"FAIL   {plain / 'transfer-failed.pcap'}  ")
    assert totals(code_lines) == (
        f"2 captures: 1 passed, 1 failed (rules: {tmp_path / 'own' / 'sipwatch.toml'} "
        "(1 capture), sipwatch.toml (1 capture); strict)"
    )


def test_one_name_for_the_default_rules_in_every_report(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "x"\n')
    (tmp_path / "captures").mkdir()
    shutil.copyfile(CAPTURES / "auth-challenge.pcap", tmp_path / "captures" / "auth-challenge.pcap")
    monkeypatch.chdir(tmp_path)
    junit, markdown = tmp_path / "r.xml", tmp_path / "r.md"
    result = run("captures/auth-challenge.pcap", "--junit", str(junit), "--markdown", str(markdown))
    assert result.exit_code == 0
    assert totals(result) == f"1 capture: 1 passed, 0 failed (rules: {DEFAULT_RULES_NAME})"
    root = ET.parse(junit).getroot()
    (rules,) = [p.get("value") for p in root.iter("property") if p.get("name") == "rules"]
    assert rules == DEFAULT_RULES_NAME == "default rules"
    assert f"\nRules: {DEFAULT_RULES_NAME}\n" in markdown.read_text()
    # JUnit groups test cases by class name: folders and file as one dotted name.
    assert {case.get("classname") for case in root.iter("testcase")} == {"captures.auth-challenge"}
    lines = run("captures/auth-challenge.pcap", "--format", "jsonl").stdout.splitlines()
    assert json.loads(lines[-1])["rules_file"] is None


@pytest.mark.parametrize(
    ("capture", "classname"),
    [
        ("captures/auth-challenge.pcap", "captures.auth-challenge"),
        ("./a/b/x.pcapng.gz", "a.b.x"),
        ("/abs/sip-tls-1.3.pcap", "abs.sip-tls-1_3"),
        ("call.cap", "call"),
        ("-", "-"),
    ],
)
def test_junit_classname(capture: str, classname: str) -> None:
    assert junit_classname(capture) == classname
