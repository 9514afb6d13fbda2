"""The code's layout as the architecture describes it (docs/architecture.md): the command line
only parses, calls the pipeline library, renders and exits."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CLI = sorted((ROOT / "palsync" / "cli").glob("*.py"))
#: the modules that hold pipeline logic: the CLI reaches them only through palsync.pipeline
PIPELINE_INTERNALS = {
    "palsync.api",
    "palsync.lock",
    "palsync.canonical",
    "palsync.diff",
    "palsync.apply",
    "palsync.plan",
    "palsync.importer",
    "palsync.manifest",
}


def imported_modules(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            # `from palsync import lock` imports the module palsync.lock
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def test_the_cli_modules_are_found() -> None:
    assert {p.stem for p in CLI} >= {"plan", "apply", "import_", "common", "lease"}


@pytest.mark.parametrize("path", CLI, ids=lambda p: p.name)
def test_a_cli_module_reaches_the_pipeline_only_through_the_library(path: Path) -> None:
    direct = imported_modules(path) & PIPELINE_INTERNALS
    assert not direct, f"{path.name} imports {sorted(direct)}; call palsync.pipeline instead"


def test_the_pipeline_library_does_not_import_click() -> None:
    code = (
        "import sys\n"
        "import palsync.pipeline.applying, palsync.pipeline.importing, palsync.pipeline.planfile\n"
        "import palsync.pipeline.planning, palsync.pipeline.loading, palsync.pipeline.session\n"
        "print('click' in sys.modules)\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert proc.stdout.strip() == "False"


def test_the_import_check_sees_every_form_of_import(tmp_path: Path) -> None:
    sample = tmp_path / "x.py"
    sample.write_text(
        "import palsync.api\nfrom palsync import lock\nfrom palsync.diff import guard_ops\n"
        "def f():\n    from palsync.canonical import lookup\n",
        encoding="utf-8",
    )
    assert imported_modules(sample) & PIPELINE_INTERNALS == {
        "palsync.api",
        "palsync.lock",
        "palsync.diff",
        "palsync.canonical",
    }


def test_every_package_of_the_source_tree_ships_in_the_wheel() -> None:
    import tomllib

    declared = set(
        tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]
    )
    found = {
        ".".join(init.parent.relative_to(ROOT).parts)
        for init in (ROOT / "palsync").rglob("__init__.py")
        if "__pycache__" not in init.parts
    }
    assert found <= declared, f"missing from [tool.setuptools] packages: {sorted(found - declared)}"
