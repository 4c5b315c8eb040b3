"""``sipwatch check`` end to end on the bundled captures, through the command line.

Every default rule and every rules-file feature is exercised on the real captures in
``captures/``. Where a rule needs something no bundled capture shows (a 420 with no retry, a
malformed message, a truncated file), the test derives a capture from a bundled one by keeping
its first frames or changing one byte sequence in place: still real traffic, cut or damaged the
way captures are in the field.
"""

from __future__ import annotations

import gzip
import json
import shutil
import struct
import sys
from pathlib import Path
from typing import Any

import pytest
from junitparser import Error, Failure, JUnitXml
from typer.testing import CliRunner

from sipwatch.cli import app
from tests.conftest import CAPTURES, REPO

BUNDLED_DIR = CAPTURES
BUNDLED = sorted(p.name for p in CAPTURES.glob("*.pcap"))
DEFAULT_RULES = [
    "failed-transfer",
    "extension-retry",
    "server-or-global-failure",
    "no-final-response",
    "malformed-sip",
    "client-failure",
    "retransmission-storm",
    "auth-loop",
    "damaged-capture",
    "no-sip",
    "other-findings",
    "one-way-audio",
]


@pytest.fixture(autouse=True)
def _outside_the_project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Run from an empty project on copies of the bundled captures, so that no rules file is
    discovered (the bundled ones sit beside captures/sipwatch.toml, which each capture's own
    folder would find) and the default rules apply unless a test gives rules."""
    work, copies = tmp_path / "work", tmp_path / "copies"
    work.mkdir()
    (copies / "captures").mkdir(parents=True)
    for project in (work, copies):
        (project / "pyproject.toml").write_text('[project]\nname = "elsewhere"\n')
    for capture in BUNDLED:
        shutil.copyfile(BUNDLED_DIR / capture, copies / "captures" / capture)
    monkeypatch.setattr(sys.modules[__name__], "CAPTURES", copies / "captures")
    monkeypatch.chdir(work)


def run(*args: str) -> Any:
    return CliRunner().invoke(app, ["check", *args])


def jsonl(*args: str) -> tuple[int, list[dict[str, Any]]]:
    result = run(*args, "--format", "jsonl")
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    return result.exit_code, lines


def verdicts(lines: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {Path(x["capture"]).name: x for x in lines if x["type"] == "verdict"}


def problems(lines: list[dict[str, Any]], rule: str | None = None) -> list[dict[str, Any]]:
    return [x for x in lines if x["type"] == "finding" and (rule is None or x["rule"] == rule)]


def rules_file(tmp_path: Path, text: str, name: str = "rules.toml") -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


# -- deriving captures from bundled ones --------------------------------------------------------


def pcap_records(path: Path) -> tuple[bytes, list[bytes], str]:
    """(global header, records with their headers, byte order) of a classic pcap file."""
    raw = path.read_bytes()
    order = "<" if raw[:4] in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1") else ">"
    records: list[bytes] = []
    pos = 24
    while pos < len(raw):
        (incl,) = struct.unpack(order + "I", raw[pos + 8 : pos + 12])
        records.append(raw[pos : pos + 16 + incl])
        pos += 16 + incl
    return raw[:24], records, order


def derived(
    tmp_path: Path,
    source: str,
    keep: int | None = None,
    patch: tuple[int, bytes, bytes] | None = None,
    torn_tail: int = 0,
) -> str:
    """A copy of ``captures/SOURCE`` with the first ``keep`` frames, one frame patched
    (frame number, old bytes, new bytes of the same length), or ending in a torn record (the
    first ``torn_tail`` bytes of a record, as when tcpdump is killed mid-write)."""
    header, records, _ = pcap_records(CAPTURES / source)
    records = records[:keep] if keep is not None else records
    if patch is not None:
        frame, old, new = patch
        assert len(old) == len(new) and old in records[frame - 1]
        records[frame - 1] = records[frame - 1].replace(old, new, 1)
    data = header + b"".join(records)
    if torn_tail:
        data += records[-1][:torn_tail]
    target = tmp_path / f"derived-{source}"
    target.write_bytes(data)
    return str(target)


# -- the dogfood: every bundled capture, with its declared expectations ---------------------------


def test_bundled_captures_pass_with_their_rules(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO)
    result = run("captures/", "--rules", "captures/sipwatch.toml", "--no-color")
    assert result.exit_code == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert [line.split()[:2] for line in lines[:16]] == [
        ["PASS", f"captures/{name}"] for name in BUNDLED
    ]
    assert lines[-1] == "16 captures: 16 passed, 0 failed (rules: captures/sipwatch.toml)"
    assert result.stderr == ""


def test_bundled_expectations_hold_exactly() -> None:
    code, lines = jsonl(str(BUNDLED_DIR), "--rules", str(BUNDLED_DIR / "sipwatch.toml"))
    assert code == 0
    found = verdicts(lines)
    assert sorted(found) == BUNDLED
    for name, verdict in found.items():
        assert verdict["verdict"] == "passed", name
        assert verdict["expectations"], name
        assert all(e["holds"] and e["found"] == e["count"] for e in verdict["expectations"]), name
    # Known-bad captures pass because their problems are expected, not because none was seen.
    # The unregistered 'foo' of bad-extension-*.pcap is on the INVITE the expected 420 answered:
    # part of the expected exchange, so --strict does not fail it either.
    assert {name for name, v in found.items() if v["expected"]} == {
        "bad-extension-proxy.pcap",
        "bad-extension-uas.pcap",
        "invite-unanswered.pcap",
        "media-codec-488.pcap",
        "media-one-way.pcap",
        "media-srtp-mismatch.pcap",
        "transfer-declined.pcap",
        "transfer-failed.pcap",
        "transfer-no-notify.pcap",
        "transfer-rejected.pcap",
        "transfer-two-refers.pcap",
    }
    assert all(x["verdict"] == "expected" for x in problems(lines))


# -- the default rules on each bundled capture ----------------------------------------------------

#: capture -> (exit code, the rule that fails, the rules that warn, exit code with --strict).
DEFAULT_VERDICTS: dict[str, tuple[int, str | None, str | tuple[str, ...] | None, int]] = {
    "auth-challenge.pcap": (0, None, None, 0),  # 407 answered by a successful retry: normal
    # 420 then a successful retry; the unregistered 'foo' that caused it is a warning.
    "bad-extension-proxy.pcap": (0, None, "other-findings", 1),
    "bad-extension-uas.pcap": (0, None, "other-findings", 1),
    "extension-required.pcap": (0, None, None, 0),  # 421 then a successful retry
    # The INVITE's whole Timer A schedule went unanswered (the last retransmission is T1
    # before Timer B, and the capture ends with it): a timeout.
    "invite-unanswered.pcap": (1, "no-final-response", None, 1),
    # A 488 (a 4xx: a warning) explained by its codec lists; its Warning 305 header is a
    # finding of its own that no rule judges.
    "media-codec-488.pcap": (0, None, ("client-failure", "other-findings"), 1),
    "media-one-way.pcap": (1, "one-way-audio", None, 1),
    # An SRTP offer answered in plain RTP: an error finding no rule judges.
    "media-srtp-mismatch.pcap": (0, None, "other-findings", 1),
    "transfer-declined.pcap": (1, "failed-transfer", None, 1),
    "transfer-failed.pcap": (1, "failed-transfer", None, 1),
    "transfer-no-notify.pcap": (1, "failed-transfer", None, 1),
    "transfer-norefersub.pcap": (0, None, None, 0),  # Refer-Sub: false, no NOTIFY due
    "transfer-rejected.pcap": (1, "failed-transfer", None, 1),
    "transfer-succeeded.pcap": (0, None, None, 0),
    "transfer-two-refers.pcap": (1, "failed-transfer", None, 1),
    # SIP over TLS: without its key log, no SIP message can be read (a warning).
    "tls-call.pcap": (0, None, "no-sip", 1),
}


@pytest.mark.parametrize("name", BUNDLED)
def test_default_rules_on_bundled_capture(name: str) -> None:
    code, lines = jsonl(str(CAPTURES / name))
    want_code, failing_rule, warning_rules, strict_code = DEFAULT_VERDICTS[name]
    warned = (warning_rules,) if isinstance(warning_rules, str) else warning_rules or ()
    assert code == want_code
    (verdict,) = verdicts(lines).values()
    assert list(verdict["rules"]) == DEFAULT_RULES
    outcomes = {rule: outcome for rule, outcome in verdict["rules"].items() if outcome != "passed"}
    assert outcomes == {
        **({failing_rule: "failed"} if failing_rule else {}),
        **dict.fromkeys(warned, "warned"),
    }
    assert verdict["warnings"] == len(warned)
    assert [(x["rule"], x["verdict"], x["level"]) for x in problems(lines)] == [
        *([(failing_rule, "fail", "fail")] if failing_rule else []),
        *((rule, "warn", "warn") for rule in warned),
    ]
    assert all(x["text"] for x in problems(lines))
    assert run(str(CAPTURES / name), "--strict").exit_code == strict_code


def test_failed_transfer_outcomes() -> None:
    code, lines = jsonl(*(str(CAPTURES / n) for n in BUNDLED if n.startswith("transfer-")))
    assert code == 1
    outcomes = {Path(x["capture"]).name: x["outcome"] for x in problems(lines)}
    assert outcomes == {
        "transfer-declined.pcap": "failed",
        "transfer-failed.pcap": "failed",
        "transfer-no-notify.pcap": "no-notify",
        "transfer-rejected.pcap": "rejected",
        "transfer-two-refers.pcap": "failed",
    }
    declined = next(x for x in problems(lines) if "declined" in x["capture"])
    assert declined["final_status"] == 603


def test_6xx_response_is_reported_once() -> None:
    # The REFER's 603 is folded into the rejected transfer; with that rule off it stands alone.
    capture = str(CAPTURES / "transfer-rejected.pcap")
    _, lines = jsonl(capture)
    assert [x["rule"] for x in problems(lines)] == ["failed-transfer"]
    off = rules_file(Path.cwd(), '[rules]\nfailed-transfer = "off"\n')
    code, lines = jsonl(capture, "--rules", off)
    assert code == 1
    (problem,) = problems(lines)
    assert problem["rule"] == "server-or-global-failure"
    assert (problem["method"], problem["status"], problem["frames"][-1]) == ("REFER", 603, 6)
    assert "failed-transfer" not in verdicts(lines)["transfer-rejected.pcap"]["rules"]


@pytest.mark.parametrize(
    ("source", "kind", "status"),
    [
        ("bad-extension-uas.pcap", "bad-extension", 420),
        ("extension-required.pcap", "extension-required", 421),
    ],
)
def test_420_421_without_retry_fail(tmp_path: Path, source: str, kind: str, status: int) -> None:
    # INVITE, 420/421, ACK: the capture ends before any retry.
    code, lines = jsonl(derived(tmp_path, source, keep=3))
    assert code == 1
    (problem,) = problems(lines, "extension-retry")
    assert (problem["rule"], problem["kind"], problem["retry"]) == ("extension-retry", kind, None)
    assert problem["frames"][:2] == [1, 2]


def test_4xx_warns_and_strict_fails(tmp_path: Path) -> None:
    capture = derived(tmp_path, "auth-challenge.pcap", keep=3)  # 407 with no retry
    code, lines = jsonl(capture)
    assert code == 0
    (problem,) = problems(lines)
    assert (problem["rule"], problem["verdict"], problem["status"]) == (
        "client-failure",
        "warn",
        407,
    )
    assert verdicts(lines)[Path(capture).name]["rules"]["client-failure"] == "warned"
    assert run(capture, "--strict").exit_code == 1
    assert run(capture, "--rules", rules_file(tmp_path, "strict = true\n")).exit_code == 1
    fail = rules_file(tmp_path, '[rules]\nclient-failure = "fail"\n', "fail.toml")
    assert run(capture, "--rules", fail).exit_code == 1
    allow = rules_file(tmp_path, "[status]\nallow = { INVITE = [407] }\n", "allow.toml")
    code, lines = jsonl(capture, "--strict", "--rules", allow)
    assert code == 0 and problems(lines) == []


def test_malformed_sip_fails(tmp_path: Path) -> None:
    # The 180 Ringing's status code becomes 780: a status line, but no SIP status (§7.2).
    capture = derived(
        tmp_path, "transfer-succeeded.pcap", patch=(2, b"SIP/2.0 180", b"SIP/2.0 780")
    )
    code, lines = jsonl(capture)
    assert code == 1
    malformed = problems(lines, "malformed-sip")
    assert len(malformed) == 1
    assert malformed[0]["kind"] == "malformed" and malformed[0]["frames"] == [2]
    assert malformed[0]["reason"] == "status code 780 out of range 100-699"
    expect = rules_file(
        tmp_path, '[[expect]]\ncapture = "derived-*.pcap"\nkind = "malformed"\ncount = 1\n'
    )
    code, lines = jsonl(capture, "--rules", expect)
    assert all(x["verdict"] != "fail" for x in problems(lines, "malformed-sip"))


def test_truncated_capture_warns(tmp_path: Path) -> None:
    capture = derived(tmp_path, "transfer-succeeded.pcap", torn_tail=40)
    code, lines = jsonl(capture)
    assert code == 0
    (problem,) = problems(lines)
    assert (problem["rule"], problem["kind"], problem["verdict"]) == (
        "damaged-capture",
        "capture",
        "warn",
    )
    assert verdicts(lines)[Path(capture).name]["messages"] == 12


def test_capture_without_sip_warns(tmp_path: Path) -> None:
    capture = derived(tmp_path, "transfer-succeeded.pcap", keep=0)  # a header, no packets
    code, lines = jsonl(capture)
    assert code == 0
    (problem,) = problems(lines)
    assert (problem["rule"], problem["verdict"]) == ("no-sip", "warn")
    strict = rules_file(tmp_path, '[rules]\nno-sip = "fail"\n')
    assert run(capture, "--rules", strict).exit_code == 1


# -- rules-file features on bundled captures ------------------------------------------------------


def test_expectation_count_mismatch_and_missing_finding(tmp_path: Path) -> None:
    rules = rules_file(
        tmp_path,
        '[[expect]]\ncapture = "transfer-two-refers.pcap"\nkind = "transfer"\n'
        'outcome = "failed"\ncount = 2\n\n'
        '[[expect]]\ncapture = "transfer-succeeded.pcap"\nkind = "transfer"\noutcome = "failed"\n',
    )
    two, ok = str(CAPTURES / "transfer-two-refers.pcap"), str(CAPTURES / "transfer-succeeded.pcap")
    code, lines = jsonl(two, ok, "--rules", rules)
    assert code == 1
    found = verdicts(lines)
    assert found["transfer-two-refers.pcap"]["expectations"] == [
        {"kind": "transfer", "outcome": "failed", "count": 2, "found": 1, "holds": False}
    ]
    # A broken expectation covers nothing: the failed transfer fails on its own as well.
    assert found["transfer-two-refers.pcap"]["failures"] == 2
    assert found["transfer-succeeded.pcap"]["expectations"][0]["found"] == 0
    assert found["transfer-succeeded.pcap"]["verdict"] == "failed"
    result = run(two, ok, "--rules", rules, "--no-color")
    assert "    expected 2 transfer finding(s) with outcome=failed, found 1" in result.stdout
    assert (
        "    expected at least 1 transfer finding(s) with outcome=failed, found 0" in result.stdout
    )


def test_expectation_of_absence(tmp_path: Path) -> None:
    rules = rules_file(tmp_path, '[[expect]]\ncapture = "*.pcap"\nkind = "auth-loop"\ncount = 0\n')
    code, lines = jsonl(str(CAPTURES / "auth-challenge.pcap"), "--rules", rules)
    assert code == 0
    assert verdicts(lines)["auth-challenge.pcap"]["expectations"][0]["holds"] is True


def test_expected_capture_only_covers_its_own_exchange(tmp_path: Path) -> None:
    # transfer-two-refers: expecting the failed transfer covers it; with a 2xx denied for
    # NOTIFY, the NOTIFY answers still fail although they belong to the same call.
    rules = rules_file(
        tmp_path,
        "[status]\ndeny = { BYE = [200] }\n\n"
        '[[expect]]\ncapture = "transfer-two-refers.pcap"\nkind = "transfer"\noutcome = "failed"\n',
    )
    code, lines = jsonl(str(CAPTURES / "transfer-two-refers.pcap"), "--rules", rules)
    assert code == 1
    assert [(x["rule"], x["verdict"]) for x in problems(lines)] == [
        ("failed-transfer", "expected"),
        ("denied-status", "fail"),
    ]


def test_ignore_call_ids(tmp_path: Path) -> None:
    capture = str(CAPTURES / "invite-unanswered.pcap")
    assert run(capture, "--strict").exit_code == 1  # the unanswered INVITE
    rules = rules_file(tmp_path, 'strict = true\nignore_call_ids = ["1-"]\n')
    code, lines = jsonl(capture, "--rules", rules)
    assert code == 0 and problems(lines) == []
    other = rules_file(tmp_path, 'strict = true\nignore_call_ids = ["2-"]\n', "other.toml")
    assert run(capture, "--rules", other).exit_code == 1


def test_max_setup_time(tmp_path: Path) -> None:
    # auth-challenge: INVITE at 0, 407, retry, 180 reaches Alice 3.9 ms after the first INVITE.
    # bad-extension-uas: 420 and retry, 180 after 1.6 ms.
    auth, uas = str(CAPTURES / "auth-challenge.pcap"), str(CAPTURES / "bad-extension-uas.pcap")
    tight = rules_file(tmp_path, "max_setup_time = 0.002\n")
    code, lines = jsonl(auth, uas, "--rules", tight)
    assert code == 1
    (problem,) = (x for x in problems(lines) if x["verdict"] == "fail")
    assert (problem["rule"], problem["kind"], problem["frames"]) == (
        "setup-time",
        "setup-time",
        [1, 8],
    )
    assert problem["status"] == 180 and 0.0038 < problem["setup_time"] < 0.0040
    assert verdicts(lines)["bad-extension-uas.pcap"]["rules"]["setup-time"] == "passed"
    loose = rules_file(tmp_path, "max_setup_time = 0.01\n", "loose.toml")
    assert run(auth, uas, "--rules", loose).exit_code == 0


def test_max_retransmissions(tmp_path: Path) -> None:
    # invite-unanswered: the INVITE was sent 7 times, 6 of them retransmissions.
    capture = str(CAPTURES / "invite-unanswered.pcap")
    base = '[rules]\nno-final-response = "off"\n'
    six = rules_file(tmp_path, "max_retransmissions = 6\n" + base)
    assert run(capture, "--rules", six).exit_code == 0
    five = rules_file(tmp_path, "max_retransmissions = 5\n" + base, "five.toml")
    code, lines = jsonl(capture, "--rules", five)
    assert code == 1
    (problem,) = problems(lines)
    assert problem["rule"] == "max-retransmissions"
    assert (problem["count"], problem["limit"], problem["frames"]) == (6, 5, [2, 3, 4, 5, 6, 7])


def test_status_deny_and_allow(tmp_path: Path) -> None:
    succeeded = str(CAPTURES / "transfer-succeeded.pcap")
    deny = rules_file(tmp_path, '[status]\ndeny = { REFER = ["2xx"] }\n')
    code, lines = jsonl(succeeded, "--rules", deny)
    assert code == 1
    (problem,) = problems(lines)
    assert (problem["rule"], problem["method"], problem["status"]) == (
        "denied-status",
        "REFER",
        202,
    )
    rejected = str(CAPTURES / "transfer-rejected.pcap")
    allow = rules_file(tmp_path, "[status]\nallow = { REFER = [603] }\n", "allow.toml")
    code, lines = jsonl(rejected, "--rules", allow)
    assert code == 0 and problems(lines) == []


def test_pyproject_rules_are_discovered(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    project = tmp_path / "project"
    (project / "sub").mkdir(parents=True)
    (project / "pyproject.toml").write_text(
        '[project]\nname = "voip-tests"\n\n[[tool.sipwatch.expect]]\n'
        'capture = "transfer-failed.pcap"\nkind = "transfer"\noutcome = "failed"\ncount = 1\n'
    )
    capture = str(CAPTURES / "transfer-failed.pcap")
    assert run(capture).exit_code == 1  # from the autouse directory: defaults
    monkeypatch.chdir(project / "sub")
    result = run(capture, "--no-color")
    assert result.exit_code == 0
    assert f"(rules: {project / 'pyproject.toml'})" in result.stdout


# -- paths ---------------------------------------------------------------------------------------


def test_globs_directories_and_compressed_captures(tmp_path: Path) -> None:
    code, lines = jsonl(str(CAPTURES / "transfer-*.pcap"))
    assert sorted(verdicts(lines)) == [n for n in BUNDLED if n.startswith("transfer-")]
    tree = tmp_path / "tree"
    (tree / "deeper").mkdir(parents=True)
    (tree / "deeper" / "call.pcap.gz").write_bytes(
        gzip.compress((CAPTURES / "transfer-succeeded.pcap").read_bytes())
    )
    (tree / "notes.txt").write_text("not a capture")
    (tree / "b.PCAP").write_bytes((CAPTURES / "auth-challenge.pcap").read_bytes())
    code, lines = jsonl(str(tree), str(tree / "b.PCAP"))  # the duplicate is checked once
    assert code == 0
    assert [x["capture"] for x in lines if x["type"] == "verdict"] == [
        str(tree / "b.PCAP"),
        str(tree / "deeper" / "call.pcap.gz"),
    ]
    assert verdicts(lines)["call.pcap.gz"]["messages"] == 12


# -- exit code 2 ---------------------------------------------------------------------------------


def test_exit_2_on_bad_rules_file(tmp_path: Path) -> None:
    bad = rules_file(tmp_path, "max_setup_time = 2\n[status\n")
    result = run(str(CAPTURES / "auth-challenge.pcap"), "--rules", bad)
    assert result.exit_code == 2
    assert result.stderr == (
        f"sipwatch: error: {bad}:2:8: TOML syntax error: "
        "Expected ']' at the end of a table declaration\n"
    )
    assert result.stdout == ""


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("strict = false\nmax_setup_tme = 3\n", ":2: max_setup_tme: unknown key"),
        ('max_retransmissions = "2"\n', ":1: max_retransmissions: must be an integer"),
        ("[status]\ndeny = { BYE = [481, 700] }\n", ":2: [status] deny.BYE: bad status code 700"),
        ("[status]\nallow = { INVIET = [486] }\n", ":2: [status] allow.INVIET: unknown SIP method"),
        (
            '[[expect]]\ncapture = "a"\nkind = "tranfer"\n',
            ":3: [[expect]] #1 kind: unknown finding",
        ),
        (
            '[[expect]]\ncapture = "a"\nkind = "transfer"\noutcome = "ok"\n',
            ":4: [[expect]] #1 outcome: unknown transfer outcome 'ok'",
        ),
    ],
)
def test_exit_2_on_each_kind_of_rules_mistake(tmp_path: Path, text: str, message: str) -> None:
    bad = rules_file(tmp_path, text)
    result = run(str(CAPTURES / "auth-challenge.pcap"), "--rules", bad)
    assert result.exit_code == 2
    assert result.stderr.startswith(f"sipwatch: error: {bad}{message}")
    assert result.stdout == ""


def test_exit_2_on_missing_rules_file(tmp_path: Path) -> None:
    result = run(str(CAPTURES / "auth-challenge.pcap"), "--rules", str(tmp_path / "nope.toml"))
    assert result.exit_code == 2
    assert "cannot read the rules file" in result.stderr


@pytest.mark.parametrize(
    ("arg", "message"),
    [
        ("nowhere/*.pcap", "no capture matched 'nowhere/*.pcap'"),
        ("nowhere.pcap", "nowhere.pcap: no such file or directory"),
        (".", "no capture matched '.'"),
    ],
)
def test_exit_2_when_no_capture_matches(arg: str, message: str) -> None:
    result = run(arg)
    assert result.exit_code == 2
    assert result.stderr == f"sipwatch: error: {message}\n"


def test_exit_2_on_unreadable_capture_but_others_are_checked(tmp_path: Path) -> None:
    bogus = tmp_path / "bogus.pcap"
    bogus.write_text("this is not a capture\n")
    junit = tmp_path / "report.xml"
    result = run(str(bogus), str(CAPTURES / "transfer-failed.pcap"), "--junit", str(junit))
    assert result.exit_code == 2
    assert result.stderr.startswith(f"sipwatch: error: {bogus}: ")
    assert "FAIL   " in result.stdout  # the readable capture was still checked
    suites = {s.name: s for s in JUnitXml.fromfile(str(junit))}
    (case,) = list(suites[str(bogus)])
    assert isinstance(case.result[0], Error)
    assert suites[str(CAPTURES / "transfer-failed.pcap")].failures == 1


def test_exit_2_when_a_report_cannot_be_written(tmp_path: Path) -> None:
    target = tmp_path / "missing-dir" / "report.xml"
    result = run(str(CAPTURES / "auth-challenge.pcap"), "--junit", str(target))
    assert result.exit_code == 2
    assert result.stderr.startswith(f"sipwatch: error: cannot write the JUnit report to {target}")


def test_exit_2_on_usage_error() -> None:
    assert run().exit_code == 2
    assert run(str(CAPTURES), "--format", "xml").exit_code == 2


# -- reports from the bundled captures ------------------------------------------------------------


def test_junit_report_of_bundled_captures(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO)
    target = tmp_path / "junit.xml"
    result = run("captures/", "--rules", "captures/sipwatch.toml", "--junit", str(target))
    assert result.exit_code == 0
    xml = JUnitXml.fromfile(str(target))
    suites = {suite.name: suite for suite in xml}
    assert sorted(suites) == [f"captures/{n}" for n in BUNDLED]
    assert (xml.tests, xml.failures, xml.errors) == (16 * len(DEFAULT_RULES) + 17, 0, 0)
    two = {case.name: case for case in suites["captures/transfer-two-refers.pcap"]}
    assert list(two) == [
        *DEFAULT_RULES,
        "expect transfer outcome=failed count=1",
        "expect transfer outcome=succeeded count=1",
    ]
    assert all(case.is_passed for case in two.values())
    assert two["failed-transfer"].system_out.startswith("expected: Transfer: REFER CSeq 2")


def test_junit_report_of_failures(tmp_path: Path) -> None:
    target = tmp_path / "junit.xml"
    captures = [str(CAPTURES / n) for n in ("transfer-failed.pcap", "transfer-succeeded.pcap")]
    assert run(*captures, "--junit", str(target)).exit_code == 1
    xml = JUnitXml.fromfile(str(target))
    failed, succeeded = list(xml)
    assert (failed.failures, succeeded.failures) == (1, 0)
    case = next(c for c in failed if c.name == "failed-transfer")
    (failure,) = case.result
    assert isinstance(failure, Failure)
    assert failure.type == "failed-transfer"
    assert failure.message.startswith("Transfer: REFER CSeq 2 (frame 5)")
    assert "486 Busy Here" in failure.text and "Remedy: " in failure.text


def test_markdown_report(tmp_path: Path) -> None:
    target = tmp_path / "summary.md"
    captures = [str(CAPTURES / n) for n in ("auth-challenge.pcap", "invite-unanswered.pcap")]
    # The INVITE went unanswered through its whole Timer A schedule: a timeout, which fails.
    assert run(*captures, "--markdown", str(target)).exit_code == 1
    text = target.read_text()
    assert text.startswith("## ❌ sipwatch check: 1 passed, 1 failed\n")
    assert f"| ✅ | {captures[0]} | 0 | 0 | 0 | 16 |" in text
    assert f"| ❌ | {captures[1]} | 1 | 0 | 0 | 7 |" in text
    # Only what Markdown would act on is escaped: an address, parentheses and dots read as is.
    assert "- **no-final-response**: INVITE CSeq 1 to sip:bob@127.0.0.13:5060 (frame 1)" in text
    assert " (Call-ID 1-" in text and "\\" not in text.split("\n### ", 1)[1]


def test_terminal_report_lists_failures_with_remedies() -> None:
    result = run(str(CAPTURES / "transfer-no-notify.pcap"), "--no-color")
    assert result.exit_code == 1
    lines = result.stdout.splitlines()
    assert lines[0].startswith(f"FAIL   {CAPTURES / 'transfer-no-notify.pcap'}  1 failure")
    assert lines[3].startswith("  ✗ failed-transfer  [1-")
    assert lines[3].endswith("frames 5, 6")
    assert any(line.startswith("    → Check that the transferee") for line in lines)
    assert lines[-1] == "1 capture: 0 passed, 1 failed (rules: default rules)"


def test_capture_from_stdin() -> None:
    data = (CAPTURES / "transfer-failed.pcap").read_bytes()
    result = CliRunner().invoke(app, ["check", "-", "--format", "jsonl"], input=data)
    assert result.exit_code == 1
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert lines[-1]["capture"] == "stdin" and lines[-1]["rules"]["failed-transfer"] == "failed"
