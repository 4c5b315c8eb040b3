"""The wheel users install carries the knowledge base and runs without the checkout.

``scripts/setup.sh`` installs sipwatch in editable mode, so the ``sipwatch`` command of a
checkout always runs the working tree (a copied install went stale as soon as a module changed).
An editable install finds ``knowledge/`` beside the package; a wheel must carry it as
``sipwatch/_knowledge`` (pyproject.toml force-includes it). This test builds the wheel, installs
it into a fresh virtual environment without the checkout on the path, and asks it to explain a
code, so packaging mistakes fail here rather than on a user's machine.
"""

from __future__ import annotations

import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_wheel_carries_the_knowledge_base_and_runs_on_its_own(tmp_path: Path) -> None:
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", str(REPO), "--no-deps", "-q", "-w", str(tmp_path)],
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    assert built.returncode == 0, built.stderr[-2000:]
    (wheel,) = tmp_path.glob("sipwatch-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    shipped = {name.split("_knowledge/", 1)[1] for name in names if "/_knowledge/" in name}
    expected = {
        str(path.relative_to(REPO / "knowledge"))
        for path in (REPO / "knowledge").rglob("*")
        if path.is_file()
    }
    assert shipped == expected

    # A fresh environment that can import the project's dependencies (from this one) but not
    # the checkout: the installed wheel must find its own knowledge base.
    env_dir = tmp_path / "env"
    venv.create(env_dir, system_site_packages=False, with_pip=False)
    python = env_dir / "bin" / "python"
    site = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    ours = [p for p in sys.path if p.endswith("site-packages")]
    (Path(site) / "deps.pth").write_text("\n".join(ours) + "\n")
    with zipfile.ZipFile(wheel) as archive:
        archive.extractall(site)
    explained = subprocess.run(
        [str(python), "-c", "from sipwatch.cli import main; main()", "explain", "420"],
        capture_output=True,
        text=True,
        check=False,
        cwd=tmp_path,
    )
    assert explained.returncode == 0, explained.stderr[-2000:]
    assert "420 Bad Extension" in explained.stdout
    located = subprocess.run(
        [
            str(python),
            "-c",
            "from sipwatch.knowledge.loader import locate_knowledge; print(locate_knowledge())",
        ],
        capture_output=True,
        text=True,
        check=True,
        cwd=tmp_path,
    ).stdout.strip()
    assert located == str(Path(site) / "sipwatch" / "_knowledge")
    # The native core, when this checkout has it built, is in the wheel and runs from there.
    core = REPO / "sipwatch" / "_core.abi3.so"
    assert ("sipwatch/_core.abi3.so" in names) == core.exists()
    engine = subprocess.run(
        [str(python), "-c", "from sipwatch.cli import main; main()", "--version"],
        capture_output=True,
        text=True,
        check=True,
        cwd=tmp_path,
    ).stdout.splitlines()[1]
    assert engine.startswith("engine: native" if core.exists() else "engine: python")
