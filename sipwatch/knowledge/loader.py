"""Find ``knowledge/``, read it with ``tomllib``, validate it once into frozen records.

Where the data lives, in order of precedence:

1. ``$SIPWATCH_KNOWLEDGE_DIR`` — an explicit override (tests, or a site's own edited copy);
2. ``sipwatch/_knowledge`` inside the installed package — the wheel force-includes the
   repository's top-level ``knowledge/`` there (pyproject ``[tool.hatch...force-include]``);
3. the repository's top-level ``knowledge/`` next to the package — an editable or source checkout.

Validation is strict about structure (unknown keys, missing fields, wrong types, values outside
the schema's vocabularies) because those are mistakes in files people edit by hand, and a
KnowledgeError names the file and the entry. Coverage and agreement with the IANA registry copies
are checked by the test-suite instead: a missing Japanese text for one code should fail CI, not
stop an operator from reading a capture.
"""

from __future__ import annotations

import csv
import io
import itertools
import os
import tomllib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any, Final, Generic, TypeVar

from sipwatch.errors import KnowledgeError
from sipwatch.knowledge import entries, reference
from sipwatch.knowledge.fields import Table
from sipwatch.knowledge.model import CLASS_NAMES, Knowledge, RegisteredCode

#: Environment variable that points sipwatch at another knowledge directory.
ENV_VAR: Final = "SIPWATCH_KNOWLEDGE_DIR"

_K = TypeVar("_K")
_T = TypeVar("_T")


# -- locating the data --------------------------------------------------------------------------


def _is_knowledge_dir(root: Traversable) -> bool:
    return root.is_dir() and root.joinpath("registry", "response_codes.tsv").is_file()


def locate_knowledge() -> Traversable:
    """The directory :func:`load_knowledge` reads when given no path (see module docstring)."""
    override = os.environ.get(ENV_VAR, "").strip()
    if override:
        path = Path(override)
        if not _is_knowledge_dir(path):
            raise KnowledgeError(
                f"{ENV_VAR}={override}: not a knowledge directory (no registry/response_codes.tsv)"
            )
        return path
    installed = resources.files("sipwatch").joinpath("_knowledge")
    if _is_knowledge_dir(installed):
        return installed
    checkout = Path(__file__).resolve().parents[2] / "knowledge"
    if _is_knowledge_dir(checkout):
        return checkout
    raise KnowledgeError(
        f"knowledge base not found: neither sipwatch/_knowledge (installed) nor {checkout} "
        f"(source checkout) exists; set {ENV_VAR}"
    )


_CACHE: dict[str, Knowledge] = {}


def load_knowledge(path: str | os.PathLike[str] | None = None) -> Knowledge:
    """Load and validate the knowledge base.

    Without ``path`` the default location is used and the result is cached for the process
    (keyed by that location, so changing ``$SIPWATCH_KNOWLEDGE_DIR`` loads the other copy).
    With ``path`` the directory is read afresh every time, which is what tests that edit a
    temporary copy need.
    """
    if path is not None:
        return _load(Path(path))
    root = locate_knowledge()
    key = str(root)
    cached = _CACHE.get(key)
    if cached is None:
        cached = _CACHE[key] = _load(root)
    return cached


def clear_cache() -> None:
    """Forget cached knowledge bases (for long-running processes that reload data)."""
    _CACHE.clear()


# -- reading files ------------------------------------------------------------------------------


class _Source:
    """Reads files under one root and names them the way an operator can find them."""

    def __init__(self, root: Traversable) -> None:
        self.root = root

    def label(self, *parts: str) -> str:
        rel = "/".join(parts)
        if isinstance(self.root, Path):
            full = self.root / rel
            try:
                return str(full.resolve().relative_to(Path.cwd()))
            except ValueError:
                return str(full)
        return f"sipwatch/_knowledge/{rel}"

    def exists(self, *parts: str) -> bool:
        return self.root.joinpath(*parts).is_file()

    def text(self, *parts: str) -> str:
        try:
            return self.root.joinpath(*parts).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise KnowledgeError(f"{self.label(*parts)}: cannot read: {exc}") from None

    def toml_entries(self, parts: tuple[str, ...], array: str) -> Iterator[tuple[str, int, Any]]:
        """Yield ``(file label, index, raw table)`` for each ``[[array]]`` entry of a file.

        A file that does not exist yields nothing: content may still be being written, and
        the registry-coverage tests are what demand completeness.
        """
        if not self.exists(*parts):
            return
        label = self.label(*parts)
        try:
            data = tomllib.loads(self.text(*parts))
        except tomllib.TOMLDecodeError as exc:
            raise KnowledgeError(f"{label}: invalid TOML: {exc}") from None
        for key in data:
            if key != array:
                raise KnowledgeError(
                    f"{label}: unknown top-level key {key!r} (expected [[{array}]])"
                )
        entries = data.get(array, [])
        if not isinstance(entries, list):
            raise KnowledgeError(f"{label}: [[{array}]] must be an array of tables")
        for index, raw in enumerate(entries, start=1):
            yield label, index, raw

    def response_files(self) -> list[tuple[str, ...]]:
        folder = self.root.joinpath("responses")
        if not folder.is_dir():
            return []
        names = sorted(p.name for p in folder.iterdir() if p.name.endswith(".toml"))
        return [("responses", name) for name in names]

    def tsv(self, name: str, columns: tuple[str, ...]) -> list[dict[str, str]]:
        parts = ("registry", name)
        label = self.label(*parts)
        if not self.exists(*parts):
            raise KnowledgeError(f"{label}: missing (registry facts are required)")
        reader = csv.DictReader(io.StringIO(self.text(*parts)), delimiter="\t")
        missing = [c for c in columns if c not in (reader.fieldnames or [])]
        if missing:
            raise KnowledgeError(f"{label}: missing column {missing[0]!r}")
        return [{k: (v or "").strip() for k, v in row.items() if k} for row in reader]


def _where(label: str, kind: str, index: int, raw: Any, key: str) -> str:
    """'file: response 420' when the entry's key is readable, else 'file: response #3'."""
    ident = raw.get(key) if isinstance(raw, dict) else None
    if isinstance(ident, list) and ident and all(isinstance(i, int) for i in ident):
        return f"{label}: {kind} {'/'.join(str(i) for i in ident)}"
    if isinstance(ident, (int, str)) and not isinstance(ident, bool) and str(ident).strip():
        return f"{label}: {kind} {ident}"
    return f"{label}: {kind} #{index}"


@dataclass(frozen=True, slots=True)
class _Kind(Generic[_K, _T]):
    """How to read one kind of entry: its ``[[array]]`` name, key field, keys and builder."""

    array: str
    id_key: str
    allowed: frozenset[str]
    build: Callable[[Table], tuple[_K, _T]]


def _collect(source: _Source, files: list[tuple[str, ...]], kind: _Kind[_K, _T]) -> dict[_K, _T]:
    """Build every entry of ``files``, refusing duplicates across and within files."""
    out: dict[_K, _T] = {}
    origin: dict[_K, str] = {}
    for parts in files:
        for label, index, raw in source.toml_entries(parts, kind.array):
            where = _where(label, kind.array.replace("_", " "), index, raw, kind.id_key)
            key, entry = kind.build(Table(raw, where, kind.allowed))
            if key in out:
                raise KnowledgeError(f"{where}: duplicate entry (already defined in {origin[key]})")
            out[key] = entry
            origin[key] = label
    return out


# -- registry facts -----------------------------------------------------------------------------


def _registered_codes(source: _Source) -> dict[int, RegisteredCode]:
    rows = source.tsv("response_codes.tsv", ("code", "reason_phrase", "rfc", "rfc_section"))
    out: dict[int, RegisteredCode] = {}
    for row in rows:
        try:
            code = int(row["code"])
        except ValueError:
            raise KnowledgeError(
                f"{source.label('registry', 'response_codes.tsv')}: bad code {row['code']!r}"
            ) from None
        # "RFC3261 21.4.15" -> "21.4.15"
        section = row["rfc_section"].split(" ", 1)[1] if " " in row["rfc_section"] else ""
        out[code] = RegisteredCode(
            code=code,
            reason=row["reason_phrase"],
            rfc=row["rfc"],
            section=section,
            status=row.get("status", "current") or "current",
        )
    return out


_CLASSES = _Kind("class", "class", entries.CLASS_KEYS, entries.build_class)
_RESPONSES = _Kind("response", "code", entries.RESPONSE_KEYS, entries.build_response)
_OPTION_TAGS = _Kind("option_tag", "tag", entries.OPTION_TAG_KEYS, entries.build_option_tag)
_CAUSES = _Kind("cause", "cause", entries.CAUSE_KEYS, entries.build_cause)
_WARNINGS = _Kind("warning", "code", entries.WARNING_KEYS, entries.build_warning)
_REASONS = _Kind("reason", "reason", entries.REASON_KEYS, entries.build_reason)
_PAIRS = _Kind("pair", "codes", entries.PAIR_KEYS, entries.build_pair)
_METHODS = _Kind("method", "method", reference.METHOD_KEYS, reference.build_method)
_HEADERS = _Kind("header", "name", reference.HEADER_KEYS, reference.build_header)
_BANDS = _Kind("band", "low", reference.BAND_KEYS, reference.build_band)


def _load(root: Traversable) -> Knowledge:
    source = _Source(root)
    classes = _collect(source, [("classes.toml",)], _CLASSES)
    absent = sorted(set(CLASS_NAMES) - set(classes))
    if absent:
        raise KnowledgeError(
            f"{source.label('classes.toml')}: missing class {absent[0]} "
            "(all six response classes are required)"
        )
    tag_rows = source.tsv("option_tags.tsv", ("option_tag",))
    return Knowledge(
        root=str(root),
        responses=_collect(source, source.response_files(), _RESPONSES),
        classes=classes,
        option_tags=_collect(source, [("option_tags.toml",)], _OPTION_TAGS),
        causes=_collect(source, [("q850.toml",)], _CAUSES),
        warnings=_collect(source, [("warnings.toml",)], _WARNINGS),
        subscription_reasons=_collect(source, [("subscription_reasons.toml",)], _REASONS),
        comparisons=_collect(source, [("comparisons.toml",)], _PAIRS),
        registered_codes=_registered_codes(source),
        registered_option_tags=frozenset(row["option_tag"].lower() for row in tag_rows),
        registered_methods=_registered_methods(source),
        methods=_collect(source, [("methods.toml",)], _METHODS),
        headers=_collect(source, [("headers.toml",)], _HEADERS),
        warning_bands=_bands(source),
    )


def _bands(source: _Source) -> tuple[reference.WarningBand, ...]:
    """The Warning code bands in order; they must not overlap (RFC 3261 §20.43 ranges)."""
    bands = sorted(
        _collect(source, [("warning_bands.toml",)], _BANDS).values(), key=lambda b: b.low
    )
    for before, after in itertools.pairwise(bands):
        if after.low <= before.high:
            raise KnowledgeError(
                f"{source.label('warning_bands.toml')}: band {after.low}-{after.high} overlaps "
                f"{before.low}-{before.high}"
            )
    return tuple(bands)


def _registered_methods(source: _Source) -> frozenset[str]:
    """The IANA-registered method names; none when a knowledge directory has no copy of the
    method registry (they only tell a misspelt ``--method`` from a registered one)."""
    if not source.exists("registry", "methods.tsv"):
        return frozenset()
    rows = source.tsv("methods.tsv", ("method", "iana_registered"))
    return frozenset(row["method"].upper() for row in rows if row["iana_registered"] == "yes")
