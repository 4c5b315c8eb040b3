"""Strict reading of one TOML table, with errors that name the file, the entry and the key.

The knowledge files are written by hand by several people; a typo must fail loudly at load time
("knowledge/responses/4xx-1.toml: response 420: unknown key 'summry' in [response.en]") instead
of silently dropping a field. A :class:`Table` knows the keys its table may hold and checks for
strangers before anything is read, so a misspelt key is reported as the typo it is rather than as
the missing field it causes.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from sipwatch.errors import KnowledgeError


class Table:
    """One TOML table being read: every accessor validates type and presence.

    ``where`` names the entry ("knowledge/q850.toml: cause 17"); ``section`` names the table
    inside it ("[cause.ja]"), empty for the entry's top level.
    """

    __slots__ = ("_data", "_section", "_where")

    def __init__(
        self,
        data: object,
        where: str,
        allowed: Collection[str],
        section: str = "",
    ) -> None:
        self._where = where
        self._section = section
        if not isinstance(data, Mapping):
            raise self.error(f"{section or 'entry'} must be a table")
        self._data: Mapping[str, Any] = data
        for key in data:
            if key not in allowed:
                raise self.error(f"unknown key {key!r}{self._in()}")

    def _in(self) -> str:
        return f" in {self._section}" if self._section else ""

    def error(self, message: str) -> KnowledgeError:
        """An error located at this table (returned, so callers ``raise`` it visibly)."""
        return KnowledgeError(f"{self._where}: {message}")

    def has(self, key: str) -> bool:
        return key in self._data

    def _get(self, key: str) -> Any:
        if key not in self._data:
            raise self.error(f"missing key {key!r}{self._in()}")
        return self._data[key]

    def _bad(self, key: str, expected: str, value: object) -> KnowledgeError:
        return self.error(f"{key!r}{self._in()} must be {expected}, got {value!r}")

    def string(self, key: str, *, allow_empty: bool = False) -> str:
        """A required string, non-blank unless ``allow_empty``."""
        value = self._get(key)
        if not isinstance(value, str) or not (value.strip() or allow_empty):
            raise self._bad(key, "a string" if allow_empty else "a non-empty string", value)
        return value.strip()

    def optional_string(self, key: str) -> str | None:
        return self.string(key) if key in self._data else None

    def boolean(self, key: str) -> bool:
        value = self._get(key)
        if not isinstance(value, bool):
            raise self._bad(key, "true or false", value)
        return value

    def integer(self, key: str, low: int, high: int) -> int:
        """A required integer within ``low..high`` (TOML booleans are not integers here)."""
        value = self._get(key)
        if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
            raise self._bad(key, f"an integer from {low} to {high}", value)
        return value

    def choice(self, key: str, choices: Collection[str]) -> str:
        value = self.string(key)
        if value not in choices:
            raise self._bad(key, "one of " + ", ".join(repr(c) for c in choices), value)
        return value

    def strings(
        self, key: str, *, allow_empty: bool = False, choices: Collection[str] | None = None
    ) -> tuple[str, ...]:
        """A list of non-blank strings, optionally restricted to ``choices``."""
        value = self._get(key)
        if (
            not isinstance(value, list)
            or not all(isinstance(item, str) and item.strip() for item in value)
            or (not value and not allow_empty)
        ):
            kind = "a list of non-empty strings" + ("" if allow_empty else " (at least one)")
            raise self._bad(key, kind, value)
        items = tuple(item.strip() for item in value)
        if choices is not None:
            for item in items:
                if item not in choices:
                    allowed = ", ".join(repr(c) for c in choices)
                    raise self._bad(key, f"a list of {allowed}", value)
        return items

    def integers(self, key: str, low: int, high: int) -> tuple[int, ...]:
        """A (possibly empty) list of integers within ``low..high``."""
        value = self._get(key)
        if not isinstance(value, list) or not all(
            isinstance(item, int) and not isinstance(item, bool) and low <= item <= high
            for item in value
        ):
            raise self._bad(key, f"a list of integers from {low} to {high}", value)
        return tuple(value)

    def table(self, key: str, allowed: Collection[str], section: str) -> Table:
        """A required sub-table, e.g. ``[response.en]``."""
        return Table(self._get(key), self._where, allowed, section)
