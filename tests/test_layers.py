"""Which module may import which: yamldoc (YAML text → documents and positions) sits below the
manifest model and never imports it; the model imports no YAML until a file must be parsed."""

from __future__ import annotations

import subprocess
import sys


def imported_after(statement: str) -> set[str]:
    """The modules a fresh interpreter has loaded after `statement`."""
    code = f"import sys\n{statement}\nprint('\\n'.join(sorted(sys.modules)))"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return set(proc.stdout.split())


def test_yamldoc_does_not_import_the_manifest_model() -> None:
    loaded = imported_after("import palsync.yamldoc")
    assert "palsync.manifest" not in loaded
    assert "palsync.validation" not in loaded


def test_the_manifest_model_imports_no_yaml_until_a_file_is_parsed() -> None:
    loaded = imported_after("import palsync.manifest, palsync.validation")
    assert "yaml" not in loaded and "palsync.yamldoc" not in loaded
