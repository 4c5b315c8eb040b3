"""Loading and validating the rules of ``sipwatch check``.

Rules come from ``--rules FILE`` (a ``sipwatch.toml``), or else from the nearest
``sipwatch.toml`` or ``pyproject.toml`` ``[tool.sipwatch]`` found walking up from each capture's
folder, then from the working directory, or else the defaults. The file is validated completely
at load time into a frozen :class:`CheckConfig`: a CI job should fail on a typo in its rules
with a message naming the file, the line and the key
(``sipwatch.toml:12: [[expect]] #3 outcom: unknown key (did you mean outcome?)``), never pass
quietly because a misspelt rule was ignored. docs/check.md is the reference of the schema.

``tomllib`` reports syntax errors with a line and column; for unknown keys and wrong values the
line comes from :func:`sipwatch.check.locate.locate`.
"""

from __future__ import annotations

import dataclasses
import difflib
import fnmatch
import math
import re
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Final, Literal

from sipwatch.check.locate import KeyPath, locate
from sipwatch.check.rules import RULE_IDS, RuleSetting
from sipwatch.correlate.events import FINDING_KINDS, TRANSFER_OUTCOMES
from sipwatch.errors import RulesError
from sipwatch.media.model import MEDIA_FINDING_KINDS

#: Methods a rules file may name: RFC 3261 §7.1 plus the IANA "SIP Methods" registry of
#: extensions in common use (RFC 3262 PRACK, 3265/6665 SUBSCRIBE/NOTIFY, 3311 UPDATE, 3428
#: MESSAGE, 3515 REFER, 3903 PUBLISH, 6086 INFO). ``*`` means every method.
KNOWN_METHODS: Final[frozenset[str]] = frozenset(
    {
        "ACK",
        "BYE",
        "CANCEL",
        "INFO",
        "INVITE",
        "MESSAGE",
        "NOTIFY",
        "OPTIONS",
        "PRACK",
        "PUBLISH",
        "REFER",
        "REGISTER",
        "SUBSCRIBE",
        "UPDATE",
        "*",
    }
)

#: Kinds an ``[[expect]]`` may name: every correlator finding kind, plus ``malformed`` (SIP that
#: did not parse, which is a record of its own rather than a finding).
EXPECT_KINDS: Final[tuple[str, ...]] = (*FINDING_KINDS, *MEDIA_FINDING_KINDS, "malformed")

_TOP_KEYS: Final = (
    "strict",
    "max_setup_time",
    "max_retransmissions",
    "mos_below",
    "ignore_call_ids",
    "rules",
    "status",
    "expect",
    "tls_keylog",
)
_STATUS_KEYS: Final = ("allow", "deny")
_EXPECT_KEYS: Final = ("capture", "kind", "outcome", "count")
_SETTINGS: Final = ("fail", "warn", "off")
_CLASS_CODE: Final = re.compile(r"[1-6]xx")


@dataclass(frozen=True, slots=True)
class StatusSet:
    """Status codes and classes (``4xx`` stored as 4) that a rule lists for one method."""

    codes: frozenset[int] = frozenset()
    classes: frozenset[int] = frozenset()

    def __contains__(self, status: object) -> bool:
        return isinstance(status, int) and (status in self.codes or status // 100 in self.classes)


@dataclass(frozen=True, slots=True)
class StatusPolicy:
    """``[status] allow`` and ``deny``: per-method status codes (``*`` for any method).

    Allowed responses are never a problem for any rule; denied ones always fail (RFC 3261
    §8.1.3.2: the response class decides what the UAC does, but only the operator knows which
    codes are acceptable in a given network).
    """

    allow: Mapping[str, StatusSet] = field(default_factory=dict)
    deny: Mapping[str, StatusSet] = field(default_factory=dict)

    @staticmethod
    def _listed(table: Mapping[str, StatusSet], method: str, status: int) -> bool:
        for key in (method, "*"):
            entry = table.get(key)
            if entry is not None and status in entry:
                return True
        return False

    def allowed(self, method: str, status: int) -> bool:
        return self._listed(self.allow, method, status)

    def denied(self, method: str, status: int) -> bool:
        return self._listed(self.deny, method, status)


@dataclass(frozen=True, slots=True)
class Expectation:
    """``[[expect]]``: a capture is expected to show ``count`` findings of a kind (and outcome).

    ``count`` None means "at least one". ``index`` is the 1-based position in the file, so a
    report can name the entry.
    """

    capture: str
    kind: str
    outcome: str | None = None
    count: int | None = None
    index: int = 0

    def applies_to(self, capture: str) -> bool:
        """Does this entry name ``capture``? File name, path suffix or glob on either."""
        path = PurePosixPath(capture.replace("\\", "/"))
        text = path.as_posix()
        pattern = self.capture.replace("\\", "/").removeprefix("./")
        return (
            fnmatch.fnmatchcase(path.name, pattern)
            or fnmatch.fnmatchcase(text, pattern)
            or text.endswith("/" + pattern)
        )

    def selects(self, finding: Mapping[str, object]) -> bool:
        """Does this entry count ``finding`` (a finding JSON object)?"""
        if finding.get("kind") != self.kind:
            return False
        return self.outcome is None or finding.get("outcome") == self.outcome

    def describe(self) -> str:
        """``transfer outcome=failed count=1``: the name of the expectation in reports."""
        parts = [self.kind]
        if self.outcome is not None:
            parts.append(f"outcome={self.outcome}")
        parts.append(f"count={self.count}" if self.count is not None else "count>=1")
        return " ".join(parts)


@dataclass(frozen=True, slots=True)
class CheckConfig:
    """Everything the rules file can say; the defaults are the documented default rules."""

    source: str | None = None
    strict: bool = False
    max_setup_time: float | None = None
    max_retransmissions: int | None = None
    #: The ``mos-below`` rule: streams whose MOS estimate is under this (1 to 4.5).
    mos_below: float | None = None
    ignore_call_ids: tuple[str, ...] = ()
    settings: Mapping[str, RuleSetting] = field(default_factory=dict)
    status: StatusPolicy = field(default_factory=StatusPolicy)
    expect: tuple[Expectation, ...] = ()
    #: A TLS key log for the captures (``tls_keylog``, relative to the rules file), as
    #: ``--tls-keylog`` gives one; the command-line option wins.
    tls_keylog: str | None = None

    def ignored(self, call_id: str) -> bool:
        """Prefix match, like ``--call-id``: the terminal shows the first 8 characters."""
        return bool(call_id) and any(call_id.startswith(p) for p in self.ignore_call_ids)

    def setting(self, rule: str, default: Literal["fail", "warn"]) -> RuleSetting:
        return self.settings.get(rule, default)

    def expectations_for(self, capture: str) -> list[Expectation]:
        return [e for e in self.expect if e.applies_to(capture)]


# -- validation ------------------------------------------------------------------------------


class _Validator:
    """Turns the parsed TOML table into a :class:`CheckConfig`, or raises a located RulesError."""

    def __init__(self, name: str, text: str, prefix: tuple[str, ...]) -> None:
        self.name = name
        self.text = text
        self.prefix = prefix

    def fail(self, path: KeyPath, problem: str) -> RulesError:
        line = locate(self.text, path, self.prefix)
        return RulesError(f"{self.name}:{line}: {_key_name(self.prefix, path)}: {problem}")

    def unknown_keys(
        self, table: Mapping[str, object], allowed: Sequence[str], at: KeyPath
    ) -> None:
        for key in table:
            if key not in allowed:
                close = difflib.get_close_matches(key, allowed, n=1)
                hint = f" (did you mean {close[0]}?)" if close else ""
                raise self.fail(
                    (*at, key), f"unknown key{hint}; expected one of: {', '.join(allowed)}"
                )

    def table(self, value: object, path: KeyPath) -> Mapping[str, object]:
        if not isinstance(value, dict):
            raise self.fail(path, f"must be a table, got {_type_name(value)}")
        return value

    def config(self, doc: Mapping[str, object]) -> CheckConfig:
        self.unknown_keys(doc, _TOP_KEYS, ())
        strict = doc.get("strict", False)
        if not isinstance(strict, bool):
            raise self.fail(("strict",), f"must be true or false, got {_type_name(strict)}")
        return CheckConfig(
            source=self.name,
            strict=strict,
            max_setup_time=self.seconds(doc.get("max_setup_time"), ("max_setup_time",)),
            max_retransmissions=self.count(
                doc.get("max_retransmissions"), ("max_retransmissions",)
            ),
            mos_below=self.mos(doc.get("mos_below"), ("mos_below",)),
            ignore_call_ids=self.call_ids(doc.get("ignore_call_ids", []), ("ignore_call_ids",)),
            settings=self.settings(doc.get("rules", {}), ("rules",)),
            status=self.status(doc.get("status", {}), ("status",)),
            expect=self.expectations(doc.get("expect", []), ("expect",)),
            tls_keylog=self.keylog(doc.get("tls_keylog")),
        )

    def keylog(self, value: object) -> str | None:
        """A path relative to the rules file (as a CI job commits the two side by side)."""
        if value is None:
            return None
        if not isinstance(value, str) or not value:
            raise self.fail(("tls_keylog",), f"must be a file name, got {_type_name(value)}")
        return str(Path(self.name).parent / value)

    def seconds(self, value: object, path: KeyPath) -> float | None:
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.fail(path, f"must be a number of seconds, got {_type_name(value)}")
        if not (math.isfinite(value) and value > 0):
            raise self.fail(path, f"must be a positive number of seconds, got {value}")
        return float(value)

    def mos(self, value: object, path: KeyPath) -> float | None:
        """A MOS threshold: G.107 Annex B's scale runs from 1 to 4.5."""
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.fail(path, f"must be a MOS between 1 and 4.5, got {_type_name(value)}")
        if not (math.isfinite(value) and 1.0 <= value <= 4.5):
            raise self.fail(path, f"must be a MOS between 1 and 4.5, got {value}")
        return float(value)

    def count(self, value: object, path: KeyPath) -> int | None:
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.fail(path, f"must be an integer, got {_type_name(value)}")
        if value < 0:
            raise self.fail(path, f"must be 0 or more, got {value}")
        return value

    def call_ids(self, value: object, path: KeyPath) -> tuple[str, ...]:
        if not isinstance(value, list):
            raise self.fail(path, f"must be a list of Call-ID prefixes, got {_type_name(value)}")
        result: list[str] = []
        for item in value:
            if not isinstance(item, str) or not item:
                raise self.fail(path, f"each entry must be a non-empty string, got {item!r}")
            result.append(item)
        return tuple(result)

    def settings(self, value: object, path: KeyPath) -> dict[str, RuleSetting]:
        table = self.table(value, path)
        self.unknown_keys(table, sorted(RULE_IDS), path)
        result: dict[str, RuleSetting] = {}
        for rule, setting in table.items():
            if setting == "fail":
                result[rule] = "fail"
            elif setting == "warn":
                result[rule] = "warn"
            elif setting == "off":
                result[rule] = "off"
            else:
                raise self.fail((*path, rule), f'must be "fail", "warn" or "off", got {setting!r}')
        return result

    def status(self, value: object, path: KeyPath) -> StatusPolicy:
        table = self.table(value, path)
        self.unknown_keys(table, _STATUS_KEYS, path)
        allow = self.status_table(table.get("allow", {}), (*path, "allow"))
        deny = self.status_table(table.get("deny", {}), (*path, "deny"))
        for method, entry in deny.items():
            other = allow.get(method)
            if other is None:
                continue
            both = sorted(entry.codes & other.codes) + [
                c * 100 for c in sorted(entry.classes & other.classes)
            ]
            if both:
                raise self.fail(
                    (*path, "deny", method),
                    f"{_codes_text(both)} both allowed and denied for {method}",
                )
        return StatusPolicy(allow=allow, deny=deny)

    def status_table(self, value: object, path: KeyPath) -> dict[str, StatusSet]:
        table = self.table(value, path)
        result: dict[str, StatusSet] = {}
        for method, codes in table.items():
            where = (*path, method)
            if method not in KNOWN_METHODS:
                close = difflib.get_close_matches(method.upper(), sorted(KNOWN_METHODS), n=1)
                hint = f" (did you mean {close[0]}?)" if close else ""
                raise self.fail(where, f"unknown SIP method{hint}")
            if not isinstance(codes, list):
                raise self.fail(where, f"must be a list of status codes, got {_type_name(codes)}")
            exact: set[int] = set()
            classes: set[int] = set()
            for code in codes:
                if isinstance(code, str) and _CLASS_CODE.fullmatch(code.lower()):
                    classes.add(int(code[0]))
                elif isinstance(code, int) and not isinstance(code, bool) and 100 <= code <= 699:
                    exact.add(code)
                else:
                    raise self.fail(
                        where,
                        f"bad status code {code!r}: use a code from 100 to 699 or a class "
                        'like "4xx"',
                    )
            result[method] = StatusSet(frozenset(exact), frozenset(classes))
        return result

    def expectations(self, value: object, path: KeyPath) -> tuple[Expectation, ...]:
        if not isinstance(value, list):
            raise self.fail(
                path, f"must be an array of tables ([[expect]]), got {_type_name(value)}"
            )
        result: list[Expectation] = []
        for index, item in enumerate(value):
            where = (*path, index)
            entry = self.table(item, where)
            self.unknown_keys(entry, _EXPECT_KEYS, where)
            capture = entry.get("capture")
            if not isinstance(capture, str) or not capture:
                raise self.fail(
                    (*where, "capture") if "capture" in entry else where,
                    "capture must be a capture file name, path or glob"
                    if "capture" in entry
                    else "missing key: capture",
                )
            kind = entry.get("kind")
            if kind is None:
                raise self.fail(where, "missing key: kind")
            if not isinstance(kind, str):
                raise self.fail((*where, "kind"), f"must be a string, got {_type_name(kind)}")
            if kind not in EXPECT_KINDS:
                close = difflib.get_close_matches(kind, EXPECT_KINDS, n=1)
                hint = f" (did you mean {close[0]}?)" if close else ""
                raise self.fail((*where, "kind"), f"unknown finding kind {kind!r}{hint}")
            outcome = entry.get("outcome")
            if outcome is not None:
                if kind != "transfer":
                    raise self.fail(
                        (*where, "outcome"), 'outcome applies only to kind = "transfer"'
                    )
                if not isinstance(outcome, str) or outcome not in TRANSFER_OUTCOMES:
                    raise self.fail(
                        (*where, "outcome"),
                        f"unknown transfer outcome {outcome!r}; expected one of: "
                        + ", ".join(TRANSFER_OUTCOMES),
                    )
            count = self.count(entry.get("count"), (*where, "count"))
            result.append(Expectation(capture, kind, outcome, count, index + 1))
        return tuple(result)


def _type_name(value: object) -> str:
    return {
        bool: "a boolean",
        int: "an integer",
        float: "a number",
        str: "a string",
        list: "an array",
        dict: "a table",
    }.get(type(value), type(value).__name__)


def _codes_text(codes: list[int]) -> str:
    return ", ".join(str(c) if c % 100 else f"{c // 100}xx" for c in codes)


def _key_name(prefix: tuple[str, ...], path: KeyPath) -> str:
    """``[status].allow.INVITE``, ``[[expect]] #2 outcome``, ``max_setup_time``."""
    if not path:
        return "[" + ".".join(prefix) + "]" if prefix else "(top level)"
    head = ".".join((*prefix, str(path[0])))
    if len(path) > 1 and isinstance(path[1], int):
        text = f"[[{head}]] #{path[1] + 1}"
        rest = path[2:]
    elif len(path) > 1:
        text = f"[{head}]"
        rest = path[1:]
    else:
        return ".".join((*prefix, str(path[0])))
    if rest:
        text += " " + ".".join(str(p) for p in rest)
    return text


# -- loading ---------------------------------------------------------------------------------

_PYPROJECT_PREFIX: Final = ("tool", "sipwatch")
#: What every report (terminal, JSON lines, JUnit, Markdown) calls the rules that apply when
#: no rules file was given or found.
DEFAULT_RULES_NAME: Final = "default rules"
_TOML_POSITION: Final = re.compile(r"\s*\(at line (\d+), column (\d+)\)\s*$")


def parse_rules(
    text: str, name: str, prefix: tuple[str, ...] = (), require_table: bool = True
) -> CheckConfig:
    """Validate rules given as TOML text; ``prefix`` is the table they live in (pyproject).

    Without that table the defaults apply when ``require_table`` is false (a project that does
    not configure sipwatch), and it is an error when it is true (``--rules pyproject.toml``).
    """
    try:
        doc: Mapping[str, object] = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        message = str(exc)
        match = _TOML_POSITION.search(message)
        if match is None:
            raise RulesError(f"{name}: TOML syntax error: {message}") from None
        raise RulesError(
            f"{name}:{match.group(1)}:{match.group(2)}: TOML syntax error: "
            f"{message[: match.start()]}"
        ) from None
    for depth, part in enumerate(prefix):
        if part not in doc:
            if not require_table:
                return CheckConfig()
            raise RulesError(f"{name}: no [{'.'.join(prefix)}] table")
        inner = doc[part]
        if not isinstance(inner, dict):
            validator = _Validator(name, text, ())
            raise validator.fail(prefix[: depth + 1], f"must be a table, got {_type_name(inner)}")
        doc = inner
    return _Validator(name, text, prefix).config(doc)


def load_rules(path: str | Path, require_table: bool = True) -> CheckConfig:
    """Read and validate a ``sipwatch.toml`` (or a ``pyproject.toml``: its ``[tool.sipwatch]``)."""
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise RulesError(f"{path}: not UTF-8 text: {exc.reason}") from None
    except OSError as exc:
        raise RulesError(f"{path}: cannot read the rules file: {exc.strerror or exc}") from None
    prefix = _PYPROJECT_PREFIX if file.name == "pyproject.toml" else ()
    return parse_rules(text, str(path), prefix, require_table)


def find_rules(start: Path) -> CheckConfig | None:
    """The rules file nearest upward from ``start``, or None when there is none.

    Walking up from ``start``: the first directory with a ``sipwatch.toml`` or a
    ``pyproject.toml`` decides. A ``pyproject.toml`` marks the project root, so the walk stops
    there even when it has no ``[tool.sipwatch]`` table (then None), and rules from an
    unrelated project higher up never leak in.
    """
    for directory in (start, *start.parents):
        own = directory / "sipwatch.toml"
        if own.is_file():
            return load_rules(own)
        pyproject = directory / "pyproject.toml"
        if pyproject.is_file():
            config = load_rules(pyproject, require_table=False)
            return config if config.source is not None else None
    return None


def discover_rules(start: Path) -> CheckConfig:
    """The rules nearest upward from ``start`` (:func:`find_rules`), or the default rules."""
    return find_rules(start) or CheckConfig()


class RulesLookup:
    """The rules for each capture when ``--rules`` is not given.

    Rules live beside the captures they describe (``captures/sipwatch.toml``), so
    ``sipwatch check captures/`` run from the project root must find them: the search starts
    in each capture's own folder (:func:`find_rules`), then, if that finds nothing, in the
    working directory; else the default rules apply. Each folder is searched, and each file
    loaded, once.
    """

    def __init__(self, cwd: Path) -> None:
        self._cwd = cwd
        self._fallback: CheckConfig | None = None
        self._by_folder: dict[Path, CheckConfig | None] = {}

    def for_capture(self, capture: str) -> CheckConfig:
        if capture != "-":
            folder = (self._cwd / capture).resolve().parent
            if folder not in self._by_folder:
                found = find_rules(folder)
                self._by_folder[folder] = None if found is None else self._relative(found)
            known = self._by_folder[folder]
            if known is not None:
                return known
        if self._fallback is None:
            self._fallback = self._relative(discover_rules(self._cwd))
        return self._fallback

    def _relative(self, config: CheckConfig) -> CheckConfig:
        """The config named as the operator would type it: relative to the working directory
        when the file is inside it (``captures/sipwatch.toml``), else by its full path."""
        if config.source is None:
            return config
        try:
            name = str(Path(config.source).relative_to(self._cwd.resolve()))
        except ValueError:
            return config
        return dataclasses.replace(config, source=name)
