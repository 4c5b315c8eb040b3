"""The import direction of DESIGN §2, checked by parsing every module under sipwatch/ with ast.

Ruff's banned-api catches rich and typer outside their homes; this test also checks the
direction between sipwatch's own layers (sip never imports correlate, knowledge never imports
render, ...), including imports made inside functions and ``TYPE_CHECKING`` blocks, because a
lazy import is still a dependency.
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "sipwatch"


@dataclass(frozen=True)
class Import:
    module: str  # importing module, dotted ("sipwatch.sip.parser")
    target: str  # imported module, dotted and absolute ("sipwatch.errors", "rich.text")
    line: int


def module_name(root: Path, path: Path) -> str:
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_of(root: Path) -> Iterator[Import]:
    """Every import statement of every module under ``root`` (a package directory)."""
    for path in sorted(root.rglob("*.py")):
        name = module_name(root, path)
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    yield Import(name, alias.name, node.lineno)
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".")
                    base = base[: len(base) - (node.level - 1)]
                    target = ".".join([*base, node.module] if node.module else base)
                else:
                    target = node.module or ""
                yield Import(name, target, node.lineno)
                # "from sipwatch import render" imports the sub-package render.
                for alias in node.names:
                    candidate = f"{target}.{alias.name}"
                    if (root.parent / Path(*candidate.split("."))).is_dir():
                        yield Import(name, candidate, node.lineno)


def layer(module: str) -> str:
    """'sipwatch.sip.parser' -> 'sip'; 'sipwatch.cli' -> 'cli'; 'sipwatch' -> ''."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def top(target: str) -> str:
    return target.split(".", 1)[0]


#: Layer -> the sipwatch layers it may import (besides itself and the bare package).
ALLOWED_INTERNAL: dict[str, set[str]] = {
    "sip": {"errors"},
    "correlate": {"sip"},
    "media": {"sip"},
    "knowledge": {"errors"},
    "annotate": {"correlate", "knowledge", "sip"},
    "calls": {"sip", "records", "bounded", "filters", "errors"},
}
#: Layer (or module) -> the layers it must never import.
FORBIDDEN_INTERNAL: dict[str, set[str]] = {
    "render": {"capture"},
}


#: Third-party packages confined to one place.
def _in_render(module: str) -> bool:
    return layer(module) == "render"


def _is_cli(module: str) -> bool:
    return module == "sipwatch.cli"


CONFINED: dict[str, Callable[[str], bool]] = {"rich": _in_render, "typer": _is_cli}
#: Layers that must not use rich or typer at all (stricter than CONFINED, stated per DESIGN).
NO_UI = {"capture", "sip", "correlate", "knowledge", "annotate"}


def violations(root: Path) -> list[str]:
    found = []
    for imp in imports_of(root):
        own = layer(imp.module)
        where = f"{imp.module}:{imp.line} imports {imp.target}"
        if top(imp.target) in CONFINED and not CONFINED[top(imp.target)](imp.module):
            found.append(f"{where} ({top(imp.target)} is confined, DESIGN §2 rule 6)")
        if top(imp.target) in ("rich", "typer") and own in NO_UI:
            found.append(f"{where} (the {own} layer never uses {top(imp.target)})")
        if top(imp.target) != "sipwatch":
            continue
        theirs = layer(imp.target)
        if not theirs or theirs == own:
            continue
        if own in ALLOWED_INTERNAL and theirs not in ALLOWED_INTERNAL[own]:
            found.append(f"{where} ({own} may import only {sorted(ALLOWED_INTERNAL[own])})")
        if theirs in FORBIDDEN_INTERNAL.get(own, set()):
            found.append(f"{where} ({own} never imports {theirs})")
    return found


def test_sipwatch_respects_the_layering() -> None:
    assert violations(PACKAGE) == []


def test_the_checker_sees_the_package() -> None:
    """Guard against a checker that passes because it read nothing."""
    seen = {(layer(i.module), top(i.target)) for i in imports_of(PACKAGE)}
    assert ("render", "rich") in seen
    assert ("cli", "typer") in seen
    assert ("knowledge", "sipwatch") in seen


def write(root: Path, rel: str, source: str) -> None:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(source, encoding="utf-8")


@pytest.mark.parametrize(
    ("rel", "source", "message"),
    [
        ("sip/parser.py", "from sipwatch.correlate import x\n", "sip may import only"),
        ("sip/parser.py", "from ..knowledge import model\n", "sip may import only"),
        ("correlate/state.py", "import sipwatch.errors\n", "correlate may import only"),
        ("knowledge/loader.py", "from sipwatch.render import explain\n", "knowledge may import"),
        ("knowledge/loader.py", "def f():\n    import rich\n", "rich is confined"),
        ("annotate/a.py", "from sipwatch import capture\n", "annotate may import only"),
        ("capture/pcap.py", "import typer\n", "the capture layer never uses typer"),
        ("render/out.py", "from sipwatch.capture.types import Frame\n", "render never imports"),
        ("render/out.py", "import typer\n", "typer is confined"),
        ("pipeline.py", "from rich.console import Console\n", "rich is confined"),
    ],
)
def test_the_checker_catches_violations(
    tmp_path: Path, rel: str, source: str, message: str
) -> None:
    root = tmp_path / "sipwatch"
    for package in ("", "sip", "correlate", "knowledge", "annotate", "capture", "render"):
        write(root, f"{package}/__init__.py" if package else "__init__.py", "")
    write(root, "errors.py", "")
    write(root, rel, source)
    found = violations(root)
    assert len(found) >= 1 and any(message in v for v in found), found


def test_allowed_imports_pass(tmp_path: Path) -> None:
    root = tmp_path / "sipwatch"
    write(root, "__init__.py", "")
    write(root, "sip/__init__.py", "from sipwatch.errors import SipwatchError\n")
    write(root, "sip/parser.py", "from . import message\nfrom .message import SipMessage\n")
    write(root, "sip/message.py", "")
    write(root, "correlate/__init__.py", "from sipwatch.sip.message import SipMessage\n")
    write(root, "knowledge/__init__.py", "from sipwatch.errors import KnowledgeError\n")
    write(root, "annotate/__init__.py", "from sipwatch.knowledge import load_knowledge\n")
    write(root, "render/__init__.py", "import rich\nfrom sipwatch.annotate import x\n")
    write(root, "cli.py", "import typer\nfrom sipwatch.render import explain\n")
    write(root, "errors.py", "")
    assert violations(root) == []
