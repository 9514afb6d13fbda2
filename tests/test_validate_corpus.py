"""Golden tests: every file under tests/corpus/{valid,invalid} against its `.expected` output.

Run with PALSYNC_UPDATE_GOLDEN=1 to rewrite the expected files after an intended change (then
read the diff before committing it).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from palsync.cli import main

CORPUS = Path(__file__).parent / "corpus"
CASES = sorted(p.relative_to(CORPUS) for p in CORPUS.glob("*/*.yaml"))
UPDATE = os.environ.get("PALSYNC_UPDATE_GOLDEN") == "1"


def run_validate(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    with pytest.raises(SystemExit) as exit_info:
        main(["validate", *args])
    out, _ = capsys.readouterr()
    return int(exit_info.value.code or 0), out


@pytest.mark.parametrize("case", CASES, ids=[str(c) for c in CASES])
def test_corpus_file(
    case: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(CORPUS)
    for name in [n for n in os.environ if n.startswith("PALSYNC_TEST_")]:
        monkeypatch.delenv(name)
    code, out = run_validate([str(case)], capsys)
    expected_file = (CORPUS / case).with_suffix(".expected")
    if UPDATE:
        expected_file.write_text(out, encoding="utf-8")
    expected = expected_file.read_text(encoding="utf-8")
    assert out == expected
    has_errors = any(": error: " in line for line in out.splitlines())
    assert code == (1 if has_errors else 0)
    assert has_errors == (case.parts[0] == "invalid"), "valid files have no errors, invalid ones do"


def test_all_problems_of_all_files_in_one_run(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(CORPUS)
    code, out = run_validate(["invalid"], capsys)
    assert code == 1
    reported = {line.split(":", 1)[0] for line in out.splitlines()}
    assert reported == {f"invalid/{p.name}" for p in (CORPUS / "invalid").glob("*.yaml")}
