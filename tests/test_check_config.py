"""Rules files of ``sipwatch check``: the schema, every kind of mistake, and discovery."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from sipwatch.check.config import (
    CheckConfig,
    Expectation,
    discover_rules,
    load_rules,
    parse_rules,
)
from sipwatch.check.locate import locate
from sipwatch.errors import RulesError
from tests.conftest import CAPTURES

FULL = """\
strict = true
max_setup_time = 2.5
max_retransmissions = 3
ignore_call_ids = ["keepalive-", "a84b"]

[rules]
client-failure = "off"
retransmission-storm = "fail"

[status]
allow = { REGISTER = [401, 407], INVITE = [401, 407, 486], "*" = ["3xx"] }
deny = { OPTIONS = [404] }

[[expect]]
capture = "transfer-failed.pcap"
kind = "transfer"
outcome = "failed"
count = 1

[[expect]]
capture = "captures/*.pcap"
kind = "malformed"
count = 0
"""


def test_full_schema_loads() -> None:
    config = parse_rules(FULL, "sipwatch.toml")
    assert config.source == "sipwatch.toml"
    assert config.strict is True
    assert config.max_setup_time == 2.5
    assert config.max_retransmissions == 3
    assert config.ignore_call_ids == ("keepalive-", "a84b")
    assert config.settings == {"client-failure": "off", "retransmission-storm": "fail"}
    assert config.status.allowed("REGISTER", 407)
    assert config.status.allowed("INVITE", 486)
    assert not config.status.allowed("INVITE", 404)
    assert config.status.allowed("BYE", 302)  # "*" = ["3xx"]
    assert config.status.denied("OPTIONS", 404)
    assert not config.status.denied("INVITE", 404)
    assert config.expect == (
        Expectation("transfer-failed.pcap", "transfer", "failed", 1, 1),
        Expectation("captures/*.pcap", "malformed", None, 0, 2),
    )


def test_defaults_when_empty() -> None:
    config = parse_rules("", "empty.toml")
    assert config == CheckConfig(source="empty.toml")
    assert config.setting("client-failure", "warn") == "warn"
    assert not config.ignored("anything")


def test_ignore_call_ids_is_a_prefix_match() -> None:
    config = parse_rules('ignore_call_ids = ["abc"]', "r.toml")
    assert config.ignored("abcdef@host")
    assert not config.ignored("xabc")
    assert not config.ignored("")


@pytest.mark.parametrize(
    ("pattern", "capture", "applies"),
    [
        ("transfer-failed.pcap", "captures/transfer-failed.pcap", True),
        ("transfer-failed.pcap", "transfer-failed.pcap", True),
        ("transfer-failed.pcap", "captures/transfer-failed.pcapng", False),
        ("captures/transfer-failed.pcap", "/work/x/captures/transfer-failed.pcap", True),
        ("./transfer-*.pcap", "captures/transfer-rejected.pcap", True),
        ("transfer-*.pcap", "captures/auth-challenge.pcap", False),
        ("other/transfer-failed.pcap", "captures/transfer-failed.pcap", False),
    ],
)
def test_expectation_capture_matching(pattern: str, capture: str, applies: bool) -> None:
    assert Expectation(pattern, "transfer").applies_to(capture) is applies


def test_expectation_selects_kind_and_outcome() -> None:
    exp = Expectation("x", "transfer", "failed")
    assert exp.selects({"kind": "transfer", "outcome": "failed"})
    assert not exp.selects({"kind": "transfer", "outcome": "succeeded"})
    assert not exp.selects({"kind": "bad-extension"})
    assert Expectation("x", "transfer").selects({"kind": "transfer", "outcome": "rejected"})


# -- one case per kind of broken rules file --------------------------------------------------------


def _error(text: str, name: str = "sipwatch.toml") -> str:
    with pytest.raises(RulesError) as info:
        parse_rules(text, name)
    return str(info.value)


@pytest.mark.parametrize(
    ("text", "start", "detail"),
    [
        pytest.param(
            "max_setup_time = 2\n\n[status]\nallow = { INVITE = [486 }\n",
            "sipwatch.toml:4:",
            "TOML syntax error",
            id="toml-syntax-names-file-line-and-column",
        ),
        pytest.param(
            '[[expect]]\ncapture = "a.pcap"\nkind = "transfer"\n\n'
            '[[expect]]\ncapture = "b.pcap"\nkind = "transfer"\noutcom = "failed"\n',
            "sipwatch.toml:8: [[expect]] #2 outcom: unknown key",
            "did you mean outcome?",
            id="unknown-key-in-expect-names-the-entry",
        ),
        pytest.param(
            "[status]\nallow = {}\nreject = { INVITE = [486] }\n",
            "sipwatch.toml:3: [status] reject: unknown key",
            "expected one of: allow, deny",
            id="unknown-key-in-status-table",
        ),
        pytest.param(
            '[rules]\nclient-failure = "warn"\nserver-failure = "off"\n',
            "sipwatch.toml:3: [rules] server-failure: unknown key",
            "server-or-global-failure",
            id="unknown-rule-name",
        ),
        # RFC 3261 §7.1: the method is case-sensitive; "invite" is not INVITE.
        pytest.param(
            "[status]\nallow = { invite = [486] }\n",
            "sipwatch.toml:2: [status] allow.invite: ",
            "unknown SIP method (did you mean INVITE?)",
            id="methods-are-case-sensitive",
        ),
        pytest.param(
            '[[expect]]\ncapture = "a.pcap"\nkind = "transfer"\noutcome = "failure"\n',
            "sipwatch.toml:4: [[expect]] #1 outcome: unknown transfer outcome",
            "succeeded, failed, rejected, no-subscription, no-notify, in-progress",
            id="unknown-outcome",
        ),
    ],
)
def test_mistake_is_named_with_its_place(text: str, start: str, detail: str) -> None:
    message = _error(text)
    assert message.startswith(start), message
    assert detail in message


@pytest.mark.parametrize(
    ("text", "message"),
    [
        pytest.param(
            "strict = false\nmax_setup_tme = 3\n",
            "sipwatch.toml:2: max_setup_tme: unknown key (did you mean max_setup_time?); expected "
            "one of: strict, max_setup_time, max_retransmissions, mos_below, ignore_call_ids, "
            "rules, status, expect, tls_keylog",
            id="unknown-top-level-key-suggests",
        ),
        pytest.param(
            "[status]\nallow = { INVITE = [486] }\ndeny = { INVITE = [486, 480] }\n",
            "sipwatch.toml:3: [status] deny.INVITE: 486 both allowed and denied for INVITE",
            id="status-both-allowed-and-denied",
        ),
        pytest.param(
            "[status]\nallow = { INVITE = [486], REGSITER = [401] }\n",
            "sipwatch.toml:2: [status] allow.REGSITER: unknown SIP method (did you mean REGISTER?)",
            id="unknown-method",
        ),
        pytest.param(
            '[[expect]]\ncapture = "a.pcap"\nkind = "transfers"\n',
            "sipwatch.toml:3: [[expect]] #1 kind: unknown finding kind 'transfers' "
            "(did you mean transfer?)",
            id="unknown-kind",
        ),
        pytest.param(
            '[[expect]]\ncapture = "a.pcap"\nkind = "auth-loop"\noutcome = "failed"\n',
            'sipwatch.toml:4: [[expect]] #1 outcome: outcome applies only to kind = "transfer"',
            id="outcome-only-for-transfers",
        ),
        pytest.param(
            '[[expect]]\nkind = "transfer"\n',
            "sipwatch.toml:1: [[expect]] #1: missing key: capture",
            id="missing-capture-in-expect",
        ),
        pytest.param(
            '[[expect]]\ncapture = "a.pcap"\n',
            "sipwatch.toml:1: [[expect]] #1: missing key: kind",
            id="missing-kind-in-expect",
        ),
        pytest.param(
            '[[expect]]\ncapture = "a"\nkind = "transfer"\ncount = -1\n',
            "sipwatch.toml:4: [[expect]] #1 count: must be 0 or more, got -1",
            id="negative-count",
        ),
    ],
)
def test_mistake_message(text: str, message: str) -> None:
    assert _error(text) == message


@pytest.mark.parametrize(
    ("text", "line", "key", "problem"),
    [
        (
            'max_setup_time = "3s"\n',
            1,
            "max_setup_time",
            "must be a number of seconds, got a string",
        ),
        ("max_setup_time = -1\n", 1, "max_setup_time", "must be a positive number"),
        ("strict = 1\n", 1, "strict", "must be true or false, got an integer"),
        (
            "max_retransmissions = 2.5\n",
            1,
            "max_retransmissions",
            "must be an integer, got a number",
        ),
        ('ignore_call_ids = "abc"\n', 1, "ignore_call_ids", "must be a list of Call-ID prefixes"),
        (
            "\nignore_call_ids = [1]\n",
            2,
            "ignore_call_ids",
            "each entry must be a non-empty string",
        ),
        (
            '[rules]\nauth-loop = "error"\n',
            2,
            "[rules] auth-loop",
            'must be "fail", "warn" or "off"',
        ),
        ("status = 3\n", 1, "status", "must be a table, got an integer"),
        ("[status]\nallow = { INVITE = 486 }\n", 2, "[status] allow.INVITE", "must be a list"),
        (
            '[[expect]]\ncapture = "a.pcap"\nkind = "transfer"\ncount = "1"\n',
            4,
            "[[expect]] #1 count",
            "must be an integer, got a string",
        ),
        ('[[expect]]\ncapture = "a.pcap"\nkind = 3\n', 3, "[[expect]] #1 kind", "must be a string"),
        (
            '[[expect]]\ncapture = 7\nkind = "transfer"\n',
            2,
            "[[expect]] #1 capture",
            "capture must",
        ),
        ('expect = { capture = "a" }\n', 1, "expect", "must be an array of tables"),
    ],
)
def test_wrong_types(text: str, line: int, key: str, problem: str) -> None:
    message = _error(text)
    assert message.startswith(f"sipwatch.toml:{line}: {key}: "), message
    assert problem in message


@pytest.mark.parametrize("code", ["999", "99", "0", '"486"', '"4yz"', "4.5", "true"])
def test_bad_status_code(code: str) -> None:
    message = _error(f"[status]\ndeny = {{ BYE = [481, {code}] }}\n")
    assert message.startswith("sipwatch.toml:2: [status] deny.BYE: bad status code")
    assert "100 to 699" in message


# -- locating keys -----------------------------------------------------------------------------


def test_locate_skips_comments_and_other_tables() -> None:
    text = (
        "# kind = here is a comment\n"  # 1
        "[status]\n"  # 2
        "allow = { INVITE = [486] }\n"  # 3
        "[[expect]]\n"  # 4
        'kind = "a"\n'  # 5
        "[[expect]]\n"  # 6
        'capture = "b"\n'  # 7
        'kind = "b"\n'  # 8
    )
    assert locate(text, ("status", "allow", "INVITE")) == 3
    assert locate(text, ("expect", 1, "kind")) == 8
    assert locate(text, ("expect", 0, "kind")) == 5
    assert locate(text, ("expect", 1)) == 6


# -- files and discovery -----------------------------------------------------------------------


def test_pyproject_table_with_prefixed_lines(tmp_path: Path) -> None:
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text(
        '[project]\nname = "x"\n\n[tool.sipwatch]\nmax_setup_time = 4\n\n'
        "[tool.sipwatch.status]\nallow = { INVITE = [486] }\n\n"
        '[[tool.sipwatch.expect]]\ncapture = "a.pcap"\nkind = "transfer"\noutcome = "nope"\n'
    )
    with pytest.raises(RulesError) as info:
        load_rules(pyproject)
    assert str(info.value).startswith(
        f"{pyproject}:13: [[tool.sipwatch.expect]] #1 outcome: unknown transfer outcome"
    )


def test_pyproject_without_table_is_an_error_when_named(tmp_path: Path) -> None:
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text('[project]\nname = "x"\n')
    with pytest.raises(RulesError, match=r"no \[tool.sipwatch\] table"):
        load_rules(pyproject)


def test_missing_rules_file(tmp_path: Path) -> None:
    with pytest.raises(RulesError, match="cannot read the rules file"):
        load_rules(tmp_path / "nope.toml")


def test_discovery_finds_pyproject_upward(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text("[tool.sipwatch]\nmax_retransmissions = 2\n")
    deep = tmp_path / "a" / "b"
    deep.mkdir(parents=True)
    config = discover_rules(deep)
    assert config.max_retransmissions == 2
    assert config.source == str(tmp_path / "pyproject.toml")


def test_discovery_prefers_sipwatch_toml_and_stops_at_project_root(tmp_path: Path) -> None:
    (tmp_path / "sipwatch.toml").write_text("max_retransmissions = 9\n")
    project = tmp_path / "project"
    project.mkdir()
    (project / "pyproject.toml").write_text('[project]\nname = "x"\n')
    # The project has no [tool.sipwatch]: defaults, not the unrelated file above it.
    assert discover_rules(project) == CheckConfig()
    (project / "sipwatch.toml").write_text("max_retransmissions = 1\n")
    assert discover_rules(project).max_retransmissions == 1


def test_bundled_rules_file_is_valid_and_covers_every_capture() -> None:
    config = load_rules(CAPTURES / "sipwatch.toml")
    captures = sorted(p.name for p in CAPTURES.glob("*.pcap"))
    assert len(captures) == 16
    for name in captures:
        assert config.expectations_for(f"captures/{name}"), f"{name} has no [[expect]]"
    assert all(re.fullmatch(r"[a-z0-9-]+\.pcap", e.capture) for e in config.expect)
