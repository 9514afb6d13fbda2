"""The command-line shell: help, version, exit codes, and no traceback for usage errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from palsync.cli import COMMANDS, main

ROOT = Path(__file__).resolve().parent.parent


def run_main(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exit_info:
        main(args)
    out, err = capsys.readouterr()
    return int(exit_info.value.code or 0), out, err


def test_help_lists_every_command(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_main(["--help"], capsys)
    assert code == 0
    for name in COMMANDS:
        assert name in out


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_main(["--version"], capsys)
    assert code == 0
    assert "pal-sync, version" in out


def test_unknown_command_exits_1_not_2(capsys: pytest.CaptureFixture[str]) -> None:
    # 2 is reserved for "changes pending" under `plan --detailed-exitcode`.
    code, _, err = run_main(["frobnicate"], capsys)
    assert code == 1
    assert "No such command" in err
    assert "Traceback" not in err


def test_unknown_option_exits_1(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_main(["validate", "--no-such-flag"], capsys)
    assert code == 1
    assert "no such option" in err.lower()


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_each_command_has_help(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_main([name, "--help"], capsys)
    assert code == 0
    assert f"pal-sync {name}" in out


def test_python_dash_m_entry_point() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "palsync", "--version"], capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0, proc.stderr
    assert "pal-sync, version" in proc.stdout


def test_help_imports_no_command_module() -> None:
    # `pal-sync --help` and the pre-commit path must not pay for httpx or deepdiff.
    code = (
        "import sys\n"
        "from palsync.cli import main\n"
        "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
        "heavy = [m for m in ('httpx', 'deepdiff', 'jsonschema') if m in sys.modules]\n"
        "print('HEAVY=' + ','.join(heavy))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert proc.stdout.strip().splitlines()[-1] == "HEAVY="


def test_schema_prints_and_writes_the_shipped_schema(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    shipped = (ROOT / "schemas" / "pal.schema.json").read_text(encoding="utf-8")
    code, out, _ = run_main(["schema"], capsys)
    assert code == 0 and out == shipped
    target = tmp_path / "schemas" / "pal.schema.json"
    code, _, err = run_main(["schema", "--out", str(target)], capsys)
    assert code == 0 and target.read_text(encoding="utf-8") == shipped
    assert json.loads(shipped)["$schema"].endswith("2020-12/schema")
