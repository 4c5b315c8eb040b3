"""Finding the line of a key in a TOML text, for error messages that point at it.

``tomllib`` gives the line and column of a syntax error, but no position for the values it
parsed: a validator that rejects ``outcom = "failed"`` only knows the key path
(``expect``, 2, ``outcom``). :func:`locate` finds that path again by scanning the text, which is
a best effort (a ``#`` inside a string is taken for a comment) that is right for any rules file
written by hand.
"""

from __future__ import annotations

import re
from typing import Final

#: A key path as the validator walks it: table and key names, and array-of-tables indexes.
KeyPath = tuple[str | int, ...]

_HEADER: Final = re.compile(r"^\s*\[\[?\s*([^\]]+?)\s*\]\]?")


def _strip_comment(line: str) -> str:
    # Naive (a '#' inside a string ends the line early), which is fine for locating keys.
    return line.split("#", 1)[0]


def _key_pattern(key: str) -> re.Pattern[str]:
    quoted = re.escape(key)
    return re.compile(rf"(?:^|[{{,.\s])(?:\"{quoted}\"|'{quoted}'|{quoted})\s*[=.]")


def _header_parts(line: str) -> list[str] | None:
    match = _HEADER.match(line)
    if match is None:
        return None
    return [part.strip().strip("\"'") for part in match.group(1).split(".")]


def locate(text: str, path: KeyPath, prefix: tuple[str, ...] = ()) -> int:
    """The 1-based line where the key at ``path`` is written (best effort; 1 when not found).

    Walks the path part by part from the top of the file: a string part is a table header whose
    last name is that part (``[status]``, ``[tool.sipwatch.status]``) or a ``key =`` line (also
    inside an inline table); an integer part is the n-th ``[[name]]`` header of the array.
    """
    lines = [_strip_comment(line) for line in text.splitlines()]
    pos = 0
    found = 1
    if prefix:
        for number, line in enumerate(lines):
            parts = _header_parts(line)
            if parts is not None and parts[: len(prefix)] == list(prefix):
                pos, found = number, number + 1
                break
    previous = ""
    for part in path:
        if isinstance(part, int):
            seen = -1
            for number in range(pos, len(lines)):
                parts = _header_parts(lines[number])
                if parts and parts[-1] == previous and lines[number].lstrip().startswith("[["):
                    seen += 1
                    if seen == part:
                        pos, found = number, number + 1
                        break
            continue
        previous = part
        pattern = _key_pattern(part)
        for number in range(pos, len(lines)):
            line = lines[number]
            parts = _header_parts(line)
            if parts is not None:
                if parts[-1] == part:
                    pos, found = number, number + 1
                    break
                continue
            if pattern.search(line):
                pos, found = number, number + 1
                break
    return found
