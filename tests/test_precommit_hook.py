"""The published pre-commit hook, run by the real `pre-commit` tool on a temporary git repo."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
GOOD = "pal_name: Good\nsystem_prompt: hi\ndefault_face_id: r90bbd427f71\n"
BAD = "pal_name: Bad\nsystem_promt: hi\ndefault_face_id: r90bbd427f71\n"


def git(repo: Path, *args: str) -> None:
    subprocess.run(
        ["git", *args],
        cwd=repo,
        check=True,
        capture_output=True,
        env={
            **os.environ,
            "GIT_AUTHOR_NAME": "t",
            "GIT_AUTHOR_EMAIL": "t@e",
            "GIT_COMMITTER_NAME": "t",
            "GIT_COMMITTER_EMAIL": "t@e",
        },
    )


def test_hook_definition() -> None:
    hooks = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text())
    hook = next(h for h in hooks if h["id"] == "pal-sync-validate")
    assert hook["entry"] == "pal-sync validate" and hook["language"] == "python"


def test_pre_commit_runs_the_hook_from_this_repo(tmp_path: Path) -> None:
    pre_commit = Path(sys.executable).with_name("pre-commit")
    if not pre_commit.exists():
        found = shutil.which("pre-commit")
        assert found, "pre-commit is a test dependency: pip install -e '.[test]'"
        pre_commit = Path(found)
    # try-repo needs a git repository to clone the hook from: a snapshot of this working tree.
    source = tmp_path / "source"
    shutil.copytree(
        ROOT,
        source,
        ignore=shutil.ignore_patterns(
            ".git", ".venv", "*.egg-info", "__pycache__", ".palsync", ".*_cache", "build", "dist"
        ),
    )
    git(source, "init", "-q")
    git(source, "add", "-A")
    git(source, "commit", "-qm", "snapshot")
    repo = tmp_path / "user-repo"
    (repo / "pals").mkdir(parents=True)
    git(repo, "init", "-q")
    (repo / "pals" / "good.yaml").write_text(GOOD)
    git(repo, "add", "-A")
    env = {**os.environ, "PRE_COMMIT_HOME": str(tmp_path / "cache")}

    def run() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(pre_commit), "try-repo", str(source), "pal-sync-validate", "--all-files"],
            cwd=repo,
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
        )

    ok = run()
    assert ok.returncode == 0, ok.stdout + ok.stderr
    (repo / "pals" / "bad.yaml").write_text(BAD)
    git(repo, "add", "-A")
    bad = run()
    assert bad.returncode == 1
    assert "pals/bad.yaml:2:1: error: system_promt: unknown key" in bad.stdout


@pytest.mark.parametrize(
    "path", sorted(str(p.relative_to(ROOT)) for p in (ROOT / "pals").glob("*.yaml"))
)
def test_the_repository_validates_its_own_examples(path: str) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "palsync", "validate", path],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, "ACME_LLM_API_KEY": "x"},
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout == ""
