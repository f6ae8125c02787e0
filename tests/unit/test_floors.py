"""The import floors (#14): `lint-imports` holds the layers contract in pyproject.toml (each floor
imports only the floors below it), and a wrong arrow planted in a copy of the tree breaks it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LINT = Path(sys.executable).with_name("lint-imports")


def lint(tree: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(tree / "src")}
    return subprocess.run([str(LINT), "--no-cache"], cwd=tree, env=env, text=True,
                          capture_output=True, timeout=120)  # fmt: skip


def test_the_tree_keeps_its_floors() -> None:
    done = lint(ROOT)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "dockyard's floors KEPT" in done.stdout


def test_an_upward_import_breaks_the_build(tmp_path: Path) -> None:
    """A core module importing a service (the kind of arrow #14 removed) fails the contract."""
    shutil.copytree(ROOT / "src", tmp_path / "src", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path)
    planted = tmp_path / "src" / "dockyard" / "core" / "types.py"
    planted.write_text(planted.read_text() + "\nfrom dockyard.services import protocols  # noqa\n")
    done = lint(tmp_path)
    assert done.returncode != 0
    assert "dockyard's floors BROKEN" in done.stdout
    assert "dockyard.core.types -> dockyard.services.protocols" in done.stdout
